"""The losses of torch.nn.functional, each one Function with its closed-form backward, and
their functional wrappers (reduction 'none' | 'mean' | 'sum').

Notation: M rows (the batch, times any spatial dims), C classes; logits (N, C, d1, ...) are viewed
as (M, C) with the class dim last, targets (N, d1, ...) as (M,) integer class ids, or, for
class-probability targets, as (M, C) like the logits.
"""
import numpy as np

from .. import backend
from ..tensor import Function, Tensor
from ..ops.elementwise import unbroadcast
from ..ops.softmax import log_softmax_array

_REDUCTIONS = ("mean", "sum", "none")


class _ClassLoss(Function):
    """Shared by cross_entropy and nll_loss: the loss is a weighted sum of -logp.

    Per row i: loss_i = (1 - eps) * wt_i * (-logp[i, t_i]) + eps / C * valid_i * sum_c w_c (-logp[i, c]),
    wt_i = w[t_i] * valid_i; 'mean' divides the sum by sum_i wt_i, as torch does.
    """
    from_logits = True

    def forward(self, x, target, weight, ignore_index, reduction, smoothing, out_shape):
        xp = self.xp
        M, C = x.shape
        self.blocks = _row_blocks(xp, x) if self.from_logits else None
        if self.blocks is not None:
            logp = _blocked_log_softmax(xp, x, self.blocks)
        else:
            logp = log_softmax_array(xp, x, 1) if self.from_logits else x
        valid = (target != ignore_index).astype(x.dtype)    # float so products keep x's dtype
        t = xp.where(target != ignore_index, target, 0)
        rows = xp.arange(M)
        wt = valid if weight is None else weight[t] * valid
        loss = -logp[rows, t] * wt
        if smoothing:
            smooth = -(logp.sum(axis=1) if weight is None else logp @ weight) * valid
            loss = (1.0 - smoothing) * loss + (smoothing / C) * smooth
        self.logp, self.t, self.rows, self.valid, self.wt = logp, t, rows, valid, wt
        self.weight, self.reduction, self.smoothing = weight, reduction, smoothing
        if reduction == "none":
            return loss.reshape(out_shape)
        total = loss.sum()
        if reduction == "mean":
            self.denom = wt.sum()
            total = total / self.denom
        return total

    def backward(self, g):
        xp = self.xp
        logp, t, rows, valid, wt = self.logp, self.t, self.rows, self.valid, self.wt
        weight, reduction, eps = self.weight, self.reduction, self.smoothing
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
            coef = c * total_a
            if self.blocks is not None:
                grad = xp.empty_like(logp)

                def block(sl):
                    gb = xp.exp(logp[sl], out=grad[sl])
                    gb *= coef[sl, None]
                backend.parallel_blocks(block, self.blocks)
            else:
                grad = xp.exp(logp) * coef[:, None]
        else:
            grad = xp.zeros_like(logp)
        if eps:
            grad -= ((eps / C) * c * valid)[:, None] * (1.0 if weight is None else weight[None, :])
        grad[rows, t] -= (1.0 - eps) * c * wt
        return (grad, None, None)


# On the CPU, large logits (above ELEMENTWISE_MIN_BYTES) run their log-softmax and its gradient
# in blocks of rows on the backend's pool, each block's temporaries in a per-thread buffer; the
# per-row gather and sums stay whole-array (M values). Small inputs keep the one-call path.
# Measured (2 threads, machine shared, load ~0.7; medians of 21 interleaved runs; forward and
# backward, float32): 1024x1000 5.6 ms before, 3.9 ms now (torch 3.7 ms); 256x1000 (1 MB, the
# threshold) 1.20 ms before, 1.04 ms now; 128x10 (small path) 0.11 ms both.
def _row_blocks(xp, x):
    if xp is not np or x.nbytes < backend.ELEMENTWISE_MIN_BYTES or not x.flags.c_contiguous:
        return None
    return backend.plan_blocks(backend.CPU, x.shape[0], 3 * x.shape[1] * x.itemsize)


