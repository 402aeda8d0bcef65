"""torch.autograd's user API: custom Functions (both styles), autograd.grad, grad-mode switches,
and the small Tensor conveniences (view_as, __format__, is_tensor, type, to(...))."""
import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from oracle import compare


# --- the README example: one custom op written in both styles ---------------------------------
class SiLU(thw.Function):                        # engine style: raw arrays, self.xp
    def forward(self, x):
        self.x, self.s = x, 1 / (1 + self.xp.exp(-x))
        return x * self.s

    def backward(self, g):
        s = self.s
        return (g * s * (1 + self.x * (1 - s)),)


class SiLU2(thw.autograd.Function):              # torch style: Tensors and a ctx
    @staticmethod
    def forward(ctx, x):
        s = x.sigmoid()
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        return g * s * (1 + x * (1 - s))


@pytest.mark.parametrize("op", [SiLU, SiLU2])
def test_readme_custom_op_matches_torch_and_finite_differences(device, op):
    x = thw.randn(5, dtype=thw.float64, device=device, requires_grad=True)
    assert thw.gradcheck(op.apply, (x,))
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        compare(op.apply, [rng.standard_normal((3, 4)).astype(dtype)],
                torch_fn=torch.nn.functional.silu, device=device)


# --- torch-style custom Functions ---------------------------------------------------------------
class MulAdd(thw.autograd.Function):
    """forward(a, k, b) = a * k * b, and a second output a + b; k is a Python number."""
    seen = {}

    @staticmethod
    def forward(ctx, a, k, b):
        MulAdd.seen.update(grad_enabled=thw.is_grad_enabled(), types=(type(a), type(b)),
                           needs=tuple(ctx.needs_input_grad))
        ctx.save_for_backward(a, b)
        ctx.k = k
        return a * k * b, a + b

    @staticmethod
    def backward(ctx, g1, g2):
        a, b = ctx.saved_tensors
        MulAdd.seen.update(backward_grad_enabled=thw.is_grad_enabled())
        return (g1 * ctx.k * b + g2 if ctx.needs_input_grad[0] else None, None,
                g1 * ctx.k * a + g2 if ctx.needs_input_grad[2] else None)


class TorchMulAdd(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, k, b):
        ctx.save_for_backward(a, b)
        ctx.k = k
        return a * k * b, a + b

    @staticmethod
    def backward(ctx, g1, g2):
        a, b = ctx.saved_tensors
        return g1 * ctx.k * b + g2, None, g1 * ctx.k * a + g2


@pytest.mark.parametrize("use", ["both", "first", "second"])
def test_multi_output_function_matches_torch(device, use):
    av, bv = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.25, -1.0])
    a = thw.tensor(av, device=device, requires_grad=True)
    b = thw.tensor(bv, device=device, requires_grad=True)
    ta, tb = torch.tensor(av, requires_grad=True), torch.tensor(bv, requires_grad=True)
    p, q = MulAdd.apply(a, 2.0, b)
    tp, tq = TorchMulAdd.apply(ta, 2.0, tb)
    assert MulAdd.seen["grad_enabled"] is False and MulAdd.seen["types"] == (thw.Tensor, thw.Tensor)
    assert MulAdd.seen["needs"] == (True, False, True)
    assert p.requires_grad and q.requires_grad and "MulAddBackward" in repr(p)
    loss = {"both": lambda p, q: (p * 3 + q * q).sum(), "first": lambda p, q: p.sum(),
            "second": lambda p, q: (q * 2).sum()}[use]
    loss(p, q).backward()
    loss(tp, tq).backward()
    assert MulAdd.seen["backward_grad_enabled"] is False
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy())


