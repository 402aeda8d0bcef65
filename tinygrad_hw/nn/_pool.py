"""Max and average pooling over 2-D windows (floor output size, as torch).

Notation: x (N, C, H, W), window KH x KW, stride (SH, SW), padding (PH, PW), output (N, C, OH, OW).

A rectangular window reduces separably: first over its KH rows, then over its KW columns, each
step an elementwise max (or sum) of strided views covering every window at once. That is KH + KW
passes and no window-sized temporary (reducing a (N, C, OH, KH, OW, KW) reshape over its small
axes is far slower in NumPy). Backward loops over the KH*KW taps, so it needs no scatter-add;
where windows do not overlap (the common 2x2 case) it assigns instead of accumulating.
"""
import numpy as np

from ._conv import pair, out_size, batch_last, tap
from .. import backend
from ..tensor import Function


def _pad(xp, x, ph, pw, fill):
    """x padded by (ph, pw) with ``fill``, keeping its memory layout (batch-last or NCHW), since
    elementwise ops that mix layouts are several times slower in NumPy."""
    if ph == 0 and pw == 0:
        return x
    if x.transpose(1, 2, 3, 0).flags.c_contiguous:
        return batch_last(xp, x, ph, pw, fill)
    N, C, H, W = x.shape
    buf = xp.full((N, C, H + 2 * ph, W + 2 * pw), fill, dtype=x.dtype)
    buf[:, :, ph:ph + H, pw:pw + W] = x
    return buf


def _like(xp, g, ref):
    """g in the memory layout of ref (one copy when they differ)."""
    if g.strides == ref.strides:
        return g
    out = xp.empty_like(ref)
    out[...] = g
    return out


def _reduce_windows(ufunc, xpad, KH, KW, OH, OW, stride, dilation, out):
    """ufunc-reduce every KH x KW window of xpad (N, C, Hp, Wp) into out: rows, then columns."""
    (sh, sw), (dh, dw) = stride, dilation
    rows = None
    for i in range(KH):
        v = xpad[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh]
        rows = v.copy(order="K") if rows is None else ufunc(rows, v, out=rows)
    for j in range(KW):
        v = rows[:, :, :, j * dw:j * dw + sw * (OW - 1) + 1:sw]
        if j == 0:
            out[...] = v
        else:
            ufunc(out, v, out=out)
    return out


# On the CPU, large poolings run in blocks over the outer memory axis of the input (channels
# for a batch-last array, samples for NCHW), each block a contiguous slab, on the backend's pool.
def _empty_like_layout(xp, ref, shape, dtype):
    """An empty array of ``shape`` whose axes lie in memory in the order of ref's."""
    order = sorted(range(ref.ndim), key=lambda k: -ref.strides[k])
    buf = xp.empty(tuple(shape[k] for k in order), dtype=dtype)
    return buf.transpose(tuple(order.index(k) for k in range(ref.ndim)))


def _slabs(xp, ref, bytes_per_element):
    """(axis, blocks): the blocks of ref's outer memory axis among N and C (one on a GPU)."""
    axis = 0 if ref.strides[0] >= ref.strides[1] else 1
    n = ref.shape[axis]
    if xp is not np or ref.nbytes < backend.ELEMENTWISE_MIN_BYTES:
        return axis, [slice(0, n)]
    per_item = ref.size // max(n, 1) * bytes_per_element
    return axis, backend.plan_blocks(backend.CPU, n, per_item)


def _on_slabs(axis, blocks, fn, *arrays):
    """fn(*slices) for each block of ``axis`` of every array, on the pool."""
    def block(sl):
        idx = (sl,) if axis == 0 else (slice(None), sl)
        fn(*(a[idx] for a in arrays))
    backend.parallel_blocks(block, blocks)


