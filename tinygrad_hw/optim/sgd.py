"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay, with torch's
arithmetic: the momentum buffer starts as the first (decayed) gradient, then
``buf = momentum * buf + (1 - dampening) * g``; Nesterov steps along ``g + momentum * buf``."""
from ..tensor import Tensor
from .optimizer import Optimizer, required


class SGD(Optimizer):
    """``SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False)``."""

    def __init__(self, params, lr=required, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def step(self, closure=None):
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, wd = float(group["dampening"]), float(group["weight_decay"])
            for p in self._params_with_grad(group):
                g = p.grad._data
                if group["maximize"]:
                    g = -g
                if wd != 0:
                    g = g + wd * p._data         # a new array: .grad is never written
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # xp.array, not g.copy(): arithmetic on 0-d arrays yields scalars
                        buf = state["momentum_buffer"] = Tensor._wrap(p.device.xp.array(g, copy=True), p.device)
                    else:
                        b = buf._data
                        b *= momentum
                        b += g if dampening == 0 else (1 - dampening) * g
                    g = g + momentum * buf._data if group["nesterov"] else buf._data
                p._data -= lr * g
        return loss