def test_custom_function_gradcheck_and_needs_input_grad():
    a = thw.tensor([0.3, -1.2], dtype=thw.float64, requires_grad=True)
    b = thw.tensor([2.0, 0.7], dtype=thw.float64)
    assert thw.gradcheck(lambda a, b: MulAdd.apply(a, 1.5, b)[0], (a, b))
    assert MulAdd.seen["needs"] == (True, False, False)
    out, _ = MulAdd.apply(thw.tensor([1.0]), 2.0, thw.tensor([2.0]))
    assert not out.requires_grad and out.is_leaf       # nothing required grad: nothing recorded
    with thw.no_grad():
        out, _ = MulAdd.apply(a, 2.0, b)
    assert not out.requires_grad


def test_custom_function_errors_match_torch():
    class TooMany(thw.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class WrongShape(thw.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g[:1]

    x = thw.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"returned an incorrect number of gradients \(expected 1, got 2\)"):
        TooMany.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="returned an invalid gradient at index 0 - got \\[1\\] but "
                                           "expected shape compatible with \\[2\\]"):
        WrongShape.apply(x).sum().backward()

    class Saves(thw.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x

    y = x * 3
    out = Saves.apply(y)
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_identity_forward_mark_non_differentiable_and_setup_context():
    class Ident(thw.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    x = thw.ones(2, requires_grad=True)
    r = Ident.apply(x)
    assert r is not x and x.is_leaf and not r.is_leaf        # as torch: a new tensor, x untouched
    r.sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]

    class SortIdx(thw.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = x.argmax()
            out = x * 2
            ctx.mark_non_differentiable(idx)
            return out, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            return g * 2

    out, idx = SortIdx.apply(x)
    assert out.requires_grad and not idx.requires_grad

    class Cube(thw.autograd.Function):            # torch's forward-without-ctx form
        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 3 * x * x * g

    z = thw.tensor([1.0, 2.0], dtype=thw.float64, requires_grad=True)
    assert thw.gradcheck(Cube.apply, (z,))


# --- autograd.grad ------------------------------------------------------------------------------
def _both(fn):
    return fn(thw), fn(torch)


def test_grad_does_not_accumulate_and_matches_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        h = x * w
        y = (h * h).sum()
        gx, gw, gh = lib.autograd.grad(y, [x, w, h])
        return [g.detach().numpy() for g in (gx, gw, gh)], x.grad, w.grad

    (ours, ox, ow), (theirs, tx, tw) = _both(run)
    assert ox is None and ow is None and tx is None and tw is None
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b)


def test_grad_outputs_retain_graph_allow_unused():
    x = thw.tensor([1.0, 2.0], requires_grad=True)
    u = thw.tensor([1.0], requires_grad=True)
    y = x * x
    g, = thw.autograd.grad(y, x, grad_outputs=thw.tensor([1.0, 10.0]), retain_graph=True)
    assert g.tolist() == [2.0, 40.0]
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        thw.autograd.grad(y.sum(), [x, u], retain_graph=True)
    gx, gu = thw.autograd.grad(y.sum(), [x, u], allow_unused=True, retain_graph=True)
    assert gx.tolist() == [2.0, 4.0] and gu is None
    gx, gu = thw.autograd.grad(y.sum(), [x, u], materialize_grads=True, retain_graph=True)
    assert gu.tolist() == [0.0]
    g2, = thw.autograd.grad([y[0], y[1]], [x], grad_outputs=[thw.tensor(3.0), thw.tensor(1.0)])
    assert g2.tolist() == [6.0, 4.0]
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        thw.autograd.grad(y.sum(), x)
    with pytest.raises(NotImplementedError, match="create_graph"):
        thw.autograd.grad((x * 2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        thw.autograd.grad((x * 2).sum(), thw.ones(2))
    assert x.grad is None


def test_grad_runs_tensor_hooks_and_retain_grad_as_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        calls = []
        x.register_hook(lambda g: calls.append(g.tolist()) or g + 1)
        g, = lib.autograd.grad((y * 3).sum(), x)
        return g.tolist(), y.grad.tolist(), calls, x.grad

    assert run(thw) == run(torch)


# --- grad-mode switches -------------------------------------------------------------------------
def test_set_grad_enabled_function_and_context():
    x = thw.ones(2, requires_grad=True)
    try:
        thw.set_grad_enabled(False)
        assert not thw.is_grad_enabled() and not (x * 2).requires_grad
        thw.set_grad_enabled(True)
        assert (x * 2).requires_grad
        with thw.set_grad_enabled(False):
            assert not (x * 2).requires_grad
            with thw.set_grad_enabled(True):
                assert (x * 2).requires_grad
            assert not thw.is_grad_enabled()
        assert thw.is_grad_enabled()

        @thw.set_grad_enabled(False)
        def f(t):
            return t * 2
        assert thw.is_grad_enabled() and not f(x).requires_grad and thw.is_grad_enabled()
    finally:
        thw.set_grad_enabled(True)
    # torch behaves the same way
    with torch.set_grad_enabled(False):
        assert not (torch.ones(2, requires_grad=True) * 2).requires_grad


def test_inference_mode():
    x = thw.ones(2, requires_grad=True)
    with thw.inference_mode():
        assert not (x * 2).requires_grad
    with thw.inference_mode(False):
        assert (x * 2).requires_grad

    @thw.inference_mode()
    def f(t):
        return t * 2

    @thw.inference_mode
    def g(t):
        return t * 2
    assert not f(x).requires_grad and not g(x).requires_grad and thw.is_grad_enabled()


# --- small conveniences -------------------------------------------------------------------------
def test_view_as_format_is_tensor_type_and_to():
    a, b = thw.arange(6).float(), thw.zeros(2, 3)
    ta, tb = torch.arange(6).float(), torch.zeros(2, 3)
    assert a.view_as(b).shape == tuple(ta.view_as(tb).shape)
    loss, tloss = thw.tensor(0.123456), torch.tensor(0.123456)
    for spec in (".4f", ">10.2e", "", "g"):
        assert format(loss, spec) == format(tloss, spec)
    assert f"{thw.tensor(3)}" == f"{torch.tensor(3)}" and f"{thw.tensor(3):04d}" == f"{torch.tensor(3):04d}"
    with pytest.raises(TypeError):
        f"{a:.2f}"
    with pytest.raises(TypeError):
        f"{ta:.2f}"
    assert format(a, "") == repr(a)
    assert thw.is_tensor(a) and thw.is_tensor(thw.nn.Parameter(a)) and not thw.is_tensor(a.numpy())
    for dt, tdt in [(thw.float32, torch.float32), (thw.float64, torch.float64), (thw.int64, torch.int64),
                    (thw.int32, torch.int32), (thw.bool, torch.bool), (thw.float16, torch.float16),
                    (thw.uint8, torch.uint8), (thw.int8, torch.int8), (thw.int16, torch.int16)]:
        assert thw.zeros(1, dtype=dt).type() == torch.zeros(1, dtype=tdt).type()
    assert a.type(thw.float64).dtype == np.float64
    assert a.type("torch.DoubleTensor").dtype == np.float64 and ta.type("torch.DoubleTensor").dtype == torch.float64
    assert a.type("torch.LongTensor").tolist() == ta.type("torch.LongTensor").tolist()
    assert a.to("cpu", non_blocking=True) is a and ta.to("cpu", non_blocking=True) is ta
    c = a.to("cpu", copy=True)
    assert c is not a and not np.shares_memory(c.numpy(), a._data) and c.tolist() == a.tolist()
    assert a.to(thw.float64, non_blocking=True).dtype == np.float64


def test_autograd_backward_of_several_outputs_matches_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, -1.0], requires_grad=True)
        a, b = x * w, (x * x).sum()
        lib.autograd.backward([a, b], [lib.tensor([1.0, 0.5]), None])
        first = x.grad.tolist(), w.grad.tolist()
        lib.autograd.backward((x * w).sum(), inputs=[w])          # only w accumulates
        return first, x.grad.tolist(), w.grad.tolist()

    assert run(thw) == run(torch)
