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
        x, (O, Cg, KH, KW) = self.x, self.w.shape
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
# tap (i, j), the values that tap reads for all outputs of rows r0..r1 as ONE contiguous slice,
# [off + r0 * Wp * N, off + r1 * Wp * N) with off = (i * dh * Wp + j * dw) * N, if the output is
# computed over the padded width Wp (its columns OW..Wp are garbage, dropped when copied out; the
# extra row keeps the last tap's slice inside the buffer). So the conv is a sum of KH*KW GEMMs
# W[:, :, i, j] (O, C) @ slice (C, rows * Wp * N), straight from the input: no im2col copy, and
# the small GEMMs of a block of rows run in cache. The weight gradient is the same sum with
# g (zero in the garbage columns) as the left factor, and the input gradient is this forward on
# g padded by d*(k-1) - p with the kernel flipped. Blocks are rows of the output.
# (ResNet-20's 16->16 3x3 at batch 128 on 1 thread, CPU time: forward 10.5 ms and backward 21.6 ms
# against 15.6 and 30.0 ms for whole-batch im2col + GEMM; its GEMMs K = C are thin, so with
# fewer than SHIFTED_MIN_CHANNELS channels im2col wins: LeNet-5's 6->16 5x5, 3.3 ms against 2.4.)
SHIFTED_MIN_CHANNELS = 8     # below this the per-tap GEMMs are too thin (K = C): im2col wins


def _pad_flat(x_bl, ph, pw, dtype):
    """x_bl (C, H, W, N) zero-padded to (C, H + 2ph + 1, W + 2pw, N): the extra row is zeros."""
    C, H, W, N = x_bl.shape
    buf = np.empty((C, H + 2 * ph + 1, W + 2 * pw, N), dtype=dtype)
    buf[:, :ph] = 0
    buf[:, ph + H:] = 0
    if pw:
        buf[:, ph:ph + H, :pw] = 0
        buf[:, ph:ph + H, pw + W:] = 0
    buf[:, ph:ph + H, pw:pw + W] = x_bl
    return buf


def _row_blocks(rows, row_bytes, row_flops):
    return backend.plan_blocks(backend.CPU, rows, row_bytes, flops_per_sample=row_flops)


def _shifted_forward(xpad, wt, offsets, OH, OW, out, bias=None):
    """out (O, OH, OW, N) = sum_t wt[t] (O, C) @ (the slice of tap t), rows in blocks on the pool.

    Notation: xpad (C, Hp + 1, Wp, N) as from _pad_flat, wt (T, O, C), offsets (T,) in elements.
    """
    C, _, Wp, N = xpad.shape
    T, O, _ = wt.shape
    R = Wp * N                      # elements of one padded row
    xf = xpad.reshape(C, -1)
    dtype = xpad.dtype
    bias = None if bias is None else bias.reshape(O, 1, 1, 1)

    def block(sl):
        r0, nr = sl.start, sl.stop - sl.start
        L, base = nr * R, sl.start * R
        acc = backend.scratch("shift.acc", (O, L), dtype)
        tmp = backend.scratch("shift.tmp", (O, L), dtype) if T > 1 else None
        for t in range(T):
            src = xf[:, base + offsets[t]:base + offsets[t] + L]
            if t == 0:
                np.matmul(wt[0], src, out=acc)
            else:
                np.matmul(wt[t], src, out=tmp)
                acc += tmp
        res = acc.reshape(O, nr, Wp, N)[:, :, :OW]
        dst = out[:, r0:r0 + nr]
        if bias is None:
            np.copyto(dst, res)
        else:
            np.add(res, bias, out=dst)
    blocks = _row_blocks(OH, 4 * (C * R * 2 + 2 * O * R), 2 * T * O * C * R)
    backend.parallel_blocks(block, blocks)
    return out


def _shifted_weight_grad(xpad, g_bl, taps, offsets, OW):
    """(T, O, C): sum over positions of g (O, OH, OW, N) times the slice of every tap."""
    C, _, Wp, N = xpad.shape
    O, OH = g_bl.shape[:2]
    R = Wp * N
    xf = xpad.reshape(C, -1)
    dtype = xpad.dtype

    def block(sl):
        nr, base = sl.stop - sl.start, sl.start * R
        L = nr * R
        # g over the padded width, zero in the garbage columns so they add nothing
        ge = backend.scratch("shift.g", (O, nr, Wp, N), dtype, zero=True)
        np.copyto(ge[:, :, :OW], g_bl[:, sl])
        ge = ge.reshape(O, L)
        part = np.empty((taps, O, C), dtype=dtype)
        for t in range(taps):
            np.matmul(ge, xf[:, base + offsets[t]:base + offsets[t] + L].T, out=part[t])
        return part
    # blocks of rows sized to the cache, so the input rows that the taps share are read once
    blocks = _row_blocks(OH, 4 * (C * R * 2 + O * R), 2 * taps * O * C * R)
    parts = backend.parallel_blocks(block, blocks)
    total = parts[0]
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
        self.xpad = _pad_flat(_as_batch_last(x), ph, pw, x.dtype)
        self.Wp = W + 2 * pw
        self.offsets = [(i * dh * self.Wp + j * dw) * N for i in range(KH) for j in range(KW)]

    def forward(self):
        O, C, KH, KW = self.w.shape
        C_, H, W, N = self.xshape
        wt = np.ascontiguousarray(self.w.transpose(2, 3, 0, 1)).reshape(KH * KW, O, C)
        out = np.empty((O, self.OH, self.OW, N), dtype=self.xpad.dtype)
        _shifted_forward(self.xpad, wt, self.offsets, self.OH, self.OW, out, self.b)
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
            parts = _shifted_weight_grad(self.xpad, g_bl, KH * KW, self.offsets, self.OW)
            gw = np.ascontiguousarray(parts.reshape(KH, KW, O, C).transpose(2, 3, 0, 1))
        if need_x:
            qh, qw = dh * (KH - 1) - ph, dw * (KW - 1) - pw
            gpad = _pad_flat(g_bl, qh, qw, g.dtype)
            Wq = self.OW + 2 * qw
            offsets = [(i * dh * Wq + j * dw) * N for i in range(KH) for j in range(KW)]
            # tap (i, j) of the flipped kernel: w[:, :, KH-1-i, KW-1-j].T, (C, O)
            wf = np.ascontiguousarray(self.w[:, :, ::-1, ::-1].transpose(2, 3, 1, 0)).reshape(KH * KW, C, O)
            gx = np.empty((C, H, W, N), dtype=g.dtype)
            _shifted_forward(gpad, wf, offsets, H, W, gx)
            gx = gx.transpose(3, 0, 1, 2)
        return gx, gw, gb


def _use_shifted(x, w, stride, padding, dilation, groups):
    O, Cg, KH, KW = w.shape
    Wp = x.shape[3] + 2 * padding[1]
    OW = Wp - dilation[1] * (KW - 1)
    # the garbage columns (OW..Wp) cost work: on 7x7 maps (7 of 9) both routes measured alike
    return (stride == (1, 1) and groups == 1 and min(Cg, O) >= SHIFTED_MIN_CHANNELS
            and 8 * OW >= 7 * Wp
            and padding[0] <= dilation[0] * (KH - 1) and padding[1] <= dilation[1] * (KW - 1))
