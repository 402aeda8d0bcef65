"""2-D convolution as im2col + one GEMM, and col2im for the input gradient.

Notation: N batch, C input channels, O output channels, G groups (Cg = C/G, Og = O/G),
H/W input height/width, Hp/Wp padded, KH/KW kernel, OH/OW output, P = OH*OW*N.

Layout: inside the op the batch is the innermost (fastest) memory axis. The padded input is
stored (C, Hp, Wp, N) and the column matrix (C, KH, KW, OH, OW, N), so every tap of the im2col copy
and of the col2im accumulation moves runs of at least N contiguous values (even at stride 2),
where an N-major layout moves runs of OW values or, at stride 2, single values: 2-4x faster copies.
Viewed as (G, Cg*KH*KW, P) the column matrix makes the forward ``W (G, Og, Cg*KH*KW) @ col`` one
large GEMM per group, with the result (O, OH, OW, N). The output is a transposed view of that
(NCHW shape, batch-last memory) and the input gradient likewise: elementwise ops (bias, batch norm,
ReLU, pooling) keep the layout, so the next conv reads it and the gradient comes back in it
without transposing copies, which cost NumPy more than they save (measured end to end: a stack of
conv-bn-relu layers runs about 20% faster than with C-contiguous NCHW outputs).
"""
import numpy as np

from .. import backend
from ..tensor import Function


def pair(v, name):
    """An int or a pair of ints as a pair of ints."""
    if isinstance(v, int):
        return (v, v)
    try:
        a, b = v
        return (int(a), int(b))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}") from None


