"""oneDNN's convolutions, batch norms and max poolings for float32 NumPy arrays: the library's
C API through ctypes.

oneDNN (the ``onednn-cpu-gomp`` wheel: Intel's library, the one torch's CPU convolutions run on)
has direct convolution kernels for channels-last memory that run ResNet-20's thin 3x3 layers at
2-3x the speed of any formulation on NumPy's BLAS (their GEMMs have 16-64 output rows, where
OpenBLAS reaches a third of its peak), and batch-norm and pooling kernels that read such memory
in one or two vectorised passes. Only ``backend`` hands out these primitives; when the library is
not installed (or not on x86-64 Linux) the engine keeps its NumPy code.

Notation: x (N, C, H, W) and g (N, O, OH, OW) as NumPy views of channels-last memory, (N, H, W, C);
w (O, C/G, KH, KW) in any strides. Weights are reordered into the kernel's blocked format on each
call (a few microseconds for these sizes) and weight gradients back; activations never move.
"""
import ctypes
import os
import threading
from collections import OrderedDict

import numpy as np

_F32 = 3                                            # dnnl_f32
_ANY = 1                                            # dnnl_format_tag_any
_FORWARD_TRAINING, _FORWARD_INFERENCE = 64, 96      # dnnl_prop_kind_t
_DIRECT = 1                                         # dnnl_convolution_direct
_Q_SRC, _Q_DIFF_SRC, _Q_WEIGHTS, _Q_DIFF_WEIGHTS = 129, 130, 131, 132   # dnnl_query_t ..._md
_SRC, _DST, _WEIGHTS, _BIAS = 1, 17, 33, 41          # DNNL_ARG_*
_DIFF_SRC, _DIFF_DST, _DIFF_WEIGHTS, _DIFF_BIAS = 129, 145, 161, 169
_BACKWARD, _BACKWARD_DATA = 128, 160                # dnnl_prop_kind_t
_MEAN, _VARIANCE, _SCALE, _SHIFT = 49, 50, 51, 52    # DNNL_ARG_*
_DIFF_SCALE, _DIFF_SHIFT = 255, 256
_USE_GLOBAL_STATS, _USE_SCALE, _USE_SHIFT = 0x1, 0x2, 0x4   # dnnl_normalization_flags_t
_POOLING_MAX = 0x1ff                                # dnnl_alg_kind_t
_Q_WORKSPACE = 135                                  # dnnl_query_workspace_md
_WORKSPACE = 64                                     # DNNL_ARG_WORKSPACE
_PACKAGE, _SONAME = "onednn-cpu-gomp", "libdnnl.so.3"

_Dims = ctypes.c_int64 * 12
_vp = ctypes.c_void_p


class _Arg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", _vp)]


_lib = None           # the loaded library; False once loading failed
_engine = _stream = None
_lock = threading.Lock()
_cache = OrderedDict()
CACHE_SIZE = 256      # primitives kept (ResNet-20 uses 12 shapes of conv, three primitives each)


def _library_path():
    """THW_ONEDNN_LIBRARY, else the file the onednn-cpu-gomp wheel installed, else None."""
    path = os.environ.get("THW_ONEDNN_LIBRARY")
    if path:
        return path
    try:
        from importlib.metadata import PackageNotFoundError, distribution
        dist = distribution(_PACKAGE)
    except (ImportError, PackageNotFoundError):
        return None
    for f in dist.files or ():
        if f.name == _SONAME:
            return str(dist.locate_file(f))
    return None


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"oneDNN: {what} failed with status {status}")


