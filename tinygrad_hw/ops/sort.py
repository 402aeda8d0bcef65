"""Order statistics along one dim: sort, argsort, topk, kthvalue, median, mode.

Values are differentiable (the gradient goes back to the index each value came from); indices
are int64 and record nothing. NaN sorts as the largest value, as in torch.

Ties: ``sort`` is always stable (equal values keep their order, also when descending), which is
torch's ``stable=True`` rule; torch leaves the order of ties unspecified otherwise. ``topk`` takes
the first of equal values. ``mode`` returns the smallest of the most frequent values and the
last index where it occurs, as torch's CPU kernel does.
"""
from collections import namedtuple

from ..tensor import Function, Tensor, _dim
from .indexing import TakeAlong

_fields = ["values", "indices"]
SortResult = namedtuple("sort", _fields)
TopkResult = namedtuple("topk", _fields)
KthvalueResult = namedtuple("kthvalue", _fields)
MedianResult = namedtuple("median", _fields)
ModeResult = namedtuple("mode", _fields)


def _stable_order(a, axis, descending, xp):
    """Indices that sort ``a`` along ``axis`` stably; descending keeps equal values in their
    original order too (sort the reversed array ascending, reverse, map the indices back)."""
    if not descending:
        return xp.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    order = xp.argsort(xp.flip(a, axis), axis=axis, kind="stable")
    return (n - 1) - xp.flip(order, axis)


def _as_1d(t, dim):
    """A 0-d tensor acts as a 1-element one along dim 0 / -1, as in torch."""
    if t.ndim == 0:
        _dim(dim, 0)
        return t.reshape(1), 0
    return t, _dim(dim, t.ndim)


def _pick(t, idx, axis, keepdim, squeeze_0d, result):
    values = TakeAlong.apply(t, idx=idx, axis=axis, unique=True)
    indices = Tensor._wrap(idx, t.device)
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    if squeeze_0d:
        values, indices = values.reshape(()), indices.reshape(())
    return result(values, indices)


def sort(t, dim=-1, descending=False, stable=False):
    src, axis = _as_1d(t, dim)
    idx = _stable_order(src._data, axis, descending, t.device.xp).astype("int64", copy=False)
    return _pick(src, idx, axis, True, t.ndim == 0, SortResult)


def argsort(t, dim=-1, descending=False, stable=False):
    return sort(t, dim, descending, stable).indices


def topk(t, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest) values along dim and their indices, in sorted order."""
    src, axis = _as_1d(t, dim)
    n = src.shape[axis]
    if t.ndim == 0 and k == 0:
        k = 1       # torch gives a 0-d tensor's value for k=0 too
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): k={k} is out of range for dim {dim} of size {n} (shape {t.shape})")
    xp = t.device.xp
    order = _stable_order(src._data, axis, largest, xp)
    idx = xp.take(order, xp.arange(k), axis=axis).astype("int64", copy=False)
    return _pick(src, idx, axis, True, t.ndim == 0, TopkResult)


def _kth_index(a, k, axis, xp):
    """Index (kept as a size-1 dim) of the k-th smallest value (0-based) along axis."""
    part = xp.argpartition(a, k, axis=axis)
    return xp.take(part, xp.arange(k, k + 1), axis=axis).astype("int64", copy=False)


def kthvalue(t, k, dim=-1, keepdim=False):
    """The k-th smallest value (k counts from 1) along dim and its index."""
    src, axis = _as_1d(t, dim)
    n = src.shape[axis]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): k={k} is out of range for dim {dim} of size {n} (shape {t.shape})")
    idx = _kth_index(src._data, k - 1, axis, t.device.xp)
    return _pick(src, idx, axis, keepdim, t.ndim == 0, KthvalueResult)


class MedianAll(Function):
    """The lower median of all elements; the gradient is shared evenly by the elements equal to
    it (as torch's median without dim)."""

    def forward(self, a):
        xp = self.xp
        flat = a.reshape(-1)
        if xp.isnan(flat).any() if a.dtype.kind == "f" else False:
            self.out = xp.asarray(xp.nan, dtype=a.dtype)
        else:
            self.out = xp.partition(flat, (flat.size - 1) // 2)[(flat.size - 1) // 2]
        self.a = a
        return xp.asarray(self.out)

    def backward(self, g):
        mask = self.a == self.out
        return (g * mask / mask.sum().astype(g.dtype),)


def median(t, dim=None, keepdim=False):
    """The lower of the two middle values: over everything (a 0-d tensor), or along dim with
    its index. A slice holding NaN has median NaN, at its first NaN."""
    if dim is None:
        if t.numel() == 0:
            raise RuntimeError(f"median() of an empty tensor of shape {t.shape}")
        return MedianAll.apply(t)
    src, axis = _as_1d(t, dim)
    n = src.shape[axis]
    if n == 0:
        raise RuntimeError(f"median(): dim {dim} has size 0 (shape {t.shape})")
    xp, a = t.device.xp, src._data
    idx = _kth_index(a, (n - 1) // 2, axis, xp)
    if a.dtype.kind == "f":
        nan = xp.isnan(a)
        idx = xp.where(nan.any(axis=axis, keepdims=True), xp.argmax(nan, axis=axis, keepdims=True), idx)
    return _pick(src, idx, axis, keepdim, t.ndim == 0, MedianResult)


def mode(t, dim=-1, keepdim=False):
    """The most frequent value along dim (the smallest one of a tie) and the last index of it."""
    src, axis = _as_1d(t, dim)
    xp, a = t.device.xp, src._data
    n = a.shape[axis]
    if n == 0:
        raise RuntimeError(f"mode(): dim {dim} has size 0 (shape {t.shape})")
    rows = xp.moveaxis(a, axis, -1).reshape(-1, n)
    order = xp.argsort(rows, axis=1, kind="stable")
    s = xp.take_along_axis(rows, order, axis=1)
    # a run of equal sorted values ends where the next differs (and at each row's end); in the
    # flattened array the previous end bounds each run, rows included, so diff gives lengths
    ends = xp.ones(s.shape, dtype=bool)
    ends[:, :-1] = s[:, 1:] != s[:, :-1]
    flat_ends = xp.nonzero(ends.reshape(-1))[0]
    lengths = xp.zeros(s.size, dtype="int64")
    lengths[flat_ends] = xp.diff(flat_ends, prepend=-1)
    best = xp.argmax(lengths.reshape(s.shape), axis=1)[:, None]     # first max: smallest value
    idx = xp.take_along_axis(order, best, axis=1).astype("int64", copy=False)   # its last index
    lead = tuple(d for i, d in enumerate(a.shape) if i != axis)
    idx = xp.moveaxis(idx.reshape(lead + (1,)), -1, axis)
    return _pick(src, xp.ascontiguousarray(idx), axis, keepdim, t.ndim == 0, ModeResult)
