"""Batch normalisation as one Function and its functional wrapper ``batch_norm``."""
import numpy as np

from .. import backend
from ..tensor import Function, Tensor


# On the CPU a large batch norm runs in blocks on the backend's pool. x is viewed, without a copy,
# as its memory: a C-contiguous (P, C, Q) array, P the axes laid out outside the channel axis,
# Q those inside (batch-last conv outputs: (1, C, H*W*N); NCHW: (N, C, H*W)). Blocks of
# channels are used when the channels are the outermost memory axis (P = 1): each block is a
# contiguous slab, each channel's statistics are complete within its block (nothing to combine),
# and a block reads x once and writes the output once while it sits in cache. Otherwise blocks go
# over P (contiguous slabs again), with per-block partial sums per channel added in block order.
# Channel blocks of an NCHW array (P = N runs per block) measured slower than P blocks: eval
# forward of 128x16x28x28, one thread, 2.9 ms against 1.4 ms.
# Measured (2 threads, machine shared, load ~0.9; medians of 21 interleaved runs; forward and
# backward of training, 128x16x28x28 float32, each including ~3 ms the engine spends copying the
# leaf input's gradient): batch-last 24.5 ms before, 10.0 ms now (torch 4.9 ms); NCHW 9.6 ms
# before, 7.8 ms now (torch 5.6 ms); (N, C) = 4096x256: 5.5 ms before, 5.2 ms now. With a 0.2 s
# idle pause before each timed call (benchmarks.ops' settle) the NCHW case measures slower than
# before instead: 9.1 ms before, 11.8 ms now (batch-last: 23.1 ms before, 11.4 ms now).


def _memory_view(xp, x):
    """(order, v): the axis order of x in memory (outermost first) and x as a C-contiguous
    (P, C, Q) view (of a C-contiguous copy when x's memory is not dense)."""
    order = sorted(range(x.ndim), key=lambda k: -x.strides[k])
    t = x.transpose(order)
    if not t.flags.c_contiguous:
        order = list(range(x.ndim))
        t = xp.ascontiguousarray(x)
    pos = order.index(1)
    P = int(np.prod(t.shape[:pos], dtype=np.int64))
    Q = int(np.prod(t.shape[pos + 1:], dtype=np.int64))
    return order, t.reshape(P, x.shape[1], Q)


def _empty_view(xp, order, shape, dtype):
    """An empty array of ``shape`` laid out in memory in ``order``, and its (P, C, Q) view."""
    t = xp.empty(tuple(shape[k] for k in order), dtype=dtype)
    pos = order.index(1)
    P = int(np.prod(t.shape[:pos], dtype=np.int64))
    Q = int(np.prod(t.shape[pos + 1:], dtype=np.int64))
    return t.transpose(tuple(order.index(k) for k in range(len(shape)))), t.reshape(P, shape[1], Q)


def _plan(xp, v, arrays):
    """(axis, blocks) of the (P, C, Q) view v for an op touching ``arrays`` arrays of its size:
    axis 1 blocks channels, axis 0 blocks P (one channel block on a GPU or for small inputs)."""
    P, C, Q = v.shape
    if xp is not np or v.nbytes < backend.ELEMENTWISE_MIN_BYTES:
        return 1, [slice(0, C)]
    per_channel = P * Q * v.itemsize * arrays
    if P == 1:
        return 1, backend.plan_blocks(backend.CPU, C, per_channel)
    return 0, backend.plan_blocks(backend.CPU, P, C * Q * v.itemsize * arrays)


def _temp(xp, name, like):
    """A per-thread buffer shaped like the block ``like`` (a fresh array on a GPU)."""
    if xp is np:
        return backend.scratch(name, like.shape, like.dtype)
    return xp.empty(like.shape, dtype=like.dtype)