def out_size(size, k, s, p, d):
    """Output length of a window of k taps, dilation d, stride s over size + 2p (floor mode)."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def batch_last(xp, x, ph, pw, fill=0):
    """``x`` (N, C, H, W) padded by (ph, pw) with ``fill`` and stored (C, Hp, Wp, N), returned as an
    (N, C, Hp, Wp) view; no copy when ``x`` already has that memory layout and needs no padding."""
    N, C, H, W = x.shape
    if ph == 0 and pw == 0 and x.transpose(1, 2, 3, 0).flags.c_contiguous:
        return x
    if ph == 0 and pw == 0:
        buf = x.transpose(1, 2, 3, 0).copy()
    else:
        buf = xp.full((C, H + 2 * ph, W + 2 * pw, N), fill, dtype=x.dtype)
        buf[:, ph:ph + H, pw:pw + W, :] = x.transpose(1, 2, 3, 0)
    return buf.transpose(3, 0, 1, 2)


def windows(xpad, KH, KW, OH, OW, stride, dilation):
    """A strided (C, KH, KW, OH, OW, N) view of the padded input: every tap of every window."""
    sN, sC, sH, sW = xpad.strides
    (sh, sw), (dh, dw) = stride, dilation
    N, C = xpad.shape[:2]
    return backend.as_strided(xpad, (C, KH, KW, OH, OW, N),
                              (sC, dh * sH, dw * sW, sh * sH, sw * sW, sN))


def tap(i, j, OH, OW, stride, dilation):
    """The (row, col) slices of the padded input that tap (i, j) of every window reads."""
    (sh, sw), (dh, dw) = stride, dilation
    return (slice(i * dh, i * dh + sh * (OH - 1) + 1, sh), slice(j * dw, j * dw + sw * (OW - 1) + 1, sw))


def input_grad_by_columns(xp, g, w, H, W, padding, dilation, G):
    """The input gradient of a stride-1 conv, as the convolution of the output gradient padded by
    d*(k-1) - p with the flipped kernel: im2col of g and one GEMM. The column matrix is no larger
    than col2im's (Og <= Cg), and no tap-by-tap accumulation follows: 30-35% faster on 32 and 64
    channels than the GEMM + col2im route.

    Notation: g (N, O, OH, OW) stored batch-last, w (O, Cg, KH, KW) -> (N, C, H, W) batch-last.
    """
    O, Cg, KH, KW = w.shape
    N = g.shape[0]
    (ph, pw), (dh, dw) = padding, dilation
    gpad = batch_last(xp, g, dh * (KH - 1) - ph, dw * (KW - 1) - pw)
    cols = xp.ascontiguousarray(windows(gpad, KH, KW, H, W, (1, 1), dilation))
    cols = cols.reshape(G, O // G * KH * KW, H * W * N)
    # wf[g, c, (o, i, j)] = w[g * Og + o, c, KH-1-i, KW-1-j]
    wf = w[:, :, ::-1, ::-1].reshape(G, O // G, Cg, KH, KW).transpose(0, 2, 1, 3, 4)
    wf = xp.ascontiguousarray(wf).reshape(G, Cg, O // G * KH * KW)
    gx = wf[0] @ cols[0] if G == 1 else xp.matmul(wf, cols)
    return gx.reshape(G * Cg, H, W, N).transpose(3, 0, 1, 2)


class Conv2d(Function):
    """Notation: x (N, C, H, W), w (O, Cg, KH, KW), b (O,) or None -> (N, O, OH, OW).

    On the CPU the batch runs in blocks (``_BlockedConv``); on a GPU as one block, below."""

    def forward(self, x, w, b, stride, padding, dilation, groups):
        xp = self.xp
        if xp is np:
            onednn = _OneDNNConv.make(x, w, b, stride, padding, dilation, groups, self.needs_input_grad)
            if onednn is not None:
                self.blocked = onednn
                out = onednn.forward()
                # what backward reads (the input itself when it is channels-last), kept where the
                # graph's version check finds it: an in-place change before backward raises
                self.saved = (onednn.x, onednn.w)
                return out
            if _use_shifted(x, w, stride, padding, dilation, groups):
                self.blocked = _ShiftedConv(x, w, b, padding, dilation, self.needs_input_grad)
                return self.blocked.forward()
            if BLOCKED_IM2COL:
                self.blocked = _BlockedConv(x, w, b, stride, padding, dilation, groups, self.needs_input_grad)
                return self.blocked.forward()
        N, C, H, W = x.shape
        O, Cg, KH, KW = w.shape
        (ph, pw), G = padding, groups
        OH = out_size(H, KH, stride[0], ph, dilation[0])
        OW = out_size(W, KW, stride[1], pw, dilation[1])
        # a batch-last copy first pays off when the columns outnumber the input (k > stride)
        if ph or pw or KH * KW * OH * OW > H * W:
            xpad = batch_last(xp, x, ph, pw)
        else:
            xpad = x
        # ascontiguousarray is free for a 1x1, stride-1 conv of a batch-last input
        col = xp.ascontiguousarray(windows(xpad, KH, KW, OH, OW, stride, dilation))
        col = col.reshape(G, Cg * KH * KW, OH * OW * N)
        wm = w.reshape(G, O // G, Cg * KH * KW)
        out = (wm[0] @ col[0])[None] if G == 1 else xp.matmul(wm, col)
        out = out.reshape(O, OH, OW, N)
        if b is not None:
            out += b.reshape(O, 1, 1, 1)
        need_x, need_w = self.needs_input_grad[:2]
        if need_x or need_w:
            self.geom = (x.shape, xpad.shape, w.shape, OH, OW, stride, padding, dilation, G)
            self.col = col if need_w else None
            self.wm = wm if need_x else None
        return out.transpose(3, 0, 1, 2)

    def backward(self, g):
        xp = self.xp
        if getattr(self, "blocked", None) is not None:
            return self.blocked.backward(g)
        (N, C, H, W), (_, _, Hp, Wp), wshape, OH, OW, stride, (ph, pw), dilation, G = self.geom
        O, Cg, KH, KW = wshape
        need_x, need_w, need_b = self.needs_input_grad
        # free when g arrives batch-last, as it does through the ops that follow a conv
        g2 = xp.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(G, O // G, OH * OW * N)
        gx = gw = gb = None
        if need_b:
            gb = g2.reshape(O, -1).sum(axis=1)
        if need_w:
            col = self.col
            # (both special cases below were measured with OpenBLAS only: the CPU alone takes them)
            if xp is np and G == 1 and O * Cg * KH * KW <= 1024 and OH > 1:
                # a tiny weight: BLAS runs (K, P) @ (P, O) with a long P far below speed, so
                # multiply per output row (a batched matmul over OH) and sum: 2-3x faster
                c3 = col[0].reshape(-1, OH, OW * N).transpose(1, 0, 2)
                g3 = g2[0].reshape(O, OH, OW * N).transpose(1, 2, 0)
                gw = xp.matmul(c3, g3).sum(axis=0)[None]
            else:
                # col @ g.T, not g @ col.T: BLAS splits only the output dims between threads,
                # and (Cg*KH*KW, Og) splits better than (Og, Cg*KH*KW) with the long P inside
                gw = (col[0] @ g2[0].T)[None] if G == 1 else xp.matmul(col, g2.transpose(0, 2, 1))
            gw = xp.ascontiguousarray(gw.transpose(0, 2, 1)).reshape(wshape)
        if need_x and xp is np and stride == (1, 1) and 1 < KH * KW and O // G <= Cg and \
                ph <= dilation[0] * (KH - 1) and pw <= dilation[1] * (KW - 1):
            g_last = g2.reshape(O, OH, OW, N).transpose(3, 0, 1, 2)     # batch-last, no copy
            gx = input_grad_by_columns(xp, g_last, self.wm.reshape(wshape), H, W, (ph, pw), dilation, G)
        elif need_x:
            # the columns' gradient, then col2im: accumulate each of the KH*KW taps into place
            wm = self.wm
            gcol = (wm[0].T @ g2[0])[None] if G == 1 else xp.matmul(wm.transpose(0, 2, 1), g2)
            gcol = gcol.reshape(C, KH, KW, OH, OW, N)
            if KH == KW == 1 and stride == (1, 1) and Hp == H and Wp == W:
                gx = gcol.reshape(C, H, W, N)
            else:
                gx = xp.zeros((C, Hp, Wp, N), dtype=g.dtype)
                for i in range(KH):
                    for j in range(KW):
                        rows, cols = tap(i, j, OH, OW, stride, dilation)
                        gx[:, rows, cols] += gcol[:, i, j]
                gx = gx[:, ph:ph + H, pw:pw + W]
            gx = gx.transpose(3, 0, 1, 2)
        return gx, gw, gb


class _OneDNNConv:
    """A float32 CPU conv2d on oneDNN's kernels (backend.onednn_convolution), channels-last:
    the output and the input gradient are (N, H, W, C) memory, and so the layers that follow keep
    them (batch norm, ReLU and adds keep their input's layout). Notation as Conv2d.

    Measured on the 2-core VM (ResNet-20's layers at batch 128, forward / input gradient / weight
    gradient): 16->16 at 28x28 1.3-2.0 / 1.3-2.0 / 1.2 ms against 3.6 / 5.8 / 5.1 ms for the
    shifted GEMMs below; 32->32 at 14x14 1.3 / 1.2 / 1.1 against 3.2 / 3.9 / 3.6. LeNet-5's thin
    convs too (batch 128, forward + backward): 1->6 5x5 0.84 against 1.62 ms on NumPy, 6->16 5x5
    2.17 against 1.76 alone, but in the step the NumPy route's BLAS threads would compete with
    oneDNN's (backend.blas_ready), and with all its ops on oneDNN LeNet-5's step took 4.5 against
    7.4 ms.
    """

    @staticmethod
    def make(x, w, b, stride, padding, dilation, groups, needs):
        O, Cg, KH, KW = w.shape
        if min(x.shape) == 0 or not w.size:
            return None
        N, _, H, W = x.shape
        OH = out_size(H, KH, stride[0], padding[0], dilation[0])
        OW = out_size(W, KW, stride[1], padding[1], dilation[1])
        geom = (tuple(stride), tuple(padding), tuple(dilation), groups)
        conv = backend.onednn_convolution(x.shape, w.shape, (N, O, OH, OW), geom, b is not None,
                                          any(needs), x.dtype)
        return None if conv is None else _OneDNNConv(conv, x, w, b, (N, O, OH, OW), needs)

    def __init__(self, conv, x, w, b, yshape, needs):
        self.conv, self.yshape, self.needs = conv, yshape, needs
        self.x = backend.channels_last(x)
        self.w = np.ascontiguousarray(w)
        self.b = None if b is None else np.ascontiguousarray(b)

    def forward(self):
        out = backend.empty_channels_last(self.yshape, self.x.dtype)
        self.conv.forward(self.x, self.w, self.b, out)
        if not (self.needs[1] or self.needs[2]):
            self.x = None
        return out

    def backward(self, g):
        need_x, need_w, need_b = self.needs
        g = backend.channels_last(g.astype(self.w.dtype, copy=False))
        gx = gw = gb = None
        if need_x:
            gx = self.conv.backward_data(g, self.w, backend.empty_channels_last(self.conv.xshape, g.dtype))
        if need_w or need_b:
            gw, gb = self.conv.backward_weights(self.x, g)
            gw = gw.reshape(self.w.shape) if need_w else None
            gb = gb if need_b else None
        return gx, gw, gb


def _shape_error(msg, x, w):
    return ValueError(f"conv2d: {msg} (input shape {tuple(x.shape)}, weight shape {tuple(w.shape)})")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) as torch.nn.functional.conv2d.

    Notation: x (N, C, H, W) or (C, H, W), weight (O, C/groups, KH, KW), bias (O,) -> (N, O, OH, OW)
    with OH = (H + 2*pad - dilation*(KH-1) - 1) // stride + 1.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.conv2d(thw.ones(1, 1, 4, 4), thw.ones(1, 1, 3, 3), padding=1).shape
    (1, 1, 4, 4)
    """
    if isinstance(padding, str) and weight.ndim == 4:   # 'same' / 'valid' as torch (see _explicit)
        x, padding = _explicit(x, padding, weight.shape[2:], pair(dilation, "dilation"), pair(stride, "stride"), 2)
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (O, C/groups, KH, KW), got shape {weight.shape}")
    if x.ndim == 3:
        return conv2d(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    if x.ndim != 4:
        raise _shape_error("input must be 3-D (C, H, W) or 4-D (N, C, H, W)", x, weight)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"conv2d: stride {stride} and dilation {dilation} must be >= 1 and padding "
                         f"{padding} >= 0")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    O, Cg, KH, KW = weight.shape
    C = x.shape[1]
    if C % groups or O % groups:
        raise _shape_error(f"groups={groups} must divide both the {C} input and {O} output channels", x, weight)
    if C != Cg * groups:
        raise _shape_error(f"expected {Cg * groups} input channels (weight's {Cg} x groups={groups}), "
                           f"got {C}", x, weight)
    for name, size, k, p, d in (("height", x.shape[2], KH, padding[0], dilation[0]),
                                ("width", x.shape[3], KW, padding[1], dilation[1])):
        if size + 2 * p < d * (k - 1) + 1:
            raise _shape_error(f"the dilated kernel {name} {d * (k - 1) + 1} is larger than the padded "
                               f"input {name} {size + 2 * p}", x, weight)
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"conv2d: input, weight and bias must share one dtype, got {x.dtype}, "
                        f"{weight.dtype}, {None if bias is None else bias.dtype}")
    if bias is not None and tuple(bias.shape) != (O,):
        raise ValueError(f"conv2d: bias must have shape ({O},), got {tuple(bias.shape)}")
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


