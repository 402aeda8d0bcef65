"""Normalisation over groups of values within each sample: layer norm, group norm, instance norm.

Notation: x viewed as (R, M): R rows (one per sample, or per sample and group) of M values each,
normalised to zero mean and unit (biased) variance, then scaled and shifted by an affine that
broadcasts against x's own shape. The backward of the standardisation is the classic
gx = invstd * (gh - mean(gh) - xhat * mean(gh * xhat)), with gh the gradient at xhat.
"""
import numpy as np

from ..tensor import Function, Tensor


class Standardize(Function):
    """x of any shape, standardised over each row of ``x.reshape(rows)``; then ``* weight + bias``
    where weight/bias (or None) broadcast against x (weight_shape is their shape as viewed there)."""

    def forward(self, x, weight, bias, rows, affine_shape, eps):
        xp = self.xp
        xr = x.reshape(rows, -1)
        mean = xr.mean(axis=1, keepdims=True)
        xc = xr - mean
        var = xp.einsum("rm,rm->r", xc, xc)[:, None] / xr.shape[1]
        invstd = 1.0 / xp.sqrt(var + x.dtype.type(eps))
        xhat = (xc * invstd).reshape(x.shape)
        self.xhat, self.invstd, self.rows, self.affine_shape = xhat, invstd, rows, affine_shape
        self.weight = weight
        self.param_shape = weight.shape if weight is not None else bias.shape if bias is not None else None
        out = xhat if weight is None else xhat * weight.reshape(affine_shape)
        if bias is not None:
            out = out + bias.reshape(affine_shape)
        return out

    def _reduce_to_affine(self, a):
        """Sum ``a`` (x's shape) down to the affine parameters' (viewed) shape."""
        shape = self.affine_shape
        axes = tuple(i for i, s in enumerate(shape) if s == 1 and a.shape[i] != 1)
        return (a.sum(axis=axes) if axes else a).reshape(self.param_shape)

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad
        xhat = self.xhat
        gw = self._reduce_to_affine(g * xhat) if need_w else None
        gb = self._reduce_to_affine(g) if need_b else None
        gx = None
        if need_x:
            gh = g if self.weight is None else g * self.weight.reshape(self.affine_shape)
            ghr, xr = gh.reshape(self.rows, -1), xhat.reshape(self.rows, -1)
            m = ghr.shape[1]
            gx = self.invstd * (ghr - ghr.sum(axis=1, keepdims=True) / m
                                - xr * (self.xp.einsum("rm,rm->r", ghr, xr)[:, None] / m))
            gx = gx.reshape(g.shape)
        return gx, gw, gb


def _check_affine(name, t, size, x):
    if t is None:
        return None
    if tuple(t.shape) != size:
        raise ValueError(f"{name}: weight and bias must have shape {size} for input of shape {x.shape}, "
                         f"got {tuple(t.shape)}")
    if t.device is not x.device:
        raise RuntimeError(f"{name}: input is on {x.device} but an affine parameter is on {t.device}")
    return t


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims, as torch.nn.functional.layer_norm.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> [round(v, 4) for v in F.layer_norm(thw.tensor([[1.0, 3.0]]), (2,)).tolist()[0]]
    [-1.0, 1.0]
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the last dims of input "
                         f"shape {input.shape}")
    _check_affine("layer_norm", weight, shape, input)
    _check_affine("layer_norm", bias, shape, input)
    rows = int(np.prod(input.shape[:input.ndim - k], dtype=np.int64))
    affine = (1,) * (input.ndim - k) + shape
    return Standardize.apply(input, weight, bias, rows=rows, affine_shape=affine, eps=float(eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of ``num_groups`` channel groups of every sample (N, C, *), as torch."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected input (N, C, *), got shape {input.shape}")
    N, C = input.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise ValueError(f"group_norm: num_groups {num_groups} must divide the {C} channels of input {input.shape}")
    _check_affine("group_norm", weight, (C,), input)
    _check_affine("group_norm", bias, (C,), input)
    affine = (1, C) + (1,) * (input.ndim - 2)
    return Standardize.apply(input, weight, bias, rows=N * num_groups, affine_shape=affine, eps=float(eps))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample (N, C, *), as torch.nn.functional.instance_norm.

    With ``use_input_stats`` the statistics come from the input, and the running arrays, when
    given, are updated with their mean over the batch; otherwise the running arrays are used.
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *spatial), got shape {input.shape}")
    N, C = input.shape[:2]
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        from .functional import batch_norm
        return batch_norm(input, running_mean, running_var, weight, bias, training=False, eps=eps)
    if running_mean is not None or running_var is not None:
        xp = input.device.xp
        x = input._data.reshape(N, C, -1)
        m = x.shape[2]
        mean = x.mean(axis=2)
        var = x.var(axis=2) * (m / (m - 1) if m > 1 else 1.0)
        for run, stat in ((running_mean, mean), (running_var, var)):
            if run is not None:
                arr = run._data if isinstance(run, Tensor) else run
                arr *= 1.0 - momentum
                arr += xp.asarray(momentum * stat.mean(axis=0), dtype=arr.dtype)
    return group_norm(input, C, weight, bias, eps)
