"""Reductions: sum, mean, var, max/min (all-reduce and along one dim), argmax.

``axis`` is None (all dims) or a tuple of non-negative dims, already normalised by Tensor.
"""
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
        return self.xp.asarray(a.var(axis=axis, ddof=ddof, keepdims=keepdims))

    def backward(self, g):
        a = self.a
        centred = a - a.mean(axis=self.axis, keepdims=True)
        scale = 2 / (_count(a.shape, self.axis) - self.ddof)
        return (_expand_back(g, a.shape, self.axis, self.keepdims) * centred * a.dtype.type(scale),)


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


class _ExtremeDim(Function):
    """max/min along one dim: the gradient goes to the index returned (the first extreme)."""
    pick = None

    def forward(self, a, axis, keepdims=False):
        if a.shape[axis] == 0:
            raise RuntimeError(f"{self.pick}() along dim {axis} of size 0 (shape {a.shape})")
        xp = self.xp
        idx = getattr(a, self.pick)(axis=axis)
        self.idx = xp.expand_dims(idx, axis)
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        out = xp.take_along_axis(a, self.idx, axis=axis)
        return out if keepdims else out.squeeze(axis)

    def backward(self, g):
        xp = self.xp
        axis = self.axis
        g = g if self.keepdims else xp.expand_dims(g, axis)
        positions = xp.arange(self.shape[axis]).reshape(
            tuple(-1 if i == axis else 1 for i in range(len(self.shape))))
        return (g * (positions == self.idx),)


class ArgMaxDim(_ExtremeDim):
    pick = "argmax"


class ArgMinDim(_ExtremeDim):
    pick = "argmin"


MaxMin = namedtuple("MaxMin", ["values", "indices"])


def reduce_extreme(t, dim, keepdim, largest):
    """``t.max()``/``t.min()`` over everything, a tuple of dims, or one dim (then with indices)."""
    if isinstance(dim, int) and t.ndim > 0:
        axis = _axes(dim, t.ndim)[0]
        values = (ArgMaxDim if largest else ArgMinDim).apply(t, axis=axis, keepdims=keepdim)
        return MaxMin(values, argmax(t if largest else -t.detach(), dim, keepdim))
    return (Max if largest else Min).apply(t, axis=_axes(dim, t.ndim), keepdims=keepdim)


def argmax(t, dim=None, keepdim=False):
    """Index of the first maximum (over the flattened tensor when dim is None); int64, no grad."""
    data = t.data
    if dim is None:
        out = data.reshape(-1).argmax()
        out = out.reshape((1,) * t.ndim) if keepdim else out
    else:
        axis = _axes(dim, t.ndim)[0] if t.ndim else None
        out = data.argmax(axis=axis)
        if keepdim and t.ndim:
            out = t.device.xp.expand_dims(out, axis)
    return Tensor._wrap(t.device.xp.asarray(out, dtype="int64"), t.device)
