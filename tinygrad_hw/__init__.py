"""tinygrad_hw: a small define-by-run tensor/autograd engine on NumPy (CPU) and CuPy (GPU).

>>> import tinygrad_hw as thw
>>> x = thw.tensor([[1.0, -2.0]], requires_grad=True)
>>> y = (x.relu() * 3).sum()
>>> y.backward()
>>> x.grad.tolist()
[[3.0, 0.0]]
"""
import numpy as _np

from .tensor import (Tensor, Function, no_grad, enable_grad, is_grad_enabled, set_grad_enabled,
                     inference_mode, is_tensor)
from .backend import Device, manual_seed, synchronize, get_rng_state, set_rng_state, keep_host_memory
from .backend import device, set_num_threads, get_num_threads
from .creation import (tensor, from_numpy, zeros, ones, empty, full, arange, linspace, eye, rand, randn,
                       randint, randperm, zeros_like, ones_like, empty_like, full_like, rand_like,
                       randn_like, from_dlpack)
from .ops import where, cat, stack
from .gradcheck import gradcheck
from . import autograd, cuda, nn, optim, data, viz, profiler, testing
from . import _checkout
_checkout.install()   # a source checkout serves tinygrad_hw.models from its models/ folder
from .data.sampler import Generator
from . import utils
from . import distributed
from .io import save, load

float16 = half = _np.dtype(_np.float16)
float32 = float = _np.dtype(_np.float32)
float64 = double = _np.dtype(_np.float64)
int8 = _np.dtype(_np.int8)
uint8 = _np.dtype(_np.uint8)
int16 = _np.dtype(_np.int16)
int32 = int = _np.dtype(_np.int32)
int64 = long = _np.dtype(_np.int64)
bool = _np.dtype(_np.bool_)


def _fn(name):
    def f(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    f.__name__ = name
    f.__doc__ = f"``thw.{name}(t, ...)`` is ``t.{name}(...)``."
    return f


(exp, log, sqrt, tanh, sigmoid, relu, abs, clamp, maximum, minimum, sum, mean, var, std, max, min,
 argmax, argmin, reshape, flatten, transpose, permute, unsqueeze, squeeze, matmul) = map(_fn, (
    "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "clamp", "maximum", "minimum", "sum", "mean",
    "var", "std", "max", "min", "argmax", "argmin", "reshape", "flatten", "transpose", "permute",
    "unsqueeze", "squeeze", "matmul"))


def pad(input, pad, value=0.0):
    return input.pad(pad, value)


# more torch functions: each is the Tensor method of that name
(sin, cos, tan, asin, acos, atan, arcsin, arccos, arctan, sinh, cosh, asinh, acosh, atanh, arcsinh,
 arccosh, arctanh, log2, log10, log1p, expm1, exp2, rsqrt, reciprocal, square, sign, floor, ceil, trunc,
 fix, round, frac, isnan, isinf, isfinite, isposinf, isneginf, nan_to_num, eq, ne, lt, le, gt, ge,
 greater, greater_equal, less, less_equal, not_equal, prod, cumsum, cumprod, logsumexp, norm, amax,
 amin, any, all, masked_fill, masked_select, gather, scatter, scatter_add, index_select, take_along_dim,
 tile, flip, roll, split, chunk, unbind, narrow, movedim, moveaxis, swapaxes, swapdims, tril, triu,
 diag, mm, bmm, dot, outer, sort, argsort, topk, kthvalue, median, mode) = map(_fn, (
    "sin", "cos", "tan", "asin", "acos", "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "asinh",
    "acosh", "atanh", "arcsinh", "arccosh", "arctanh", "log2", "log10", "log1p", "expm1", "exp2",
    "rsqrt", "reciprocal", "square", "sign", "floor", "ceil", "trunc", "fix", "round", "frac", "isnan",
    "isinf", "isfinite", "isposinf", "isneginf", "nan_to_num", "eq", "ne", "lt", "le", "gt", "ge",
    "greater", "greater_equal", "less", "less_equal", "not_equal", "prod", "cumsum", "cumprod",
    "logsumexp", "norm", "amax", "amin", "any", "all", "masked_fill", "masked_select", "gather",
    "scatter", "scatter_add", "index_select", "take_along_dim", "tile", "flip", "roll", "split", "chunk",
    "unbind", "narrow", "movedim", "moveaxis", "swapaxes", "swapdims", "tril", "triu", "diag", "mm",
    "bmm", "dot", "outer", "sort", "argsort", "topk", "kthvalue", "median", "mode"))
from .ops import einsum, linalg


def repeat_interleave(input, repeats=None, dim=None, output_size=None):
    """``thw.repeat_interleave(t, repeats, dim)``; ``thw.repeat_interleave(counts)`` repeats each
    index i counts[i] times, as torch."""
    if repeats is None:
        return arange(len(input), device=input.device).repeat_interleave(input, 0, output_size)
    return input.repeat_interleave(repeats, dim, output_size)

__version__ = "0.1.0"
