"""Reductions: sum, mean, var, max/min (all-reduce and along one dim), argmax.

``axis`` is None (all dims) or a tuple of non-negative dims, already normalised by Tensor.
"""
import math
from collections import namedtuple

from ..tensor import Function, Tensor, _axes


def _expand_back(g, in_shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if axis is None:
        return g.reshape((1,) * len(in_shape))
    if keepdims:
        return g
    return g.reshape(tuple(1 if i in axis else s for i, s in enumerate(in_shape)))


def _count(shape, axis):
    n = 1
    for i, s in enumerate(shape):
        if axis is None or i in axis:
            n *= s
    return n


def _acc(a):
    """Accumulate variances of half/single floats in float64, as torch does on the CPU: squares of
    tiny float32 values would otherwise underflow to a spread of exactly 0."""
    return "float64" if a.dtype.kind == "f" and a.dtype.itemsize < 8 else None


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return self.xp.asarray(a.sum(axis=axis, keepdims=keepdims))

    def backward(self, g):
        return (self.xp.broadcast_to(_expand_back(g, self.shape, self.axis, self.keepdims), self.shape),)


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return self.xp.asarray(a.mean(axis=axis, keepdims=keepdims))

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axis, self.keepdims) / _count(self.shape, self.axis)
        return (self.xp.broadcast_to(g, self.shape),)


class Var(Function):
    def forward(self, a, axis=None, keepdims=False, ddof=1):
        self.a, self.axis, self.keepdims, self.ddof = a, axis, keepdims, ddof
        return self.xp.asarray(a.var(axis=axis, ddof=ddof, keepdims=keepdims, dtype=_acc(a)), dtype=a.dtype)

    def backward(self, g):
        a = self.a
        centred = a - a.mean(axis=self.axis, keepdims=True)
        dof = _count(a.shape, self.axis) - self.ddof
        scale = 2 / dof if dof else math.inf      # one sample, unbiased: nan, as torch
        return (_expand_back(g, a.shape, self.axis, self.keepdims) * centred * a.dtype.type(scale),)


class Std(Function):
    """Standard deviation; where the spread is exactly 0 the gradient is 0 (not 0/0), as in torch."""

    def forward(self, a, axis=None, keepdims=False, ddof=1):
        self.a, self.axis, self.keepdims, self.ddof = a, axis, keepdims, ddof
        self.out = self.xp.asarray(a.std(axis=axis, ddof=ddof, keepdims=keepdims, dtype=_acc(a)),
                                   dtype=a.dtype)
        return self.out

    def backward(self, g):
        a, xp = self.a, self.xp
        out = _expand_back(self.out, a.shape, self.axis, self.keepdims)
        g = _expand_back(g, a.shape, self.axis, self.keepdims)
        dof = _count(a.shape, self.axis) - self.ddof
        scale = g / (xp.where(out == 0, 1, out) * dof)
        centred = a - a.mean(axis=self.axis, keepdims=True)
        return (xp.where(out == 0, 0, scale) * centred,)


class _Extreme(Function):
    """max/min over all dims or a tuple of dims; ties share the gradient evenly, as torch's amax."""
    reducer = None

    def forward(self, a, axis=None, keepdims=False):
        if a.size == 0:
            raise RuntimeError(f"{self.reducer}() of an empty tensor of shape {a.shape}")
        self.a, self.axis, self.keepdims = a, axis, keepdims
        self.out = self.xp.asarray(getattr(a, self.reducer)(axis=axis, keepdims=keepdims))
        return self.out

    def backward(self, g):
        a = self.a
        out = _expand_back(self.out, a.shape, self.axis, self.keepdims)
        mask = a == out
        g = _expand_back(g, a.shape, self.axis, self.keepdims)
        return (g * mask / mask.sum(axis=self.axis, keepdims=True).astype(g.dtype),)


class Max(_Extreme):
    reducer = "max"


class Min(_Extreme):
    reducer = "min"


class PickAlong(Function):
    """The values at given indices along one dim (max/min with a dim); the gradient goes back to
    those indices only, so a tie sends it to the first extreme, the index returned, as torch."""

    def forward(self, a, idx, axis, keepdims=False):
        self.shape, self.idx, self.axis, self.keepdims = a.shape, idx, axis, keepdims
        out = self.xp.take_along_axis(a, idx, axis=axis)
        return out if keepdims else out.squeeze(axis)

    def backward(self, g):
        xp = self.xp
        axis = self.axis
        g = g if self.keepdims else xp.expand_dims(g, axis)
        positions = xp.arange(self.shape[axis]).reshape(
            tuple(-1 if i == axis else 1 for i in range(len(self.shape))))
        return (g * (positions == self.idx),)


