"""Convolution layers as Modules: each holds its weight and bias and calls ``F.conv1d/2d/3d`` or
``F.conv_transpose1d/2d/3d``. One constructor (``_ConvNd``) serves every rank; the class fixes it.

Notation: N batch, C channels, L length, D/H/W depth/height/width, K* kernel size.
"""
from . import functional as F
from ._conv import ntuple, same_or_valid
from .linear import _WeightAndBias

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(_WeightAndBias):
    """The shared constructor and padding logic of Conv1d/2d/3d (``_nd`` spatial dims)."""
    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None, output_padding=0):
        super().__init__()
        nd = self._nd
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must both "
                             f"be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, but got padding_mode='{padding_mode}'")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, nd, "kernel_size")
        self.stride, self.dilation = ntuple(stride, nd, "stride"), ntuple(dilation, nd, "dilation")
        if isinstance(padding, str):
            if self._transposed:
                raise ValueError(f"{type(self).__name__} takes numeric padding only, got {padding!r}")
            self._lohi = same_or_valid(padding, self.kernel_size, self.dilation, self.stride)
            self.padding = padding
        else:
            self.padding = ntuple(padding, nd, "padding")
            self._lohi = [(p, p) for p in self.padding]
        self.padding_mode = padding_mode
        self.output_padding = ntuple(output_padding, nd, "output_padding")
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self._add_weight_and_bias(shape, bias, device, dtype, bias_size=out_channels)

    def _padded(self, input):
        """The input padded as ``padding_mode`` says, and the padding left for the conv itself:
        zeros of equal sides go to the conv; other modes and an odd 'same' are padded here."""
        if self.padding_mode == "zeros" and all(lo == hi for lo, hi in self._lohi):
            return input, tuple(lo for lo, _ in self._lohi)
        flat = []
        for lo, hi in reversed(self._lohi):
            flat += [lo, hi]
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        return F.pad(input, tuple(flat), mode=mode), 0

    def forward(self, input):
        input, padding = self._padded(input)
        return self._conv(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self):
        nd = self._nd
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution. Shapes: x (N, C_in, L) -> (N, C_out, OL); weight (C_out, C_in / groups, K);
    bias (C_out,). padding: int, tuple, 'same' or 'valid'; padding_mode 'zeros', 'reflect',
    'replicate' or 'circular'."""
    _nd = 1
    _conv = staticmethod(F.conv1d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)


class Conv2d(_ConvNd):
    """2-D convolution. Shapes: x (N, C_in, H, W) -> (N, C_out, OH, OW);
    weight (C_out, C_in / groups, KH, KW); bias (C_out,). padding and padding_mode as Conv1d."""
    _nd = 2
    _conv = staticmethod(F.conv2d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)


class Conv3d(_ConvNd):
    """3-D convolution. Shapes: x (N, C_in, D, H, W) -> (N, C_out, OD, OH, OW);
    weight (C_out, C_in / groups, KD, KH, KW); bias (C_out,). padding and padding_mode as Conv1d."""
    _nd = 3
    _conv = staticmethod(F.conv3d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)


class _ConvTransposeNd(_ConvNd):
    """The shared constructor and forward of ConvTranspose1d/2d/3d; weight (C_in, C_out / groups, *K)."""
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, output_padding=output_padding)

    def _output_padding(self, input, output_size):
        """The output_padding that gives ``output_size`` (the last nd sizes count), as torch."""
        nd = self._nd
        if output_size is None:
            return self.output_padding
        size = list(output_size)[-nd:]
        if len(size) != nd:
            raise ValueError(f"output_size must have {nd} or {nd + 2} elements (got {len(output_size)})")
        out = []
        for i in range(nd):
            least = ((input.shape[input.ndim - nd + i] - 1) * self.stride[i] - 2 * self.padding[i]
                     + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            if not least <= size[i] < least + max(self.stride[i], self.dilation[i]):
                raise ValueError(f"requested an output size of {tuple(size)}, but valid sizes of dim {i} "
                                 f"range from {least} to {least + max(self.stride[i], self.dilation[i]) - 1}")
            out.append(size[i] - least)
        return tuple(out)

    def forward(self, input, output_size=None):
        return self._conv(input, self.weight, self.bias, self.stride, self.padding,
                          self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution (conv1d's input gradient). Shapes: x (N, C_in, L) -> (N, C_out, OL),
    OL = (L-1)*stride - 2*padding + dilation*(K-1) + output_padding + 1; weight (C_in, C_out / groups, K)."""
    _nd = 1
    _conv = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (conv2d's input gradient). Shapes: x (N, C_in, H, W) ->
    (N, C_out, OH, OW); weight (C_in, C_out / groups, KH, KW)."""
    _nd = 2
    _conv = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution (conv3d's input gradient). Shapes: x (N, C_in, D, H, W) ->
    (N, C_out, OD, OH, OW); weight (C_in, C_out / groups, KD, KH, KW)."""
    _nd = 3
    _conv = staticmethod(F.conv_transpose3d)
