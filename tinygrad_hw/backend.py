"""Devices and array modules: the one place where NumPy and CuPy differ.

Every op uses the array namespace of its inputs (``device.xp``); the few calls that are not
spelled the same in NumPy and CuPy (scatter-add, strided windows, host copies, synchronisation,
random generators) live here and nowhere else. CuPy is imported lazily, on first use of 'cuda'.
"""
import contextlib

import numpy as np

_cupy = None          # the cupy module once imported
_cupy_error = None    # why cupy could not be used, once we have tried
_cupyx = None         # cupyx (scatter_add), set with a module given to set_cuda_module


def _import_cupy():
    """Return cupy, or raise a RuntimeError that says whether CuPy or the GPU is missing."""
    global _cupy, _cupy_error
    if _cupy is not None:
        return _cupy
    if _cupy_error is None:
        try:
            import cupy
        except Exception as e:  # ImportError, or a CUDA library failing to load
            _cupy_error = (f"device 'cuda' needs CuPy, which could not be imported ({e}); "
                           "install tinygrad-hw[cuda12] or tinygrad-hw[cuda13]")
        else:
            try:
                count = cupy.cuda.runtime.getDeviceCount()
            except Exception as e:
                count, why = 0, f" ({e})"
            else:
                why = ""
            if count == 0:
                _cupy_error = f"device 'cuda' asked for, CuPy is installed but no CUDA GPU was found{why}"
            else:
                _cupy = cupy
                return cupy
    raise RuntimeError(_cupy_error)


def set_cuda_module(module, cupyx=None):
    """Use ``module`` (CuPy's API; ``cupyx`` for its scatter_add) as the 'cuda' array module
    instead of importing cupy. The test suite's CUDA stand-in comes in here; devices and
    generators made for 'cuda' so far are forgotten."""
    global _cupy, _cupy_error, _cupyx
    _cupy, _cupyx, _cupy_error = module, cupyx, None
    for name in [n for n, d in _devices.items() if d.type == "cuda"]:
        del _devices[name]
    for dev in [d for d in _rngs if d.type == "cuda"]:
        del _rngs[dev]


def cuda_module():
    """The 'cuda' array module (cupy, or the one given to set_cuda_module); RuntimeError if none."""
    return _import_cupy()


def cuda_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
    except RuntimeError:
        return False
    return True


def cuda_device_count():
    return _import_cupy().cuda.runtime.getDeviceCount() if cuda_available() else 0


