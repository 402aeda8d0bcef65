"""Movement ops: reshape, permute, expand, indexing, pad, cat, stack."""
import numpy as np

from .. import backend
from ..tensor import Function, Tensor, _dim, _category
from .elementwise import unbroadcast


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
                             f"into shape {shape}") from None

    def backward(self, g):
        return (g.reshape(self.shape),)


class Permute(Function):
    def forward(self, a, dims):
        self.inverse = tuple(np.argsort(dims))
        return a.transpose(dims)

    def backward(self, g):
        return (g.transpose(self.inverse),)


class Expand(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return self.xp.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {a.shape} to {shape}") from None

    def backward(self, g):
        return (unbroadcast(g, self.shape),)


def _is_advanced(index):
    """True when the index holds an integer array (so repeated positions must accumulate)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(getattr(p, "ndim", 0) > 0 and p.dtype.kind in "iu" for p in parts)


def raw_index(index):
    """Replace Tensors inside an index by their arrays (lists stay lists)."""
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(p._data if isinstance(p, Tensor) else p for p in index)
    return index


class Index(Function):
    """``a[index]``: basic slicing and integer/bool-array indexing.

    Backward writes the gradient into zeros; repeated integer indices accumulate (scatter-add).
    """

    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        try:
            return self.xp.asarray(a[index])
        except IndexError as e:
            raise IndexError(f"index {index!r} is invalid for a tensor of shape {a.shape}: {e}") from None

    def backward(self, g):
        grad = self.xp.zeros(self.shape, dtype=self.dtype)
        if _is_advanced(self.index):
            backend.scatter_add(grad, self.index, g)
        else:
            grad[self.index] = g
        return (grad,)


def device_index(t, index):
    """An index for ``t``'s raw array: Tensors unwrapped, lists and arrays moved to t's device."""
    idx = raw_index(index)
    if isinstance(idx, tuple):
        return tuple(backend.to_device(np.asarray(p), t.device) if isinstance(p, list) else
                     _on(p, t.device) for p in idx)
    if isinstance(idx, list):
        return t.device.xp.asarray(idx)
    return _on(idx, t.device)


def index(t, index):
    idx = device_index(t, index)
    if t.device.type != "cpu":
        _check_bounds(t.shape, idx)
    return Index.apply(t, index=idx)


def _check_bounds(shape, idx):
    """IndexError for an integer-array index outside its dim, as NumPy and torch raise: CuPy
    wraps such indices around instead. Costs one host sync per integer array."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    used = sum(p.ndim if getattr(p, "dtype", None) == bool else 1 for p in parts
               if p is not None and p is not Ellipsis)
    dim = 0
    for p in parts:
        if p is None:
            continue
        if p is Ellipsis:
            dim += len(shape) - used
            continue
        kind = getattr(getattr(p, "dtype", None), "kind", None)
        if kind in ("i", "u") and getattr(p, "size", 0) and dim < len(shape):
            n, lo, hi = shape[dim], int(p.min()), int(p.max())
            if lo < -n or hi >= n:
                bad = hi if hi >= n else lo
                raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {n}")
        dim += p.ndim if kind == "b" else 1


def _on(p, dev):
    if hasattr(p, "dtype") and hasattr(p, "shape") and not isinstance(p, np.generic):
        return backend.to_device(p, dev)
    return p


class Pad(Function):
    def forward(self, a, widths, value):
        self.slices = tuple(slice(lo, lo + s) for (lo, _), s in zip(widths, a.shape))
        return self.xp.pad(a, widths, mode="constant", constant_values=value)

    def backward(self, g):
        return (g[self.slices],)


def pad(t, pad, value=0.0):
    """torch.nn.functional.pad (constant mode): ``pad`` = (left, right) for the last dim, then the
    dim before it, and so on."""
    if len(pad) % 2 or len(pad) // 2 > t.ndim:
        raise ValueError(f"pad {tuple(pad)} must have an even length of at most 2 * {t.ndim} "
                         f"(tensor shape {t.shape})")
    if any(p < 0 for p in pad):
        raise ValueError(f"negative padding {tuple(pad)} is not supported")
    widths = [(0, 0)] * t.ndim
    for i in range(len(pad) // 2):
        widths[t.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Pad.apply(t, widths=tuple(widths), value=value)


class Cat(Function):
    def forward(self, *arrays, axis):
        self.axis = axis
        self.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1].tolist()
        return self.xp.concatenate(arrays, axis=axis)

    def backward(self, g):
        parts = self.xp.split(g, self.bounds, axis=self.axis)
        return tuple(p if need else None for p, need in zip(parts, self.needs_input_grad))


class Stack(Function):
    def forward(self, *arrays, axis):
        self.axis = axis
        return self.xp.stack(arrays, axis=axis)

    def backward(self, g):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (i,)] if need else None for i, need in enumerate(self.needs_input_grad))


def _check_same(tensors, name, dim):
    if not tensors:
        raise ValueError(f"{name} needs a non-empty sequence of tensors")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    first = tensors[0]
    dtype = first.dtype
    for t in tensors[1:]:     # torch's promotion: a higher category (bool < int < float) wins
        if t.dtype != dtype:
            ca, cb = _category(dtype), _category(t.dtype)
            dtype = dtype if ca > cb else t.dtype if cb > ca else np.result_type(dtype, t.dtype)
    return [t.to(dtype=dtype) for t in tensors]


def cat(tensors, dim=0):
    """Join tensors along an existing dim; all other dims must match."""
    tensors = _check_same(list(tensors), "cat", dim)
    nd = tensors[0].ndim
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    axis = _dim(dim, nd)
    for t in tensors[1:]:
        if t.ndim != nd or any(s != r for i, (s, r) in enumerate(zip(t.shape, tensors[0].shape)) if i != axis):
            raise ValueError(f"cat along dim {dim}: shapes {[x.shape for x in tensors]} differ "
                             "outside that dim")
    return Cat.apply(*tensors, axis=axis)


def stack(tensors, dim=0):
    """Join same-shape tensors along a new dim."""
    tensors = _check_same(list(tensors), "stack", dim)
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {[t.shape for t in tensors]}")
    return Stack.apply(*tensors, axis=_dim(dim, tensors[0].ndim, extra=1))