# --- the CPU path in batch blocks (im2col + GEMM per block, on the backend's thread pool) -------
# Every block copies its columns into a per-thread buffer that stays in cache and multiplies them
# there, instead of streaming one whole-batch column matrix through memory; the columns are not
# kept for backward (copied again from the input block), so the graph holds no column matrix.
# Blocks hold at least MIN_BLOCK samples: the batch is the innermost axis of every temporary, so
# a block of nb samples copies runs of nb contiguous values, and shorter runs copy 2-4x slower.
# Measured on this 2-core machine it did NOT pay where the shifted route below does not apply:
# OpenBLAS packs and blocks a whole-batch GEMM well, and the per-block strided copies of the input,
# gradient and output cost more than the cache saves (fwd+bwd at batch 128, 1 thread, CPU time:
# 16->32 3x3 stride 2: 92 ms blocked against 70 whole-batch; 16->32 1x1 stride 2: 27 against 8;
# LeNet-5's 6->16 5x5: 22 against 13). So it is off (BLOCKED_IM2COL) and those convs run the
# whole-batch code with BLAS's own threads; the tests keep it exercised.
MIN_BLOCK = 16
BLOCKED_IM2COL = False


def _as_batch_last(x):
    """x (N, C, H, W) as its (C, H, W, N) array: a view when that is its memory layout."""
    t = x.transpose(1, 2, 3, 0)
    return t if t.flags.c_contiguous else np.ascontiguousarray(t)


def _block_windows(xp, KH, KW, OH, OW, stride, dilation):
    """The (C, KH, KW, OH, OW, nb) view of every window tap of a padded block xp (C, Hp, Wp, nb)."""
    sC, sH, sW, sN = xp.strides
    (sh, sw), (dh, dw) = stride, dilation
    return backend.as_strided(xp, (xp.shape[0], KH, KW, OH, OW, xp.shape[3]),
                              (sC, dh * sH, dw * sW, sh * sH, sw * sW, sN))


def _padded(name, xb, ph, pw):
    """The block xb (C, H, W, nb) padded with zeros, in a per-thread buffer whose border stays zero."""
    if ph == 0 and pw == 0:
        return xb
    C, H, W, nb = xb.shape
    buf = backend.scratch(name, (C, H + 2 * ph, W + 2 * pw, nb), xb.dtype, zero=True)
    buf[:, ph:ph + H, pw:pw + W] = xb
    return buf


