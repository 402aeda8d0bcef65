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
import weakref

import numpy as np

from . import backend
from .backend import CPU


# ---------------------------------------------------------------------------------------------
# Grad mode: one switch that every op asks.
_profiler = None     # the active thw.profiler.profile, if any (see profiler.py)


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


class inference_mode(_GradModeContext):
    """``no_grad`` under torch's other name: ``with thw.inference_mode(): ...``. (torch also marks
    tensors made inside as inference tensors that autograd later refuses; this engine does not.)"""
    mode = False

    def __new__(cls, mode=True):
        if callable(mode):                  # bare @inference_mode
            return _GradModeContext.__new__(cls, mode)
        self = object.__new__(cls)
        self.mode = not mode
        return self

    def __call__(self, func):
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with inference_mode(not mode):
                return func(*args, **kwargs)
        return wrapper


class set_grad_enabled(_GradModeContext):
    """``thw.set_grad_enabled(False)`` switches recording off at once (a function call); used as
    ``with thw.set_grad_enabled(mode): ...`` it restores the previous mode on exit, as torch."""

    def __new__(cls, mode):
        self = object.__new__(cls)
        self._prev, self.mode = _GradMode.enabled, bool(mode)
        _GradMode.enabled = self.mode
        return self

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _GradMode.enabled = self._prev
        return False

    def __call__(self, func):
        _GradMode.enabled = self._prev        # as a decorator it only applies inside the call
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)
        return wrapper


class RemovableHandle:
    """What ``register_*hook`` returns: ``handle.remove()`` takes the hook out again."""
    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks           # the dict holding the hook, keyed by this handle's id
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# ---------------------------------------------------------------------------------------------
def _differentiable(dtype):
    return dtype.kind in "fc"


class Function:
    """One recorded op. Subclasses define ``forward(*arrays, **params)`` and ``backward(grad)``.

    Inside both, ``self.xp`` is the array module (numpy or cupy) and ``self.needs_input_grad``
    says, per positional input, whether its gradient is wanted (so costly ones can be skipped).
    ``backward`` returns a tuple with one entry per positional input (None where not needed).

    An input or output array that ``forward`` keeps as an attribute (directly or inside a tuple)
    is a saved tensor: backward raises if an in-place op changed it since, as torch does. Inputs'
    versions are noted when the op runs; backward looks at them (and searches the attributes)
    only for nodes made before the latest in-place op. Ops run inside the device of their inputs
    (``backend.device_scope``).
    """
    inputs = None        # the positional inputs (Tensors or constants) while the graph is alive
    parents = None       # per input, the node that made it when this op ran (None: leaf/constant)
    generation = 0
    _in_versions = None  # {input index: version} for inputs not at version 0 when the op ran
    _out_saved = None    # (version counter, version, array): forward kept its output, since changed
    _epoch = 0           # how many in-place ops had run when this node was made
    _pre_hooks = None    # {handle id: hook} run on this node's output gradient (Tensor.register_hook)

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
        parents = []     # each input's node now: an in-place op may later give the tensor a new one
        record = False
        gen = 0
        versions = None
        for a in args:
            if isinstance(a, Tensor):
                if dev is None:
                    dev = a.device
                elif a.device is not dev:
                    raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, "
                                       f"got {dev} and {a.device}")
                arrays.append(a._data)
                vc = a._vc
                if vc is not None and vc[0]:
                    if versions is None:
                        versions = {}
                    versions[len(arrays) - 1] = vc[0]
                if a.requires_grad:
                    record = True
                    needs.append(True)
                    ctx = a._ctx
                    parents.append(ctx)
                    if ctx is not None and ctx.generation >= gen:
                        gen = ctx.generation + 1
                else:
                    needs.append(False)
                    parents.append(None)
            else:
                arrays.append(a)
                needs.append(False)
                parents.append(None)
        if dev is None:
            dev = kwargs.pop("device", CPU)
        record = record and _GradMode.enabled
        fn.xp = dev.xp
        fn.needs_input_grad = needs if record else (False,) * len(args)
        prof = _profiler
        if dev is CPU:
            out = fn.forward(*arrays, **kwargs) if prof is None else prof.op(fn, "forward", arrays, kwargs)
        else:
            with backend.device_scope(dev):
                out = fn.forward(*arrays, **kwargs) if prof is None else prof.op(fn, "forward", arrays, kwargs)
        t = Tensor._wrap(out, dev)
        if t._data.base is not None:
            _link_view(t, args, arrays)
        if record and t._data.dtype.kind in "fc":
            if _Inplace.count:
                fn._epoch = _Inplace.count
                if versions is not None:
                    fn._in_versions = versions
            if dev is not CPU:
                fn._device = dev          # backward runs in the same device scope
            fn.generation = gen
            fn.inputs = args
            fn.parents = parents
            t._ctx = fn
            t.requires_grad = True
        return t