class Device:
    """A device: 'cpu' or 'cuda:N'. Interned, so ``a.device is b.device`` is the equality test."""
    __slots__ = ("type", "index", "xp")

    def __init__(self, type_, index):
        self.type, self.index = type_, index
        self.xp = np if type_ == "cpu" else _import_cupy()   # the array module of this device

    def __str__(self):
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"

    def __repr__(self):
        return f"device('{self}')"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, RuntimeError):
                return False
        return self is other

    def __hash__(self):
        return hash(str(self))

    # Devices are interned: copying one (e.g. deepcopy of a model) must give the same object.
    def __reduce__(self):
        return (device, (str(self),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


_devices = {}
CPU = Device("cpu", None)
_devices["cpu"] = CPU


def device(spec):
    """Parse 'cpu', 'cuda', 'cuda:N' (or a Device) into the interned Device.

    >>> device('cpu') is device(device('cpu'))
    True
    """
    if isinstance(spec, Device):
        return spec
    dev = _devices.get(spec)
    if dev is not None:
        return dev
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {type(spec).__name__}")
    name = spec.strip().lower()
    if name == "cuda":
        index = None
    elif name.startswith("cuda:") and name[5:].isdigit():
        index = int(name[5:])
    else:
        raise ValueError(f"unknown device '{spec}': expected 'cpu', 'cuda' or 'cuda:N'")
    cp = _import_cupy()
    if index is None:
        index = cp.cuda.runtime.getDevice()
    count = cp.cuda.runtime.getDeviceCount()
    if index >= count:
        raise RuntimeError(f"device '{spec}' asked for, but only {count} CUDA GPU(s) are present")
    dev = _devices.get(f"cuda:{index}") or Device("cuda", index)
    _devices[f"cuda:{index}"] = dev
    _devices[spec] = dev
    return dev


def device_of_data(data):
    """The Device that data (a CuPy array, or anything NumPy can read) lives on."""
    if _cupy is not None and isinstance(data, _cupy.ndarray):
        return device(f"cuda:{data.device.id}")
    return CPU


def to_device(array, dev):
    """Copy (or pass through) an array onto ``dev``. Always returns an array of that device."""
    if dev.type == "cpu":
        if isinstance(array, np.ndarray):
            return array
        return to_host(array)
    cp = dev.xp
    with cp.cuda.Device(dev.index):
        if isinstance(array, cp.ndarray):
            # CuPy's asarray returns an array of another GPU unchanged; copy() lands here
            return array if array.device.id == dev.index else array.copy()
        return cp.asarray(array)


_NO_SCOPE = contextlib.nullcontext()


def device_scope(dev):
    """A context that makes ``dev`` the current device (``cupy.cuda.Device(index)``) so kernels and
    allocations land on it; on the CPU a shared null context."""
    if dev.type == "cpu":
        return _NO_SCOPE
    return dev.xp.cuda.Device(dev.index)


def to_host(array):
    """A NumPy array with the values of ``array`` (a copy when it lives on a GPU)."""
    if isinstance(array, np.ndarray):
        return array
    return array.get()


def synchronize(dev=None):
    """Wait for queued GPU work; a no-op on the CPU."""
    dev = CPU if dev is None else device(dev)
    if dev.type == "cuda":
        with dev.xp.cuda.Device(dev.index):
            dev.xp.cuda.runtime.deviceSynchronize()


def scatter_add(target, index, values):
    """``target[index] += values`` with repeated indices accumulating (in place).

    Used by integer-array indexing in backward, not on a hot path of the models.
    """
    if isinstance(target, np.ndarray):
        np.add.at(target, index, values)
    else:
        cupyx = _cupyx
        if cupyx is None:
            import cupyx
        cupyx.scatter_add(target, index, values)
    return target


def as_strided(array, shape, strides):
    """A strided view of ``array`` (strides in bytes), for NumPy and CuPy alike."""
    if isinstance(array, np.ndarray):
        return np.lib.stride_tricks.as_strided(array, shape=shape, strides=strides, writeable=False)
    return _cupy.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)


# --- host memory ----------------------------------------------------------------------------
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4      # mallopt parameters, from glibc's malloc.h


def keep_host_memory():
    """Have glibc's malloc keep freed memory for reuse instead of returning it to the system.

    A training step allocates and frees the same large arrays every time. By default glibc
    serves large blocks with mmap and unmaps them on free (and trims the heap top), so each step
    touches fresh pages that the kernel must fault in and zero: a LeNet-5 train step at batch 128
    took 2,400 page faults and 11.6 ms, against none and 7.1 ms with this call. With every block
    served from the heap and the heap never trimmed, the pages stay mapped and are reused.

    Process-wide (every library in the process allocates through the same malloc, torch included)
    and Linux/glibc only. The process keeps its peak heap until it exits. Returns True when applied.
    """
    import ctypes
    import platform
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


# --- random numbers: one generator per device, all reseeded by manual_seed ---------------------
_rngs = {}
_seed = None


def manual_seed(seed):
    """Seed the generators of every device (each made afresh from this seed on first use)."""
    global _seed
    _seed = int(seed)
    _rngs.clear()


def rng(dev):
    """The random Generator of ``dev`` (numpy.random.Generator or cupy.random.Generator)."""
    gen = _rngs.get(dev)
    if gen is None:
        if dev.type == "cpu":
            gen = np.random.default_rng(_seed)
        else:
            with dev.xp.cuda.Device(dev.index):
                gen = dev.xp.random.default_rng(_seed)
        _rngs[dev] = gen
    return gen


def get_rng_state():
    """The CPU generator's state as a plain dict (checkpointable without pickle)."""
    return rng(CPU).bit_generator.state


def set_rng_state(state):
    rng(CPU).bit_generator.state = state


# --- device timing (the profiler) -----------------------------------------------------------
def record_event(dev):
    """A CUDA event recorded now on ``dev``'s current stream (GPU devices only)."""
    with dev.xp.cuda.Device(dev.index):
        ev = dev.xp.cuda.Event()
        ev.record()
    return ev


def event_elapsed_ms(start, end):
    """Milliseconds of device time between two recorded events (after a synchronisation)."""
    return _cupy.cuda.get_elapsed_time(start, end)


# --- CPU execution: threads, BLAS threads, batch blocks -------------------------------------
# On the CPU a heavy op splits its batch into blocks whose temporaries fit the L2 cache and runs
# them on a small persistent thread pool (NumPy releases the GIL in copies, ufuncs and matmul).
# Inside such a region BLAS runs single-threaded, so the cores are not oversubscribed; outside,
# BLAS gets the same thread count. On a GPU an op runs as one block, with no threads.
import os as _os
import threading as _threading
import time as _time

_num_threads = None        # set by set_num_threads; None: the cores this process may use
_pool = None               # ThreadPoolExecutor with num_threads - 1 workers (the caller is one)
_pool_lock = _threading.Lock()
_local = _threading.local()    # per thread: scratch buffers, and whether it runs a block
_blas_libs = None          # threadpoolctl's controllers of the loaded BLAS libraries ([] if none)
_region_depth = 0          # parallel regions in flight (BLAS is limited while > 0)
_region_lock = _threading.Lock()
_blas_saved = None

# Whether parallel_blocks spreads blocks over the pool's Python threads. Off: on the 2-core VM
# the benchmarks run on, blocks run inline (still sized to the cache) and BLAS keeps its own
# threads, and that measured faster in whole training steps (interleaved medians, batch 128:
# ResNet-20 train 488 -> 453 ms, inference 111 -> 106 ms; LeNet-5 train 7.8 -> 7.4 ms). Why is
# not settled: independent GEMMs of 100-200 us on two Python threads scale 1.7-2x there, yet the
# row blocks of one conv split over two such threads ran slower than one caller whose GEMMs use
# BLAS's 2 threads (ResNet-20's 16->16 forward 7.6 against 4.3 ms), and memory bandwidth (20 GB/s
# copying, the same on 1 or 2 threads) caps the streaming ops either way. Machines with more
# cores may gain from the pool: ``set_block_pool(True)``.
POOL = False

MIN_BLOCK_SECONDS = 2e-4   # each block does at least this much work, so dispatch stays cheap
_FLOP_RATE = 5e10          # rough single-core rates that turn a block's work into seconds
_BYTE_RATE = 5e9


def _after_fork():
    """A forked child has none of the parent's pool threads, and no lock is held in it."""
    global _pool, _pool_lock, _region_lock, _region_depth
    _pool, _region_depth = None, 0
    _pool_lock, _region_lock = _threading.Lock(), _threading.Lock()


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork)


