"""Tensor basics: creation, dtype rules and promotion, attributes, host and device conversion."""
import numpy as np
import pytest
import torch

import tinygrad_hw as thw


# --- creation ---------------------------------------------------------------------------------
def test_tensor_dtype_rules(device):
    assert thw.tensor(1.5, device=device).dtype == thw.float32
    assert thw.tensor([[1.0, 2.0]], device=device).dtype == thw.float32
    assert thw.tensor([1, 2.5], device=device).dtype == thw.float32
    assert thw.tensor([1, 2], device=device).dtype == thw.int64
    assert thw.tensor(3, device=device).dtype == thw.int64
    assert thw.tensor([True, False], device=device).dtype == thw.bool
    for dt in (np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_):
        assert thw.tensor(np.zeros(3, dtype=dt), device=device).dtype == np.dtype(dt)
    assert thw.tensor(np.float64(2.0), device=device).dtype == thw.float64   # NumPy scalars keep theirs
    assert thw.tensor([1, 2], dtype=thw.float64, device=device).dtype == thw.float64
    assert thw.tensor(np.ones(2), dtype=thw.float32, device=device).dtype == thw.float32
    assert thw.tensor([[1.0, 2.0], [3.0, 4.0]], device=device).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_tensor_copies_its_input(device):
    a = np.arange(3.0)
    t = thw.tensor(a, device=device)
    a[0] = 10.0
    assert t.tolist() == [0.0, 1.0, 2.0]
    u = thw.tensor(t)
    t._data[1] = -1.0
    assert u.tolist() == [0.0, 1.0, 2.0]


def test_from_numpy_shares_memory():
    a = np.arange(4, dtype=np.int32)
    t = thw.from_numpy(a)
    assert t.dtype == thw.int32 and t.device == "cpu"
    a[0] = 7
    assert t.tolist() == [7, 1, 2, 3]
    t._data[1] = 9
    assert a[1] == 9
    with pytest.raises(TypeError, match="numpy.ndarray"):
        thw.from_numpy([1, 2])


def test_filled_creation(device):
    for fn, val in ((thw.zeros, 0.0), (thw.ones, 1.0)):
        for t in (fn(2, 3, device=device), fn((2, 3), device=device), fn([2, 3], device=device)):
            assert t.shape == (2, 3) and t.dtype == thw.float32 and np.all(t.numpy() == val)
        assert fn(device=device).shape == ()
        assert fn(4, dtype=thw.int64, device=device).dtype == thw.int64
        assert fn(2, device=device, requires_grad=True).requires_grad
    assert thw.full((2, 2), 1.5, device=device).tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert thw.full((2,), 1.5, device=device).dtype == thw.float32
    assert thw.full((2,), 3, device=device).dtype == torch.full((2,), 3).numpy().dtype == np.int64
    assert thw.full((2,), True, device=device).dtype == thw.bool
    assert thw.full(3, 2.0, dtype=thw.float64, device=device).dtype == thw.float64
    e = thw.empty(3, 2, device=device)
    assert e.shape == (3, 2) and e.dtype == thw.float32


def test_arange_matches_torch(device):
    for args in [(5,), (2, 7), (0, 1, 0.25), (1.0, 4.0), (10, 0, -3), (0, 2.5, 0.5)]:
        ours, ref = thw.arange(*args, device=device), torch.arange(*args)
        assert ours.dtype == ref.numpy().dtype, args
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    assert thw.arange(3, dtype=thw.float64, device=device).dtype == thw.float64


def test_eye_linspace_randint_randperm(device):
    for args in [(3,), (2, 4)]:
        ours, ref = thw.eye(*args, device=device), torch.eye(*args)
        assert ours.dtype == thw.float32
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    ours, ref = thw.linspace(-1, 2, 7, device=device), torch.linspace(-1, 2, 7)
    assert ours.dtype == thw.float32
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)
    r = thw.randint(3, 9, (1000,), device=device)
    assert r.dtype == thw.int64 and r.shape == (1000,) and set(r.tolist()) == set(range(3, 9))
    assert set(thw.randint(4, size=(200,), device=device).tolist()) == {0, 1, 2, 3}
    assert thw.randint(0, 2, 5, device=device).shape == (5,)
    p = thw.randperm(10, device=device)
    assert p.dtype == thw.int64 and sorted(p.tolist()) == list(range(10))