class MaxPool2d(Function):
    def forward(self, x, kernel, stride, padding, dilation):
        xp = self.xp
        (KH, KW), (ph, pw) = kernel, padding
        N, C, H, W = x.shape
        OH = out_size(H, KH, stride[0], ph, dilation[0])
        OW = out_size(W, KW, stride[1], pw, dilation[1])
        self.onednn = None
        if xp is np:
            self.onednn = _onednn_max_pool(x, (N, C, OH, OW), (kernel, stride, padding, dilation),
                                           self.needs_input_grad[0])
        if self.onednn is not None:
            out = backend.empty_channels_last((N, C, OH, OW), x.dtype)
            ws = self.onednn.forward(x, out)
            if self.needs_input_grad[0]:
                # x is not read again (the workspace holds the maxima's positions), but kept as
                # torch keeps it: an in-place change before backward raises in both
                self.x, self.ws = x, ws
            return out
        self.disjoint = all(s >= d * (k - 1) + 1 for s, d, k in zip(stride, dilation, kernel))
        xpad = _pad(xp, x, ph, pw, -xp.inf)
        out = _empty_like_layout(xp, xpad, (N, C, OH, OW), x.dtype)
        axis, blocks = _slabs(xp, xpad, 2 * x.itemsize)
        _on_slabs(axis, blocks, lambda xb, ob: _reduce_windows(xp.maximum, xb, KH, KW, OH, OW, stride,
                                                               dilation, ob), xpad, out)
        if self.needs_input_grad[0]:
            self.xpad, self.out = xpad, out
            self.geom = (x.shape, kernel, stride, padding, dilation, OH, OW)
        return out

    def backward(self, g):
        xp = self.xp
        if self.onednn is not None:
            g = backend.channels_last(g.astype(self.x.dtype, copy=False))
            return (self.onednn.backward(g, self.ws, backend.empty_channels_last(self.x.shape, g.dtype)),)
        (N, C, H, W), (KH, KW), stride, (ph, pw), dilation, OH, OW = self.geom
        xpad, out = self.xpad, self.out
        g = _like(xp, g, out)
        gx = xp.empty_like(xpad, dtype=g.dtype)     # same memory layout as the input
        disjoint = self.disjoint

        # windows that tile the padded input exactly write every position: no zeroing needed
        tiled = disjoint and dilation == (1, 1) and stride == (KH, KW) and \
            (OH * KH, OW * KW) == tuple(xpad.shape[2:])

        def block(gx, xpad, out, g):
            if not tiled:
                gx[...] = 0
            taken = hit = None
            # taps in row-major order; only the first tap equal to the max of its window gets the
            # gradient. In-place ufuncs with out= keep every step free of temporaries.
            for i in range(KH):
                for j in range(KW):
                    sl = (slice(None), slice(None)) + tap(i, j, OH, OW, stride, dilation)
                    hit = xp.equal(xpad[sl], out, out=hit)
                    if taken is None:
                        taken = hit.copy(order="K")
                    else:
                        xp.greater(hit, taken, out=hit)       # hit and not yet taken
                        taken |= hit
                    if disjoint:       # each position belongs to one window: write, not add
                        xp.multiply(g, hit, out=gx[sl])
                    else:
                        gx[sl] += g * hit
        axis, blocks = _slabs(xp, xpad, 3 * xpad.itemsize)
        _on_slabs(axis, blocks, block, gx, xpad, out, g)
        if ph or pw:
            gx = gx[:, :, ph:ph + H, pw:pw + W]
        return (gx,)


def _onednn_max_pool(x, yshape, geom, training):
    """oneDNN's primitives for this max pooling, or None (the NumPy code runs): for channels-last
    float32 (N, C, H, W) arrays, which oneDNN's convolutions hand on (the separable passes above
    read such an array in runs of C values: LeNet-5's first pooling, 6 channels at 24x24, batch 128,
    forward + backward in the train step 2.27 ms channels-last against 1.02 ms batch-last; on
    oneDNN 0.85 ms)."""
    if not backend.is_channels_last(x):
        return None
    _, _, padding, dilation = geom
    if any(padding) and any(d > 1 for d in dilation):
        return None     # a window may then lie in the padding alone: torch gives -inf, oneDNN -FLT_MAX
    if np.isnan(x).any():      # oneDNN's maximum skips a NaN; torch's (and ours) propagates it
        return None
    return backend.onednn_max_pool(x.shape, yshape, tuple(tuple(v) for v in geom), training, x.dtype)


