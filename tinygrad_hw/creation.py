"""Tensor creation: thw.tensor, zeros/ones/full/empty/arange, random tensors, *_like, from_numpy."""
import functools

import numpy as np

from . import backend
from .tensor import Tensor, _shape_args

_DEFAULT_FLOAT = np.dtype(np.float32)


def _leaf(array, dev, requires_grad):
    t = Tensor._wrap(array, dev)
    return t.requires_grad_(True) if requires_grad else t


def _on_device(factory):
    """Run a factory inside its device's scope, so that a GPU tensor is allocated on the GPU it
    names (CuPy allocates on the current device), not on whichever is current."""
    @functools.wraps(factory)
    def make(*args, device="cpu", **kwargs):
        dev = backend.device(device)
        if dev.type == "cpu":
            return factory(*args, device=dev, **kwargs)
        with backend.device_scope(dev):
            return factory(*args, device=dev, **kwargs)
    return make


def _dtype(dtype, default=_DEFAULT_FLOAT):
    return default if dtype is None else np.dtype(dtype)


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new tensor holding a copy of ``data``: Python floats -> float32, ints -> int64, NumPy
    arrays keep their dtype.

    >>> tensor([[1.0, 2.0]]).dtype
    dtype('float32')
    """
    dev = backend.device(device)
    t = Tensor(data, dtype=dtype, device=dev)
    if t._data is data or (isinstance(data, Tensor) and t._data is data._data):
        t._data = t._data.copy()
    return t.requires_grad_(True) if requires_grad else t


def from_numpy(array):
    """A CPU tensor sharing memory with a NumPy array (no copy, dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array, backend.CPU)


def from_dlpack(ext_tensor):
    """A tensor sharing memory with any DLPack exporter (a torch, CuPy or JAX array, a NumPy
    array, a Tensor): no copy. CPU memory becomes a CPU tensor, CUDA memory a 'cuda:N' tensor."""
    if isinstance(ext_tensor, Tensor):
        ext_tensor = ext_tensor._data
    if not hasattr(ext_tensor, "__dlpack_device__"):
        raise TypeError(f"from_dlpack expects an object with __dlpack__ and __dlpack_device__ (a "
                        f"torch/CuPy/NumPy array), got {type(ext_tensor).__name__}")
    kind, index = ext_tensor.__dlpack_device__()
    kind = int(kind)
    if kind == 1:                                   # kDLCPU
        return Tensor._wrap(np.from_dlpack(ext_tensor), backend.CPU)
    if kind in (2, 13):                             # kDLCUDA, kDLCUDAManaged
        dev = backend.device(f"cuda:{int(index)}")
        with backend.device_scope(dev):
            return Tensor._wrap(dev.xp.from_dlpack(ext_tensor), dev)
    raise RuntimeError(f"from_dlpack: DLPack device type {kind} is not supported (only CPU and CUDA)")


def _filled(fill, size, dtype, device, requires_grad):
    dev = backend.device(device)
    shape = _shape_args(size)
    return _leaf(dev.xp.full(shape, fill, dtype=_dtype(dtype)), dev, requires_grad)


@_on_device
def zeros(*size, dtype=None, device="cpu", requires_grad=False):
    return _filled(0, size, dtype, device, requires_grad)


@_on_device
def ones(*size, dtype=None, device="cpu", requires_grad=False):
    return _filled(1, size, dtype, device, requires_grad)


@_on_device
def empty(*size, dtype=None, device="cpu", requires_grad=False):
    dev = backend.device(device)
    return _leaf(dev.xp.empty(_shape_args(size), dtype=_dtype(dtype)), dev, requires_grad)


@_on_device
def full(size, fill_value, dtype=None, device="cpu", requires_grad=False):
    if dtype is None:
        dtype = (np.bool_ if isinstance(fill_value, bool) else
                 np.int64 if isinstance(fill_value, int) else _DEFAULT_FLOAT)
    return _filled(fill_value, (size,) if isinstance(size, int) else size, dtype, device, requires_grad)


@_on_device
def arange(start, end=None, step=1, dtype=None, device="cpu", requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, end, step))
        dtype = np.int64 if ints else _DEFAULT_FLOAT
    dev = backend.device(device)
    return _leaf(dev.xp.arange(start, end, step, dtype=np.dtype(dtype)), dev, requires_grad)


@_on_device
def linspace(start, end, steps, dtype=None, device="cpu", requires_grad=False):
    dev = backend.device(device)
    return _leaf(dev.xp.linspace(start, end, steps, dtype=_dtype(dtype)), dev, requires_grad)


@_on_device
def eye(n, m=None, dtype=None, device="cpu", requires_grad=False):
    dev = backend.device(device)
    return _leaf(dev.xp.eye(n, m, dtype=_dtype(dtype)), dev, requires_grad)


@_on_device
def rand(*size, dtype=None, device="cpu", requires_grad=False):
    """Uniform on [0, 1), from the generator seeded by ``thw.manual_seed``."""
    dev = backend.device(device)
    dt = _dtype(dtype)
    arr = backend.rng(dev).random(_shape_args(size), dtype=dt if dt.itemsize >= 4 else np.float32)
    return _leaf(arr.astype(dt, copy=False), dev, requires_grad)


@_on_device
def randn(*size, dtype=None, device="cpu", requires_grad=False):
    """Standard normal, from the generator seeded by ``thw.manual_seed``."""
    dev = backend.device(device)
    dt = _dtype(dtype)
    arr = backend.rng(dev).standard_normal(_shape_args(size), dtype=dt if dt.itemsize >= 4 else np.float32)
    return _leaf(arr.astype(dt, copy=False), dev, requires_grad)


@_on_device
def randint(low, high=None, size=(), dtype=None, device="cpu"):
    if high is None:
        low, high = 0, low
    dev = backend.device(device)
    arr = backend.rng(dev).integers(low, high, size=(size,) if isinstance(size, int) else tuple(size))
    return _leaf(dev.xp.asarray(arr, dtype=_dtype(dtype, np.dtype(np.int64))), dev, False)


@_on_device
def randperm(n, device="cpu"):
    """A random permutation of 0..n-1 (int64): the order that sorts n uniform draws, which every
    device's generator can make the same way."""
    dev = backend.device(device)
    order = backend.rng(dev).random(n).argsort()
    return _leaf(dev.xp.asarray(order, dtype=np.int64), dev, False)


def _like(fn):
    def like(input, dtype=None, device=None, requires_grad=False):
        return fn(*input.shape, dtype=input.dtype if dtype is None else dtype,
                  device=input.device if device is None else device, requires_grad=requires_grad)
    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"``{fn.__name__}`` with the shape (and by default dtype and device) of ``input``."
    return like


zeros_like, ones_like, empty_like, rand_like, randn_like = map(_like, (zeros, ones, empty, rand, randn))


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device, requires_grad=requires_grad)
