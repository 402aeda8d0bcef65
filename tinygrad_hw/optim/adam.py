"""Adam and AdamW with torch's arithmetic::

    m = m + (1 - beta1) * (g - m)              v = beta2 * v + (1 - beta2) * g * g
    denom = sqrt(v) / sqrt(1 - beta2**t) + eps
    p = p + (-lr / (1 - beta1**t)) * m / denom

Adam adds ``weight_decay * p`` to the gradient; AdamW instead shrinks ``p *= 1 - lr * weight_decay``
before the step (decoupled weight decay). As for SGD, a group's parameters and state live in flat
buffers by default (``foreach=None``; see ``_flat``) and ``foreach=False`` steps tensor by tensor;
both run the same kernel.
"""
from ._flat import packs_for
from .optimizer import Optimizer, check_adam_args


def adam_kernel(xp, p, g, m, v, vmax, t1, t2, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
                step):
    """One Adam(W) update at step ``step`` of the arrays ``p``, ``m``, ``v`` (and ``vmax`` under
    amsgrad, else None): whole tensors or matching blocks of flat buffers; ``t1``/``t2`` are
    scratch arrays of the same shape (None: allocated here). ``g`` is never written."""
    if t1 is None:
        t1, t2 = xp.empty_like(p), xp.empty_like(p)
    d = g
    if maximize:
        xp.negative(g, out=t1)
        d = t1
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            xp.multiply(p, weight_decay, out=t2)
            xp.add(d, t2, out=t1)
            d = t1
    xp.subtract(d, m, out=t2)
    t2 *= 1 - beta1
    m += t2
    v *= beta2
    xp.multiply(d, 1 - beta2, out=t2)
    t2 *= d
    v += t2
    if vmax is not None:
        xp.maximum(vmax, v, out=vmax)
        v = vmax
    xp.sqrt(v, out=t2)
    t2 /= (1 - beta2 ** step) ** 0.5
    t2 += eps
    xp.multiply(m, -(lr / (1 - beta1 ** step)), out=t1)
    t1 /= t2
    p += t1


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False, foreach=None)``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        check_adam_args(lr, eps, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    @staticmethod
    def _names(group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")

    @staticmethod
    def _hyper(group):
        beta1, beta2 = (float(b) for b in group["betas"])
        return dict(lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), decoupled=bool(group["decoupled_weight_decay"]),
                    maximize=bool(group["maximize"]))

    def step(self, closure=None):
        loss = self._closure(closure)
        for group in self.param_groups:
            hp, names = self._hyper(group), self._names(group)
            singles = self._params_with_grad(group)
            if singles and group.get("foreach") is not False:
                gp = packs_for(self, group)
                singles = [p for p in gp.loose if p.grad is not None]
                for pk in gp.packs:
                    if not self._flat_step(pk, hp, names):
                        singles += [p for p in pk.params if p.grad is not None]
            for p in singles:
                self._single_step(p, hp, names)
        return loss

    def _single_step(self, p, hp, names):
        state = self.state.get(p)
        if not state:
            state = self.state[p] = {"step": 0}
        for n in names:
            if n not in state:
                state[n] = self._new_state(p)
        state["step"] += 1
        vmax = state["max_exp_avg_sq"]._data if len(names) == 3 else None
        adam_kernel(p.device.xp, p._data, p.grad._data, state["exp_avg"]._data, state["exp_avg_sq"]._data, vmax,
                    None, None, step=state["step"], **hp)

    def _flat_step(self, pk, hp, names):
        """The step of one flat pack; False (nothing done) when it cannot run flat this time: a
        parameter without a gradient, mixed state, or parameters at different step counts."""
        grads = pk.flat_grads()
        if grads is None:
            return False
        steps = {self.state.get(p, {}).get("step", 0) for p in pk.params}
        if len(steps) != 1 or pk.bind_state(self.state, names) is None:
            return False
        t = steps.pop() + 1
        for p in pk.params:
            self.state[p]["step"] = t
        m, v = pk.state["exp_avg"][0], pk.state["exp_avg_sq"][0]
        vmax = pk.state["max_exp_avg_sq"][0] if len(names) == 3 else None
        t1, t2, gs = pk.scratch
        for blk in pk.blocks:
            s, e = blk[0], blk[1]
            n = e - s
            adam_kernel(pk.xp, pk.flat[s:e], pk.gather(grads, blk, gs), m[s:e], v[s:e],
                        None if vmax is None else vmax[s:e], t1[:n], t2[:n], step=t, **hp)
        return True


class AdamW(Adam):
    """Adam with decoupled weight decay; ``weight_decay`` defaults to 1e-2 as in torch."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for g in self.param_groups:
            g["decoupled_weight_decay"] = True
