"""Adam and AdamW with torch's arithmetic::

    m = m + (1 - beta1) * (g - m)              v = beta2 * v + (1 - beta2) * g * g
    denom = sqrt(v) / sqrt(1 - beta2**t) + eps
    p = p + (-lr / (1 - beta1**t)) * m / denom

Adam adds ``weight_decay * p`` to the gradient; AdamW instead shrinks ``p *= 1 - lr * weight_decay``
before the step (decoupled weight decay).
"""
from ..tensor import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {b}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _init_state(self, p, amsgrad):
        xp = p.device.xp
        state = {"step": 0,
                 "exp_avg": Tensor._wrap(xp.zeros_like(p._data), p.device),
                 "exp_avg_sq": Tensor._wrap(xp.zeros_like(p._data), p.device)}
        if amsgrad:
            state["max_exp_avg_sq"] = Tensor._wrap(xp.zeros_like(p._data), p.device)
        return state

    def step(self, closure=None):
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            amsgrad = group["amsgrad"]
            for p in self._params_with_grad(group):
                xp = p.device.xp
                g = p.grad._data
                if group["maximize"]:
                    g = -g
                state = self.state.get(p)
                if not state:
                    state = self.state[p] = self._init_state(p, amsgrad)
                state["step"] += 1
                t = state["step"]
                if wd != 0:
                    if group["decoupled_weight_decay"]:
                        p._data *= 1 - lr * wd
                    else:
                        g = g + wd * p._data     # a new array: .grad is never written
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                m += (1 - beta1) * (g - m)
                v *= beta2
                v += (1 - beta2) * g * g
                step_size = lr / (1 - beta1 ** t)
                bc2_sqrt = (1 - beta2 ** t) ** 0.5
                if amsgrad:
                    vmax = state["max_exp_avg_sq"]._data
                    xp.maximum(vmax, v, out=vmax)
                    v = vmax
                denom = xp.sqrt(v)
                denom /= bc2_sqrt
                denom += eps
                update = m * -step_size
                update /= denom
                p._data += update
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay; ``weight_decay`` defaults to 1e-2 as in torch."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for g in self.param_groups:
            g["decoupled_weight_decay"] = True