def _blocked_log_softmax(xp, x, blocks):
    """log_softmax(x, 1) of a C-contiguous (M, C) array, a block of rows at a time."""
    logp = xp.empty_like(x)

    def block(sl):
        xb, lb = x[sl], logp[sl]
        xp.subtract(xb, xb.max(axis=1, keepdims=True), out=lb)
        e = xp.exp(lb, out=backend.scratch("ce.exp", lb.shape, lb.dtype))
        lse = e.sum(axis=1, keepdims=True)
        lb -= xp.log(lse, out=lse)
    backend.parallel_blocks(block, blocks)
    return logp


class CrossEntropy(_ClassLoss):
    from_logits = True


class NLLLoss(_ClassLoss):
    from_logits = False


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
    _check_reduction(reduction, name)
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
    w = _weight_array(name, weight, x, (C,))
    t = target._data
    if t.size and _check_targets(x.device):
        bad = ((t < 0) | (t >= C)) & (t != ignore_index)
        if bool(bad.any()):
            raise IndexError(f"{name}: target holds class ids outside [0, {C}) (min {int(t.min())}, "
                             f"max {int(t.max())}) for input of shape {x.shape}")
    return cls.apply(_rows_last(x, C), t.reshape(-1), w, ignore_index=ignore_index, reduction=reduction,
                     smoothing=float(smoothing), out_shape=out_shape)


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C, ...) against integer class ids (N, ...) or class
    probabilities (N, C, ...) shaped like the logits; fused: backward is
    (softmax - smoothed target) * grad / N.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> round(F.cross_entropy(thw.zeros(2, 4), thw.tensor([0, 3])).item(), 4)
    1.3863
    """
    if isinstance(weight, str):
        raise TypeError("cross_entropy: pass reduction as a keyword (reduction='sum')")
    if isinstance(target, Tensor) and target.dtype.kind == "f" and target.shape == input.shape:
        return _prob_cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
    return _class_loss(CrossEntropy, "cross_entropy", input, target, weight, ignore_index, reduction,
                       label_smoothing)


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C, ...) at integer class ids (N, ...)."""
    if isinstance(weight, str):
        raise TypeError("nll_loss: pass reduction as a keyword (reduction='sum')")
    return _class_loss(NLLLoss, "nll_loss", input, target, weight, ignore_index, reduction, 0.0)


# --- class-probability targets ------------------------------------------------------------------
class ProbCrossEntropy(Function):
    """loss_i = -sum_c w_c q_ic logp_ic with q = (1 - eps) p + eps / C; 'mean' divides by M.

    d/dx_ic = softmax_ic * sum_c' w_c' q_ic' - w_c q_ic; d/dp_ic = -(1 - eps) w_c logp_ic.
    """

    def forward(self, x, p, weight, reduction, smoothing, out_shape):
        xp = self.xp
        M, C = x.shape
        logp = log_softmax_array(xp, x, 1)
        q = p if not smoothing else (1.0 - smoothing) * p + smoothing / C
        wq = q if weight is None else q * weight
        loss = -(wq * logp).sum(axis=1)
        self.logp, self.wq, self.weight, self.reduction, self.smoothing = logp, wq, weight, reduction, smoothing
        if reduction == "none":
            return loss.reshape(out_shape)
        return loss.sum() / M if reduction == "mean" else loss.sum()

    def backward(self, g):
        xp = self.xp
        logp, wq = self.logp, self.wq
        M, C = logp.shape
        c = (g.reshape(M) if self.reduction == "none" else
             xp.broadcast_to(g / M if self.reduction == "mean" else g, (M,)))[:, None]
        need_x, need_p = self.needs_input_grad[:2]
        gx = c * (xp.exp(logp) * wq.sum(axis=1, keepdims=True) - wq) if need_x else None
        gp = None
        if need_p:
            gp = -(1.0 - self.smoothing) * c * (logp if self.weight is None else logp * self.weight)
        return gx, gp, None


def _rows_last(t, C):
    """(N, C, d1, ...) -> (M, C) with the class dim last."""
    if t.ndim > 2:
        t = t.permute(0, *range(2, t.ndim), 1)
    return t if t.ndim == 2 and t.shape[1] == C else t.reshape(-1, C)


