"""Optimizer base: parameter groups with per-group hyperparameters, per-parameter state, and
state_dict/load_state_dict in torch's layout::

    {'state': {0: {'momentum_buffer': Tensor}, ...},
     'param_groups': [{'lr': 0.1, ..., 'params': [0, 1, 2]}]}

Subclasses update ``p._data`` in place with array ops (the Parameter objects stay the same and
``p.grad`` is never written). SGD and Adam/AdamW may turn ``p._data`` into a view of a flat buffer
holding the group's parameters (see ``_flat``); a parameter's values and sharing do not change.
"""
import numpy as np

from .. import backend
from ..tensor import Tensor, enable_grad
from ..nn.module import zero_grad


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _scalar(v):
    """A Python number from a hyperparameter that may have come back from a checkpoint as an array."""
    if isinstance(v, Tensor):
        return v.item()
    if isinstance(v, (np.ndarray, np.generic)):
        return v.item()
    return v


class Optimizer:
    """Base class: ``params`` is an iterable of Tensors, or of dicts (parameter groups) each with
    'params' and optional per-group hyperparameters overriding ``defaults``."""

    def __init__(self, params, defaults):
        for flag in ("differentiable", "capturable"):
            if defaults.get(flag):
                raise NotImplementedError(f"{type(self).__name__}({flag}=True) is not supported: steps run on raw "
                                          "arrays outside the graph, without CUDA-graph capture")
        self.defaults = dict(defaults)
        self.state = {}              # Parameter -> dict of its state (keyed by identity)
        self.param_groups = []
        if isinstance(params, (Tensor, dict)):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors "
                            f"or dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Add a group (a dict with 'params'); hyperparameters it omits come from the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs; use a list instead")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if any(id(p) in ids for g in self.param_groups for p in g["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (or zero it in place when ``set_to_none=False``)."""
        zero_grad((p for g in self.param_groups for p in g["params"]), set_to_none)

    def step(self, closure=None):
        raise NotImplementedError

    @staticmethod
    def _closure(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_with_grad(self, group):
        return [p for p in group["params"] if p.grad is not None]

    @staticmethod
    def _effective_grad(p, group):
        """The gradient an update uses: negated under ``maximize``, plus ``weight_decay * p``
        (L2 decay). A new array whenever it differs from ``p.grad``, which is never written."""
        g = p.grad._data
        if group.get("maximize"):
            g = -g
        wd = float(group.get("weight_decay", 0))
        if wd != 0:
            g = g + wd * p._data
        return g

    @staticmethod
    def _new_state(p, fill=0.0):
        """A state Tensor shaped and typed like ``p``, on its device, filled with ``fill``."""
        return Tensor._wrap(p.device.xp.full_like(p._data, fill), p.device)

    # --- checkpoints -------------------------------------------------------------------------------
    def state_dict(self):
        """Parameters are named by their index in group order; state Tensors are the live ones."""
        index, groups, start = {}, [], 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            for i, p in enumerate(g["params"]):
                index.setdefault(id(p), start + i)
            packed["params"] = [index[id(p)] for p in g["params"]]
            start += len(g["params"])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state (Tensors or NumPy arrays, copied onto each parameter's
        device and dtype); the parameters themselves stay this optimizer's."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, the optimizer "
                             f"has {len(self.param_groups)}")
        by_index = {}
        for g, sg in zip(self.param_groups, saved_groups):
            if len(sg["params"]) != len(g["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size "
                                 f"of optimizer's group ({len(sg['params'])} vs {len(g['params'])} params)")
            for i, p in zip(sg["params"], g["params"]):
                by_index[int(i)] = p
        new_state = {}
        for key, s in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"loaded optimizer state names parameter {key}, which no group holds")
            new_state[p] = {k: self._restore(k, v, p, k in self._scalar_state) for k, v in s.items()}
        new_groups = []
        for g, sg in zip(self.param_groups, saved_groups):
            ng = {k: (tuple(_scalar(x) for x in v) if isinstance(g.get(k), tuple) else _scalar(v))
                  for k, v in sg.items() if k != "params"}
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.state, self.param_groups = new_state, new_groups

    # state entries that are one number per parameter (torch keeps them as 0-d tensors)
    _scalar_state = ("step",)

    @staticmethod
    def _restore(key, value, p, scalar=False):
        if key == "step":
            return int(_scalar(value))
        if scalar:
            return float(_scalar(value))
        if isinstance(value, Tensor):
            value = value._data
        if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
            if tuple(value.shape) != p.shape:
                raise ValueError(f"optimizer state '{key}' has shape {tuple(value.shape)}, its parameter {p.shape}")
            arr = backend.to_device(value, p.device)
            return Tensor._wrap(arr.astype(p.dtype, copy=True), p.device)
        return value


def check_adam_args(lr, eps, betas, weight_decay):
    """torch's checks (and messages) for the arguments the Adam family shares."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
