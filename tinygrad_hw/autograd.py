"""torch.autograd's user-facing API: custom ops written with a ``ctx``, and ``grad``.

>>> import tinygrad_hw as thw
>>> class Square(thw.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x
...     @staticmethod
...     def backward(ctx, grad):
...         x, = ctx.saved_tensors
...         return 2 * x * grad
>>> x = thw.tensor([3.0], requires_grad=True)
>>> Square.apply(x).sum().backward()
>>> x.grad.tolist()
[6.0]

``forward`` and ``backward`` receive and return Tensors and run with grad mode off (there is no
double backward: ``create_graph=True`` is not supported). The op's node is an ordinary node of the
engine's graph (a ``tensor.Function``), so hooks, ``retain_graph`` and the version checks of
saved tensors apply as to the built-in ops.
"""
from . import backend
from .tensor import (Function as _Node, Tensor, RemovableHandle, _GradMode, _SlotGrads, _run_backward,
                     _to_array, no_grad, _differentiable)

__all__ = ["Function", "FunctionCtx", "grad", "backward", "RemovableHandle"]


class FunctionCtx:
    """The ``ctx`` handed to a custom Function's forward and backward."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._to_save = ()
        self._non_differentiable = ()

    def save_for_backward(self, *tensors):
        """Keep tensors (or None) for backward; reading them back checks that no in-place op
        changed them since."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors or None, got {type(t).__name__}")
        self._to_save = tuple(None if t is None else (t, t._version_counter(), t._version) for t in tensors)

    @property
    def saved_tensors(self):
        if self._to_save is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access "
                               "saved tensors after they have already been freed). Specify "
                               "retain_graph=True if you need to backward through the graph a second time.")
        out = []
        for i, entry in enumerate(self._to_save):
            if entry is None:
                out.append(None)
                continue
            t, vc, version = entry
            if vc[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{t.dtype}{list(t.shape)}], which is saved tensor {i} of "
                    f"{self._name}, is at version {vc[0]}; expected version {version} instead.")
            out.append(t)
        return tuple(out)

    def mark_non_differentiable(self, *outputs):
        """These outputs get no gradient (they do not require grad; backward receives zeros)."""
        self._non_differentiable = outputs

    def set_materialize_grads(self, value):
        """With False, backward receives None (not zeros) for outputs that got no gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors):
        raise NotImplementedError("in-place custom Functions (ctx.mark_dirty) are not supported; "
                                  "return a new tensor from forward")


class _CustomNode(_Node):
    """The graph node of one ``Function.apply``: calls the user's backward on Tensors."""

    def backward(self, g):
        ctx, dev = self.ctx, self.dev
        n = self.n_outputs
        if n == 1:
            slots = {0: g}
        else:
            slots = g.grads
        grads = []
        for k in range(n):
            gk = slots.get(k)
            if gk is None and ctx.materialize_grads and self.out_meta[k] is not None:
                shape, dtype = self.out_meta[k]
                gk = dev.xp.zeros(shape, dtype=dtype)
            grads.append(None if gk is None else Tensor._wrap(gk, dev))
        with no_grad():
            res = self.user.backward(ctx, *grads)
        if not isinstance(res, tuple):
            res = (res,)
        n_in = len(self.inputs)
        if len(res) != n_in and not (len(res) > n_in and all(r is None for r in res[n_in:])):
            raise RuntimeError(f"function {type(self).__name__} returned an incorrect number of "
                               f"gradients (expected {n_in}, got {len(res)})")
        out = []
        for i, (r, inp, need) in enumerate(zip(res, self.inputs, self.needs_input_grad)):
            if r is None or not need:
                out.append(None)
                continue
            arr = r._data if isinstance(r, Tensor) else _to_array(r, inp.dtype, dev)
            if tuple(arr.shape) != inp.shape:
                raise RuntimeError(f"Function {type(self).__name__} returned an invalid gradient at "
                                   f"index {i} - got {list(arr.shape)} but expected shape compatible "
                                   f"with {list(inp.shape)}")
            if arr.dtype != inp.dtype:
                arr = arr.astype(inp.dtype)
            out.append(arr)
        return tuple(out)