def _prob_cross_entropy(x, target, weight, ignore_index, reduction, smoothing):
    name = "cross_entropy"
    _check_reduction(reduction, name)
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {smoothing}")
    if target.shape != x.shape:
        raise ValueError(f"{name}: class-probability target must have the input's shape {x.shape}, "
                         f"got {target.shape}")
    if target.dtype != x.dtype:
        raise TypeError(f"{name}: input is {x.dtype} but the probability target is {target.dtype}")
    if ignore_index >= 0:
        raise ValueError(f"{name}: ignore_index is only for class-index targets, not probabilities")
    if x.ndim == 0:
        raise ValueError(f"{name}: input must have a class dim, got a 0-d tensor")
    _same_device(name, x, target)
    out_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
    C = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = _weight_array(name, weight, x, (C,))
    return ProbCrossEntropy.apply(_rows_last(x, C), _rows_last(target, C), w, reduction=reduction,
                                  smoothing=float(smoothing), out_shape=out_shape)


# --- elementwise regression and binary losses -------------------------------------------------------
def _check_reduction(reduction, name):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _same_device(name, *tensors):
    for t in tensors[1:]:
        if t.device is not tensors[0].device:
            raise RuntimeError(f"{name}: input is on {tensors[0].device} but another argument is on {t.device}")


def _weight_array(name, weight, x, shape=None):
    """An optional weight (Tensor or array-like) as a raw array of x's dtype on x's device; with
    ``shape``, it must have exactly that shape, else it must broadcast to x's."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        if weight.device is not x.device:
            raise RuntimeError(f"{name}: input is on {x.device} but weight is on {weight.device}")
        w = weight._data.astype(x.dtype, copy=False)
    else:
        w = x.device.xp.asarray(weight, dtype=x.dtype)
    if shape is not None and tuple(w.shape) != shape:
        raise ValueError(f"{name}: weight must have shape {shape}, got {tuple(w.shape)}")
    return w


def _reduce(xp, loss, reduction):
    if reduction == "none":
        return loss
    return loss.mean() if reduction == "mean" else loss.sum()


def _upstream(xp, g, shape, reduction):
    """The output gradient as a per-element factor of the unreduced loss of ``shape``."""
    if reduction == "none":
        return g
    size = 1
    for s in shape:
        size *= s
    return xp.broadcast_to(g / size if reduction == "mean" else g, shape)


class _DiffLoss(Function):
    """loss = rho(input - target) elementwise; subclasses give rho(d) and rho'(d)."""

    def forward(self, x, y, reduction, **params):
        self.__dict__.update(params)
        d = x - y
        loss = self.rho(d)
        self.d, self.reduction = d, reduction
        return _reduce(self.xp, loss.astype(x.dtype, copy=False), reduction)

    def backward(self, g):
        xp = self.xp
        gd = (_upstream(xp, g, self.d.shape, self.reduction) * self.drho(self.d)).astype(g.dtype, copy=False)
        nx, ny = self.needs_input_grad[:2]
        x, y = self.inputs[:2]
        return (unbroadcast(gd, x._data.shape) if nx else None,
                unbroadcast(-gd, y._data.shape) if ny else None)


class MSE(_DiffLoss):
    def rho(self, d):
        return d * d

    def drho(self, d):
        return 2 * d


class L1(_DiffLoss):
    def rho(self, d):
        return self.xp.abs(d)

    def drho(self, d):
        return self.xp.sign(d)