class AvgPool2d(Function):
    def forward(self, x, kernel, stride, padding, scale):
        """``scale``: 1/divisor, a float or an (OH, OW) array (count_include_pad=False)."""
        xp = self.xp
        (KH, KW), (ph, pw) = kernel, padding
        N, C, H, W = x.shape
        OH, OW = out_size(H, KH, stride[0], ph, 1), out_size(W, KW, stride[1], pw, 1)
        self.tiled = stride == kernel and padding == (0, 0)
        xpad = _pad(xp, x, ph, pw, 0)
        out = _empty_like_layout(xp, xpad, (N, C, OH, OW), x.dtype)

        def block(xb, ob):
            _reduce_windows(xp.add, xb, KH, KW, OH, OW, stride, (1, 1), ob)
            ob *= scale
        axis, blocks = _slabs(xp, xpad, 2 * x.itemsize)
        _on_slabs(axis, blocks, block, xpad, out)
        self.scale = scale
        self.geom = (x.shape, kernel, stride, padding, OH, OW, x.dtype)
        return out

    def backward(self, g):
        xp = self.xp
        (N, C, H, W), (KH, KW), stride, (ph, pw), OH, OW, dtype = self.geom
        gs = g * self.scale
        if self.tiled:
            spread = xp.broadcast_to(gs[:, :, :, None, :, None], (N, C, OH, KH, OW, KW))
            spread = spread.reshape(N, C, OH * KH, OW * KW)
            if (OH * KH, OW * KW) == (H, W):
                return (spread,)
            gx = xp.zeros((N, C, H, W), dtype=dtype)
            gx[:, :, :OH * KH, :OW * KW] = spread
            return (gx,)
        gx = xp.empty((N, C, H + 2 * ph, W + 2 * pw), dtype=dtype)

        def block(gx, gs):
            gx[...] = 0
            for i in range(KH):
                for j in range(KW):
                    gx[(slice(None), slice(None)) + tap(i, j, OH, OW, stride, (1, 1))] += gs
        axis, blocks = _slabs(xp, gx, 2 * gx.itemsize)
        _on_slabs(axis, blocks, block, gx, xp.broadcast_to(gs, (N, C, OH, OW)))
        return (gx[:, :, ph:ph + H, pw:pw + W],)


class AdaptiveAvgPool2d(Function):
    """Adaptive average pooling as two small averaging matrices: out = A_h @ x @ A_w.T.

    Notation: A_h (OH, H) with 1/len on window i = [floor(i*H/OH), ceil((i+1)*H/OH)), A_w likewise.
    """

    def forward(self, x, ah, aw):
        self.ah, self.aw = ah, aw
        self.x = None
        if ah.shape[0] == 1 and aw.shape[0] == 1:
            # global average: kept for the gradient's memory layout (the graph holds x anyway)
            self.x = x
            return x.mean(axis=(-2, -1), keepdims=True)
        return ah @ x @ aw.T

    def backward(self, g):
        if self.x is None:
            return (self.ah.T @ g @ self.aw, None, None)
        # g spread evenly, in x's layout: a batch-last x gets a batch-last gradient, which the
        # ops before it combine with their batch-last saved arrays at full speed
        gx = self.xp.empty_like(self.x)
        gx[...] = g * (self.ah[0, 0] * self.aw[0, 0])
        return (gx, None, None)


def _check(x, name):
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got {x.dtype}")


