"""Tensor, the recorded graph, and the reverse-mode walk over it.

Every op is a ``Function`` subclass (see ``tinygrad_hw/ops``): ``forward`` computes on raw
arrays and saves what ``backward`` needs; ``backward`` maps the output's gradient to one
gradient per positional input. ``Function.apply`` runs the op eagerly and, when grad mode is
on and an input requires grad, links the output tensor to the node that made it.

``Tensor.backward`` schedules nodes on a heap keyed by generation (a node's generation is one
more than its inputs'), so each node runs once, after every consumer of its output, with no
recursion and no re-sorting.
"""
import heapq
import functools

import numpy as np

from . import backend
from .backend import CPU


# ---------------------------------------------------------------------------------------------
# Grad mode: one switch that every op asks.
class _GradMode:
    enabled = True


def is_grad_enabled():
    return _GradMode.enabled


class _GradModeContext:
    """Context manager and decorator (``@no_grad()`` or bare ``@no_grad``) that sets grad mode,
    restoring it on exit."""
    mode = None

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self if func is None else self(func)

    def __enter__(self):
        self._prev = _GradMode.enabled
        _GradMode.enabled = self.mode

    def __exit__(self, *exc):
        _GradMode.enabled = self._prev
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Ops run inside record nothing: ``with thw.no_grad(): ...`` or ``@thw.no_grad()``."""
    mode = False


class enable_grad(_GradModeContext):
    """Turn recording back on inside a ``no_grad`` block."""
    mode = True


# ---------------------------------------------------------------------------------------------
def _differentiable(dtype):
    return dtype.kind in "fc"


class Function:
    """One recorded op. Subclasses define ``forward(*arrays, **params)`` and ``backward(grad)``.

    Inside both, ``self.xp`` is the array module (numpy or cupy) and ``self.needs_input_grad``
    says, per positional input, whether its gradient is wanted (so costly ones can be skipped).
    ``backward`` returns a tuple with one entry per positional input (None where not needed).
    """
    inputs = None        # the positional inputs (Tensors or constants) while the graph is alive
    generation = 0

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        fn = cls()
        dev = None
        arrays = []
        needs = []
        record = False
        gen = 0
        for a in args:
            if isinstance(a, Tensor):
                if dev is None:
                    dev = a.device
                elif a.device is not dev:
                    raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, "
                                       f"got {dev} and {a.device}")
                arrays.append(a._data)
                if a.requires_grad:
                    record = True
                    needs.append(True)
                    ctx = a._ctx
                    if ctx is not None and ctx.generation >= gen:
                        gen = ctx.generation + 1
                else:
                    needs.append(False)
            else:
                arrays.append(a)
                needs.append(False)
        if dev is None:
            dev = kwargs.pop("device", CPU)
        record = record and _GradMode.enabled
        fn.xp = dev.xp
        fn.needs_input_grad = needs if record else (False,) * len(args)
        t = Tensor._wrap(fn.forward(*arrays, **kwargs), dev)
        if record and t._data.dtype.kind in "fc":
            fn.generation = gen
            fn.inputs = args
            t._ctx = fn
            t.requires_grad = True
        return t


def _release(fn):
    """Drop a node's saved arrays and inputs; a later backward through it raises."""
    fn.__dict__.clear()
    fn.inputs = None
    fn.released = True


def _accumulate_leaf(t, g, owned=False):
    """Add ``g`` into a leaf's ``.grad``. The first time, ``g`` itself is kept when it is
    ``owned`` (a fresh array nobody else holds), else a copy: a leaf never shares its grad."""
    if t.grad is None:
        t.grad = Tensor._wrap(g if owned else t.device.xp.array(g, copy=True), t.device)
    else:
        acc = t.grad._data + g
        t.grad._data = np.asarray(acc) if isinstance(acc, np.generic) else acc


# Called once, in order, at the end of the next Tensor.backward (torch's queue_callback), e.g. by
# DistributedDataParallel to reduce the gradients once they are all accumulated.
_post_backward = []


def queue_post_backward(fn):
    """Run ``fn()`` after the next ``Tensor.backward`` has accumulated every gradient (once, however
    often it is queued before that)."""
    if fn not in _post_backward:
        _post_backward.append(fn)


