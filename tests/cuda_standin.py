"""A strict stand-in for CuPy, backed by NumPy, so the 'cuda' code paths run without a GPU.

With ``THW_TEST_CUDA_STANDIN=1`` the test suite installs this module as the 'cuda' array module
(``backend.set_cuda_module``). Its arrays hold a NumPy array and a device id and behave as CuPy's
do where engine bugs hide, so a test that passes here has none of these bugs:

- no implicit conversion to the host: ``np.asarray(a)``, ``np.array(a)``, ``a.__array__()`` and
  NumPy functions reading ``a`` raise TypeError with CuPy's message; ``float()``, ``int()``,
  ``bool()`` work only on one-element arrays (as CuPy, which syncs for them). ``a.get()``,
  ``asnumpy(a)``, ``a.item()`` and ``a.tolist()`` are the explicit copies.
- no mixing with host arrays: a ``numpy.ndarray`` (0-d included) or a list as an operand of a
  ufunc, an operator or an array function raises TypeError ("Unsupported type ..."), as CuPy's
  argument check does; Python scalars and NumPy scalars (``np.float32(2)``) are accepted.
  ``a[idx] = host_array`` raises ValueError for a non-0-d NumPy value, as CuPy's fill.
  ``asarray``/``array`` accept host data: that is the explicit host->device copy.
- integer-array indices out of bounds wrap around (CuPy's documented difference from NumPy);
  out-of-bounds basic integer indices raise IndexError, as both do.
- results are device arrays, never NumPy scalars: reductions and ``a[0]`` of a 1-d array give
  0-d arrays.
- devices: ``getDeviceCount()`` is 2 (``THW_STANDIN_DEVICES`` changes it); arrays are made on
  the current device (``cuda.Device(i)`` as a context manager, or ``.use()``); an op whose array
  operands are not all on the current device raises ValueError (CuPy without peer access), so
  a missing device scope shows up; ``copy()`` and ``array(copy=True)`` copy onto the current
  device, ``asarray`` of a device array returns it unchanged (any device), as CuPy.
- NumPy-only keywords are refused (TypeError): ``like=``, ``where=``, ``initial=``,
  ``writeable=``, ``subok=True``, ``signature=``, ``extobj=``, ``casting=`` on reductions.
  ``as_strided`` takes only ``shape`` and ``strides``.

Also: DLPack (``__dlpack__``, ``__dlpack_device__`` = (kDLCUDA, id), ``from_dlpack``, which
refuses host objects as CuPy does), ``cuda.Device`` (``.id``, ``.use()``, ``.synchronize()``), ``cuda.Event``,
``cuda.Stream``, ``cuda.get_elapsed_time``, ``cuda.runtime.getDeviceCount / getDevice /
setDevice / deviceSynchronize``, ``cupyx.scatter_add``, ``lib.stride_tricks.as_strided``,
``random.default_rng`` (integers, random, standard_normal, uniform, standard_exponential: CuPy's
Generator has no normal, permutation, choice or shuffle, so neither has this one).
Everything else NumPy has is reached through module ``__getattr__``, wrapped the same way.
"""
import functools
import os
import threading
import time
import types
import weakref

import numpy as np

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")
# NumPy keywords CuPy's functions and methods do not take
_NUMPY_ONLY = ("like", "where", "initial", "writeable", "signature", "extobj")

_local = threading.local()       # the current device is per thread, as in CUDA
_syncs = [0]                     # device->host reads so far (each one a host sync on a GPU)
_wrappers = {}                   # id of a NumPy array -> weakref to the device array wrapping it


def sync_count():
    """How many device->host reads (get, item, tolist, bool/int/float) have happened."""
    return _syncs[0]


def _count():
    return int(os.environ.get("THW_STANDIN_DEVICES", "2"))


def _current():
    return getattr(_local, "device", 0)


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


def _check_kwargs(name, kwargs):
    for k in _NUMPY_ONLY:
        if k in kwargs:
            raise TypeError(f"{name}() got an unexpected keyword argument '{k}'")
    if kwargs.get("subok"):
        raise TypeError(f"{name}: subok=True is not supported")


