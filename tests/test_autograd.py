"""Autograd semantics: accumulation, reuse, retained and freed graphs, grad mode, deep graphs,
and that the graph's memory is released after backward."""
import gc
import weakref

import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from oracle import compare


def test_gradients_accumulate_across_backward_calls(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    (x * x).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    assert first is x.grad and first.data is not None
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_grad_is_not_aliased_to_a_graph_array(device):
    """The first accumulated gradient is a fresh array: later arithmetic does not alter it."""
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    g = thw.tensor([1.0, 1.0], device=device)
    x.backward(g)
    g._data[0] = 50.0
    assert x.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("fn", [
    lambda x: x * x, lambda x: x + x, lambda x: x * x * x, lambda x: (x - x * 2) / (x + 3),
    lambda x: (lambda y: y * y.exp() + y)(x.tanh()),                          # diamond
    lambda x: (lambda a, b: (a * b).sum() * x)(x.sigmoid(), x.exp()),        # re-joins x late
    lambda x: x[0] * x + x.sum() * x[1:2] - x.max(),
], ids=["x*x", "x+x", "x*x*x", "rational", "diamond", "rejoin", "slices"])
def test_reused_tensors_sum_their_gradients(device, fn):
    compare(fn, [np.array([0.5, -1.25, 2.0])], device=device)


def test_diamond_known_answer(device):
    x = thw.tensor(3.0, device=device, requires_grad=True)
    a, b = x * 2, x * 5
    (a * b).backward()             # d(10 x^2)/dx = 20 x
    assert x.grad.item() == 60.0


def test_retain_graph_allows_a_second_backward(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1)


def test_second_backward_through_freed_graph_raises(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        y.backward()
    shared = x * 2
    shared.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (shared * 3).sum().backward()     # shares the freed node of `shared`


def test_backward_of_non_scalar_needs_gradient(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\).*gradient"):
        y.backward()
    y.backward(gradient=thw.tensor([1.0, -1.0], device=device))
    assert x.grad.tolist() == [2.0, -2.0]
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\).*\(2,\)"):
        (x * 2).backward(thw.ones(3, device=device))


def test_gradient_argument_matches_torch(device):
    rng = np.random.default_rng(0)
    a, v = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    x = thw.tensor(a, device=device, requires_grad=True)
    (x.tanh() * 2).sum(0).backward(gradient=thw.tensor(v, device=device))
    t = torch.from_numpy(a).requires_grad_()
    (t.tanh() * 2).sum(0).backward(gradient=torch.from_numpy(v))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    y = thw.tensor([[1.0, 2.0]], device=device, requires_grad=True)
    (y * y).backward(gradient=np.array([[1.0, 0.5]]))          # arrays are accepted too
    assert y.grad.tolist() == [[2.0, 2.0]]


def test_backward_on_a_leaf_and_on_a_tensor_without_grad(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    x.backward(thw.tensor([3.0, 4.0], device=device))
    assert x.grad.tolist() == [3.0, 4.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        thw.tensor([1.0], device=device).sum().backward()


def test_no_grad_context_and_decorator(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    with thw.no_grad():
        y = x * 2
        assert not thw.is_grad_enabled()
    assert thw.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.tolist() == [2.0, 4.0]

    @thw.no_grad()
    def f(t):
        return t.exp() + 1
    z = f(x)
    assert not z.requires_grad and thw.is_grad_enabled()
    assert f.__name__ == "f"

    @thw.no_grad                 # bare, as torch allows
    def h(t):
        return t * 3
    assert not h(x).requires_grad and h(x).tolist() == [3.0, 6.0] and h.__name__ == "h"


def test_enable_grad_inside_no_grad(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    with thw.no_grad():
        with thw.enable_grad():
            y = (x * x).sum()
        z = x * x
    assert y.requires_grad and not z.requires_grad
    y.backward()
    assert x.grad.tolist() == [2.0, 4.0]

    @thw.enable_grad()
    def g(t):
        return t * 3

    @thw.enable_grad
    def g2(t):
        return t * 3
    with thw.no_grad():
        assert g(x).requires_grad and g2(x).requires_grad


def test_backward_inside_no_grad_still_computes_gradients(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * x).sum()
    with thw.no_grad():
        y.backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with thw.no_grad():
            raise ValueError("boom")
    assert thw.is_grad_enabled()


def test_detach_cuts_the_graph(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * x
    z = (y.detach() * x).sum()        # only the outer x contributes: d/dx = y
    z.backward()
    assert x.grad.tolist() == [1.0, 4.0]


def test_requires_grad_toggles_recording(device):
    w = thw.tensor([2.0], device=device)
    assert not (w * 2).requires_grad
    w.requires_grad_()
    (w * 2).sum().backward()
    assert w.grad.tolist() == [2.0]


def test_only_inputs_that_need_grad_receive_it(device):
    a = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = thw.tensor([3.0, 4.0], device=device)
    (a * b).sum().backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None


# --- deep and wide graphs ------------------------------------------------------------------------
def test_10000_op_deep_chain_has_no_recursion_limit(device):
    """A chain 10,000 ops deep: backward is iterative and the answer is c**N exactly computed."""
    x = thw.tensor(1.0, dtype=thw.float64, device=device, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 10_000, rtol=1e-9)
    # a second deep chain, dropped without backward, must also be freed without recursion
    z = x
    for _ in range(10_000):
        z = z + 1.0
    assert z.item() == 10_001.0
    del z
    gc.collect()


def test_10000_op_wide_graph(device):
    x = thw.tensor([1.0, 2.0], dtype=thw.float64, device=device, requires_grad=True)
    total = x * 0.0
    for i in range(1, 5_001):
        total = total + x * float(i)      # 10,000 ops reusing x
    total.sum().backward()
    assert x.grad.tolist() == [5000 * 5001 / 2] * 2


# --- memory -----------------------------------------------------------------------------------
# the graph logic is the same on every device; NumPy arrays are the ones that take weak references
def test_saved_arrays_released_after_backward():
    x = thw.tensor([0.5, 1.5], requires_grad=True)
    y = x.exp()                          # Exp saves its output array
    z = y.tanh()
    ref_y, ref_z = weakref.ref(y._data), weakref.ref(z._data)
    loss = (z * 2).sum()
    del y, z
    gc.collect()
    assert ref_y() is not None and ref_z() is not None     # the live graph holds them
    loss.backward()
    gc.collect()
    assert ref_y() is None and ref_z() is None


def test_retained_graph_keeps_saved_arrays():
    x = thw.tensor([0.5, 1.5], requires_grad=True)
    y = x.exp()
    ref = weakref.ref(y._data)
    loss = y.sum()
    del y
    loss.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None
    loss.backward()
    gc.collect()
    assert ref() is None


def _live(cls):
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), cls))


def test_memory_is_flat_over_1000_training_steps():
    """A two-layer model written with core ops only: live Tensors, graph nodes and traced memory
    do not grow between step 100 and step 1000."""
    import tracemalloc
    thw.manual_seed(0)
    x = thw.randn(16, 4)
    target = (x[:, :1] * 2 - x[:, 1:2]).tanh()
    w1 = (thw.randn(4, 8) * 0.5).requires_grad_()
    b1 = thw.zeros(8, requires_grad=True)
    w2 = (thw.randn(8, 1) * 0.5).requires_grad_()
    params = [w1, b1, w2]

    def step():
        h = (x @ w1 + b1).relu()
        loss = ((h @ w2 - target) ** 2).mean()
        loss.backward()
        with thw.no_grad():
            for p in params:
                p._data = (p - 0.05 * p.grad)._data
                p.grad = None
        return loss.item()

    tracemalloc.start()
    try:
        first = [step() for _ in range(100)][0]
        tensors, nodes = _live(thw.Tensor), _live(thw.Function)
        mem = tracemalloc.get_traced_memory()[0]
        last = [step() for _ in range(900)][-1]
        assert _live(thw.Tensor) <= tensors and _live(thw.Function) <= nodes
        assert tracemalloc.get_traced_memory()[0] - mem < 64 * 1024
    finally:
        tracemalloc.stop()
    assert last < 0.5 * first            # and it did learn


def test_dropping_an_unused_graph_frees_it(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    before = _live(thw.Tensor)
    for _ in range(50):
        y = (x.exp() * x).sum()
    del y
    assert _live(thw.Tensor) <= before


def test_leaf_grads_never_share_memory():
    # Add passes its gradient through to both inputs; the user's gradient array flows through
    # too: each leaf must own its .grad so that changing one changes nothing else.
    a = thw.tensor([1.0, 2.0], requires_grad=True)
    b = thw.tensor([3.0, 4.0], requires_grad=True)
    user = np.array([1.0, 1.0], dtype=np.float32)
    (a + b).backward(user)
    a.grad._data[0] = 5.0
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(user, [1.0, 1.0])
    w = thw.tensor([[1.0, 2.0]], requires_grad=True)
    x = thw.tensor([[3.0], [4.0]])
    (x @ w).sum().backward()     # a fresh array from the op is kept: values still right
    np.testing.assert_array_equal(w.grad.numpy(), [[7.0, 7.0]])
