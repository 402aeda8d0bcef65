"""Matrix product with torch's rules: 1-D operands, batched and broadcast batch dims."""
import numpy as np

from .. import backend
from ..tensor import Function
from .elementwise import unbroadcast


class MatMul(Function):
    """``a @ b``. Notation: a (..., M, K), b (..., K, N) -> (..., M, N); a 1-D a is (K,) -> a
    row, a 1-D b is (K,) -> a column, and that dim is dropped from the result."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul needs tensors of at least 1 dim, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                             f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
        self.a, self.b = a, b
        if self.xp is np:
            backend.blas_ready()
        try:
            return a @ b
        except ValueError:
            raise ValueError(f"matmul: batch dims of {a.shape} and {b.shape} do not broadcast") from None

    def backward(self, g):
        a, b = self.a, self.b
        if self.xp is np:
            backend.blas_ready()
        na, nb = self.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:        # the common case, without reshapes
            return (g @ b.T if na else None, a.T @ g if nb else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        ga = gb = None
        if na:
            ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if nb:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb
