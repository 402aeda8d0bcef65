"""Pooling layers as Modules, thin holders of the options of ``F.max_pool2d``, ``F.avg_pool2d``
and ``F.adaptive_avg_pool2d``."""
from . import functional as F
from .module import Module


def _options(**kw):
    """Keyword arguments that differ from their defaults (name -> (value, default))."""
    return {k: v for k, (v, default) in kw.items() if v != default}


class MaxPool2d(Module):
    """Max over KH x KW windows (padding with -inf, stride defaulting to the kernel, floor size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        extra = _options(dilation=(self.dilation, 1), return_indices=(self.return_indices, False),
                         ceil_mode=(self.ceil_mode, False))
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, **extra)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over KH x KW windows (zero padding counted, as torch's default)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        extra = _options(ceil_mode=(self.ceil_mode, False), count_include_pad=(self.count_include_pad, True),
                         divisor_override=(self.divisor_override, None))
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, **extra)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average-pool (N, C, H, W) to (N, C, *output_size)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
