"""NAdam (Adam with Nesterov momentum) with torch's arithmetic, at step t::

    mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))        prod = prod * mu_t
    m = lerp(m, g, 1 - beta1)        v = beta2 * v + (1 - beta2) * g * g
    denom = sqrt(v / (1 - beta2**t)) + eps
    p -= lr * (1 - mu_t) / (1 - prod) * g / denom + lr * mu_{t+1} / (1 - prod * mu_{t+1}) * m / denom

``g`` is the gradient (negated under ``maximize``); weight decay adds ``weight_decay * p`` to it, or
with ``decoupled_weight_decay`` shrinks ``p *= 1 - lr * weight_decay`` first (NAdamW).
"""
from .optimizer import Optimizer, check_adam_args


class NAdam(Optimizer):
    """``NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
    decoupled_weight_decay=False, maximize=False)``."""

    _scalar_state = ("step", "mu_product")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_adam_args(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def step(self, closure=None):
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            psi = float(group["momentum_decay"])
            decoupled = group["decoupled_weight_decay"]
            for p in self._params_with_grad(group):
                xp = p.device.xp
                state = self.state.get(p)
                if not state:
                    state = self.state[p] = {"step": 0, "mu_product": 1.0, "exp_avg": self._new_state(p),
                                             "exp_avg_sq": self._new_state(p)}
                state["step"] += 1
                t = state["step"]
                g = p.grad._data
                if group["maximize"]:
                    g = -g
                if wd != 0:
                    if decoupled:
                        p._data *= 1 - lr * wd
                    else:
                        g = g + wd * p._data
                mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
                mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
                state["mu_product"] *= mu
                prod = state["mu_product"]
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                m += (1 - beta1) * (g - m)
                v *= beta2
                v += (1 - beta2) * g * g
                denom = xp.sqrt(v / (1 - beta2 ** t)) + eps
                p._data += (-lr * (1.0 - mu) / (1.0 - prod)) * g / denom
                p._data += (-lr * mu_next / (1.0 - prod * mu_next)) * m / denom
        return loss
