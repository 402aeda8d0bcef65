"""The one oracle helper: run the same computation here and in torch, compare values and grads.

    compare(lambda a, b: a @ b, [a_np, b_np])                          # same lambda for both
    compare(F.conv2d, [x, w], torch_fn=torch.nn.functional.conv2d, stride=2)
    compare_module(nn.PReLU(3), torch.nn.PReLU(3), x)                  # a Module and its twin
    with raises_with(ValueError, "(2, 3)"): ...                        # exception type and words

Float inputs require grad (integer ones are passed as constants); the output's gradient is
taken under one random cotangent, so every input's full gradient is compared in one backward.
Tolerances depend on the dtype: float64 tight, float32 loose.
"""
import contextlib

import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from tinygrad_hw import backend

TOL = {  # dtype -> (rtol, atol) for values, (rtol, atol) for gradients
    np.dtype(np.float64): ((1e-6, 1e-9), (1e-6, 1e-9)),
    np.dtype(np.float32): ((1e-4, 1e-5), (1e-4, 1e-4)),
}


def to_ours(array, device="cpu", requires_grad=None):
    """A leaf Tensor holding exactly this array (its dtype and memory layout are kept)."""
    dev = thw.device(device)
    t = thw.Tensor._wrap(backend.to_device(array, dev), dev)
    if requires_grad if requires_grad is not None else array.dtype.kind == "f":
        t.requires_grad_()
    return t


def to_torch(array, requires_grad=None):
    t = torch.from_numpy(np.array(array))
    if requires_grad if requires_grad is not None else array.dtype.kind == "f":
        t.requires_grad_()
    return t


def _host(x):
    return backend.to_host(x._data) if isinstance(x, thw.Tensor) else x.detach().numpy()


def compare(fn, arrays, torch_fn=None, *, device="cpu", grad=True, rtol=None, atol=None,
            grad_rtol=None, grad_atol=None, seed=0, **kwargs):
    """Check ``fn(*ours, **kwargs)`` against ``torch_fn(*torch_tensors, **kwargs)``.

    Asserts equal shapes and dtypes, values within tolerance, and (when ``grad``) the gradient
    of every float input under a random cotangent. Returns (our output, torch output).
    """
    torch_fn = fn if torch_fn is None else torch_fn
    arrays = [np.asarray(a) if not isinstance(a, np.ndarray) else a for a in arrays]
    ours = [to_ours(a, device) for a in arrays]
    theirs = [to_torch(a) for a in arrays]
    out = fn(*ours, **kwargs)
    ref = torch_fn(*theirs, **kwargs)
    ref_np = ref.detach().numpy()
    got = _host(out)
    assert out.shape == tuple(ref.shape), f"shape {out.shape} != torch {tuple(ref.shape)}"
    assert got.dtype == ref_np.dtype, f"dtype {got.dtype} != torch {ref_np.dtype}"
    (vr, va), (gr, ga) = TOL.get(got.dtype, ((1e-3, 1e-3), (1e-3, 1e-3)))
    vr, va = rtol or vr, atol or va
    np.testing.assert_allclose(got, ref_np, rtol=vr, atol=va, err_msg="forward values differ from torch")
    if not grad or not ref.requires_grad:
        return out, ref
    cot = np.random.default_rng(seed).standard_normal(ref.shape).astype(ref_np.dtype)
    out.backward(backend.to_device(cot, out.device))
    ref.backward(torch.from_numpy(cot))
    gr, ga = grad_rtol or gr, grad_atol or ga
    for i, (o, t) in enumerate(zip(ours, theirs)):
        if not t.requires_grad:
            continue
        if t.grad is None:
            assert o.grad is None or not np.any(_host(o.grad)), f"input {i}: torch has no grad, we do"
            continue
        assert o.grad is not None, f"input {i}: no gradient reached it (torch has one)"
        g = _host(o.grad)
        assert g.dtype == arrays[i].dtype, f"input {i}: grad dtype {g.dtype} != {arrays[i].dtype}"
        assert g.shape == arrays[i].shape, f"input {i}: grad shape {g.shape} != {arrays[i].shape}"
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=gr, atol=ga,
                                   err_msg=f"gradient of input {i} differs from torch")
    return out, ref


def compare_module(ours, theirs, x, *, device="cpu", copy_state=True, rtol=None, atol=None,
                   grad_rtol=None, grad_atol=None, seed=0):
    """Check our Module against its torch twin on input ``x`` (an array, or a list of arrays for
    modules of several inputs, e.g. losses).

    With ``copy_state`` torch's parameters and buffers are loaded into ours first. Then both run
    forward in their current mode; outputs, the gradients of every float input and of every
    parameter (under one random cotangent) and the buffers afterwards must agree.
    Returns (our output, torch output).
    """
    arrays = list(x) if isinstance(x, (list, tuple)) else [x]
    if copy_state:
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    mine, ref = compare(lambda *ts: ours(*ts), arrays, torch_fn=lambda *ts: theirs(*ts), device=device,
                        rtol=rtol, atol=atol, grad_rtol=grad_rtol, grad_atol=grad_atol, seed=seed)
    (_, _), (gr, ga) = TOL.get(np.dtype(ref.detach().numpy().dtype), ((1e-3, 1e-3), (1e-3, 1e-3)))
    named = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if p.grad is None:
            assert named[name].grad is None, f"parameter {name}: torch has no grad, we do"
            continue
        assert named[name].grad is not None, f"parameter {name}: no gradient reached it (torch has one)"
        np.testing.assert_allclose(_host(named[name].grad), p.grad.numpy(), rtol=grad_rtol or gr,
                                   atol=grad_atol or ga, err_msg=f"gradient of parameter {name} differs")
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict()), "state_dict keys differ from torch's"
    for name, b in theirs.named_buffers():
        np.testing.assert_allclose(_host(state[name]), b.numpy(), rtol=rtol or 1e-6, atol=atol or 1e-9,
                                   err_msg=f"buffer {name} differs from torch")
    return mine, ref


@contextlib.contextmanager
def raises_with(exc, *words):
    """``with raises_with(ValueError, "(2, 3)", "5"): ...``: the block raises ``exc`` and its
    message contains every one of ``words``."""
    with pytest.raises(exc) as info:
        yield info
    msg = str(info.value)
    for w in words:
        assert w in msg, f"{w!r} not in the {exc.__name__} message {msg!r}"
