"""Hypothesis strategies for op tests: arrays, broadcastable shapes, convolution geometries.

Cases are valid by construction rather than filtered: a convolution geometry draws kernel,
stride, dilation and padding first, then an input size the window fits in.

    from hypothesis import given
    from tinygrad_hw.testing import strategies as tst

    @given(tst.arrays(dtype="float64", avoid=(0.0,)))      # values kept away from ReLU's kink
    def test_relu(x): ...
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = ("float32", "float64")
LAYOUTS = ("contiguous", "transposed", "strided")


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5):
    """Array shapes, 0-d included by default."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side) \
        if min_dims > 0 else st.one_of(st.just(()), hnp.array_shapes(min_dims=1, max_dims=max_dims,
                                                                        min_side=min_side, max_side=max_side))


def dtypes(choices=FLOAT_DTYPES):
    return st.sampled_from([np.dtype(d) for d in choices])


def _layout(array, layout):
    """``array``'s values in the given memory layout: C order, a transposed view, or a strided view."""
    if layout == "contiguous" or array.ndim == 0:
        return array
    if layout == "transposed":
        return np.ascontiguousarray(array.T).T              # same values, reversed strides
    wide = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
    wide[..., ::2] = array
    return wide[..., ::2]                                  # every other element of a wider array


@st.composite
def arrays(draw, dtype=None, shape=None, min_value=-3.0, max_value=3.0, avoid=(), margin=1e-2,
           unique=False, layouts=LAYOUTS):
    """A float array with drawn (or given) dtype, shape and memory layout.

    Values lie in [min_value, max_value], at least ``margin`` away from each point in ``avoid``
    (kinks such as ReLU's 0); ``unique=True`` gives distinct values (no ties for max/sort).
    Subnormals are excluded.
    """
    dt = np.dtype(draw(dtypes()) if dtype is None else dtype)
    shp = draw(shapes()) if shape is None else tuple(shape)
    width = 32 if dt == np.float32 else 64
    elements = st.floats(min_value, max_value, width=width, allow_nan=False, allow_infinity=False,
                         allow_subnormal=False)
    if avoid:
        elements = elements.filter(lambda v: all(abs(v - a) >= margin for a in avoid))
    arr = draw(hnp.arrays(dt, shp, elements=elements, unique=unique))
    return _layout(arr, draw(st.sampled_from(layouts)))


def broadcastable_shapes(max_dims=4, max_side=4):
    """Pairs of shapes that broadcast together (either may be the larger, 0-d included)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims,
                                             max_side=max_side).map(lambda s: s.input_shapes)


@st.composite
def conv_geometries(draw, spatial_dims=2, max_kernel=3, max_stride=2, max_dilation=2, max_extra=5,
                    max_channels=3, max_groups=2, max_batch=3):
    """A dict of batch, channels, groups and per-dimension kernel/stride/dilation/padding/size
    such that every window fits: effective kernel d*(k-1)+1, input size at least
    max(1, effective - 2*padding)."""
    groups = draw(st.integers(1, max_groups))
    geo = {"batch": draw(st.integers(1, max_batch)), "groups": groups,
           "in_channels": groups * draw(st.integers(1, max_channels)),
           "out_channels": groups * draw(st.integers(1, max_channels)),
           "kernel": [], "stride": [], "dilation": [], "padding": [], "size": []}
    for _ in range(spatial_dims):
        k = draw(st.integers(1, max_kernel))
        s = draw(st.integers(1, max_stride))
        d = draw(st.integers(1, max_dilation))
        dk = d * (k - 1) + 1
        p = draw(st.integers(0, (k - 1) // 2 * d if k > 1 else 0))
        geo["kernel"].append(k)
        geo["stride"].append(s)
        geo["dilation"].append(d)
        geo["padding"].append(p)
        geo["size"].append(draw(st.integers(max(1, dk - 2 * p), max(1, dk - 2 * p) + max_extra)))
    for key in ("kernel", "stride", "dilation", "padding", "size"):
        geo[key] = tuple(geo[key])
    return geo
