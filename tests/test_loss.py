"""softmax, log_softmax, cross_entropy and nll_loss against torch, at scales up to 1e4 (1e5 for the
stability needle), with every reduction, label smoothing, class weights and ignored targets."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from oracle import compare, raises_with

TF = torch.nn.functional
dtypes = st.sampled_from([np.float64, np.float32])
reductions = st.sampled_from(["mean", "sum", "none"])


def _tol(dtype, scale):
    # float32 values near `scale` carry absolute rounding of about scale * 1e-7 per operation
    return dict(atol=max(1e-5, scale * 1e-6)) if dtype == np.float32 else {}


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), dtype=dtypes,
       scale=st.sampled_from([1.0, 30.0, 1e4]), data=st.data())
def test_softmax_and_log_softmax_match_torch(device, shape, dtype, scale, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = (np.random.default_rng(0).standard_normal(shape) * scale).astype(dtype)
    compare(F.softmax, [x], torch_fn=TF.softmax, device=device, dim=dim)
    compare(F.log_softmax, [x], torch_fn=TF.log_softmax, device=device, dim=dim, **_tol(dtype, scale))


@st.composite
def class_cases(draw, spatial=True):
    n, c = draw(st.integers(1, 6)), draw(st.integers(2, 6))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) if spatial and draw(st.booleans()) else ()
    return (n, c) + extra


@given(shape=class_cases(), dtype=dtypes, scale=st.sampled_from([1.0, 100.0, 1e4]), reduction=reductions,
       smoothing=st.sampled_from([0.0, 0.1, 0.5]))
def test_cross_entropy_matches_torch(device, shape, dtype, scale, reduction, smoothing):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    t = rng.integers(0, shape[1], shape[:1] + shape[2:])
    compare(F.cross_entropy, [x, t], torch_fn=TF.cross_entropy, device=device, reduction=reduction,
            label_smoothing=smoothing, **_tol(dtype, scale))


@given(shape=class_cases(), reduction=reductions, smoothing=st.sampled_from([0.0, 0.2]))
def test_cross_entropy_with_weight_and_ignore_index(device, shape, reduction, smoothing):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    t = rng.integers(0, shape[1], shape[:1] + shape[2:])
    t.reshape(-1)[0] = -100                 # at least one target left out of the loss
    if t.size > 1:
        t.reshape(-1)[-1] = rng.integers(0, shape[1])
    w = rng.uniform(0.5, 2.0, shape[1])

    def ours(x, t):
        return F.cross_entropy(x, t, thw.tensor(w, device=device), reduction=reduction, label_smoothing=smoothing)

    def theirs(x, t):
        return TF.cross_entropy(x, t, torch.tensor(w), reduction=reduction, label_smoothing=smoothing)
    if t.size > 1 or reduction != "mean":      # all targets ignored: 0/0 in torch as here
        compare(ours, [x, t], torch_fn=theirs, device=device)


@given(shape=class_cases(), dtype=dtypes, reduction=reductions, weighted=st.booleans())
def test_nll_loss_matches_torch(device, shape, dtype, reduction, weighted):
    rng = np.random.default_rng(2)
    logp = np.log(rng.dirichlet(np.ones(shape[1]), shape[:1] + shape[2:])).astype(dtype)
    logp = np.ascontiguousarray(np.moveaxis(logp, -1, 1))
    t = rng.integers(0, shape[1], shape[:1] + shape[2:])
    w = rng.uniform(0.5, 2.0, shape[1]).astype(dtype) if weighted else None
    compare(lambda a, b: F.nll_loss(a, b, None if w is None else thw.tensor(w, device=device), reduction=reduction),
            [logp, t], device=device,
            torch_fn=lambda a, b: TF.nll_loss(a, b, None if w is None else torch.tensor(w), reduction=reduction))


def test_cross_entropy_unbatched(device):
    compare(F.cross_entropy, [np.array([0.5, -1.0, 2.0]), np.array(2)], torch_fn=TF.cross_entropy,
            device=device, reduction="none")


def test_cross_entropy_stable_at_1e4(device):
    x = thw.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], np.float32), device=device,
                   requires_grad=True)
    loss = F.cross_entropy(x, thw.tensor([1, 2], device=device), label_smoothing=0.1)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()
    ref = torch.tensor(x.numpy(), requires_grad=True)
    ref_loss = TF.cross_entropy(ref, torch.tensor([1, 2]), label_smoothing=0.1)
    ref_loss.backward()
    np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_log_softmax_finite_at_1e5(device):
    x = thw.tensor(np.random.default_rng(3).standard_normal((4, 7)).astype(np.float32) * 1e5, device=device,
                   requires_grad=True)
    y = F.log_softmax(x, 1)
    y.sum().backward()
    assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    assert np.allclose(y.numpy().max(axis=1), 0.0)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    x = thw.tensor(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), requires_grad=True)
    F.cross_entropy(x, thw.tensor([2, 0]), reduction="sum").backward()
    p = np.exp(x.numpy()) / np.exp(x.numpy()).sum(1, keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), p - np.eye(3)[[2, 0]], rtol=1e-12)


@pytest.mark.parametrize("fn", [
    lambda x: F.softmax(x, 1), lambda x: F.log_softmax(x, 0),
    lambda x: F.cross_entropy(x, thw.tensor([1, 0, 3]), label_smoothing=0.2),
    lambda x: F.cross_entropy(x, thw.tensor([1, -100, 3]), thw.tensor([1.0, 2.0, 0.5, 1.5], dtype=thw.float64),
                              reduction="none"),
    lambda x: F.nll_loss(F.log_softmax(x, 1), thw.tensor([2, 2, 0]), reduction="sum"),
], ids=["softmax", "log_softmax", "cross_entropy", "cross_entropy_weighted", "nll_loss"])
def test_loss_gradcheck(fn):
    x = thw.tensor(np.random.default_rng(4).standard_normal((3, 4)), requires_grad=True)
    assert thw.gradcheck(fn, (x,))


@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.cross_entropy(thw.zeros(2, 3), thw.tensor([0, 3])), IndexError, ["[0, 3)", "(2, 3)", "3"]),
    (lambda: F.cross_entropy(thw.zeros(2, 3), thw.tensor([0, -2])), IndexError, ["-2"]),
    (lambda: F.cross_entropy(thw.zeros(2, 3), thw.tensor([0.0, 1.0])), TypeError, ["float32", "(2,)"]),
    (lambda: F.cross_entropy(thw.zeros(2, 3), thw.tensor([0, 1, 2])), ValueError, ["(2, 3)", "(3,)"]),
    (lambda: F.cross_entropy(thw.zeros(2, 3), thw.tensor([0, 1]), reduction="avg"), ValueError, ["avg"]),
    (lambda: F.nll_loss(thw.zeros(2, 3), thw.tensor([0, 5])), IndexError, ["[0, 3)"]),
    (lambda: F.softmax(thw.zeros(2, 3), 2), IndexError, ["dim 2"]),
])
def test_loss_bad_input(call, exc, words):
    with raises_with(exc, *words):
        call()