def load():
    """The library, loaded once (None when it is not installed or does not load)."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                _lib = _open()
    return _lib or None


def _open():
    path = _library_path()
    if os.environ.get("THW_ONEDNN", "1") == "0" or path is None:
        return False
    # Idle OpenMP threads sleep at once instead of spinning: on 2 cores a spinning oneDNN thread
    # took the core from OpenBLAS's threads between convs (LeNet-5 inference at batch 64, 8.0 ms
    # a step spinning, 1.7 ms passive). libgomp reads this when it loads, so it is set for that
    # moment only (an explicit setting is kept) and torch's own OpenMP runtime is not touched.
    saved = os.environ.get("OMP_WAIT_POLICY")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return False
    finally:
        if saved is None:
            del os.environ["OMP_WAIT_POLICY"]
    global _engine, _stream
    lib.dnnl_primitive_desc_query_md.restype = _vp
    lib.dnnl_primitive_desc_query_md.argtypes = [_vp, ctypes.c_int, ctypes.c_int]
    lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
    lib.dnnl_memory_desc_get_size.argtypes = [_vp]
    # epsilon is a C float: these two need their argument types spelled out
    pp = ctypes.POINTER(_vp)
    lib.dnnl_batch_normalization_forward_primitive_desc_create.argtypes = [
        pp, _vp, ctypes.c_int, _vp, _vp, ctypes.c_float, ctypes.c_uint, _vp]
    lib.dnnl_batch_normalization_backward_primitive_desc_create.argtypes = [
        pp, _vp, ctypes.c_int, _vp, _vp, _vp, ctypes.c_float, ctypes.c_uint, _vp, _vp]
    engine, stream = _vp(), _vp()
    if lib.dnnl_engine_create(ctypes.byref(engine), 1, ctypes.c_size_t(0)) != 0:   # dnnl_cpu
        return False
    _check(lib.dnnl_stream_create(ctypes.byref(stream), engine, ctypes.c_uint(1)), "stream_create")
    _engine, _stream = engine, stream
    return lib


def _md(shape, strides=None):
    """A float32 memory descriptor: these strides (in elements), or any format when None."""
    md = _vp()
    if strides is None:
        _check(_lib.dnnl_memory_desc_create_with_tag(ctypes.byref(md), len(shape), _Dims(*shape), _F32, _ANY),
               "memory_desc_create_with_tag")
    else:
        _check(_lib.dnnl_memory_desc_create_with_strides(ctypes.byref(md), len(shape), _Dims(*shape), _F32,
                                                         _Dims(*strides)), "memory_desc_create_with_strides")
    return md


class _Primitive:
    """A primitive and the memory descriptors its arguments take, by DNNL_ARG number; it runs on
    ``threads`` threads (the count in force when its descriptor was made)."""

    def __init__(self, pd, mds, threads):
        self.prim = _vp()
        _check(_lib.dnnl_primitive_create(ctypes.byref(self.prim), pd), "primitive_create")
        self.mds, self.threads = mds, threads

    def run(self, arrays):
        """Execute on ``arrays`` ({arg: ndarray}), each of the memory its descriptor describes."""
        use_threads(self.threads)
        if self.threads > 1 and before_parallel is not None:
            before_parallel()
        mems = []
        try:
            for arg, a in arrays.items():
                m = _vp()
                _check(_lib.dnnl_memory_create(ctypes.byref(m), self.mds[arg], _engine, _vp(a.ctypes.data)),
                       "memory_create")
                mems.append((arg, m))
            args = (_Arg * len(mems))(*[_Arg(arg, m) for arg, m in mems])
            _check(_lib.dnnl_primitive_execute(self.prim, _stream, len(mems), args), "primitive_execute")
            _check(_lib.dnnl_stream_wait(_stream), "stream_wait")
        finally:
            for _, m in mems:
                _lib.dnnl_memory_destroy(m)


def _reorder(src_md, dst_md, threads):
    pd = _vp()
    _check(_lib.dnnl_reorder_primitive_desc_create(ctypes.byref(pd), src_md, _engine, dst_md, _engine, None),
           "reorder_primitive_desc_create")
    return _Primitive(pd, {_SRC: src_md, _DST: dst_md}, threads)


def _queried(pd, what):
    """A copy of a primitive descriptor's memory descriptor (it outlives the primitive descriptor)."""
    md = _vp()
    _check(_lib.dnnl_memory_desc_clone(ctypes.byref(md), _vp(_lib.dnnl_primitive_desc_query_md(pd, what, 0))),
           "memory_desc_clone")
    return md


def channels_last_strides(shape):
    """The element strides of (N, C, H, W) laid out in memory as (N, H, W, C)."""
    N, C, H, W = shape
    return (H * W * C, 1, W * C, C)


