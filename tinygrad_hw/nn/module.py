"""Module (the container of parameters, buffers and submodules), Parameter, and the containers
Sequential, ModuleList and ModuleDict, with PyTorch's names, state-dict keys and semantics.

>>> from tinygrad_hw import nn
>>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
>>> list(net.state_dict())
['0.weight', '0.bias', '2.weight', '2.bias']
"""
from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..tensor import Tensor, RemovableHandle, parse_to_args, is_grad_enabled


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter; requires grad by default.

    ``Parameter(t)`` shares memory with the Tensor (or NumPy array) ``t``.
    """
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        if not isinstance(data, Tensor):
            data = Tensor(data)       # arrays are wrapped without a copy; Python floats -> float32
        self._data, self.device = data._data, data.device
        self.grad = None
        self._ctx = self._base = self._hooks = None
        self._vc = data._version_counter()        # shares the version, as its memory
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def zero_grad(parameters, set_to_none=True):
    """Drop each tensor's gradient, or zero it in place with ``set_to_none=False``; the one
    implementation behind ``Module.zero_grad`` and ``Optimizer.zero_grad``."""
    for p in parameters:
        if p.grad is not None:
            if set_to_none:
                p.grad = None
            else:
                p.grad._data[...] = 0


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_DLPACK_CPU, _DLPACK_CUDA = 1, 2      # DLDeviceType codes of the DLPack standard


def _state_array(key, value):
    """The NumPy or CuPy array behind one state-dict value, without a copy where the producer allows.

    Accepts Tensors, NumPy/CuPy arrays, and any array-like: objects with ``__dlpack__`` (torch
    tensors, JAX arrays...) or ``__array__``, and nested lists of numbers. Foreign tensors that
    require grad are read through their ``detach()``, as torch's own load_state_dict does.
    """
    if isinstance(value, Tensor):
        return value._data
    if isinstance(getattr(value, "dtype", None), np.dtype) and hasattr(value, "shape"):
        return value                                              # NumPy or CuPy array
    if getattr(value, "requires_grad", False) and callable(getattr(value, "detach", None)):
        value = value.detach()
    errors = []
    if hasattr(value, "__dlpack__"):
        kind = int(value.__dlpack_device__()[0]) if hasattr(value, "__dlpack_device__") else _DLPACK_CPU
        try:
            if kind == _DLPACK_CPU:
                return np.from_dlpack(value)
            if kind == _DLPACK_CUDA:
                return backend.device("cuda").xp.from_dlpack(value)
            errors.append(f"DLPack device type {kind} is neither CPU nor CUDA")
        except (TypeError, ValueError, BufferError, RuntimeError) as e:
            errors.append(f"DLPack: {e}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as e:
        errors.append(f"__array__: {e}")
    else:
        if arr.dtype != object:
            return arr
        errors.append("not an array of numbers")
    raise TypeError(f"load_state_dict: cannot read the value for {key} ({type(value).__name__}) "
                    f"as an array: {'; '.join(errors)}")


def _parse_to(args, kwargs):
    """(device or None, dtype or None) from Module.to's arguments, as Tensor.to reads them."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    device, dtype = parse_to_args(args, device, dtype)
    if device is not None:
        device = backend.device(device)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":
            raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")
    return device, dtype


