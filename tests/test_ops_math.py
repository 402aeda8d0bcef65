"""Unary math, rounding, NaN tests and the reductions prod/cumsum/cumprod/logsumexp/norm/any/all
against torch (values and gradients) on hypothesis-drawn shapes, plus float64 gradchecks."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_hw as thw
from oracle import compare

DTYPES = [np.float64, np.float32]
dtypes = st.sampled_from(DTYPES)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonempty = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
few = settings(max_examples=10)


@st.composite
def arrays(draw, dtype, shape, lo=-3.0, hi=3.0, away=None, unique=False):
    """Values in [lo, hi]; ``away`` = (points, distance) keeps them that far from each point
    (kinks and domain edges). Transposed layouts are drawn too."""
    width = np.dtype(dtype).itemsize * 8
    elems = st.floats(*_inside(dtype, lo, hi), width=width, allow_subnormal=False)
    if away is not None:
        points, dist = away
        elems = elems.filter(lambda v: all(abs(v - p) >= dist for p in points))
    arr = draw(hnp.arrays(dtype, shape, elements=elems, unique=unique))
    if arr.ndim > 1 and draw(st.booleans()):
        arr = np.asfortranarray(arr)
    return arr


def _inside(dtype, lo, hi):
    """[lo, hi] rounded inwards to numbers the dtype holds exactly."""
    lo_d, hi_d = np.asarray(lo, dtype), np.asarray(hi, dtype)
    if lo_d < lo:
        lo_d = np.nextafter(lo_d, np.asarray(np.inf, dtype))
    if hi_d > hi:
        hi_d = np.nextafter(hi_d, np.asarray(-np.inf, dtype))
    return float(lo_d), float(hi_d)


def _half_integers(lo, hi):
    return [k + 0.5 for k in range(int(math.floor(lo)) - 1, int(math.ceil(hi)) + 1)]


def _integers(lo, hi):
    return list(range(int(math.floor(lo)) - 1, int(math.ceil(hi)) + 2))


# name: (lo, hi, points to keep away from, distance)
UNARY = {
    "sin": (-4, 4, [], 0), "cos": (-4, 4, [], 0), "tan": (-1.3, 1.3, [], 0),
    "asin": (-0.9, 0.9, [], 0), "acos": (-0.9, 0.9, [], 0), "atan": (-4, 4, [], 0),
    "sinh": (-3, 3, [], 0), "cosh": (-3, 3, [], 0), "asinh": (-3, 3, [], 0), "acosh": (1.2, 4, [], 0),
    "atanh": (-0.9, 0.9, [], 0),
    "log2": (0.2, 5, [], 0), "log10": (0.2, 5, [], 0), "log1p": (-0.8, 4, [], 0),
    "expm1": (-3, 3, [], 0), "exp2": (-3, 3, [], 0), "rsqrt": (0.2, 5, [], 0),
    "reciprocal": (-3, 3, [0], 0.25), "square": (-3, 3, [], 0),
    "sign": (-3, 3, [0], 0.1), "floor": (-3, 3, _integers(-3, 3), 0.05),
    "ceil": (-3, 3, _integers(-3, 3), 0.05), "trunc": (-3, 3, _integers(-3, 3), 0.05),
    "round": (-3, 3, _half_integers(-3, 3), 0.05), "frac": (-3, 3, _integers(-3, 3), 0.05),
}


@pytest.mark.parametrize("name", UNARY)
@few
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_unary_math(device, name, data, dtype, shape):
    lo, hi, points, dist = UNARY[name]
    a = data.draw(arrays(dtype, shape, lo, hi, away=(points, dist) if points else None))
    compare(lambda t: getattr(t, name)(), [a], device=device)
    compare(lambda t: getattr(thw, name)(t), [a], torch_fn=getattr(torch, name), device=device, grad=False)


@pytest.mark.parametrize("name", ["asin", "acos", "atan", "asinh", "atanh"])
def test_arc_aliases(name):
    a = np.array([-0.5, 0.25, 0.75])
    alias = "arc" + name[1:]
    compare(lambda t: getattr(t, alias)(), [a])
    compare(getattr(thw, alias), [a], torch_fn=getattr(torch, alias))


@pytest.mark.parametrize("name", sorted(n for n in UNARY if n not in ("frac",)))
def test_unary_integer_inputs_keep_torch_dtypes(name):
    """sin(int) is float32, sign/floor/round/square of an int stay int, as in torch."""
    lo, hi = (2, 4) if name in ("acosh",) else (0, 1) if name in ("asin", "acos", "atanh") else (1, 3)
    a = np.arange(lo, hi).astype(np.int32)
    if name == "atanh":
        a = np.zeros(2, np.int32)
    compare(lambda t: getattr(t, name)(), [a])


def test_sign_of_bool_and_round_decimals():
    compare(lambda t: t.sign(), [np.array([True, False])])
    a = np.array([1.2345, -2.71828, 0.0049, 123.456])
    for d in (0, 1, 2, -1):
        compare(lambda t: t.round(decimals=d), [a])
    with pytest.raises(RuntimeError, match="round"):
        thw.tensor([1, 2]).round(decimals=1)
    with pytest.raises(RuntimeError, match="frac"):
        thw.tensor([1, 2]).frac()


@pytest.mark.parametrize("name", ["sin", "tan", "asin", "atan", "sinh", "log2", "log10", "log1p",
                                  "expm1", "exp2", "rsqrt", "reciprocal", "square", "frac", "acosh"])
def test_unary_gradcheck(name):
    lo, hi, _, _ = UNARY[name]
    x = np.random.default_rng(1).uniform(max(lo, 0.3) if name in ("reciprocal", "frac") else lo,
                                         min(hi, 0.9) if name == "frac" else hi, (3, 2))
    thw.gradcheck(lambda t: getattr(t, name)(), (thw.tensor(x, requires_grad=True),))


# --- NaN and inf ---------------------------------------------------------------------------------
SPECIAL = np.array([[1.5, np.nan, -np.inf], [np.inf, -0.0, -2.5]])


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite", "isposinf", "isneginf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_classify(device, name, dtype):
    a = SPECIAL.astype(dtype) if dtype != np.int64 else np.array([[1, 2], [3, 4]])
    out, _ = compare(lambda t: getattr(t, name)(), [a], device=device)
    assert out.dtype == thw.bool
    compare(lambda t: getattr(thw, name)(t), [a], torch_fn=getattr(torch, name), device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_to_num(device, dtype):
    a = SPECIAL.astype(dtype)
    compare(lambda t: t.nan_to_num(), [a], device=device)
    compare(lambda t: t.nan_to_num(nan=1.0, posinf=9.0, neginf=-9.0), [a], device=device)
    compare(lambda t: thw.nan_to_num(t, 2.0), [a], torch_fn=lambda t: torch.nan_to_num(t, 2.0), device=device)
    compare(lambda t: t.nan_to_num(), [np.array([1, 2])], device=device)


# --- comparisons -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal",
                                  "less", "less_equal", "not_equal"])
def test_comparison_methods_and_functions(device, name):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    compare(lambda x, y: getattr(x, name)(y), [a, b], device=device, grad=False)
    compare(lambda x: getattr(x, name)(2.0), [a], device=device, grad=False)
    compare(lambda x, y: getattr(thw, name)(x, y), [a, b], torch_fn=getattr(torch, name),
            device=device, grad=False)


# --- reductions -------------------------------------------------------------------------------
@st.composite
def one_dim(draw, ndim):
    return draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))


@few
@given(data=st.data(), dtype=dtypes, shape=shapes, keepdim=st.booleans())
def test_prod(device, data, dtype, shape, keepdim):
    a = data.draw(arrays(dtype, shape, 0.5, 1.5))
    a = a * data.draw(hnp.arrays(np.int8, shape, elements=st.sampled_from([-1, 1]))).astype(dtype)
    compare(lambda t: t.prod(), [a], device=device)
    dim = data.draw(one_dim(len(shape)))
    compare(lambda t: t.prod(dim, keepdim), [a], device=device)
    compare(lambda t: thw.prod(t, dim, keepdim=keepdim), [a],
            torch_fn=lambda t: torch.prod(t, dim, keepdim=keepdim), device=device)


@few
@given(data=st.data(), shape=nonempty)
def test_prod_gradient_with_zeros(device, data, shape):
    """One zero in a slice sends that slice's product of the others to it; two zeros give 0."""
    a = data.draw(arrays(np.float64, shape, 0.5, 2.0))
    zeros = data.draw(hnp.arrays(np.bool_, shape))
    a = np.where(zeros, 0.0, a)
    compare(lambda t: t.prod(), [a], device=device)
    dim = data.draw(one_dim(len(shape)))
    compare(lambda t: t.prod(dim), [a], device=device)


