"""Activations (F.* and nn.*) against torch on drawn shapes, at large |x|, exactly at their kinks,
and by finite differences; the erfc behind the exact GELU against math.erfc."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn
from tinygrad_hw.nn._activation import erfc_array
from oracle import compare, compare_module, raises_with

TF = torch.nn.functional
dtypes = st.sampled_from([np.float64, np.float32])

# name -> (keyword arguments, the points where the function or its derivative has a kink)
CASES = {
    "leaky_relu": ({"negative_slope": 0.2}, (0.0,)),
    "elu": ({"alpha": 1.5}, (0.0,)),
    "selu": ({}, (0.0,)),
    "celu": ({"alpha": 0.7}, (0.0,)),
    "gelu": ({}, ()),
    "gelu_tanh": ({"approximate": "tanh"}, ()),
    "silu": ({}, ()),
    "mish": ({}, ()),
    "softplus": ({"beta": 2.0, "threshold": 3.0}, (1.5,)),
    "softsign": ({}, (0.0,)),
    "hardtanh": ({"min_val": -0.5, "max_val": 2.0}, (-0.5, 2.0)),
    "relu6": ({}, (0.0, 6.0)),
    "hardsigmoid": ({}, (-3.0, 3.0)),
    "hardswish": ({}, (-3.0, 3.0)),
    "logsigmoid": ({}, ()),
    "relu": ({}, (0.0,)),
    "sigmoid": ({}, ()),
    "tanh": ({}, ()),
}


def _fns(name):
    fn = "gelu" if name == "gelu_tanh" else name
    return getattr(F, fn), getattr(TF, fn)


def _away_from(x, kinks, gap=0.05):
    """Move values within ``gap`` of a kink by 2 * gap, so finite differences and float32 rounding
    never straddle it."""
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, x + 2 * gap, x)
    return x


@given(name=st.sampled_from(sorted(CASES)), shape=st.lists(st.integers(1, 5), max_size=3), dtype=dtypes,
       scale=st.sampled_from([1.0, 4.0]), transposed=st.booleans())
def test_activation_matches_torch(device, name, shape, dtype, scale, transposed):
    kwargs, kinks = CASES[name]
    ours, theirs = _fns(name)
    x = _away_from(np.random.default_rng(0).standard_normal(shape) * scale, kinks).astype(dtype)
    compare(ours, [x.T if transposed else x], torch_fn=theirs, device=device, **kwargs)   # .T: not contiguous


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_at_kinks_matches_torch(name):
    """The value and the gradient exactly at every kink follow torch's convention."""
    kwargs, kinks = CASES[name]
    ours, theirs = _fns(name)
    x = np.array(sorted(set(kinks) | {-2.5, 0.0, 1.0}), dtype=np.float64)
    compare(ours, [x], torch_fn=theirs, **kwargs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["softplus", "logsigmoid", "mish", "silu", "gelu", "gelu_tanh", "elu", "selu",
                                  "celu", "softsign", "sigmoid"])
def test_activation_stable_at_large_inputs(name, dtype):
    kwargs, _ = CASES[name]
    kwargs = {k: v for k, v in kwargs.items() if k != "threshold"}     # the default threshold: 20
    ours, theirs = _fns(name)
    x = np.array([-1e4, -800.0, -60.0, -30.0, 30.0, 60.0, 800.0, 1e4], dtype=dtype)
    t = thw.tensor(x, requires_grad=True)
    y = ours(t, **kwargs)
    y.backward(thw.ones_like(y))
    assert np.isfinite(y.numpy()).all() and np.isfinite(t.grad.numpy()).all(), (y, t.grad)
    compare(ours, [x], torch_fn=theirs, **kwargs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_gradcheck(name):
    kwargs, kinks = CASES[name]
    ours, _ = _fns(name)
    x = _away_from(np.random.default_rng(1).standard_normal((3, 4)) * 3, kinks)
    assert thw.gradcheck(lambda t: ours(t, **kwargs), (thw.tensor(x, requires_grad=True),))


def test_erfc_matches_math_erfc():
    z = np.concatenate([np.linspace(0.0, 26.0, 2001), np.geomspace(1e-12, 1.0, 50)])
    want = np.array([math.erfc(v) for v in z])
    np.testing.assert_allclose(erfc_array(np, z), want, rtol=1e-12, atol=0)
    got32 = erfc_array(np, z.astype(np.float32))
    assert got32.dtype == np.float32
    small = want > 1e-30
    np.testing.assert_allclose(got32[small], want[small], rtol=1e-4)


def test_gelu_tails_relative():
    """x * Phi(x) far in the left tail, where 1 + erf(x / sqrt 2) would cancel to 0."""
    x = np.array([-5.0, -10.0, -20.0])
    got = F.gelu(thw.tensor(x)).numpy()
    want = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-12)


