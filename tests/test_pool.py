"""max_pool2d, avg_pool2d and adaptive_avg_pool2d against torch, on hypothesis-drawn windows that fit
by construction; distinct values so the max of a window is unique, except where ties are the point."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from oracle import compare

TF = torch.nn.functional
dtypes = st.sampled_from([np.float64, np.float32])


@st.composite
def pool_cases(draw, dilation=True):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    size = []
    for i in range(2):
        dk = d[i] * (k[i] - 1) + 1
        # size >= dilation keeps every window on at least one real element: a window of padding
        # alone has no maximum to send a gradient to
        lo = max(d[i], dk - 2 * p[i])
        size.append(draw(st.integers(lo, lo + 6)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + tuple(size)
    return shape, dict(kernel_size=k, stride=s, padding=p, **({"dilation": d} if dilation else {}))


def _distinct(shape, dtype, negative=False, seed=0):
    """Distinct values (no ties inside any window), all below zero when ``negative``."""
    n = int(np.prod(shape))
    vals = np.random.default_rng(seed).permutation(n).astype(dtype) / n * 4 - 2
    return (vals - 3 if negative else vals).reshape(shape).astype(dtype)


def _batch_last(x):
    """The same values stored batch-last, the memory layout conv2d returns."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


@given(case=pool_cases(), dtype=dtypes, negative=st.booleans(), batch_last=st.booleans())
def test_max_pool2d_matches_torch(device, case, dtype, negative, batch_last):
    shape, kwargs = case
    x = _distinct(shape, dtype, negative)
    compare(F.max_pool2d, [_batch_last(x) if batch_last else x], torch_fn=TF.max_pool2d, device=device, **kwargs)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 7, 9)])
def test_max_pool2d_tiled_fast_path(device, shape):
    compare(F.max_pool2d, [_distinct(shape, np.float32)], torch_fn=TF.max_pool2d, device=device, kernel_size=2)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1),
                                    dict(kernel_size=3, stride=2, padding=1)])
def test_max_pool2d_ties_go_to_first_max(device, kwargs):
    x = np.ones((1, 2, 6, 6))
    x[0, 1, ::2] = 2.0      # ties along rows and across windows
    compare(F.max_pool2d, [x], torch_fn=TF.max_pool2d, device=device, **kwargs)


@given(case=pool_cases(dilation=False), dtype=dtypes, include_pad=st.booleans(), batch_last=st.booleans())
def test_avg_pool2d_matches_torch(device, case, dtype, include_pad, batch_last):
    shape, kwargs = case
    x = _distinct(shape, dtype)
    compare(F.avg_pool2d, [_batch_last(x) if batch_last else x], torch_fn=TF.avg_pool2d, device=device,
            count_include_pad=include_pad, **kwargs)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 7, 9)])
def test_avg_pool2d_tiled_fast_path(device, shape):
    compare(F.avg_pool2d, [_distinct(shape, np.float64)], torch_fn=TF.avg_pool2d, device=device, kernel_size=2)


def test_avg_pool2d_divisor_override(device):
    compare(F.avg_pool2d, [_distinct((1, 2, 5, 5), np.float64)], torch_fn=TF.avg_pool2d, device=device,
            kernel_size=3, stride=2, padding=1, divisor_override=4)


@pytest.mark.parametrize("shape, out", [((2, 3, 5, 6), 1), ((2, 3, 6, 8), (3, 2)), ((1, 2, 7, 5), (3, 4)),
                                        ((3, 5, 5), (None, 2)), ((2, 3, 4, 4), (1, 1))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adaptive_avg_pool2d_matches_torch(device, shape, out, dtype):
    compare(F.adaptive_avg_pool2d, [_distinct(shape, dtype)], torch_fn=TF.adaptive_avg_pool2d, device=device,
            output_size=out)


@pytest.mark.parametrize("fn", [
    lambda x: F.max_pool2d(x, 2),
    lambda x: F.max_pool2d(x, (3, 2), stride=(1, 2), padding=1),
    lambda x: F.avg_pool2d(x, 2),
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
    lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
], ids=["max_tiled", "max_general", "avg_tiled", "avg_general", "adaptive"])
def test_pool_gradcheck(fn):
    x = thw.tensor(_distinct((1, 2, 5, 5), np.float64), requires_grad=True)
    assert thw.gradcheck(fn, (x,))


def test_max_pool2d_pads_with_minus_infinity():
    x = thw.full((1, 1, 3, 3), -5.0)
    assert F.max_pool2d(x, 3, stride=1, padding=1).numpy().max() == -5.0


@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.max_pool2d(thw.zeros(1, 1, 2, 2), 3), ValueError, ["(1, 1, 2, 2)", "larger"]),
    (lambda: F.max_pool2d(thw.zeros(1, 1, 6, 6), 2, padding=2), ValueError, ["half"]),
    (lambda: F.avg_pool2d(thw.zeros(6, 6), 2), ValueError, ["(6, 6)"]),
    (lambda: F.max_pool2d(thw.zeros(1, 1, 4, 4, dtype=thw.int64), 2), TypeError, ["int64"]),
])
def test_pool_bad_input(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), (w, str(e.value))