MaxMin = namedtuple("MaxMin", ["values", "indices"])


def reduce_extreme(t, dim, keepdim, largest):
    """``t.max()``/``t.min()`` over everything, a tuple of dims, or one dim (then with indices)."""
    if not isinstance(dim, int):
        return (Max if largest else Min).apply(t, axis=_axes(dim, t.ndim), keepdims=keepdim)
    if t.ndim == 0:     # torch: a 0-d tensor reduces over dim 0 or -1 to itself, index 0
        _axes(dim, 0)
        t, dim, keepdim = t.reshape(1), 0, False
    axis = _axes(dim, t.ndim)[0]
    indices = argmax(t, axis, keepdim=True, largest=largest)._data
    values = PickAlong.apply(t, idx=indices, axis=axis, keepdims=keepdim)
    return MaxMin(values, Tensor._wrap(indices if keepdim else indices.squeeze(axis), t.device))


def argmax(t, dim=None, keepdim=False, largest=True):
    """Index of the first maximum (minimum when not ``largest``), over the flattened tensor when
    dim is None; int64, no grad."""
    data = t._data
    pick = "argmax" if largest else "argmin"
    if dim is None:
        if data.size == 0:
            raise RuntimeError(f"{pick}() of an empty tensor of shape {t.shape}")
        out = getattr(data.reshape(-1), pick)()
        out = out.reshape((1,) * t.ndim) if keepdim else out
    else:
        axis = _axes(dim, t.ndim)[0] if t.ndim else None
        if t.ndim and t.shape[axis] == 0:
            raise RuntimeError(f"{pick}() along dim {dim} of size 0 (shape {t.shape})")
        out = getattr(data, pick)(axis=axis)
        if keepdim and t.ndim:
            out = t.device.xp.expand_dims(out, axis)
    return Tensor._wrap(t.device.xp.asarray(out, dtype="int64"), t.device)


# --- products, cumulative ops, logsumexp, norms, any/all ---------------------------------------
def _int_acc(a, dtype=None):
    """The accumulator dtype torch uses: int64 for bool and integer inputs (unless given)."""
    if dtype is not None:
        return dtype
    return "int64" if a.dtype.kind in "biu" else None


class Prod(Function):
    """Product over all dims or one. The gradient is out / x where a slice has no zero; with one
    zero, the zero's entry gets the product of the others and the rest 0; with two, all 0."""

    def forward(self, a, axis=None, keepdims=False, dtype=None):
        self.a, self.axis, self.keepdims = a, axis, keepdims
        return self.xp.asarray(a.prod(axis=axis, keepdims=keepdims, dtype=_int_acc(a, dtype)))

    def backward(self, g):
        a, xp = self.a, self.xp
        g = _expand_back(g, a.shape, self.axis, self.keepdims)
        zero = a == 0
        nzeros = zero.sum(axis=self.axis, keepdims=True)
        others = xp.where(zero, 1, a).prod(axis=self.axis, keepdims=True)  # product of the nonzeros
        grad = xp.where(zero, xp.where(nzeros == 1, others, 0),
                        xp.where(nzeros == 0, others / xp.where(zero, 1, a), 0))
        return ((g * grad).astype(a.dtype, copy=False),)


def _rev_cumsum(x, axis, xp):
    return xp.flip(xp.cumsum(xp.flip(x, axis), axis=axis), axis)


class Cumsum(Function):
    def forward(self, a, axis, dtype=None):
        self.axis, self.dtype = axis, a.dtype
        return self.xp.cumsum(a, axis=axis, dtype=_int_acc(a, dtype))

    def backward(self, g):
        return (_rev_cumsum(g, self.axis, self.xp).astype(self.dtype, copy=False),)


class Cumprod(Function):
    """Running product along one dim. Notation along that dim: x_0..x_{n-1}, z the first zero.
    d out_j / d x_i = prod_{k<=j, k!=i} x_k, so positions before z get revcumsum(g * out) / x,
    z itself gets revcumsum(g * cumprod(x with x_z := 1)), and positions after z get 0."""

    def forward(self, a, axis, dtype=None):
        self.a, self.axis = a, axis
        self.out = self.xp.cumprod(a, axis=axis, dtype=_int_acc(a, dtype))
        return self.out

    def backward(self, g):
        a, axis, xp = self.a, self.axis, self.xp
        zero = a == 0
        if not bool(zero.any()):
            return ((_rev_cumsum(g * self.out, axis, xp) / a).astype(a.dtype, copy=False),)
        shape = tuple(-1 if i == axis else 1 for i in range(a.ndim))
        pos = xp.arange(a.shape[axis]).reshape(shape)
        has_zero = zero.any(axis=axis, keepdims=True)
        first = xp.where(has_zero, xp.argmax(zero, axis=axis, keepdims=True), a.shape[axis])
        before, at = pos < first, pos == first
        grad = xp.where(before, _rev_cumsum(g * self.out, axis, xp) / xp.where(before, a, 1), 0)
        at_grad = _rev_cumsum(g * xp.cumprod(xp.where(at, 1, a), axis=axis), axis, xp)
        return (xp.where(at, at_grad, grad).astype(a.dtype, copy=False),)


