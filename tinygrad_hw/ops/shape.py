"""Shape ops: repeat/tile, repeat_interleave, flip, roll, tril/triu, diag, and the views built
from slicing and permuting (split, chunk, unbind, narrow, movedim, swapaxes).

Ops that copy in torch (repeat, flip, roll, tril, diag) return fresh arrays here too, so an
in-place write to the result never reaches the input; the views stay views.
"""
import numpy as np

from .. import backend
from ..tensor import Function, Tensor, _dim, _shape_args


class Repeat(Function):
    """``t.repeat(r0, r1, ...)``: the tensor tiled r_i times along dim i (len(reps) >= ndim; the
    extra leading reps add dims). Backward sums the tiles: g viewed as (r0, s0, r1, s1, ...)."""

    def forward(self, a, reps):
        self.shape = (1,) * (len(reps) - a.ndim) + a.shape
        self.in_shape, self.reps = a.shape, reps
        return self.xp.tile(a.reshape(self.shape), reps)

    def backward(self, g):
        split = tuple(x for r, s in zip(self.reps, self.shape) for x in (r, s))
        g = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return (g.reshape(self.in_shape),)


class RepeatInterleave(Function):
    """Each slice along ``axis`` repeated ``repeats`` times (an int, or one count per slice)."""

    def forward(self, a, repeats, axis):
        self.shape, self.axis, self.repeats = a.shape, axis, repeats
        if isinstance(repeats, int):
            return self.xp.repeat(a, repeats, axis=axis)
        # counts arrive on the host (the output size depends on them): the source slice of each
        # output slice, built there once, serves both directions
        self.source = self.xp.asarray(np.repeat(np.arange(len(repeats)), repeats))
        return self.xp.take(a, self.source, axis=axis)

    def backward(self, g):
        xp, axis, n = self.xp, self.axis, self.shape[self.axis]
        if isinstance(self.repeats, int):
            g = g.reshape(self.shape[:axis] + (n, self.repeats) + self.shape[axis + 1:])
            return (g.sum(axis=axis + 1),)
        # each output slice goes back to the input slice it copies (repeated ones accumulate)
        grad = xp.zeros(self.shape, dtype=g.dtype)
        backend.scatter_add(grad, (slice(None),) * axis + (self.source,), g)
        return (grad,)


class Flip(Function):
    def forward(self, a, axes):
        self.axes = axes
        return self.xp.flip(a, axes).copy()

    def backward(self, g):
        return (self.xp.flip(g, self.axes),)


class Roll(Function):
    def forward(self, a, shifts, axes):
        self.shifts, self.axes = shifts, axes
        if axes is None:
            return self.xp.roll(a.reshape(-1), shifts).reshape(a.shape)
        return self.xp.roll(a, shifts, axis=axes)

    def backward(self, g):
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        if self.axes is None:
            return (self.xp.roll(g.reshape(-1), back).reshape(g.shape),)
        return (self.xp.roll(g, back, axis=self.axes),)


class Tril(Function):
    """Lower triangle of the last two dims (below and on the ``diagonal``-th diagonal)."""
    pick = "tril"

    def forward(self, a, diagonal=0):
        self.k = diagonal
        return getattr(self.xp, self.pick)(a, diagonal)

    def backward(self, g):
        return (getattr(self.xp, self.pick)(g, self.k),)


class Triu(Tril):
    pick = "triu"


class Diag(Function):
    """1-d -> the square matrix with it on the ``diagonal``-th diagonal; 2-d -> that diagonal."""

    def forward(self, a, diagonal=0):
        self.shape, self.dtype, self.k = a.shape, a.dtype, diagonal
        if a.ndim == 1:
            return self.xp.diag(a, diagonal)
        return self.xp.diagonal(a, diagonal).copy()

    def backward(self, g):
        xp, k = self.xp, self.k
        if len(self.shape) == 1:
            return (xp.diagonal(g, k).copy(),)
        grad = xp.zeros(self.shape, dtype=self.dtype)
        i = xp.arange(g.shape[0])
        grad[i + max(-k, 0), i + max(k, 0)] = g
        return (grad,)


# --- wrappers with torch's argument rules --------------------------------------------------------
def repeat(t, *sizes):
    reps = _shape_args(sizes)
    if len(reps) < t.ndim:
        raise RuntimeError(f"repeat(): the number of repeats {len(reps)} can not be smaller than "
                           f"the number of dims of the tensor {t.shape}")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"repeat(): repeats {reps} must be non-negative")
    return Repeat.apply(t, reps=reps)


def tile(t, dims):
    reps = _shape_args((dims,) if isinstance(dims, int) else tuple(dims))
    return repeat(t, (1,) * (t.ndim - len(reps)) + reps)


