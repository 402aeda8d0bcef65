"""Activation layers as Modules, with torch's names, constructor arguments and ``extra_repr``;
each calls the function of the same name in ``nn.functional``. ``inplace=True`` is accepted for
torch compatibility; the result is always a new tensor.
"""
from . import functional as F
from .init import _empty, constant_
from .module import Module, Parameter


class _Activation(Module):
    """A Module around ``F.<fn>``; ``_args`` names the constructor arguments passed on to it."""
    _fn = None
    _args = ()

    def forward(self, input):
        return getattr(F, self._fn)(input, *(getattr(self, a) for a in self._args))

    def extra_repr(self):
        s = ", ".join(f"{a}={getattr(self, a)!r}" for a in self._args)
        if getattr(self, "inplace", False):
            s += (", " if s else "") + "inplace=True"
        return s


class Tanh(_Activation):
    _fn = "tanh"


class Sigmoid(_Activation):
    _fn = "sigmoid"


class Softmax(_Activation):
    _fn = "softmax"
    _args = ("dim",)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    _fn = "log_softmax"


class _InplaceActivation(_Activation):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


class LeakyReLU(_Activation):
    _fn, _args = "leaky_relu", ("negative_slope",)

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace


class ELU(_Activation):
    _fn, _args = "elu", ("alpha",)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace


class CELU(ELU):
    _fn = "celu"


class ReLU(_InplaceActivation):
    _fn = "relu"

    def forward(self, input):       # the models' hot path: a direct call
        return F.relu(input)


class SELU(_InplaceActivation):
    _fn = "selu"


class GELU(_Activation):
    _fn, _args = "gelu", ("approximate",)

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate


class SiLU(_InplaceActivation):
    _fn = "silu"


class Mish(_InplaceActivation):
    _fn = "mish"


class Softplus(_Activation):
    _fn, _args = "softplus", ("beta", "threshold")

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold


class Softsign(_Activation):
    _fn = "softsign"


class Hardtanh(_Activation):
    _fn, _args = "hardtanh", ("min_val", "max_val")

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace


class ReLU6(_InplaceActivation):
    _fn = "relu6"


class Hardsigmoid(_InplaceActivation):
    _fn = "hardsigmoid"


class Hardswish(_InplaceActivation):
    _fn = "hardswish"


class LogSigmoid(_Activation):
    _fn = "logsigmoid"


class PReLU(Module):
    """x if x > 0 else weight * x; ``weight`` (num_parameters,) is one slope per channel (dim 1)
    or one shared slope, initialised to ``init`` (torch's 0.25)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(_empty((num_parameters,), device, dtype))
        self.reset_parameters()

    def reset_parameters(self):
        constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
