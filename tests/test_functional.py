"""linear, batch_norm, dropout, relu and pad against torch (and gradcheck); conv, pooling and the
losses have their own files."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from oracle import compare, raises_with

TF = torch.nn.functional
dtypes = st.sampled_from([np.float64, np.float32])


# --- linear -------------------------------------------------------------------------------------
@given(lead=st.lists(st.integers(1, 4), max_size=2), fin=st.integers(1, 6), fout=st.integers(1, 6),
       bias=st.booleans(), dtype=dtypes)
def test_linear_matches_torch(device, lead, fin, fout, bias, dtype):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(tuple(lead) + (fin,)).astype(dtype), rng.standard_normal((fout, fin)).astype(dtype)]
    if bias:
        arrays.append(rng.standard_normal(fout).astype(dtype))
    compare(F.linear, arrays, torch_fn=TF.linear, device=device)


def test_linear_gradcheck():
    rng = np.random.default_rng(1)
    x, w, b = (thw.tensor(rng.standard_normal(s), requires_grad=True) for s in [(2, 3, 4), (5, 4), (5,)])
    assert thw.gradcheck(F.linear, (x, w, b))


@pytest.mark.parametrize("x, w, b, exc, words", [
    ((2, 3), (4, 5), None, ValueError, ["(2, 3)", "(4, 5)", "5"]),
    ((2, 3), (4, 3, 1), None, ValueError, ["(4, 3, 1)"]),
    ((2, 3), (4, 3), (3,), ValueError, ["(4,)", "(3,)"]),
])
def test_linear_bad_input(x, w, b, exc, words):
    with raises_with(exc, *words):
        F.linear(thw.zeros(*x), thw.zeros(*w), None if b is None else thw.zeros(*b))


# --- batch norm ---------------------------------------------------------------------------------
@given(shape=st.sampled_from([(5, 3), (4, 2, 3), (3, 4, 2, 3), (1, 2, 3, 1)]), dtype=dtypes,
       training=st.booleans(), affine=st.booleans(), momentum=st.sampled_from([0.1, 0.5]))
def test_batch_norm_matches_torch(device, shape, dtype, training, affine, momentum):
    rng = np.random.default_rng(2)
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    ours_stats = [thw.tensor(rm.copy(), device=device), thw.tensor(rv.copy(), device=device)]
    torch_stats = [torch.tensor(rm.copy()), torch.tensor(rv.copy())]
    arrays = [x] + ([rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)] if affine else [])

    def ours(x, w=None, b=None):
        return F.batch_norm(x, *ours_stats, w, b, training=training, momentum=momentum)

    def theirs(x, w=None, b=None):
        return TF.batch_norm(x, *torch_stats, w, b, training=training, momentum=momentum)
    compare(ours, arrays, torch_fn=theirs, device=device)
    for a, b in zip(ours_stats, torch_stats):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6 if dtype == np.float64 else 1e-5)


def test_batch_norm_running_stats_after_several_steps(device):
    rng = np.random.default_rng(3)
    rm, rv = thw.zeros(3, device=device), thw.ones(3, device=device)
    trm, trv = torch.zeros(3), torch.ones(3)
    w, b = np.float32(rng.standard_normal(3)), np.float32(rng.standard_normal(3))
    for step in range(5):
        x = (rng.standard_normal((8, 3, 4, 4)) * (step + 1) + step).astype(np.float32)
        y = F.batch_norm(thw.tensor(x, device=device), rm, rv, thw.tensor(w, device=device),
                         thw.tensor(b, device=device), training=True)
        ref = TF.batch_norm(torch.from_numpy(x), trm, trv, torch.from_numpy(w), torch.from_numpy(b), training=True)
        np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-5, atol=1e-6)
    assert rm.dtype == rv.dtype == np.float32
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    y = F.batch_norm(thw.tensor(x, device=device), rm, rv, training=False)
    np.testing.assert_allclose(y.numpy(), TF.batch_norm(torch.from_numpy(x), trm, trv, training=False).numpy(),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training):
    rng = np.random.default_rng(4)
    x, w, b = (thw.tensor(rng.standard_normal(s), requires_grad=True) for s in [(3, 2, 2, 2), (2,), (2,)])
    rm, rv = thw.tensor(rng.standard_normal(2)), thw.tensor(rng.uniform(0.5, 2, 2))
    # fresh running stats each call, so the repeated forwards of gradcheck see the same input
    assert thw.gradcheck(lambda x, w, b: F.batch_norm(x, rm.clone(), rv.clone(), w, b, training=training),
                         (x, w, b))


def test_batch_norm_bad_input():
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 3\)|\(2, 3\).*\(4,\)"):
        F.batch_norm(thw.zeros(2, 3), thw.zeros(4), thw.ones(4))
    with pytest.raises(ValueError, match="more than 1 value"):
        F.batch_norm(thw.zeros(1, 3), thw.zeros(3), thw.ones(3), training=True)
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(thw.zeros(2, 3), None, None, training=False)


# --- dropout ------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics(device, p):
    x = thw.ones(200, 500, device=device, requires_grad=True)
    y = F.dropout(x, p)
    out = y.numpy()
    zero = out == 0
    assert abs(zero.mean() - p) < 0.01          # 100k draws: the standard error is under 0.0016
    np.testing.assert_allclose(out[~zero], 1 / (1 - p), rtol=1e-6)
    assert y.dtype == np.float32
    y.backward(thw.full((200, 500), 2.0, device=device))
    np.testing.assert_allclose(x.grad.numpy(), out * 2, rtol=1e-6)


def test_dropout_same_seed_same_mask(device):
    x = thw.randn(50, 40, device=device)
    thw.manual_seed(7)
    a = F.dropout(x, 0.3).numpy()
    thw.manual_seed(7)
    b = F.dropout(x, 0.3).numpy()
    c = F.dropout(x, 0.3).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a == 0, c == 0)


def test_dropout_identity_and_edges(device):
    x = thw.randn(10, 10, device=device)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError, match="1.5"):
        F.dropout(x, 1.5)


# --- small wrappers -----------------------------------------------------------------------------
@given(dtype=dtypes)
def test_relu_and_pad_match_torch(device, dtype):
    x = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(dtype)
    x[np.abs(x) < 0.05] = 0.5                   # away from the kink
    compare(F.relu, [x], torch_fn=TF.relu, device=device)
    compare(lambda a: F.pad(a, (1, 2, 0, 1), value=0.5), [x], device=device,
            torch_fn=lambda a: TF.pad(a, (1, 2, 0, 1), value=0.5))


def test_relu_gradient_at_zero_is_zero():
    x = thw.tensor([0.0, 1.0, -1.0], requires_grad=True)
    F.relu(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


# --- the op benchmark runs end to end (its speed is not a test) -----------------------------------
def test_ops_benchmark_writes_rows(tmp_path, capsys):
    import json
    import math
    from benchmarks.ops import main
    out = tmp_path / "ops.json"
    main(["--quick", "--only", "lenet5 conv2", "max_pool2d 2x2 lenet5", "cross_entropy 128x10", "--json", str(out)])
    rows = json.loads(out.read_text())
    assert [r["op"] for r in rows] == ["numpy matmul", "conv2d", "max_pool2d", "cross_entropy"]
    assert rows[0]["gflops"] > 0
    for r in rows[1:]:
        for key in ("ms", "ms_min", "torch_ms", "speed_vs_torch"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
    assert rows[1]["im2col_mib"] == 6 * 25 * 64 * 8 * 8 * 4 / 2 ** 20
    assert "| conv2d | lenet5 conv2" in capsys.readouterr().out


# --- layout: the layers go one way -----------------------------------------------------------------
def test_tensor_and_ops_import_nothing_from_nn_and_functional_only_reexports():
    import ast
    import pathlib
    root = pathlib.Path(thw.__file__).parent
    for path in [root / "tensor.py", *sorted((root / "ops").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = (node.module or "").split(".") + [a.name for a in node.names]
                assert "nn" not in names, f"{path.name} imports nn ({node.module}: {names})"
    tree = ast.parse((root / "nn" / "functional.py").read_text())
    kinds = {type(n).__name__ for n in tree.body} - {"Expr", "ImportFrom", "Assign"}
    assert not kinds, f"functional.py defines {kinds}; it should only re-export"
    assert set(F.__all__) <= set(dir(F))
