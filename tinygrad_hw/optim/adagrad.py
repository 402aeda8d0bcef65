"""Adagrad with torch's arithmetic::

    clr = lr / (1 + (t - 1) * lr_decay)      s = s + g * g      p -= clr * g / (sqrt(s) + eps)

``g`` is the gradient (negated under ``maximize``) plus ``weight_decay * p``. As in torch, the
state (``step`` and ``sum`` filled with ``initial_accumulator_value``) exists from construction.
"""
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
    maximize=False)``."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        for name, v in (("learning rate", lr), ("lr_decay value", lr_decay), ("weight_decay value", weight_decay),
                        ("initial_accumulator_value value", initial_accumulator_value), ("epsilon value", eps)):
            if not 0.0 <= v:
                raise ValueError(f"Invalid {name}: {v}")
        if fused:
            raise NotImplementedError("Adagrad(fused=True) is not supported")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))

    def _init_state(self, p, group):
        state = self.state[p] = {"step": 0, "sum": self._new_state(p, float(group["initial_accumulator_value"]))}
        return state

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            self._init_state(p, self.param_groups[-1])

    def step(self, closure=None):
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
            for p in self._params_with_grad(group):
                xp = p.device.xp
                state = self.state.get(p) or self._init_state(p, group)
                state["step"] += 1
                clr = lr / (1 + (state["step"] - 1) * lr_decay)
                g = self._effective_grad(p, group)
                s = state["sum"]._data
                s += g * g
                p._data -= clr * (g / (xp.sqrt(s) + eps))
        return loss
