"""layer_norm, group_norm, instance_norm and their modules (and BatchNorm3d) against torch."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn
from oracle import compare

dtypes = st.sampled_from([np.float64, np.float32])


@settings(max_examples=25, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2), tail=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       affine=st.sampled_from(["none", "weight", "both"]), dtype=dtypes, seed=st.integers(0, 99))
def test_layer_norm_matches_torch(lead, tail, affine, dtype, seed, device):
    rng = np.random.default_rng(seed)
    shape, norm = tuple(lead) + tuple(tail), tuple(tail)
    arrays = [rng.standard_normal(shape).astype(dtype)]
    if affine != "none":
        arrays.append(rng.standard_normal(norm).astype(dtype))
    if affine == "both":
        arrays.append(rng.standard_normal(norm).astype(dtype))
    compare(lambda x, *wb: F.layer_norm(x, norm, *wb), arrays,
            torch_fn=lambda x, *wb: torch.nn.functional.layer_norm(x, norm, *wb), device=device)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 3), groups=st.integers(1, 3), per=st.integers(1, 3),
       spatial=st.lists(st.integers(1, 4), min_size=0, max_size=2), affine=st.booleans(), dtype=dtypes,
       seed=st.integers(0, 99))
def test_group_norm_matches_torch(N, groups, per, spatial, affine, dtype, seed, device):
    rng = np.random.default_rng(seed)
    C = groups * per
    shape = (N, C) + tuple(spatial)
    if int(np.prod(shape)) // (N * groups) < 2:
        shape = shape + (2,)
    arrays = [rng.standard_normal(shape).astype(dtype)]
    if affine:
        arrays += [rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)]
    compare(lambda x, *wb: F.group_norm(x, groups, *wb), arrays,
            torch_fn=lambda x, *wb: torch.nn.functional.group_norm(x, groups, *wb), device=device)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_instance_norm_modules_match_torch_with_running_stats(dims):
    rng = np.random.default_rng(dims)
    x = rng.standard_normal((3, 4) + (5,) * dims)
    ours = getattr(nn, f"InstanceNorm{dims}d")(4, affine=True, track_running_stats=True).double()
    theirs = getattr(torch.nn, f"InstanceNorm{dims}d")(4, affine=True, track_running_stats=True).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(rng.standard_normal(4)))
        theirs.bias.copy_(torch.from_numpy(rng.standard_normal(4)))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    for _ in range(2):
        np.testing.assert_allclose(ours(thw.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-10)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(thw.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)


def test_instance_norm_without_stats_and_gradcheck():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    compare(lambda t: F.instance_norm(t), [x], torch_fn=lambda t: torch.nn.functional.instance_norm(t))
    t = thw.tensor(x[:1, :2, :3, :3], requires_grad=True)
    w = thw.tensor(np.array([0.5, 2.0]), requires_grad=True)
    assert thw.gradcheck(lambda a, b: F.group_norm(a, 1, b), [t, w])
    assert thw.gradcheck(lambda a: F.layer_norm(a, (3, 3)), [t])


def test_layer_and_group_norm_modules_and_batchnorm3d():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3, 3, 3)).astype(np.float32)
    for ours, theirs in [(nn.LayerNorm((3, 3)), torch.nn.LayerNorm((3, 3))),
                         (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
                         (nn.BatchNorm3d(4), torch.nn.BatchNorm3d(4))]:
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
        np.testing.assert_allclose(ours(thw.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(thw.ones(2, 3), (4,))
    with pytest.raises(ValueError, match="must divide"):
        F.group_norm(thw.ones(2, 3, 4), 2)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(2, 3)
    with pytest.raises(ValueError, match="expected 5D"):
        nn.BatchNorm3d(3)(thw.ones(2, 3, 4, 4))
