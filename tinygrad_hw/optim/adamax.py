"""Adamax (Adam under the infinity norm) with torch's arithmetic, at step t::

    m = lerp(m, g, 1 - beta1)        u = max(beta2 * u, |g| + eps)        p -= lr / (1 - beta1**t) * m / u

``g`` is the gradient (negated under ``maximize``) plus ``weight_decay * p``.
"""
from .optimizer import Optimizer, check_adam_args


class Adamax(Optimizer):
    """``Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False)``."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_adam_args(lr, eps, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def step(self, closure=None):
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, eps = float(group["lr"]), float(group["eps"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p in self._params_with_grad(group):
                xp = p.device.xp
                state = self.state.get(p)
                if not state:
                    state = self.state[p] = {"step": 0, "exp_avg": self._new_state(p),
                                             "exp_inf": self._new_state(p)}
                state["step"] += 1
                g = self._effective_grad(p, group)
                m, u = state["exp_avg"]._data, state["exp_inf"]._data
                m += (1 - beta1) * (g - m)
                u *= beta2
                xp.maximum(u, xp.abs(g) + eps, out=u)
                p._data -= (lr / (1 - beta1 ** state["step"])) * (m / u)
        return loss