def _run_backward(root_fn, grad, retain_graph):
    grads = {root_fn: grad}
    heap = [(-root_fn.generation, 0, root_fn)]
    counter = 1
    while heap:
        fn = heapq.heappop(heap)[2]
        g = grads.pop(fn)
        if fn.inputs is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Specify retain_graph=True if you "
                "need to backward through the graph a second time.")
        in_grads = fn.backward(g)
        for t, gi, need in zip(fn.inputs, in_grads, fn.needs_input_grad):
            if not need or gi is None:
                continue
            assert gi.shape == t._data.shape and gi.dtype == t._data.dtype, (
                f"{type(fn).__name__}.backward gave {gi.dtype}{gi.shape} for input "
                f"{t._data.dtype}{t._data.shape}")
            parent = t._ctx
            if parent is None:
                # a gradient passed through (the upstream one, a view, or one given to two
                # inputs) is shared; one the op just computed can be kept without a copy
                owned = (gi is not g and gi.base is None and not isinstance(gi, np.generic)
                         and sum(x is gi for x in in_grads) == 1)
                _accumulate_leaf(t, gi, owned)
            elif parent in grads:
                grads[parent] = grads[parent] + gi
            else:
                grads[parent] = gi
                heapq.heappush(heap, (-parent.generation, counter, parent))
                counter += 1
        if not retain_graph:
            _release(fn)


# ---------------------------------------------------------------------------------------------
_PY_FLOAT = np.dtype(np.float32)      # dtype of Python floats (torch's default dtype)


def _category(dtype):
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[dtype.kind]


def _to_array(data, dtype, dev):
    """Convert data (array, scalar, nested list, Tensor) into an array on ``dev``."""
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__"):
        arr = data
    else:
        try:
            arr = np.asarray(data)
        except ValueError as e:     # ragged nested lists
            raise ValueError(f"cannot make a tensor from this {type(data).__name__}: {e}") from None
        # Python floats become float32, as torch does; NumPy scalars keep their dtype.
        if arr.dtype == np.float64 and not isinstance(data, np.generic) and dtype is None:
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "US" or arr.dtype == object:
            what = "strings" if arr.dtype.kind in "US" else "objects that are not numbers"
            raise TypeError(f"cannot make a tensor from a {type(data).__name__} of {what} "
                            f"(NumPy dtype {arr.dtype}); expected numbers or booleans")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
    return backend.to_device(arr, dev)


