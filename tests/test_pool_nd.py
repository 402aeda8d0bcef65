"""Pooling over 1 to 3 spatial dims against torch: max (ceil_mode, return_indices), average
(ceil_mode, count_include_pad, divisor_override), adaptive average and max to any output size, and
max unpooling; geometries drawn valid by construction, distinct values where the max must be
unique, ties where torch's first-index rule is the point."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn
from oracle import compare, compare_module, raises_with, to_ours, to_torch

TF = torch.nn.functional
dtypes = st.sampled_from([np.float64, np.float32])
dims = pytest.mark.parametrize("d", [1, 2, 3])


@st.composite
def window_cases(draw, d, dilation=True):
    """(shape, kwargs): kernel, stride, padding (<= kernel/2), dilation and ceil_mode first, then
    sizes on which every window holds at least one real element."""
    k = tuple(draw(st.integers(1, 3 if d == 3 else 4)) for _ in range(d))
    s = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * d)))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    dl = tuple(draw(st.integers(1, 2)) for _ in range(d)) if dilation else (1,) * d
    ceil = draw(st.booleans())
    sizes = []
    for i in range(d):
        lo = max(dl[i], dl[i] * (k[i] - 1) + 1 - 2 * p[i])
        if d == 3 and not dilation:
            lo = max(lo, k[i])         # torch's avg_pool3d refuses inputs smaller than the kernel
        sizes.append(draw(st.integers(lo, lo + (3 if d == 3 else 5))))
    lead = draw(st.sampled_from([(1, 2), (2, 1), (2, 3), (3,)]))        # (3,): unbatched (C, *S)
    kwargs = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil)
    if dilation:
        kwargs["dilation"] = dl
    return lead + tuple(sizes), kwargs


def _distinct(shape, dtype, seed=0):
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) / n * 4 - 2).reshape(shape).astype(dtype)


def _layout(x, batch_last):
    """The same values stored with the batch (first) axis innermost."""
    if not batch_last:
        return x
    order = tuple(range(1, x.ndim)) + (0,)
    return np.ascontiguousarray(x.transpose(order)).transpose((x.ndim - 1,) + tuple(range(x.ndim - 1)))


def _fns(name):
    return getattr(F, name), getattr(TF, name)


def _compare_with_indices(ours, theirs, x, device, **kwargs):
    """Values and gradient through ``compare``, then the returned indices equal to torch's."""
    compare(lambda t: ours(t, return_indices=True, **kwargs)[0], [x],
            torch_fn=lambda t: theirs(t, return_indices=True, **kwargs)[0], device=device)
    got = ours(to_ours(x, device), return_indices=True, **kwargs)[1]
    ref = theirs(to_torch(x), return_indices=True, **kwargs)[1]
    assert got.dtype == thw.int64
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


@dims
@given(data=st.data(), dtype=dtypes, batch_last=st.booleans())
def test_max_pool_matches_torch(device, d, data, dtype, batch_last):
    shape, kwargs = data.draw(window_cases(d))
    ours, theirs = _fns(f"max_pool{d}d")
    x = _layout(_distinct(shape, dtype), batch_last)
    compare(ours, [x], torch_fn=theirs, device=device, **kwargs)


@dims
@given(data=st.data(), dtype=dtypes)
def test_max_pool_return_indices_match_torch(device, d, data, dtype):
    shape, kwargs = data.draw(window_cases(d))
    _compare_with_indices(*_fns(f"max_pool{d}d"), _distinct(shape, dtype), device, **kwargs)


@dims
@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1),
                                    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=2, stride=1, dilation=2)])
def test_max_pool_ties_go_to_first_index(device, d, kwargs):
    x = np.ones((1, 2) + (6,) * d)
    x[(0, 1) + (slice(None, None, 2),) * d] = 2.0      # ties inside windows and across them
    _compare_with_indices(*_fns(f"max_pool{d}d"), x, device, **kwargs)


@dims
@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=2, stride=1, padding=1, dilation=2)])
def test_max_pool_minus_infinity_windows_as_torch(device, d, kwargs):
    """A window whose real values are all -inf: torch's index is its first real position, and the
    gradient goes there, never to the padding."""
    x = np.full((1, 2) + (5,) * d, -np.inf)
    x[(0, 1) + (slice(None, None, 3),) * d] = 1.0
    _compare_with_indices(*_fns(f"max_pool{d}d"), x, device, **kwargs)


@dims
@given(data=st.data(), dtype=dtypes, include_pad=st.booleans(), divisor=st.one_of(st.none(), st.integers(1, 5)),
       batch_last=st.booleans())
