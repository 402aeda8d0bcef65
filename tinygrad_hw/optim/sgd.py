"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay, with torch's
arithmetic: the momentum buffer starts as the first (decayed) gradient, then
``buf = momentum * buf + (1 - dampening) * g``; Nesterov steps along ``g + momentum * buf``.

By default (``foreach=None``) the large parameters of a group live in flat buffers and a step is a
few cache-blocked passes over them (see ``_flat``); ``foreach=False`` updates tensor by tensor. Both
do the same operations in the same order, so they give the same numbers bit for bit."""
from ._flat import block_numel, packs_for
from .optimizer import Optimizer, required


def sgd_kernel(xp, p, g, buf, t1, t2, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """One update of matching blocks of flat buffers: parameters ``p`` and momentum ``buf`` (None
    without momentum) from the gradient ``g``, with scratch blocks ``t1``/``t2``; ``g`` is never
    written. The same operations in the same order as ``SGD._tensor_steps``, so both paths
    give the same numbers bit for bit."""
    d = g
    if maximize:
        xp.negative(g, out=t1)
        d = t1
    if weight_decay != 0:
        xp.multiply(p, weight_decay, out=t2)
        xp.add(d, t2, out=t1)
        d = t1
    if buf is not None:
        if first:
            buf[...] = d
        else:
            buf *= momentum
            if dampening != 0:
                xp.multiply(d, 1 - dampening, out=t2)
                buf += t2
            else:
                buf += d
        if nesterov:
            xp.multiply(buf, momentum, out=t2)
            xp.add(d, t2, out=t2)
            d = t2
        else:
            d = buf
    xp.multiply(d, lr, out=t2)
    p -= t2


class SGD(Optimizer):
    """``SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
    foreach=None)``."""

    def __init__(self, params, lr=required, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    @staticmethod
    def _hyper(group):
        """(lr, momentum, dampening, weight_decay, nesterov, maximize), as the kernel takes them."""
        return (float(group["lr"]), float(group["momentum"]), float(group["dampening"]),
                float(group["weight_decay"]), bool(group["nesterov"]), bool(group["maximize"]))

    def step(self, closure=None):
        loss = self._closure(closure)
        for group in self.param_groups:
            hp = self._hyper(group)
            singles = self._params_with_grad(group)
            if singles and group.get("foreach") is not False:
                gp = packs_for(self, group, self._min_numel(singles[0]))
                if gp.packs:
                    singles = [p for p in gp.loose if p.grad is not None]
                    for pk in gp.packs:
                        if not self._flat_step(pk, hp):
                            singles += [p for p in pk.params if p.grad is not None]
            if singles:
                self._tensor_steps(singles, hp)
        return loss

    @staticmethod
    def _min_numel(p):
        """SGD's few passes per tensor are cheap: on the CPU only tensors of two blocks or more
        gain from the flat step (cache blocking); smaller ones lose to its bookkeeping (numbers
        in ``_flat``)."""
        numel = block_numel(p._data.dtype, p.device)
        return 0 if numel is None else 2 * numel

    def _tensor_steps(self, params, hp):
        """Tensor by tensor (a plain loop: for small tensors its few passes beat any bookkeeping)."""
        lr, momentum, dampening, wd, nesterov, maximize = hp
        for p in params:
            g = p.grad._data
            d = -g if maximize else g
            if wd != 0:
                d = d + p._data * wd
            if momentum != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = self._new_state(p)
                    buf._data[...] = d
                else:
                    b = buf._data
                    b *= momentum
                    b += d if dampening == 0 else d * (1 - dampening)
                d = d + buf._data * momentum if nesterov else buf._data
            p._data -= d * lr

    def _flat_step(self, pk, hp):
        """The step of one flat pack; False (nothing done) when it cannot run flat this time:
        a parameter without a gradient (skipped, as torch does), or mixed or odd state."""
        grads = pk.flat_grads()
        if grads is None:
            return False
        buf, first = None, False
        if hp[1] != 0:
            bound = pk.bind_state(self.state, ("momentum_buffer",))
            if bound is None:
                return False
            first = bound == "fresh"
            buf = pk.state["momentum_buffer"][0]
        t1, t2, gs = pk.scratch
        for blk in pk.blocks:
            s, e = blk[0], blk[1]
            n = e - s
            sgd_kernel(pk.xp, pk.flat[s:e], pk.gather(grads, blk, gs), None if buf is None else buf[s:e],
                       t1[:n], t2[:n], *hp, first)
        return True
