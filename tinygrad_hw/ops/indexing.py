"""Indexing ops along a dim: gather, scatter, scatter_add, index_select, take_along_dim,
masked_fill, masked_select.

Notation: ``a`` the input, ``dim`` the indexed dim, ``index`` an int64 tensor. For gather and
scatter, index has a's number of dims and index.size(d) <= a.size(d) for every d != dim (as torch).
"""
import numpy as np

from .. import backend
from ..tensor import Function, Tensor, _dim


def full_index(idx, axis, xp):
    """The integer-array index tuple that addresses ``a[..., idx[...], ...]`` along ``axis``:
    ``idx`` at ``axis``, an arange (broadcastable against idx) at every other dim."""
    nd = idx.ndim
    return tuple(idx if d == axis else
                 xp.arange(idx.shape[d]).reshape(tuple(-1 if k == d else 1 for k in range(nd)))
                 for d in range(nd))


def _leading(shape):
    return tuple(slice(0, s) for s in shape)


class TakeAlong(Function):
    """``out[i..., j, k...] = a[i..., idx[i..., j, k...], k...]`` with idx shaped as the output
    (at most a's size off ``axis``). Backward adds the gradient back at those positions;
    ``unique`` says that no position repeats (a sort's permutation), so it is a plain write."""

    def forward(self, a, idx, axis, unique=False):
        self.shape, self.dtype, self.axis, self.unique = a.shape, a.dtype, axis, unique
        self.index = full_index(idx, axis, self.xp)
        return a[self.index]

    def backward(self, g):
        grad = self.xp.zeros(self.shape, dtype=self.dtype)
        if self.unique:
            grad[self.index] = g
        else:
            backend.scatter_add(grad, self.index, g)
        return (grad,)


class Scatter(Function):
    """``a`` with ``src`` (a tensor or a number) written (or with ``add``, added) at ``idx`` along
    ``axis``. Where indices repeat, which write wins is undefined, as in torch."""

    def forward(self, a, src, idx, axis, add=False):
        self.index = full_index(idx, axis, self.xp)
        self.add = add
        self.src_shape = getattr(src, "shape", None)
        out = a.copy()
        if self.src_shape is not None and src.ndim:
            src = src[_leading(idx.shape)]
        if add:
            backend.scatter_add(out, self.index, self.xp.broadcast_to(src, idx.shape))
        else:
            out[self.index] = src
        return out

    def backward(self, g):
        na, ns = self.needs_input_grad[:2]
        ga = gs = None
        if na:
            ga = g
            if not self.add:
                ga = g.copy()
                ga[self.index] = 0
        if ns:
            picked = g[self.index]
            if picked.shape != self.src_shape:
                gs = self.xp.zeros(self.src_shape, dtype=g.dtype)
                gs[_leading(picked.shape)] = picked
            else:
                gs = picked
        return ga, gs


class IndexSelect(Function):
    def forward(self, a, idx, axis):
        self.shape, self.dtype, self.idx, self.axis = a.shape, a.dtype, idx, axis
        return self.xp.take(a, idx, axis=axis)

    def backward(self, g):
        grad = self.xp.zeros(self.shape, dtype=self.dtype)
        backend.scatter_add(grad, (slice(None),) * self.axis + (self.idx,), g)
        return (grad,)


class MaskedFill(Function):
    """``a`` with ``value`` (a number or a 0-d tensor, which then gets the gradient of the filled
    places) where ``mask``; mask must broadcast to a's shape."""

    def forward(self, a, mask, value):
        self.mask = mask
        self.value_shape = getattr(value, "shape", None)
        return self.xp.where(mask, self.xp.asarray(value, dtype=a.dtype), a)

    def backward(self, g):
        na, _, nv = self.needs_input_grad
        zero = self.xp.zeros((), dtype=g.dtype)
        ga = self.xp.where(self.mask, zero, g) if na else None
        gv = self.xp.where(self.mask, g, zero).sum().reshape(self.value_shape) if nv else None
        return ga, None, gv


# --- checks and wrappers -------------------------------------------------------------------------
def _index_tensor(index, t, name):
    idx = index if isinstance(index, Tensor) else Tensor(index, device=t.device)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): expected an int64 index tensor, got {idx.dtype}")
    if idx.device is not t.device:
        raise RuntimeError(f"{name}(): index is on {idx.device} but the input is on {t.device}")
    return idx


def _check_along(t, dim, idx, name, other=None):
    """gather/scatter's shape rules; returns the normalised axis."""
    axis = _dim(dim, t.ndim)
    if idx.ndim != t.ndim and not (idx.ndim <= 1 and t.ndim <= 1):
        raise RuntimeError(f"{name}(): index {idx.shape} must have as many dims as the input {t.shape}")
    for d, s in enumerate(idx.shape):
        if d != axis and s > t.shape[d]:
            raise RuntimeError(f"{name}(): index {idx.shape} is larger than the input {t.shape} "
                               f"in dim {d}")
        if other is not None and other.ndim and s > other.shape[d]:
            raise RuntimeError(f"{name}(): index {idx.shape} is larger than src {other.shape} in dim {d}")
    if idx.numel():
        lo, hi = int(idx._data.min()), int(idx._data.max())
        n = t.shape[axis] if t.ndim else 1
        if lo < 0 or hi >= n:
            raise IndexError(f"{name}(): index {lo if lo < 0 else hi} is out of bounds for dim "
                             f"{dim} of size {n} (input shape {t.shape})")
    return axis