def _link_view(t, args, arrays):
    """An output that views an input's memory shares its version counter, as torch's views do."""
    base = t._data.base
    for a, arr in zip(args, arrays):
        if isinstance(a, Tensor) and (base is arr or base is getattr(arr, "base", None)):
            t._vc = a._version_counter()
            t._base = a if a._base is None else a._base
            return


class _Inplace:
    count = 0            # in-place ops so far: nodes made after the latest need no version check


def _keeps(fn, arr):
    """Whether ``fn`` holds the array ``arr`` as an attribute or inside a tuple attribute."""
    key = id(arr)
    for v in fn.__dict__.values():
        if v is arr or (type(v) is tuple and key in map(id, v)):
            return True
    return False


def _version_error(fn, label, arr, now, then):
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{arr.dtype}{list(arr.shape)}], which is {label} of {type(fn).__name__}, is at "
        f"version {now}; expected version {then} instead. Clone the tensor before the in-place op "
        "(or do the op out of place).")


def _check_versions(fn):
    """Raise if a tensor that ``fn`` saved for backward was changed in place since it ran."""
    out = fn._out_saved
    if out is not None and out[0][0] != out[1]:
        raise _version_error(fn, "output 0", out[2], out[0][0], out[1])
    versions = fn._in_versions
    for i, t in enumerate(fn.inputs):
        if isinstance(t, Tensor):
            vc = t._vc
            if vc is not None:
                then = 0 if versions is None else versions.get(i, 0)
                # (after an in-place op the input's memory holds the output, checked above)
                if vc[0] != then and _keeps(fn, t._data) and (out is None or t._data is not out[2]):
                    raise _version_error(fn, f"input {i}", t._data, vc[0], then)


def _swap_saved(fn, old, make_new):
    """Make ``fn`` keep ``make_new()`` (made once) wherever it kept the array ``old``, in its
    attributes and their tuples. Returns whether it kept ``old`` at all."""
    d = fn.__dict__
    new = None
    for k, v in list(d.items()):
        if v is old or (isinstance(v, tuple) and any(x is old for x in v)):
            if new is None:
                new = make_new()
            d[k] = new if v is old else tuple(new if x is old else x for x in v)
    return new is not None


def _release(fn):
    """Drop a node's saved arrays and inputs; a later backward through it raises. Its hooks stay
    (as on torch's grad_fn), so ``retains_grad`` still reads True."""
    hooks = fn._pre_hooks
    fn.__dict__.clear()
    if hooks is not None:
        fn._pre_hooks = hooks
    fn.inputs = None
    fn.released = True


def _accumulate_leaf(t, g, owned=False):
    """Add ``g`` into a leaf's ``.grad``. The first time, ``g`` itself is kept when it is
    ``owned`` (a fresh array nobody else holds), else a copy: a leaf never shares its grad."""
    if t.device is not CPU:
        with backend.device_scope(t.device):      # CuPy allocates on the current device
            return _accumulate_leaf_here(t, g, owned)
    return _accumulate_leaf_here(t, g, owned)


def _accumulate_leaf_here(t, g, owned):
    if t.grad is None:
        t.grad = Tensor._wrap(g if owned else t.device.xp.array(g, copy=True), t.device)
    else:
        acc = t.grad._data + g
        t.grad._data = np.asarray(acc) if isinstance(acc, np.generic) else acc


def _bad_grad(fn, t, gi):
    """The slow path of backward's check of one input gradient: a NumPy scalar of the right
    dtype becomes a 0-d array; anything else of the wrong array type, dtype or shape raises."""
    arr = t._data
    i = next(k for k, x in enumerate(fn.inputs) if x is t)
    if isinstance(gi, np.generic) and isinstance(arr, np.ndarray):
        gi = np.asarray(gi)
    if type(gi) is type(arr) and gi.shape == arr.shape and gi.dtype == arr.dtype:
        return gi
    if isinstance(gi, _SlotGrads):      # a multi-output node's gradient, checked per slot
        return gi
    raise RuntimeError(
        f"{type(fn).__name__}.backward returned an invalid gradient for input {i}: got "
        f"{type(gi).__module__}.{type(gi).__name__} {getattr(gi, 'dtype', '?')}"
        f"{list(getattr(gi, 'shape', ()))}, expected {type(arr).__module__}.{type(arr).__name__} "
        f"{arr.dtype}{list(arr.shape)}")


class _SlotGrads:
    """Gradients of some outputs of a multi-output node ({output index: array}); adding two
    merges them, so the graph walk accumulates them like any gradient."""
    __slots__ = ("grads",)

    def __init__(self, grads):
        self.grads = grads

    def __add__(self, other):
        merged = dict(self.grads)
        for k, g in other.grads.items():
            merged[k] = merged[k] + g if k in merged else g
        return _SlotGrads(merged)