def _affinity():
    try:
        return len(_os.sched_getaffinity(0))
    except AttributeError:       # not Linux
        return _os.cpu_count() or 1


def get_num_threads():
    """Threads the CPU ops use (as ``torch.get_num_threads``): by default the cores this
    process may run on."""
    return _num_threads if _num_threads is not None else _affinity()


def set_num_threads(n):
    """Use ``n`` threads for the CPU ops and NumPy's BLAS (as ``torch.set_num_threads``)."""
    global _num_threads, _pool, _blas_quiet
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    with _pool_lock:
        _num_threads = n
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=True)
    with _region_lock:
        if _blas_quiet is not None:          # held at one thread for oneDNN: n once it is idle
            _blas_quiet = [n] * len(_blas_quiet)
            return
    for lib in _blas():
        lib.set_num_threads(n)


def set_block_pool(enabled):
    """Run the blocks of the CPU ops on the thread pool (``True``) or inline (``False``, the
    default; see POOL). Returns the previous setting."""
    global POOL
    old, POOL = POOL, bool(enabled)
    return old


def _blas():
    """The BLAS libraries' thread controllers (threadpoolctl; made once: finding them is slow)."""
    global _blas_libs
    if _blas_libs is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas_libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except Exception:         # not installed, or no BLAS it knows: BLAS keeps its own threads
            _blas_libs = []
    return _blas_libs


def _get_pool(workers):
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers != workers:
            from concurrent.futures import ThreadPoolExecutor
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thw")
        return _pool


