"""Finite differences in float64 (``thw.gradcheck``), independent of torch, on a representative
set of ops; and gradcheck itself catches a wrong backward, naming the element."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_hw as thw
from tinygrad_hw import Function


def _leaf(shape, device, lo=-2.0, hi=2.0, seed=0, noncontiguous=False):
    a = np.random.default_rng(seed).uniform(lo, hi, shape)
    if noncontiguous:
        a = np.ascontiguousarray(a.T).T
    return thw.from_numpy(a).to(device).requires_grad_()


CASES = {  # name: (fn, input shapes, value range)
    "add_broadcast": (lambda a, b: a + b, [(3, 1, 4), (2, 4)], (-2, 2)),
    "sub_mul": (lambda a, b: (a - b) * a, [(2, 3), (3,)], (-2, 2)),
    "div": (lambda a, b: a / b, [(2, 3), (2, 1)], (0.5, 2)),
    "pow": (lambda a, b: a ** b, [(2, 3), (2, 3)], (0.5, 2)),
    "pow_scalar": (lambda a: a ** 3 + 2.0 ** a, [(4,)], (-2, 2)),
    "exp_log_sqrt": (lambda a: a.exp() + a.log() * a.sqrt(), [(3, 2)], (0.5, 2)),
    "tanh_sigmoid": (lambda a: a.tanh() * a.sigmoid(), [(5,)], (-3, 3)),
    "matmul": (lambda a, b: a @ b, [(2, 3, 4), (4, 2)], (-2, 2)),
    "matmul_vec": (lambda a, b: a @ b, [(3,), (2, 3, 2)], (-2, 2)),
    "sum_mean": (lambda a: a.sum(1) * a.mean((0, 2), keepdim=True).sum(), [(2, 3, 2)], (-2, 2)),
    "var": (lambda a: a.var(0) + a.var(), [(3, 4)], (-2, 2)),
    "max_dim": (lambda a: a.max(1)[0] * a.min(0, keepdim=True)[0].sum(), [(3, 4)], (-2, 2)),
    "max_all": (lambda a: a.max() - a.amin(1).sum(), [(3, 4)], (-2, 2)),
    "getitem_dup": (lambda a: a[[0, 2, 0]] * a[1:, ::-2].sum(), [(3, 4)], (-2, 2)),
    "mask": (lambda a: a[a > 0] * 2, [(3, 4)], (-2, 2)),
    "movement": (lambda a: a.permute(2, 0, 1).reshape(4, 3).T.unsqueeze(0).expand(2, 3, 4).squeeze(),
                 [(3, 2, 2)], (-2, 2)),
    "pad_cat_stack": (lambda a, b: thw.cat([a.pad((1, 2)), b], 1) * thw.stack([a, a], 0).sum(),
                      [(2, 3), (2, 4)], (-2, 2)),
    "where_clamp_max": (lambda a, b: thw.where(a > b, a.clamp(-1.0, 1.0), b.maximum(a * 0.5)),
                        [(3, 3), (3,)], (-2, 2)),
    "relu_abs": (lambda a: a.relu() + a.abs() * 3, [(6,)], (0.25, 2)),
    "neg_transpose": (lambda a: -(a.transpose(0, 1) @ a), [(3, 2)], (-2, 2)),
}


@pytest.mark.parametrize("name", CASES)
def test_gradcheck_ops(device, name):
    fn, shapes, (lo, hi) = CASES[name]
    inputs = [_leaf(s, device, lo, hi, seed=i) for i, s in enumerate(shapes)]
    assert thw.gradcheck(fn, inputs) is True


def test_gradcheck_noncontiguous_inputs(device):
    a = _leaf((3, 4), device, noncontiguous=True)
    b = _leaf((4, 2), device, seed=1, noncontiguous=True)
    assert thw.gradcheck(lambda x, y: (x @ y).tanh(), (a, b))
    assert a.grad is None                  # gradcheck leaves .grad as it found it
    np.testing.assert_array_equal(a.numpy(), _leaf((3, 4), device).numpy())    # and the values


def test_gradcheck_restores_existing_grad(device):
    x = _leaf((3,), device)
    (x * 2).sum().backward()
    before = x.grad
    thw.gradcheck(lambda t: t.exp(), (x,))
    assert x.grad is before and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_gradcheck_constant_inputs_are_skipped(device):
    x = _leaf((2, 3), device)
    c = thw.tensor(np.full((2, 3), 3.0), device=device)
    assert thw.gradcheck(lambda a, b: a * b, (x, c))


@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
def test_gradcheck_drawn(device, data, shape):
    a = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.5, 2.0)))
    x = thw.from_numpy(a).to(device).requires_grad_()
    assert thw.gradcheck(lambda t: (t.log() * t).sum(-1) / t.sqrt().mean(), (x,))


class WrongSquare(Function):
    """x * x whose backward forgets the factor 2 on the element at (1, 2)."""

    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        grad = 2 * self.a * g
        grad[1, 2] = self.a[1, 2] * g[1, 2]
        return (grad,)


def test_gradcheck_raises_on_a_wrong_backward_naming_the_element(device):
    x = _leaf((2, 3), device, lo=0.5, hi=2.0)
    with pytest.raises(AssertionError, match=r"input 0 \(shape \(2, 3\)\) at index \(1, 2\)"):
        thw.gradcheck(lambda t: WrongSquare.apply(t), (x,))
    y = _leaf((2, 2), device, seed=3)
    with pytest.raises(AssertionError, match=r"input 1 .*index \(1, 2\).*analytic .* vs numerical"):
        thw.gradcheck(lambda a, b: (a @ b).sum() * WrongSquare.apply(x), (y, x))


def test_gradcheck_needs_float64_and_a_grad_input(device):
    with pytest.raises(TypeError, match="float64.*float32"):
        thw.gradcheck(lambda t: t * 2, (thw.ones(2, device=device, requires_grad=True),))
    with pytest.raises(ValueError, match="requires grad"):
        thw.gradcheck(lambda t: t * 2, (thw.ones(2, dtype=thw.float64, device=device),))
