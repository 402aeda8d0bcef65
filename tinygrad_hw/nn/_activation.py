"""Activation functions: each a Function with forward and backward side by side, and its
functional wrapper with torch.nn.functional's name, signature and defaults.

Gradients at the kinks follow torch: leaky_relu, prelu and elu take the negative branch at 0,
hardtanh/relu6 have gradient 0 at both bounds, hardsigmoid 0 at -3 and 3, hardswish 0 at -3 and
1 at 3. Everything that exponentiates works on -|x|, so nothing overflows at large |x|.
"""
import math

import numpy as np

from ..tensor import Function, Tensor
from ..ops.softmax import softmax, log_softmax     # noqa: F401  (re-exported by nn.functional)

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "elu", "selu", "celu",
           "gelu", "silu", "mish", "softplus", "softsign", "hardtanh", "relu6", "hardsigmoid",
           "hardswish", "logsigmoid", "prelu"]


# --- stable building blocks on raw arrays -------------------------------------------------------
def _sigmoid(xp, x):
    """1 / (1 + exp(-x)) without overflow: 0.5 * (1 + tanh(x / 2))."""
    return 0.5 * (xp.tanh(0.5 * x) + 1)


def _softplus(xp, x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): exact at large |x|."""
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _erfc_fit(degree=20, zmax=26.0):
    """Chebyshev coefficients of h(s) = log(erfc(z)) + z^2 - log(t), t = 2 / (2 + z), s the
    affine map of t in [2 / (2 + zmax), 1] onto [-1, 1]. Fitted once, on the host, from
    math.erfc at Chebyshev nodes; erfc(z) underflows in float64 beyond zmax anyway."""
    lo = 2.0 / (2.0 + zmax)
    nodes = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))
    t = lo + (nodes + 1) * (1 - lo) / 2
    z = 2.0 / t - 2.0
    h = [math.log(math.erfc(v)) + v * v - math.log(u) for v, u in zip(z, t)]
    # interpolation at the nodes by the discrete cosine sum (a least-squares fit is ill-conditioned)
    k = np.arange(degree + 1)[:, None]
    coef = 2.0 / (degree + 1) * (np.cos(np.pi * k * (np.arange(degree + 1) + 0.5) / (degree + 1)) @ h)
    coef[0] /= 2
    return [float(c) for c in coef], lo


_ERFC_COEF, _ERFC_TLO = _erfc_fit()
# float32 needs only the terms down to its rounding: the dropped tail sums to below 1e-8
_ERFC_TERMS32 = next(k for k in range(1, len(_ERFC_COEF) + 1)
                     if sum(abs(c) for c in _ERFC_COEF[k:]) < 1e-8)


def erfc_array(xp, z):
    """erfc(z) for z >= 0 (any array module), relative error below 1e-12 in float64."""
    coef = _ERFC_COEF[:_ERFC_TERMS32] if z.dtype.itemsize <= 4 else _ERFC_COEF
    shape = z.shape
    z = xp.asarray(z).reshape(-1)     # 1-d, so a 0-d input does not decay to a scalar (no out=)
    t = 2.0 / (2.0 + z)
    s2 = (4.0 / (1 - _ERFC_TLO)) * t
    s2 -= 2 * (1 + _ERFC_TLO) / (1 - _ERFC_TLO)
    xp.maximum(s2, -2.0, out=s2)      # z beyond the fit, where erfc is 0 in float64 anyway
    # Clenshaw's recurrence b_k = 2 s b_{k+1} - b_{k+2} + c_k, in place on three buffers
    b1, b2, tmp = xp.full_like(z, coef[-1]), xp.zeros_like(z), xp.empty_like(z)
    for c in coef[-2:0:-1]:
        xp.multiply(s2, b1, out=tmp)
        tmp -= b2
        tmp += c
        b1, b2, tmp = tmp, b1, b2
    xp.multiply(s2, b1, out=tmp)      # h = s b_1 - b_2 + c_0
    tmp *= 0.5
    tmp -= b2
    tmp += coef[0]
    tmp -= z * z
    xp.exp(tmp, out=tmp)
    tmp *= t
    return tmp.reshape(shape)


def _normal_cdf(xp, x):
    """Phi(x) = erfc(-x / sqrt(2)) / 2, accurate in relative terms in both tails."""
    q = 0.5 * erfc_array(xp, xp.abs(x) * (1 / math.sqrt(2)))
    pos = x >= 0
    return (pos * (1.0 - q) + ~pos * q).astype(x.dtype, copy=False)


# --- Functions ----------------------------------------------------------------------------------
class _Pointwise(Function):
    """y = f(x) elementwise; subclasses give ``f(x)`` and ``df(x, y)``, the derivative."""

    def forward(self, x, **params):
        self.__dict__.update(params)
        y = self.f(x)
        if self.needs_input_grad[0]:
            self.x, self.y = x, y
        return y.astype(x.dtype, copy=False)

    def backward(self, g):
        return ((g * self.df(self.x, self.y)).astype(g.dtype, copy=False),)


class LeakyReLU(_Pointwise):
    # max(x, s x) for s <= 1 (min for s > 1) is where(x > 0, x, s x) without where(), whose
    # data-dependent branches cost NumPy 20-40x an arithmetic pass on mixed-sign data
    def f(self, x):
        pick = self.xp.maximum if self.negative_slope <= 1 else self.xp.minimum
        return pick(x, x * self.negative_slope)

    def df(self, x, y):
        pos = x > 0
        return pos + ~pos * x.dtype.type(self.negative_slope)     # exactly 1 or the slope


class ELU(_Pointwise):
    """scale * (x if x > 0 else alpha * (exp(x / beta) - 1)): elu (scale 1, beta 1), celu
    (beta = alpha) and selu (fixed alpha and scale) in one."""

    def f(self, x):
        xp = self.xp
        # exactly one of the two terms is nonzero, so the sum is exact
        return self.scale * (xp.maximum(x, 0) + self.alpha * xp.expm1(xp.minimum(x, 0) / self.beta))

    def df(self, x, y):
        xp = self.xp
        pos = x > 0
        return self.scale * (pos + ~pos * (self.alpha / self.beta * xp.exp(xp.minimum(x, 0) / self.beta)))


class GELU(_Pointwise):
    """x * Phi(x) (exact, through erfc) or its tanh approximation."""
    _K = math.sqrt(2 / math.pi)
    _C = 0.044715

    def f(self, x):
        xp = self.xp
        if self.approximate == "tanh":
            self.t = xp.tanh(self._K * (x + self._C * x * x * x))
            return 0.5 * x * (1 + self.t)
        self.cdf = _normal_cdf(xp, x)
        return x * self.cdf

    def df(self, x, y):
        xp = self.xp
        if self.approximate == "tanh":
            t = self.t
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * self._K * (1 + 3 * self._C * x * x)
        return self.cdf + x * xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))


class SiLU(_Pointwise):
    def f(self, x):
        self.s = _sigmoid(self.xp, x)
        return x * self.s

    def df(self, x, y):
        s = self.s
        return s * (1 + x * (1 - s))


class Mish(_Pointwise):
    def f(self, x):
        self.t = self.xp.tanh(_softplus(self.xp, x))
        return x * self.t

    def df(self, x, y):
        t = self.t
        return t + x * _sigmoid(self.xp, x) * (1 - t * t)


class Softplus(_Pointwise):
    """log(1 + exp(beta x)) / beta, and x itself where beta * x > threshold (as torch)."""

    def f(self, x):
        bx = x * self.beta
        self.linear = lin = bx > self.threshold
        return lin * x + ~lin * (_softplus(self.xp, bx) / self.beta)

    def df(self, x, y):
        lin = self.linear
        return lin + ~lin * _sigmoid(self.xp, x * self.beta)


class Softsign(_Pointwise):
    def f(self, x):
        self.d = 1 + self.xp.abs(x)
        return x / self.d

    def df(self, x, y):
        return 1 / (self.d * self.d)


class Hardtanh(_Pointwise):
    """clamp(x, min_val, max_val); the gradient is 0 at and beyond both bounds (torch's rule)."""

    def f(self, x):
        return self.xp.clip(x, self.min_val, self.max_val)

    def df(self, x, y):
        return (x > self.min_val) & (x < self.max_val)


class Hardsigmoid(_Pointwise):
    def f(self, x):
        return self.xp.clip(x / 6 + 0.5, 0, 1)

    def df(self, x, y):
        return ((x > -3) & (x < 3)) * x.dtype.type(1 / 6)


class Hardswish(_Pointwise):
    def f(self, x):
        return x * self.xp.clip(x / 6 + 0.5, 0, 1)

    def df(self, x, y):
        return ((x > -3) & (x < 3)) * (x / 3 + 0.5) + (x >= 3)


class LogSigmoid(_Pointwise):
    """log(sigmoid(x)) = -softplus(-x); the gradient sigmoid(-x)."""

    def f(self, x):
        return -_softplus(self.xp, -x)

    def df(self, x, y):
        return _sigmoid(self.xp, -x)


class PReLU(Function):
    """Notation: x (N, C, *); weight (C,), one slope per channel (dim 1), or (1,), one for all
    (the only choice for inputs of fewer than 2 dims, which have no channel dim, as in torch)."""

    def forward(self, x, w):
        xp = self.xp
        self.wb = w.reshape(()) if w.size == 1 else w.reshape((1, -1) + (1,) * (x.ndim - 2))
        self.x, self.pos = x, x > 0
        return (xp.maximum(x, 0) + self.wb * xp.minimum(x, 0)).astype(x.dtype, copy=False)

    def backward(self, g):
        xp = self.xp
        need_x, need_w = self.needs_input_grad
        pos = self.pos
        gx = (g * (pos + ~pos * self.wb)).astype(g.dtype, copy=False) if need_x else None
        gw = None
        if need_w:
            gw_full = (xp.minimum(self.x, 0) * g).astype(g.dtype, copy=False)
            w = self.inputs[1]
            axes = None if w._data.size == 1 else (0,) + tuple(range(2, g.ndim))
            gw = gw_full.sum(axis=axes).reshape(w._data.shape)
        return gx, gw


# --- functional wrappers --------------------------------------------------------------------------
def _float_input(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got {x.dtype} of shape {x.shape}")
    return x


def _pointwise(cls, name, x, inplace=False, **params):
    # inplace is accepted for torch compatibility; the result is always a new tensor (as F.relu)
    return cls.apply(_float_input(x, name), **params)


def relu(x, inplace=False):
    """max(x, 0); the gradient at exactly 0 is 0."""
    return x.relu()


def sigmoid(x):
    return x.sigmoid()


def tanh(x):
    return x.tanh()


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.leaky_relu(thw.tensor([-2.0, 3.0]), 0.5).tolist()
    [-1.0, 3.0]
    """
    return _pointwise(LeakyReLU, "leaky_relu", input, inplace, negative_slope=float(negative_slope))


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _pointwise(ELU, "elu", input, inplace, alpha=float(alpha), beta=1.0, scale=1.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al."""
    return _pointwise(ELU, "selu", input, inplace, alpha=_SELU_ALPHA, beta=1.0, scale=_SELU_SCALE)


def celu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _pointwise(ELU, "celu", input, inplace, alpha=float(alpha), beta=float(alpha), scale=1.0)


def gelu(input, approximate="none"):
    """x * Phi(x) with Phi the standard normal CDF; approximate='tanh' uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> round(F.gelu(thw.tensor(1.0, dtype=thw.float64)).item(), 10)
    0.8413447461
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _pointwise(GELU, "gelu", input, approximate=approximate)


def silu(input, inplace=False):
    """x * sigmoid(x) (swish)."""
    return _pointwise(SiLU, "silu", input, inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _pointwise(Mish, "mish", input, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta; x itself where beta * x > threshold."""
    return _pointwise(Softplus, "softplus", input, beta=float(beta), threshold=float(threshold))


def softsign(input):
    """x / (1 + |x|)."""
    return _pointwise(Softsign, "softsign", input)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val); gradient 1 strictly inside, 0 at the bounds and outside."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _pointwise(Hardtanh, "hardtanh", input, inplace, min_val=float(min_val), max_val=float(max_val))


def relu6(input, inplace=False):
    """min(max(x, 0), 6) (hardtanh(x, 0, 6), with its gradient convention at 0 and 6)."""
    return _pointwise(Hardtanh, "relu6", input, inplace, min_val=0.0, max_val=6.0)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6."""
    return _pointwise(Hardsigmoid, "hardsigmoid", input, inplace)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    return _pointwise(Hardswish, "hardswish", input, inplace)


def logsigmoid(input):
    """log(sigmoid(x)), computed as -softplus(-x): finite for any finite x."""
    return _pointwise(LogSigmoid, "logsigmoid", input)


def prelu(input, weight):
    """x if x > 0 else weight * x, with one weight per channel (dim 1) or one shared weight.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.prelu(thw.tensor([[-2.0, -2.0]]), thw.tensor([0.25, 0.5])).tolist()
    [[-0.5, -1.0]]
    """
    _float_input(input, "prelu")
    if not isinstance(weight, Tensor) or weight.ndim > 1:
        raise ValueError(f"prelu: weight must be a 1-D Tensor, got {getattr(weight, 'shape', weight)}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(f"prelu: weight of {weight.numel()} elements does not match the {channels} "
                         f"channels of input of shape {input.shape} (expected 1 or {channels})")
    if weight.dtype != input.dtype:
        raise TypeError(f"prelu: input is {input.dtype} but weight is {weight.dtype}")
    return PReLU.apply(input, weight)