class BatchNorm(Function):
    """Notation: x (N, C, *S); per-channel statistics over the M = N * prod(S) values of a channel.

    Training normalises with the batch mean and biased variance (two passes: the mean, then the
    squares of x - mean) and updates the running arrays in place (the running variance with the
    unbiased one), as torch does. Output and input gradient keep x's memory layout. With
    channel blocks backward recomputes x - mean per block from the saved input (in cache, where
    its sums need it anyway); with blocks over P forward keeps x - mean.
    """

    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        xp = self.xp
        C = x.shape[1]
        self.onednn = None
        if xp is np and (training or not any(self.needs_input_grad)):
            self.onednn = _onednn_batch_norm(x, weight, bias, training, eps)
        if self.onednn is not None:
            return self._forward_onednn(x, weight, bias, running_mean, running_var, training, momentum)
        order, v = _memory_view(xp, x)
        out, ov = _empty_view(xp, order, x.shape, x.dtype)
        m = x.size // C if C else 0
        dt = x.dtype
        xc = None
        if training:
            mean, var = xp.empty(C, dtype=dt), xp.empty(C, dtype=dt)
        else:
            mean, var = running_mean.astype(dt, copy=False), running_var.astype(dt, copy=False)
        invstd, scale = xp.empty(C, dtype=dt), xp.empty(C, dtype=dt)
        shift = xp.zeros(C, dtype=dt) if bias is None else bias.astype(dt, copy=True)

        def affine(sl):
            invstd[sl] = 1.0 / xp.sqrt(var[sl] + eps)
            scale[sl] = invstd[sl] if weight is None else invstd[sl] * weight[sl]

        axis, blocks = _plan(xp, v, 2)
        if not training:
            affine(slice(None))
            shift -= mean * scale       # eval: out = x * scale + (bias - mean * scale), as torch

            def block(sl):
                idx = (slice(None), sl) if axis == 1 else (sl,)
                sc, sh = (scale[sl], shift[sl]) if axis == 1 else (scale, shift)
                ob = xp.multiply(v[idx], sc[None, :, None], out=ov[idx])
                ob += sh[None, :, None]
            backend.parallel_blocks(block, blocks)
        elif axis == 1:
            def block(sl):
                xb, ob = v[:, sl], ov[:, sl]
                s = mean[sl]
                xb.sum(axis=(0, 2), out=s)
                s /= m
                xp.subtract(xb, s[None, :, None], out=ob)
                var[sl] = xp.einsum("pcq,pcq->c", ob, ob) / m
                affine(sl)
                ob *= scale[sl][None, :, None]
                if bias is not None:
                    ob += shift[sl][None, :, None]
            backend.parallel_blocks(block, blocks)
        else:
            # x - mean is kept for backward here (P blocks would recompute it twice there)
            part = xp.empty((len(blocks), C), dtype=dt)
            numbered = list(enumerate(blocks))
            xc = xp.empty_like(v)

            def sums(kb):
                v[kb[1]].sum(axis=(0, 2), out=part[kb[0]])

            def squares(kb):
                k, sl = kb
                xb = xp.subtract(v[sl], mean[None, :, None], out=xc[sl])
                part[k] = xp.einsum("pcq,pcq->c", xb, xb)

            def normalise(kb):
                ob = xp.multiply(xc[kb[1]], scale[None, :, None], out=ov[kb[1]])
                if bias is not None:
                    ob += shift[None, :, None]
            backend.parallel_blocks(sums, numbered)
            part.sum(axis=0, out=mean)        # combined once, in block order
            mean /= m
            backend.parallel_blocks(squares, numbered)
            part.sum(axis=0, out=var)
            var /= m
            affine(slice(None))
            backend.parallel_blocks(normalise, numbered)
        if training:
            _update_running(running_mean, running_var, mean, var, m, momentum)
        if any(self.needs_input_grad):
            self.xc = xc if training and axis == 0 else None
            self.x, self.mean, self.invstd, self.scale = x, mean, invstd, scale
            self.training, self.order = training, order
        return out

    def _forward_onednn(self, x, weight, bias, running_mean, running_var, training, momentum):
        """The same on oneDNN (x channels-last float32 on the CPU; see _onednn_batch_norm). Output
        and input gradient keep x's layout."""
        C = x.shape[1]
        if training:
            mean, var = np.empty(C, dtype=np.float32), np.empty(C, dtype=np.float32)
        else:
            mean = np.ascontiguousarray(running_mean, dtype=np.float32)
            var = np.ascontiguousarray(running_var, dtype=np.float32)
        out = backend.empty_channels_last(x.shape, x.dtype)
        self.onednn.forward(x, mean, var, weight, bias, out)
        if training:
            _update_running(running_mean, running_var, mean, var, x.size // C, momentum)
        if any(self.needs_input_grad):
            self.x, self.mean, self.var, self.weight = x, mean, var, weight
        return out

    def backward(self, g):
        xp = self.xp
        if self.onednn is not None:
            need_x, need_w, need_b = self.needs_input_grad
            x = self.x
            g = backend.channels_last(g.astype(x.dtype, copy=False))
            gx, gw, gb = self.onednn.backward(x, self.mean, self.var, self.weight, g,
                                              backend.empty_channels_last(x.shape, x.dtype))
            return gx if need_x else None, gw if need_w else None, gb if need_b else None
        x, mean, invstd, scale, training = self.x, self.mean, self.invstd, self.scale, self.training
        need_x, need_w, need_b = self.needs_input_grad
        order, v = _memory_view(xp, x)
        gt = g.transpose(order)
        if not gt.flags.c_contiguous:      # into x's layout, so every block pairs like with like
            gt = xp.ascontiguousarray(gt)
        gv = gt.reshape(v.shape)
        C = x.shape[1]
        m = x.size // C if C else 0
        dt = g.dtype
        sg, sgx = xp.empty(C, dtype=dt), xp.empty(C, dtype=dt)
        gx = gxv = None
        if need_x:
            gx, gxv = _empty_view(xp, order, x.shape, dt)
        sums = training or need_w or need_b

        saved = self.xc         # x - mean as (P, C, Q), or None: recomputed per block

        def centred(idx, sl):
            """x - mean on a block: the saved one, or in a per-thread buffer."""
            if saved is not None:
                return saved[idx]
            return xp.subtract(v[idx], mean[sl][None, :, None], out=_temp(xp, "bn.xc", v[idx]))

        def block_sums(idx, sl):
            """Per-channel sums of g and of g * (x - mean) over a block; and x - mean."""
            xc = centred(idx, sl)
            return gv[idx].sum(axis=(0, 2)), xp.einsum("pcq,pcq->c", gv[idx], xc), xc

        def grad_x(idx, sl, xc=None):
            """gx = scale * (g - mean(g) - xhat * mean(g * xhat)) in training, else scale * g."""
            gxb = xp.multiply(gv[idx], scale[sl][None, :, None], out=gxv[idx])
            if training:
                k1 = (scale[sl] * invstd[sl] * sgx[sl] / m)[None, :, None]
                if saved is not None:       # never written: backward may run again
                    xc = xp.multiply(saved[idx], k1, out=_temp(xp, "bn.xc", gxb))
                else:
                    xc = centred(idx, sl) if xc is None else xc
                    xc *= k1
                gxb -= xc
                gxb -= (scale[sl] * sg[sl] / m)[None, :, None]

        axis, blocks = _plan(xp, v, 3)
        if axis == 1:       # each block holds whole channels: its sums are final
            def block(sl):
                idx, xc = (slice(None), sl), None
                if sums:
                    sg[sl], sgx[sl], xc = block_sums(idx, sl)
                    sgx[sl] *= invstd[sl]
                if need_x:
                    grad_x(idx, sl, xc)
            backend.parallel_blocks(block, blocks)
        else:               # partial sums per block, combined once in block order
            def partial(sl):
                part = block_sums((sl,), slice(None))[:2] if sums else None
                if need_x and not training:      # eval: gx needs no batch statistics
                    grad_x((sl,), slice(None))
                return part
            parts = backend.parallel_blocks(partial, blocks)
            if sums:
                sg[...], sgx[...] = parts[0]
                for a, b in parts[1:]:
                    sg += a
                    sgx += b
                sgx *= invstd
            if need_x and training:
                backend.parallel_blocks(lambda sl: grad_x((sl,), slice(None)), blocks)
        return gx, sgx if need_w else None, sg if need_b else None


def _update_running(running_mean, running_var, mean, var, m, momentum):
    """running = (1 - momentum) * running + momentum * batch statistic, in place (the variance's
    unbiased, over m values a channel), as torch."""
    if running_mean is not None:
        running_mean *= 1.0 - momentum
        running_mean += (momentum * mean).astype(running_mean.dtype, copy=False)
    if running_var is not None:
        running_var *= 1.0 - momentum
        running_var += (momentum * m / (m - 1) * var).astype(running_var.dtype, copy=False)


def _onednn_batch_norm(x, weight, bias, training, eps):
    """oneDNN's primitives for this batch norm, or None (the NumPy code above runs): for 4-D
    channels-last float32 arrays (what oneDNN's convolutions hand on) with float32 contiguous
    affine parameters, in training or in inference without gradients.

    Measured in ResNet-20 train steps at batch 128 on the 2-core VM (profiler, per step): its 21
    batch norms forward 51.1 -> 9.1 ms, backward 61.9 -> 10.6 ms, the step 235 -> 165 ms (NumPy's
    per-channel sums over a 16-64 wide inner axis run far below memory speed). Not for NCHW or
    (N, C) arrays: there oneDNN's kernel was the slower one (training forward + backward,
    128x16x28x28 12.1 against 8.2 ms on NumPy; 256x512 2.3 against 0.5 ms)."""
    if not backend.is_channels_last(x):
        return None
    for p in (weight, bias):
        if p is not None and (p.dtype != np.float32 or not p.flags.c_contiguous):
            return None
    return backend.onednn_batch_norm(x.shape, eps, weight is not None, bias is not None, training, x.dtype)


def _array(t):
    return t._data if isinstance(t, Tensor) else t


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over dim 1 of x (N, C) or (N, C, ...), as torch.nn.functional.batch_norm.

    ``running_mean``/``running_var`` (C,) Tensors (or None in training) are updated in place when
    ``training``: running = (1 - momentum) * running + momentum * batch_stat.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> rm, rv = thw.zeros(2), thw.ones(2)
    >>> y = F.batch_norm(thw.tensor([[1.0, 2.0], [3.0, 6.0]]), rm, rv, training=True)
    >>> [[round(v, 3) for v in row] for row in y.tolist()], [round(v, 3) for v in rm.tolist()]
    ([[-1.0, -1.0], [1.0, 1.0]], [0.2, 0.4])
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must have a channel dim (N, C, ...), got shape {x.shape}")
    C = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},) for input of shape {x.shape}, "
                             f"got {tuple(t.shape)}")
        dev = None if t is None else t.device if isinstance(t, Tensor) else backend.device_of_data(t)
        if dev is not None and dev is not x.device:     # raw arrays too: updated in place below
            raise RuntimeError(f"batch_norm: input is on {x.device} but {name} is on {dev}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    if training and x.numel() // C <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    if momentum is None:
        raise NotImplementedError("batch_norm: momentum=None (cumulative average) is kept by the module")
    return BatchNorm.apply(x, weight, bias, running_mean=_array(running_mean), running_var=_array(running_var),
                           training=bool(training), momentum=float(momentum), eps=float(eps))


# --- normalisation within each sample: layer norm, group norm, instance norm ------------------
# x viewed as (R, M): R rows (one per sample, or per sample and group) of M values each, normalised
# to zero mean and unit (biased) variance, then an affine that broadcasts against x's own shape.
# Backward of the standardisation: gx = invstd * (gh - mean(gh) - xhat * mean(gh * xhat)).
class Standardize(Function):
    """x of any shape, standardised over each row of ``x.reshape(rows)``; then ``* weight + bias``
    where weight/bias (or None) broadcast against x (weight_shape is their shape as viewed there)."""

    def forward(self, x, weight, bias, rows, affine_shape, eps):
        xp = self.xp
        xr = x.reshape(rows, -1)
        mean = xr.mean(axis=1, keepdims=True)
        xc = xr - mean
        var = xp.einsum("rm,rm->r", xc, xc)[:, None] / xr.shape[1]
        invstd = 1.0 / xp.sqrt(var + x.dtype.type(eps))
        xhat = (xc * invstd).reshape(x.shape)
        self.xhat, self.invstd, self.rows, self.affine_shape = xhat, invstd, rows, affine_shape
        self.weight = weight
        self.param_shape = weight.shape if weight is not None else bias.shape if bias is not None else None
        out = xhat if weight is None else xhat * weight.reshape(affine_shape)
        if bias is not None:
            out = out + bias.reshape(affine_shape)
        return out

    def _reduce_to_affine(self, a):
        """Sum ``a`` (x's shape) down to the affine parameters' (viewed) shape."""
        shape = self.affine_shape
        axes = tuple(i for i, s in enumerate(shape) if s == 1 and a.shape[i] != 1)
        return (a.sum(axis=axes) if axes else a).reshape(self.param_shape)

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad
        xhat = self.xhat
        gw = self._reduce_to_affine(g * xhat) if need_w else None
        gb = self._reduce_to_affine(g) if need_b else None
        gx = None
        if need_x:
            gh = g if self.weight is None else g * self.weight.reshape(self.affine_shape)
            ghr, xr = gh.reshape(self.rows, -1), xhat.reshape(self.rows, -1)
            m = ghr.shape[1]
            gx = self.invstd * (ghr - ghr.sum(axis=1, keepdims=True) / m
                                - xr * (self.xp.einsum("rm,rm->r", ghr, xr)[:, None] / m))
            gx = gx.reshape(g.shape)
        return gx, gw, gb


def _check_affine(name, t, size, x):
    if t is None:
        return None
    if tuple(t.shape) != size:
        raise ValueError(f"{name}: weight and bias must have shape {size} for input of shape {x.shape}, "
                         f"got {tuple(t.shape)}")
    if t.device is not x.device:
        raise RuntimeError(f"{name}: input is on {x.device} but an affine parameter is on {t.device}")
    return t


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims, as torch.nn.functional.layer_norm.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> [round(v, 4) for v in F.layer_norm(thw.tensor([[1.0, 3.0]]), (2,)).tolist()[0]]
    [-1.0, 1.0]
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the last dims of input "
                         f"shape {input.shape}")
    _check_affine("layer_norm", weight, shape, input)
    _check_affine("layer_norm", bias, shape, input)
    rows = int(np.prod(input.shape[:input.ndim - k], dtype=np.int64))
    affine = (1,) * (input.ndim - k) + shape
    return Standardize.apply(input, weight, bias, rows=rows, affine_shape=affine, eps=float(eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of ``num_groups`` channel groups of every sample (N, C, *), as torch."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected input (N, C, *), got shape {input.shape}")
    N, C = input.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise ValueError(f"group_norm: num_groups {num_groups} must divide the {C} channels of input {input.shape}")
    _check_affine("group_norm", weight, (C,), input)
    _check_affine("group_norm", bias, (C,), input)
    affine = (1, C) + (1,) * (input.ndim - 2)
    return Standardize.apply(input, weight, bias, rows=N * num_groups, affine_shape=affine, eps=float(eps))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample (N, C, *), as torch.nn.functional.instance_norm.

    With ``use_input_stats`` the statistics come from the input, and the running arrays, when
    given, are updated with their mean over the batch; otherwise the running arrays are used.
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *spatial), got shape {input.shape}")
    N, C = input.shape[:2]
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        return batch_norm(input, running_mean, running_var, weight, bias, training=False, eps=eps)
    if running_mean is not None or running_var is not None:
        xp = input.device.xp
        x = input._data.reshape(N, C, -1)
        m = x.shape[2]
        mean = x.mean(axis=2)
        var = x.var(axis=2) * (m / (m - 1) if m > 1 else 1.0)
        for run, stat in ((running_mean, mean), (running_var, var)):
            if run is not None:
                arr = run._data if isinstance(run, Tensor) else run
                arr *= 1.0 - momentum
                arr += xp.asarray(momentum * stat.mean(axis=0), dtype=arr.dtype)
    return group_norm(input, C, weight, bias, eps)