class Tensor:
    """An n-dimensional array on a device, with an optional gradient and the op that made it.

    >>> import tinygrad_hw as thw
    >>> x = thw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """
    __slots__ = ("_data", "device", "grad", "requires_grad", "_ctx", "__weakref__")
    __array_priority__ = 1000      # so ndarray <op> Tensor defers to Tensor's reflected op

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        dev = backend.device(device) if device is not None else (
            data.device if isinstance(data, Tensor) else backend.device_of_data(data))
        self._data = _to_array(data, dtype, dev)
        self.device = dev
        self.grad = None
        self._ctx = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(array, dev):
        """A leaf Tensor around an existing array (no copy). Every Tensor made from an op's result
        comes through here, so this is the one place where a NumPy scalar (what NumPy gives for a
        0-d result: comparisons, full reductions, ``a[0]`` of a 1-d array) becomes a 0-d array."""
        if isinstance(array, np.generic):
            array = np.asarray(array)
        t = Tensor.__new__(Tensor)
        t._data, t.device, t.grad, t._ctx, t.requires_grad = array, dev, None, None, False
        return t

    # --- attributes ----------------------------------------------------------------------------
    @property
    def data(self):
        """A detached Tensor sharing this tensor's storage, as torch's ``t.data``; assigning
        ``t.data = other`` makes ``t`` use ``other``'s storage. Use ``.numpy()`` for an array."""
        return Tensor._wrap(self._data, self.device)

    @data.setter
    def data(self, other):
        if not isinstance(other, Tensor):
            raise TypeError(f"data must be set to a Tensor, got {type(other).__name__}")
        if other.device is not self.device:
            raise RuntimeError(f"data: cannot set a tensor on {self.device} to storage on {other.device}")
        self._data = other._data

    shape = property(lambda self: tuple(self._data.shape))
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    is_leaf = property(lambda self: self._ctx is None)
    T = property(lambda self: self.permute(*range(self.ndim - 1, -1, -1)))
    mT = property(lambda self: self.transpose(-2, -1))

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self._data.size)

    def dim(self):
        return self._data.ndim

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __repr__(self):
        host = backend.to_host(self._data)
        extra = f", device='{self.device}'" if self.device is not CPU else ""
        if self._ctx is not None:
            extra += f", grad_fn=<{type(self._ctx).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        body = np.array2string(host, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={host.dtype}{extra})"

    __hash__ = object.__hash__

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"truth value of a tensor with {self._data.size} elements is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of one element can be converted to an index")
        return int(self.item())

    # --- host conversion -----------------------------------------------------------------------
    def numpy(self):
        """A NumPy copy of the values (also for tensors that require grad and for GPU tensors)."""
        return np.array(backend.to_host(self._data), copy=True)

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return backend.to_host(self._data).reshape(()).item()

    def tolist(self):
        return backend.to_host(self._data).tolist()

    # --- autograd ------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not _differentiable(self.dtype):
            raise RuntimeError(f"only floating point tensors can require gradients, got {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same values (sharing memory), cut from the graph."""
        return Tensor._wrap(self._data, self.device)

    def zero_(self):
        self._data[...] = 0
        return self

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * gradient into every leaf's ``.grad``.

        ``gradient`` may be omitted only for a one-element tensor. The graph is freed afterwards
        unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; this "
                                   f"tensor has shape {self.shape}: pass gradient=")
            g = self.device.xp.ones_like(self._data)
        else:
            g = gradient._data if isinstance(gradient, Tensor) else _to_array(gradient, None, self.device)
            if tuple(g.shape) != self.shape:
                raise RuntimeError(f"gradient has shape {tuple(g.shape)} but the tensor has shape {self.shape}")
            if g.dtype != self.dtype:
                g = g.astype(self.dtype)
        callbacks, _post_backward[:] = list(_post_backward), []
        if self._ctx is None:
            _accumulate_leaf(self, g)
        else:
            _run_backward(self._ctx, g, retain_graph)
        for fn in callbacks:
            fn()

    # --- device and dtype ----------------------------------------------------------------------
    def to(self, *args, dtype=None, device=None):
        """``t.to('cuda')``, ``t.to(thw.float64)``, ``t.to('cpu', thw.float32)``; differentiable."""
        device, dtype = parse_to_args(args, device, dtype)
        out = self
        if device is not None:
            dev = backend.device(device)
            if dev is not self.device:
                out = _ops.ToDevice.apply(out, target=dev)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = _ops.Cast.apply(out, dtype=np.dtype(dtype))
        return out

    def cpu(self):
        return self.to(CPU)

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def type(self, dtype):
        return self.to(dtype=dtype)

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def half(self):
        return self.to(dtype=np.float16)

    def long(self):
        return self.to(dtype=np.int64)

    def int(self):
        return self.to(dtype=np.int32)

    def bool(self):
        return self.to(dtype=np.bool_)

    def clone(self):
        return _ops.Clone.apply(self)

    def contiguous(self):
        return self

    # --- arithmetic ------------------------------------------------------------------------------
    def _operand(self, other):
        """Return (a, b) ready for a binary op: other as Tensor or Python scalar, dtypes promoted as torch."""
        if isinstance(other, Tensor):
            if other._data.dtype is self._data.dtype or other._data.dtype == self._data.dtype:
                return self, other
            dt = _result_dtype(self, other)
            return self.to(dtype=dt), other.to(dtype=dt)
        if isinstance(other, (int, float, bool)):
            if type(other) is not float and isinstance(other, float):
                other = float(other)    # a NumPy float scalar acts as a Python float (weakly typed)
            if isinstance(other, float) and self._data.dtype.kind in "biu":
                return self.to(dtype=_PY_FLOAT), other
            return self, other
        if isinstance(other, np.generic):
            return self._operand(other.item())
        return self._operand(Tensor(other, device=self.device))

    def __add__(self, other):
        a, b = self._operand(other)
        return _ops.Add.apply(a, b)

    def __radd__(self, other):
        a, b = self._operand(other)
        return _ops.Add.apply(b, a) if isinstance(b, Tensor) else _ops.Add.apply(a, b)

    def __sub__(self, other):
        a, b = self._operand(other)
        return _ops.Sub.apply(a, b)

    def __rsub__(self, other):
        a, b = self._operand(other)
        return _ops.Sub.apply(b, a)

    def __mul__(self, other):
        a, b = self._operand(other)
        return _ops.Mul.apply(a, b)

    __rmul__ = __mul__

    def _div_operands(self, other):
        """Operands of a true division: integers (and bools) divide as float32, as in torch."""
        a, b = self._operand(other)
        if a._data.dtype.kind in "biu":      # then b is an integer tensor of a's dtype, or a Python int
            a = a.to(dtype=_PY_FLOAT)
            if isinstance(b, Tensor):
                b = b.to(dtype=_PY_FLOAT)
        return a, b

    def __truediv__(self, other):
        a, b = self._div_operands(other)
        return _ops.Div.apply(a, b)

    def __rtruediv__(self, other):
        a, b = self._div_operands(other)
        return _ops.Div.apply(b, a)

    def __pow__(self, other):
        a, b = self._operand(other)
        return _ops.Pow.apply(a, b)

    def __rpow__(self, other):
        a, b = self._operand(other)
        return _ops.Pow.apply(b, a)

    def __matmul__(self, other):
        a, b = self._operand(other)
        return _ops.MatMul.apply(a, b)

    def __rmatmul__(self, other):
        a, b = self._operand(other)
        return _ops.MatMul.apply(b, a)

    def __neg__(self):
        return _ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.Abs.apply(self)

    # comparisons give bool tensors and record nothing
    def _compare(self, other, name):
        a, b = self._operand(other)
        b = b._data if isinstance(b, Tensor) else b
        try:
            return Tensor._wrap(getattr(a._data, name)(b), self.device)
        except ValueError:
            raise ValueError(f"{name.strip('_')}: shapes {self.shape} and {tuple(getattr(b, 'shape', ()))} "
                             "cannot be broadcast together") from None

    def __eq__(self, other):
        return self._compare(other, "__eq__")

    def __ne__(self, other):
        return self._compare(other, "__ne__")

    def __lt__(self, other):
        return self._compare(other, "__lt__")

    def __le__(self, other):
        return self._compare(other, "__le__")

    def __gt__(self, other):
        return self._compare(other, "__gt__")

    def __ge__(self, other):
        return self._compare(other, "__ge__")

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __invert__(self):
        if self.dtype.kind not in "biu":
            raise TypeError(f"~ needs a bool or integer tensor, got {self.dtype}")
        return Tensor._wrap(~self._data, self.device)

    def __and__(self, other):
        return self._compare(other, "__and__")

    def __or__(self, other):
        return self._compare(other, "__or__")

    add, sub, mul, div, pow, matmul, neg = __add__, __sub__, __mul__, __truediv__, __pow__, __matmul__, __neg__

    # --- elementwise -----------------------------------------------------------------------------
    def exp(self):
        return _ops.Exp.apply(self)

    def log(self):
        return _ops.Log.apply(self)

    def sqrt(self):
        return _ops.Sqrt.apply(self)

    def tanh(self):
        return _ops.Tanh.apply(self)

    def sigmoid(self):
        return _ops.Sigmoid.apply(self)

    def relu(self):
        return _ops.ReLU.apply(self)

    def abs(self):
        return _ops.Abs.apply(self)

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp needs at least one of min and max")
        t = self
        if self._data.dtype.kind in "biu" and (isinstance(min, float) or isinstance(max, float)):
            t = self.to(dtype=_PY_FLOAT)
        return _ops.Clamp.apply(t, lo=min, hi=max)

    clip = clamp

    def maximum(self, other):
        a, b = self._operand(other)
        return _ops.Maximum.apply(a, b)

    def minimum(self, other):
        a, b = self._operand(other)
        return _ops.Minimum.apply(a, b)

    # --- reductions ------------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        return _ops.Sum.apply(self, axis=_axes(dim, self.ndim), keepdims=keepdim)

    def mean(self, dim=None, keepdim=False):
        return _ops.Mean.apply(self._floating(), axis=_axes(dim, self.ndim), keepdims=keepdim)

    def var(self, dim=None, keepdim=False, unbiased=True, correction=None):
        ddof = (1 if unbiased else 0) if correction is None else correction
        return _ops.Var.apply(self._floating(), axis=_axes(dim, self.ndim), keepdims=keepdim, ddof=ddof)

    def _floating(self):
        """Integer and bool tensors as float32 (NumPy would give float64), for mean-like ops."""
        return self.to(dtype=_PY_FLOAT) if self._data.dtype.kind in "biu" else self

    def std(self, dim=None, keepdim=False, unbiased=True, correction=None):
        ddof = (1 if unbiased else 0) if correction is None else correction
        return _ops.Std.apply(self._floating(), axis=_axes(dim, self.ndim), keepdims=keepdim, ddof=ddof)

    def max(self, dim=None, keepdim=False):
        """Max over all elements (or a tuple of dims); over one int ``dim``, (values, indices)."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return _ops.reduce_extreme(self, dim, keepdim, largest=True)

    def min(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return _ops.reduce_extreme(self, dim, keepdim, largest=False)

    def argmax(self, dim=None, keepdim=False):
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return _ops.argmax(self, dim, keepdim, largest=False)

    def amax(self, dim=None, keepdim=False):
        return _ops.Max.apply(self, axis=_axes(dim, self.ndim), keepdims=keepdim)

    def amin(self, dim=None, keepdim=False):
        return _ops.Min.apply(self, axis=_axes(dim, self.ndim), keepdims=keepdim)

    # --- movement --------------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = _shape_args(shape)
        return self if shape == self.shape else _ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        s, e = _dim(start_dim, self.ndim), _dim(end_dim, self.ndim)
        if self.ndim == 0:
            return self.reshape(1)
        shp = self.shape
        return self.reshape(shp[:s] + (-1,) + shp[e + 1:]) if e >= s else self

    def permute(self, *dims):
        dims = tuple(_dim(d, self.ndim) for d in _shape_args(dims)) if self.ndim else _shape_args(dims)
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} dims of {self.shape}")
        return _ops.Permute.apply(self, dims=dims)

    def transpose(self, dim0, dim1):
        dim0, dim1 = _dim(dim0, self.ndim), _dim(dim1, self.ndim)
        if self.ndim == 0:
            return self
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dims, got shape {self.shape}")
        return self.T

    def unsqueeze(self, dim):
        dim = _dim(dim, self.ndim, extra=1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = {_dim(d, self.ndim) for d in ((dim,) if isinstance(dim, int) else dim)}
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1)))

    def expand(self, *shape):
        shape = _shape_args(shape)
        lead = len(shape) - self.ndim
        if lead < 0 or -1 in shape[:lead]:
            raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}")
        full = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        return _ops.Expand.apply(self, shape=full)

    def expand_as(self, other):
        return self.expand(other.shape)

    def pad(self, pad, value=0.0):
        """Pad like torch.nn.functional.pad: (left, right) of the last dim, then the one before..."""
        return _ops.pad(self, pad, value)

    def __getitem__(self, index):
        return _ops.index(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and _GradMode.enabled:
            raise RuntimeError("in-place assignment to a tensor that requires grad is not supported")
        idx = _ops.raw_index(index)
        self._data[idx] = value._data if isinstance(value, Tensor) else value

    def split(self, size, dim=0):
        dim = _dim(dim, self.ndim)
        n = self.shape[dim]
        bounds = list(range(0, n, size)) + [n]
        sl = [slice(None)] * dim
        return tuple(self[tuple(sl + [slice(a, b)])] for a, b in zip(bounds[:-1], bounds[1:]))

    def chunk(self, chunks, dim=0):
        return self.split(-(-self.shape[_dim(dim, self.ndim)] // chunks), dim)

    # --- nn-style conveniences -------------------------------------------------------------------
    def softmax(self, dim):
        from .nn import functional as F
        return F.softmax(self, dim)

    def log_softmax(self, dim):
        from .nn import functional as F
        return F.log_softmax(self, dim)


def parse_to_args(args, device=None, dtype=None):
    """(device, dtype) from the positional arguments of ``.to()``: a device, a dtype, a Tensor."""
    for a in args:
        if isinstance(a, (str, backend.Device)):
            device = a
        elif isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        else:
            dtype = a
    return device, dtype


def _result_dtype(a, b):
    """torch's promotion for two tensors: higher category wins; within one, 0-d yields to n-d."""
    ca, cb = _category(a.dtype), _category(b.dtype)
    if ca != cb:
        return a.dtype if ca > cb else b.dtype
    if (a.ndim == 0) == (b.ndim == 0):
        return np.result_type(a.dtype, b.dtype)
    return a.dtype if b.ndim == 0 else b.dtype


def _shape_args(shape):
    """Accept f(2, 3), f((2, 3)) and f([2, 3])."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _dim(dim, ndim, extra=0):
    """One dim normalised to [0, ndim + extra), or IndexError; a 0-d tensor accepts 0 and -1, as
    in torch. ``extra=1`` is for ops that insert a dim (unsqueeze, stack)."""
    n = max(ndim + extra, 1)
    if not -n <= dim < n:
        raise IndexError(f"dim {dim} is out of range for a tensor of {ndim} dims "
                         f"(expected a dim in [{-n}, {n - 1}])")
    return dim % n


def _axes(dim, ndim):
    """Normalise a dim argument (None, int, or tuple) to None or a tuple of non-negative axes."""
    if dim is None:
        return None
    dims = tuple(_dim(d, ndim) for d in ((dim,) if isinstance(dim, int) else dim))
    return dims if ndim else ()


from . import ops as _ops   # noqa: E402  (ops subclass Function, defined above)
