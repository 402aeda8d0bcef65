"""Every optimizer against torch in float64: the same parameter trajectory over several steps, on
several shapes in two parameter groups (with their own lr and options), for each option combination;
state_dict round trips resume exactly; the state has torch's keys."""
import itertools

import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from tinygrad_hw import nn, optim

SHAPES = [(3, 4), (5,), (), (2, 3, 2)]
STEPS = 8
RTOL = 1e-10


@pytest.fixture(autouse=True)
def _torch_float64_scalars():
    """torch keeps NAdam's running product of momentum factors in its default dtype; under float64
    it matches ours (a Python float) to the last bits, under float32 to ~1e-9 relative."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _noise(seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    noise = [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]
    return init, noise


def _grad(value, noise, step, i):
    """The gradient of a quadratic plus noise (so the trajectory feeds back into the gradients);
    parameter 1 has no gradient on step 2 (optimizers skip it, as torch does)."""
    if i == 1 and step == 2:
        return None
    return 0.7 * value + noise


def _groups(params, lib_params_lr, extra):
    return [{"params": params[:2]}, {"params": params[2:], "lr": lib_params_lr, **extra}]


def _run(lib, make, init, noise, steps=range(STEPS), params=None, opt=None):
    if lib == "torch":
        params = params or [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
        value = lambda p: p.detach().numpy()
        wrap = torch.from_numpy
    else:
        params = params or [nn.Parameter(thw.tensor(a.copy())) for a in init]
        value = lambda p: p.numpy()
        wrap = thw.tensor
    opt = opt or make(params)
    for s in steps:
        for i, p in enumerate(params):
            g = _grad(value(p), noise[s][i], s, i)
            p.grad = None if g is None else wrap(np.array(g))
        opt.step()
    return params, opt


def _values(params):
    return [p.detach().numpy() if isinstance(p, torch.Tensor) else p.numpy() for p in params]


def _cases(**options):
    keys = list(options)
    return [dict(zip(keys, vals)) for vals in itertools.product(*options.values())]


CASES = {
    "SGD": [dict(lr=0.1, **kw) for kw in _cases(momentum=(0.0, 0.9), dampening=(0.0, 0.2), nesterov=(False, True),
                                                weight_decay=(0.0, 0.05), maximize=(False, True))
            if not (kw["nesterov"] and (kw["momentum"] == 0 or kw["dampening"] != 0))],
    "Adam": _cases(lr=(0.01,), weight_decay=(0.0, 0.1), amsgrad=(False, True), maximize=(False, True),
                   betas=((0.9, 0.999), (0.5, 0.8))),
    "AdamW": _cases(lr=(0.01,), weight_decay=(0.0, 0.1), amsgrad=(False, True), maximize=(False, True)),
    "RMSprop": _cases(alpha=(0.99, 0.7), weight_decay=(0.0, 0.1), momentum=(0.0, 0.8), centered=(False, True),
                      maximize=(False, True)) + [dict(lr=0.05, eps=1e-3)],
    "Adagrad": _cases(lr_decay=(0.0, 0.05), weight_decay=(0.0, 0.1), initial_accumulator_value=(0.0, 0.3),
                      maximize=(False, True)) + [dict(lr=0.5, eps=1e-2)],
    "Adadelta": _cases(lr=(1.0, 0.3), rho=(0.9, 0.5), weight_decay=(0.0, 0.1), maximize=(False, True))
    + [dict(eps=1e-3)],
    "NAdam": _cases(lr=(0.01,), weight_decay=(0.0, 0.1), decoupled_weight_decay=(False, True),
                    momentum_decay=(4e-3, 0.1), maximize=(False, True)) + [dict(betas=(0.5, 0.8), eps=1e-3)],
    "Adamax": _cases(lr=(0.01,), weight_decay=(0.0, 0.1), maximize=(False, True), betas=((0.9, 0.999), (0.5, 0.8)))
    + [dict(eps=1e-2)],
}
DEFAULT_LR = {"Adam": 1e-3, "AdamW": 1e-3, "RMSprop": 1e-2, "Adagrad": 1e-2, "Adadelta": 1.0, "NAdam": 2e-3,
              "Adamax": 2e-3}
ALL = [(name, kw) for name, cases in CASES.items() for kw in cases]


def _ids(v):
    return v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items())


def _make(lib, name, kw):
    """Two groups: the second with its own lr (and, for SGD/RMSprop, its own momentum)."""
    mod = torch.optim if lib == "torch" else optim
    extra = {"momentum": 0.5} if name in ("SGD", "RMSprop") and kw.get("momentum") else {}
    lr2 = 0.5 * (kw["lr"] if "lr" in kw else DEFAULT_LR[name])
    return lambda ps: getattr(mod, name)(_groups(ps, lr2, extra), **kw)


@pytest.mark.parametrize("name,kw", ALL, ids=_ids)
def test_trajectory_matches_torch(name, kw):
    init, noise = _noise()
    ours, opt = _run("ours", _make("ours", name, kw), init, noise)
    theirs, topt = _run("torch", _make("torch", name, kw), init, noise)
    for a, b in zip(_values(ours), _values(theirs)):
        assert a.dtype == b.dtype == np.float64 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-13)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]


def test_defaults_match_torch():
    for name in CASES:
        ours = getattr(optim, name)([nn.Parameter(thw.zeros(1))], **({"lr": 0.1} if name == "SGD" else {}))
        theirs = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **({"lr": 0.1} if name == "SGD" else {}))
        for k, v in theirs.defaults.items():
            if k in ("foreach", "fused", "capturable", "differentiable"):
                continue
            assert ours.defaults[k] == (tuple(v) if isinstance(v, (tuple, list)) else v), (name, k)


@pytest.mark.parametrize("name", CASES)
def test_state_has_torchs_keys(name):
    init, noise = _noise()
    kw = CASES[name][-1]
    _, opt = _run("ours", _make("ours", name, kw), init, noise, steps=range(2))
    _, topt = _run("torch", _make("torch", name, kw), init, noise, steps=range(2))
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i])
        if "step" in tsd["state"][i]:
            assert sd["state"][i]["step"] == tsd["state"][i]["step"].item()


ROUND_TRIP = [(name, CASES[name][i]) for name in CASES for i in (0, -1)] + [
    ("RMSprop", dict(momentum=0.9, centered=True)), ("NAdam", dict(weight_decay=0.1, decoupled_weight_decay=True))]


@pytest.mark.parametrize("name,kw", ROUND_TRIP, ids=_ids)
def test_state_dict_round_trip_resumes_identically(name, kw, tmp_path):
    init, noise = _noise(1)
    make = _make("ours", name, kw)
    full, _ = _run("ours", make, init, noise)
    half, opt = _run("ours", make, init, noise, steps=range(3))
    thw.save({"opt": opt.state_dict()}, tmp_path / "opt.npz")
    state = thw.load(tmp_path / "opt.npz")["opt"]
    params = [nn.Parameter(thw.tensor(v)) for v in _values(half)]
    fresh = getattr(optim, name)(_groups(params, 123.0, {}), lr=7.0) if name != "SGD" else \
        optim.SGD(_groups(params, 123.0, {}), lr=7.0)
    fresh.load_state_dict(state)
    resumed, _ = _run("ours", None, init, noise, steps=range(3, STEPS), params=params, opt=fresh)
    for a, b in zip(_values(full), _values(resumed)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta", "NAdam", "Adamax"])
def test_resumes_from_torch_state(name):
    init, noise = _noise(2)
    kw = CASES[name][-1]
    theirs, topt = _run("torch", _make("torch", name, kw), init, noise, steps=range(3))
    tsd = topt.state_dict()
    state = {"state": {i: {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in s.items()}
                       for i, s in tsd["state"].items()}, "param_groups": tsd["param_groups"]}
    params = [nn.Parameter(thw.tensor(v.copy())) for v in _values(theirs)]
    opt = _make("ours", name, kw)(params)
    opt.load_state_dict(state)
    _run("ours", None, init, noise, steps=range(3, STEPS), params=params, opt=opt)
    _run("torch", None, init, noise, steps=range(3, STEPS), params=theirs, opt=topt)
    for a, b in zip(_values(params), _values(theirs)):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-13)


@pytest.mark.parametrize("name", list(CASES))
def test_float32_stays_float32_and_grad_untouched(name):
    rng = np.random.default_rng(3)
    params = [nn.Parameter(thw.tensor(rng.standard_normal(s).astype(np.float32))) for s in SHAPES]
    kw = dict(CASES[name][-1], weight_decay=0.1) if name != "SGD" else dict(lr=0.1, momentum=0.9, weight_decay=0.1)
    opt = getattr(optim, name)(params, **kw)
    for _ in range(2):
        for p in params:
            p.grad = thw.tensor(rng.standard_normal(p.shape).astype(np.float32))
        held = [(p.grad._data, p.grad.numpy()) for p in params]
        opt.step()
        for p, (arr, before) in zip(params, held):
            assert p.dtype == np.float32 and p.grad._data is arr
            np.testing.assert_array_equal(arr, before)
    for s in opt.state.values():
        assert all(v.dtype == np.float32 for v in s.values() if isinstance(v, thw.Tensor))


@pytest.mark.parametrize("name,bad,match", [
    ("RMSprop", dict(alpha=-0.1), "alpha"), ("RMSprop", dict(momentum=-1), "momentum"),
    ("Adagrad", dict(lr_decay=-1), "lr_decay"), ("Adagrad", dict(initial_accumulator_value=-1), "initial_acc"),
    ("Adadelta", dict(rho=1.5), "rho"), ("NAdam", dict(momentum_decay=-1), "momentum_decay"),
    ("NAdam", dict(betas=(1.0, 0.9)), "beta"), ("Adamax", dict(betas=(0.9, -0.1)), "beta"),
    ("Adamax", dict(eps=-1), "epsilon")])
def test_invalid_hyperparameters_raise_like_torch(name, bad, match):
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([nn.Parameter(thw.zeros(1))], **bad)
    with pytest.raises(ValueError, match=match):
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **bad)


@pytest.mark.parametrize("name", ["RMSprop", "Adadelta", "NAdam", "Adamax", "Adam", "Adagrad", "SGD"])
def test_unsupported_flags_raise_instead_of_being_ignored(name):
    kw = {"lr": 0.1} if name == "SGD" else {}
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([nn.Parameter(thw.zeros(1))], differentiable=True, **kw)
