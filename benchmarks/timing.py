"""Timers that measure the same thing on every backend: seconds for ``n`` calls of a step.

On the CPU that is wall time (``perf_counter``). On a GPU the host returns as soon as work is
queued, so we synchronise first, record an event before and after the calls on the stream, wait
for the last one and read the time between them from the device. The gaps where the GPU idled
waiting for Python to launch kernels count too: that overhead is part of what is compared.
"""
import time


class CpuTimer:
    """Wall-clock seconds for ``n`` calls of ``fn``."""

    def time(self, fn, n):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - start


class CupyTimer:
    """Seconds on the device, via ``cupy.cuda.Event``, for ``n`` calls of ``fn``."""

    def __init__(self):
        from tinygrad_hw import backend
        self.cupy = backend.cuda_module()

    def time(self, fn, n):
        cp = self.cupy
        cp.cuda.Device().synchronize()
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return cp.cuda.get_elapsed_time(start, end) / 1e3


class TorchCudaTimer:
    """Seconds on the device, via ``torch.cuda.Event``, for ``n`` calls of ``fn``."""

    def __init__(self):
        import torch
        self.torch = torch

    def time(self, fn, n):
        torch = self.torch
        torch.cuda.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3


# After a parallel region the worker threads of OpenBLAS (NumPy) and of OpenMP (torch) keep
# spinning for up to about 0.1 s. Timed right after the other framework, a step would share the
# cores with them: that slowed torch's LeNet-5 and MLP steps by up to 3x in interleaved runs.
SETTLE_S = 0.2


def settle(seconds=SETTLE_S):
    """Idle until the other framework's CPU worker threads have gone to sleep."""
    time.sleep(seconds)


def timer_for(framework, device):
    """The timer for ('ours' | 'torch', 'cpu' | 'cuda')."""
    if device == "cpu":
        return CpuTimer()
    return CupyTimer() if framework == "ours" else TorchCudaTimer()
