"""Learning-rate schedules against torch: the same rates (and, for OneCycleLR, momenta) for many
steps over two param groups, explicit-epoch steps, and checkpoint round trips that resume exactly."""
import math
import warnings

import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from tinygrad_hw import nn, optim
from tinygrad_hw.optim import lr_scheduler

STEPS = 60


class Halving:
    """A callable object with state: its __dict__ travels in the scheduler's state_dict."""

    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


SCHEDULES = {
    "exponential": lambda L, o: L.ExponentialLR(o, gamma=0.93),
    "lambda": lambda L, o: L.LambdaLR(o, lambda e: 1.0 / (1 + 0.1 * e)),
    "lambda_per_group": lambda L, o: L.LambdaLR(o, [lambda e: 0.97 ** e, Halving(7)]),
    "multiplicative": lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95 if e % 3 else 1.01),
    "linear": lambda L, o: L.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=17),
    "linear_default": lambda L, o: L.LinearLR(o),
    "constant": lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=9),
    "warm_restarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=7),
    "warm_restarts_mult": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001),
    "sequential": lambda L, o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.2, total_iters=5),
                                                  L.ExponentialLR(o, gamma=0.9),
                                                  L.CosineAnnealingLR(o, T_max=10, eta_min=0.001)],
                                              milestones=[5, 20]),
    "sequential_constant_step": lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, factor=0.5, total_iters=4),
                                                                L.StepLR(o, step_size=6, gamma=0.5)],
                                                            milestones=[10]),
    "onecycle_cos": lambda L, o: L.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS),
    "onecycle_linear": lambda L, o: L.OneCycleLR(o, max_lr=0.4, total_steps=STEPS, anneal_strategy="linear",
                                                 pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
    "onecycle_three_phase": lambda L, o: L.OneCycleLR(o, max_lr=0.3, epochs=6, steps_per_epoch=10,
                                                      three_phase=True, base_momentum=0.8, max_momentum=0.9),
    "onecycle_no_momentum": lambda L, o: L.OneCycleLR(o, max_lr=0.3, total_steps=STEPS, cycle_momentum=False),
}


def _opt(lib, kind="sgd", lrs=(0.1, 0.02)):
    if lib == "torch":
        ps = [torch.zeros(2, requires_grad=True) for _ in lrs]
        mod = torch.optim
    else:
        ps = [nn.Parameter(thw.zeros(2)) for _ in lrs]
        mod = optim
    groups = [{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)]
    if kind == "adam":
        return mod.Adam(groups, betas=(0.9, 0.99))
    return mod.SGD(groups, lr=1.0, momentum=0.9)


def _sequence(sched, opt, steps=STEPS):
    """get_last_lr() and each group's lr and momentum (or beta1) before every step."""
    seq = []
    for _ in range(steps):
        mom = [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]
        seq.append((list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], mom))
        opt.step()
        sched.step()
    return seq


def _assert_sequences_equal(ours, theirs):
    for k, ((a, b, c), (x, y, z)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, x, rtol=1e-13, atol=0, err_msg=f"get_last_lr at step {k}")
        np.testing.assert_allclose(b, y, rtol=1e-13, atol=0, err_msg=f"group lr at step {k}")
        np.testing.assert_allclose(c, z, rtol=1e-13, atol=0, err_msg=f"momentum at step {k}")
    assert len(ours) == len(theirs)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # torch's "step order" and "epoch deprecated" warnings
        yield


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", SCHEDULES)
def test_sequence_matches_torch(name, kind):
    opt, topt = _opt("ours", kind), _opt("torch", kind)
    ours = _sequence(SCHEDULES[name](lr_scheduler, opt), opt)
    theirs = _sequence(SCHEDULES[name](torch.optim.lr_scheduler, topt), topt)
    _assert_sequences_equal(ours, theirs)


@pytest.mark.parametrize("name", SCHEDULES)
def test_state_dict_round_trip_resumes(name, tmp_path):
    opt = _opt("ours")
    full = _sequence(SCHEDULES[name](lr_scheduler, opt), opt)
    opt = _opt("ours")
    sched = SCHEDULES[name](lr_scheduler, opt)
    first = _sequence(sched, opt, 23)
    thw.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = thw.load(tmp_path / "ckpt.npz")
    opt2 = _opt("ours", lrs=(5.0, 5.0))          # fresh objects with other settings
    sched2 = SCHEDULES[name](lr_scheduler, opt2)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    rest = _sequence(sched2, opt2, STEPS - 23)
    _assert_sequences_equal(first + rest, full)


