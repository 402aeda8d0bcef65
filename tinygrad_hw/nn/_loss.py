"""Softmax, log-softmax and the classification losses, each with its own closed-form backward.

Notation: M rows (the batch, times any spatial dims), C classes; logits (N, C, d1, ...) are viewed
as (M, C) with the class dim last, targets (N, d1, ...) as (M,) integer class ids.
"""
from ..tensor import Function, Tensor

_REDUCTIONS = ("mean", "sum", "none")


class Softmax(Function):
    def forward(self, x, dim):
        xp = self.xp
        e = xp.exp(x - x.max(axis=dim, keepdims=True))     # max-subtraction: exp never overflows
        e /= e.sum(axis=dim, keepdims=True)
        self.out, self.dim = e, dim
        return e

    def backward(self, g):
        out = self.out
        return (out * (g - (g * out).sum(axis=self.dim, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, x, dim):
        xp = self.xp
        shifted = x - x.max(axis=dim, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))   # log-sum-exp
        self.out, self.dim = shifted, dim
        return shifted

    def backward(self, g):
        return (g - self.xp.exp(self.out) * g.sum(axis=self.dim, keepdims=True),)


def _log_softmax_rows(xp, x):
    shifted = x - x.max(axis=1, keepdims=True)
    shifted -= xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


class _ClassLoss(Function):
    """Shared by cross_entropy and nll_loss: the loss is a weighted sum of -logp.

    Per row i: loss_i = (1 - eps) * wt_i * (-logp[i, t_i]) + eps / C * valid_i * sum_c w_c (-logp[i, c]),
    wt_i = w[t_i] * valid_i; 'mean' divides the sum by sum_i wt_i, as torch does.
    """
    from_logits = True

    def forward(self, x, target, weight, ignore_index, reduction, smoothing, out_shape):
        xp = self.xp
        M, C = x.shape
        logp = _log_softmax_rows(xp, x) if self.from_logits else x
        valid = (target != ignore_index).astype(x.dtype)    # float so products keep x's dtype
        t = xp.where(target != ignore_index, target, 0)
        rows = xp.arange(M)
        wt = valid if weight is None else weight[t] * valid
        loss = -logp[rows, t] * wt
        if smoothing:
            smooth = -(logp.sum(axis=1) if weight is None else logp @ weight) * valid
            loss = (1.0 - smoothing) * loss + (smoothing / C) * smooth
        self.saved = (logp, t, rows, valid, wt, weight, reduction, smoothing, out_shape)
        if reduction == "none":
            return loss.reshape(out_shape)
        total = loss.sum()
        if reduction == "mean":
            self.denom = wt.sum()
            total = total / self.denom
        return total

    def backward(self, g):
        xp = self.xp
        logp, t, rows, valid, wt, weight, reduction, eps, out_shape = self.saved
        M, C = logp.shape
        if reduction == "none":
            c = g.reshape(M)
        else:
            c = xp.broadcast_to(g / self.denom if reduction == "mean" else g, (M,))
        # d loss_i / d logp[i, :] = -A_i with A_i = (1-eps) wt_i onehot(t_i) + eps/C valid_i w
        if self.from_logits:
            # through log-softmax: softmax_i * sum(A_i) - A_i
            total_a = (1.0 - eps) * wt
            if eps:
                total_a = total_a + (eps / C) * valid * (C if weight is None else weight.sum())
            grad = xp.exp(logp) * (c * total_a)[:, None]
        else:
            grad = xp.zeros_like(logp)
        if eps:
            grad -= ((eps / C) * c * valid)[:, None] * (1.0 if weight is None else weight[None, :])
        grad[rows, t] -= (1.0 - eps) * c * wt
        return (grad, None, None)


class CrossEntropy(_ClassLoss):
    from_logits = True


class NLLLoss(_ClassLoss):
    from_logits = False


def _dim(dim, ndim, name):
    if dim is None:
        raise TypeError(f"{name}: dim must be given (tensor of {ndim} dims)")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor of {ndim} dims")
    return dim % n


def softmax(x, dim=None):
    """exp(x) / sum(exp(x)) along ``dim``, computed after subtracting the max."""
    return Softmax.apply(x, dim=_dim(dim, x.ndim, "softmax"))


def log_softmax(x, dim=None):
    """x - logsumexp(x) along ``dim``; finite for any finite input."""
    return LogSoftmax.apply(x, dim=_dim(dim, x.ndim, "log_softmax"))


# Checking the class ids costs a host sync per call on a GPU: there it runs on the first call,
# then only when CHECK_CUDA_TARGETS is set (out-of-range ids then give wrong values, not an error).
CHECK_CUDA_TARGETS = False
_checked_cuda = False


def _check_targets(dev):
    global _checked_cuda
    if dev.type == "cpu" or CHECK_CUDA_TARGETS or not _checked_cuda:
        _checked_cuda = _checked_cuda or dev.type != "cpu"
        return True
    return False


def _class_loss(cls, name, x, target, weight, ignore_index, reduction, smoothing):
    if not isinstance(target, Tensor):
        target = Tensor(target, device=x.device)
    if target.device is not x.device:
        raise RuntimeError(f"{name}: input is on {x.device} but target is on {target.device}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {smoothing}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got {x.dtype} of shape {x.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class ids, got {target.dtype} of shape "
                        f"{target.shape} (input shape {x.shape})")
    out_shape = tuple(target.shape)
    if x.ndim == 1:
        x, target = x.unsqueeze(0), target.reshape(1)
    if x.ndim < 2 or target.shape != x.shape[:1] + x.shape[2:]:
        raise ValueError(f"{name}: input of shape {x.shape} (N, C, ...) needs a target of shape "
                         f"{x.shape[:1] + x.shape[2:]}, got {target.shape}")
    C = x.shape[1]
    w = None
    if weight is not None:
        if tuple(weight.shape) != (C,):
            raise ValueError(f"{name}: weight must have shape ({C},), got {tuple(weight.shape)}")
        if isinstance(weight, Tensor) and weight.device is not x.device:
            raise RuntimeError(f"{name}: input is on {x.device} but weight is on {weight.device}")
        w = weight._data.astype(x.dtype, copy=False) if isinstance(weight, Tensor) else \
            x.device.xp.asarray(weight, dtype=x.dtype)
    t = target._data
    if t.size and _check_targets(x.device):
        bad = ((t < 0) | (t >= C)) & (t != ignore_index)
        if bool(bad.any()):
            raise IndexError(f"{name}: target holds class ids outside [0, {C}) (min {int(t.min())}, "
                             f"max {int(t.max())}) for input of shape {x.shape}")
    if x.ndim > 2:      # class dim last, then rows
        x = x.permute(0, *range(2, x.ndim), 1).reshape(-1, C)
    return cls.apply(x, t.reshape(-1), w, ignore_index=ignore_index, reduction=reduction,
                     smoothing=float(smoothing), out_shape=out_shape)


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C, ...) against integer class ids (N, ...), fused:
    backward is (softmax - smoothed one-hot) * grad / N.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> round(F.cross_entropy(thw.zeros(2, 4), thw.tensor([0, 3])).item(), 4)
    1.3863
    """
    if isinstance(weight, str):
        raise TypeError("cross_entropy: pass reduction as a keyword (reduction='sum')")
    return _class_loss(CrossEntropy, "cross_entropy", input, target, weight, ignore_index, reduction,
                       label_smoothing)


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C, ...) at integer class ids (N, ...)."""
    if isinstance(weight, str):
        raise TypeError("nll_loss: pass reduction as a keyword (reduction='sum')")
    return _class_loss(NLLLoss, "nll_loss", input, target, weight, ignore_index, reduction, 0.0)