# --- wrapping and unwrapping ---------------------------------------------------------------
def _in(x, nested=True):
    """The NumPy array behind a device operand; host arrays (and lists where not nested) refused."""
    if isinstance(x, ndarray):
        if x._dev != _current():
            raise ValueError(f"The device where the array resides ({x._dev}) is different from the "
                             f"current device ({_current()}). Peer access is unavailable between "
                             "these devices.")
        return x._a
    if isinstance(x, np.ndarray):
        raise _unsupported(x)
    if isinstance(x, (list, tuple)):
        if not nested:
            raise _unsupported(x)
        return type(x)(_in(v) for v in x)
    if isinstance(x, dict):
        return {k: _in(v) for k, v in x.items()}
    return x


def _out(x):
    """Wrap a NumPy result as device arrays on the current device (NumPy scalars become 0-d)."""
    if isinstance(x, np.ndarray):
        return ndarray(x)
    if isinstance(x, np.generic):
        return ndarray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_out(v) for v in x)
    if isinstance(x, list):
        return [_out(v) for v in x]
    return x


def _device_fn(fn, name=None):
    """``fn`` (a NumPy function) taking and returning device arrays."""
    name = name or getattr(fn, "__name__", "function")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _check_kwargs(name, kwargs)
        return _out(fn(*_in(args), **_in(kwargs)))
    return wrapper


