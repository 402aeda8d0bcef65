"""Resampling (F.interpolate): nearest and (bi/tri)linear, as one separable linear map.

Notation: x (N, C, *S) with S the spatial sizes (1 to 3 dims), out (N, C, *O).

Both modes resample each spatial dim independently, so the op is a product of one small matrix
per dim: out = x applied with A_d (O_d, S_d) along each dim d. Forward contracts x with every
A_d in turn; backward contracts the gradient with every A_d transposed. Source coordinates are
computed in the input's dtype, as torch does, so the picked neighbours and weights agree with
torch's also at rounding edges.
"""
import math

import numpy as np

from ..tensor import Function

_MODES = {"nearest": None, "linear": 1, "bilinear": 2, "trilinear": 3}


def _scale(in_size, out_size, align_corners, scale_factor):
    """torch's ratio from output to input coordinates for one dim."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    if scale_factor is not None and scale_factor > 0:
        return 1.0 / scale_factor
    return in_size / out_size


def _nearest_matrix(in_size, out_size, scale_factor, dtype):
    """(O, S) one-hot rows: output i reads input min(floor(i * scale), S - 1)."""
    scale = np.float32(1.0 / scale_factor if scale_factor else in_size / out_size)
    src = np.minimum(np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64), in_size - 1)
    m = np.zeros((out_size, in_size), dtype)
    m[np.arange(out_size), src] = 1
    return m


def _linear_matrix(in_size, out_size, align_corners, scale_factor, dtype):
    """(O, S) rows with the two linear-interpolation weights of each output position."""
    scale = dtype.type(_scale(in_size, out_size, align_corners, scale_factor))
    dst = np.arange(out_size, dtype=dtype)
    src = dst * scale if align_corners else np.maximum(scale * (dst + dtype.type(0.5)) - dtype.type(0.5), 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam = (src - i0).astype(dtype)
    m = np.zeros((out_size, in_size), dtype)
    rows = np.arange(out_size)
    m[rows, i0] += 1 - lam      # each statement hits distinct cells; i0 == i1 at the edge adds up to 1
    m[rows, i1] += lam
    return m


class Resample(Function):
    """x (N, C, *S) -> (N, C, *O) through one (O_d, S_d) matrix per spatial dim."""

    def forward(self, x, mats):
        self.mats = [self.xp.asarray(m) for m in mats]
        out = x
        for d, m in enumerate(self.mats):
            out = self.xp.moveaxis(self.xp.tensordot(out, m, axes=([2 + d], [1])), -1, 2 + d)
        return out

    def backward(self, g):
        for d, m in enumerate(self.mats):
            g = self.xp.moveaxis(self.xp.tensordot(g, m, axes=([2 + d], [0])), -1, 2 + d)
        return (self.xp.ascontiguousarray(g),)


def _tuple(v, n, name):
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            raise ValueError(f"interpolate: {name} must have {n} values for an input with {n} "
                             f"spatial dims, got {tuple(v)}")
        return tuple(v)
    return (v,) * n


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, L), (N, C, H, W) or (N, C, D, H, W) input, as torch.nn.functional.interpolate.

    ``size`` or ``scale_factor`` (not both); modes 'nearest', 'linear' (3-D), 'bilinear' (4-D),
    'trilinear' (5-D); ``align_corners`` only with the linear modes (default False).

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.interpolate(thw.tensor([[[1.0, 2.0]]]), scale_factor=2).tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    """
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (nearest, linear, "
                                  "bilinear, trilinear)")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    nd = input.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got shape {input.shape}")
    want = _MODES[mode]
    if want is not None and want != nd:
        raise ValueError(f"interpolate: mode {mode!r} needs a {want + 2}-D input, got shape {input.shape}")
    if want is None and align_corners is not None:
        raise ValueError("interpolate: align_corners can only be set with the linear modes "
                         "(linear, bilinear, trilinear)")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if input.dtype.kind != "f":
        raise TypeError(f"interpolate: input must be floating point, got {input.dtype}")
    in_sizes = input.shape[2:]
    if size is not None:
        out_sizes = tuple(int(s) for s in _tuple(size, nd, "size"))
        factors = (None,) * nd
    else:
        factors = tuple(float(f) for f in _tuple(scale_factor, nd, "scale_factor"))
        out_sizes = tuple(int(math.floor(s * f)) for s, f in zip(in_sizes, factors))
        if recompute_scale_factor:
            factors = (None,) * nd
    if min(out_sizes) <= 0:
        raise ValueError(f"interpolate: output size {out_sizes} must be positive (input {input.shape})")
    dtype = np.dtype(input.dtype)
    if want is None:
        mats = [_nearest_matrix(s, o, f, dtype) for s, o, f in zip(in_sizes, out_sizes, factors)]
    else:
        mats = [_linear_matrix(s, o, bool(align_corners), f, dtype) for s, o, f in zip(in_sizes, out_sizes, factors)]
    return Resample.apply(input, mats=mats)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)
