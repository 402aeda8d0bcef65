"""Unary math: trigonometric and hyperbolic functions, logs and exponentials in other bases,
powers, rounding, and the NaN/inf tests. Each differentiable op is a Function with its
derivative beside it; rounding ops are steps, so their gradient is 0 (as torch's).

Integer and bool inputs of the transcendental functions are computed in float32, as torch's
default dtype; rounding, ``sign`` and ``square`` keep an integer dtype.
"""
import math

from ..tensor import Function, Tensor, _PY_FLOAT


class Sin(Function):
    def forward(self, a):
        self.a = a
        return self.xp.sin(a)

    def backward(self, g):
        return (g * self.xp.cos(self.a),)


class Cos(Function):
    def forward(self, a):
        self.a = a
        return self.xp.cos(a)

    def backward(self, g):
        return (-g * self.xp.sin(self.a),)


class Tan(Function):
    def forward(self, a):
        self.out = self.xp.tan(a)
        return self.out

    def backward(self, g):
        return (g * (1 + self.out * self.out),)


class Asin(Function):
    def forward(self, a):
        self.a = a
        return self.xp.arcsin(a)

    def backward(self, g):
        return (g / self.xp.sqrt(1 - self.a * self.a),)


class Acos(Function):
    def forward(self, a):
        self.a = a
        return self.xp.arccos(a)

    def backward(self, g):
        return (-g / self.xp.sqrt(1 - self.a * self.a),)


class Atan(Function):
    def forward(self, a):
        self.a = a
        return self.xp.arctan(a)

    def backward(self, g):
        return (g / (1 + self.a * self.a),)


class Sinh(Function):
    def forward(self, a):
        self.a = a
        return self.xp.sinh(a)

    def backward(self, g):
        return (g * self.xp.cosh(self.a),)


class Cosh(Function):
    def forward(self, a):
        self.a = a
        return self.xp.cosh(a)

    def backward(self, g):
        return (g * self.xp.sinh(self.a),)


class Asinh(Function):
    def forward(self, a):
        self.a = a
        return self.xp.arcsinh(a)

    def backward(self, g):
        return (g / self.xp.sqrt(self.a * self.a + 1),)


class Acosh(Function):
    def forward(self, a):
        self.a = a
        return self.xp.arccosh(a)

    def backward(self, g):
        return (g / self.xp.sqrt(self.a * self.a - 1),)


class Atanh(Function):
    def forward(self, a):
        self.a = a
        return self.xp.arctanh(a)

    def backward(self, g):
        return (g / (1 - self.a * self.a),)


class Log2(Function):
    def forward(self, a):
        self.a = a
        return self.xp.log2(a)

    def backward(self, g):
        return (g / (self.a * math.log(2.0)),)


class Log10(Function):
    def forward(self, a):
        self.a = a
        return self.xp.log10(a)

    def backward(self, g):
        return (g / (self.a * math.log(10.0)),)


class Log1p(Function):
    def forward(self, a):
        self.a = a
        return self.xp.log1p(a)

    def backward(self, g):
        return (g / (1 + self.a),)


class Expm1(Function):
    def forward(self, a):
        self.out = self.xp.expm1(a)
        return self.out

    def backward(self, g):
        return (g * (self.out + 1),)


class Exp2(Function):
    def forward(self, a):
        self.out = self.xp.exp2(a)
        return self.out

    def backward(self, g):
        return (g * self.out * math.log(2.0),)


class Rsqrt(Function):
    def forward(self, a):
        self.out = 1 / self.xp.sqrt(a)
        return self.out

    def backward(self, g):
        return (-0.5 * g * self.out ** 3,)


class Reciprocal(Function):
    def forward(self, a):
        self.out = 1 / a
        return self.out

    def backward(self, g):
        return (-g * self.out * self.out,)


class Square(Function):
    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return (2 * g * self.a,)


class Frac(Function):
    """``x - trunc(x)``, keeping the sign of x (as torch); the gradient is 1."""

    def forward(self, a):
        return a - self.xp.trunc(a)

    def backward(self, g):
        return (g,)


class _Step(Function):
    """A piecewise-constant op: integer inputs pass through unchanged, the gradient is 0."""
    ufunc = None

    def forward(self, a, **kwargs):
        if a.dtype.kind in "biu":
            return a.copy()
        return getattr(self.xp, self.ufunc)(a, **kwargs)

    def backward(self, g):
        return (self.xp.zeros_like(g),)


class Floor(_Step):
    ufunc = "floor"


class Ceil(_Step):
    ufunc = "ceil"


class Trunc(_Step):
    ufunc = "trunc"


class Round(_Step):
    """Half to even, as torch; ``decimals`` rounds to that many decimal places."""
    ufunc = "round"

    def forward(self, a, decimals=0):
        if a.dtype.kind in "biu":
            if decimals:
                raise RuntimeError(f"round(decimals={decimals}) is not implemented for {a.dtype}")
            return a.copy()
        return self.xp.round(a, decimals)


class Sign(_Step):
    def forward(self, a):
        if a.dtype.kind == "b":
            return a.copy()
        return self.xp.sign(a)


class NanToNum(Function):
    """NaN, +inf and -inf replaced (defaults 0, the dtype's largest and smallest finite value);
    the gradient flows where the input was finite."""

    def forward(self, a, nan=0.0, posinf=None, neginf=None):
        if a.dtype.kind not in "fc":
            return a.copy()
        self.finite = self.xp.isfinite(a)
        return self.xp.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, g):
        return (g * self.finite,)


def floating(t):
    """Integer and bool tensors as float32 (torch's default dtype) for the transcendental ops."""
    return t.to(dtype=_PY_FLOAT) if t.dtype.kind in "biu" else t


def classify(t, name):
    """isnan / isinf / isfinite / isposinf / isneginf: a bool tensor, nothing recorded."""
    xp, a = t.device.xp, t._data
    if a.dtype.kind not in "fc":
        return Tensor._wrap(xp.full(a.shape, name == "isfinite", dtype=bool), t.device)
    if name == "isposinf":
        return Tensor._wrap(xp.isinf(a) & (a > 0), t.device)
    if name == "isneginf":
        return Tensor._wrap(xp.isinf(a) & (a < 0), t.device)
    return Tensor._wrap(getattr(xp, name)(a), t.device)

