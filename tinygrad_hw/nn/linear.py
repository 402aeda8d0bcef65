"""Dense layers as Modules: Linear (holding its weight and bias) and Identity.

Default initialisation follows torch (kaiming_uniform_ with a=sqrt(5) for the weight,
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias).
"""
from . import functional as F
from .init import _empty, _init_weight_and_bias
from .module import Module, Parameter


class _WeightAndBias(Module):
    """A layer with ``weight`` (O, ...) and an optional ``bias`` (O,), initialised as torch does;
    ``bias_size`` where the outputs are not the weight's dim 0 (transposed convolutions)."""

    def _add_weight_and_bias(self, weight_shape, bias, device, dtype, bias_size=None):
        self.weight = Parameter(_empty(weight_shape, device, dtype))
        if bias:
            self.bias = Parameter(_empty((weight_shape[0] if bias_size is None else bias_size,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        _init_weight_and_bias(self.weight, self.bias)


class Linear(_WeightAndBias):
    """y = x @ weight.T + bias. Shapes: x (*, in_features) -> (*, out_features); weight (out, in)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._add_weight_and_bias((out_features, in_features), bias, device, dtype)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input