def _run_hooks(hooks, g, dev):
    """Apply tensor hooks (``fn(grad) -> Tensor or None``) in order to the array ``g``."""
    for key in sorted(hooks):            # registration order; retain_grad's key sorts last
        r = hooks[key](Tensor._wrap(g, dev))
        if r is not None:
            g = r._data if isinstance(r, Tensor) else _to_array(r, None, dev)
    return g


# Called once, in order, at the end of the next Tensor.backward (torch's queue_callback), e.g. by
# DistributedDataParallel to reduce the gradients once they are all accumulated.
_post_backward = []


def queue_post_backward(fn):
    """Run ``fn()`` after the next ``Tensor.backward`` has accumulated every gradient (once, however
    often it is queued before that)."""
    if fn not in _post_backward:
        _post_backward.append(fn)


def _run_backward(roots, retain_graph, inputs=None):
    """Walk the graph back from ``roots`` ((tensor, gradient array) pairs).

    Without ``inputs`` every leaf that requires grad accumulates into ``.grad``. With ``inputs``
    (a list of tensors) nothing is accumulated and the gradient reaching each input is returned
    instead (None where it is unreachable), as ``torch.autograd.grad``.
    """
    grads = {}
    heap = []
    counter = 0
    pending = {}     # id(leaf) -> [leaf, gradient]: leaves with hooks, or all leaves when capturing
    capture_leaf = capture_node = results = None
    if inputs is not None:
        results = [None] * len(inputs)
        capture_leaf = {id(t): k for k, t in enumerate(inputs) if t._ctx is None}
        capture_node = {t._ctx: k for k, t in enumerate(inputs) if t._ctx is not None}

    def to_leaf(t, g):
        if capture_leaf is not None:
            if id(t) not in capture_leaf:
                return
        elif t._hooks is None:
            _accumulate_leaf(t, g)
            return
        entry = pending.get(id(t))
        if entry is None:
            pending[id(t)] = [t, g]
        else:
            entry[1] = entry[1] + g

    for t, g in roots:
        fn = t._ctx
        if fn is None:
            to_leaf(t, g)
        elif fn in grads:
            grads[fn] = grads[fn] + g
        else:
            grads[fn] = g
            heap.append((-fn.generation, counter, fn))
            counter += 1
    heapq.heapify(heap)
    while heap:
        fn = heapq.heappop(heap)[2]
        g = grads.pop(fn)
        if fn.inputs is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Specify retain_graph=True if you "
                "need to backward through the graph a second time.")
        if fn._pre_hooks is not None:
            g = _run_hooks(fn._pre_hooks, g, fn.__dict__.get("_device", CPU))
        if capture_node is not None and fn in capture_node:
            results[capture_node[fn]] = g
        if fn._epoch != _Inplace.count:
            _check_versions(fn)
        prof = _profiler
        if "_device" in fn.__dict__:
            with backend.device_scope(fn._device):
                in_grads = fn.backward(g) if prof is None else prof.op(fn, "backward", (g,), None)
        else:
            in_grads = fn.backward(g) if prof is None else prof.op(fn, "backward", (g,), None)
        for t, gi, need, parent in zip(fn.inputs, in_grads, fn.needs_input_grad, fn.parents):
            if not need or gi is None:
                continue
            arr = t._data
            if type(gi) is not type(arr) or gi.shape != arr.shape or gi.dtype != arr.dtype:
                gi = _bad_grad(fn, t, gi)
            if parent is None:
                if capture_leaf is None and t._hooks is None:
                    # a gradient passed through (the upstream one, a view, or one given to two
                    # inputs) is shared; one the op just computed can be kept without a copy
                    owned = (gi is not g and gi.base is None and sum(x is gi for x in in_grads) == 1)
                    _accumulate_leaf(t, gi, owned)
                else:
                    to_leaf(t, gi)
            elif parent in grads:
                acc = grads[parent] + gi
                grads[parent] = np.asarray(acc) if isinstance(acc, np.generic) else acc
            else:
                grads[parent] = gi
                heapq.heappush(heap, (-parent.generation, counter, parent))
                counter += 1
        if not retain_graph:
            _release(fn)
    for t, g in pending.values():
        if t._hooks is not None:
            g = _run_hooks(t._hooks, g, t.device)
        if results is None:
            _accumulate_leaf(t, g)
        else:
            results[capture_leaf[id(t)]] = g
    return results


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
        except (TypeError, RuntimeError):
            # a sequence holding GPU arrays or tensors (GPU ones, or ones that require grad),
            # which refuse np.asarray
            if not isinstance(data, (list, tuple)):
                raise
            return _stack_sequence(data, dtype, dev)
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


def _stack_sequence(data, dtype, dev):
    """A (nested) list of arrays, tensors and numbers as one array built on ``dev``: each item
    is moved to ``dev`` first, so GPU arrays are never converted through NumPy."""
    parts = [_to_array(x, dtype, dev) for x in data]
    try:
        return dev.xp.stack(parts)
    except ValueError as e:
        raise ValueError(f"cannot make a tensor from this {type(data).__name__}: items of shapes "
                         f"{[tuple(p.shape) for p in parts]} ({e})") from None