def test_avg_pool_matches_torch(device, d, data, dtype, include_pad, divisor, batch_last):
    shape, kwargs = data.draw(window_cases(d, dilation=False))
    if d > 1:                                          # avg_pool1d has no divisor_override (as torch)
        kwargs["divisor_override"] = divisor
    ours, theirs = _fns(f"avg_pool{d}d")
    x = _layout(_distinct(shape, dtype), batch_last)
    compare(ours, [x], torch_fn=theirs, device=device, count_include_pad=include_pad, **kwargs)


@st.composite
def adaptive_cases(draw, d):
    """(shape, output_size) with outputs smaller, equal to and larger than the input, and None."""
    sizes = tuple(draw(st.integers(1, 5 if d == 3 else 9)) for _ in range(d))
    out = tuple(draw(st.one_of(st.integers(1, n + 2), st.none())) for n in sizes)
    out = out[0] if d == 1 else out
    lead = draw(st.sampled_from([(1, 2), (2, 3), (3,)]))
    return lead + sizes, out


@pytest.mark.parametrize("d", [1, 3])
@given(data=st.data(), dtype=dtypes)
def test_adaptive_avg_pool_matches_torch(device, d, data, dtype):
    shape, out = data.draw(adaptive_cases(d))
    if d == 1 and out is None:
        out = shape[-1]
    ours, theirs = _fns(f"adaptive_avg_pool{d}d")
    compare(ours, [_distinct(shape, dtype)], torch_fn=theirs, device=device, output_size=out)


@dims
@given(data=st.data(), dtype=dtypes)
def test_adaptive_max_pool_matches_torch(device, d, data, dtype):
    shape, out = data.draw(adaptive_cases(d))
    if d == 1 and out is None:
        out = shape[-1]
    ours, theirs = _fns(f"adaptive_max_pool{d}d")
    x = _distinct(shape, dtype)
    compare(ours, [x], torch_fn=theirs, device=device, output_size=out)
    _compare_with_indices(ours, theirs, x, device, output_size=out)


@dims
@pytest.mark.parametrize("out", [1, 2, 4, 7])
def test_adaptive_max_pool_ties_go_to_first_index(device, d, out):
    x = np.ones((1, 2) + (5,) * d)
    x[(0, 1) + (slice(1, None, 2),) * d] = 3.0
    _compare_with_indices(*_fns(f"adaptive_max_pool{d}d"), x, device, output_size=out)


@dims
@given(data=st.data(), dtype=dtypes, explicit=st.booleans())
def test_max_unpool_matches_torch(device, d, data, dtype, explicit):
    shape, kwargs = data.draw(window_cases(d, dilation=False))
    ceil = kwargs.pop("ceil_mode")
    x = to_torch(_distinct(shape, dtype), requires_grad=False)
    y, idx = getattr(TF, f"max_pool{d}d")(x, return_indices=True, ceil_mode=ceil, **kwargs)
    k, s, p = kwargs["kernel_size"], kwargs["stride"] or kwargs["kernel_size"], kwargs["padding"]
    default = [(n - 1) * si + ki - 2 * pi for n, ki, si, pi in zip(y.shape[-d:], k, s, p)]
    # the input's own size holds every index; the default size holds them when the pooling covered
    # the whole input, or when they happen to fit (torch then reads them in the default's layout)
    fits = all(n - si < o < n + si for o, n, si in zip(shape[-d:], default, s))
    if explicit or not (min(default) >= 1 and int(idx.max()) < np.prod(default)):
        assume(fits)
        out = list(shape[-d:])
    else:
        out = None
    ours, theirs = _fns(f"max_unpool{d}d")
    compare(ours, [y.numpy(), idx.numpy()], torch_fn=theirs, device=device, output_size=out, **kwargs)


@pytest.mark.parametrize("fn, shape", [
    (lambda x: F.max_pool1d(x, 3, stride=2, padding=1, ceil_mode=True), (2, 2, 8)),
    (lambda x: F.max_pool2d(x, (3, 2), stride=2, padding=1, dilation=(1, 2), ceil_mode=True), (1, 2, 6, 7)),
    (lambda x: F.max_pool2d(x, 3, stride=1, return_indices=True)[0], (1, 2, 5, 5)),
    (lambda x: F.max_pool3d(x, 2, stride=(1, 2, 2), padding=1), (1, 2, 3, 4, 5)),
    (lambda x: F.avg_pool1d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 8)),
    (lambda x: F.avg_pool2d(x, 3, stride=2, ceil_mode=True, divisor_override=5), (1, 2, 6, 6)),
    (lambda x: F.avg_pool3d(x, (2, 3, 2), stride=2, padding=1, ceil_mode=True), (1, 2, 4, 5, 4)),
    (lambda x: F.adaptive_avg_pool1d(x, 3), (2, 2, 7)),
    (lambda x: F.adaptive_avg_pool3d(x, (2, 3, 4)), (1, 2, 3, 5, 3)),
    (lambda x: F.adaptive_max_pool1d(x, 4), (2, 2, 6)),
    (lambda x: F.adaptive_max_pool2d(x, (3, 7)), (1, 2, 5, 4)),
    (lambda x: F.adaptive_max_pool3d(x, (2, 3, 2)), (1, 2, 3, 5, 4)),
], ids=["max1d", "max2d_ceil", "max2d_indices", "max3d", "avg1d", "avg2d_ceil", "avg3d", "aavg1d", "aavg3d",
        "amax1d", "amax2d", "amax3d"])
