"""The dense layer as one Function (x @ W.T + b) and its functional wrapper ``linear``."""
import numpy as np

from .. import backend
from ..tensor import Function


class Linear(Function):
    """Notation: x (..., I), w (O, I), b (O,) or None -> (..., O); leading dims flattened to M rows."""

    def forward(self, x, w, b):
        if self.xp is np:
            backend.blas_ready()
        x2 = x.reshape(-1, x.shape[-1])
        out = x2 @ w.T
        if b is not None:
            out += b
        need_x, need_w = self.needs_input_grad[:2]
        self.x2 = x2 if need_w else None
        self.w = w if need_x else None
        self.xshape = x.shape
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        if self.xp is np:
            backend.blas_ready()
        need_x, need_w, need_b = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        gw = None
        if need_w:
            # for one row the weight gradient is an outer product: a broadcast multiply runs
            # about 2.5x faster than BLAS's GEMM with an inner dimension of 1
            gw = g2.T * self.x2 if g2.shape[0] == 1 else g2.T @ self.x2
        return ((g2 @ self.w).reshape(self.xshape) if need_x else None, gw,
                g2.sum(axis=0) if need_b else None)


def linear(x, weight, bias=None):
    """x @ weight.T + bias, as torch.nn.functional.linear.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.linear(thw.ones(2, 3), thw.ones(4, 3), thw.zeros(4)).shape
    (2, 4)
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                         f"features but weight of shape {weight.shape} expects {weight.shape[1]}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"linear: input, weight and bias must share one dtype, got {x.dtype}, "
                        f"{weight.dtype}, {None if bias is None else bias.dtype}")
    return Linear.apply(x, weight, bias)