class _ufunc:
    """A NumPy ufunc restricted to device operands and scalars (``.at`` included)."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__
        self.nin, self.nout = uf.nin, uf.nout

    def __call__(self, *args, **kwargs):
        return _apply_ufunc(self._uf, "__call__", args, kwargs)

    def at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        args = (_in(a), _in(indices)) + (() if b is None else (_in(b, nested=False),))
        self._uf.at(*args)

    def reduce(self, a, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
        _check_kwargs(f"{self.__name__}.reduce", kwargs)
        if out is not None:
            raise TypeError("stand-in: out= in ufunc.reduce is not modelled")
        return _out(self._uf.reduce(_in(a, nested=False), axis=axis, dtype=dtype, keepdims=keepdims))

    def __repr__(self):
        return f"<stand-in ufunc '{self.__name__}'>"


def _apply_ufunc(uf, method, inputs, kwargs):
    _check_kwargs(uf.__name__, kwargs)
    out = kwargs.get("out")
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if not isinstance(o, ndarray):
                raise TypeError(f"Output arrays must be cupy.ndarray, got {type(o)}")
        kwargs = dict(kwargs, out=tuple(_in(o) for o in outs))
    arrays = [_in(x, nested=False) for x in inputs]
    result = getattr(uf, method)(*arrays, **kwargs)
    if out is not None:
        return out
    return _out(result)


# --- the array -----------------------------------------------------------------------------
class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata


class _MemoryPointer:
    """What ``ndarray.data`` is in CuPy: a device pointer, not a buffer of values."""
    __slots__ = ("ptr", "device_id")

    def __init__(self, a, dev):
        self.ptr, self.device_id = a.__array_interface__["data"][0], dev


def _method(name, reducing=False, view=False):
    """A NumPy method on device arrays. A view keeps its array's device; anything computed runs
    on the current device, which must hold the operands (as a CuPy kernel launch)."""
    def method(self, *args, **kwargs):
        _check_kwargs(name, kwargs)
        if reducing and "casting" in kwargs:
            raise TypeError(f"{name}() got an unexpected keyword argument 'casting'")
        if view:
            r = getattr(self._a, name)(*args, **kwargs)
            return ndarray(r, self._dev) if np.may_share_memory(r, self._a) else _method(name)(self, *args, **kwargs)
        return _out(getattr(_in(self), name)(*_in(args), **_in(kwargs)))
    method.__name__ = name
    return method


def _binary(uf, reflected=False, inplace=False):
    def op(self, other):
        if (not isinstance(other, (ndarray, np.ndarray, np.generic, int, float, complex, bool))
                and getattr(other, "__array_priority__", 0) > self.__array_priority__):
            return NotImplemented      # as CuPy: the other operand's reflected op wins
        if inplace:
            return uf(self, other, out=self)
        return uf(other, self) if reflected else uf(self, other)
    return op


class ndarray:
    """A device array: a NumPy array plus the id of the stand-in device holding it."""
    __slots__ = ("_a", "_dev", "__weakref__")
    __array_priority__ = 100

    def __init__(self, a, dev=None):
        if not isinstance(a, np.ndarray):
            raise TypeError("stand-in ndarray wraps a numpy.ndarray; use asarray() for host data")
        self._a = a
        self._dev = _current() if dev is None else dev
        # CuPy's view.base is the very array the view came from: keep a way back to it
        key = id(a)
        _wrappers[key] = weakref.ref(self, lambda ref, key=key: _wrappers.get(key) is ref and _wrappers.pop(key))

    # host conversion: only explicit
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def get(self, stream=None, order="C", out=None, blocking=True):
        _syncs[0] += 1
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def item(self):
        _syncs[0] += 1
        return self._a.item()

    def tolist(self):
        _syncs[0] += 1
        return self._a.tolist()

    def _scalar(self, kind):
        _syncs[0] += 1
        if self._a.size != 1:
            raise TypeError("only length-1 arrays can be converted to Python scalars")
        return kind(self._a.reshape(()).item())

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __complex__(self):
        return self._scalar(complex)

    def __index__(self):
        if self._a.dtype.kind not in "iu" or self._a.ndim:
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        _syncs[0] += 1
        return int(self._a)

    def __bool__(self):
        if self._a.size != 1:
            raise ValueError("The truth value of an array with more than one element is ambiguous.")
        _syncs[0] += 1
        return bool(self._a.reshape(()).item())

    # NumPy protocols: device operands only
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "at":
            return _ufunc(ufunc).at(*inputs, **kwargs)
        if method == "reduce":
            return _ufunc(ufunc).reduce(*inputs, **kwargs)
        if method != "__call__":
            return NotImplemented
        # NumPy hands a NumPy scalar operand over as a 0-d array (``np.float64(1) < a``); CuPy
        # takes that as the scalar it was. A direct ``cp.add(a, np.asarray(1.0))`` is refused.
        inputs = tuple(x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x for x in inputs)
        return _apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        for t in types:
            if not issubclass(t, ndarray):
                raise TypeError(f"Unsupported type {t}")
        return _device_fn(func)(*args, **kwargs)

    # attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: _Flags(self._a))
    device = property(lambda self: Device(self._dev))
    data = property(lambda self: _MemoryPointer(self._a, self._dev))
    T = property(lambda self: ndarray(self._a.T, self._dev))
    mT = property(lambda self: ndarray(np.swapaxes(self._a, -1, -2), self._dev))

    @property
    def base(self):
        root = self._a.base
        if root is None:
            return None
        if not isinstance(root, np.ndarray):
            return ndarray(self._a, self._dev)
        ref = _wrappers.get(id(root))
        owner = ref() if ref is not None else None
        return owner if owner is not None and owner._a is root else ndarray(root, self._dev)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "version": 3,
                "data": (self.data.ptr, False),
                "strides": None if self._a.flags.c_contiguous else self._a.strides}

    # DLPack: the capsule carries the device array itself; only this module's from_dlpack reads it
    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        return _Capsule(self)

    def __dlpack_device__(self):
        return (2, self._dev)         # kDLCUDA

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        return f"{np.array2string(self._a, prefix='array(')} (stand-in device {self._dev})"

    def __getitem__(self, index):
        idx = _index(index, self._a.shape)
        if _is_basic(idx):
            parts = idx if isinstance(idx, tuple) else (idx,)
            if Ellipsis not in parts:
                parts += (Ellipsis,)      # so an int index of every dim gives a 0-d view, as CuPy
            return ndarray(self._a[parts], self._dev)     # a view, wherever the array is
        return _out(_in(self)[idx])

    def __setitem__(self, index, value):
        if isinstance(value, np.ndarray) and value.ndim:
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        if isinstance(value, (list, tuple)):
            raise _unsupported(value)
        if isinstance(value, np.ndarray):
            value = value[()]          # a 0-d host value fills as a scalar
        _in(self)[_index(index, self._a.shape)] = _in(value)

    def copy(self, order="C"):
        return ndarray(self._a.copy(order=order))      # onto the current device, as CuPy

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if subok:
            raise TypeError("astype: subok=True is not supported")
        r = self._a.astype(dtype, order=order, copy=copy)
        return self if r is self._a else ndarray(r, self._dev)

    def fill(self, value):
        self[...] = value

    def view(self, *args, **kwargs):
        return ndarray(self._a.view(*args, **kwargs), self._dev)

    __hash__ = None


def _is_basic(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice, np.integer)) for p in parts)


def _index(index, shape=None):
    """An index for a device array: device index arrays unwrapped; lists and slices pass. With
    ``shape``, integer-array indices wrap around instead of raising, as CuPy's do (where each
    index part maps to one axis: no None, Ellipsis or boolean part)."""
    if isinstance(index, tuple):
        parts = tuple(_index(i) for i in index)
    else:
        parts = (_in(index) if isinstance(index, ndarray) else index,)
    if shape is not None and all(p is not None and p is not Ellipsis for p in parts):
        wrapped = []
        for p, n in zip(parts, shape):
            if isinstance(p, (list, np.ndarray)) and np.asarray(p).dtype.kind in "iu" and n:
                p = np.mod(p, n)
            wrapped.append(p)
        parts = tuple(wrapped) + parts[len(wrapped):]
    return parts if isinstance(index, tuple) else parts[0]


for _name in ("sum", "mean", "max", "min", "prod", "var", "std", "any", "all", "argmax", "argmin",
              "cumsum", "cumprod"):
    setattr(ndarray, _name, _method(_name, reducing=True))
for _name in ("reshape", "transpose", "ravel", "squeeze", "swapaxes"):
    setattr(ndarray, _name, _method(_name, view=True))
for _name in ("flatten", "clip", "dot",
              "nonzero", "take", "repeat", "round", "conj", "sort", "argsort", "diagonal", "trace",
              "argpartition", "partition", "choose", "compress", "searchsorted"):
    setattr(ndarray, _name, _method(_name))
_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
        "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
        "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
        "lshift": np.left_shift, "rshift": np.right_shift}
for _name, _uf in _OPS.items():
    _u = _ufunc(_uf)
    setattr(ndarray, f"__{_name}__", _binary(_u))
    setattr(ndarray, f"__r{_name}__", _binary(_u, reflected=True))
    setattr(ndarray, f"__i{_name}__", _binary(_u, inplace=True))
for _name, _uf in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                   "eq": np.equal, "ne": np.not_equal}.items():
    setattr(ndarray, f"__{_name}__", _binary(_ufunc(_uf)))
for _name, _uf in {"neg": np.negative, "pos": np.positive, "abs": np.absolute,
                   "invert": np.invert}.items():
    setattr(ndarray, f"__{_name}__", (lambda u: lambda self: u(self))(_ufunc(_uf)))


# --- creation and host copies ----------------------------------------------------------------
def _host_data(obj):
    """Host data for a host->device copy: device arrays inside lists are read on the device."""
    if isinstance(obj, ndarray):
        return _in(obj)
    if isinstance(obj, (list, tuple)):
        return [_host_data(v) for v in obj]
    return obj


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, **kwargs):
    _check_kwargs("array", dict(kwargs, subok=subok))
    if isinstance(obj, ndarray) and not copy:
        r = obj.astype(dtype, copy=False) if dtype is not None else obj
        return r if ndmin <= r.ndim else ndarray(np.array(r._a, copy=False, ndmin=ndmin), r._dev)
    return ndarray(np.array(_host_data(obj), dtype=dtype, order=order, ndmin=ndmin, copy=True))


def asarray(a, dtype=None, order=None, **kwargs):
    _check_kwargs("asarray", kwargs)
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    return ndarray(np.array(_host_data(a), dtype=dtype, order=order, copy=True))


def ascontiguousarray(a, dtype=None, **kwargs):
    _check_kwargs("ascontiguousarray", kwargs)
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    return ndarray(np.ascontiguousarray(_in(a), dtype=dtype))


class _Capsule:
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def from_dlpack(x, *, device=None, copy=None):
    """A device array sharing memory with ``x`` (an object with ``__dlpack__`` of a CUDA device)."""
    if isinstance(x, ndarray):
        return x
    if hasattr(x, "__dlpack_device__") and x.__dlpack_device__()[0] != 2:
        raise TypeError(f"from_dlpack: {type(x).__name__} is not on a CUDA device "
                        f"(DLPack device {x.__dlpack_device__()}); copy it with asarray()")
    cap = x.__dlpack__() if hasattr(x, "__dlpack__") else x
    if not isinstance(cap, _Capsule):
        raise TypeError(f"from_dlpack: the stand-in reads only its own arrays, got {type(x).__name__}")
    return cap.array


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    return cuda_module if any(isinstance(a, ndarray) for a in args) else np


# --- cuda: devices, streams, events, runtime -------------------------------------------------
class Device:
    """``cupy.cuda.Device(i)``: ``with`` makes it current; ``.use()`` makes it current for good."""

    def __init__(self, device=None):
        if device is None:
            device = _current()
        self.id = int(device.id if isinstance(device, Device) else device)
        if not 0 <= self.id < _count():
            raise RuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self._prev = []

    def __enter__(self):
        self._prev.append(_current())
        _local.device = self.id
        return self

    def __exit__(self, *exc):
        _local.device = self._prev.pop()
        return False

    def use(self):
        _local.device = self.id

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id} (stand-in)>"


class Stream:
    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.device_id = _current()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return self

    def synchronize(self):
        pass


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._t = None

    def record(self, stream=None):
        self._t = time.perf_counter()

    def synchronize(self):
        pass

    @property
    def done(self):
        return True


def get_elapsed_time(start, end):
    """Milliseconds between two recorded events."""
    if start._t is None or end._t is None:
        raise RuntimeError("cudaErrorInvalidResourceHandle: event not recorded")
    return (end._t - start._t) * 1e3


def _set_device(i):
    Device(i).use()


runtime = types.SimpleNamespace(
    getDeviceCount=_count, getDevice=_current, setDevice=_set_device,
    deviceSynchronize=lambda: None, runtimeGetVersion=lambda: 13000,
    driverGetVersion=lambda: 13000,
    getDeviceProperties=lambda i: {"name": b"stand-in", "totalGlobalMem": 0,
                                   "multiProcessorCount": 1, "major": 0, "minor": 0})
Stream.null = Stream(null=True)
cuda = types.SimpleNamespace(Device=Device, Stream=Stream, Event=Event, runtime=runtime,
                             get_elapsed_time=get_elapsed_time,
                             get_current_stream=lambda: Stream.null, is_available=lambda: True)


# --- random, lib, cupyx ------------------------------------------------------------------------
class Generator:
    """``cupy.random.Generator``: draws made on the current device."""

    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)

    def _draw(self, name, *args, out=None, **kwargs):
        _check_kwargs(name, kwargs)
        r = _out(np.asarray(getattr(self._g, name)(*args, **kwargs)))
        if out is None:
            return r
        if not isinstance(out, ndarray) or out.dtype != r.dtype or out.shape != r.shape:
            raise TypeError("Supplied output array has the wrong type or shape")
        out[...] = r
        return out

    def random(self, size=None, dtype=np.float64, out=None):
        return self._draw("random", size if out is None else out.shape, dtype=dtype, out=out)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._draw("standard_normal", size if out is None else out.shape, dtype=dtype, out=out)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return self._draw("uniform", _in(low), _in(high), size).astype(dtype)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._draw("integers", low, high, size, dtype=dtype, endpoint=endpoint)

    def standard_exponential(self, size=None, dtype=np.float64, method="inv", out=None):
        return self._draw("standard_exponential", size, dtype=dtype)

    # CuPy's Generator has no normal, permutation, choice or shuffle: neither has this one


def _as_strided(x, shape=None, strides=None):
    if not isinstance(x, ndarray):
        raise _unsupported(x)
    return ndarray(np.lib.stride_tricks.as_strided(_in(x), shape=shape, strides=strides), x._dev)


def _scatter_add(a, slices, value):
    """``cupyx.scatter_add``: ``a[slices] += value`` with repeated indices accumulating."""
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    np.add.at(_in(a), _index(slices), _in(value, nested=False))


random = types.SimpleNamespace(default_rng=lambda seed=None: Generator(seed), Generator=Generator)
lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))
cupyx = types.SimpleNamespace(scatter_add=_scatter_add)
__version__ = "stand-in"


# --- everything else NumPy has, restricted to device arrays ------------------------------------
_cache = {}


def __getattr__(name):
    if name in _cache:
        return _cache[name]
    obj = getattr(np, name)       # AttributeError for names NumPy lacks
    if isinstance(obj, np.ufunc):
        obj = _ufunc(obj)
    elif callable(obj) and not isinstance(obj, type):
        obj = _device_fn(obj, name)
    elif isinstance(obj, types.ModuleType):
        raise AttributeError(f"the CUDA stand-in has no submodule {name!r}")
    _cache[name] = obj
    return obj


import sys as _sys   # noqa: E402
cuda_module = _sys.modules[__name__]