def _l2_bytes():
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
            text = f.read().strip()
        scale = {"K": 2**10, "M": 2**20}.get(text[-1:], 1)
        return int(text.rstrip("KM")) * scale
    except (OSError, ValueError):
        return 1 << 20


L2_BYTES = _l2_bytes()


def plan_blocks(dev, n, bytes_per_sample, flops_per_sample=0, min_block=1):
    """The batch blocks (a list of slices of range(n)) for an op on ``dev``.

    On the CPU a block's temporaries (``bytes_per_sample`` each) fit about half the L2 cache, each
    block does at least MIN_BLOCK_SECONDS of work (estimated from its bytes and flops), and when the
    batch allows there are several blocks per thread; sizes differ by at most one. On a GPU, or
    inside a block of another op, the whole batch is one block.
    """
    if dev.type != "cpu" or n <= 1 or getattr(_local, "busy", False):
        return [slice(0, n)]
    threads = get_num_threads() if POOL else 1
    min_block = max(1, min(min_block, n))
    seconds = flops_per_sample / _FLOP_RATE + bytes_per_sample / _BYTE_RATE     # per sample
    fewest = max(min_block, -(-MIN_BLOCK_SECONDS // max(seconds, 1e-12)))     # smallest block
    size = max(fewest, L2_BYTES // 2 // max(1, bytes_per_sample))
    count = -(-n // int(size))
    if threads > 1:
        # as many blocks for every thread (and at least one each), if they stay big enough
        even = max(threads, -(-count // threads) * threads)
        while even > count and n // even < fewest:
            even -= 1
        count = max(count, even)
    count = max(1, min(count, n // min_block))
    base, extra = divmod(n, count)
    blocks, start = [], 0
    for k in range(count):
        stop = start + base + (k < extra)
        blocks.append(slice(start, stop))
        start = stop
    return blocks


def gemm_blocks(n, bytes_per_item):
    """Blocks (slices of range(n)) for a sequence of GEMMs that each run on BLAS's own threads:
    a block's operands, ``bytes_per_item`` per item, fill one core's L2 cache. (Whole ResNet-20
    steps at batch 128 on the 2-core VM, interleaved: train 412.6 ms with blocks of one L2, 422.9
    with blocks of both cores' L2; inference 102.4 and 105.6 ms, although the layers alone
    measured the larger blocks faster.)"""
    size = max(1, L2_BYTES // max(1, bytes_per_item))
    return [slice(s, min(n, s + size)) for s in range(0, n, size)]


def _limit_blas(enter):
    """Single-threaded BLAS while any parallel region runs; the previous counts restored after."""
    global _region_depth, _blas_saved
    libs = _blas()
    if not libs:
        return
    with _region_lock:
        if enter:
            _region_depth += 1
            if _region_depth == 1:
                _blas_saved = [lib.get_num_threads() for lib in libs]
                for lib in libs:
                    lib.set_num_threads(1)
        else:
            _region_depth -= 1
            if _region_depth == 0:
                for lib, k in zip(libs, _blas_saved):
                    lib.set_num_threads(k if _blas_quiet is None else 1)


def parallel_blocks(fn, blocks):
    """``[fn(b) for b in blocks]``, the calls spread over the thread pool (BLAS single-threaded
    meanwhile). Inline, in order, for one block, one thread, or inside another op's block."""
    threads = get_num_threads() if POOL else 1
    if len(blocks) == 1 or threads == 1 or getattr(_local, "busy", False):
        return [fn(b) for b in blocks]
    workers = min(threads, len(blocks))
    results = [None] * len(blocks)
    todo = iter(range(len(blocks)))        # shared: each worker takes the next block (GIL-safe)
    lock = _threading.Lock()

    def work():
        _local.busy = True
        try:
            while True:
                with lock:
                    k = next(todo, None)
                if k is None:
                    return
                results[k] = fn(blocks[k])
        finally:
            _local.busy = False

    _limit_blas(True)
    futures = []
    try:
        pool = _get_pool(threads - 1)
        futures = [pool.submit(work) for _ in range(workers - 1)]
        work()
    finally:
        # every block has finished (or failed) before the caller sees results or an error
        errors = [f.exception() for f in futures]
        _limit_blas(False)
    for e in errors:
        if e is not None:
            raise e
    return results


# Below this many bytes an elementwise op runs as one call, and so do batch norm, pooling and
# cross-entropy: splitting costs more than it saves (with the pool on, ReLU forward on LeNet-5's
# 1.77 MB at batch 128: 244 us in blocks against 116 us in one call; at 6.4 MB 418 against 443).
# Whole LeNet-5 train steps at batch 128 measured 8.07 ms with 1 MiB here, 7.23 ms with 4 MiB.
ELEMENTWISE_MIN_BYTES = 4 << 20


def _flat(a):
    """A 1-D view of a dense array in its memory order, or None when its memory is not dense."""
    order = sorted(range(a.ndim), key=lambda k: -a.strides[k])
    t = a.transpose(order)
    if not t.flags.c_contiguous:
        return None
    return t.reshape(-1)


def parallel_elementwise(fn, out, *arrays):
    """``fn(out, *arrays)`` for an elementwise ``fn`` writing into ``out``, split into blocks over
    the pool when the arrays are large, dense and share out's memory layout (one call otherwise)."""
    if (not isinstance(out, np.ndarray) or out.nbytes < ELEMENTWISE_MIN_BYTES or not POOL
            or get_num_threads() == 1
            or getattr(_local, "busy", False)
            or any(a.shape != out.shape or a.strides != out.strides for a in arrays)):
        fn(out, *arrays)
        return out
    flats = [_flat(a) for a in (out,) + arrays]
    if any(f is None for f in flats):
        fn(out, *arrays)
        return out
    per_item = sum(f.itemsize for f in flats)
    blocks = plan_blocks(CPU, out.size, per_item, min_block=4096)

    def block(sl):
        fn(*(f[sl] for f in flats))
    parallel_blocks(block, blocks)
    return out


def scratch(name, shape, dtype, zero=False):
    """A per-thread buffer of ``shape`` reused across calls (the memory for temporaries that
    never leave an op). With ``zero`` a new buffer starts zeroed; its user must keep untouched the
    parts it relies on being zero. Kept per (name, shape, dtype), the least recently used dropped
    past SCRATCH_BYTES per thread."""
    cache = getattr(_local, "scratch", None)
    if cache is None:
        from collections import OrderedDict
        cache = _local.scratch = OrderedDict()
        _local.scratch_bytes = 0
    key = (name, shape, dtype)
    buf = cache.get(key)
    if buf is not None:
        cache.move_to_end(key)
        return buf
    buf = (np.zeros if zero else np.empty)(shape, dtype=dtype)
    cache[key] = buf
    _local.scratch_bytes += buf.nbytes
    while _local.scratch_bytes > SCRATCH_BYTES and len(cache) > 1:
        _, old = cache.popitem(last=False)
        _local.scratch_bytes -= old.nbytes
    return buf


SCRATCH_BYTES = 64 << 20


# --- GEMM with accumulation (CPU) ------------------------------------------------------------
# NumPy's matmul has no ``beta``: a sum of products (the taps of a conv) needs a temporary and an
# add per term. OpenBLAS, which NumPy's wheels bundle, has ``out = a @ b + beta * out`` with any
# leading dimension, so a strided slice of an input is an operand as it stands. It is called
# through ctypes (which releases the GIL for the call, as NumPy does). Other BLAS libraries (or
# none found) take the NumPy fallback: the same results, a temporary and an add per term.
_cblas = None             # {dtype: ctypes function} once looked up; {} when unavailable
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _find_cblas():
    """OpenBLAS's cblas_sgemm/cblas_dgemm from the library NumPy loaded, or {}."""
    import ctypes
    for lib in _blas():
        if getattr(lib, "internal_api", None) != "openblas":
            continue
        try:
            dll = ctypes.CDLL(lib.filepath)
        except OSError:
            continue
        # builds name their symbols with a prefix and a suffix (scipy-openblas: scipy_..64_)
        for prefix, suffix in (("scipy_", "64_"), ("scipy_", ""), ("", "64_"), ("", "")):
            config = getattr(dll, f"{prefix}openblas_get_config{suffix}", None)
            sgemm = getattr(dll, f"{prefix}cblas_sgemm{suffix}", None)
            dgemm = getattr(dll, f"{prefix}cblas_dgemm{suffix}", None)
            if config is None or sgemm is None or dgemm is None:
                continue
            config.restype = ctypes.c_char_p
            index = ctypes.c_int64 if b"USE64BITINT" in config() else ctypes.c_int32
            funcs = {}
            for dtype, fn, real in ((np.dtype(np.float32), sgemm, ctypes.c_float),
                                    (np.dtype(np.float64), dgemm, ctypes.c_double)):
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index, real,
                               ctypes.c_void_p, index, ctypes.c_void_p, index, real, ctypes.c_void_p, index]
                fn.restype = None
                funcs[dtype] = fn
            return funcs
    return {}


def _cblas_funcs():
    global _cblas
    if _cblas is None:
        try:
            _cblas = _find_cblas()
        except Exception:         # any surprise in a foreign library: the NumPy fallback
            _cblas = {}
    return _cblas


def _operand(a):
    """(transpose flag, leading dimension) of a 2-D array as BLAS sees it, or None if BLAS can't
    take it (no unit stride, negative or odd strides)."""
    r, c = a.shape
    s0, s1 = a.strides
    size = a.itemsize
    if s0 % size or s1 % size or not a.flags.aligned:
        return None
    if s1 == size or c == 1:
        ld = s0 // size if r > 1 else max(1, c)
        if ld >= max(1, c):
            return _NO_TRANS, ld
    if s0 == size or r == 1:
        ld = s1 // size if c > 1 else max(1, r)
        if ld >= max(1, r):
            return _TRANS, ld
    return None


def gemm(a, b, out, beta=0.0):
    """``out[...] = a @ b + beta * out`` on the CPU, in place, for 2-D float32/float64 NumPy arrays
    of one dtype; ``a`` and ``b`` may be strided views (a unit stride on one axis). ``beta=0``
    ignores what ``out`` held (NaNs included). Returns ``out``.

    Notation: a (M, K), b (K, N), out (M, N).
    """
    M, N = out.shape
    K = a.shape[1]
    if a.shape[0] != M or b.shape != (K, N):
        raise ValueError(f"gemm: shapes {a.shape} @ {b.shape} do not give out's {out.shape}")
    fn = _cblas_funcs().get(out.dtype) if a.dtype == b.dtype == out.dtype else None
    oa, ob = (_operand(a), _operand(b)) if fn is not None else (None, None)
    oc = _operand(out) if oa and ob else None
    if oc is None or M == 0 or N == 0:
        return _gemm_numpy(a, b, out, beta)
    if K == 0:
        out *= beta
        return out
    if oc[0] == _TRANS:         # out column-major: compute out.T = b.T @ a.T, row-major
        (ta, lda), (tb, ldb), ldc = ob, oa, oc[1]
        flip = {_NO_TRANS: _TRANS, _TRANS: _NO_TRANS}
        fn(_ROW_MAJOR, flip[ta], flip[tb], N, M, K, 1.0, b.ctypes.data, lda, a.ctypes.data, ldb,
           beta, out.ctypes.data, ldc)
    else:
        fn(_ROW_MAJOR, oa[0], ob[0], M, N, K, 1.0, a.ctypes.data, oa[1], b.ctypes.data, ob[1],
           beta, out.ctypes.data, oc[1])
    return out


def _gemm_numpy(a, b, out, beta):
    if beta == 0:
        np.matmul(a, b, out=out)
    else:
        out *= beta
        out += a @ b
    return out


def _rows(a):
    """The leading dimension of a 2-D array with unit column stride, or None."""
    if (a.ndim != 2 or a.strides[1] != a.itemsize or a.strides[0] % a.itemsize or a.strides[0] < 0
            or not a.flags.aligned):
        return None
    return a.strides[0] // a.itemsize if a.shape[0] > 1 else max(1, a.shape[1])


def _taps_blas(name, x, K, offsets, L, shapes_ok, shapes, arrays, contiguous):
    """The checks the two tap GEMMs share, made before any pointer arithmetic reads memory, and
    the BLAS function to call, or None when the NumPy fallback must run."""
    if not shapes_ok or x.ndim != 2 or x.shape[0] != K:
        raise ValueError(f"{name}: shapes do not match: {shapes}")
    if len(offsets) and (max(offsets) + L > x.shape[1] or min(offsets) < 0):
        raise ValueError(f"{name}: windows {min(offsets)}..{max(offsets) + L} outside x's {x.shape[1]} columns")
    fn = _cblas_funcs().get(x.dtype) if all(a.dtype == x.dtype for a in arrays) else None
    if fn is None or not contiguous or any(_rows(a) is None for a in arrays + (x,)):
        return None
    return fn


def gemm_taps(a, x, offsets, out, beta=0.0):
    """``out = sum_t a[t] @ x[:, offsets[t]:offsets[t] + L] + beta * out``: the GEMMs of the taps
    of a convolution, each reading its window of ``x`` in place (pointer arithmetic, no slices).

    Notation: a (T, M, K), x (K, X) with unit column stride, out (M, L); offsets in elements.
    """
    T, M, K = a.shape
    L = out.shape[1]
    fn = _taps_blas("gemm_taps", x, K, offsets, L, out.shape[0] == M and len(offsets) == T,
                    f"taps {a.shape}, x {x.shape}, out {out.shape}", (out,),
                    a.flags.c_contiguous and a.dtype == x.dtype)
    if fn is None or T == 0 or M * L * K == 0:
        for t in range(T):
            _gemm_numpy(a[t], x[:, offsets[t]:offsets[t] + L], out, beta if t == 0 else 1.0)
        if T == 0:
            out *= beta
        return out
    pa, px, pc, size = a.ctypes.data, x.ctypes.data, out.ctypes.data, out.itemsize
    ldx, ldc = _rows(x), _rows(out)
    for t in range(T):
        fn(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, M, L, K, 1.0, pa + t * M * K * size, K,
           px + offsets[t] * size, ldx, beta if t == 0 else 1.0, pc, ldc)
    return out


def gemm_taps_t(g, x, offsets, out, beta=0.0):
    """``out[t] = g @ x[:, offsets[t]:offsets[t] + L].T + beta * out[t]`` for every tap t: the
    weight gradient of a convolution, each window of ``x`` read in place.

    Notation: g (M, L), x (K, X) with unit column stride, out (T, M, K) C-contiguous.
    """
    T, M, K = out.shape
    L = g.shape[1]
    fn = _taps_blas("gemm_taps_t", x, K, offsets, L, g.shape[0] == M and len(offsets) == T,
                    f"g {g.shape}, x {x.shape}, out {out.shape}", (g,),
                    out.flags.c_contiguous and out.dtype == x.dtype)
    if fn is None or M * K * L == 0:
        for t in range(T):
            _gemm_numpy(g, x[:, offsets[t]:offsets[t] + L].T, out[t], beta)
        return out
    pg, px, pc, size = g.ctypes.data, x.ctypes.data, out.ctypes.data, out.itemsize
    ldg, ldx = _rows(g), _rows(x)
    for t in range(T):
        fn(_ROW_MAJOR, _NO_TRANS, _TRANS, M, K, L, 1.0, pg, ldg, px + offsets[t] * size, ldx,
           beta, pc + t * M * K * size, K)
    return out


# --- oneDNN convolutions, batch norms and max poolings (CPU, float32) ---------------------------
# With the onednn-cpu-gomp wheel installed, float32 CPU convolutions run on oneDNN's direct
# kernels over channels-last memory (tinygrad_hw/_onednn.py), and so do batch norms and max
# poolings of the channels-last arrays they hand on; float64, CuPy arrays, or no library keep the
# NumPy code in nn/_conv.py, nn/_normalization.py and nn/_pool.py. ``set_onednn(False)`` switches it off (the tests run both).
ONEDNN = True


def set_onednn(enabled):
    """Use oneDNN for float32 CPU convolutions, batch norms and max poolings when installed
    (``True``, the default) or never. Returns the previous setting."""
    global ONEDNN
    old, ONEDNN = ONEDNN, bool(enabled)
    return old


def onednn_available():
    """Whether oneDNN's library is installed and loads."""
    from . import _onednn
    return _onednn.load() is not None


def _onednn_for(dtype):
    """The _onednn module when it is on and takes ``dtype``; else None."""
    if not ONEDNN or np.dtype(dtype) != np.float32 or not onednn_available():
        return None
    from . import _onednn
    _onednn.before_parallel = _onednn_parallel
    return _onednn


# One set of worker threads at a time: oneDNN's (OpenMP) or OpenBLAS's. OpenBLAS's worker spins
# for about 0.1 s after each multi-threaded call, and an OpenMP worker sharing its core runs at a
# fraction of its speed: LeNet-5 with every op on oneDNN, train step at batch 128 on the 2-core
# VM, 20 ms with its Linear layers' GEMMs on 2 OpenBLAS threads and 4.5 ms on one (torch: 6.0).
# So from a multi-threaded oneDNN op on, BLAS runs on one thread, until BLAS_QUIET_S after the
# last one: then the next op with large GEMMs (Linear, matmul) gives BLAS its threads back.
BLAS_QUIET_S = 0.25
_onednn_until = 0.0
_blas_quiet = None        # BLAS's thread counts, kept while it is held at one thread


def _onednn_parallel():
    """Called by _onednn before it runs a multi-threaded primitive."""
    global _onednn_until, _blas_quiet
    _onednn_until = _time.monotonic() + BLAS_QUIET_S
    if _blas_quiet is None:
        libs = _blas()
        with _region_lock:
            if _blas_quiet is None:
                if _region_depth:        # a parallel region holds BLAS at one thread already
                    _blas_quiet = list(_blas_saved)
                else:
                    _blas_quiet = [lib.get_num_threads() for lib in libs]
                    for lib in libs:
                        lib.set_num_threads(1)


def blas_ready():
    """Give BLAS its threads back once oneDNN has been idle for BLAS_QUIET_S (called by the ops
    whose GEMMs run on BLAS's threads, before them)."""
    global _blas_quiet
    if _blas_quiet is not None and _time.monotonic() > _onednn_until:
        with _region_lock:
            if _region_depth == 0:
                for lib, k in zip(_blas(), _blas_quiet):
                    lib.set_num_threads(k)
                _blas_quiet = None


def _onednn_primitives(dtype, kind, *args):
    """``_onednn.<kind>(*args, threads)`` on our thread count, or None: oneDNN switched off, another
    dtype, not installed, or a geometry it has no kernel for (it raises RuntimeError)."""
    lib = _onednn_for(dtype)
    try:
        return None if lib is None else getattr(lib, kind)(*args, get_num_threads())
    except RuntimeError:
        return None


def onednn_convolution(xshape, wshape, yshape, geom, bias, training, dtype):
    """oneDNN's primitives for this float32 CPU conv2d (see _onednn.convolution), or None."""
    return _onednn_primitives(dtype, "convolution", xshape, wshape, yshape, geom, bias, training)


def onednn_batch_norm(xshape, eps, scale, shift, training, dtype):
    """oneDNN's primitives for a float32 batch norm of a channels-last (N, C, H, W) CPU array (see
    _onednn.batch_norm), or None."""
    return _onednn_primitives(dtype, "batch_norm", xshape, eps, scale, shift, training)


def onednn_max_pool(xshape, yshape, geom, training, dtype):
    """oneDNN's primitives for a float32 max pooling of a channels-last (N, C, H, W) CPU array (see
    _onednn.max_pool), or None."""
    return _onednn_primitives(dtype, "max_pool", xshape, yshape, geom, training)


def is_channels_last(a):
    """Whether a is a non-empty (N, C, H, W) array laid out in memory as (N, H, W, C)."""
    return a.ndim == 4 and a.size > 0 and a.transpose(0, 2, 3, 1).flags.c_contiguous


def channels_last(a):
    """a (N, C, H, W) as a view of (N, H, W, C)-contiguous memory: a itself when it is one, else a copy."""
    t = a.transpose(0, 2, 3, 1)
    return a if t.flags.c_contiguous else np.ascontiguousarray(t).transpose(0, 3, 1, 2)


def empty_channels_last(shape, dtype):
    """An empty (N, C, H, W) array laid out in memory as (N, H, W, C)."""
    N, C, H, W = shape
    return np.empty((N, H, W, C), dtype=dtype).transpose(0, 3, 1, 2)
