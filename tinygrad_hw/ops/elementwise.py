"""Elementwise ops: arithmetic, unary math, comparisons-with-gradient, casts and device copies.

Binary ops accept a Tensor or a Python scalar on either side (constants get no gradient) and
broadcast like NumPy; ``unbroadcast`` is the one place where broadcasting is undone.
"""
import math

from .. import backend
from ..tensor import Function, Tensor


def _shape(x):
    return getattr(x, "shape", ())


def _mismatch(op, a, b):
    """The error for operands that do not broadcast (built only on that failure path)."""
    return ValueError(f"{op}: shapes {tuple(_shape(a))} and {tuple(_shape(b))} cannot be broadcast together")


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape`` (undo NumPy broadcasting): the inverse of broadcast_to."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _large_pair(a, b):
    """Two CPU arrays of one shape, dtype and memory layout, large enough to split over threads."""
    return (type(a) is type(b) and getattr(a, "nbytes", 0) >= backend.ELEMENTWISE_MIN_BYTES
            and a.shape == b.shape and a.dtype == b.dtype and a.strides == b.strides
            and backend.get_num_threads() > 1 and type(a).__module__ == "numpy")


# Add and Sub save nothing: an input that needs a gradient is a Tensor in self.inputs.
class Add(Function):
    def forward(self, a, b):
        if _large_pair(a, b):       # e.g. a residual connection: split over the threads
            xp = self.xp
            return backend.parallel_elementwise(lambda o, x, y: xp.add(x, y, out=o), xp.empty_like(a), a, b)
        try:
            return a + b
        except ValueError:
            raise _mismatch("add", a, b) from None

    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b = self.inputs
        return (unbroadcast(g, a._data.shape) if na else None,
                unbroadcast(g, b._data.shape) if nb else None)


class Sub(Function):
    def forward(self, a, b):
        try:
            return a - b
        except ValueError:
            raise _mismatch("sub", a, b) from None

    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b = self.inputs
        return (unbroadcast(g, a._data.shape) if na else None,
                unbroadcast(-g, b._data.shape) if nb else None)


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a * b
        except ValueError:
            raise _mismatch("mul", a, b) from None

    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        return (unbroadcast(g * b, a.shape) if na else None,
                unbroadcast(g * a, b.shape) if nb else None)


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a / b
        except ValueError:
            raise _mismatch("div", a, b) from None

    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        ga = g / b
        return (unbroadcast(ga, a.shape) if na else None,
                unbroadcast(-ga * a / b, b.shape) if nb else None)