class Tensor:
    """An n-dimensional array on a device, with an optional gradient and the op that made it.

    >>> import tinygrad_hw as thw
    >>> x = thw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """
    # _vc: the version counter ([n], shared by views; None until needed, meaning version 0);
    # _base: the tensor a view was made from; _hooks: a leaf's gradient hooks
    __slots__ = ("_data", "device", "grad", "requires_grad", "_ctx", "_vc", "_base", "_hooks",
                 "__weakref__")
    __array_priority__ = 1000      # so ndarray <op> Tensor defers to Tensor's reflected op

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        dev = backend.device(device) if device is not None else (
            data.device if isinstance(data, Tensor) else backend.device_of_data(data))
        self._data = _to_array(data, dtype, dev)
        self.device = dev
        self.grad = None
        self._ctx = self._vc = self._base = self._hooks = None
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
        t._vc = t._base = t._hooks = None
        return t

    def _version_counter(self):
        """This tensor's version counter ``[version, weakref to the tensor that made it]``, made
        on first use; views and ``detach()`` share it."""
        vc = self._vc
        if vc is None:
            vc = self._vc = [0, weakref.ref(self)]
        return vc

    @property
    def _version(self):
        """How many in-place ops have changed this tensor's memory (shared with its views)."""
        vc = self._vc
        return 0 if vc is None else vc[0]

    # --- attributes ----------------------------------------------------------------------------
    @property
    def data(self):
        """A detached Tensor sharing this tensor's storage, as torch's ``t.data``; assigning
        ``t.data = other`` makes ``t`` use ``other``'s storage. Use ``.numpy()`` for an array.
        As in torch, in-place changes through ``.data`` are not counted in ``t._version``
        (``detach()`` shares the counter), so autograd cannot see them."""
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

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)`` of a CPU tensor shares its memory (no copy unless a dtype or
        ``copy=True`` asks for one). As torch, a tensor that requires grad raises (use
        ``t.detach()``) and a GPU tensor raises TypeError (use ``.cpu()`` or ``.numpy()``)."""
        if self.device is not CPU:
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first (or .numpy(), "
                            "which copies)")
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        arr = self._data
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            if copy is False:
                raise ValueError(f"__array__: a {arr.dtype} tensor cannot be viewed as {dtype} without a copy")
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """Export the array through DLPack (``np.from_dlpack``, ``torch.from_dlpack``,
        ``cupy.from_dlpack``) without a copy; refused for tensors that require grad, as torch."""
        if self.requires_grad:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        kwargs = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                    ("dl_device", dl_device), ("copy", copy)) if v is not None}
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __format__(self, spec):
        """``f"{loss:.4f}"`` formats a 0-d tensor's value; other tensors only take an empty
        spec (their repr), as torch."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError("unsupported format string passed to Tensor.__format__")
        return repr(self)

    # --- autograd ------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not _differentiable(self.dtype):
            raise RuntimeError(f"only floating point tensors can require gradients, got {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same values (sharing memory and the version counter), cut from the graph."""
        t = Tensor._wrap(self._data, self.device)
        t._vc = self._version_counter()
        return t

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this tensor's gradient during backward; a Tensor it returns
        replaces the gradient. Returns a handle whose ``remove()`` takes the hook out."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._ctx is None:
            if self._hooks is None:
                self._hooks = {}
            hooks = self._hooks
        else:
            hooks = self._ctx.__dict__.get("_pre_hooks")
            if hooks is None:
                hooks = self._ctx._pre_hooks = {}
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in ``.grad`` during backward (a leaf's is kept
        anyway). Runs after the tensor's other hooks, as in torch."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._ctx is None or self.retains_grad:
            return
        ref = weakref.ref(self)

        def keep(g):
            t = ref()
            if t is not None:
                _accumulate_leaf(t, g._data)
        keep._retains_grad = True
        fn = self._ctx
        hooks = fn.__dict__.get("_pre_hooks")
        if hooks is None:
            hooks = fn._pre_hooks = {}
        hooks[RemovableHandle(hooks).id + 2**62] = keep      # a key after every later hook

    @property
    def retains_grad(self):
        hooks = None if self._ctx is None else self._ctx._pre_hooks
        return bool(hooks) and any(getattr(h, "_retains_grad", False) for h in hooks.values())

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
            with backend.device_scope(self.device):      # CuPy allocates on the current device
                g = self.device.xp.ones_like(self._data)
        else:
            g = gradient._data if isinstance(gradient, Tensor) else _to_array(gradient, None, self.device)
            if tuple(g.shape) != self.shape:
                raise RuntimeError(f"gradient has shape {tuple(g.shape)} but the tensor has shape {self.shape}")
            if g.dtype != self.dtype:
                g = g.astype(self.dtype)
        callbacks, _post_backward[:] = list(_post_backward), []
        _run_backward([(self, g)], retain_graph)
        for fn in callbacks:
            fn()

    # --- in-place ops ------------------------------------------------------------------------------
    # Each writes into this tensor's own array, so views see the change, and bumps the version
    # counter. With nothing to record (grad mode off, or no tensor involved requires grad) that is
    # one NumPy/CuPy call with ``out=``. Otherwise the op runs out of place on an alias of the old
    # value, the result is copied into the array, and this tensor takes the new node as its
    # grad_fn, as torch rebases a tensor's history in an in-place op.
    def _needs_graph(self, other=None):
        return _GradMode.enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad))

    def _inplace_graph(self, make):
        """Record the in-place op whose out-of-place form is ``make(alias of self)``."""
        if self._ctx is None and self.requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        base = self._base
        if base is not None:
            if base._ctx is None and base.requires_grad:
                raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                                   "in-place operation.")
            raise RuntimeError("an in-place op on a view of another tensor, with autograd recording, is "
                               "not supported (torch would rewrite the base tensor's history): write "
                               "into the base tensor instead (y[i] = y[i] + 1 rather than y[i] += 1), "
                               "or clone() the view first")
        old = Tensor._wrap(self._data, self.device)
        old._ctx, old.requires_grad, old._vc = self._ctx, self.requires_grad, self._version_counter()
        out = make(old)
        _inplace_result_check(self, out)
        fn, cur = out._ctx, self._data
        if fn is not None:
            # an op that kept the value about to be overwritten gets a copy of its own
            _swap_saved(fn, cur, cur.copy)
        if out.dtype != self.dtype:
            out = out.to(dtype=self.dtype)
        self._write(Ellipsis, out._data)
        node = out._ctx
        if node is not None and _swap_saved(node, out._data, lambda: self._data):
            node._out_saved = (self._vc, self._vc[0], self._data)   # its saved output is this tensor now
        self._ctx, self.requires_grad = node, out.requires_grad
        return self

    def _write(self, index, value):
        """``self._data[index] = value`` (same device), bumping the version; clear errors."""
        try:
            self._data[index] = value
        except ValueError as e:
            if not getattr(self._data, "flags", None) or self._data.flags.writeable:
                raise RuntimeError(f"cannot write a value of shape {list(getattr(value, 'shape', ()))} "
                                   f"into index {index!r} of a tensor of shape {list(self.shape)}: {e}") from None
            raise _readonly() from None
        except IndexError as e:
            raise IndexError(f"index {index!r} is invalid for a tensor of shape {self.shape}: {e}") from None
        self._bump()

    def _bump(self):
        """Count an in-place write: the version goes up, and a node that made this tensor (or its
        base) and kept the array it returned now remembers the version it expects."""
        _Inplace.count += 1
        vc = self._version_counter()
        for t in (self, self._base, vc[1]()):        # vc[1]: the tensor a detach() came from
            if t is not None:
                fn = t._ctx
                if fn is not None and fn._out_saved is None and _keeps(fn, t._data):
                    fn._out_saved = (vc, vc[0], t._data)
        vc[0] += 1

    def _inplace_binary(self, ufunc, other, make):
        if self._needs_graph(other):
            return self._inplace_graph(make)
        b = _inplace_operand(self, other, ufunc)
        try:
            getattr(self.device.xp, ufunc)(self._data, b, out=self._data)
        except ValueError as e:
            if not self._data.flags.writeable:
                raise _readonly() from None
            raise RuntimeError(f"{ufunc}_: output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape of the operands ({e})") from None
        self._bump()
        return self

    def add_(self, other, alpha=1):
        if alpha != 1:
            other = other * alpha
        return self._inplace_binary("add", other, lambda old: old + other)

    def sub_(self, other, alpha=1):
        if alpha != 1:
            other = other * alpha
        return self._inplace_binary("subtract", other, lambda old: old - other)

    def mul_(self, other):
        return self._inplace_binary("multiply", other, lambda old: old * other)

    def div_(self, other):
        return self._inplace_binary("true_divide", other, lambda old: old / other)

    def pow_(self, exponent):
        return self._inplace_binary("power", exponent, lambda old: old ** exponent)

    def __iadd__(self, other):
        return self.add_(other)

    def __ipow__(self, other):
        return self.pow_(other)

    def __iand__(self, other):
        return self._inplace_binary("bitwise_and", other, lambda old: old & other)

    def __ior__(self, other):
        return self._inplace_binary("bitwise_or", other, lambda old: old | other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def clamp_(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp_ needs at least one of min and max")
        if self._needs_graph():
            return self._inplace_graph(lambda old: old.clamp(min, max))
        for bound in (min, max):
            if bound is not None:
                _inplace_operand(self, bound, "clamp")
        xp = self.device.xp
        if min is not None:
            xp.maximum(self._data, min, out=self._data)
        if max is not None:
            xp.minimum(self._data, max, out=self._data)
        self._bump()
        return self

    clip_ = clamp_

    def fill_(self, value):
        """Set every element to ``value`` (a number or a one-element tensor)."""
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions")
        return self._assign(Ellipsis, value)

    def zero_(self):
        return self._assign(Ellipsis, 0)

    def copy_(self, src, non_blocking=False):
        """Copy ``src`` (broadcast to this shape, cast to this dtype, moved to this device) in."""
        if not isinstance(src, Tensor):
            src = Tensor(src, device=self.device)
        if src.shape != self.shape:
            try:
                ok = np.broadcast_shapes(src.shape, self.shape) == self.shape
            except ValueError:
                ok = False
            if not ok:
                raise RuntimeError(f"copy_: the source of shape {list(src.shape)} cannot be broadcast "
                                   f"to the destination's shape {list(self.shape)}") from None
        return self._assign(Ellipsis, src)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        """Fill with draws from U[a, b), from the generator seeded by ``thw.manual_seed``."""
        return self._assign(Ellipsis, _draw(self, "random") * (b - a) + a)

    def normal_(self, mean=0.0, std=1.0, generator=None):
        return self._assign(Ellipsis, _draw(self, "standard_normal") * std + mean)

    def __setitem__(self, index, value):
        return self._assign(index, value)

    def _assign(self, index, value):
        """``self[index] = value``: value a number, array, list or Tensor (moved to this device)."""
        idx = Ellipsis if index is Ellipsis else _ops.device_index(self, index)
        if self._needs_graph(value):
            if isinstance(value, Tensor):
                value = value.to(self.device, self.dtype)
            self._inplace_graph(lambda old: _inplace_ops.SetItem.apply(old, value, index=idx))
            return self
        if isinstance(value, Tensor):
            v = value._data if value.device is self.device else backend.to_device(value._data, self.device)
        elif isinstance(value, (int, float, bool, np.generic)):
            v = value
        else:
            v = _to_array(value, None, self.device)
        self._write(idx, v)
        return self
    # --- device and dtype ----------------------------------------------------------------------
    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
        """``t.to('cuda')``, ``t.to(thw.float64)``, ``t.to('cpu', thw.float32)``; differentiable.
        ``non_blocking`` is accepted (copies are synchronous); ``copy=True`` always copies."""
        device, dtype = parse_to_args(args, device, dtype)
        out = self
        if device is not None:
            dev = backend.device(device)
            if dev is not self.device:
                out = _ops.ToDevice.apply(out, target=dev)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = _ops.Cast.apply(out, dtype=np.dtype(dtype))
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self):
        return self.to(CPU)

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def type(self, dtype=None, non_blocking=False):
        """With no argument, torch's type name ('torch.FloatTensor'; 'torch.cuda.FloatTensor' on
        the GPU); else a cast to ``dtype`` (a dtype or such a name)."""
        if dtype is None:
            cuda = "cuda." if self.device.type == "cuda" else ""
            return f"torch.{cuda}{_torch_name(self.dtype)}Tensor"
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            name = dtype.rsplit(".", 1)[-1][:-len("Tensor")]
            by_name = {v: k for k, v in _TORCH_NAMES.items()}
            if name not in by_name:
                raise ValueError(f"invalid type: {dtype!r}")
            out = self.to(dtype=by_name[name])
            return out.cuda() if ".cuda." in dtype else out.cpu() if dtype.startswith("torch.") else out
        return self.to(dtype=dtype)

    def view_as(self, other):
        return self.view(other.shape)

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
        return self._operand(Tensor._wrap(_device_operand(self, other, "binary op"), self.device))

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

    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        """torch's positional order: ``var(dim, unbiased, keepdim)``; ``var(False)`` is biased over all."""
        if isinstance(dim, bool):
            dim, unbiased = None, dim
        ddof = (1 if unbiased else 0) if correction is None else correction
        return _ops.Var.apply(self._floating(), axis=_axes(dim, self.ndim), keepdims=keepdim, ddof=ddof)

    def _floating(self):
        """Integer and bool tensors as float32 (NumPy would give float64), for mean-like ops."""
        return self.to(dtype=_PY_FLOAT) if self._data.dtype.kind in "biu" else self

    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        if isinstance(dim, bool):
            dim, unbiased = None, dim
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

    # --- more torch ops: math, reductions, indexing, shape, products, order statistics ----------
    # (the Functions live in ops/unary.py, reduce.py, indexing.py, shape.py, linalg.py, sort.py)
    def _unary(self, fn, **kwargs):
        return fn.apply(_ops.unary.floating(self), **kwargs)

    def sin(self):
        return self._unary(_ops.unary.Sin)

    def cos(self):
        return self._unary(_ops.unary.Cos)

    def tan(self):
        return self._unary(_ops.unary.Tan)

    def asin(self):
        return self._unary(_ops.unary.Asin)

    def acos(self):
        return self._unary(_ops.unary.Acos)

    def atan(self):
        return self._unary(_ops.unary.Atan)

    def sinh(self):
        return self._unary(_ops.unary.Sinh)

    def cosh(self):
        return self._unary(_ops.unary.Cosh)

    def asinh(self):
        return self._unary(_ops.unary.Asinh)

    def acosh(self):
        return self._unary(_ops.unary.Acosh)

    def atanh(self):
        return self._unary(_ops.unary.Atanh)

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def log2(self):
        return self._unary(_ops.unary.Log2)

    def log10(self):
        return self._unary(_ops.unary.Log10)

    def log1p(self):
        return self._unary(_ops.unary.Log1p)

    def expm1(self):
        return self._unary(_ops.unary.Expm1)

    def exp2(self):
        return self._unary(_ops.unary.Exp2)

    def rsqrt(self):
        return self._unary(_ops.unary.Rsqrt)

    def reciprocal(self):
        return self._unary(_ops.unary.Reciprocal)

    def square(self):
        return _ops.unary.Square.apply(self.to(dtype=np.int64) if self.dtype.kind == "b" else self)

    def sign(self):
        return _ops.unary.Sign.apply(self)

    def floor(self):
        return _ops.unary.Floor.apply(self)

    def ceil(self):
        return _ops.unary.Ceil.apply(self)

    def trunc(self):
        return _ops.unary.Trunc.apply(self)

    fix = trunc

    def round(self, decimals=0):
        return _ops.unary.Round.apply(self, decimals=int(decimals))

    def frac(self):
        if self.dtype.kind not in "fc":
            raise RuntimeError(f"frac() needs a floating point tensor, got {self.dtype}")
        return _ops.unary.Frac.apply(self)

    def isnan(self):
        return _ops.unary.classify(self, "isnan")

    def isinf(self):
        return _ops.unary.classify(self, "isinf")

    def isfinite(self):
        return _ops.unary.classify(self, "isfinite")

    def isposinf(self):
        return _ops.unary.classify(self, "isposinf")

    def isneginf(self):
        return _ops.unary.classify(self, "isneginf")

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _ops.unary.NanToNum.apply(self, nan=nan, posinf=posinf, neginf=neginf)

    greater, greater_equal, less, less_equal, not_equal = __gt__, __ge__, __lt__, __le__, __ne__

    def prod(self, dim=None, keepdim=False, dtype=None):
        axis = None if dim is None else _axes(int(dim), self.ndim)
        return _ops.Prod.apply(self, axis=axis, keepdims=keepdim, dtype=dtype)

    def _cumulative(self, fn, dim, dtype):
        src = self.reshape(1) if self.ndim == 0 else self
        out = fn.apply(src, axis=_dim(dim, src.ndim), dtype=dtype)
        return out.reshape(()) if self.ndim == 0 else out

    def cumsum(self, dim, dtype=None):
        return self._cumulative(_ops.Cumsum, dim, dtype)

    def cumprod(self, dim, dtype=None):
        return self._cumulative(_ops.Cumprod, dim, dtype)

    def logsumexp(self, dim, keepdim=False):
        return _ops.LogSumExp.apply(_ops.unary.floating(self), axis=_axes(dim, self.ndim), keepdims=keepdim)

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        return _ops.norm(self, p, dim, keepdim, dtype)

    def any(self, dim=None, keepdim=False):
        return _ops.any_all(self, dim, keepdim, "any")

    def all(self, dim=None, keepdim=False):
        return _ops.any_all(self, dim, keepdim, "all")

    def masked_fill(self, mask, value):
        return _ops.masked_fill(self, mask, value)

    def masked_select(self, mask):
        return _ops.masked_select(self, mask)

    def gather(self, dim, index):
        return _ops.gather(self, dim, index)

    def scatter(self, dim, index, src=None, value=None, reduce=None):
        return _ops.scatter(self, dim, index, src, value, reduce)

    def scatter_add(self, dim, index, src):
        return _ops.scatter(self, dim, index, src, add=True)

    def index_select(self, dim, index):
        return _ops.index_select(self, dim, index)

    def take_along_dim(self, indices, dim=None):
        return _ops.take_along_dim(self, indices, dim)

    def repeat(self, *sizes):
        return _ops.shape.repeat(self, *sizes)

    def tile(self, *dims):
        return _ops.shape.tile(self, _shape_args(dims))

    def repeat_interleave(self, repeats, dim=None, output_size=None):
        return _ops.shape.repeat_interleave(self, repeats, dim, output_size)

    def flip(self, *dims):
        return _ops.shape.flip(self, *dims)

    def roll(self, shifts, dims=None):
        return _ops.shape.roll(self, shifts, dims)

    def split(self, split_size, dim=0):
        """Pieces of ``split_size`` along dim (the last may be smaller), or of the listed sizes."""
        return _ops.shape.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return _ops.shape.chunk(self, chunks, dim)

    def unbind(self, dim=0):
        return _ops.shape.unbind(self, dim)

    def narrow(self, dim, start, length):
        return _ops.shape.narrow(self, dim, start, length)

    def movedim(self, source, destination):
        return _ops.shape.movedim(self, source, destination)

    moveaxis = movedim

    def swapaxes(self, axis0, axis1):
        return self.transpose(axis0, axis1)

    swapdims = swapaxes

    def tril(self, diagonal=0):
        return _ops.shape.tril(self, diagonal)

    def triu(self, diagonal=0):
        return _ops.shape.triu(self, diagonal)

    def diag(self, diagonal=0):
        return _ops.shape.diag(self, diagonal)

    def mm(self, mat2):
        return _ops.mm(self, mat2)

    def bmm(self, mat2):
        return _ops.bmm(self, mat2)

    def dot(self, other):
        return _ops.dot(self, other)

    def outer(self, vec2):
        return _ops.outer(self, vec2)

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) along dim; always stable (equal values keep their order)."""
        return _ops.sort.sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        return _ops.sort.argsort(self, dim, descending, stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return _ops.sort.topk(self, k, dim, largest, sorted)

    def kthvalue(self, k, dim=-1, keepdim=False):
        return _ops.sort.kthvalue(self, k, dim, keepdim)

    def median(self, dim=None, keepdim=False):
        return _ops.sort.median(self, dim, keepdim)

    def mode(self, dim=-1, keepdim=False):
        return _ops.sort.mode(self, dim, keepdim)

    # --- nn-style conveniences -------------------------------------------------------------------
    def softmax(self, dim):
        from .ops.softmax import softmax
        return softmax(self, dim)

    def log_softmax(self, dim):
        from .ops.softmax import log_softmax
        return log_softmax(self, dim)


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


_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
                "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _torch_name(dtype):
    return _TORCH_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _readonly():
    return RuntimeError("cannot write in place into this tensor: its memory is read-only (an "
                        "expand()ed tensor, whose elements share memory, or a read-only array); "
                        "clone() it first")


def _cast_error(result_dtype, dtype):
    return RuntimeError(f"result type {_torch_name(result_dtype)} can't be cast to the desired "
                        f"output type {_torch_name(dtype)}")


def _inplace_result_check(t, out):
    if out.shape != t.shape:
        raise RuntimeError(f"output with shape {list(t.shape)} doesn't match the broadcast shape "
                           f"{list(out.shape)}")
    if _category(out.dtype) > _category(t.dtype):
        raise _cast_error(out.dtype, t.dtype)


def _inplace_operand(t, other, op):
    """The raw operand of an in-place op on ``t`` without a graph: a scalar or an array on t's
    device. Raises torch's error when the result's type would not fit ``t``'s dtype."""
    if isinstance(other, Tensor):
        if other.device is not t.device:
            if other.ndim:
                raise RuntimeError(f"{op}_: expected all tensors on one device, got {t.device} and "
                                   f"{other.device}")
            other = other.item()
        else:
            b, dt = other._data, other.dtype
    if isinstance(other, np.generic):
        other = other.item()
    if isinstance(other, (bool, int, float)):
        b = other
        dt = np.dtype(np.bool_ if isinstance(other, bool) else np.int64 if isinstance(other, int)
                      else _PY_FLOAT)
    elif not isinstance(other, Tensor):
        b = _device_operand(t, other, op)
        dt = b.dtype
    cat = max(_category(dt), 2 if op == "true_divide" else 0)
    if cat > _category(t.dtype):
        raise _cast_error(dt if _category(dt) == cat else _PY_FLOAT, t.dtype)
    return b