def _call_with_hooks(module, args, kwargs):
    """Module.__call__ when hooks are registered, in torch's order: forward pre-hooks, inputs
    wrapped for backward hooks, forward, forward hooks, outputs wrapped for backward hooks."""
    for hook, with_kwargs in list(module.__dict__.get("_forward_pre_hooks", {}).values()):
        if with_kwargs:
            r = hook(module, args, kwargs)
            if r is not None:
                args, kwargs = r
        else:
            r = hook(module, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
    backward_hooks = module.__dict__.get("_backward_hooks")
    state = None
    if backward_hooks and is_grad_enabled():
        from ..autograd import _BackwardHookState
        state = _BackwardHookState(module, backward_hooks)
        args = state.wrap_inputs(args)
    out = module.forward(*args, **kwargs)
    for hook, with_kwargs in list(module.__dict__.get("_forward_hooks", {}).values()):
        r = hook(module, args, kwargs, out) if with_kwargs else hook(module, args, out)
        if r is not None:
            out = r
    if state is not None:
        out = state.wrap_outputs(out)
    return out


def _addindent(text, spaces):
    lines = text.split("\n")
    return lines[0] + "".join("\n" + " " * spaces + line for line in lines[1:])


class Module:
    """Base class of every layer and model: subclass it, assign layers and Parameters as
    attributes in ``__init__`` (after ``super().__init__()``), and define ``forward``.

    >>> class Net(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = Parameter(np.ones((2,), np.float32))
    ...     def forward(self, x):
    ...         return x * self.w
    >>> [name for name, _ in Net().named_parameters()]
    ['w']
    """

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if not (d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks")):
            return self.forward(*args, **kwargs)
        return _call_with_hooks(self, args, kwargs)

    # --- hooks (torch's names and call signatures; each register_* returns a removable handle)
    def _hook_dict(self, name):
        d = self.__dict__.get(name)
        if d is None:
            d = OrderedDict()
            object.__setattr__(self, name, d)
        return d

    def _add_hook(self, name, entry, prepend):
        hooks = self._hook_dict(name)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = entry
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` (or ``hook(module, args, kwargs)`` with ``with_kwargs``) runs before
        forward; a non-None result replaces args (or (args, kwargs))."""
        return self._add_hook("_forward_pre_hooks", (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with
        ``with_kwargs``) runs after forward; a non-None result replaces the output."""
        return self._add_hook("_forward_hooks", (hook, with_kwargs), prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` runs once the gradients of the module's
        positional tensor inputs are computed (None for inputs that need none); a non-None result
        (a tuple, one entry per input) replaces grad_input."""
        return self._add_hook("_backward_hooks", hook, prepend)

    # --- registration --------------------------------------------------------------------------
    def _registry(self, kind):
        d = self.__dict__.get(kind)
        if d is None:
            raise AttributeError(f"cannot assign to {type(self).__name__} before Module.__init__() call")
        return d

    def _forget(self, name):
        for kind in ("_parameters", "_buffers", "_modules"):
            self.__dict__.get(kind, {}).pop(name, None)
        self.__dict__.get("_non_persistent_buffers", set()).discard(name)
        self.__dict__.pop(name, None)

    def register_parameter(self, name, param):
        """Add a Parameter (or None, for an absent optional one such as a bias)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(nn.Parameter or None required)")
        self._registry("_parameters")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add a Tensor that is state but not a parameter (e.g. running statistics).

        Persistent buffers appear in ``state_dict``; all are moved by ``to``.
        """
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(Tensor or None required)")
        self._registry("_buffers")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or name == "":
            raise KeyError(f'module name must be a non-empty string without ".", got {name!r}')
        self._registry("_modules")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif name in self.__dict__.get("_modules", {}):
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(nn.Module or None expected)")
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", {}):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only reached when normal lookup fails
        d = self.__dict__
        for kind in ("_parameters", "_buffers", "_modules"):
            reg = d.get(kind)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for kind in ("_parameters", "_buffers", "_modules"):
            reg = self.__dict__.get(kind)
            if reg is not None and name in reg:
                del reg[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # --- traversal ------------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(qualified name, module) for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, kind, prefix, recurse, remove_duplicate):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, t in getattr(m, kind).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first), then on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def get_submodule(self, target):
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule '{part}' (looking up '{target}')")
            mod = mod._modules[part]
        return mod

    # --- modes and gradients ---------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode on this module and every descendant (dropout, batch norm); returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():      # through each child's own train(), which it may override
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (or zero it in place when ``set_to_none=False``)."""
        zero_grad(self.parameters(), set_to_none)

    # --- device and dtype -------------------------------------------------------------------------
    def _move(self, device, dtype):
        """Convert every parameter, buffer (and gradient) in place, keeping the Tensor objects, so
        optimizers holding the parameters keep working. Only floating tensors change dtype."""
        def convert(t):
            arr = t._data
            if device is not None and t.device is not device:
                arr = backend.to_device(arr, device)
            if dtype is not None and arr.dtype.kind in "fc" and arr.dtype != dtype:
                arr = arr.astype(dtype)
            t._data = arr
            if device is not None:
                t.device = device

        seen = set()
        for m in self.modules():
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                convert(t)
                if t.grad is not None:
                    convert(t.grad)
        return self

    def to(self, *args, **kwargs):
        """``m.to('cuda')``, ``m.to(thw.float64)``, ``m.to('cpu', thw.float32)``: in place, returns self."""
        device, dtype = _parse_to(args, kwargs)
        return self._move(device, dtype)

    def cpu(self):
        return self._move(backend.CPU, None)

    def cuda(self, device=None):
        spec = "cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device
        return self._move(backend.device(spec), None)

    def float(self):
        return self._move(None, np.dtype(np.float32))

    def double(self):
        return self._move(None, np.dtype(np.float64))

    def half(self):
        return self._move(None, np.dtype(np.float16))

    # --- state dict --------------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An OrderedDict name -> Tensor of every parameter and persistent buffer, with torch's keys
        ('features.0.weight', 'bn.running_mean'). Tensors share memory with the module's own
        unless ``keep_vars`` (then they are the parameters themselves)."""
        out = OrderedDict() if destination is None else destination
        # shared submodules and parameters appear under every name, as in torch
        for mod_prefix, m in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            head = f"{mod_prefix}." if mod_prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    out[head + name] = p if keep_vars else p.detach()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent_buffers:
                    out[head + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the parameters and buffers, in place.

        Values may be Tensors, NumPy/CuPy arrays or any array-like (a torch state_dict loads as it
        is: its tensors are read through DLPack, torch is never imported). Every shape is checked
        before anything is copied. Size mismatches always raise; with
        ``strict`` missing and unexpected keys raise too. Returns (missing_keys, unexpected_keys).
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors, pending = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            arr = _state_array(key, state_dict[key])
            if tuple(arr.shape) != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(arr.shape)} "
                              f"from checkpoint, the shape in current model is {target.shape}.")
                continue
            if arr.dtype.kind not in "biuf" or (target.dtype.kind in "biu" and arr.dtype.kind == "f"):
                errors.append(f"dtype mismatch for {key}: cannot copy {arr.dtype} into {target.dtype}.")
                continue
            pending.append((target, arr))
        if strict:
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                errors.insert(1 if missing else 0,
                              "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for target, arr in pending:
            target._data[...] = backend.to_device(arr, target.device)
        return _IncompatibleKeys(missing, unexpected)

    # --- printing ----------------------------------------------------------------------------------
    def extra_repr(self):
        """The text inside this module's parentheses; layers override it."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        lines += [f"({name}): " + _addindent(repr(m), 2) for name, m in self._modules.items()]
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules called in order, each on the previous one's output. Keys are '0', '1', ...
    (or the names of an OrderedDict); indexable, sliceable, iterable."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _key(self, idx):
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of length {n}")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def __setitem__(self, idx, module):
        self.add_module(self._key(idx), module)

    def __delitem__(self, idx):
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._key(idx)]
        for k in keys:
            del self._modules[k]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for m in self:
            input = m(input)
        return input


class ModuleList(Module):
    """A list of modules whose parameters are registered (keys '0', '1', ...); has no forward."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, mods):
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return type(self)(mods[idx])
        if not -len(mods) <= idx < len(mods):
            raise IndexError(f"index {idx} is out of range for ModuleList of length {len(mods)}")
        return mods[idx]

    def __setitem__(self, idx, module):
        self.add_module(str(idx % len(self)), module)

    def __delitem__(self, idx):
        mods = list(self._modules.values())
        del mods[idx]
        self._renumber(mods)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)


class ModuleDict(Module):
    """A dict of named modules whose parameters are registered under their names."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        for k, m in (modules.items() if hasattr(modules, "items") else modules):
            self.add_module(k, m)