# --- prelu ----------------------------------------------------------------------------------------
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), shared=st.booleans(), dtype=dtypes)
def test_prelu_matches_torch(device, shape, shared, dtype):
    rng = np.random.default_rng(2)
    channels = 1 if shared or len(shape) < 2 else shape[1]
    x = _away_from(rng.standard_normal(shape), (0.0,)).astype(dtype)
    w = rng.uniform(-0.5, 0.5, channels).astype(dtype)
    compare(F.prelu, [x, w], torch_fn=TF.prelu, device=device)


def test_prelu_gradcheck_and_bad_weight():
    rng = np.random.default_rng(3)
    x = thw.tensor(_away_from(rng.standard_normal((2, 3, 4)), (0.0,)), requires_grad=True)
    w = thw.tensor(rng.uniform(0.1, 0.5, 3), requires_grad=True)
    assert thw.gradcheck(F.prelu, (x, w))
    with raises_with(ValueError, "4", "(2, 3)", "3"):
        F.prelu(thw.zeros(2, 3), thw.zeros(4))


# --- modules ----------------------------------------------------------------------------------------
MODULES = [
    ("LeakyReLU", (0.1,)), ("ELU", (0.5,)), ("SELU", ()), ("CELU", (2.0,)), ("GELU", ("tanh",)), ("GELU", ()),
    ("SiLU", ()), ("Mish", ()), ("Softplus", (0.5, 10.0)), ("Softsign", ()), ("Hardtanh", (-2.0, 0.5)),
    ("ReLU6", ()), ("Hardsigmoid", ()), ("Hardswish", ()), ("LogSigmoid", ()), ("Tanh", ()), ("Sigmoid", ()),
    ("ReLU", ()), ("Softmax", (1,)), ("LogSoftmax", (-1,)), ("PReLU", ()), ("PReLU", (3, 0.1)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, args", MODULES, ids=[f"{n}{a}" for n, a in MODULES])
def test_activation_modules_match_torch(device, name, args, dtype):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = getattr(nn, name)(*args).to(dtype)
    assert repr(ours) == repr(theirs)
    x = _away_from(np.random.default_rng(4).standard_normal((2, 3, 5)) * 3, (-3, -2, -1, 0, 0.5, 3, 6))
    compare_module(ours, theirs, x.astype(dtype), device=device)


def test_prelu_module_parameter_like_torch():
    ours, theirs = nn.PReLU(4, init=0.3), torch.nn.PReLU(4, init=0.3)
    assert [(k, tuple(v.shape)) for k, v in ours.named_parameters()] == \
        [(k, tuple(v.shape)) for k, v in theirs.named_parameters()]
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy())
    assert ours.weight.dtype == np.float32


def test_activation_bad_input():
    with raises_with(TypeError, "int64"):
        F.silu(thw.tensor([1, 2]))
    with raises_with(ValueError, "approximate", "'fast'"):
        F.gelu(thw.zeros(2), approximate="fast")
    with raises_with(ValueError, "min_val"):
        F.hardtanh(thw.zeros(2), 1.0, -1.0)
