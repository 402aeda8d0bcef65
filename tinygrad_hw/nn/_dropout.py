"""Dropout as one Function (the mask drawn from the device's generator) and ``dropout``."""
from .. import backend
from ..tensor import Function


class Dropout(Function):
    def forward(self, x, p, gen):
        draw_dtype = x.dtype if x.dtype.itemsize >= 4 else self.xp.float32
        keep = gen.random(x.shape, dtype=draw_dtype) >= p
        # the mask holds 0 or 1/(1-p), already in x's dtype
        self.mask = keep * x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)


def dropout(x, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p); identity when not training.

    The mask comes from the device's generator, so ``thw.manual_seed`` makes it reproducible.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: input must be floating point, got {x.dtype}")
    return Dropout.apply(x, p=float(p), gen=backend.rng(x.device))
