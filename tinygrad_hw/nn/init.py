"""Weight initialisers with PyTorch's names and distributions; each fills a Tensor in place
(keeping the object, so a Parameter stays registered) and returns it.

Random values come from ``backend.rng(tensor.device)``, so ``thw.manual_seed`` makes them
reproducible.

>>> import tinygrad_hw as thw
>>> w = thw.empty(3, 4)
>>> _ = kaiming_uniform_(w, a=5 ** 0.5)
>>> bool((w.numpy().__abs__() <= 0.5).all())     # bound = 1/sqrt(fan_in) = 1/2 for a=sqrt(5)
True
"""
import functools
import math

import numpy as np

from .. import backend, creation


def _random(tensor, kind):
    """Uniform [0, 1) or standard-normal draws shaped and typed like ``tensor``."""
    gen = backend.rng(tensor.device)
    dt = tensor.dtype
    draw_dt = dt if dt in (np.float32, np.float64) else np.float32    # generators offer only these two
    draw = gen.random if kind == "uniform" else gen.standard_normal
    return draw(tensor.shape, dtype=draw_dt)


def _fill(tensor, values):
    tensor._data[...] = values
    return tensor


def _scoped(fill):
    """Run an initialiser inside the tensor's device scope (CuPy draws on the current device)."""
    @functools.wraps(fill)
    def run(tensor, *args, **kwargs):
        if tensor.device.type == "cpu":
            return fill(tensor, *args, **kwargs)
        with backend.device_scope(tensor.device):
            return fill(tensor, *args, **kwargs)
    return run


@_scoped
def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    return _fill(tensor, _random(tensor, "uniform") * (b - a) + a)


@_scoped
def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std**2)."""
    return _fill(tensor, _random(tensor, "normal") * std + mean)


@_scoped
def constant_(tensor, val):
    return _fill(tensor, val)


@_scoped
def zeros_(tensor):
    return _fill(tensor, 0)


@_scoped
def ones_(tensor):
    return _fill(tensor, 1)


def calculate_gain(nonlinearity, param=None):
    """The gain that keeps activations' variance stable through ``nonlinearity`` (torch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight (out, in, *kernel): in * prod(kernel), out * prod(kernel)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (got shape {tensor.shape})")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


@_scoped
def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015)."""
    if tensor.numel() == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


@_scoped
def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std**2) with std = gain / sqrt(fan)."""
    if tensor.numel() == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)))


@_scoped
def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a)


@_scoped
def xavier_normal_(tensor, gain=1.0):
    """N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


# --- torch's default initialisation of the layers, shared by Linear, Conv2d and PReLU -------------
def _empty(shape, device, dtype):
    return creation.empty(*shape, dtype=dtype, device="cpu" if device is None else device)


def _init_weight_and_bias(weight, bias):
    """torch's default for Linear and Conv: kaiming_uniform_(a=sqrt(5)), bias U(+-1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