class SmoothL1(_DiffLoss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta."""

    def rho(self, d):
        a = self.xp.abs(d)
        quad = a < self.beta        # masks, not where(): its branches are slow on mixed data
        return quad * (0.5 / self.beta * d * d) + ~quad * (a - 0.5 * self.beta)

    def drho(self, d):
        return self.xp.clip(d / self.beta, -1.0, 1.0)


class Huber(_DiffLoss):
    """0.5 d^2 where |d| <= delta, else delta * (|d| - 0.5 delta)."""

    def rho(self, d):
        a = self.xp.abs(d)
        quad = a <= self.delta
        return quad * (0.5 * d * d) + ~quad * (self.delta * (a - 0.5 * self.delta))

    def drho(self, d):
        return self.xp.clip(d, -self.delta, self.delta)


def _pair_inputs(name, input, target):
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{name}: input and target must be Tensors, got {type(input).__name__} and "
                        f"{type(target).__name__}")
    if input.dtype.kind != "f" or target.dtype != input.dtype:
        raise TypeError(f"{name}: input and target must be floating point of one dtype, got "
                        f"{input.dtype} and {target.dtype}")
    _same_device(name, input, target)
    try:
        np.broadcast_shapes(input.shape, target.shape)     # shapes only, never data
    except ValueError:
        raise ValueError(f"{name}: input of shape {input.shape} and target of shape {target.shape} "
                         "cannot be broadcast together") from None


def _diff_loss(cls, name, input, target, reduction, **params):
    _check_reduction(reduction, name)
    _pair_inputs(name, input, target)
    return cls.apply(input, target, reduction=reduction, **params)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error (input - target)^2, as torch.nn.functional.mse_loss.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.mse_loss(thw.tensor([1.0, 2.0]), thw.tensor([0.0, 4.0])).item()
    2.5
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _diff_loss(MSE, "mse_loss", input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error |input - target|; the gradient at 0 is 0."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _diff_loss(L1, "l1_loss", input, target, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Quadratic below ``beta``, linear above (beta=0 is l1_loss)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return _diff_loss(L1, "smooth_l1_loss", input, target, reduction)
    return _diff_loss(SmoothL1, "smooth_l1_loss", input, target, reduction, beta=float(beta))


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 for |d| <= delta, delta (|d| - delta / 2) beyond (smooth_l1 times delta)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _diff_loss(Huber, "huber_loss", input, target, reduction, delta=float(delta))


class _BinaryLoss(Function):
    """loss = w * l(x, t) elementwise, w an optional weight broadcast to x's shape; subclasses
    give ``loss(x, t)`` and ``grads(c, need_x, need_t)`` with c the upstream factor times w."""

    def forward(self, x, t, w, reduction, **params):
        self.__dict__.update(params)
        self.x, self.t, self.w, self.reduction = x, t, w, reduction
        loss = self.loss(x, t)
        if w is not None:
            loss = loss * w
        return _reduce(self.xp, loss.astype(x.dtype, copy=False), reduction)

    def backward(self, g):
        c = _upstream(self.xp, g, self.x.shape, self.reduction)
        if self.w is not None:
            c = c * self.w
        gx, gt = self.grads(c, *self.needs_input_grad[:2])
        return (None if gx is None else gx.astype(g.dtype, copy=False),
                None if gt is None else gt.astype(g.dtype, copy=False), None)


class BCE(_BinaryLoss):
    """-(t log x + (1 - t) log(1 - x)), each log clamped at -100 (torch's rule, so x = 0 or 1
    gives a finite loss). d/dx = (x - t) / max(x (1 - x), 1e-12); d/dt = log(1 - x) - log x."""

    def loss(self, x, t):
        xp = self.xp
        # log(0) is -inf and then -100; the where()s only keep NumPy from warning about it
        pos, below1 = x > 0, x < 1
        self.lx = xp.maximum(xp.where(pos, xp.log(xp.where(pos, x, 1)), -100.0), -100.0)
        self.l1x = xp.maximum(xp.where(below1, xp.log1p(-xp.where(below1, x, 0)), -100.0), -100.0)
        return -(t * self.lx + (1 - t) * self.l1x)

    def grads(self, c, nx, nt):
        x = self.x
        return (c * (x - self.t) / self.xp.maximum(x * (1 - x), 1e-12) if nx else None,
                c * (self.l1x - self.lx) if nt else None)


class BCEWithLogits(_BinaryLoss):
    """(1 - t) x + (1 + (p - 1) t) softplus(-x), p the positive weight (broadcast along the last
    dim): log-sigmoid through softplus, so x = +-1e4 stays finite.
    d/dx = (1 - t) sigmoid(x) - p t sigmoid(-x); d/dt = (p - 1) softplus(-x) - x."""

    def loss(self, x, t):
        xp = self.xp
        self.spn = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))        # softplus(-x)
        p = self.pos_weight
        return (1 - t) * x + (1.0 if p is None else 1 + (p - 1) * t) * self.spn

    def grads(self, c, nx, nt):
        x, t, p = self.x, self.t, self.pos_weight
        gx = gt = None
        if nx:
            s = 0.5 * (self.xp.tanh(0.5 * x) + 1)
            gx = c * ((1 - t) * s - (t if p is None else p * t) * (1 - s))
        if nt:
            gt = c * (-x if p is None else (p - 1) * self.spn - x)
        return gx, gt


def _binary_inputs(name, input, target, weight, size_average, reduce, reduction):
    """Validated (reduction, weight array broadcast to the input's shape or None)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, name)
    _pair_inputs(name, input, target)
    if target.shape != input.shape:
        raise ValueError(f"{name}: target of shape {target.shape} must have the input's shape {input.shape}")
    return reduction, _broadcast_weight(name, weight, input)


def _broadcast_weight(name, weight, input):
    w = _weight_array(name, weight, input)
    try:
        return None if w is None else input.device.xp.broadcast_to(w, input.shape)
    except ValueError:
        raise ValueError(f"{name}: weight of shape {tuple(w.shape)} does not broadcast to the input's "
                         f"shape {input.shape}") from None


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target`` (same shape);
    ``weight`` broadcasts to the input's shape.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.binary_cross_entropy(thw.tensor([0.0, 1.0]), thw.tensor([1.0, 0.0]), reduction="sum").item()
    200.0
    """
    name = "binary_cross_entropy"
    reduction, w = _binary_inputs(name, input, target, weight, size_average, reduce, reduction)
    xa = input._data
    if xa.size and bool(((xa < 0) | (xa > 1)).any()):
        raise ValueError(f"{name}: input values must be probabilities in [0, 1] (input of shape "
                         f"{input.shape}); for logits use binary_cross_entropy_with_logits")
    return BCE.apply(input, target, w, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid and binary cross-entropy in one stable op; ``pos_weight`` (broadcast along the last
    dim, as torch) weighs the positive term, ``weight`` every element.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.binary_cross_entropy_with_logits(thw.tensor([1e4, -1e4]), thw.tensor([0.0, 1.0]), reduction="none").tolist()
    [10000.0, 10000.0]
    """
    name = "binary_cross_entropy_with_logits"
    reduction, w = _binary_inputs(name, input, target, weight, size_average, reduce, reduction)
    p = _broadcast_weight(name + " (pos_weight)", pos_weight, input)
    return BCEWithLogits.apply(input, target, w, reduction=reduction, pos_weight=p)


class KLDiv(Function):
    """target * (log target - input) (0 where target = 0), or exp(target) * (target - input) with
    ``log_target``; input holds log-probabilities."""

    def forward(self, x, t, reduction, log_target):
        xp = self.xp
        if log_target:
            self.et = xp.exp(t)
            loss = self.et * (t - x)
        else:
            self.logt = xp.log(xp.where(t > 0, t, 1))
            loss = xp.where(t > 0, t * (self.logt - x), 0)
        self.x, self.t, self.reduction, self.log_target = x, t, reduction, log_target
        loss = loss.astype(x.dtype, copy=False)
        if reduction == "batchmean":
            return loss.sum() / (x.shape[0] if x.ndim else 1)
        return _reduce(xp, loss, reduction)

    def backward(self, g):
        xp = self.xp
        x, t = self.x, self.t
        if self.reduction == "batchmean":
            c = xp.broadcast_to(g / (x.shape[0] if x.ndim else 1), x.shape)
        else:
            c = _upstream(xp, g, x.shape, self.reduction)
        nx, nt = self.needs_input_grad[:2]
        gx = gt = None
        if self.log_target:
            if nx:
                gx = -c * self.et
            if nt:
                gt = c * self.et * (t - x + 1)
        else:
            if nx:
                gx = -c * t
            if nt:
                gt = c * (self.logt + 1 - x)
        return (None if gx is None else gx.astype(g.dtype, copy=False),
                None if gt is None else gt.astype(g.dtype, copy=False))


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence of ``target`` from the log-probabilities ``input``, as torch:
    reduction 'batchmean' (sum / batch size) is the mathematical KL; 'mean' divides by every element.
    """
    name = "kl_div"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction != "batchmean":
        _check_reduction(reduction, name)
    _pair_inputs(name, input, target)
    if target.shape != input.shape:
        raise ValueError(f"{name}: target of shape {target.shape} must have the input's shape {input.shape}")
    return KLDiv.apply(input, target, reduction=reduction, log_target=bool(log_target))


def _legacy_reduction(size_average, reduce, reduction):
    """torch's deprecated size_average/reduce pair, mapped onto ``reduction`` as torch does."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else "mean" if size_average else "sum"