class Pow(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            self.out = a ** b
        except ValueError:
            raise _mismatch("pow", a, b) from None
        return self.out

    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b, xp = self.a, self.b, self.xp
        ga = gb = None
        if na:
            if isinstance(b, (int, float)):
                ga = g * b * a ** (b - 1) if b != 0 else xp.zeros_like(g)
            else:
                ga = unbroadcast(g * b * a ** (b - 1), a.shape)
        if nb:
            # torch's convention: d(0**b)/db = 0 for b >= 0 (instead of 0 * -inf = nan); a Python
            # base stays a Python float so a float32 exponent's gradient stays float32
            safe_log = xp.log(xp.where(a == 0, 1, a)) if not isinstance(a, (int, float)) else (
                0.0 if a == 0 else math.log(a) if a > 0 else math.nan)
            gb = unbroadcast(g * self.out * safe_log, b.shape)
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Exp(Function):
    def forward(self, a):
        self.out = self.xp.exp(a)
        return self.out

    def backward(self, g):
        return (g * self.out,)


class Log(Function):
    def forward(self, a):
        self.a = a
        return self.xp.log(a)

    def backward(self, g):
        return (g / self.a,)


class Sqrt(Function):
    def forward(self, a):
        self.out = self.xp.sqrt(a)
        return self.out

    def backward(self, g):
        return (g / (2 * self.out),)


class Tanh(Function):
    def forward(self, a):
        self.out = self.xp.tanh(a)
        return self.out

    def backward(self, g):
        return (g * (1 - self.out * self.out),)


class Sigmoid(Function):
    def forward(self, a):
        # 0.5 * (1 + tanh(a / 2)) never overflows, unlike 1 / (1 + exp(-a))
        self.out = 0.5 * (self.xp.tanh(0.5 * a) + 1)
        return self.out

    def backward(self, g):
        out = self.out
        return (g * out * (1 - out),)


class ReLU(Function):
    """Large CPU arrays run in blocks over the backend's threads (see backend.parallel_elementwise)."""

    def forward(self, a):
        xp = self.xp
        out = xp.empty_like(a)       # keeps a's memory layout (batch-last after a conv)
        self.out = backend.parallel_elementwise(lambda o, x: xp.maximum(x, 0, out=o), out, a)
        return self.out

    def backward(self, g):
        # the gradient at exactly 0 is 0, as in torch
        xp = self.xp
        out = self.out
        if g.dtype != out.dtype or g.strides != out.strides:
            return (g * (out > 0),)
        gx = xp.empty_like(out)
        return (backend.parallel_elementwise(lambda d, gg, o: xp.multiply(gg, o > 0, out=d), gx, g, out),)


class Abs(Function):
    def forward(self, a):
        self.a = a
        return self.xp.abs(a)

    def backward(self, g):
        return (g * self.xp.sign(self.a),)


class Clamp(Function):
    def forward(self, a, lo=None, hi=None):
        xp = self.xp
        out = a
        mask = None
        if lo is not None:
            out = xp.maximum(out, lo)
            mask = a >= lo
        if hi is not None:
            out = xp.minimum(out, hi)
            mask = (a <= hi) if mask is None else mask & (a <= hi)
        self.mask = mask
        return out.astype(a.dtype, copy=False)

    def backward(self, g):
        # gradient flows where lo <= a <= hi (inclusive), as in torch
        return (g * self.mask,)


class _MaxMin(Function):
    """Elementwise maximum/minimum; ties send half the gradient to each side, as torch does."""
    pick = None

    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return getattr(self.xp, self.pick)(a, b)
        except ValueError:
            raise _mismatch(self.pick, a, b) from None

    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        win_a = (a > b) if self.pick == "maximum" else (a < b)
        share = g * (0.5 * (a == b) + win_a)
        return (unbroadcast(share.astype(g.dtype, copy=False), _shape(a)) if na else None,
                unbroadcast((g - share).astype(g.dtype, copy=False), _shape(b)) if nb else None)


class Maximum(_MaxMin):
    pick = "maximum"


class Minimum(_MaxMin):
    pick = "minimum"


class Where(Function):
    def forward(self, cond, a, b):
        self.cond, self.sa, self.sb = cond, _shape(a), _shape(b)
        try:
            return self.xp.where(cond, a, b)
        except ValueError:
            raise ValueError(f"where: condition {cond.shape}, input {tuple(_shape(a))} and other "
                             f"{tuple(_shape(b))} cannot be broadcast together") from None

    def backward(self, g):
        _, na, nb = self.needs_input_grad
        zero = self.xp.zeros((), dtype=g.dtype)
        return (None,
                unbroadcast(self.xp.where(self.cond, g, zero), self.sa) if na else None,
                unbroadcast(self.xp.where(self.cond, zero, g), self.sb) if nb else None)


def where(condition, input, other):
    """``input`` where ``condition`` is true, else ``other`` (tensors or scalars, broadcast)."""
    ref = next((t for t in (input, other, condition) if isinstance(t, Tensor)), None)
    if ref is None:
        raise TypeError("where needs at least one tensor argument")
    cond = condition if isinstance(condition, Tensor) else Tensor(condition, device=ref.device)
    if cond.dtype.kind != "b":
        cond = cond.bool()
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = Tensor(input, device=ref.device)     # Python floats -> float32, as torch
    if isinstance(input, Tensor):
        input, other = input._operand(other)
    elif isinstance(other, Tensor):
        other, input = other._operand(input)
    return Where.apply(cond, input, other)


class Cast(Function):
    def forward(self, a, dtype):
        self.src = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return (g.astype(self.src),)


class Clone(Function):
    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return (g,)


class ToDevice(Function):
    """A copy to another device; the gradient is copied back."""

    @classmethod
    def apply(cls, t, target):
        out = super().apply(t, target=target)
        out.device = target
        return out

    def forward(self, a, target):
        self.src = backend.device_of_data(a)
        return backend.to_device(a, target)

    def backward(self, g):
        return (backend.to_device(g, self.src),)
