"""Convolution layers as Modules: each holds its weight and bias and calls ``F.conv2d``.

Notation: N batch, C channels, H/W height/width, KH/KW kernel size.
"""
from . import functional as F
from ._conv import pair
from .linear import _WeightAndBias


class Conv2d(_WeightAndBias):
    """2-D convolution. Shapes: x (N, C_in, H, W) -> (N, C_out, OH, OW);
    weight (C_out, C_in / groups, KH, KW); bias (C_out,)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must both "
                             f"be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode '{padding_mode}' is not supported (only 'zeros')")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = pair(kernel_size, "kernel_size"), pair(stride, "stride"), pair(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of ('valid', 'same')")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
        self.padding_mode = padding_mode
        self._add_weight_and_bias((out_channels, in_channels // groups) + self.kernel_size, bias, device, dtype)

    def _explicit_padding(self, input):
        """'valid' and 'same' as numbers; an odd 'same' total pads one more on the bottom/right, as torch."""
        if self.padding == "valid":
            return input, (0, 0)
        totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
        if all(t % 2 == 0 for t in totals):
            return input, (totals[0] // 2, totals[1] // 2)
        (th, tw) = totals
        return input.pad((tw // 2, tw - tw // 2, th // 2, th - th // 2)), (0, 0)

    def forward(self, input):
        padding = self.padding
        if isinstance(padding, str):
            input, padding = self._explicit_padding(input)
        return F.conv2d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