def _geometry(x, kernel_size, stride, padding, dilation, name):
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else pair(stride, "stride")
    padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{name}: kernel {kernel}, stride {stride} and dilation {dilation} must be >= 1")
    if any(p < 0 or 2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{name}: padding {padding} must be between 0 and half the kernel {kernel}")
    H, W = x.shape[-2:]
    for size, k, p, d in ((H, kernel[0], padding[0], dilation[0]), (W, kernel[1], padding[1], dilation[1])):
        if size + 2 * p < d * (k - 1) + 1:
            raise ValueError(f"{name}: the window {kernel} (dilation {dilation}) is larger than the "
                             f"padded input {(H + 2 * padding[0], W + 2 * padding[1])} of shape {x.shape}")
    return kernel, stride, padding, dilation


def _batched(fn, x, *args, **kwargs):
    if x.ndim == 3:
        return fn(x.unsqueeze(0), *args, **kwargs).squeeze(0)
    return fn(x, *args, **kwargs)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over KH x KW windows; padding counts as -inf; ties send the gradient to the first max.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.max_pool2d(thw.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    if ceil_mode or return_indices:
        return _max_pool(x, 2, "max_pool2d", kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    _check(x, "max_pool2d")
    geo = _geometry(x, kernel_size, stride, padding, dilation, "max_pool2d")
    return _batched(lambda t: MaxPool2d.apply(t, kernel=geo[0], stride=geo[1], padding=geo[2],
                                              dilation=geo[3]), x)


def _include_pad_divisor(xp, H, W, kernel, stride, padding, OH, OW, dtype):
    """(OH, OW) counts of real (unpadded) input elements in each window, for count_include_pad=False."""
    def counts(size, k, s, p, o):
        start = xp.arange(o) * s - p
        return (xp.minimum(start + k, size) - xp.maximum(start, 0)).astype(dtype)
    return counts(H, kernel[0], stride[0], padding[0], OH)[:, None] * counts(W, kernel[1], stride[1], padding[1], OW)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over KH x KW windows; with count_include_pad (the default) padding counts as zeros.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.avg_pool2d(thw.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    if ceil_mode:
        return _avg_pool(x, 2, "avg_pool2d", kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override)
    _check(x, "avg_pool2d")
    kernel, stride, padding, _ = _geometry(x, kernel_size, stride, padding, 1, "avg_pool2d")
    H, W = x.shape[-2:]
    if divisor_override is not None:
        scale = 1.0 / float(divisor_override)
    elif count_include_pad or padding == (0, 0):
        scale = 1.0 / (kernel[0] * kernel[1])
    else:
        OH, OW = out_size(H, kernel[0], stride[0], padding[0], 1), out_size(W, kernel[1], stride[1], padding[1], 1)
        scale = 1 / _include_pad_divisor(x.device.xp, H, W, kernel, stride, padding, OH, OW, x.dtype)
    return _batched(lambda t: AvgPool2d.apply(t, kernel=kernel, stride=stride, padding=padding,
                                              scale=scale), x)


def _averaging_matrix(xp, size, out, dtype):
    i = xp.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    pos = xp.arange(size)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (OH, OW), windows as torch chooses them.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.adaptive_avg_pool2d(thw.ones(2, 3, 5, 5), 1).shape
    (2, 3, 1, 1)
    """
    _check(x, "adaptive_avg_pool2d")
    H, W = x.shape[-2:]
    oh, ow = (output_size, output_size) if isinstance(output_size, int) or output_size is None else output_size
    oh, ow = H if oh is None else int(oh), W if ow is None else int(ow)
    if oh < 1 or ow < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size {output_size} must be positive")
    xp = x.device.xp
    ah = _averaging_matrix(xp, H, oh, x.dtype)
    aw = _averaging_matrix(xp, W, ow, x.dtype)
    return AdaptiveAvgPool2d.apply(x, ah, aw)


# --- 1-D to 3-D pooling: the cases the 2-D Functions above take go to them, the others to _pool_nd ---
import math  # noqa: E402

from ..tensor import Tensor  # noqa: E402
from . import _pool_nd as nd  # noqa: E402


def _on_batch(fn, x, d, *args, **kwargs):
    """fn on a batched input: (C, *S) gets a unit batch dim for the call; tuple results too."""
    if x.ndim == d + 2:
        return fn(x, *args, **kwargs)
    out = fn(x.unsqueeze(0), *args, **kwargs)
    return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)


def _max_pool(x, d, name, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    nd.check_input(x, d, name)
    kernel, stride, padding, dilation, out, floor = nd.geometry(x, d, kernel_size, stride, padding,
                                                                dilation, ceil_mode, name)
    if d <= 2 and not return_indices and out == floor:     # the 2-D fast path (1-D: unit height)
        if d == 2:
            return max_pool2d(x, kernel, stride, padding, dilation)
        return max_pool2d(x.unsqueeze(-2), (1,) + kernel, (1,) + stride, (0,) + padding,
                          (1,) + dilation).squeeze(-2)

    def run(t):
        box = [] if return_indices else None
        y = nd.MaxPoolNd.apply(t, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                               out=out, indices=box)
        return (y, Tensor._wrap(box[0], t.device)) if return_indices else y
    return _on_batch(run, x, d)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over windows of L; with ``return_indices`` also the int64 positions of the maxima.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.max_pool1d(thw.tensor([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2, ceil_mode=True).tolist()
    [[[3.0, 5.0, 4.0]]]
    """
    return _max_pool(x, 1, "max_pool1d", kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over KD x KH x KW windows of (N, C, D, H, W); padding counts as -inf."""
    return _max_pool(x, 3, "max_pool3d", kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(x, d, name, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    nd.check_input(x, d, name)
    kernel, stride, padding, _, out, floor = nd.geometry(x, d, kernel_size, stride, padding, 1, ceil_mode, name)
    if d == 3 and any(n < k for n, k in zip(x.shape[-3:], kernel)):    # torch's avg_pool3d check
        raise ValueError(f"{name}: input of shape {x.shape} is smaller than the kernel {kernel}")
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError(f"{name}: divisor_override must not be zero")
    if d <= 2 and out == floor:
        if d == 2:
            return avg_pool2d(x, kernel, stride, padding, count_include_pad=count_include_pad,
                              divisor_override=divisor_override)
        return avg_pool2d(x.unsqueeze(-2), (1,) + kernel, (1,) + stride, (0,) + padding,
                          count_include_pad=count_include_pad, divisor_override=divisor_override).squeeze(-2)
    scale = nd.avg_scale(x.device.xp, x.shape[-d:], kernel, stride, padding, out, count_include_pad,
                         divisor_override, x.dtype)
    return _on_batch(lambda t: nd.AvgPoolNd.apply(t, kernel=kernel, stride=stride, padding=padding, out=out,
                                                  scale=scale), x, d)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of L; with count_include_pad (the default) padding counts as zeros.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.avg_pool1d(thw.tensor([[[1.0, 3.0, 2.0, 6.0, 4.0]]]), 2, ceil_mode=True).tolist()
    [[[2.0, 4.0, 4.0]]]
    """
    return _avg_pool(x, 1, "avg_pool1d", kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over KD x KH x KW windows of (N, C, D, H, W)."""
    return _avg_pool(x, 3, "avg_pool3d", kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _output_size(x, d, output_size, name):
    """torch's adaptive output_size: an int or d entries, None keeping that input size."""
    S = x.shape[-d:]
    sizes = (output_size,) * d if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(sizes) == 1:
        sizes *= d
    if len(sizes) != d:
        raise ValueError(f"{name}: output_size {output_size} must be an int or {d} values")
    sizes = tuple(n if o is None else int(o) for n, o in zip(S, sizes))
    if min(sizes) < 1:
        raise ValueError(f"{name}: output_size {output_size} must be positive")
    return sizes


def adaptive_avg_pool1d(x, output_size):
    """Average pooling of (N, C, L) to (N, C, output_size), windows as torch chooses them."""
    nd.check_input(x, 1, "adaptive_avg_pool1d")
    (o,) = _output_size(x, 1, output_size, "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(x.unsqueeze(-2), (1, o)).squeeze(-2)


def adaptive_avg_pool3d(x, output_size):
    """Average pooling of (N, C, D, H, W) to (N, C, *output_size), windows as torch chooses them.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.adaptive_avg_pool3d(thw.ones(2, 3, 5, 4, 3), (2, None, 1)).shape
    (2, 3, 2, 4, 1)
    """
    nd.check_input(x, 3, "adaptive_avg_pool3d")
    out = _output_size(x, 3, output_size, "adaptive_avg_pool3d")
    xp = x.device.xp
    mats = tuple(_averaging_matrix(xp, n, o, x.dtype) for n, o in zip(x.shape[-3:], out))
    return nd.AdaptiveAvgPoolNd.apply(x, mats=mats)


def _adaptive_max_pool(x, d, name, output_size, return_indices):
    nd.check_input(x, d, name)
    out = _output_size(x, d, output_size, name)
    S = x.shape[-d:]
    if not return_indices and all(n % o == 0 for n, o in zip(S, out)):
        k = tuple(n // o for n, o in zip(S, out))        # even windows: plain max pooling
        return _max_pool(x, d, name, k, k, 0, 1, False, False)
    windows = tuple(nd.adaptive_windows(x.device.xp, n, o) for n, o in zip(S, out))

    def run(t):
        box = [] if return_indices else None
        y = nd.AdaptiveMaxPoolNd.apply(t, windows=windows, indices=box)
        return (y, Tensor._wrap(box[0], t.device)) if return_indices else y
    return _on_batch(run, x, d)


def adaptive_max_pool1d(x, output_size, return_indices=False):
    """Max pooling of (N, C, L) to (N, C, output_size), windows as torch chooses them."""
    return _adaptive_max_pool(x, 1, "adaptive_max_pool1d", output_size, return_indices)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Max pooling of (N, C, H, W) to (N, C, *output_size); windows may overlap.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.adaptive_max_pool2d(thw.arange(25.0).reshape(1, 1, 5, 5), 2).tolist()
    [[[[12.0, 14.0], [22.0, 24.0]]]]
    """
    return _adaptive_max_pool(x, 2, "adaptive_max_pool2d", output_size, return_indices)


def adaptive_max_pool3d(x, output_size, return_indices=False):
    """Max pooling of (N, C, D, H, W) to (N, C, *output_size)."""
    return _adaptive_max_pool(x, 3, "adaptive_max_pool3d", output_size, return_indices)


def _max_unpool(x, indices, d, name, kernel_size, stride, padding, output_size):
    nd.check_input(x, d, name)
    if not isinstance(indices, Tensor) or indices.dtype != "int64":
        raise TypeError(f"{name}: indices must be an int64 Tensor, got {getattr(indices, 'dtype', type(indices))}")
    if indices.shape != x.shape:
        raise ValueError(f"{name}: indices of shape {indices.shape} must have the input's shape {x.shape}")
    if indices.device is not x.device:
        raise RuntimeError(f"{name}: input on {x.device} and indices on {indices.device}")
    kernel = nd.ntuple(kernel_size, d, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else nd.ntuple(stride, d, "stride")
    padding = nd.ntuple(padding, d, "padding")
    default = tuple((n - 1) * s + k - 2 * p for n, k, s, p in zip(x.shape[-d:], kernel, stride, padding))
    if output_size is None:
        out = default
    else:
        out = tuple(int(o) for o in output_size)
        if len(out) == d + 2:
            out = out[2:]
        if len(out) != d:
            raise ValueError(f"{name}: output_size {tuple(output_size)} must have {d} or {d + 2} elements")
        for i, (o, n, s) in enumerate(zip(out, default, stride)):
            if not n - s < o < n + s:
                raise ValueError(f"{name}: invalid output_size {tuple(output_size)} (dim {i} must be "
                                 f"between {n - s} and {n + s})")
    if min(out) < 1:
        raise ValueError(f"{name}: output size {out} for input of shape {x.shape} is too small")
    P = math.prod(out)
    if indices.numel() and (int(indices._data.min()) < 0 or int(indices._data.max()) >= P):
        raise RuntimeError(f"{name}: found an index outside the output planes of size {out}: "
                           f"min {int(indices._data.min())}, max {int(indices._data.max())}")
    if x.ndim == d + 1:
        return nd.MaxUnpoolNd.apply(x.unsqueeze(0), indices.unsqueeze(0), out=out).squeeze(0)
    return nd.MaxUnpoolNd.apply(x, indices, out=out)


def max_unpool1d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool1d: values put back at their indices, zeros elsewhere."""
    return _max_unpool(x, indices, 1, "max_unpool1d", kernel_size, stride, padding, output_size)


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool2d: values put back at their indices, zeros elsewhere.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> y, i = F.max_pool2d(thw.arange(16.0).reshape(1, 1, 4, 4), 2, return_indices=True)
    >>> F.max_unpool2d(y, i, 2).tolist()[0][0][1]
    [0.0, 5.0, 0.0, 7.0]
    """
    return _max_unpool(x, indices, 2, "max_unpool2d", kernel_size, stride, padding, output_size)


def max_unpool3d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool3d: values put back at their indices, zeros elsewhere."""
    return _max_unpool(x, indices, 3, "max_unpool3d", kernel_size, stride, padding, output_size)
