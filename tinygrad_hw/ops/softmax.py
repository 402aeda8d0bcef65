"""Softmax and log-softmax along one dim, each with its closed-form backward.

Both subtract the max along ``dim`` first, so exp never overflows and log-softmax is finite for
any finite input (scaled by 1e5 included).
"""
from ..tensor import Function, _dim


def log_softmax_array(xp, x, axis):
    """x - logsumexp(x) along ``axis`` on a raw array (also used by the fused losses)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


class Softmax(Function):
    def forward(self, x, dim):
        e = self.xp.exp(x - x.max(axis=dim, keepdims=True))
        e /= e.sum(axis=dim, keepdims=True)
        self.out, self.dim = e, dim
        return e

    def backward(self, g):
        out = self.out
        return (out * (g - (g * out).sum(axis=self.dim, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, x, dim):
        self.out, self.dim = log_softmax_array(self.xp, x, dim), dim
        return self.out

    def backward(self, g):
        return (g - self.xp.exp(self.out) * g.sum(axis=self.dim, keepdims=True),)


def _softmax_dim(dim, x, name):
    if dim is None:
        raise TypeError(f"{name}: dim must be given (tensor of {x.ndim} dims)")
    return _dim(dim, x.ndim)


def softmax(x, dim=None):
    """exp(x) / sum(exp(x)) along ``dim``, as torch.softmax.

    >>> import tinygrad_hw as thw
    >>> [round(v, 4) for v in thw.tensor([0.0, 1.0]).softmax(0).tolist()]
    [0.2689, 0.7311]
    """
    return Softmax.apply(x, dim=_softmax_dim(dim, x, "softmax"))


def log_softmax(x, dim=None):
    """x - logsumexp(x) along ``dim``, as torch.log_softmax; finite for any finite input."""
    return LogSoftmax.apply(x, dim=_softmax_dim(dim, x, "log_softmax"))