def _device_operand(t, other, op):
    """An array-like operand as an array on ``t``'s device: NumPy data is moved there once; a
    GPU array next to a CPU tensor raises instead of being copied to the host behind the
    user's back."""
    if hasattr(other, "__cuda_array_interface__") and not isinstance(other, np.ndarray):
        if t.device.type == "cpu":
            raise RuntimeError(f"{op}: expected all tensors on one device, got a tensor on cpu and a "
                               f"{type(other).__module__}.{type(other).__name__} on the GPU; move "
                               "one of them first (thw.tensor(x, device=...) or t.cuda())")
        return backend.to_device(other, t.device)
    return _to_array(other, None, t.device)


def _draw(t, kind):
    """Random values of ``t``'s shape and dtype on its device (``random`` or ``standard_normal``)."""
    if t.dtype.kind != "f":
        raise TypeError(f"random in-place fill needs a floating point tensor, got {t.dtype}")
    dt = t.dtype if t.dtype.itemsize >= 4 else np.dtype(np.float32)
    return getattr(backend.rng(t.device), kind)(t.shape, dtype=dt)


def is_tensor(obj):
    """True for a tinygrad_hw Tensor (or Parameter), as ``torch.is_tensor``."""
    return isinstance(obj, Tensor)


from . import ops as _ops   # noqa: E402  (ops subclass Function, defined above)
from .ops import inplace as _inplace_ops   # noqa: E402
