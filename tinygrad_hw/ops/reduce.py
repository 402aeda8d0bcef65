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
