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

from tinygrad_hw.testing import check_op
from tinygrad_hw.testing._check import OP_TOLERANCES as TOL, leaf as to_ours   # noqa: F401  (tests build leaves with it)


def to_torch(array, requires_grad=None):
    t = torch.from_numpy(np.array(array))
    if requires_grad if requires_grad is not None else array.dtype.kind == "f":
        t.requires_grad_()
    return t


def _host(x):
    return backend.to_host(x._data) if isinstance(x, thw.Tensor) else x.detach().numpy()


def compare(fn, arrays, torch_fn=None, *, device="cpu", grad=True, rtol=None, atol=None,
            grad_rtol=None, grad_atol=None, seed=0, **kwargs):
    """Check ``fn(*ours, **kwargs)`` against ``torch_fn(*torch_tensors, **kwargs)``: the project's
    use of ``thw.testing.check_op`` with torch as the reference.

    Asserts equal shapes and dtypes, values within tolerance, and (when ``grad``) the gradient
    of every float input under a random cotangent. Returns (our output, torch output).
    """
    return check_op(fn, *arrays, reference=fn if torch_fn is None else torch_fn, reference_framework="torch",
                    device=device, grad=grad, rtol=rtol, atol=atol, grad_rtol=grad_rtol, grad_atol=grad_atol,
                    seed=seed, **kwargs)


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