def test_pool_nd_gradcheck(fn, shape):
    x = thw.tensor(_distinct(shape, np.float64), requires_grad=True)
    assert thw.gradcheck(fn, (x,))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_max_unpool_gradcheck(d):
    x = torch.from_numpy(_distinct((1, 2) + (4,) * d, np.float64))
    y, idx = getattr(TF, f"max_pool{d}d")(x, 2, return_indices=True)
    i = thw.tensor(idx.numpy())
    assert thw.gradcheck(lambda t: getattr(F, f"max_unpool{d}d")(t, i, 2), (thw.tensor(y.numpy(), requires_grad=True),))


@pytest.mark.parametrize("ours, theirs, shape", [
    (lambda m: m.MaxPool1d(3, 2, 1, ceil_mode=True), None, (2, 3, 9)),
    (lambda m: m.MaxPool2d(3, 2, 1, dilation=(1, 2), ceil_mode=True), None, (2, 3, 7, 8)),
    (lambda m: m.MaxPool3d((2, 3, 2), padding=1), None, (1, 2, 4, 5, 4)),
    (lambda m: m.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False), None, (2, 3, 9)),
    (lambda m: m.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4), None, (2, 3, 6, 6)),
    (lambda m: m.AvgPool3d(2, 2, 1, ceil_mode=True), None, (1, 2, 5, 4, 3)),
    (lambda m: m.AdaptiveAvgPool1d(4), None, (2, 3, 9)),
    (lambda m: m.AdaptiveAvgPool2d((3, 5)), None, (2, 3, 7, 4)),
    (lambda m: m.AdaptiveAvgPool3d((2, None, 3)), None, (1, 2, 5, 4, 4)),
    (lambda m: m.AdaptiveMaxPool1d(4), None, (2, 3, 9)),
    (lambda m: m.AdaptiveMaxPool2d((3, 5)), None, (2, 3, 7, 4)),
    (lambda m: m.AdaptiveMaxPool3d((2, None, 3)), None, (1, 2, 5, 4, 4)),
], ids=["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
        "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pool_modules_match_torch(device, ours, theirs, shape, dtype):
    compare_module(ours(nn), ours(torch.nn), _distinct(shape, dtype), device=device)


@pytest.mark.parametrize("name", ["MaxPool", "AdaptiveMaxPool"])
@dims
def test_pool_modules_return_indices(device, name, d):
    args = (2,) if name == "MaxPool" else (3,)
    x = _distinct((2, 3) + (5,) * d, np.float64)
    got = getattr(nn, f"{name}{d}d")(*args, return_indices=True)(to_ours(x, device))
    ref = getattr(torch.nn, f"{name}{d}d")(*args, return_indices=True)(to_torch(x))
    np.testing.assert_allclose(got[0].numpy(), ref[0].detach().numpy())
    np.testing.assert_array_equal(got[1].numpy(), ref[1].numpy())


@dims
def test_max_unpool_modules_match_torch(device, d):
    ours, theirs = getattr(nn, f"MaxUnpool{d}d")(2), getattr(torch.nn, f"MaxUnpool{d}d")(2)
    pool = getattr(torch.nn, f"MaxPool{d}d")(2, return_indices=True)
    y, idx = pool(to_torch(_distinct((2, 3) + (6,) * d, np.float64), requires_grad=False))
    compare_module(ours, theirs, [y.numpy(), idx.numpy()], device=device)
    x = to_torch(_distinct((2, 3) + (7,) * d, np.float64), requires_grad=False)
    y, idx = pool(x)
    size = x.shape          # odd sizes need output_size; the full (N, C, *S) form, as torch accepts it
    compare(lambda a, b: ours(a, b, output_size=size), [y.numpy(), idx.numpy()],
            torch_fn=lambda a, b: theirs(a, b, output_size=size), device=device)


@pytest.mark.parametrize("call, fn", [
    (lambda x: F.max_pool2d(x, 2, ceil_mode=True), "MaxPool2d"),            # ceil size == floor size
    (lambda x: F.max_pool2d(x, 3, stride=2, ceil_mode=True), "MaxPoolNd"),  # ceil adds a window
    (lambda x: F.max_pool2d(x, 2, return_indices=True)[0], "MaxPoolNd"),
    (lambda x: F.avg_pool2d(x, 2, ceil_mode=True), "AvgPool2d"),
    (lambda x: F.avg_pool2d(x, 3, stride=2, ceil_mode=True), "AvgPoolNd"),
    (lambda x: F.adaptive_max_pool2d(x, 3), "MaxPool2d"),                    # even windows
    (lambda x: F.adaptive_max_pool2d(x, 4), "AdaptiveMaxPoolNd"),
    (lambda x: F.max_pool1d(x.flatten(2), 4).unsqueeze(-2), "MaxPool2d"),   # 1-D as unit height
], ids=["max_ceil_even", "max_ceil", "max_indices", "avg_ceil_even", "avg_ceil", "adaptive_even",
        "adaptive_uneven", "max1d"])
def test_2d_fast_path_taken_where_it_applies(call, fn):
    """The 2-D Functions serve every case they compute exactly; the N-d ones only the rest."""
    y = call(thw.tensor(_distinct((1, 2, 6, 6), np.float32), requires_grad=True))
    seen, todo = set(), [y._ctx]
    while todo:
        node = todo.pop()
        if node is not None:
            seen.add(type(node).__name__)
            todo.extend(node.parents)
    assert fn in seen and not ({"MaxPool2d", "MaxPoolNd", "AvgPool2d", "AvgPoolNd",
                                "AdaptiveMaxPoolNd"} - {fn}) & seen, seen


def test_unpool_inverts_pool_at_the_maxima(device):
    x = thw.tensor(_distinct((2, 3, 6, 6, 6), np.float32), device=device)
    y, i = F.max_pool3d(x, 2, return_indices=True)
    back = F.max_unpool3d(y, i, 2)
    kept = back.numpy() != 0
    assert kept.sum() == y.numel()
    np.testing.assert_array_equal(back.numpy()[kept], x.numpy()[kept])


@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.max_pool1d(thw.zeros(1, 1, 6), 2, padding=2), ValueError, ["half"]),
    (lambda: F.max_pool3d(thw.zeros(1, 1, 6, 6, 6), 2, padding=(0, 2, 0)), ValueError, ["half"]),
    (lambda: F.avg_pool3d(thw.zeros(1, 1, 6, 6, 6), 3, padding=2, ceil_mode=True), ValueError, ["half"]),
    (lambda: F.max_pool2d(thw.zeros(1, 1, 6, 6), 2, padding=2, ceil_mode=True), ValueError, ["half"]),
    (lambda: F.max_pool3d(thw.zeros(1, 1, 2, 6, 6), 3), ValueError, ["(1, 1, 2, 6, 6)", "too small"]),
    (lambda: F.max_pool1d(thw.zeros(1, 1, 6), 2, stride=0), ValueError, ["stride"]),
    (lambda: F.max_pool3d(thw.zeros(6, 6), 2), ValueError, ["(6, 6)", "4-D"]),
    (lambda: F.avg_pool1d(thw.zeros(1, 1, 4, dtype=thw.int64), 2), TypeError, ["int64"]),
    (lambda: F.avg_pool3d(thw.zeros(1, 1, 4, 4, 4), 2, divisor_override=0), ValueError, ["zero"]),
    (lambda: F.avg_pool3d(thw.zeros(1, 1, 4, 1, 4), 2, padding=1), ValueError, ["(1, 1, 4, 1, 4)", "smaller"]),
    (lambda: F.adaptive_max_pool3d(thw.zeros(1, 1, 4, 4, 4), (2, 2)), ValueError, ["output_size"]),
    (lambda: F.adaptive_avg_pool3d(thw.zeros(1, 1, 4, 4, 4), 0), ValueError, ["positive"]),
    (lambda: F.max_unpool2d(thw.zeros(1, 1, 6, 6), thw.zeros(1, 1, 6, 6, dtype=thw.int64), 2,
                            output_size=(20, 20)), ValueError, ["(20, 20)", "between 10 and 14"]),
    (lambda: F.max_unpool1d(thw.zeros(1, 1, 3), thw.full((1, 1, 3), 100, dtype=thw.int64), 2), RuntimeError,
     ["(6,)", "100"]),
    (lambda: F.max_unpool2d(thw.zeros(1, 1, 2, 2), thw.zeros(1, 1, 2, 2), 2), TypeError, ["int64"]),
    (lambda: F.max_unpool2d(thw.zeros(1, 1, 2, 2), thw.zeros(1, 1, 2, 3, dtype=thw.int64), 2), ValueError,
     ["(1, 1, 2, 3)", "(1, 1, 2, 2)"]),
])
def test_pool_nd_bad_input(call, exc, words):
    with raises_with(exc, *words):
        call()