def gather(t, dim, index):
    """``out[i][j][k] = t[index[i][j][k]][j][k]`` (dim 0), shaped like index."""
    idx = _index_tensor(index, t, "gather")
    if t.ndim == 0:
        t = t.reshape(1)
    axis = _check_along(t, dim, idx, "gather")
    idx_data = idx._data.reshape(idx.shape or (1,)) if idx.ndim == 0 else idx._data
    sliced = t[tuple(slice(None) if d == axis else slice(0, s) for d, s in enumerate(idx_data.shape))]
    out = TakeAlong.apply(sliced, idx=idx_data, axis=axis)
    return out.reshape(idx.shape)


def scatter(t, dim, index, src=None, value=None, reduce=None, add=False):
    """A copy of t with src (a tensor or a number) written at index along dim (torch.scatter);
    ``add`` makes it scatter_add."""
    if reduce is not None:
        raise NotImplementedError("scatter(reduce=...) is not supported; use scatter_add")
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() needs src (a tensor) or value (a number)")
    name = "scatter_add" if add else "scatter"
    idx = _index_tensor(index, t, name)
    if isinstance(src, Tensor):
        if src.device is not t.device:
            raise RuntimeError(f"{name}(): src is on {src.device} but the input is on {t.device}")
        if src.dtype != t.dtype:
            raise RuntimeError(f"{name}(): expected src of dtype {t.dtype}, got {src.dtype}")
        if src.ndim != idx.ndim and src.ndim:
            raise RuntimeError(f"{name}(): src {src.shape} must have as many dims as index {idx.shape}")
    elif add:
        raise TypeError("scatter_add() needs src to be a tensor")
    axis = _check_along(t, dim, idx, name, src if isinstance(src, Tensor) else None)
    return Scatter.apply(t, src, idx=idx._data, axis=axis, add=add)


def index_select(t, dim, index):
    idx = _index_tensor(index, t, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select(): index must be 0-d or 1-d, got shape {idx.shape}")
    src = t.reshape(1) if t.ndim == 0 else t
    axis = _dim(dim, src.ndim)
    if idx.numel() and (int(idx._data.min()) < 0 or int(idx._data.max()) >= src.shape[axis]):
        raise IndexError(f"index_select(): index out of range for dim {dim} of size {src.shape[axis]}")
    out = IndexSelect.apply(src, idx=idx._data.reshape(-1), axis=axis)
    return out.reshape(()) if t.ndim == 0 else out


def take_along_dim(t, indices, dim=None):
    """``torch.take_along_dim``: with dim None, on the flattened tensors; else t and indices are
    broadcast against each other off ``dim`` and values are picked along it."""
    idx = _index_tensor(indices, t, "take_along_dim")
    if dim is None:
        return gather(t.reshape(-1), 0, idx.reshape(-1))
    axis = _dim(dim, t.ndim)
    if idx.ndim != t.ndim:
        raise RuntimeError(f"take_along_dim(): input {t.shape} and indices {idx.shape} must have "
                           "the same number of dims")
    if any(a != b and 1 not in (a, b) for d, (a, b) in enumerate(zip(t.shape, idx.shape)) if d != axis):
        raise RuntimeError(f"take_along_dim(): input {t.shape} and indices {idx.shape} do not "
                           f"broadcast off dim {dim}")
    shape = [a if b == 1 else b for a, b in zip(t.shape, idx.shape)]
    t_shape = tuple(t.shape[d] if d == axis else s for d, s in enumerate(shape))
    i_shape = tuple(idx.shape[d] if d == axis else s for d, s in enumerate(shape))
    return gather(t.expand(t_shape), axis, idx.expand(i_shape))


def _broadcast(*shapes):
    """The broadcast shape of these shapes, or None when they do not broadcast."""
    try:
        return tuple(int(s) for s in np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _mask_tensor(mask, t, name):
    m = mask if isinstance(mask, Tensor) else Tensor(mask, device=t.device)
    if m.dtype.kind != "b":
        raise RuntimeError(f"{name}(): expected a bool mask, got {m.dtype}")
    if m.device is not t.device:
        raise RuntimeError(f"{name}(): mask is on {m.device} but the input is on {t.device}")
    return m


def masked_fill(t, mask, value):
    m = _mask_tensor(mask, t, "masked_fill")
    if _broadcast(t.shape, m.shape) != t.shape:
        raise RuntimeError(f"masked_fill(): mask {m.shape} does not broadcast to the input's shape {t.shape}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill() only supports a 0-d value tensor, got shape {value.shape}")
        if value.device is not t.device:
            raise RuntimeError(f"masked_fill(): value is on {value.device} but the input is on {t.device}")
        if value.dtype != t.dtype:
            value = value.to(dtype=t.dtype)
    return MaskedFill.apply(t, m._data, value)


def masked_select(t, mask):
    """The elements of t (broadcast with mask) where mask is true, as a 1-d tensor."""
    m = _mask_tensor(mask, t, "masked_select")
    shape = _broadcast(t.shape, m.shape)
    if shape is None:
        raise RuntimeError(f"masked_select(): input {t.shape} and mask {m.shape} cannot be "
                           "broadcast together")
    src = t.expand(shape) if t.shape != shape else t
    return src[t.device.xp.broadcast_to(m._data, shape)]