class _OutputSlot(_Node):
    """Output ``k`` of a multi-output node: hands its gradient on, tagged with ``k``."""

    def backward(self, g):
        return (_SlotGrads({self.k: g}),)


def _node_classes(cls):
    """The node and output-slot classes of a user Function, named like torch's grad_fn
    (``MyFnBackward``) so that reprs and messages name the user's op."""
    classes = cls.__dict__.get("_node_classes")
    if classes is None:
        name = f"{cls.__name__}Backward"
        classes = type(name, (_CustomNode,), {}), type(name, (_OutputSlot,), {})
        cls._node_classes = classes
    return classes


class Function:
    """A custom differentiable op in torch's style: subclass, write ``@staticmethod``
    ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` on Tensors, call ``Fn.apply(*args)``.

    ``backward`` returns one gradient per argument of forward (None for non-tensors and inputs
    that need none); ``ctx.needs_input_grad`` says which are wanted. ``forward`` may return a
    Tensor or a tuple of Tensors; torch's ``setup_context(ctx, inputs, output)`` form (forward
    without ctx) works too.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("You must implement either the backward or vjp method for your "
                                  "custom autograd.Function to use it with backward mode AD.")

    setup_context = None

    @classmethod
    def apply(cls, *args, **kwargs):
        dev = None
        for a in args:
            if isinstance(a, Tensor):
                if dev is None:
                    dev = a.device
                elif a.device is not dev:
                    raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, got "
                                       f"{dev} and {a.device}")
        dev = backend.CPU if dev is None else dev
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        ctx._name = f"{cls.__name__}Backward"
        with no_grad(), backend.device_scope(dev):
            if cls.setup_context is not None:
                result = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, result)
            else:
                result = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        record = _GradMode.enabled and any(needs)
        # an input returned as is becomes a new tensor (sharing memory), so its history is kept
        outs = tuple(_alias(o) if isinstance(o, Tensor) and any(o is a for a in args) else o for o in outs)
        if record:
            node_cls, slot_cls = _node_classes(cls)
            node = node_cls()
            node.xp, node.needs_input_grad = dev.xp, list(needs)
            node.ctx, node.dev, node.user = ctx, dev, cls
            node.n_outputs = len(outs)
            node.out_meta = [(o.shape, o.dtype) if isinstance(o, Tensor) else None for o in outs]
            node.generation = 1 + max((a._ctx.generation for a in args
                                       if isinstance(a, Tensor) and a._ctx is not None), default=-1)
            node.inputs = args
            node.parents = [a._ctx if isinstance(a, Tensor) and a.requires_grad else None for a in args]
            skip = ctx._non_differentiable
            linked = [isinstance(o, Tensor) and _differentiable(o.dtype) and not any(o is s for s in skip)
                      for o in outs]
            if len(outs) == 1:
                if linked[0]:
                    outs[0]._ctx, outs[0].requires_grad = node, True
            else:
                hub = Tensor._wrap(dev.xp.empty((0,)), dev)   # stands for all outputs together
                hub._ctx, hub.requires_grad = node, True
                for k, (o, link) in enumerate(zip(outs, linked)):
                    if link:
                        slot = slot_cls()
                        slot.xp, slot.needs_input_grad, slot.k = dev.xp, [True], k
                        slot.inputs, slot.parents, slot.generation = (hub,), [node], node.generation + 1
                        o._ctx, o.requires_grad = slot, True
        return outs[0] if single else outs


def _alias(t):
    a = Tensor._wrap(t._data, t.device)
    a._vc = t._version_counter()
    return a


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs`` (a tuple, one per input), as
    ``torch.autograd.grad``; nothing is accumulated into any ``.grad``.

    ``grad_outputs`` weights each output (needed for outputs with more than one element). The
    graph is freed unless ``retain_graph=True``. ``allow_unused=False`` (the default) raises for
    an input that the outputs do not depend on; with True its gradient is None (zeros with
    ``materialize_grads=True``). ``create_graph=True`` (double backward) is not supported.
    """
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported: "
                                  "backward functions run on arrays, not on recorded tensors")
    if is_grads_batched:
        raise NotImplementedError("is_grads_batched=True is not supported")
    if allow_unused is None:
        allow_unused = materialize_grads
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    roots = _roots(outputs, tuple(grad_outputs))
    results = _run_backward(roots, bool(retain_graph), inputs=list(inputs))
    grads = []
    seen = [g for _, g in roots]
    for t, g in zip(inputs, results):
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in "
                                   "the graph. Set allow_unused=True if this is the desired behavior.")
            grads.append(Tensor._wrap(t.device.xp.zeros(t.shape, t.dtype), t.device)
                         if materialize_grads else None)
        else:
            # a gradient passed through unchanged may be the caller's grad_output, another
            # input's gradient or a view: the result owns its memory, as torch's does
            if getattr(g, "base", None) is not None or any(g is x for x in seen):
                g = g.copy()
            seen.append(g)
            grads.append(Tensor._wrap(g, t.device))
    return tuple(grads)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``torch.autograd.backward``: accumulate the gradients of several outputs (each weighted by
    its grad_tensor) into the leaves' ``.grad`` in one walk; with ``inputs``, only into those."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
    tensors = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    roots = _roots(tensors, tuple(grad_tensors))
    if inputs is None:
        _run_backward(roots, bool(retain_graph))
        return
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    from .tensor import _accumulate_leaf
    for t, g in zip(inputs, _run_backward(roots, bool(retain_graph), inputs=list(inputs))):
        if g is not None:
            _accumulate_leaf(t, g)


