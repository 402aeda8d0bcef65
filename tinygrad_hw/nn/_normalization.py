"""Batch normalisation as one Function and its functional wrapper ``batch_norm``."""
import numpy as np

from .. import backend
from ..tensor import Function, Tensor


class BatchNorm(Function):
    """Notation: x (N, C, *S); per-channel statistics over the M = N * prod(S) values of a channel.

    Training normalises with the batch mean and biased variance and updates the running arrays in
    place (the running variance with the unbiased one), as torch does. Per-channel sums of
    products go through einsum, which makes no elementwise temporary.
    """

    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        xp = self.xp
        C = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, C) + (1,) * (x.ndim - 2)
        dims = "nc" + "hwdlk"[:x.ndim - 2]
        self.dot = f"{dims},{dims}->c"          # per-channel sum of a * b
        if training:
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(shape)
            m = x.size // C
            var = xp.einsum(self.dot, xc, xc) / m
            if running_mean is not None:
                running_mean *= 1.0 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype, copy=False)
            if running_var is not None:
                running_var *= 1.0 - momentum
                running_var += (momentum * m / (m - 1) * var).astype(running_var.dtype, copy=False)
        else:
            mean, var = running_mean.astype(x.dtype, copy=False), running_var.astype(x.dtype, copy=False)
            xc = x - mean.reshape(shape)
        invstd = 1.0 / xp.sqrt(var + eps)
        scale = invstd if weight is None else invstd * weight
        out = xc * scale.reshape(shape)
        if bias is not None:
            out += bias.reshape(shape)
        if any(self.needs_input_grad):
            self.xc, self.invstd, self.scale = xc, invstd, scale
            self.training, self.axes, self.shape = training, axes, shape
        return out

    def backward(self, g):
        xc, invstd, scale, shape = self.xc, self.invstd, self.scale, self.shape
        need_x, need_w, need_b = self.needs_input_grad
        sg = g.sum(axis=self.axes)
        sgx = self.xp.einsum(self.dot, g, xc) * invstd        # sum of g * xhat per channel
        gx = None
        if need_x:
            gx = g * scale.reshape(shape)
            if self.training:
                # scale * (g - mean(g) - xhat * mean(g * xhat)), with xhat = xc * invstd
                m = g.size // g.shape[1]
                gx -= xc * (scale * invstd * sgx / m).reshape(shape)
                gx -= (scale * sg / m).reshape(shape)
        return gx, sgx if need_w else None, sg if need_b else None


def _array(t):
    return t._data if isinstance(t, Tensor) else t


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over dim 1 of x (N, C) or (N, C, ...), as torch.nn.functional.batch_norm.

    ``running_mean``/``running_var`` (C,) Tensors (or None in training) are updated in place when
    ``training``: running = (1 - momentum) * running + momentum * batch_stat.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> rm, rv = thw.zeros(2), thw.ones(2)
    >>> y = F.batch_norm(thw.tensor([[1.0, 2.0], [3.0, 6.0]]), rm, rv, training=True)
    >>> [[round(v, 3) for v in row] for row in y.tolist()], [round(v, 3) for v in rm.tolist()]
    ([[-1.0, -1.0], [1.0, 1.0]], [0.2, 0.4])
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must have a channel dim (N, C, ...), got shape {x.shape}")
    C = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},) for input of shape {x.shape}, "
                             f"got {tuple(t.shape)}")
        dev = None if t is None else t.device if isinstance(t, Tensor) else backend.device_of_data(t)
        if dev is not None and dev is not x.device:     # raw arrays too: updated in place below
            raise RuntimeError(f"batch_norm: input is on {x.device} but {name} is on {dev}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    if training and x.numel() // C <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    if momentum is None:
        raise NotImplementedError("batch_norm: momentum=None (cumulative average) is kept by the module")
    return BatchNorm.apply(x, weight, bias, running_mean=_array(running_mean), running_var=_array(running_var),
                           training=bool(training), momentum=float(momentum), eps=float(eps))


# --- normalisation within each sample: layer norm, group norm, instance norm ------------------
# x viewed as (R, M): R rows (one per sample, or per sample and group) of M values each, normalised
# to zero mean and unit (biased) variance, then an affine that broadcasts against x's own shape.
# Backward of the standardisation: gx = invstd * (gh - mean(gh) - xhat * mean(gh * xhat)).
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
