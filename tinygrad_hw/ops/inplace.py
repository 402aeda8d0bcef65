"""The recorded form of an in-place write: ``a[index] = value`` as a differentiable op.

``Tensor.__setitem__``, ``fill_``, ``copy_``, ``uniform_`` and ``normal_`` use it when autograd
records (see the in-place section of tensor.py): it computes the written array out of place, and
the tensor then copies it into its own memory and takes the node as its history.
"""
from ..tensor import Function
from .elementwise import unbroadcast


class SetItem(Function):
    """``out = a`` with ``out[index] = value``. The gradient of ``a`` is the output's with the
    written positions zeroed; ``value`` (when a tensor) gets the written positions' gradient,
    summed over the broadcasting that spread it."""

    def forward(self, a, value, index):
        self.index = index
        self.value_shape = tuple(getattr(value, "shape", ()))
        out = a.copy()
        out[index] = value
        return out

    def backward(self, g):
        na, nv = self.needs_input_grad
        ga = gv = None
        if na:
            ga = g.copy()
            ga[self.index] = 0
        if nv:
            gv = self.xp.asarray(g[self.index])
            shape = self.value_shape
            if len(shape) > gv.ndim:        # a value with extra leading 1s, as NumPy allows
                gv = gv.reshape((1,) * (len(shape) - gv.ndim) + gv.shape)
            gv = unbroadcast(gv, shape)
        return ga, gv
