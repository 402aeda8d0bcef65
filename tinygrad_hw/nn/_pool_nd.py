"""Pooling over 1 to 3 spatial dims, for the cases the 2-D fast path in ``_pool`` does not take:
ceil_mode, return_indices, 3-D windows, adaptive max pooling, max unpooling.

Notation: x (N, C, *S) with S the d spatial sizes, window K (d taps per dim), stride s, padding p,
dilation dl, output (N, C, *O). A "plane" is one (n, c) slice; indices are flat into its S.

Every op loops over the window's taps, never over samples or positions: a tap is one strided
slice of the padded input covering that tap of every window at once. Max keeps, per output, the
number of the tap that won (the first maximum, as torch), so backward adds the gradient into the
slice of each tap where it won; average reduces one dim at a time (sum K taps instead of prod K).
"""
import itertools
import math

from ..tensor import Function


def ntuple(v, d, name):
    """An int, or a sequence of 1 or d ints, as a d-tuple of ints."""
    if isinstance(v, int):
        return (v,) * d
    try:
        t = tuple(int(a) for a in v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a tuple of {d} ints, got {v!r}") from None
    if len(t) == 1:
        return t * d
    if len(t) != d:
        raise ValueError(f"{name} must be an int or a tuple of {d} ints, got {v!r}")
    return t


def out_len(size, k, s, p, d, ceil_mode):
    """torch's pooling output length: floor or ceil, and in ceil mode the last window must start
    inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    n = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= size + p:
        n -= 1
    return n


def check_input(x, d, name):
    if x.ndim not in (d + 1, d + 2):
        dims = ["L"] if d == 1 else ["H", "W"] if d == 2 else ["D", "H", "W"]
        raise ValueError(f"{name}: input must be {d + 1}-D (C, {', '.join(dims)}) or {d + 2}-D "
                         f"(N, C, {', '.join(dims)}), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got {x.dtype}")


def geometry(x, d, kernel_size, stride, padding, dilation, ceil_mode, name):
    """(kernel, stride, padding, dilation, output sizes, floor-mode output sizes), checked as torch."""
    kernel = ntuple(kernel_size, d, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else ntuple(stride, d, "stride")
    padding, dilation = ntuple(padding, d, "padding"), ntuple(dilation, d, "dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{name}: kernel {kernel}, stride {stride} and dilation {dilation} must be >= 1")
    if any(p < 0 or 2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{name}: padding {padding} must be between 0 and half the kernel {kernel}")
    S = x.shape[-d:]
    out = tuple(out_len(*a, ceil_mode) for a in zip(S, kernel, stride, padding, dilation))
    floor = tuple(out_len(*a, False) for a in zip(S, kernel, stride, padding, dilation))
    if min(out) < 1:
        raise ValueError(f"{name}: the window {kernel} (dilation {dilation}, padding {padding}) is larger "
                         f"than the padded input of shape {x.shape}: output size {out} is too small")
    return kernel, stride, padding, dilation, out, floor


def _pad(xp, x, padding, right, fill):
    """x (N, C, *S) padded by ``padding`` on the left and ``right`` on the right of each dim."""
    if not any(padding) and not any(right):
        return x
    S = x.shape[2:]
    buf = xp.full(x.shape[:2] + tuple(n + p + r for n, p, r in zip(S, padding, right)), fill, dtype=x.dtype)
    buf[(slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(padding, S))] = x
    return buf


def _right(S, kernel, stride, padding, dilation, out):
    """Right padding every window needs: ``padding``, or more for ceil mode's last window."""
    return tuple(max((o - 1) * s + dl * (k - 1) + 1 - n - p, 0)
                 for n, k, s, p, dl, o in zip(S, kernel, stride, padding, dilation, out))


def _tap(taps, stride, dilation, out):
    """The slices of the padded input that window tap ``taps`` (one index per dim) reads."""
    return (slice(None), slice(None)) + tuple(slice(t * dl, t * dl + s * (o - 1) + 1, s)
                                              for t, s, dl, o in zip(taps, stride, dilation, out))


def _crop(padding, S):
    return (slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(padding, S))


class MaxPoolNd(Function):
    """Max over windows; padding is -inf; ``indices``, when a list, receives torch's flat int64
    indices of the maxima. Tap numbers are in row-major window order and only a strictly larger
    (or NaN) value replaces the running max, so ties keep the first index, as torch."""

    def forward(self, x, kernel, stride, padding, dilation, out, indices=None):
        xp = self.xp
        S = x.shape[2:]
        xpad = _pad(xp, x, padding, _right(S, kernel, stride, padding, dilation, out), -xp.inf)
        taps = list(itertools.product(*map(range, kernel)))
        best = xp.full(x.shape[:2] + out, -xp.inf, dtype=x.dtype)
        won = self._first_real(kernel, stride, padding, dilation, out, len(taps))
        for t, tp in enumerate(taps):
            v = xpad[_tap(tp, stride, dilation, out)]
            better = xp.greater(v, best)
            better |= xp.isnan(v)
            xp.maximum(best, v, out=best)       # NaN-propagating, as the choice above
            won = xp.where(better, won.dtype.type(t), won)
        if indices is not None:
            indices.append(self._flat(won, S, kernel, stride, padding, dilation, out))
        if self.needs_input_grad[0]:
            self.won = won
            self.in_shape, self.pad_shape = x.shape, xpad.shape
            self.taps, self.stride, self.padding, self.dilation, self.out = taps, stride, padding, dilation, out
            self.disjoint = all(s >= dl * (k - 1) + 1 for s, dl, k in zip(stride, dilation, kernel))
        return best

    def _first_real(self, kernel, stride, padding, dilation, out, ntaps):
        """Per window, the number of its first tap on the input: torch's index where every value is
        -inf (padding never wins)."""
        xp = self.xp
        won = xp.zeros(out, dtype=xp.int8 if ntaps < 128 else xp.int32)
        for i, (k, s, p, dl, o) in enumerate(zip(kernel, stride, padding, dilation, out)):
            before = xp.maximum(p - xp.arange(o) * s, 0)
            shape = [1] * len(out)
            shape[i] = o
            first = xp.minimum(-(-before // dl), k - 1).reshape(shape)
            won = won * k + first.astype(won.dtype)
        return won

    def _flat(self, won, S, kernel, stride, padding, dilation, out):
        """Flat indices into each plane of the unpadded input from the winning tap numbers."""
        xp = self.xp
        rest = won.astype(xp.int64)
        flat = xp.zeros_like(rest)
        plane = 1
        for i in reversed(range(len(S))):
            k_i = rest % kernel[i]
            rest //= kernel[i]
            shape = [1] * len(S)
            shape[i] = out[i]
            start = (xp.arange(out[i], dtype=xp.int64) * stride[i] - padding[i]).reshape(shape)
            flat += (start + k_i * dilation[i]) * plane
            plane *= S[i]
        return flat

    def backward(self, g):
        xp = self.xp
        gx = xp.zeros(self.pad_shape, dtype=g.dtype)
        hit = None
        for t, tp in enumerate(self.taps):
            sl = _tap(tp, self.stride, self.dilation, self.out)
            hit = xp.equal(self.won, t, out=hit)
            if self.disjoint:       # each input position is in one window: write, not add
                xp.multiply(g, hit, out=gx[sl])
            else:
                gx[sl] += g * hit
        return (gx[_crop(self.padding, self.in_shape[2:])],)


def avg_scale(xp, S, kernel, stride, padding, out, count_include_pad, divisor_override, dtype):
    """1/divisor per output position (an array over O) as torch: windows clipped to the padded
    input (count_include_pad) or to the input itself; ``divisor_override`` wins."""
    if divisor_override is not None:
        return 1.0 / float(divisor_override)
    scale = None
    for i, (n, k, s, p, o) in enumerate(zip(S, kernel, stride, padding, out)):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, n)
        shape = [1] * len(S)
        shape[i] = o
        c = (end - start).astype(dtype).reshape(shape)
        scale = c if scale is None else scale * c
    return 1 / scale


class AvgPoolNd(Function):
    """Mean over windows with zero padding, one dim at a time; ``scale`` is 1/divisor, a float or
    an array over the output positions."""

    def forward(self, x, kernel, stride, padding, out, scale):
        xp = self.xp
        S = x.shape[2:]
        ones = (1,) * len(S)
        y = _pad(xp, x, padding, _right(S, kernel, stride, padding, ones, out), 0)
        self.pad_shape = y.shape
        for i, (k, s, o) in enumerate(zip(kernel, stride, out)):
            acc = None
            for j in range(k):
                v = y[(slice(None),) * (2 + i) + (slice(j, j + s * (o - 1) + 1, s),)]
                acc = v.copy() if acc is None else xp.add(acc, v, out=acc)
            y = acc
        y *= scale
        self.in_shape, self.kernel, self.stride, self.padding, self.out = x.shape, kernel, stride, padding, out
        self.scale = scale
        return y

    def backward(self, g):
        xp = self.xp
        cur = g * self.scale
        for i in reversed(range(len(self.kernel))):
            k, s, o = self.kernel[i], self.stride[i], self.out[i]
            shape = list(cur.shape)
            shape[2 + i] = self.pad_shape[2 + i]
            buf = xp.zeros(shape, dtype=g.dtype)
            for j in range(k):
                buf[(slice(None),) * (2 + i) + (slice(j, j + s * (o - 1) + 1, s),)] += cur
            cur = buf
        return (cur[_crop(self.padding, self.in_shape[2:])],)


class AdaptiveAvgPoolNd(Function):
    """Adaptive average pooling as one averaging matrix per spatial dim, applied in turn.

    Notation: mats[i] (O_i, S_i) with 1/len on window j = [floor(j*S_i/O_i), ceil((j+1)*S_i/O_i)).
    """

    def forward(self, x, mats):
        self.mats = mats
        return self._apply(x, mats, 1)

    def _apply(self, y, mats, contract):
        xp = self.xp
        d = len(mats)
        for i, a in enumerate(mats):
            axis = y.ndim - d + i
            y = xp.moveaxis(xp.tensordot(y, a, axes=([axis], [contract])), -1, axis)
        return y

    def backward(self, g):
        return (self._apply(g, self.mats, 0), None)


def adaptive_windows(xp, size, out):
    """torch's adaptive windows [floor(j*size/out), ceil((j+1)*size/out)) as an (out, kmax) array of
    positions, each row padded with its window's last position (repeats change no maximum)."""
    j = xp.arange(out, dtype=xp.int64)
    start = (j * size) // out
    end = -((-(j + 1) * size) // out)
    kmax = max(-((-(i + 1) * size) // out) - (i * size) // out for i in range(out))
    return xp.minimum(start[:, None] + xp.arange(kmax, dtype=xp.int64)[None, :], end[:, None] - 1)


class AdaptiveMaxPoolNd(Function):
    """Adaptive max pooling: a loop over the window offsets (at most ceil(S/O)+1 per dim), each a
    gather of every window's element at that offset; the flat index of the first maximum is kept
    (``indices``, when a list, receives it) and backward adds the gradient there (bincount: windows
    may overlap and, when O > S, repeat)."""

    def forward(self, x, windows, indices=None):
        xp = self.xp
        S = x.shape[2:]
        d = len(S)
        planes = [math.prod(S[i + 1:]) for i in range(d)]
        best = arg = None
        for offs in itertools.product(*(range(w.shape[1]) for w in windows)):
            pos = []
            for i, (w, j) in enumerate(zip(windows, offs)):
                shape = [1] * d
                shape[i] = w.shape[0]
                pos.append(w[:, j].reshape(shape))
            v = x[(Ellipsis,) + tuple(pos)]
            flat = sum(p * st for p, st in zip(pos, planes))
            if best is None:
                best = v.copy()
                arg = xp.broadcast_to(flat, v.shape).copy()
                continue
            better = xp.greater(v, best)
            better |= xp.isnan(v)
            xp.maximum(best, v, out=best)
            arg = xp.where(better, flat, arg)
        if indices is not None:
            indices.append(arg)
        if self.needs_input_grad[0]:
            self.arg, self.in_shape = arg, x.shape
        return best

    def backward(self, g):
        xp = self.xp
        N, C = self.in_shape[:2]
        P = math.prod(self.in_shape[2:])
        target = self.arg.reshape(N * C, -1) + (xp.arange(N * C, dtype=xp.int64) * P)[:, None]
        gx = xp.bincount(target.ravel(), weights=g.reshape(-1), minlength=N * C * P)
        return (gx.astype(g.dtype, copy=False).reshape(self.in_shape),)


class MaxUnpoolNd(Function):
    """Values written at their flat indices into zero planes of size ``out`` (a repeated index keeps
    one of its values, all equal when they come from max pooling); backward gathers."""

    def forward(self, x, idx, out):
        xp = self.xp
        N, C = x.shape[:2]
        self.rows = xp.arange(N * C)[:, None]
        self.idx, self.in_shape = idx.reshape(N * C, -1), x.shape
        y = xp.zeros((N * C, math.prod(out)), dtype=x.dtype)
        y[self.rows, self.idx] = x.reshape(N * C, -1)
        return y.reshape((N, C) + tuple(out))

    def backward(self, g):
        N, C = self.in_shape[:2]
        return (g.reshape(N * C, -1)[self.rows, self.idx].reshape(self.in_shape), None)
