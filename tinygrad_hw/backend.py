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
