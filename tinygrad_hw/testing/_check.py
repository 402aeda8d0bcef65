"""check_op: an op's values and every input's gradient against a reference.

The reference is a torch function (values and autograd gradients; torch imported only then), a
NumPy function (values; gradients by float64 central differences of it), or None (gradients by
finite differences of the op itself, in float64). Gradients are taken under one random
cotangent, so a single backward covers every input's whole gradient.
"""
import numpy as np

from .. import backend
from ..tensor import Tensor
from ._compare import assert_close, to_numpy

# (rtol, atol) for values and for gradients, by dtype: an op and its reference may sum in
# different orders, so these are looser than assert_close's defaults
OP_TOLERANCES = {
    np.dtype(np.float64): ((1e-6, 1e-9), (1e-6, 1e-9)),
    np.dtype(np.float32): ((1e-4, 1e-5), (1e-4, 1e-4)),
}
_OTHER = ((1e-3, 1e-3), (1e-3, 1e-3))
_FD_TOL = (1e-3, 1e-5)          # (rtol, atol) of a directional derivative against its estimate


def leaf(array, device="cpu", requires_grad=None):
    """A leaf Tensor holding exactly ``array`` (dtype and memory layout kept) on ``device``;
    float arrays require grad unless told otherwise."""
    dev = backend.device(device)
    t = Tensor._wrap(backend.to_device(array, dev), dev)
    if requires_grad if requires_grad is not None else array.dtype.kind == "f":
        t.requires_grad_()
    return t


def _framework(reference, framework):
    if framework is not None:
        if framework not in ("torch", "numpy"):
            raise ValueError(f"check_op: reference_framework must be 'torch' or 'numpy', got {framework!r}")
        return framework
    module = getattr(reference, "__module__", None) or ""
    return "torch" if module.split(".")[0] == "torch" else "numpy"


def _directional(f, arrays, i, v, eps):
    """Central difference of the scalar f(*arrays) along v in input i, in float64."""
    plus = list(arrays)
    minus = list(arrays)
    plus[i] = arrays[i] + eps * v
    minus[i] = arrays[i] - eps * v
    return (f(plus) - f(minus)) / (2 * eps)


def check_op(fn, *arrays, reference=None, reference_framework=None, device="cpu", grad=True,
             rtol=None, atol=None, grad_rtol=None, grad_atol=None, seed=0, eps=1e-6, **kwargs):
    """Check ``fn(*tensors, **kwargs)`` against ``reference``; returns (ours, reference output).

    ``arrays`` are NumPy arrays (or anything ``np.asarray`` takes); float ones become leaves that
    require grad. ``reference`` receives torch tensors when it is a torch function (or with
    ``reference_framework='torch'``), else the NumPy arrays. Raises AssertionError naming what
    differs: shape, dtype, values, or the gradient of input i.
    """
    arrays = [to_numpy(a) if not isinstance(a, np.ndarray) else a for a in arrays]
    ours = [leaf(a, device) for a in arrays]
    out = fn(*ours, **kwargs)
    if not isinstance(out, Tensor):
        raise TypeError(f"check_op: the op returned {type(out).__name__}, expected a Tensor")
    got = to_numpy(out)
    (vr, va), (gr, ga) = OP_TOLERANCES.get(got.dtype, _OTHER)
    vr, va = rtol if rtol is not None else vr, atol if atol is not None else va
    gr, ga = grad_rtol if grad_rtol is not None else gr, grad_atol if grad_atol is not None else ga
    rng = np.random.default_rng(seed)
    kind = _framework(reference, reference_framework) if reference is not None else None

    if kind == "torch":
        import torch
        theirs = [torch.from_numpy(np.array(a)) for a in arrays]
        for t in theirs:
            if t.dtype.is_floating_point:
                t.requires_grad_()
        ref = reference(*theirs, **kwargs)
        ref_np = ref.detach().numpy()
        assert out.shape == tuple(ref.shape), f"shape {out.shape} != reference {tuple(ref.shape)}"
        assert got.dtype == ref_np.dtype, f"dtype {got.dtype} != reference {ref_np.dtype}"
        assert_close(got, ref_np, rtol=vr, atol=va, equal_nan=True, msg="forward values differ from the reference")
        if not grad or not ref.requires_grad:
            return out, ref
        cot = rng.standard_normal(ref.shape).astype(ref_np.dtype)
        out.backward(backend.to_device(cot, out.device))
        ref.backward(torch.from_numpy(cot))
        for i, (o, t) in enumerate(zip(ours, theirs)):
            if not t.requires_grad:
                continue
            if t.grad is None:
                assert o.grad is None or not np.any(to_numpy(o.grad)), f"input {i}: the reference has no grad, we do"
                continue
            assert o.grad is not None, f"input {i}: no gradient reached it (the reference has one)"
            g = to_numpy(o.grad)
            assert g.dtype == arrays[i].dtype, f"input {i}: grad dtype {g.dtype} != {arrays[i].dtype}"
            assert g.shape == arrays[i].shape, f"input {i}: grad shape {g.shape} != {arrays[i].shape}"
            assert_close(g, t.grad.numpy(), rtol=gr, atol=ga, equal_nan=True,
                         msg=f"gradient of input {i} differs from the reference")
        return out, ref

    if kind == "numpy":
        ref_np = np.asarray(reference(*arrays, **kwargs))
        assert got.shape == ref_np.shape, f"shape {got.shape} != reference {ref_np.shape}"
        assert_close(got, ref_np, rtol=vr, atol=va, equal_nan=True, check_dtype=False,
                     msg="forward values differ from the reference")

        def scalar(args):
            return float(np.sum(cot64 * np.asarray(reference(*args, **kwargs), np.float64)))
    else:
        ref_np = None

        def scalar(args):
            ts = [leaf(a, device, requires_grad=False) for a in args]
            return float(np.sum(cot64 * to_numpy(fn(*ts, **kwargs)).astype(np.float64)))

    if not grad or not out.requires_grad:
        return out, ref_np
    cot = rng.standard_normal(out.shape).astype(got.dtype)
    cot64 = cot.astype(np.float64)
    out.backward(backend.to_device(cot, out.device))
    args64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    for i, (o, a) in enumerate(zip(ours, arrays)):
        if a.dtype.kind != "f":
            continue
        g = to_numpy(o.grad) if o.grad is not None else np.zeros_like(a)
        assert g.shape == a.shape, f"input {i}: grad shape {g.shape} != {a.shape}"
        v = rng.standard_normal(a.shape)
        analytic = float(np.sum(g.astype(np.float64) * v))
        numeric = _directional(scalar, args64, i, v, eps)
        rt, at = _FD_TOL
        if not abs(analytic - numeric) <= at + rt * abs(numeric):
            raise AssertionError(f"gradient of input {i} differs from finite differences: along a random "
                                 f"direction the backward gives {analytic:.8g}, central differences "
                                 f"(eps={eps}) give {numeric:.8g}")
    return out, ref_np