def _roots(outputs, grad_outputs):
    """(tensor, gradient array) pairs for the graph walk, checked as torch checks them."""
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"got {len(grad_outputs)} gradients for {len(outputs)} outputs")
    roots = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; output of "
                                   f"shape {out.shape} needs a gradient")
            g = out.device.xp.ones_like(out._data)
        else:
            g = g._data if isinstance(g, Tensor) else _to_array(g, out.dtype, out.device)
            if tuple(g.shape) != out.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output has a shape of {tuple(g.shape)} and "
                                   f"output has a shape of {out.shape}")
        roots.append((out, g))
    return roots


# --- Module.register_full_backward_hook --------------------------------------------------------
class _BackwardHookState:
    """One forward call of a module with full backward hooks (torch's BackwardHook): identity
    ops around its tensor inputs and outputs catch grad_output and grad_input."""

    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.grad_outputs = None
        self.n_inputs = 0          # positional tensor inputs
        self.wanted = ()           # which of them (index among the tensor inputs) need a gradient

    def wrap_inputs(self, args):
        pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(pos)
        self.wanted = [k for k, i in enumerate(pos) if args[i].requires_grad]
        if not self.wanted:
            return args
        wrapped = _HookInputs.apply(self, *(args[pos[k]] for k in self.wanted))
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        args = list(args)
        for k, w in zip(self.wanted, wrapped):
            args[pos[k]] = w
        return tuple(args)

    def wrap_outputs(self, out):
        outs = (out,) if isinstance(out, Tensor) else out
        if not isinstance(outs, tuple) or not any(isinstance(o, Tensor) and o.requires_grad for o in outs):
            return out
        return _HookOutputs.apply(self, *outs)

    def call_hooks(self, grad_inputs):
        """grad_inputs: one per positional tensor input (None where not needed)."""
        for hook in list(self.hooks.values()):
            r = hook(self.module, grad_inputs, self.grad_outputs)
            if r is not None:
                r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
                if len(r) != len(grad_inputs):
                    raise RuntimeError(f"backward hook returned {len(r)} gradients, expected "
                                       f"{len(grad_inputs)}")
                grad_inputs = r
        return grad_inputs


class _HookOutputs(Function):
    @staticmethod
    def forward(ctx, state, *outs):
        ctx.state = state
        return outs if len(outs) > 1 else outs[0]

    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        state.grad_outputs = grads
        if not state.wanted:           # no input needs a gradient: the hooks run now, as torch
            state.call_hooks((None,) * state.n_inputs)
        return (None,) + grads


class _HookInputs(Function):
    @staticmethod
    def forward(ctx, state, *inputs):
        ctx.state = state
        return inputs if len(inputs) > 1 else inputs[0]

    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        full = [None] * state.n_inputs
        for k, g in zip(state.wanted, grads):
            full[k] = g
        new = state.call_hooks(tuple(full))
        return (None,) + tuple(new[k] for k in state.wanted)
