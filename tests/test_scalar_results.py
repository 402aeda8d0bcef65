"""0-d results (comparisons, full reductions, scalar indexing) behave as torch's 0-d tensors:
``bool()``, ``.item()``, ``.numpy()`` and ``.tolist()`` work and give torch's values and types."""
import operator

import numpy as np
import pytest
import torch

import tinygrad_hw as thw

COMPARISONS = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


def _check_like_torch(ours, theirs):
    """Same 0-d-ness, dtype and every host conversion as torch's result."""
    assert isinstance(ours, thw.Tensor)
    assert ours.shape == tuple(theirs.shape) == ()
    got, want = ours.numpy(), theirs.numpy()
    assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)
    item, ref = ours.item(), theirs.item()
    assert type(item) is type(ref)
    assert item == pytest.approx(ref, rel=1e-6)
    tl, rl = ours.tolist(), theirs.tolist()
    assert type(tl) is type(rl) and tl == pytest.approx(rl, rel=1e-6)
    assert bool(ours) == bool(theirs)
    if want.dtype.kind in "iub":
        assert int(ours) == int(theirs)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6)
    if want.dtype == np.bool_:      # the "keep the best checkpoint" pattern
        assert (1 if ours else 0) == (1 if theirs else 0)


@pytest.mark.parametrize("op", COMPARISONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("a, b", [(1.0, 2.0), (2.0, 2.0), (3.0, -1.0)])
def test_comparisons_of_0d_tensors(device, op, a, b):
    ta, tb = thw.tensor(a, device=device), thw.tensor(b, device=device)
    ra, rb = torch.tensor(a), torch.tensor(b)
    _check_like_torch(op(ta, tb), op(ra, rb))      # Tensor with Tensor
    _check_like_torch(op(ta, b), op(ra, b))        # Tensor with a Python scalar
    _check_like_torch(op(a, tb), op(a, rb))        # Python scalar with Tensor (reflected)
    _check_like_torch(op(ta, int(b)), op(ra, int(b)))


@pytest.mark.parametrize("op", COMPARISONS, ids=lambda f: f.__name__)
def test_comparisons_of_reduced_values(device, op):
    x = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -0.5]], np.float32)
    ours, theirs = thw.tensor(x, device=device), torch.tensor(x)
    _check_like_torch(op(ours.mean(), 0.5), op(theirs.mean(), 0.5))
    _check_like_torch(op(ours.sum(), ours.max()), op(theirs.sum(), theirs.max()))
    best = float("inf")
    for loss in (ours.mean(), ours.min(), ours.sum()):
        if loss < best:                            # must not raise
            best = loss.item()
    assert best == pytest.approx(float(x.min()))


REDUCTIONS = ["sum", "mean", "max", "min", "argmax", "argmin", "amax", "amin", "var", "std",
              "prod", "any", "all"]


def _reduce(t, name, dim):
    if name in ("any", "all") and dim is None:
        t = t > 0
    fn = getattr(t, name)
    return fn() if dim is None else fn(dim)


@pytest.mark.filterwarnings("ignore:Degrees of freedom", "ignore:invalid value", "ignore:.*degrees of freedom")
@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("case", ["0d", "1d_full", "2d_full", "1d_dim0", "0d_dim0"])
def test_reductions_to_0d(device, name, case):
    if not hasattr(thw.Tensor, name):
        pytest.skip(f"Tensor.{name} is not implemented here")
    x = {"0d": np.array(1.5, np.float32), "1d_full": np.array([0.5, -2.0, 3.0], np.float32),
         "2d_full": np.array([[0.5, -2.0], [3.0, 1.0]], np.float32),
         "1d_dim0": np.array([0.5, -2.0, 3.0], np.float32),
         "0d_dim0": np.array(-0.75, np.float32)}[case]
    dim = 0 if case.endswith("dim0") else None
    if name in ("var", "std") and x.size == 1:
        x = np.array([x.reshape(-1)[0], 2.0], np.float32) if case != "0d" else x
    if name in ("any", "all") and dim is not None:
        x = x > 0
    ours, theirs = _reduce(thw.tensor(x, device=device), name, dim), _reduce(torch.tensor(x), name, dim)
    if isinstance(theirs, tuple):                  # max/min over a dim: (values, indices)
        for o, t in zip(ours, theirs):
            _check_like_torch(o, t)
    elif name in ("var", "std") and x.size == 1:
        assert np.isnan(ours.item()) and np.isnan(theirs.item())
    else:
        _check_like_torch(ours, theirs)


def test_reductions_keep_0d_through_arithmetic(device):
    x = np.array([1.0, 2.0, 4.0], np.float32)
    ours, theirs = thw.tensor(x, device=device), torch.tensor(x)
    _check_like_torch(ours.sum() * 2 - ours.mean(), theirs.sum() * 2 - theirs.mean())
    _check_like_torch(-ours.max(), -theirs.max())
    _check_like_torch(abs(ours.min() - 9), abs(theirs.min() - 9))
    _check_like_torch((ours.sum() > 1) & (ours.mean() < 5), (theirs.sum() > 1) & (theirs.mean() < 5))
    _check_like_torch(~(ours.sum() > 1), ~(theirs.sum() > 1))


def test_scalar_indexing(device):
    v = np.array([3.0, -1.0, 2.5], np.float32)
    m = np.arange(12, dtype=np.int64).reshape(3, 4)
    ov, tv = thw.tensor(v, device=device), torch.tensor(v)
    om, tm = thw.tensor(m, device=device), torch.tensor(m)
    _check_like_torch(ov[0], tv[0])
    _check_like_torch(ov[-1], tv[-1])
    _check_like_torch(om[1, 2], tm[1, 2])
    _check_like_torch(om[2][3], tm[2][3])
    _check_like_torch(om[thw.tensor(1), 0], tm[torch.tensor(1), 0])
    _check_like_torch(ov[0] < ov[1], tv[0] < tv[1])


def test_0d_gradients_and_leaf_grads_are_arrays(device):
    x = thw.tensor(2.0, device=device, requires_grad=True)
    y = thw.tensor(3.0, device=device, requires_grad=True)
    (x * y + x / y).backward()
    tx = torch.tensor(2.0, requires_grad=True)
    ty = torch.tensor(3.0, requires_grad=True)
    (tx * ty + tx / ty).backward()
    _check_like_torch(x.grad, tx.grad)
    _check_like_torch(y.grad, ty.grad)
