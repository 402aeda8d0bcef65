"""``thw.cuda``: whether a GPU can be used, and waiting for it."""
from . import backend


def is_available():
    """True when CuPy imports and sees a CUDA GPU."""
    return backend.cuda_available()


def device_count():
    return backend.cuda_device_count()


def synchronize(device="cuda"):
    backend.synchronize(device)
