"""Batch normalisation as one Function and its functional wrapper ``batch_norm``."""
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
        if isinstance(t, Tensor) and t.device is not x.device:
            raise RuntimeError(f"batch_norm: input is on {x.device} but {name} is on {t.device}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    if training and x.numel() // C <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    if momentum is None:
        raise NotImplementedError("batch_norm: momentum=None (cumulative average) is kept by the module")
    return BatchNorm.apply(x, weight, bias, running_mean=_array(running_mean), running_var=_array(running_var),
                           training=bool(training), momentum=float(momentum), eps=float(eps))
