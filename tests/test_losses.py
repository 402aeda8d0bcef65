"""The regression, binary and divergence losses, cross_entropy with class-probability targets and
nll_loss's weights and ignore_index, against torch (every reduction, drawn shapes), at extreme
inputs, by finite differences, and as nn.*Loss modules."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn
from oracle import compare, compare_module, raises_with

TF = torch.nn.functional
dtypes = st.sampled_from([np.float64, np.float32])
reductions = st.sampled_from(["mean", "sum", "none"])
shapes = st.lists(st.integers(1, 4), max_size=3)


def _away_from(d, kinks, gap=0.05):
    for k in kinks:
        d = np.where(np.abs(np.abs(d) - k) < gap, d + np.sign(d + 1e-30) * 2 * gap, d)
    return d


# --- mse, l1, smooth_l1, huber ----------------------------------------------------------------------
DIFF = {  # name -> (keyword arguments, the |input - target| where the loss has a kink)
    "mse_loss": ({}, ()),
    "l1_loss": ({}, (0.0,)),
    "smooth_l1_loss": ({"beta": 0.5}, (0.0, 0.5)),
    "huber_loss": ({"delta": 0.7}, (0.7,)),
}


@given(name=st.sampled_from(sorted(DIFF)), shape=shapes, dtype=dtypes, reduction=reductions)
def test_regression_loss_matches_torch(device, name, shape, dtype, reduction):
    kwargs, kinks = DIFF[name]
    rng = np.random.default_rng(0)
    y = rng.standard_normal(shape)
    x = y + _away_from(rng.standard_normal(shape), kinks)
    compare(getattr(F, name), [x.astype(dtype), y.astype(dtype)], torch_fn=getattr(TF, name), device=device,
            reduction=reduction, **kwargs)


@pytest.mark.parametrize("beta", [1.0, 0.0])
def test_smooth_l1_default_and_zero_beta(beta):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    compare(F.smooth_l1_loss, [x, y], torch_fn=TF.smooth_l1_loss, beta=beta)


@pytest.mark.parametrize("name", sorted(DIFF))
def test_regression_loss_gradcheck(name):
    kwargs, kinks = DIFF[name]
    rng = np.random.default_rng(2)
    y = rng.standard_normal((3, 4))
    x = y + _away_from(rng.standard_normal((3, 4)), kinks)
    a, b = thw.tensor(x, requires_grad=True), thw.tensor(y, requires_grad=True)
    assert thw.gradcheck(lambda a, b: getattr(F, name)(a, b, **kwargs), (a, b))


# --- binary cross-entropy -----------------------------------------------------------------------------
@given(shape=shapes, dtype=dtypes, reduction=reductions, weighted=st.booleans())
def test_binary_cross_entropy_matches_torch(device, shape, dtype, reduction, weighted):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.05, 0.95, shape).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0.5, 2, shape[-1:]).astype(dtype) if weighted else None
    compare(lambda a, b: F.binary_cross_entropy(a, b, None if w is None else thw.tensor(w, device=device),
                                                reduction=reduction),
            [x, t], device=device,
            torch_fn=lambda a, b: TF.binary_cross_entropy(a, b, None if w is None else torch.tensor(w),
                                                          reduction=reduction))


def test_binary_cross_entropy_clamps_log_at_minus_100():
    x, t = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    out, ref = compare(F.binary_cross_entropy, [x, t], torch_fn=TF.binary_cross_entropy, reduction="none",
                       grad=False)
    np.testing.assert_array_equal(out.numpy(), [100.0, 100.0, 0.0, 0.0])


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), dtype=dtypes, reduction=reductions,
       weighted=st.booleans(), pos=st.booleans(), scale=st.sampled_from([1.0, 30.0]))
def test_bce_with_logits_matches_torch(device, shape, dtype, reduction, weighted, pos, scale):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0.5, 2, shape[:1] + [1] * (len(shape) - 1)).astype(dtype) if weighted else None
    p = rng.uniform(0.5, 3, shape[-1:]).astype(dtype) if pos else None

    def opt(lib, a):
        return None if a is None else (thw.tensor(a, device=device) if lib is thw else torch.tensor(a))
    tol = {"atol": 1e-4} if dtype == np.float32 and scale > 1 else {}
    compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, opt(thw, w), reduction=reduction,
                                                            pos_weight=opt(thw, p)),
            [x, t], device=device, **tol,
            torch_fn=lambda a, b: TF.binary_cross_entropy_with_logits(a, b, opt(torch, w), reduction=reduction,
                                                                      pos_weight=opt(torch, p)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_finite_at_1e4(dtype):
    x = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    out, _ = compare(F.binary_cross_entropy_with_logits, [x, t], torch_fn=TF.binary_cross_entropy_with_logits,
                     reduction="none")
    np.testing.assert_allclose(out.numpy(), [1e4, 1e4, 0.0, 0.0])
    compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=thw.tensor(np.array([2.0], dtype))),
            [x, t], torch_fn=lambda a, b: TF.binary_cross_entropy_with_logits(
                a, b, pos_weight=torch.tensor(np.array([2.0], dtype))))


def test_binary_losses_gradcheck():
    rng = np.random.default_rng(5)
    x = thw.tensor(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    z = thw.tensor(rng.standard_normal((3, 4)) * 3, requires_grad=True)
    t = thw.tensor(rng.uniform(0, 1, (3, 4)), requires_grad=True)
    w, p = thw.tensor(rng.uniform(0.5, 2, (3, 1))), thw.tensor(rng.uniform(0.5, 2, 4))
    assert thw.gradcheck(lambda x, t: F.binary_cross_entropy(x, t, w), (x, t))
    assert thw.gradcheck(lambda z, t: F.binary_cross_entropy_with_logits(z, t, w, pos_weight=p,
                                                                         reduction="sum"), (z, t))


# --- kl_div -----------------------------------------------------------------------------------------------
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), dtype=dtypes,
       reduction=st.sampled_from(["mean", "sum", "none", "batchmean"]), log_target=st.booleans())
def test_kl_div_matches_torch(device, shape, dtype, reduction, log_target):
    rng = np.random.default_rng(6)
    logp = np.log(rng.dirichlet(np.ones(shape[-1]), shape[:-1]))
    q = rng.dirichlet(np.ones(shape[-1]), shape[:-1])
    target = np.log(q) if log_target else q
    compare(F.kl_div, [logp.astype(dtype), target.astype(dtype)], torch_fn=TF.kl_div, device=device,
            reduction=reduction, log_target=log_target)


def test_kl_div_zero_target_contributes_nothing():
    logp = np.log(np.array([[0.2, 0.3, 0.5]]))
    q = np.array([[0.0, 0.4, 0.6]])
    compare(F.kl_div, [logp, q], torch_fn=TF.kl_div, reduction="sum",
            grad=False)
    x = thw.tensor(logp, requires_grad=True)
    F.kl_div(x, thw.tensor(q), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), -q)


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_gradcheck(log_target):
    rng = np.random.default_rng(7)
    x = thw.tensor(np.log(rng.dirichlet(np.ones(4), 3)), requires_grad=True)
    q = rng.dirichlet(np.ones(4), 3)
    t = thw.tensor(np.log(q) if log_target else q, requires_grad=True)
    assert thw.gradcheck(lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=log_target), (x, t))


# --- cross_entropy with class probabilities, nll_loss ------------------------------------------------
@st.composite
def class_shapes(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    return (n, c) + tuple(draw(st.lists(st.integers(1, 3), max_size=2)))


@given(shape=class_shapes(), dtype=dtypes, reduction=reductions, smoothing=st.sampled_from([0.0, 0.1, 0.4]),
       weighted=st.booleans(), scale=st.sampled_from([1.0, 100.0]))
def test_cross_entropy_probability_targets_match_torch(device, shape, dtype, reduction, smoothing, weighted, scale):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    probs = np.moveaxis(rng.dirichlet(np.ones(shape[1]), shape[:1] + shape[2:]), -1, 1)
    t = np.ascontiguousarray(probs).astype(dtype)
    w = rng.uniform(0.5, 2, shape[1]).astype(dtype) if weighted else None
    tol = {"atol": 1e-4} if dtype == np.float32 and scale > 1 else {}
    compare(lambda a, b: F.cross_entropy(a, b, None if w is None else thw.tensor(w, device=device),
                                         reduction=reduction, label_smoothing=smoothing),
            [x, t], device=device, **tol,
            torch_fn=lambda a, b: TF.cross_entropy(a, b, None if w is None else torch.tensor(w),
                                                   reduction=reduction, label_smoothing=smoothing))


def test_cross_entropy_probability_targets_unbatched_and_gradcheck():
    rng = np.random.default_rng(9)
    compare(F.cross_entropy, [rng.standard_normal(4), rng.dirichlet(np.ones(4))], torch_fn=TF.cross_entropy,
            label_smoothing=0.2)
    x = thw.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = thw.tensor(rng.dirichlet(np.ones(4), 3), requires_grad=True)
    w = thw.tensor(rng.uniform(0.5, 2, 4))
    assert thw.gradcheck(lambda x, t: F.cross_entropy(x, t, w, label_smoothing=0.3), (x, t))


@given(shape=class_shapes(), reduction=reductions, ignore=st.sampled_from([-100, 1]), dtype=dtypes)
def test_nll_loss_weight_and_ignore_index_match_torch(device, shape, reduction, ignore, dtype):
    rng = np.random.default_rng(10)
    logp = np.moveaxis(np.log(rng.dirichlet(np.ones(shape[1]), shape[:1] + shape[2:])), -1, 1)
    t = rng.integers(0, shape[1], shape[:1] + shape[2:])
    t.reshape(-1)[0] = ignore
    if t.size > 1:
        t.reshape(-1)[-1] = (ignore + 1) % shape[1] if ignore >= 0 else 0     # one counted target at least
    w = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    if t.size == 1 and reduction == "mean":
        return                                  # every target ignored: 0 / 0, nan in torch as here
    compare(lambda a, b: F.nll_loss(a, b, thw.tensor(w, device=device), ignore_index=ignore, reduction=reduction),
            [np.ascontiguousarray(logp).astype(dtype), t], device=device,
            torch_fn=lambda a, b: TF.nll_loss(a, b, torch.tensor(w), ignore_index=ignore, reduction=reduction))


def test_nll_loss_all_ignored_mean_is_nan_as_torch():
    x = np.log(np.full((2, 3), 1 / 3))
    t = np.array([-100, -100])
    ours = F.nll_loss(thw.tensor(x), thw.tensor(t)).item()
    assert np.isnan(ours) and np.isnan(TF.nll_loss(torch.tensor(x), torch.tensor(t)).item())


# --- modules ----------------------------------------------------------------------------------------------
def _inputs(kind, rng, dtype):
    shape = (3, 4)
    if kind == "prob":
        return [rng.uniform(0.1, 0.9, shape).astype(dtype), rng.uniform(0, 1, shape).astype(dtype)]
    if kind == "logprob":
        return [np.log(rng.dirichlet(np.ones(4), 3)).astype(dtype), rng.dirichlet(np.ones(4), 3).astype(dtype)]
    if kind == "class":
        return [rng.standard_normal(shape).astype(dtype), rng.integers(0, 4, 3)]
    y = rng.standard_normal(shape)
    return [(y + _away_from(rng.standard_normal(shape), (0.0, 0.5, 1.0))).astype(dtype), y.astype(dtype)]


LOSS_MODULES = [
    ("MSELoss", {}, "diff"), ("L1Loss", {"reduction": "sum"}, "diff"), ("SmoothL1Loss", {"beta": 0.5}, "diff"),
    ("HuberLoss", {"delta": 0.5, "reduction": "none"}, "diff"), ("BCELoss", {}, "prob"),
    ("BCEWithLogitsLoss", {"reduction": "sum"}, "diff"), ("KLDivLoss", {"reduction": "batchmean"}, "logprob"),
    ("KLDivLoss", {"log_target": True}, "diff"), ("CrossEntropyLoss", {"label_smoothing": 0.1}, "class"),
    ("CrossEntropyLoss", {}, "logprob"), ("NLLLoss", {"reduction": "sum"}, "class"),
    ("MSELoss", {"reduce": False}, "diff"), ("L1Loss", {"size_average": False}, "diff"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, kwargs, kind", LOSS_MODULES, ids=[f"{n}{k}" for n, k, _ in LOSS_MODULES])
def test_loss_modules_match_torch(device, name, kwargs, kind, dtype):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # torch warns about size_average / reduce
        theirs = getattr(torch.nn, name)(**kwargs)
    ours = getattr(nn, name)(**kwargs)
    assert ours.reduction == theirs.reduction
    compare_module(ours, theirs, _inputs(kind, np.random.default_rng(11), dtype), device=device)


def test_weighted_loss_modules_match_torch():
    rng = np.random.default_rng(12)
    w, p = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    pairs = [(nn.CrossEntropyLoss(thw.tensor(w), ignore_index=2), torch.nn.CrossEntropyLoss(torch.tensor(w),
                                                                                          ignore_index=2), "class"),
             (nn.NLLLoss(thw.tensor(w)), torch.nn.NLLLoss(torch.tensor(w)), "class"),
             (nn.BCELoss(thw.tensor(w)), torch.nn.BCELoss(torch.tensor(w)), "prob"),
             (nn.BCEWithLogitsLoss(thw.tensor(w), pos_weight=thw.tensor(p)),
              torch.nn.BCEWithLogitsLoss(torch.tensor(w), pos_weight=torch.tensor(p)), "diff")]
    for ours, theirs, kind in pairs:
        arrays = _inputs(kind, rng, np.float64)
        if kind == "class":
            arrays[1] = np.array([0, 2, 3])
        compare_module(ours, theirs, arrays)


# --- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.mse_loss(thw.zeros(2, 3), thw.zeros(4)), ValueError, ["(2, 3)", "(4,)"]),
    (lambda: F.l1_loss(thw.zeros(2), thw.zeros(2), reduction="avg"), ValueError, ["avg"]),
    (lambda: F.mse_loss(thw.zeros(2), thw.zeros(2, dtype=thw.float64)), TypeError, ["float32", "float64"]),
    (lambda: F.binary_cross_entropy(thw.tensor([0.5, 1.5]), thw.zeros(2)), ValueError, ["[0, 1]", "logits"]),
    (lambda: F.binary_cross_entropy(thw.zeros(2, 3), thw.zeros(3)), ValueError, ["(3,)", "(2, 3)"]),
    (lambda: F.binary_cross_entropy_with_logits(thw.zeros(2, 3), thw.zeros(2, 3), pos_weight=thw.ones(2)),
     ValueError, ["pos_weight", "(2, 3)"]),
    (lambda: F.kl_div(thw.zeros(2, 3), thw.zeros(2, 3), reduction="avg"), ValueError, ["avg"]),
    (lambda: F.cross_entropy(thw.zeros(2, 3), thw.zeros(2, 3), ignore_index=1), ValueError, ["ignore_index"]),
    (lambda: F.huber_loss(thw.zeros(2), thw.zeros(2), delta=0.0), ValueError, ["delta"]),
    (lambda: nn.MSELoss(reduction="batchmean"), ValueError, ["batchmean"]),
])
def test_losses_bad_input(call, exc, words):
    with raises_with(exc, *words):
        call()