def test_prod_known_zero_cases():
    a = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    compare(lambda t: t.prod(1), [a])
    x = thw.tensor(a, requires_grad=True)
    x.prod(1).sum().backward()
    assert x.grad.tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]]


def test_prod_integer_dtype():
    compare(lambda t: t.prod(), [np.array([2, 3, 4], dtype=np.int32)])
    compare(lambda t: t.prod(0), [np.array([True, False])])


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@few
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_cumsum_cumprod(device, name, data, dtype, shape):
    a = data.draw(arrays(dtype, shape, 0.5, 1.5))
    dim = data.draw(one_dim(len(shape)))
    compare(lambda t: getattr(t, name)(dim), [a], device=device)
    compare(lambda t: getattr(thw, name)(t, dim), [a], torch_fn=lambda t: getattr(torch, name)(t, dim),
            device=device)


@few
@given(data=st.data(), shape=nonempty)
def test_cumprod_gradient_with_zeros(device, data, shape):
    a = data.draw(arrays(np.float64, shape, -2.0, 2.0))
    zeros = data.draw(hnp.arrays(np.bool_, shape))
    a = np.where(zeros, 0.0, a)
    dim = data.draw(one_dim(len(shape)))
    compare(lambda t: t.cumprod(dim), [a], device=device)