def test_lambda_state_dict_keeps_callable_objects_state():
    opt = _opt("ours")
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 1.0, Halving(7)])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"every": 7}]
    other = lr_scheduler.LambdaLR(_opt("ours"), [lambda e: 1.0, Halving(2)])
    other.load_state_dict(sd)
    assert other.lr_lambdas[1].every == 7


@pytest.mark.parametrize("name,epochs", [("exponential", (4, 9, 5, 0)), ("linear", (3, 20, 8)),
                                         ("constant", (2, 9, 12, 4))])
def test_explicit_epoch_uses_closed_form_like_torch(name, epochs):
    opt, topt = _opt("ours"), _opt("torch")
    sched, tsched = SCHEDULES[name](lr_scheduler, opt), SCHEDULES[name](torch.optim.lr_scheduler, topt)
    for e in epochs:
        sched.step(e)
        tsched.step(e)
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-13)


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_fractional_epochs_match_torch(T_mult):
    opt, topt = _opt("ours"), _opt("torch")
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=T_mult, eta_min=0.01)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=4, T_mult=T_mult, eta_min=0.01)
    iters = 5
    for epoch in range(30):
        for i in range(iters):
            sched.step(epoch + i / iters)
            tsched.step(epoch + i / iters)
            np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
    assert sched.T_i == tsched.T_i and sched.last_epoch == tsched.last_epoch


def test_onecycle_rejects_too_many_steps_and_optimizers_without_momentum():
    opt = _opt("ours")
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.OneCycleLR(optim.Adagrad([nn.Parameter(thw.zeros(1))]), max_lr=0.1, total_steps=5)
    with pytest.raises(ValueError, match="total_steps OR"):
        lr_scheduler.OneCycleLR(_opt("ours"), max_lr=0.1)


def _metrics(seed=0, n=120):
    """A loss that falls, plateaus (with small noise), falls again, then rises."""
    rng = np.random.default_rng(seed)
    base = np.concatenate([np.linspace(2, 1, 30), np.full(40, 1.0), np.linspace(1, 0.5, 20), np.linspace(0.5, 0.8, 30)])
    return (base + 1e-4 * rng.standard_normal(n)).tolist()


PLATEAU = [dict(), dict(mode="max"), dict(patience=3), dict(patience=2, factor=0.5, cooldown=4),
           dict(threshold=0.01, threshold_mode="abs", patience=1), dict(threshold=0.05, patience=2),
           dict(mode="max", threshold_mode="abs", threshold=0.0, patience=0),
           dict(patience=1, factor=0.3, min_lr=[0.01, 0.005]), dict(patience=1, factor=0.5, min_lr=0.02),
           dict(patience=0, factor=0.9, eps=1e-3)]


@pytest.mark.parametrize("kw", PLATEAU, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_reduce_on_plateau_matches_torch(kw):
    opt, topt = _opt("ours"), _opt("torch")
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for k, m in enumerate(_metrics()):
        sched.step(thw.tensor(m, dtype=thw.float64) if k % 2 else m)
        tsched.step(m)
        assert sched.get_last_lr() == tsched.get_last_lr(), f"step {k}"
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == \
            (tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best)


def test_reduce_on_plateau_round_trip(tmp_path):
    ms = _metrics(1)
    opt = _opt("ours")
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, cooldown=3, factor=0.5)
    full = []
    for m in ms:
        sched.step(m)
        full.append(sched.get_last_lr())
    opt = _opt("ours")
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, cooldown=3, factor=0.5)
    part = []
    for m in ms[:50]:
        sched.step(m)
        part.append(sched.get_last_lr())
    thw.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "c.npz")
    ckpt = thw.load(tmp_path / "c.npz")
    opt2 = _opt("ours")
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2, mode="max")
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    for m in ms[50:]:
        sched2.step(m)
        part.append(sched2.get_last_lr())
    assert part == full


def test_bad_arguments_raise_like_torch():
    for L in (lr_scheduler, torch.optim.lr_scheduler):
        o = _opt("ours" if L is lr_scheduler else "torch")
        with pytest.raises(ValueError, match="Factor should be"):
            L.ReduceLROnPlateau(o, factor=1.0)
        with pytest.raises(ValueError, match="unknown"):
            L.ReduceLROnPlateau(o, mode="median")
        with pytest.raises(ValueError, match="T_0"):
            L.CosineAnnealingWarmRestarts(o, T_0=0)
        with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
            L.LambdaLR(o, [lambda e: 1.0])
        with pytest.raises(ValueError, match="milestone"):
            L.SequentialLR(o, [L.ExponentialLR(o, 0.9)], milestones=[3])
        with pytest.raises(ValueError, match="between 0 and 1"):
            L.ConstantLR(o, factor=2.0)
    assert math.isinf(lr_scheduler.ReduceLROnPlateau(_opt("ours")).best)
