"""Shape helpers of torch.nn.functional: ``pad`` and ``flatten`` (thin wrappers of Tensor methods).

The non-constant pad modes are index gathers (``index_select`` along each padded dim), so their
gradient is the gathers' scatter-add: a border value's gradient collects from every copy of it.
"""
import numpy as np

_MODES = ("constant", "reflect", "replicate", "circular")


def _source_index(n, lo, hi, mode):
    """For each of the lo + n + hi output positions along a dim, the input position it copies."""
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    i = np.abs(i)                                   # reflect about 0, then about n - 1
    return np.where(i > n - 1, 2 * (n - 1) - i, i)


def pad(x, pad, mode="constant", value=None):
    """torch.nn.functional.pad: ``pad`` = (left, right) of the last dim, then the dim before, ...

    mode 'constant' fills with ``value`` (0 by default); 'reflect' mirrors without repeating the
    edge (each pad < the dim's size), 'replicate' repeats the edge, 'circular' wraps around
    (each pad <= the dim's size).

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.pad(thw.arange(4.0).reshape(1, 4), (2, 1), mode="reflect").tolist()
    [[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]
    """
    if mode not in _MODES:
        raise ValueError(f"pad: mode must be one of {_MODES}, got {mode!r}")
    if mode == "constant":
        return x.pad(pad, 0.0 if value is None else value)
    if value not in (None, 0, 0.0):
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad {pad} must have an even length of at most 2 * {x.ndim} "
                         f"(tensor shape {x.shape})")
    if len(pad) not in (2, 4, 6) or x.ndim not in (len(pad) // 2 + 1, len(pad) // 2 + 2):
        raise NotImplementedError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of a tensor with "
                                  f"one or two more (batch, channel) dims; got pad {pad} for shape {x.shape}")
    for k in range(len(pad) // 2):
        dim, lo, hi = x.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]
        n = x.shape[dim]
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: negative padding {pad} is not supported in mode {mode!r}")
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) of dim {dim} must be less than its "
                             f"size {n} (tensor shape {x.shape})")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"pad: circular padding ({lo}, {hi}) of dim {dim} would wrap around more "
                             f"than once (size {n}, tensor shape {x.shape})")
        if mode == "replicate" and n == 0:
            raise ValueError(f"pad: cannot replicate-pad the empty dim {dim} (tensor shape {x.shape})")
        if lo or hi:
            x = x.index_select(dim, _source_index(n, lo, hi, mode))
    return x


def flatten(x, start_dim=0, end_dim=-1):
    return x.flatten(start_dim, end_dim)
