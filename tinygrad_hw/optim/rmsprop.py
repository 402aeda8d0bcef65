"""RMSprop with torch's arithmetic::

    v = alpha * v + (1 - alpha) * g * g
    centered:  a = lerp(a, g, 1 - alpha);  avg = sqrt(v - a * a) + eps     else  avg = sqrt(v) + eps
    momentum:  buf = momentum * buf + g / avg;  p -= lr * buf              else  p -= lr * g / avg

``g`` is the gradient (negated under ``maximize``) plus ``weight_decay * p``.
"""
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
    maximize=False)``."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        for name, v in (("learning rate", lr), ("epsilon value", eps), ("momentum value", momentum),
                        ("weight_decay value", weight_decay), ("alpha value", alpha)):
            if not 0.0 <= v:
                raise ValueError(f"Invalid {name}: {v}")
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def step(self, closure=None):
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            momentum, centered = float(group["momentum"]), group["centered"]
            for p in self._params_with_grad(group):
                xp = p.device.xp
                state = self.state.get(p)
                if not state:
                    state = self.state[p] = {"step": 0, "square_avg": self._new_state(p)}
                    if momentum > 0:
                        state["momentum_buffer"] = self._new_state(p)
                    if centered:
                        state["grad_avg"] = self._new_state(p)
                state["step"] += 1
                g = self._effective_grad(p, group)
                v = state["square_avg"]._data
                v *= alpha
                v += (1 - alpha) * g * g
                if centered:
                    a = state["grad_avg"]._data
                    a += (1 - alpha) * (g - a)
                    avg = xp.sqrt(v - a * a) + eps
                else:
                    avg = xp.sqrt(v) + eps
                if momentum > 0:
                    buf = state["momentum_buffer"]._data
                    buf *= momentum
                    buf += g / avg
                    p._data -= lr * buf
                else:
                    p._data -= lr * (g / avg)
        return loss
