"""Optimizers and learning-rate schedules against torch: same params and grads, same numbers."""
import itertools
import os

import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from tinygrad_hw import nn, optim
from tinygrad_hw.optim import lr_scheduler

SHAPES = [(3, 4), (5,), ()]
STEPS = 6


def _problem(dtype=np.float64, seed=0):
    """Initial parameter values and one gradient per step for each parameter."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return init, grads


def _run_ours(make, init, grads, steps=None):
    params = [nn.Parameter(thw.tensor(a)) for a in init]
    opt = make(params)
    for g in grads[:steps]:
        for p, gi in zip(params, g):
            p.grad = thw.tensor(gi)
        opt.step()
    return params, opt


def _run_torch(make, init, grads):
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt = make(params)
    for g in grads:
        for p, gi in zip(params, g):
            p.grad = torch.from_numpy(gi.copy())
        opt.step()
    return params


def _assert_same(ours, theirs, rtol=1e-6):
    for p, t in zip(ours, theirs):
        assert p.dtype == t.detach().numpy().dtype
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=rtol, atol=1e-12)


SGD_CASES = [dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
             for m, d, n, wd, mx in itertools.product((0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.05), (False,))
             if not (n and (m == 0 or d != 0))] + [dict(momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)]


@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_sgd_matches_torch(kw):
    init, grads = _problem()
    ours, _ = _run_ours(lambda ps: optim.SGD(ps, lr=0.1, **kw), init, grads)
    theirs = _run_torch(lambda ps: torch.optim.SGD(ps, lr=0.1, **kw), init, grads)
    _assert_same(ours, theirs)


def test_sgd_invalid_nesterov_raises():
    p = [nn.Parameter(thw.zeros(2))]
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1.0)


ADAM_CASES = [(cls, dict(weight_decay=wd, amsgrad=ams, betas=betas))
              for cls in ("Adam", "AdamW") for wd in (0.0, 0.1) for ams in (False, True)
              for betas in ((0.9, 0.999), (0.5, 0.9))] + [("Adam", dict(maximize=True, eps=1e-3))]


@pytest.mark.parametrize("cls,kw", ADAM_CASES, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={x}" for k, x in v.items()))
def test_adam_matches_torch(cls, kw):
    init, grads = _problem()
    ours, _ = _run_ours(lambda ps: getattr(optim, cls)(ps, lr=0.01, **kw), init, grads)
    theirs = _run_torch(lambda ps: getattr(torch.optim, cls)(ps, lr=0.01, **kw), init, grads)
    _assert_same(ours, theirs)


def test_adamw_default_weight_decay_is_torch_default():
    p = [nn.Parameter(thw.zeros(2))]
    assert optim.AdamW(p).param_groups[0]["weight_decay"] == torch.optim.AdamW(
        [torch.zeros(2, requires_grad=True)]).param_groups[0]["weight_decay"] == 1e-2
    assert optim.Adam(p).defaults["lr"] == 1e-3 and optim.Adam(p).defaults["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
                                  lambda ps: optim.Adam(ps, weight_decay=0.1, amsgrad=True),
                                  lambda ps: optim.AdamW(ps)], ids=["sgd", "adam", "adamw"])
def test_float32_stays_float32_and_grad_is_not_modified(make):
    init, grads = _problem(np.float32)
    params = [nn.Parameter(thw.tensor(a)) for a in init]
    opt = make(params)
    for g in grads[:3]:
        for p, gi in zip(params, g):
            p.grad = thw.tensor(gi)
        held = [(p.grad, p.grad._data, p.grad.numpy()) for p in params]
        opt.step()
        for p, (grad, arr, values) in zip(params, held):
            assert p.grad is grad and p.grad._data is arr
            np.testing.assert_array_equal(arr, values)
            assert p.dtype == np.float32
    for s in opt.state.values():
        assert all(v.dtype == np.float32 for v in s.values() if isinstance(v, thw.Tensor))


def test_param_groups_with_their_own_lr_match_torch():
    init, grads = _problem()

    def groups(ps, lib):
        return lib.SGD([{"params": ps[:2], "lr": 0.5}, {"params": ps[2:], "momentum": 0.5}], lr=0.1, momentum=0.9)

    ours, opt = _run_ours(lambda ps: groups(ps, optim), init, grads)
    theirs = _run_torch(lambda ps: groups(ps, torch.optim), init, grads)
    _assert_same(ours, theirs)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]


def test_params_without_grad_are_skipped_and_zero_grad():
    a, b = nn.Parameter(thw.ones(2)), nn.Parameter(thw.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = thw.ones(2)
    opt.step()
    np.testing.assert_array_equal(b.numpy(), 1.0)
    assert b not in opt.state and a in opt.state
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), 0.0)
    opt.zero_grad()
    assert a.grad is None


def test_closure_is_called_with_grad_enabled():
    w = nn.Parameter(thw.tensor([2.0]))
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with thw.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and w.item() == 1.0


def test_bad_params_raise():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(nn.Parameter(thw.zeros(1)), lr=0.1)
    x = thw.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([x * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [x]}, {"params": [x]}], lr=0.1)
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        optim.SGD([x])


def test_state_dict_layout_matches_torch():
    init, grads = _problem()
    _, ours = _run_ours(lambda ps: optim.Adam(ps, lr=0.01), init, grads, steps=2)
    tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    theirs = torch.optim.Adam(tps, lr=0.01)
    for p in tps:
        p.grad = torch.ones_like(p)
    theirs.step()
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert list(sd["state"]) == list(tsd["state"]) == [0, 1, 2]
    assert set(sd["state"][0]) == set(tsd["state"][0])
    assert sd["state"][0]["step"] == 2
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"]
    for k in ("lr", "betas", "eps", "weight_decay", "amsgrad"):
        assert sd["param_groups"][0][k] == tsd["param_groups"][0][k]


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
                                  lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
                                  lambda ps: optim.AdamW(ps, lr=0.01)], ids=["sgd", "adam", "adamw"])
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_round_trip_resumes_identically(make, through_file, tmp_path):
    init, grads = _problem()
    full, _ = _run_ours(make, init, grads)
    half, opt = _run_ours(make, init, grads, steps=3)
    state = opt.state_dict()
    if through_file:
        thw.save({"opt": state}, tmp_path / "opt.npz")
        state = thw.load(tmp_path / "opt.npz")["opt"]
    params = [nn.Parameter(thw.tensor(p.numpy())) for p in half]
    resumed = make(params)
    resumed.load_state_dict(state)
    for g in grads[3:]:
        for p, gi in zip(params, g):
            p.grad = thw.tensor(gi)
        resumed.step()
    for a, b in zip(full, params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # the loaded state is a copy: stepping the original does not touch the resumed optimizer
    before = [s for s in resumed.state.values()]
    assert all(id(x) not in {id(y) for s2 in opt.state.values() for y in s2.values()}
               for s in before for x in s.values() if isinstance(x, thw.Tensor))


def test_load_torch_optimizer_state_resumes_like_torch():
    init, grads = _problem()
    tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    topt = torch.optim.Adam(tps, lr=0.01, weight_decay=0.1)
    for g in grads[:3]:
        for p, gi in zip(tps, g):
            p.grad = torch.from_numpy(gi.copy())
        topt.step()
    tsd = topt.state_dict()
    state = {"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in tsd["state"].items()},
             "param_groups": tsd["param_groups"]}
    params = [nn.Parameter(thw.tensor(p.detach().numpy())) for p in tps]
    opt = optim.Adam(params)
    opt.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["weight_decay"] == 0.1
    for g in grads[3:]:
        for p, tp, gi in zip(params, tps, g):
            p.grad = thw.tensor(gi)
            tp.grad = torch.from_numpy(gi.copy())
        opt.step()
        topt.step()
    _assert_same(params, tps)


def test_load_state_dict_with_wrong_group_sizes_raises():
    opt = optim.SGD([nn.Parameter(thw.zeros(1)), nn.Parameter(thw.zeros(1))], lr=0.1)
    other = optim.SGD([nn.Parameter(thw.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(other.state_dict())


# --- learning-rate schedules ----------------------------------------------------------------------
SCHEDULES = {
    "step": lambda lib, o: lib.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda lib, o: lib.MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3),
    "cosine": lambda lib, o: lib.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    "cosine_zero_min": lambda lib, o: lib.CosineAnnealingLR(o, T_max=4),
}


def _our_opt(lrs=(0.1, 0.02)):
    return optim.SGD([{"params": [nn.Parameter(thw.zeros(1))], "lr": lr} for lr in lrs], lr=1.0, momentum=0.9)


def _torch_opt(lrs=(0.1, 0.02)):
    return torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs],
                           lr=1.0, momentum=0.9)


def _lr_sequence(sched, opt, epochs=20):
    seq = []
    for _ in range(epochs):
        seq.append(list(sched.get_last_lr()))
        opt.step()
        sched.step()
    return seq


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_torch_for_20_epochs(name):
    opt, topt = _our_opt(), _torch_opt()
    ours = _lr_sequence(SCHEDULES[name](lr_scheduler, opt), opt)
    theirs = _lr_sequence(SCHEDULES[name](torch.optim.lr_scheduler, topt), topt)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=0)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups], rel=1e-13)
    assert all(g["initial_lr"] == lr for g, lr in zip(opt.param_groups, (0.1, 0.02)))


@pytest.mark.parametrize("name", ["step", "multistep", "cosine"])
def test_schedule_with_explicit_epoch_matches_torch(name):
    opt, topt = _our_opt(), _torch_opt()
    sched, tsched = SCHEDULES[name](lr_scheduler, opt), SCHEDULES[name](torch.optim.lr_scheduler, topt)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (4, 9, 5):
            sched.step(epoch)
            tsched.step(epoch)
            np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-13)
    assert sched.last_epoch == tsched.last_epoch == 5


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_state_dict_round_trip_resumes(name, tmp_path):
    opt = _our_opt()
    sched = SCHEDULES[name](lr_scheduler, opt)
    full = _lr_sequence(sched, opt, 20)
    opt = _our_opt()
    sched = SCHEDULES[name](lr_scheduler, opt)
    first = _lr_sequence(sched, opt, 8)
    path = os.path.join(tmp_path, "ckpt.npz")
    thw.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, path)
    ckpt = thw.load(path)
    opt2 = _our_opt(lrs=(5.0, 5.0))            # fresh objects with different settings
    sched2 = SCHEDULES[name](lr_scheduler, opt2)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    assert sched2.last_epoch == 8
    rest = _lr_sequence(sched2, opt2, 12)
    assert first + rest == full


def test_resuming_scheduler_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_our_opt(), step_size=2, last_epoch=3)
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)


# --- flat buffers: the default step packs a group's parameters into one buffer per dtype --------
FLAT_SHAPES = [(300, 250), (5,), (), (16, 3, 3, 3), (70000,), (40, 30)]      # spans several cache blocks


def _packable(opt, p):
    """Whether the default step keeps ``p`` in a flat buffer (SGD: only tensors of two blocks or more)."""
    return p.numel() >= (opt._min_numel(p) if isinstance(opt, optim.SGD) else 0)


def _assert_packed(opt, params):
    packed = [p for p in params if _packable(opt, p)]
    assert packed and len({id(p._data.base) for p in packed}) == 1
    assert all(p._data.base is not None for p in packed)
    assert all(p._data.base is None for p in params if not _packable(opt, p))


def _flat_problem(dtype, seed=0, steps=5):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in FLAT_SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in FLAT_SHAPES] for _ in range(steps)]
    return init, grads


FLAT_CASES = [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)),
              ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01, maximize=True)),
              ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
              ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
              ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.01, amsgrad=True, betas=(0.5, 0.8)))]


def _flat_ids(v):
    return v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw", FLAT_CASES, ids=_flat_ids)
def test_flat_step_equals_per_tensor_bit_for_bit(name, kw, dtype):
    init, grads = _flat_problem(dtype)
    flat, fopt = _run_ours(lambda ps: getattr(optim, name)(ps, **kw), init, grads)
    loose, lopt = _run_ours(lambda ps: getattr(optim, name)(ps, foreach=False, **kw), init, grads)
    _assert_packed(fopt, flat)                 # really one flat buffer
    assert all(p._data.base is None for p in loose)
    for a, b in zip(flat, loose):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for pa, pb in zip(flat, loose):
        sa, sb = fopt.state.get(pa, {}), lopt.state.get(pb, {})
        assert set(sa) == set(sb)
        for k in sa:
            np.testing.assert_array_equal(np.asarray(sa[k].numpy() if isinstance(sa[k], thw.Tensor) else sa[k]),
                                          np.asarray(sb[k].numpy() if isinstance(sb[k], thw.Tensor) else sb[k]))


def test_flat_group_with_two_dtypes_matches_torch():
    rng = np.random.default_rng(5)
    init = [rng.standard_normal((30, 20)), rng.standard_normal(7).astype(np.float32), rng.standard_normal(9),
            rng.standard_normal((4, 4)).astype(np.float32)]
    grads = [[rng.standard_normal(a.shape).astype(a.dtype) for a in init] for _ in range(4)]
    ours, opt = _run_ours(lambda ps: optim.Adam(ps, lr=0.01), init, grads)
    theirs = _run_torch(lambda ps: torch.optim.Adam(ps, lr=0.01), init, grads)
    _assert_same(ours, theirs, rtol=1e-5)        # float32 rounding differs from torch's
    packs = opt._flat_packs[id(opt.param_groups[0])].packs
    assert sorted(str(pk.dtype) for pk in packs) == ["float32", "float64"]


def _steps(params, opt, grads):
    for g in grads:
        for p, gi in zip(params, g):
            p.grad = None if gi is None else thw.tensor(gi)
        opt.step()


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_flat_param_without_grad_is_skipped_like_torch(name):
    init, grads = _flat_problem(np.float64)
    grads[2][0] = grads[3][3] = None
    make = {"SGD": lambda lib, ps: lib.SGD(ps, lr=0.1, momentum=0.9), "Adam": lambda lib, ps: lib.Adam(ps, lr=0.01)}
    ours = [nn.Parameter(thw.tensor(a)) for a in init]
    _steps(ours, make[name](optim, ours), grads)
    theirs = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    topt = make[name](torch.optim, theirs)
    for g in grads:
        for p, gi in zip(theirs, g):
            p.grad = None if gi is None else torch.from_numpy(gi.copy())
        topt.step()
    _assert_same(ours, theirs, rtol=1e-12)


def test_flat_replaced_param_data_is_repacked_or_left_shared():
    init, grads = _flat_problem(np.float64)
    params = [nn.Parameter(thw.tensor(a)) for a in init]
    twin = [nn.Parameter(thw.tensor(a)) for a in init]
    opt, topt = optim.SGD(params, lr=0.1, momentum=0.9), optim.SGD(twin, lr=0.1, momentum=0.9, foreach=False)
    _steps(params, opt, grads[:2])
    _steps(twin, topt, grads[:2])
    # a fresh array nobody else holds: it moves into a new flat buffer
    params[4].data = thw.tensor(np.full(70000, 3.0))
    twin[4].data = thw.tensor(np.full(70000, 3.0))
    # an array the user keeps: the parameter keeps sharing it, and the step writes through
    shared = thw.tensor(np.full((300, 250), 0.5))
    params[0].data = shared
    twin[0].data = thw.tensor(np.full((300, 250), 0.5))
    _steps(params, opt, grads[2:])
    _steps(twin, topt, grads[2:])
    for a, b in zip(params, twin):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert params[0]._data is shared._data
    np.testing.assert_array_equal(shared.numpy(), twin[0].numpy())
    gp = opt._flat_packs[id(opt.param_groups[0])]
    assert params[0] in gp.loose and all(p.grad is not None for p in params)
    assert params[4]._data.base is not None and any(params[4] in pk.params for pk in gp.packs)   # re-packed


def test_flat_vector_to_parameters_shares_memory_like_torch():
    init, grads = _flat_problem(np.float64, steps=4)
    ours = [nn.Parameter(thw.tensor(a)) for a in init]
    theirs = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt, topt = optim.SGD(ours, lr=0.1, momentum=0.9), torch.optim.SGD(theirs, lr=0.1, momentum=0.9)

    def run(gs):
        for g in gs:
            for p, t, gi in zip(ours, theirs, g):
                p.grad, t.grad = thw.tensor(gi), torch.from_numpy(gi.copy())
            opt.step()
            topt.step()

    run(grads[:2])
    vec = np.random.default_rng(1).standard_normal(sum(a.size for a in init))
    v, tv = thw.tensor(vec.copy()), torch.from_numpy(vec.copy())
    nn.utils.vector_to_parameters(v, ours)
    torch.nn.utils.vector_to_parameters(tv, theirs)
    run(grads[2:])
    _assert_same(ours, theirs, rtol=1e-12)
    np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-12, atol=1e-14)    # the steps wrote through vec


def test_flat_keeps_sharing_with_data_taken_before_the_first_step():
    init, grads = _flat_problem(np.float64, steps=2)
    params = [nn.Parameter(thw.tensor(a)) for a in init]
    held = params[0].data                      # shares storage with the parameter, as torch's .data
    opt = optim.Adam(params, lr=0.01)
    _steps(params, opt, grads)
    assert held._data is params[0]._data
    np.testing.assert_array_equal(held.numpy(), params[0].numpy())
    assert params[0] in opt._flat_packs[id(opt.param_groups[0])].loose


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_flat_load_state_dict_into_a_stepped_optimizer(name):
    make = {"SGD": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), "Adam": lambda ps: optim.Adam(ps, lr=0.01)}[name]
    init, grads = _flat_problem(np.float64, steps=6)
    full, _ = _run_ours(make, init, grads)
    half, opt = _run_ours(make, init, grads, steps=3)
    saved = opt.state_dict()
    saved = {"state": {i: {k: (v.numpy() if isinstance(v, thw.Tensor) else v) for k, v in s.items()}
                       for i, s in saved["state"].items()}, "param_groups": saved["param_groups"]}
    # an optimizer that has stepped elsewhere (its own flat state) takes the saved state and values
    params = [nn.Parameter(thw.tensor(a)) for a in init]
    other = make(params)
    _steps(params, other, grads[4:])
    for p, h in zip(params, half):
        p._data[...] = h._data                 # in place, as Module.load_state_dict does
    other.load_state_dict(saved)
    _steps(params, other, grads[3:])
    for a, b in zip(full, params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    _assert_packed(other, params)              # still one flat buffer after the load


def test_flat_module_to_double_after_steps_keeps_training():
    from tinygrad_hw.models import MLP
    import tinygrad_hw.nn.functional as F
    x = thw.tensor(np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32))
    y = thw.tensor(np.arange(8) % 3)
    losses = {}
    for foreach in (None, False):
        thw.manual_seed(0)
        model = MLP(6, (5,), 3)
        opt = optim.SGD(model.parameters(), lr=0.1, foreach=foreach)
        out = []
        for i in range(6):
            if i == 3:
                model.double()
                xx = x.double()
            opt.zero_grad()
            loss = F.cross_entropy(model(xx if i >= 3 else x), y)
            loss.backward()
            opt.step()
            out.append(loss.item())
        losses[foreach] = (out, [p.numpy() for p in model.parameters()])
        assert all(p.dtype == np.float64 for p in model.parameters())
    assert losses[None][0] == losses[False][0]
    for a, b in zip(losses[None][1], losses[False][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                     ("Adam", dict(lr=0.01, amsgrad=True)), ("RMSprop", dict(centered=True)),
                                     ("NAdam", dict(weight_decay=0.1))], ids=lambda v: v if isinstance(v, str) else "")
def test_optimizers_on_device_match_cpu_float64(name, kw, device):
    init, grads = _flat_problem(np.float64, steps=3)
    out = {}
    for dev in ("cpu", device):
        params = [nn.Parameter(thw.tensor(a, device=dev)) for a in init]
        opt = getattr(optim, name)(params, **kw)
        for g in grads:
            for p, gi in zip(params, g):
                p.grad = thw.tensor(gi, device=dev)
            opt.step()
        assert all(p.device == thw.device(dev) for p in params)
        out[dev] = [p.numpy() for p in params]
    for a, b in zip(out["cpu"], out[device]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