def test_like_functions(device):
    x = thw.ones(2, 3, dtype=thw.float64, device=device)
    for fn in (thw.zeros_like, thw.ones_like, thw.empty_like, thw.rand_like, thw.randn_like):
        y = fn(x)
        assert y.shape == x.shape and y.dtype == thw.float64 and y.device == x.device and not y.requires_grad
    assert thw.zeros_like(x, dtype=thw.float32).dtype == thw.float32
    assert thw.ones_like(x, requires_grad=True).requires_grad
    assert thw.full_like(x, 7.0).tolist() == [[7.0] * 3] * 2
    assert thw.zeros_like(thw.tensor([1, 2], device=device)).dtype == thw.int64


def test_random_creation_and_manual_seed(device):
    thw.manual_seed(123)
    a, b = thw.rand(3, 4, device=device), thw.randn(5, device=device)
    thw.manual_seed(123)
    a2, b2 = thw.rand(3, 4, device=device), thw.randn(5, device=device)
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    thw.manual_seed(124)
    assert not np.array_equal(thw.rand(3, 4, device=device).numpy(), a.numpy())
    assert a.dtype == b.dtype == thw.float32
    assert thw.rand(2, dtype=thw.float64, device=device).dtype == thw.float64
    u = thw.rand(20000, device=device).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
    n = thw.randn(20000, device=device).numpy()
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03


def test_integer_and_bool_tensors_cannot_require_grad(device):
    for make in (lambda: thw.tensor([1, 2], device=device, requires_grad=True),
                 lambda: thw.tensor([True], device=device, requires_grad=True),
                 lambda: thw.zeros(2, dtype=thw.int64, device=device, requires_grad=True),
                 lambda: thw.arange(3, device=device).requires_grad_()):
        with pytest.raises(RuntimeError, match="floating point.*int64|floating point.*bool"):
            make()


# --- attributes and conversion ------------------------------------------------------------------
def test_attributes(device):
    x = thw.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    assert x.shape == (1, 3) and x.ndim == 2 and x.dtype == thw.float32
    assert x.device == thw.device(device) and x.device == device and str(x.device).startswith(device)
    assert x.requires_grad and x.is_leaf and x.grad is None
    assert isinstance(x._data, x.device.xp.ndarray)
    assert x.numel() == 3 and x.size() == (1, 3) and x.size(1) == 3 and len(x) == 1 and x.dim() == 2
    y = x * 2
    assert not y.is_leaf and y.requires_grad
    y.sum().backward()
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype and not x.grad.requires_grad
    c = thw.tensor([1.0], device=device)
    assert c.is_leaf and not c.requires_grad and not (c * 2).requires_grad


def test_numpy_is_always_a_host_copy(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 100.0
    assert x.tolist() == [1.0, 2.0]
    y = (x * 3)
    b = y.numpy()
    b[:] = 0
    assert y.tolist() == [3.0, 6.0]


def test_item_and_tolist(device):
    assert thw.tensor(2.5, device=device).item() == 2.5
    assert isinstance(thw.tensor([[4]], device=device).item(), int)
    assert thw.tensor([[1.5]], device=device, requires_grad=True).item() == 1.5
    assert thw.tensor([[1, 2], [3, 4]], device=device).tolist() == [[1, 2], [3, 4]]
    assert thw.tensor(3.0, device=device).tolist() == 3.0
    with pytest.raises(ValueError, match=r"one element.*\(2,\)"):
        thw.tensor([1.0, 2.0], device=device).item()
    assert float(thw.tensor(0.5)) == 0.5 and int(thw.tensor(3)) == 3 and bool(thw.tensor([1.0]))


def test_to_dtype_and_device(device):
    x = thw.tensor([1.5, 2.5], device=device, requires_grad=True)
    y = x.to(thw.float64)
    assert y.dtype == thw.float64 and y.device == x.device and y.requires_grad
    y.sum().backward()
    assert x.grad.dtype == thw.float32 and x.grad.tolist() == [1.0, 1.0]
    assert x.to(device) is x and x.to(thw.float32) is x
    assert x.to(dtype=thw.int64).tolist() == [1, 2]
    assert x.double().dtype == thw.float64 and x.long().dtype == thw.int64 and x.half().dtype == thw.float16
    c = x.cpu()
    assert c.device == "cpu" and c.tolist() == [1.5, 2.5]
    z = thw.tensor([1.0, 2.0]).to(device, thw.float64)
    assert z.device == device and z.dtype == thw.float64
    assert thw.tensor([3.0]).to(z).dtype == thw.float64


def test_to_device_roundtrip_keeps_gradient(device):
    """The copy between devices is differentiable (a no-op copy when the device is the same)."""
    x = thw.tensor([1.0, -2.0], requires_grad=True)
    y = x.to(device)
    assert y.device == device
    (y * y).sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, -4.0]