def repeat_interleave(t, repeats, dim=None, output_size=None):
    """Repeat each element (dim None: of the flattened tensor) or each slice along dim."""
    if dim is None:
        t, dim = t.reshape(-1), 0
    src = t.reshape(1) if t.ndim == 0 else t
    axis = _dim(dim, src.ndim)
    n = src.shape[axis]
    if isinstance(repeats, Tensor):
        if repeats.dtype.kind not in "iu":
            raise RuntimeError(f"repeat_interleave(): repeats must be an integer tensor, got {repeats.dtype}")
        if repeats.ndim > 1:
            raise RuntimeError(f"repeat_interleave(): repeats must be 0-d or 1-d, got shape {repeats.shape}")
        if repeats.numel() == 1:
            repeats = int(repeats.item())
        else:
            if repeats.shape[0] != n:
                raise RuntimeError(f"repeat_interleave(): repeats has {repeats.shape[0]} entries but "
                                   f"dim {dim} has size {n} (shape {t.shape})")
            r = backend.to_host(repeats._data).astype("int64", copy=False)
            if r.size and int(r.min()) < 0:
                raise RuntimeError("repeat_interleave(): repeats can not be negative")
            out = RepeatInterleave.apply(src, repeats=r, axis=axis)
            if output_size is not None and out.shape[axis] != output_size:
                raise RuntimeError(f"repeat_interleave(): output_size={output_size} but the result "
                                   f"has {out.shape[axis]} along dim {dim}")
            return out
    repeats = int(repeats)
    if repeats < 0:
        raise RuntimeError("repeat_interleave(): repeats can not be negative")
    return RepeatInterleave.apply(src, repeats=repeats, axis=axis)


def flip(t, *dims):
    axes = tuple(_dim(d, t.ndim) for d in _shape_args(dims))
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"flip(): dims {dims} has a dim more than once")
    return Flip.apply(t, axes=axes) if t.ndim else t.clone()


def roll(t, shifts, dims=None):
    if dims is None:
        if not isinstance(shifts, int) and len(shifts) != 1:
            raise RuntimeError("roll(): with dims=None, shifts must be one number")
        return Roll.apply(t, shifts=int(shifts if isinstance(shifts, int) else shifts[0]), axes=None)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll(): shifts {shifts} and dims {dims} must have the same length")
    return Roll.apply(t, shifts=shifts, axes=tuple(_dim(d, t.ndim) for d in dims))


def _check_matrix(t, name):
    if t.ndim < 2:
        raise RuntimeError(f"{name}(): input tensor must have at least 2 dimensions, got shape {t.shape}")


def tril(t, diagonal=0):
    _check_matrix(t, "tril")
    return Tril.apply(t, diagonal=int(diagonal))


def triu(t, diagonal=0):
    _check_matrix(t, "triu")
    return Triu.apply(t, diagonal=int(diagonal))


def diag(t, diagonal=0):
    if t.ndim not in (1, 2):
        raise RuntimeError(f"diag(): expected a 1-d or 2-d tensor, got shape {t.shape}")
    return Diag.apply(t, diagonal=int(diagonal))


def split(t, split_size_or_sections, dim=0):
    """Pieces along dim: of ``split_size`` each (the last may be smaller), or of the listed sizes."""
    axis = _dim(dim, t.ndim)
    n = t.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and not (size == 0 and n == 0):
            raise RuntimeError(f"split(): split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise RuntimeError(f"split(): split_sizes {sizes} must be non-negative and sum to {n}, "
                               f"the size of dim {dim} (shape {t.shape})")
    lead = (slice(None),) * axis
    out, start = [], 0
    for s in sizes:
        out.append(t[lead + (slice(start, start + s),)])
        start += s
    return tuple(out)


def chunk(t, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk(): chunks must be positive, got {chunks}")
    n = t.shape[_dim(dim, t.ndim)]
    return split(t, max(-(-n // chunks), 1), dim)


def unbind(t, dim=0):
    axis = _dim(dim, t.ndim)
    lead = (slice(None),) * axis
    return tuple(t[lead + (i,)] for i in range(t.shape[axis]))


def narrow(t, dim, start, length):
    axis = _dim(dim, t.ndim)
    n = t.shape[axis]
    start = int(start)
    if not -n <= start <= n:
        raise IndexError(f"narrow(): start {start} is out of range for dim {dim} of size {n}")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise RuntimeError(f"narrow(): start ({start}) + length ({length}) exceeds dim {dim} of size {n}")
    return t[(slice(None),) * axis + (slice(start, start + length),)]


def movedim(t, source, destination):
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim(): source {src} and destination {dst} must have the same length")
    src = [_dim(d, t.ndim) for d in src]
    dst = [_dim(d, t.ndim) for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim(): repeated dim in source {source} or destination {destination}")
    order = [None] * t.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(t.ndim) if d not in src)
    order = [next(rest) if o is None else o for o in order]
    return t.permute(*order) if t.ndim else t