def test_cumsum_dtypes():
    compare(lambda t: t.cumsum(0), [np.array([1, 2, 3], dtype=np.int32)])
    compare(lambda t: t.cumsum(0, dtype=thw.float64), [np.array([1.0, 2.0], dtype=np.float32)],
            torch_fn=lambda t: t.cumsum(0, dtype=torch.float64))
    compare(lambda t: t.cumprod(0), [np.array([True, True, False])])


@few
@given(data=st.data(), dtype=dtypes, shape=nonempty, keepdim=st.booleans())
def test_logsumexp(device, data, dtype, shape, keepdim):
    a = data.draw(arrays(dtype, shape, -5.0, 5.0))
    dim = data.draw(st.one_of(one_dim(len(shape)), st.just(tuple(range(len(shape))))))
    compare(lambda t: t.logsumexp(dim, keepdim), [a], device=device)
    compare(lambda t: thw.logsumexp(t, dim), [a], torch_fn=lambda t: torch.logsumexp(t, dim), device=device)


def test_logsumexp_is_stable_and_handles_inf():
    compare(lambda t: t.logsumexp(1), [np.array([[1e4, 1e4 - 1.0, -1e4], [-1e5, -1e5, 0.0]], np.float32)])
    compare(lambda t: t.logsumexp(0), [np.array([-np.inf, -np.inf])], grad=False)
    compare(lambda t: t.logsumexp(0), [np.array([np.inf, 1.0])], grad=False)
    compare(lambda t: t.logsumexp(0), [np.array([1, 2, 3])])


NORMS = [2, 1, 3, 0.5, 1.5, math.inf, -math.inf, 0, "fro"]


@pytest.mark.parametrize("p", NORMS, ids=str)
@few
@given(data=st.data(), dtype=dtypes, shape=nonempty, keepdim=st.booleans())
def test_norm(device, p, data, dtype, shape, keepdim):
    a = data.draw(arrays(dtype, shape, -3.0, 3.0, away=([0.0], 0.1), unique=isinstance(p, float)))
    compare(lambda t: t.norm(p), [a], device=device)
    dim = data.draw(st.one_of(one_dim(len(shape)),
                              st.just(tuple(range(len(shape)))[-2:])))
    compare(lambda t: t.norm(p, dim, keepdim), [a], device=device)
    compare(lambda t: thw.norm(t, p, dim), [a], torch_fn=lambda t: torch.norm(t, p, dim), device=device)


@pytest.mark.parametrize("ord", [2, 1, 3, math.inf, -math.inf, 0])
def test_vector_norm(ord):
    a = np.array([[1.5, -2.0, 0.5], [3.0, 0.25, -1.0]])
    compare(lambda t: thw.linalg.vector_norm(t, ord), [a],
            torch_fn=lambda t: torch.linalg.vector_norm(t, ord))
    compare(lambda t: thw.linalg.vector_norm(t, ord, dim=1, keepdim=True), [a],
            torch_fn=lambda t: torch.linalg.vector_norm(t, ord, dim=1, keepdim=True))