class _BlockedConv:
    """Forward and backward of one conv2d call on the CPU, block by block.

    Notation as Conv2d; a block is nb samples; K = Cg*KH*KW, Pb = OH*OW*nb.
    """

    def __init__(self, x, w, b, stride, padding, dilation, groups, needs):
        N, C, H, W = x.shape
        O, Cg, KH, KW = w.shape
        self.x, self.w, self.b = _as_batch_last(x), w, b
        self.xshape = self.x.shape
        self.stride, self.padding, self.dilation, self.G = stride, padding, dilation, groups
        self.OH = out_size(H, KH, stride[0], padding[0], dilation[0])
        self.OW = out_size(W, KW, stride[1], padding[1], dilation[1])
        self.needs = needs
        self.wm = w.reshape(groups, O // groups, Cg * KH * KW)
        cols = C * KH * KW * self.OH * self.OW
        per_sample = 4 * (cols + C * (H + 2 * padding[0]) * (W + 2 * padding[1]) + O * self.OH * self.OW)
        self.blocks = backend.plan_blocks(backend.CPU, N, per_sample * x.itemsize // 4,
                                          flops_per_sample=2 * O * Cg * KH * KW * self.OH * self.OW,
                                          min_block=MIN_BLOCK)

    def _columns(self, sl):
        """The block's column matrix (G, K, Pb), in a per-thread buffer."""
        x, (_, Cg, KH, KW) = self.x, self.w.shape
        xb = _padded("conv.xpad", x[..., sl], *self.padding)
        C, nb = x.shape[0], xb.shape[3]
        col = backend.scratch("conv.col", (C, KH, KW, self.OH, self.OW, nb), x.dtype)
        np.copyto(col, _block_windows(xb, KH, KW, self.OH, self.OW, self.stride, self.dilation))
        return col.reshape(self.G, Cg * KH * KW, -1)

    def forward(self):
        x, w, G = self.x, self.w, self.G
        O, OH, OW, N = w.shape[0], self.OH, self.OW, x.shape[3]
        out = np.empty((O, OH, OW, N), dtype=x.dtype)
        wm, bias = self.wm, None if self.b is None else self.b.reshape(O, 1, 1, 1)

        def block(sl):
            col = self._columns(sl)
            nb = col.shape[2] // (OH * OW)
            if nb == N:             # one block: the GEMM writes the output itself
                np.matmul(wm, col, out=out.reshape(G, O // G, -1))
                if bias is not None:
                    np.add(out, bias, out=out)
                return
            res = backend.scratch("conv.out", (G, O // G, col.shape[2]), x.dtype)
            np.matmul(wm, col, out=res)
            res = res.reshape(O, OH, OW, nb)
            if bias is None:
                np.copyto(out[..., sl], res)
            else:
                np.add(res, bias, out=out[..., sl])
        backend.parallel_blocks(block, self.blocks)
        if not self.needs[1]:       # only the weight gradient reads the input again
            self.x = None
        return out.transpose(3, 0, 1, 2)

    def backward(self, g):
        w, G = self.w, self.G
        C, H, W, N = self.xshape
        O, Cg, KH, KW = w.shape
        OH, OW, (ph, pw), stride, dilation = self.OH, self.OW, self.padding, self.stride, self.dilation
        need_x, need_w, need_b = self.needs
        gl = g.transpose(1, 2, 3, 0)            # (O, OH, OW, N): a view of a batch-last g
        gx = np.empty((C, H, W, N), dtype=g.dtype) if need_x else None
        wm = self.wm
        by_columns = need_x and stride == (1, 1) and 1 < KH * KW and O // G <= Cg and \
            ph <= dilation[0] * (KH - 1) and pw <= dilation[1] * (KW - 1)
        if by_columns:
            # wf[g, c, (o, i, j)] = w[g * Og + o, c, KH-1-i, KW-1-j]
            wf = w[:, :, ::-1, ::-1].reshape(G, O // G, Cg, KH, KW).transpose(0, 2, 1, 3, 4)
            wf = np.ascontiguousarray(wf).reshape(G, Cg, O // G * KH * KW)

        def block(sl):
            gb = backend.scratch("conv.g", (O, OH, OW, sl.stop - sl.start), g.dtype)
            np.copyto(gb, gl[..., sl])
            nb = gb.shape[3]
            g2 = gb.reshape(G, O // G, -1)
            parts = [g2.reshape(O, -1).sum(axis=1) if need_b else None, None]
            if need_w:
                col = self._columns(sl)
                parts[1] = np.matmul(col, g2.transpose(0, 2, 1))        # (G, K, Og)
            if by_columns:
                # stride 1: the input gradient is the conv of g padded by d*(k-1) - p with the
                # flipped kernel, one im2col and one GEMM with no tap-by-tap accumulation after
                qh, qw = dilation[0] * (KH - 1) - ph, dilation[1] * (KW - 1) - pw
                gp = _padded("conv.gpad", gb, qh, qw)
                col = backend.scratch("conv.gcol", (O, KH, KW, H, W, nb), g.dtype)
                np.copyto(col, _block_windows(gp, KH, KW, H, W, (1, 1), dilation))
                res = backend.scratch("conv.gx", (G, Cg, H * W * nb), g.dtype)
                np.matmul(wf, col.reshape(G, O // G * KH * KW, -1), out=res)
                np.copyto(gx[..., sl], res.reshape(C, H, W, nb))
            elif need_x:
                gcol = backend.scratch("conv.gcol", (G, Cg * KH * KW, OH * OW * nb), g.dtype)
                np.matmul(wm.transpose(0, 2, 1), g2, out=gcol)
                gcol = gcol.reshape(C, KH, KW, OH, OW, nb)
                acc = backend.scratch("conv.gxpad", (C, H + 2 * ph, W + 2 * pw, nb), g.dtype)
                acc[...] = 0
                for i in range(KH):
                    for j in range(KW):
                        rows, cols = tap(i, j, OH, OW, stride, dilation)
                        acc[:, rows, cols] += gcol[:, i, j]
                np.copyto(gx[..., sl], acc[:, ph:ph + H, pw:pw + W])
            return parts
        parts = backend.parallel_blocks(block, self.blocks)
        gb = gw = None
        if need_b:
            gb = parts[0][0]
            for p in parts[1:]:
                gb = gb + p[0]
        if need_w:
            gw = parts[0][1]
            for p in parts[1:]:
                gw = gw + p[1]
            gw = np.ascontiguousarray(gw.transpose(0, 2, 1)).reshape(w.shape)
        return (gx.transpose(3, 0, 1, 2) if need_x else None), gw, gb


# --- stride 1: the taps as shifted GEMMs, with no column matrix -------------------------------
# Stored (C, Hp + 1, Wp, N) and flattened to (C, L), a padded batch-last input holds, for every
# tap (i, j), the values that tap reads for all outputs of rows r0..r1 as ONE contiguous run per
# channel, [off + r0 * Wp * N, off + r1 * Wp * N) with off = (i * dh * Wp + j * dw) * N, if the
# output is computed over the padded width Wp (its columns OW..Wp are garbage, dropped when copied
# out; the extra row keeps the last tap's run inside the buffer). So the conv is a sum of KH*KW
# GEMMs W[:, :, i, j] (O, C) @ run (C, rows * Wp * N), each reading its run in place and
# accumulating in place (backend.gemm_taps: BLAS's beta, no temporaries, no im2col copy). The
# weight gradient walks output rows with g's row (no garbage: OW*N values) as the left factor
# (backend.gemm_taps_t), summed per block of rows, then once; the input gradient is this forward
# on g padded by d*(k-1) - p with the kernel flipped.
# Measured in whole ResNet-20 train steps at batch 128 (profiler, per call, against the route
# before: a NumPy matmul into a temporary and an add per tap, and im2col on 7x7 maps): 16->16 at
# 28x28 forward 8.7 -> 8.1 ms, backward 14.8 -> 11.6; 32->32 at 14x14 8.7 -> 5.2 and
# 14.4 -> 10.8; 64->64 at 7x7 forward 5.6 -> 3.9; the step 521-545 -> 442 ms.
SHIFTED_MIN_CHANNELS = 8     # below this the per-tap GEMMs are too thin (K = C): im2col wins


def _pad(x_bl, ph, pw, dtype):
    """x_bl (C, H, W, N) zero-padded to (C, H + 2ph + 1, W + 2pw, N): the extra row of zeros keeps
    the last tap's run of a block computed over the padded width inside the buffer."""
    C, H, W, N = x_bl.shape
    buf = np.empty((C, H + 2 * ph + 1, W + 2 * pw, N), dtype=dtype)
    buf[:, :ph] = 0
    buf[:, ph + H:] = 0
    if pw:
        buf[:, ph:ph + H, :pw] = 0
        buf[:, ph:ph + H, pw + W:] = 0
    buf[:, ph:ph + H, pw:pw + W] = x_bl
    return buf


def _tap_offsets(KH, KW, dilation, Wp, N):
    """Where every tap's run starts, from the start of its output row's input row, in elements."""
    (dh, dw) = dilation
    return [(i * dh * Wp + j * dw) * N for i in range(KH) for j in range(KW)]


def _shifted_forward(xpad, wt, KH, KW, dilation, OH, OW, out, bias=None):
    """out (O, OH, OW, N) = the stride-1 conv of xpad with the taps wt.

    Notation: xpad (C, Hp + 1, Wp, N) from _pad, wt (KH*KW, O, C) in (i, j) order.

    Blocks of output rows, computed over the padded width (the columns OW..Wp are garbage, dropped
    when the block is copied out), so a tap's run for the whole block is one GEMM of the block's
    length L; one after the other, each GEMM on BLAS's own threads (the 16->16 GEMMs at
    L = 15360 ran at 106 GFLOP/s on 2 threads against 57 on one; the blocks split over two Python
    threads with 1-thread BLAS took 7.6 ms against 4.3 for this layer's forward). Blocks come
    from backend.gemm_blocks: a tap's runs and the block's result fit one core's L2 cache.
    """
    C, _, Wp, N = xpad.shape
    O = wt.shape[1]
    R = Wp * N                      # elements of one padded row
    xf = xpad.reshape(C, -1)
    offsets = _tap_offsets(KH, KW, dilation, Wp, N)
    blocks = backend.gemm_blocks(OH, xpad.itemsize * (C + O) * R)
    acc = backend.scratch("shift.acc", (O, (blocks[0].stop - blocks[0].start) * R), xpad.dtype)
    bias = None if bias is None else bias.reshape(O, 1, 1, 1)
    for sl in blocks:
        r0, nr = sl.start, sl.stop - sl.start
        res = acc[:, :nr * R]
        backend.gemm_taps(wt, xf, [r0 * R + o for o in offsets], res)
        res = res.reshape(O, nr, Wp, N)[:, :, :OW]
        if bias is None:
            np.copyto(out[:, r0:r0 + nr], res)
        else:
            np.add(res, bias, out=out[:, r0:r0 + nr])
    return out


# From 32 channels on, the weight gradient of a row runs faster as ONE GEMM with the row's 9 runs
# copied under each other, (O, L) @ (L, T*C), than as T GEMMs with (O, C) outputs: OpenBLAS runs
# a 32x288 output at 117 GFLOP/s against 53 for 32x32 (K = 1792, 2 threads); ResNet-20 train
# step at batch 128, interleaved, two runs: 415.0 -> 404.5 and 411.2 -> 404.6 ms (32->32 at 14x14:
# 8.0 -> 5.9 ms, 64->64 at 7x7: 4.7 -> 3.8). With 16 channels (16x144 output) it gains nothing.
WGRAD_IM2COL_MIN_CHANNELS = 32


def _shifted_weight_grad(xpad, g_bl, KH, KW, dilation):
    """(T, O, C): for every tap, sum over all outputs of g (O, OH, OW, N) times what the tap read."""
    C, _, Wp, N = xpad.shape
    O, OH, OW, _ = g_bl.shape
    T, R, L = KH * KW, Wp * N, OW * N
    xf, gf = xpad.reshape(C, -1), g_bl.reshape(O, -1)
    offsets = _tap_offsets(KH, KW, dilation, Wp, N)
    by_columns = C >= WGRAD_IM2COL_MIN_CHANNELS

    def block(sl):
        if not by_columns:
            part = np.empty((T, O, C), dtype=xpad.dtype)
            for y in range(sl.start, sl.stop):
                backend.gemm_taps_t(gf[:, y * L:(y + 1) * L], xf, [y * R + o for o in offsets], part,
                                    beta=0.0 if y == sl.start else 1.0)
            return part
        part = np.empty((O, T * C), dtype=xpad.dtype)
        col = backend.scratch("shift.wcol", (T * C, L), xpad.dtype)
        for y in range(sl.start, sl.stop):
            for t, o in enumerate(offsets):
                np.copyto(col[t * C:(t + 1) * C], xf[:, y * R + o:y * R + o + L])
            backend.gemm(gf[:, y * L:(y + 1) * L], col.T, part, beta=0.0 if y == sl.start else 1.0)
        return part.reshape(O, T, C).transpose(1, 0, 2)
    blocks = backend.plan_blocks(backend.CPU, OH, xpad.itemsize * (C * R * KH + O * L),
                                 flops_per_sample=2 * T * O * C * L)
    parts = backend.parallel_blocks(block, blocks)
    total = np.ascontiguousarray(parts[0])
    for p in parts[1:]:
        total += p
    return total


class _ShiftedConv:
    """A stride-1, one-group conv2d on the CPU as shifted GEMMs (see above). Notation as Conv2d."""

    def __init__(self, x, w, b, padding, dilation, needs):
        N, C, H, W = x.shape
        O, _, KH, KW = w.shape
        (ph, pw), (dh, dw) = padding, dilation
        self.w, self.b, self.needs, self.padding, self.dilation = w, b, needs, padding, dilation
        self.OH, self.OW = H + 2 * ph - dh * (KH - 1), W + 2 * pw - dw * (KW - 1)
        self.xshape = (C, H, W, N)
        self.xpad = _pad(_as_batch_last(x), ph, pw, x.dtype)

    def forward(self):
        O, C, KH, KW = self.w.shape
        N = self.xshape[3]
        wt = np.ascontiguousarray(self.w.transpose(2, 3, 0, 1)).reshape(KH * KW, O, C)
        out = np.empty((O, self.OH, self.OW, N), dtype=self.xpad.dtype)
        _shifted_forward(self.xpad, wt, KH, KW, self.dilation, self.OH, self.OW, out, self.b)
        if not self.needs[1]:
            self.xpad = None
        return out.transpose(3, 0, 1, 2)

    def backward(self, g):
        O, C, KH, KW = self.w.shape
        _, H, W, N = self.xshape
        (ph, pw), (dh, dw) = self.padding, self.dilation
        need_x, need_w, need_b = self.needs
        g_bl = _as_batch_last(g)                         # (O, OH, OW, N)
        gx = gw = gb = None
        if need_b:
            gb = g_bl.reshape(O, -1).sum(axis=1)
        if need_w:
            parts = _shifted_weight_grad(self.xpad, g_bl, KH, KW, self.dilation)
            gw = np.ascontiguousarray(parts.reshape(KH, KW, O, C).transpose(2, 3, 0, 1))
        if need_x:
            gpad = _pad(g_bl, dh * (KH - 1) - ph, dw * (KW - 1) - pw, g.dtype)
            # tap (i, j) of the flipped kernel: w[:, :, KH-1-i, KW-1-j].T, (C, O)
            wf = np.ascontiguousarray(self.w[:, :, ::-1, ::-1].transpose(2, 3, 1, 0)).reshape(KH * KW, C, O)
            gx = np.empty((C, H, W, N), dtype=g.dtype)
            _shifted_forward(gpad, wf, KH, KW, self.dilation, H, W, gx)
            gx = gx.transpose(3, 0, 1, 2)
        return gx, gw, gb


def _use_shifted(x, w, stride, padding, dilation, groups):
    O, Cg, KH, KW = w.shape
    return (stride == (1, 1) and groups == 1 and min(Cg, O) >= SHIFTED_MIN_CHANNELS
            and padding[0] <= dilation[0] * (KH - 1) and padding[1] <= dilation[1] * (KW - 1))


# --- 1-D and 3-D convolution and transposed convolution, all on top of conv2d -----------------------
#
# Notation: N batch, C input / O output channels, G groups (Cg = C/G), L length, D/H/W depth,
# height, width, K* kernel, O* output sizes; ``nd`` the number of spatial dims.
#
# Design: every convolution here is conv2d (above) on a view or a reshaped copy, so it shares that
# op's blocked, batch-last GEMMs and its tested gradients, and the graph differentiates it by
# composition of slicing, reshape/permute, stack and conv2d:
# - conv1d is conv2d with a unit height (views only).
# - conv3d stacks the KD depth taps of every output plane into the channels, (N, C, Dp, H, W) ->
#   (N*OD, C*KD, H, W), and runs ONE conv2d with the weight (O, Cg*KD, KH, KW) (a free reshape):
#   the GEMM then sums over Cg*KD*KH*KW at once, as a 3-D im2col would, where a sum of KD 2-D
#   convolutions would pay KD smaller GEMMs and KD full-size additions forward and backward.
# - conv_transpose is the input gradient of a conv written as a conv: the input stuffed with
#   stride-1 zeros between samples and padded by dilation*(k-1) - padding (output_padding more on
#   the far side; a negative amount crops), convolved at stride 1 with the kernel flipped and its
#   in/out channels swapped per group. Zero-stuffing wastes (stride**nd - 1)/stride**nd of the
#   GEMM's multiplies; so with dilation 1 and kernels at least the stride (the decoder case) the
#   output is computed instead as stride**nd interleaved phases, each a stride-1 conv of the
#   unstuffed input with the taps of the kernel that reach it (``_by_phases``): 3-3.5x faster than
#   stuffing on 64 channels at stride 2. Both share conv2d's code rather than duplicating its backward.


def ntuple(v, n, name):
    """An int or a sequence of n ints as a tuple of n ints."""
    if isinstance(v, int):
        return (v,) * n
    try:
        t = tuple(int(a) for a in v)
    except (TypeError, ValueError):
        t = ()
    if len(t) != n:
        raise TypeError(f"{name} must be an int or a sequence of {n} ints, got {v!r}")
    return t


def same_or_valid(padding, kernel, dilation, stride, exc=ValueError):
    """The (lo, hi) padding of each spatial dim that 'valid' or 'same' stand for: 'same' pads
    dilation*(k-1) in total, the odd one more on the far side, as torch does; it needs stride 1."""
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding != "same":
        raise ValueError(f"Invalid padding string {padding!r}, should be one of ('valid', 'same')")
    if any(s != 1 for s in stride):
        raise exc("padding='same' is not supported for strided convolutions")
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
    return [(t // 2, t - t // 2) for t in totals]


def _explicit(x, padding, kernel, dilation, stride, nd):
    """``x`` and a symmetric numeric padding: a string is resolved, and an odd 'same' total is
    padded onto the far side of ``x`` first."""
    if not isinstance(padding, str):
        return x, ntuple(padding, nd, "padding")
    lohi = same_or_valid(padding, kernel, dilation, stride, RuntimeError)
    if all(lo == hi for lo, hi in lohi):
        return x, tuple(lo for lo, _ in lohi)
    extra = []
    for lo, hi in reversed(lohi):
        extra += [0, hi - lo]
    return x.pad(tuple(extra)), tuple(lo for lo, _ in lohi)


def _check(name, x, w, bias, stride, padding, dilation, groups, nd, transposed=False):
    """torch's checks of a conv's arguments, naming the shapes; ``x`` already has its batch dim."""
    def err(msg):
        return ValueError(f"{name}: {msg} (input shape {tuple(x.shape)}, weight shape {tuple(w.shape)})")
    if w.ndim != nd + 2:
        raise err(f"weight must be {nd + 2}-D")
    if x.ndim != nd + 2:
        raise err(f"input must be {nd + 1}-D (unbatched) or {nd + 2}-D (batched)")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{name}: stride {stride} and dilation {dilation} must be >= 1 and padding "
                         f"{padding} >= 0")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    C = x.shape[1]
    if transposed:
        if w.shape[0] != C:
            raise err(f"expected {w.shape[0]} input channels (weight's dim 0), got {C}")
        if C % groups:
            raise err(f"groups={groups} must divide the {C} input channels")
    else:
        O, Cg = w.shape[:2]
        if C % groups or O % groups:
            raise err(f"groups={groups} must divide both the {C} input and {O} output channels")
        if C != Cg * groups:
            raise err(f"expected {Cg * groups} input channels (weight's {Cg} x groups={groups}), got {C}")
        for i in range(nd):
            size, k, p, d = x.shape[2 + i], w.shape[2 + i], padding[i], dilation[i]
            if size + 2 * p < d * (k - 1) + 1:
                raise err(f"the dilated kernel size {d * (k - 1) + 1} of spatial dim {i} is larger "
                          f"than the padded input size {size + 2 * p}")
    if x.dtype != w.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"{name}: input, weight and bias must share one dtype, got {x.dtype}, "
                        f"{w.dtype}, {None if bias is None else bias.dtype}")
    O = w.shape[1] * groups if transposed else w.shape[0]
    if bias is not None and tuple(bias.shape) != (O,):
        raise ValueError(f"{name}: bias must have shape ({O},), got {tuple(bias.shape)}")


def _unbatched(fn, x, nd, *args):
    """torch's unbatched form: an input of nd+1 dims is run as a batch of one."""
    if x.ndim == nd + 1:
        return fn(x.unsqueeze(0), *args).squeeze(0)
    return fn(x, *args)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) as torch.nn.functional.conv1d.

    Notation: x (N, C, L) or (C, L), weight (O, C/groups, K), bias (O,) -> (N, O, OL) with
    OL = (L + 2*padding - dilation*(K-1) - 1) // stride + 1; padding may be 'same' or 'valid'.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.conv1d(thw.ones(2, 3, 10), thw.ones(4, 3, 3), stride=2).shape
    (2, 4, 4)
    """
    return _unbatched(_conv1d, input, 1, weight, bias, stride, padding, dilation, groups)


def _conv1d(x, w, bias, stride, padding, dilation, groups):
    stride, dilation = ntuple(stride, 1, "stride"), ntuple(dilation, 1, "dilation")
    # a string with a weight of the wrong rank: the check below names the weight's shape
    x, padding = _explicit(x, padding, w.shape[2:], dilation, stride, 1) if w.ndim == 3 else \
        (x, 0 if isinstance(padding, str) else padding)
    _check("conv1d", x, w, bias, stride, ntuple(padding, 1, "padding"), dilation, groups, 1)
    out = conv2d(x.unsqueeze(2), w.unsqueeze(2), bias, (1,) + stride, (0,) + tuple(padding),
                 (1,) + dilation, groups)
    return out.squeeze(2)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) as torch.nn.functional.conv3d.

    Notation: x (N, C, D, H, W) or (C, D, H, W), weight (O, C/groups, KD, KH, KW), bias (O,)
    -> (N, O, OD, OH, OW); padding may be 'same' or 'valid'.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.conv3d(thw.ones(1, 2, 4, 5, 6), thw.ones(3, 2, 3, 3, 3), padding=1).shape
    (1, 3, 4, 5, 6)
    """
    return _unbatched(_conv3d, input, 3, weight, bias, stride, padding, dilation, groups)


def _conv3d(x, w, bias, stride, padding, dilation, groups):
    stride, dilation = ntuple(stride, 3, "stride"), ntuple(dilation, 3, "dilation")
    x, padding = _explicit(x, padding, w.shape[2:], dilation, stride, 3) if w.ndim == 5 else \
        (x, 0 if isinstance(padding, str) else padding)
    padding = ntuple(padding, 3, "padding")
    _check("conv3d", x, w, bias, stride, padding, dilation, groups, 3)
    N, C, D, H, W = x.shape
    O, Cg, KD, KH, KW = w.shape
    (sd, pd, dd) = stride[0], padding[0], dilation[0]
    if pd:
        x = x.pad((0, 0, 0, 0, pd, pd))
    OD = out_size(D, KD, sd, pd, dd)
    # taps[n, od, c, i] = x[n, c, i*dd + od*sd]: depth taps as channels (c major, as the weight)
    taps = [x[:, :, i * dd:i * dd + sd * (OD - 1) + 1:sd] for i in range(KD)]
    cols = (taps[0].unsqueeze(2) if KD == 1 else _stack(taps, dim=2)).permute(0, 3, 1, 2, 4, 5)
    cols = cols.reshape(N * OD, C * KD, H, W)
    out = conv2d(cols, w.reshape(O, Cg * KD, KH, KW), bias, stride[1:], padding[1:], dilation[1:], groups)
    return out.reshape(N, OD, O, out.shape[2], out.shape[3]).permute(0, 2, 1, 3, 4)


def _stack(tensors, dim):
    from ..ops import stack
    return stack(tensors, dim)


class StuffPad(Function):
    """Zeros between the samples of every spatial dim (``stride - 1`` of them) and ``lo``/``hi``
    zeros around, in one copy; the result is stored batch-last (C, *S, N) as conv2d reads it.

    Notation: x (N, C, *S) -> (N, C, *[lo + (s-1)*stride + 1 + hi]); backward reads the strided taps.
    """

    def forward(self, x, stride, lo, hi):
        xp, nd = self.xp, x.ndim - 2
        N, C = x.shape[:2]
        sizes = [a + (s - 1) * st + 1 + b for s, st, a, b in zip(x.shape[2:], stride, lo, hi)]
        self.where = (slice(None), slice(None)) + tuple(
            slice(a, a + (s - 1) * st + 1, st) for s, st, a in zip(x.shape[2:], stride, lo))
        out = xp.zeros([C] + sizes + [N], dtype=x.dtype).transpose(nd + 1, 0, *range(1, nd + 1))
        out[self.where] = x
        return out

    def backward(self, g):
        return (g[self.where],)


def _conv_transpose(name, nd, conv, x, w, bias, stride, padding, output_padding, groups, dilation):
    stride, padding = ntuple(stride, nd, "stride"), ntuple(padding, nd, "padding")
    output_padding, dilation = ntuple(output_padding, nd, "output_padding"), ntuple(dilation, nd, "dilation")
    _check(name, x, w, bias, stride, padding, dilation, groups, nd, transposed=True)
    if min(output_padding) < 0:
        raise ValueError(f"{name}: output_padding {output_padding} must be >= 0")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(f"{name}: output padding must be smaller than either stride or dilation, "
                           f"got output_padding {output_padding}, stride {stride}, dilation {dilation}")
    C, Og, K = w.shape[0], w.shape[1], w.shape[2:]
    G = groups
    lo = [d * (k - 1) - p for k, p, d in zip(K, padding, dilation)]
    hi = [a + op for a, op in zip(lo, output_padding)]
    out_sizes = [(s - 1) * st + a + b - d * (k - 1) + 1
                 for s, st, a, b, d, k in zip(x.shape[2:], stride, lo, hi, dilation, K)]
    if min(out_sizes) < 1:
        raise ValueError(f"{name}: the output size {tuple(out_sizes)} would be below 1 (input shape "
                         f"{tuple(x.shape)}, weight shape {tuple(w.shape)}, stride {stride}, padding "
                         f"{padding}, dilation {dilation}, output_padding {output_padding})")
    # (C, Og, *K) -> (G*Og, C/G, *K), flipped: the conv whose input gradient this op is
    wf = w.reshape(G, C // G, Og, *K).transpose(1, 2).reshape(G * Og, C // G, *K)
    wf = wf.flip(*range(2, nd + 2))
    if all(s == 1 for s in stride) and lo == hi and min(lo) >= 0:
        return conv(x, wf, bias, 1, tuple(lo), dilation, G)
    if all(d == 1 for d in dilation) and all(k >= s for k, s in zip(K, stride)):
        return _by_phases(conv, x, wf, bias, stride, padding, out_sizes, G)
    x = StuffPad.apply(x, stride=stride, lo=tuple(max(a, 0) for a in lo), hi=tuple(max(b, 0) for b in hi))
    if min(lo) < 0 or min(hi) < 0:      # padding beyond dilation*(k-1): crop what conv would drop
        x = x[(slice(None), slice(None)) + tuple(slice(max(-a, 0), n - max(-b, 0))
                                                 for a, b, n in zip(lo, hi, x.shape[2:]))]
    return conv(x, wf, bias, 1, 0, dilation, G)


def _pad_or_crop(x, lohi):
    """``x`` with (lo, hi) added to each spatial dim: zeros where positive, cropped where negative."""
    crop = (slice(None), slice(None)) + tuple(slice(max(-a, 0), n - max(-b, 0))
                                              for (a, b), n in zip(lohi, x.shape[2:]))
    if any(a < 0 or b < 0 for a, b in lohi):
        x = x[crop]
    flat = []
    for a, b in reversed(lohi):
        flat += [max(a, 0), max(b, 0)]
    return x.pad(tuple(flat)) if any(flat) else x


def _by_phases(conv, x, wf, bias, stride, padding, out_sizes, G):
    """A transposed conv (dilation 1, every kernel size >= its stride) as stride**nd small convs.

    Output t = m*s + r of a dim (phase r) sums only the taps j = c + q*s with c = (r + p) % s:
    a stride-1 correlation of x, padded or cropped per phase, with the flipped kernel's taps
    ``wf[..., k-1-c-(Q-1)*s :: s]`` (Q of them). No multiplication by a stuffed zero happens: the
    GEMMs shrink by stride**nd against zero-stuffing. Every phase computes M = ceil(OL/s)
    outputs so that stacking the phases after their dims and merging (M, s) interleaves them.

    Notation: x (N, C, *L), wf (O, C/G, *K) flipped, -> (N, O, *OL).
    """
    from itertools import product
    nd = x.ndim - 2
    K, L = wf.shape[2:], x.shape[2:]
    M = [-(-ol // s) for ol, s in zip(out_sizes, stride)]
    phases = {}
    for r in product(*(range(s) for s in stride)):
        taps, lohi = [], []
        for i in range(nd):
            s, k, m = stride[i], K[i], M[i]
            c = (r[i] + padding[i]) % s
            Q = -(-(k - c) // s)
            lp = Q - 1 - (r[i] + padding[i] - c) // s
            taps.append(slice(k - 1 - c - (Q - 1) * s, None, s))
            lohi.append((lp, m + Q - 1 - L[i] - lp))
        sym = tuple(max(min(a, b), 0) for a, b in lohi)     # the conv pads these itself
        xr = _pad_or_crop(x, [(a - p, b - p) for (a, b), p in zip(lohi, sym)])
        phases[r] = conv(xr, wf[(slice(None), slice(None)) + tuple(taps)], None, 1, sym, 1, G)

    def interleave(prefix):
        # phases sharing ``prefix``, stacked right after dim i (deeper dims have theirs already)
        if len(prefix) == nd:
            return phases[prefix]
        i = len(prefix)
        return _stack([interleave(prefix + (r,)) for r in range(stride[i])], dim=3 + i)
    out = interleave(())
    out = out.reshape(x.shape[0], wf.shape[0], *[m * s for m, s in zip(M, stride)])
    out = out[(slice(None), slice(None)) + tuple(slice(0, ol) for ol in out_sizes)]
    if bias is not None:
        out = out + bias.reshape(-1, *(1,) * nd)
    return out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution as torch.nn.functional.conv_transpose1d (the input gradient of conv1d).

    Notation: x (N, C, L) or (C, L), weight (C, O/groups, K), bias (O,) -> (N, O, OL) with
    OL = (L-1)*stride - 2*padding + dilation*(K-1) + output_padding + 1.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.conv_transpose1d(thw.ones(1, 2, 5), thw.ones(2, 3, 3), stride=2).shape
    (1, 3, 11)
    """
    return _unbatched(lambda *a: _conv_transpose("conv_transpose1d", 1, _conv1d, *a), input, 1, weight,
                      bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution as torch.nn.functional.conv_transpose2d (the input gradient of conv2d).

    Notation: x (N, C, H, W) or (C, H, W), weight (C, O/groups, KH, KW), bias (O,) -> (N, O, OH, OW)
    with OH = (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.conv_transpose2d(thw.ones(1, 2, 4, 4), thw.ones(2, 3, 2, 2), stride=2).shape
    (1, 3, 8, 8)
    """
    return _unbatched(lambda *a: _conv_transpose("conv_transpose2d", 2, conv2d, *a), input, 2, weight,
                      bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution as torch.nn.functional.conv_transpose3d (the input gradient of conv3d).

    Notation: x (N, C, D, H, W) or (C, D, H, W), weight (C, O/groups, KD, KH, KW), bias (O,)
    -> (N, O, OD, OH, OW), each size (S-1)*stride - 2*padding + dilation*(K-1) + output_padding + 1.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.conv_transpose3d(thw.ones(1, 2, 2, 3, 3), thw.ones(2, 1, 2, 2, 2), stride=2).shape
    (1, 1, 4, 6, 6)
    """
    return _unbatched(lambda *a: _conv_transpose("conv_transpose3d", 3, _conv3d, *a), input, 3, weight,
                      bias, stride, padding, output_padding, groups, dilation)