def test_detach_and_requires_grad_(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.tolist() == [2.0, 4.0]
    d._data[0] = 5.0                       # shares memory, like torch
    assert y.tolist() == [5.0, 4.0]
    w = thw.tensor([1.0], device=device)
    assert w.requires_grad_() is w and w.requires_grad
    w.requires_grad_(False)
    assert not w.requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_comparisons_give_bool_tensors(device):
    x = thw.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    assert (x > 1.5).dtype == thw.bool and (x > 1.5).tolist() == [False, True, True]
    assert (x == thw.tensor([1.0, 0.0, 3.0], device=device)).tolist() == [True, False, True]
    assert (x <= 2).tolist() == [True, True, False] and not (x < 2).requires_grad


# --- dtype preservation and promotion -----------------------------------------------------------
F32_OPS = {
    "add_int": lambda x, n: x + 2, "radd_float": lambda x, n: 2.5 + x, "sub": lambda x, n: x - 1,
    "rsub": lambda x, n: 1 - x, "mul": lambda x, n: x * 3, "rmul": lambda x, n: 0.5 * x,
    "div": lambda x, n: x / 3, "rdiv": lambda x, n: 3 / x, "pow_int": lambda x, n: x ** 2,
    "pow_float": lambda x, n: x ** 1.5, "rpow": lambda x, n: 2.0 ** x, "rpow_int": lambda x, n: 2 ** x,
    "np_f64_scalar": lambda x, n: x * np.float64(2.0) + np.float64(1.0),
    "np_int_scalar": lambda x, n: x - np.int64(3),
    "add_i64": lambda x, n: x + n, "radd_i64": lambda x, n: n + x, "mul_i64": lambda x, n: n * x,
    "div_i64": lambda x, n: x / n, "rdiv_i64": lambda x, n: n / x, "sub_i64": lambda x, n: n - x,
    "pow_i64": lambda x, n: x ** n, "i64_0d": lambda x, n: x * n[0],
    "f64_0d": lambda x, n: x * thw.tensor(2.0, dtype=thw.float64, device=x.device),
    "neg": lambda x, n: -x, "exp": lambda x, n: x.exp(), "log": lambda x, n: x.log(),
    "sqrt": lambda x, n: x.sqrt(), "tanh": lambda x, n: x.tanh(), "sigmoid": lambda x, n: x.sigmoid(),
    "relu": lambda x, n: x.relu(), "abs": lambda x, n: x.abs(), "clamp": lambda x, n: x.clamp(0.5, 1.5),
    "clamp_np": lambda x, n: x.clamp(np.float64(0.5), np.float64(1.5)),
    "maximum": lambda x, n: x.maximum(n), "minimum_scalar": lambda x, n: x.minimum(1.0),
    "where": lambda x, n: thw.where(n > 1, x, 0.0), "where_i64": lambda x, n: thw.where(x > 1, x, n),
    "sum": lambda x, n: x.sum(), "mean": lambda x, n: x.mean(0), "var": lambda x, n: x.var(),
    "max": lambda x, n: x.max(), "max_dim": lambda x, n: x.max(0)[0], "min": lambda x, n: x.min(0)[0],
    "matmul": lambda x, n: x @ x, "matmul_i64": lambda x, n: x @ n, "reshape": lambda x, n: x.reshape(3, 1),
    "getitem": lambda x, n: x[[0, 0, 2]], "mask": lambda x, n: x[n > 1], "pad": lambda x, n: x.pad((1, 1)),
    "cat": lambda x, n: thw.cat([x, n]), "stack": lambda x, n: thw.stack([x, n]),
    "expand": lambda x, n: x.expand(2, 3),
    "softmax_like": lambda x, n: (x - x.max()).exp() / (x - x.max()).exp().sum(),
}


@pytest.mark.parametrize("dtype", [thw.float32, thw.float64])
@pytest.mark.parametrize("name", F32_OPS)
def test_float_dtype_kept_through_every_op(device, dtype, name):
    """float32 stays float32 (and float64 stays float64), in the output and in the gradient, with
    Python scalars, NumPy scalars and int64 tensors mixed in."""
    x = thw.tensor([0.5, 1.0, 2.0], dtype=dtype, device=device, requires_grad=True)
    n = thw.tensor([1, 2, 3], device=device)
    out = F32_OPS[name](x, n)
    assert out.dtype == dtype, f"{name}: output {out.dtype}"
    out.backward(thw.ones_like(out))
    assert x.grad is not None and x.grad.dtype == dtype, f"{name}: grad {x.grad and x.grad.dtype}"
    assert x.grad.shape == x.shape


DTYPES = [np.bool_, np.uint8, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64]


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_promotion_between_tensors_matches_torch(da, db):
    ops = {"*": lambda x, y: x * y, "+": lambda x, y: x + y, "/": lambda x, y: x / y,
           "max": lambda x, y: x.maximum(y)}
    for sa, sb in [((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())]:
        a, b = np.ones(sa, dtype=da), np.ones(sb, dtype=db)
        for name, op in ops.items():
            ours = op(thw.tensor(a), thw.tensor(b)).dtype
            ref = op(torch.from_numpy(a), torch.from_numpy(b)).numpy().dtype
            assert ours == ref, f"{np.dtype(da)}{sa} {name} {np.dtype(db)}{sb}: {ours} != torch {ref}"
    a, b = np.ones(2, dtype=da), np.ones(3, dtype=db)
    assert thw.cat([thw.tensor(a), thw.tensor(b)]).dtype == torch.cat(
        [torch.from_numpy(a), torch.from_numpy(b)]).numpy().dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_promotion_with_python_scalars_matches_torch(dtype, scalar):
    a = np.ones(3, dtype=dtype)
    for op in (lambda x: x + scalar, lambda x: scalar * x, lambda x: x / 2):
        ours = op(thw.tensor(a)).dtype
        ref = op(torch.from_numpy(a)).numpy().dtype
        assert ours == ref, f"{np.dtype(dtype)} with {scalar!r}: {ours} != torch {ref}"


def test_integer_results_stay_integer(device):
    n = thw.tensor([1, 2, 3], device=device)
    assert (n + 1).dtype == thw.int64 and (n * n).tolist() == [1, 4, 9]
    assert (n / 2).dtype == thw.float32 and (n / 2).tolist() == [0.5, 1.0, 1.5]
    assert n.sum().dtype == thw.int64 and n.sum().item() == 6
    assert n.clamp(min=1.5).dtype == torch.tensor([1, 2]).clamp(min=1.5).numpy().dtype
    # torch refuses mean of integers; here it is float32 (never a silent float64)
    assert n.mean().dtype == thw.float32 and n.mean().item() == 2.0
    assert (n > 1).mean().dtype == thw.float32 and n.var().item() == 1.0


def test_repr_mentions_values_and_grad(device):
    x = thw.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert "requires_grad=True" in repr(x) and "1." in repr(x)
    assert "grad_fn=<Mul>" in repr(x * 2)


def test_deepcopy_keeps_values_and_interned_device():
    import copy
    t = thw.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    c = copy.deepcopy(t)
    assert c is not t and c.device is t.device
    np.testing.assert_array_equal(c.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    c._data[0, 0] = 9.0
    assert t.numpy()[0, 0] == 1.0