def test_norm_zero_vector_and_ties_match_torch():
    compare(lambda t: t.norm(), [np.zeros((2, 3))])
    compare(lambda t: t.norm(3, dim=1), [np.array([[0.0, 0.0], [1.0, 2.0]])])
    compare(lambda t: t.norm(math.inf), [np.array([2.0, -2.0, 1.0])])      # ties share the gradient
    compare(lambda t: t.norm(-math.inf, dim=0), [np.array([[1.0, 3.0], [-1.0, 2.0]])])


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, math.inf])
def test_norm_gradcheck(p):
    x = thw.tensor(np.array([[0.7, -1.3, 2.1], [-0.4, 1.9, 0.6]]), requires_grad=True)
    thw.gradcheck(lambda t: t.norm(p, dim=1), (x,))
    thw.gradcheck(lambda t: t.norm(p), (x,))


def test_norm_errors():
    with pytest.raises(RuntimeError, match="floating point"):
        thw.tensor([1, 2]).norm()
    with pytest.raises(ValueError, match="nuc"):
        thw.tensor([[1.0, 2.0]]).norm("nuc")
    with pytest.raises(IndexError, match="dim 2"):
        thw.tensor([[1.0, 2.0]]).norm(2, dim=2)


@pytest.mark.parametrize("name", ["any", "all"])
@few
@given(data=st.data(), shape=shapes, keepdim=st.booleans())
def test_any_all(device, name, data, shape, keepdim):
    a = data.draw(hnp.arrays(np.bool_, shape))
    compare(lambda t: getattr(t, name)(), [a], device=device)
    dim = data.draw(one_dim(len(shape)))
    compare(lambda t: getattr(t, name)(dim, keepdim), [a], device=device)
    f = data.draw(hnp.arrays(np.float32, shape, elements=st.sampled_from([0.0, 1.5])))
    compare(lambda t: getattr(thw, name)(t, dim), [f], torch_fn=lambda t: getattr(torch, name)(t, dim),
            device=device, grad=False)


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_ties_share_gradient_evenly(device, name):
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, 3.0, -1.0]])
    compare(lambda t: getattr(t, name)(1), [a], device=device)
    compare(lambda t: getattr(t, name)(), [a], device=device)
    compare(lambda t: getattr(thw, name)(t, (0, 1)), [a], torch_fn=lambda t: getattr(torch, name)(t, (0, 1)),
            device=device)


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_std_var_correction(device, correction):
    a = np.array([[0.5, 1.75, -2.0, 3.25], [1.0, -0.5, 0.25, 2.0]])
    for name in ("std", "var"):
        compare(lambda t: getattr(t, name)(1, correction=correction), [a], device=device)
        compare(lambda t: getattr(t, name)(correction=correction, keepdim=True, dim=0), [a[:, :3]],
                torch_fn=lambda t: getattr(t, name)(dim=0, correction=correction, keepdim=True),
                device=device)


def test_reduction_gradchecks():
    rng = np.random.default_rng(2)
    x = thw.tensor(rng.uniform(0.5, 1.5, (3, 4)), requires_grad=True)
    z = thw.tensor(np.array([[0.0, 1.2, -0.7], [0.9, 0.0, 0.0], [1.1, -0.6, 1.3]]), requires_grad=True)
    for fn in (lambda t: t.prod(1), lambda t: t.prod(), lambda t: t.cumsum(0), lambda t: t.cumprod(1),
               lambda t: t.logsumexp(1), lambda t: t.logsumexp((0, 1))):
        thw.gradcheck(fn, (x,))
    for fn in (lambda t: t.prod(1), lambda t: t.prod(0), lambda t: t.cumprod(1), lambda t: t.cumprod(0)):
        thw.gradcheck(fn, (z,))


def test_reduction_errors():
    x = thw.tensor([[1.0, 2.0]])
    for fn in (lambda: x.prod(2), lambda: x.cumsum(-3), lambda: x.logsumexp(5), lambda: x.any(2)):
        with pytest.raises(IndexError, match="out of range"):
            fn()
