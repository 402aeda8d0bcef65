"""Neural-network functions with torch.nn.functional's names, arguments and numbers.

    import tinygrad_hw.nn.functional as F
    y = F.relu(F.conv2d(x, w, b, padding=1))
    loss = F.cross_entropy(F.linear(y.flatten(1), w2, b2), labels)

Convolution lives in ``_conv``, pooling in ``_pool``, softmax and the losses in ``_loss``; the
dense layer, batch norm and dropout are here. Each op is one Function with its closed-form backward.
"""
from .. import backend
from ..tensor import Function, Tensor
from ._conv import conv2d
from ._pool import max_pool2d, avg_pool2d, adaptive_avg_pool2d
from ._loss import softmax, log_softmax, cross_entropy, nll_loss
from ._upsample import interpolate, upsample
from ._embedding import embedding
from ._groupwise import layer_norm, group_norm, instance_norm

__all__ = ["linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "relu", "sigmoid",
           "tanh", "softmax", "log_softmax", "cross_entropy", "nll_loss", "batch_norm", "dropout",
           "pad", "flatten", "interpolate", "upsample", "embedding", "layer_norm",
           "group_norm", "instance_norm"]


class Linear(Function):
    """Notation: x (..., I), w (O, I), b (O,) or None -> (..., O); leading dims flattened to M rows."""

    def forward(self, x, w, b):
        x2 = x.reshape(-1, x.shape[-1])
        out = x2 @ w.T
        if b is not None:
            out += b
        need_x, need_w = self.needs_input_grad[:2]
        self.x2 = x2 if need_w else None
        self.w = w if need_x else None
        self.xshape = x.shape
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        gw = None
        if need_w:
            # for one row the weight gradient is an outer product: a broadcast multiply runs
            # about 2.5x faster than BLAS's GEMM with an inner dimension of 1
            gw = g2.T * self.x2 if g2.shape[0] == 1 else g2.T @ self.x2
        return ((g2 @ self.w).reshape(self.xshape) if need_x else None, gw,
                g2.sum(axis=0) if need_b else None)


def linear(x, weight, bias=None):
    """x @ weight.T + bias, as torch.nn.functional.linear.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.linear(thw.ones(2, 3), thw.ones(4, 3), thw.zeros(4)).shape
    (2, 4)
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                         f"features but weight of shape {weight.shape} expects {weight.shape[1]}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"linear: input, weight and bias must share one dtype, got {x.dtype}, "
                        f"{weight.dtype}, {None if bias is None else bias.dtype}")
    return Linear.apply(x, weight, bias)


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
            self.saved = (xc, invstd, scale, training, axes, shape)
        return out

    def backward(self, g):
        xc, invstd, scale, training, axes, shape = self.saved
        need_x, need_w, need_b = self.needs_input_grad
        sg = g.sum(axis=axes)
        sgx = self.xp.einsum(self.dot, g, xc) * invstd        # sum of g * xhat per channel
        gx = None
        if need_x:
            gx = g * scale.reshape(shape)
            if training:
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


class Dropout(Function):
    def forward(self, x, p, gen):
        draw_dtype = x.dtype if x.dtype.itemsize >= 4 else self.xp.float32
        keep = gen.random(x.shape, dtype=draw_dtype) >= p
        # the mask holds 0 or 1/(1-p), already in x's dtype
        self.mask = keep * x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)


def dropout(x, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p); identity when not training.

    The mask comes from the device's generator, so ``thw.manual_seed`` makes it reproducible.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: input must be floating point, got {x.dtype}")
    return Dropout.apply(x, p=float(p), gen=backend.rng(x.device))


def relu(x, inplace=False):
    """max(x, 0); the gradient at exactly 0 is 0."""
    return x.relu()


def sigmoid(x):
    return x.sigmoid()


def tanh(x):
    return x.tanh()


def pad(x, pad, mode="constant", value=0.0):
    """Constant padding as torch.nn.functional.pad: (left, right) of the last dim, then the one before."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, got {mode!r}")
    return x.pad(pad, 0.0 if value is None else value)


def flatten(x, start_dim=0, end_dim=-1):
    return x.flatten(start_dim, end_dim)