class _Conv:
    """The primitives of one convolution geometry, with the weights' reorders.

    Notation: x (N, C, H, W) and y (N, O, OH, OW) channels-last; w (O, C/G, KH, KW) C-contiguous;
    geom = (stride, padding, dilation, groups) as torch's.
    """

    def __init__(self, xshape, wshape, yshape, geom, bias, training, threads):
        use_threads(threads)
        stride, padding, dilation, groups = geom
        _, _, H, W = xshape
        O, Cg, KH, KW = wshape
        OH, OW = yshape[2:]
        self.wshape = (groups, O // groups, Cg, KH, KW) if groups > 1 else (O, Cg, KH, KW)
        self.O, self.xshape = O, tuple(xshape)
        wplain = _md(self.wshape, [int(np.prod(self.wshape[k + 1:])) for k in range(len(self.wshape))])
        xmd, ymd = _md(xshape, channels_last_strides(xshape)), _md(yshape, channels_last_strides(yshape))
        bmd = _md((O,), (1,))
        dil = [d - 1 for d in dilation]           # oneDNN counts the gaps: 0 is no dilation
        right = [(o - 1) * s + (k - 1) * d + 1 - i - p
                 for o, s, k, d, i, p in zip((OH, OW), stride, (KH, KW), dilation, (H, W), padding)]
        dims = [_Dims(*v) for v in (stride, dil, padding, right)]
        pd = _vp()
        _check(_lib.dnnl_convolution_forward_primitive_desc_create(
            ctypes.byref(pd), _engine, _FORWARD_TRAINING if training else _FORWARD_INFERENCE, _DIRECT,
            xmd, _md(self.wshape), bmd if bias else None, ymd, *dims, None),
            "convolution_forward_primitive_desc_create")
        wfwd = _queried(pd, _Q_WEIGHTS)
        self.threads = threads
        self.fwd = _Primitive(pd, {_SRC: xmd, _WEIGHTS: wfwd, _BIAS: bmd, _DST: ymd}, threads)
        self.w_fwd = (_reorder(wplain, wfwd, threads), _lib.dnnl_memory_desc_get_size(wfwd))
        if not training:
            return
        pdd = _vp()
        _check(_lib.dnnl_convolution_backward_data_primitive_desc_create(
            ctypes.byref(pdd), _engine, _DIRECT, xmd, _md(self.wshape), ymd, *dims, pd, None),
            "convolution_backward_data_primitive_desc_create")
        wbwd = _queried(pdd, _Q_WEIGHTS)
        self.bwd_data = _Primitive(pdd, {_DIFF_DST: ymd, _WEIGHTS: wbwd, _DIFF_SRC: xmd}, threads)
        self.w_bwd = (_reorder(wplain, wbwd, threads), _lib.dnnl_memory_desc_get_size(wbwd))
        pdw = _vp()
        _check(_lib.dnnl_convolution_backward_weights_primitive_desc_create(
            ctypes.byref(pdw), _engine, _DIRECT, xmd, _md(self.wshape), bmd, ymd, *dims, pd, None),
            "convolution_backward_weights_primitive_desc_create")
        gwmd = _queried(pdw, _Q_DIFF_WEIGHTS)
        self.bwd_weights = _Primitive(pdw, {_SRC: xmd, _DIFF_DST: ymd, _DIFF_WEIGHTS: gwmd, _DIFF_BIAS: bmd},
                                      threads)
        self.gw_plain = (_reorder(gwmd, wplain, threads), _lib.dnnl_memory_desc_get_size(gwmd))

    def _weights(self, w, reorder):
        prim, size = reorder
        buf = np.empty(size // 4, dtype=np.float32)
        prim.run({_SRC: w, _DST: buf})
        return buf

    def forward(self, x, w, b, out):
        """out = the convolution of x with w (and b); every array as described above."""
        args = {_SRC: x, _WEIGHTS: self._weights(w, self.w_fwd), _DST: out}
        if b is not None:
            args[_BIAS] = b
        self.fwd.run(args)
        return out

    def backward_data(self, g, w, gx):
        """gx = the input gradient for the output gradient g."""
        self.bwd_data.run({_DIFF_DST: g, _WEIGHTS: self._weights(w, self.w_bwd), _DIFF_SRC: gx})
        return gx

    def backward_weights(self, x, g):
        """(gw (O, C/G, KH, KW) C-contiguous, gb (O,)) for the output gradient g."""
        prim, size = self.gw_plain
        blocked = np.empty(size // 4, dtype=np.float32)
        gb = np.empty(self.O, dtype=np.float32)
        self.bwd_weights.run({_SRC: x, _DIFF_DST: g, _DIFF_WEIGHTS: blocked, _DIFF_BIAS: gb})
        gw = np.empty(self.wshape, dtype=np.float32)
        prim.run({_SRC: blocked, _DST: gw})
        return gw, gb


class _BatchNorm:
    """The primitives of one batch normalisation: x (N, C, H, W) channels-last float32; statistics
    and the affine parameters (C,). Training computes the batch mean and biased variance (its
    outputs); inference reads the running ones (``use_global_stats``)."""

    def __init__(self, xshape, eps, scale, shift, training, threads):
        use_threads(threads)
        self.C, self.eps, self.training, self.threads = xshape[1], eps, training, threads
        self.flags = (_USE_SCALE if scale else 0) | (_USE_SHIFT if shift else 0) | \
            (0 if training else _USE_GLOBAL_STATS)
        self.xmd, self.cmd = _md(xshape, channels_last_strides(xshape)), _md((self.C,), (1,))
        self.pd = _vp()
        _check(_lib.dnnl_batch_normalization_forward_primitive_desc_create(
            ctypes.byref(self.pd), _engine, _FORWARD_TRAINING if training else _FORWARD_INFERENCE,
            self.xmd, self.xmd, eps, self.flags, None), "batch_normalization_forward_primitive_desc_create")
        c = self.cmd
        self.fwd = _Primitive(self.pd, {_SRC: self.xmd, _DST: self.xmd, _MEAN: c, _VARIANCE: c,
                                        _SCALE: c, _SHIFT: c}, threads)
        self.bwd = None

    def forward(self, x, mean, var, scale, shift, out):
        """out = the normalised x; training writes the batch statistics into mean and var."""
        args = {_SRC: x, _DST: out, _MEAN: mean, _VARIANCE: var}
        if scale is not None:
            args[_SCALE] = scale
        if shift is not None:
            args[_SHIFT] = shift
        self.fwd.run(args)
        return out

    def backward(self, x, mean, var, scale, g, gx):
        """(gx, gscale or None, gshift or None) for the output gradient g (channels-last)."""
        if self.bwd is None:
            use_threads(self.threads)
            pd = _vp()
            prop = _BACKWARD if self.flags & (_USE_SCALE | _USE_SHIFT) else _BACKWARD_DATA
            _check(_lib.dnnl_batch_normalization_backward_primitive_desc_create(
                ctypes.byref(pd), _engine, prop, self.xmd, self.xmd, self.xmd, self.eps, self.flags,
                self.pd, None), "batch_normalization_backward_primitive_desc_create")
            c = self.cmd
            self.bwd = _Primitive(pd, {_SRC: self.xmd, _DIFF_DST: self.xmd, _DIFF_SRC: self.xmd,
                                       _MEAN: c, _VARIANCE: c, _SCALE: c, _DIFF_SCALE: c, _DIFF_SHIFT: c},
                                  self.threads)
        args = {_SRC: x, _MEAN: mean, _VARIANCE: var, _DIFF_DST: g, _DIFF_SRC: gx}
        gscale = gshift = None
        if scale is not None:
            gscale = np.empty(self.C, dtype=np.float32)
            args[_SCALE], args[_DIFF_SCALE] = scale, gscale
        if self.flags & _USE_SHIFT:
            gshift = np.empty(self.C, dtype=np.float32)
            args[_DIFF_SHIFT] = gshift
        self.bwd.run(args)
        return gx, gscale, gshift


class _MaxPool:
    """The primitives of one max pooling: x (N, C, H, W) and y (N, C, OH, OW) channels-last float32;
    geom = (kernel, stride, padding, dilation) as torch's (floor output size). Training keeps the
    position of each window's maximum in a workspace, which backward reads."""

    def __init__(self, xshape, yshape, geom, training, threads):
        use_threads(threads)
        kernel, stride, padding, dilation = geom
        self.threads, self.xshape = threads, tuple(xshape)
        self.xmd, self.ymd = _md(xshape, channels_last_strides(xshape)), _md(yshape, channels_last_strides(yshape))
        right = [(o - 1) * s + (k - 1) * d + 1 - i - p
                 for o, s, k, d, i, p in zip(yshape[2:], stride, kernel, dilation, xshape[2:], padding)]
        self.dims = [_Dims(*v) for v in (stride, kernel, [d - 1 for d in dilation], padding, right)]
        self.pd = _vp()
        _check(_lib.dnnl_pooling_forward_primitive_desc_create(
            ctypes.byref(self.pd), _engine, _FORWARD_TRAINING if training else _FORWARD_INFERENCE,
            _POOLING_MAX, self.xmd, self.ymd, *self.dims, None), "pooling_forward_primitive_desc_create")
        mds = {_SRC: self.xmd, _DST: self.ymd}
        self.ws = None
        if training:
            self.ws = _queried(self.pd, _Q_WORKSPACE)
            mds[_WORKSPACE] = self.ws
            self.ws_bytes = _lib.dnnl_memory_desc_get_size(self.ws)
        self.fwd = _Primitive(self.pd, mds, threads)
        self.bwd = None

    def forward(self, x, out):
        """out = the maxima; returns the workspace (None in inference)."""
        args = {_SRC: x, _DST: out}
        ws = None
        if self.ws is not None:
            ws = args[_WORKSPACE] = np.empty(self.ws_bytes, dtype=np.uint8)
        self.fwd.run(args)
        return ws

    def backward(self, g, ws, gx):
        """gx = the input gradient for the output gradient g, from forward's workspace."""
        if self.bwd is None:
            use_threads(self.threads)
            pd = _vp()
            _check(_lib.dnnl_pooling_backward_primitive_desc_create(
                ctypes.byref(pd), _engine, _POOLING_MAX, self.xmd, self.ymd, *self.dims, self.pd, None),
                "pooling_backward_primitive_desc_create")
            self.bwd = _Primitive(pd, {_DIFF_DST: self.ymd, _DIFF_SRC: self.xmd, _WORKSPACE: self.ws},
                                  self.threads)
        self.bwd.run({_DIFF_DST: g, _WORKSPACE: ws, _DIFF_SRC: gx})
        return gx


def _cached(key, make):
    """The primitives under ``key`` in the LRU cache, made by ``make()`` the first time."""
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    made = make()
    with _lock:
        _cache[key] = made
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return made


def convolution(xshape, wshape, yshape, geom, bias, training, threads):
    """The (cached) primitives for this geometry on ``threads`` threads; raises RuntimeError where
    oneDNN has none."""
    key = ("conv", tuple(xshape), tuple(wshape), tuple(yshape), geom, bool(bias), bool(training), threads)
    return _cached(key, lambda: _Conv(key[1], key[2], key[3], geom, bias, training, threads))


def batch_norm(xshape, eps, scale, shift, training, threads):
    """The (cached) batch-norm primitives for a channels-last float32 x of ``xshape`` on
    ``threads`` threads; raises RuntimeError where oneDNN has none."""
    key = ("bn", tuple(xshape), float(eps), bool(scale), bool(shift), bool(training), threads)
    return _cached(key, lambda: _BatchNorm(key[1], eps, scale, shift, training, threads))


def max_pool(xshape, yshape, geom, training, threads):
    """The (cached) max-pooling primitives for a channels-last float32 x of ``xshape`` on
    ``threads`` threads; raises RuntimeError where oneDNN has none."""
    key = ("maxpool", tuple(xshape), tuple(yshape), geom, bool(training), threads)
    return _cached(key, lambda: _MaxPool(key[1], key[2], geom, training, threads))


# oneDNN's kernels fix their thread count when their descriptor is made (from OpenMP's count for
# the calling thread then); reorders read it when they run. So the count is set before both.
_gomp = None
_omp = threading.local()      # .threads: the count last set for this thread
before_parallel = None        # called before a multi-threaded primitive runs (set by backend)


def use_threads(n):
    """OpenMP's thread count for the calling thread (libgomp's, which oneDNN's library uses)."""
    global _gomp
    if getattr(_omp, "threads", None) == n:
        return
    if _gomp is None:
        try:
            _gomp = ctypes.CDLL("libgomp.so.1")
        except OSError:
            _gomp = False
    if _gomp:
        _gomp.omp_set_num_threads(ctypes.c_int(n))
    _omp.threads = n