class LogSumExp(Function):
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))), m the (finite) max, so large
    inputs do not overflow; the gradient is softmax(x) along the reduced dims."""

    def forward(self, a, axis, keepdims=False):
        xp = self.xp
        self.a, self.axis, self.keepdims = a, axis, keepdims
        m = a.max(axis=axis, keepdims=True) if a.size else xp.zeros((1,) * a.ndim, a.dtype)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.exp(a - m).sum(axis=axis, keepdims=True)) + m
        self.out = out
        return out if keepdims else out.squeeze(axis)

    def backward(self, g):
        g = _expand_back(g, self.a.shape, self.axis, self.keepdims)
        return (g * self.xp.exp(self.a - self.out),)


class Norm(Function):
    """Vector p-norm over ``axis`` (all dims when None): p = inf / -inf is max / min |x|, p = 0
    counts nonzeros, otherwise (sum |x|^p)^(1/p). Gradients follow torch: 0 where the norm is 0,
    and for +-inf shared evenly among the entries that attain it."""

    def forward(self, a, p, axis=None, keepdims=False):
        xp = self.xp
        self.a, self.p, self.axis, self.keepdims = a, p, axis, keepdims
        absa = xp.abs(a)
        if p == math.inf:
            out = absa.max(axis=axis, keepdims=keepdims)
        elif p == -math.inf:
            out = absa.min(axis=axis, keepdims=keepdims)
        elif p == 0:
            out = (a != 0).sum(axis=axis, keepdims=keepdims).astype(a.dtype)
        elif p == 1:
            out = absa.sum(axis=axis, keepdims=keepdims)
        elif p == 2:
            out = xp.sqrt((a * a).sum(axis=axis, keepdims=keepdims))
        else:
            out = (absa ** p).sum(axis=axis, keepdims=keepdims) ** (1.0 / p)
        self.out = xp.asarray(out)
        return self.out

    def backward(self, g):
        a, p, xp = self.a, self.p, self.xp
        g = _expand_back(g, a.shape, self.axis, self.keepdims)
        norm = _expand_back(self.out, a.shape, self.axis, self.keepdims)
        if p == 0:
            return (xp.zeros_like(a),)
        if p == 1:
            return (g * xp.sign(a),)
        if math.isinf(p):
            mask = xp.abs(a) == norm
            return (xp.sign(a) * g * mask / mask.sum(axis=self.axis, keepdims=True).astype(a.dtype),)
        if p == 2:
            return (a * xp.where(norm == 0, 0, g / xp.where(norm == 0, 1, norm)),)
        absa = xp.abs(a)
        if p < 1:
            scaled = xp.sign(a) * xp.where(a == 0, 0, xp.where(a == 0, 1, absa) ** (p - 1))
            return (scaled * g * norm ** (1 - p),)
        scale = xp.where(norm == 0, 0, g / xp.where(norm == 0, 1, norm) ** (p - 1))
        return (xp.sign(a) * absa ** (p - 1) * scale,)


def norm(t, p="fro", dim=None, keepdim=False, dtype=None):
    """``torch.norm``: p in 'fro' (the 2-norm of the entries), a number, inf or -inf; over all
    elements when dim is None, else over dim (an int or a tuple)."""
    if t.dtype.kind not in "fc":
        raise RuntimeError(f"norm(): input dtype should be floating point, got {t.dtype}")
    if dtype is not None:
        t = t.to(dtype=dtype)
    if p == "fro" or p is None:
        p = 2
    elif isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not supported (expected 'fro', a number, inf or -inf)")
    return Norm.apply(t, p=float(p), axis=_axes(dim, t.ndim), keepdims=keepdim)


def any_all(t, dim, keepdim, name):
    """``t.any()`` / ``t.all()``: over everything, one dim or a tuple; a bool tensor."""
    data = t._data
    out = getattr(data, name)(axis=_axes(dim, t.ndim), keepdims=keepdim)
    return Tensor._wrap(t.device.xp.asarray(out, dtype=bool), t.device)
