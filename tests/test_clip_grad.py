"""nn.utils against torch.nn.utils: clip_grad_norm_ (every norm type, clipping or not, non-finite
norms), clip_grad_value_, parameters_to_vector and vector_to_parameters."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_hw as thw
from tinygrad_hw import nn

TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
NORMS = [2.0, 1.0, math.inf, 3.0, 0.5, -math.inf, 0.0]


def _pair(grads, dtype):
    """Our parameters and torch's with the same gradients (None stays None)."""
    ours, theirs = [], []
    for g in grads:
        g = None if g is None else np.asarray(g)
        shape = (2,) if g is None else g.shape
        p, t = nn.Parameter(thw.zeros(shape, dtype=dtype)), torch.zeros(shape, dtype=getattr(torch, np.dtype(dtype).name),
                                                                           requires_grad=True)
        if g is not None:
            p.grad = thw.tensor(g.astype(dtype))
            t.grad = torch.from_numpy(g.astype(dtype))
        ours.append(p)
        theirs.append(t)
    return ours, theirs


def _grads_equal(ours, theirs, dtype):
    for p, t in zip(ours, theirs):
        if t.grad is None:
            assert p.grad is None
        else:
            assert p.grad.dtype == dtype
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), **TOL[dtype])


shapes = st.lists(st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4)


@given(shapes=shapes, norm_type=st.sampled_from(NORMS), max_norm=st.sampled_from([0.1, 1.0, 1e3]),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 1000))
def test_clip_grad_norm_matches_torch(shapes, norm_type, max_norm, dtype, seed):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s) * rng.uniform(0.1, 3) for s in shapes]
    ours, theirs = _pair(grads, dtype)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, thw.Tensor) and total.shape == () and total.dtype == dtype
    np.testing.assert_allclose(total.item(), ttotal.item(), **TOL[dtype])
    _grads_equal(ours, theirs, dtype)


def test_clip_grad_norm_skips_params_without_grad_and_takes_one_tensor():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 2)), None, rng.standard_normal(4)]
    ours, theirs = _pair(grads, np.float64)
    total = nn.utils.clip_grad_norm_(iter(ours), 0.5)         # any iterable, as torch
    ttotal = torch.nn.utils.clip_grad_norm_(iter(theirs), 0.5)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    _grads_equal(ours, theirs, np.float64)
    one, tone = _pair([rng.standard_normal(5)], np.float64)
    assert nn.utils.clip_grad_norm_(one[0], 0.1, norm_type=math.inf).item() == \
        pytest.approx(torch.nn.utils.clip_grad_norm_(tone[0], 0.1, norm_type=math.inf).item(), rel=1e-12)
    _grads_equal(one, tone, np.float64)
    empty = nn.utils.clip_grad_norm_([], 1.0)
    assert empty.item() == torch.nn.utils.clip_grad_norm_([], 1.0).item() == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_clip_grad_norm_nonfinite(bad, norm_type):
    g = np.array([1.0, bad, 2.0])
    ours, theirs = _pair([g, np.ones(2)], np.float64)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ours, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    # without the flag both scale by the non-finite norm
    total = nn.utils.clip_grad_norm_(ours, 1.0, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type)
    np.testing.assert_array_equal(total.numpy(), ttotal.numpy())
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_get_total_norm_and_clip_grads_with_norm_match_torch():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((4, 3)), rng.standard_normal(7)]
    ours, theirs = _pair(grads, np.float64)
    total = nn.utils.get_total_norm([p.grad for p in ours], 3.0)
    ttotal = torch.nn.utils.get_total_norm([t.grad for t in theirs], 3.0)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    nn.utils.clip_grads_with_norm_(ours, 0.3, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.3, ttotal)
    _grads_equal(ours, theirs, np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip_value", [0.0, 0.3, 5])
def test_clip_grad_value_matches_torch(dtype, clip_value):
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal((3, 4)), None, rng.standard_normal(()), rng.standard_normal(6) * 4]
    ours, theirs = _pair(grads, dtype)
    held = [p.grad for p in ours]
    assert nn.utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    _grads_equal(ours, theirs, dtype)
    assert all(p.grad is g for p, g in zip(ours, held))        # in place


def test_parameters_to_vector_values_and_gradient():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in [(2, 3), (4,), ()]]
    ours = [nn.Parameter(thw.tensor(a)) for a in arrays]
    theirs = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    v, tv = nn.utils.parameters_to_vector(ours), torch.nn.utils.parameters_to_vector(theirs)
    assert v.shape == tuple(tv.shape) == (11,)
    np.testing.assert_array_equal(v.numpy(), tv.detach().numpy())
    w = rng.standard_normal(11)
    (v * thw.tensor(w)).sum().backward()
    (tv * torch.from_numpy(w)).sum().backward()
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_vector_to_parameters_shares_memory_like_torch():
    rng = np.random.default_rng(4)
    ours = [nn.Parameter(thw.zeros(s, dtype=thw.float64)) for s in [(2, 3), (4,), ()]]
    theirs = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in [(2, 3), (4,), ()]]
    vec = rng.standard_normal(11)
    v, tv = thw.tensor(vec.copy()), torch.from_numpy(vec.copy())
    nn.utils.vector_to_parameters(v, ours)
    torch.nn.utils.vector_to_parameters(tv, theirs)
    for p, t in zip(ours, theirs):
        assert p.shape == tuple(t.shape)
        np.testing.assert_array_equal(p.numpy(), t.detach().numpy())
    v.zero_()
    tv.zero_()
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.numpy(), t.detach().numpy())
        assert p.requires_grad
    with pytest.raises(TypeError, match="expected Tensor"):
        nn.utils.vector_to_parameters(vec, ours)
    with pytest.raises(RuntimeError, match="need 11 values"):
        nn.utils.vector_to_parameters(thw.zeros(10), ours)


@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0])
def test_clip_grad_norm_on_device_matches_cpu(norm_type, device):
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(s) for s in [(4, 5), (3,), ()]]
    out = {}
    for dev in ("cpu", device):
        params = [nn.Parameter(thw.zeros(g.shape, dtype=thw.float64, device=dev)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = thw.tensor(g, device=dev)
        total = nn.utils.clip_grad_norm_(params, 0.5, norm_type=norm_type)
        assert total.device == thw.device(dev)
        out[dev] = (total.item(), [p.grad.numpy() for p in params])
    assert out["cpu"][0] == pytest.approx(out[device][0], rel=1e-12)
    for a, b in zip(out["cpu"][1], out[device][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
