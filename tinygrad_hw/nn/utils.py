"""Gradient clipping and flat parameter vectors, as torch.nn.utils.

>>> import tinygrad_hw as thw
>>> from tinygrad_hw import nn
>>> w = nn.Parameter(thw.zeros(2)); w.grad = thw.tensor([3.0, 4.0])
>>> nn.utils.clip_grad_norm_([w], max_norm=1.0).item()
5.0
>>> [round(v, 4) for v in w.grad.tolist()]
[0.6, 0.8]
"""
import math

import numpy as np

from .. import backend
from ..tensor import Tensor


def _as_list(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(a, p, xp):
    """The ``p``-norm of all of ``a``'s elements as a 0-d array of ``a``'s dtype (torch's
    vector_norm: inf is the largest magnitude, -inf the smallest, 0 the count of non-zeros)."""
    if a.size == 0:
        return xp.zeros((), dtype=a.dtype)
    flat = a.reshape(-1)
    if p == 2:
        out = xp.sqrt(xp.dot(flat, flat))       # one BLAS pass, no temporary
    elif p == math.inf:
        out = xp.max(xp.abs(flat))
    elif p == -math.inf:
        out = xp.min(xp.abs(flat))
    elif p == 0:
        out = xp.count_nonzero(flat).astype(a.dtype)
    elif p == 1:
        out = xp.sum(xp.abs(flat))
    else:
        out = xp.sum(xp.abs(flat) ** p) ** (1.0 / p)
    return xp.asarray(out, dtype=a.dtype)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of the norms of ``tensors`` (their values taken as one vector), as a
    0-d Tensor on the first tensor's device; ``foreach`` is accepted for torch's signature."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._wrap(np.zeros((), np.float32), backend.CPU)
    dev = tensors[0].device
    xp = dev.xp
    norms = [backend.to_device(_vector_norm(t._data, norm_type, t.device.xp), dev) for t in tensors]
    dtype = np.result_type(*[n.dtype for n in norms])
    total = _vector_norm(xp.stack([n.astype(dtype, copy=False) for n in norms]), norm_type, xp)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    return Tensor._wrap(total, dev)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every gradient by ``min(1, max_norm / (total_norm + 1e-6))``, in place."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    xp = total_norm.device.xp
    # 0-d arithmetic gives NumPy scalars; asarray keeps it an array for the device copy
    clamped = xp.asarray(xp.minimum(float(max_norm) / (total_norm._data + 1e-6), 1.0))
    with np.errstate(invalid="ignore"):      # a NaN norm scales to NaN, silently as in torch
        for g in grads:
            g._data *= backend.to_device(clamped, g.device).astype(g.dtype, copy=False)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients of ``parameters`` in place so that their total ``norm_type``-norm (all
    gradients taken as one vector; ``inf`` for the largest magnitude) is at most ``max_norm``.
    Returns the total norm before clipping, a 0-d Tensor. ``error_if_nonfinite`` raises on a NaN
    or infinite norm instead of scaling by it."""
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` into ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad._data
            p.device.xp.clip(g, -clip_value, clip_value, out=g)


def _check_same_device(params):
    devs = {p.device for p in params}
    if len(devs) > 1:
        raise TypeError("Found two parameters on different devices, this is currently not supported: "
                        + ", ".join(sorted(str(d) for d in devs)))


def parameters_to_vector(parameters):
    """All ``parameters`` flattened and concatenated into one 1-d Tensor (differentiable)."""
    from ..ops.movement import cat
    params = _as_list(parameters)
    _check_same_device(params)
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Give each of ``parameters`` its slice of the 1-d ``vec`` as its storage (``p.data = ...``, so
    the parameters share memory with ``vec`` afterwards, as in torch)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected Tensor, but got: {type(vec).__name__}")
    params = _as_list(parameters)
    _check_same_device(params + [vec])
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise RuntimeError(f"vector_to_parameters: vec has shape {vec.shape}, the parameters need {total} values")
    start = 0
    for p in params:
        n = p.numel()
        p.data = Tensor._wrap(vec._data[start:start + n].reshape(p.shape), vec.device)
        start += n
