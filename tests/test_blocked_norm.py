"""Batch norm and cross-entropy on the CPU execution seam: against torch with several blocks and a
ragged last one, in both memory layouts a conv hands on (NCHW-contiguous and batch-last), on 1
and 2 threads; running statistics as torch's; results the same whatever the thread count."""
import numpy as np
import pytest
import torch

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import backend
from oracle import compare

TF = torch.nn.functional
F32_TOL = dict(rtol=2e-4, atol=1e-4, grad_rtol=2e-4, grad_atol=2e-4)


@pytest.fixture(autouse=True)
def _restore_threads():
    """The thread count restored after each test, and the block pool on during it (off by
    default, see backend.POOL): with 2 threads the blocks here really run on two threads."""
    before = thw.get_num_threads()
    pool = backend.set_block_pool(True)
    yield
    backend.set_block_pool(pool)
    thw.set_num_threads(before)


@pytest.fixture
def plans(monkeypatch):
    """Small inputs split like large ones; returns the list of block plans the ops asked for."""
    seen = []
    plan = backend.plan_blocks

    def spy(*args, **kwargs):
        blocks = plan(*args, **kwargs)
        seen.append(blocks)
        return blocks
    monkeypatch.setattr(backend, "plan_blocks", spy)
    monkeypatch.setattr(backend, "ELEMENTWISE_MIN_BYTES", 0)
    monkeypatch.setattr(backend, "MIN_BLOCK_SECONDS", 0.0)
    return seen


def blocks_of(monkeypatch, k, item_bytes):
    """Forward blocks of about k items of ``item_bytes`` (bytes per item in one array)."""
    monkeypatch.setattr(backend, "L2_BYTES", 2 * k * 2 * item_bytes)


def assert_ragged_blocks(seen):
    sizes = [[b.stop - b.start for b in p] for p in seen]
    assert any(len(s) > 2 and len(set(s)) > 1 for s in sizes), f"no plan of several ragged blocks: {sizes}"


def batch_last(x):
    """x (N, C, H, W) stored (C, H, W, N), as a conv's output."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def layouts(shape, dtype, seed=0):
    x = (np.random.default_rng(seed).standard_normal(shape) * 2 + 1.5).astype(dtype)
    return {"nchw": x, "batch_last": batch_last(x) if x.ndim == 4 else None}


def item_bytes(x, layout):
    """Bytes of one block item: a sample of NCHW or (N, C) data, a channel of batch-last data."""
    return x.nbytes // (x.shape[1] if layout == "batch_last" else x.shape[0])


CASES = [((37, 7, 5, 6), "nchw"), ((37, 7, 5, 6), "batch_last"), ((41, 9), "nchw")]


@pytest.mark.parametrize("shape,layout", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_blocked_matches_torch(shape, layout, dtype, threads, training, plans, monkeypatch):
    thw.set_num_threads(threads)
    x = layouts(shape, dtype)[layout]
    blocks_of(monkeypatch, 3, item_bytes(x, layout))
    C = shape[1]
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    rm0, rv0 = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    ours_rm, ours_rv = thw.tensor(rm0.copy()), thw.tensor(rv0.copy())
    t_rm, t_rv = torch.from_numpy(rm0.copy()), torch.from_numpy(rv0.copy())
    tol = F32_TOL if dtype == np.float32 else {}
    out, _ = compare(lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, training=training, momentum=0.3),
                     [x, w, b],
                     torch_fn=lambda x, w, b: TF.batch_norm(x, t_rm, t_rv, w, b, training=training, momentum=0.3),
                     **tol)
    assert out._data.strides == x.strides          # the output keeps the input's memory layout
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ours_rm.numpy(), t_rm.numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ours_rv.numpy(), t_rv.numpy(), rtol=rtol, atol=rtol)
    assert_ragged_blocks(plans)


@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
@pytest.mark.parametrize("affine", [(True, True), (False, False), (True, False)])
def test_batch_norm_blocked_without_affine_or_grads(layout, affine, plans, monkeypatch):
    """No weight/bias, or parameters that need no gradient: the sums are skipped or kept as needed."""
    x = layouts((23, 5, 4, 3), np.float64)[layout]
    blocks_of(monkeypatch, 3, item_bytes(x, layout))
    has_w, has_b = affine
    C = x.shape[1]
    w, b = np.linspace(0.5, 2, C), np.linspace(-1, 1, C)
    args = [x] + ([w] if has_w else []) + ([b] if has_b else [])

    def call(lib, batch_norm):
        def fn(x, *wb):
            wb = list(wb)
            ww = wb.pop(0) if has_w else None
            bb = wb.pop(0) if has_b else None
            return batch_norm(x, None, None, ww, bb, training=True)
        return fn
    compare(call(thw, F.batch_norm), args, torch_fn=call(torch, TF.batch_norm))
    assert_ragged_blocks(plans)


def _bn_step(x, g, training):
    C = x.shape[1]
    X = thw.Tensor._wrap(x, thw.device("cpu")).requires_grad_()
    W = thw.tensor(np.linspace(0.5, 1.5, C).astype(x.dtype), requires_grad=True)
    B = thw.tensor(np.linspace(-1, 1, C).astype(x.dtype), requires_grad=True)
    rm, rv = thw.zeros(C, dtype=x.dtype), thw.ones(C, dtype=x.dtype)
    y = F.batch_norm(X, rm, rv, W, B, training=training)
    y.backward(thw.Tensor._wrap(g, thw.device("cpu")))
    assert X.grad._data.strides == x.strides        # the gradient keeps the input's layout
    return [a._data.copy() for a in (y, X.grad, W.grad, B.grad, rm, rv)]


@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_same_on_1_and_2_threads(layout, training, plans, monkeypatch):
    """Blocks of channels hold whole channels, so nothing is combined: bit-equal. Blocks of
    samples combine per-block partial sums, whose number depends on the thread count: equal
    up to float32 summation order."""
    x = layouts((50, 8, 9, 10), np.float32)[layout]
    g = batch_last(np.random.default_rng(2).standard_normal(x.shape).astype(np.float32))
    blocks_of(monkeypatch, 3, item_bytes(x, layout))
    runs = []
    for threads in (1, 2):
        thw.set_num_threads(threads)
        runs.append(_bn_step(x, g, training))
    counts = {len(p) for p in plans}
    assert len(counts) > 1, f"the thread counts gave the same plans: {counts}"
    for a, b in zip(*runs):
        if layout == "batch_last":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_batch_norm_default_plan_large_batch_last():
    """A large batch-last input on the default planner (no patching) against torch."""
    x = batch_last(np.random.default_rng(3).standard_normal((128, 16, 24, 24)).astype(np.float32))
    assert x.nbytes >= backend.ELEMENTWISE_MIN_BYTES
    C = x.shape[1]
    w, b = np.ones(C, np.float32), np.zeros(C, np.float32)
    compare(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b],
            torch_fn=lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), **F32_TOL)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("smoothing,weighted", [(0.0, False), (0.1, True)])
def test_cross_entropy_blocked_matches_torch(dtype, threads, smoothing, weighted, plans, monkeypatch):
    thw.set_num_threads(threads)
    M, C = 43, 11
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((M, C)) * 3).astype(dtype)
    t = rng.integers(0, C, M)
    t[5] = -100                           # an ignored row
    w = rng.uniform(0.5, 2, C).astype(dtype) if weighted else None
    monkeypatch.setattr(backend, "L2_BYTES", 2 * 3 * 3 * C * x.itemsize)     # blocks of 3 rows
    tol = F32_TOL if dtype == np.float32 else {}
    for reduction in ("mean", "sum", "none"):
        compare(lambda a: F.cross_entropy(a, thw.tensor(t), None if w is None else thw.tensor(w),
                                          reduction=reduction, label_smoothing=smoothing),
                [x], torch_fn=lambda a: TF.cross_entropy(a, torch.from_numpy(t), None if w is None else
                                                         torch.from_numpy(w), reduction=reduction,
                                                         label_smoothing=smoothing), **tol)
    assert_ragged_blocks(plans)


def test_cross_entropy_same_on_1_and_2_threads(plans, monkeypatch):
    """Each row's log-softmax lies within one block: bit-equal whatever the blocks."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((61, 13)) * 3).astype(np.float32)
    t = thw.tensor(rng.integers(0, 13, 61))
    monkeypatch.setattr(backend, "L2_BYTES", 2 * 3 * 3 * 13 * 4)
    runs = []
    for threads in (1, 2):
        thw.set_num_threads(threads)
        X = thw.Tensor._wrap(x, thw.device("cpu")).requires_grad_()
        loss = F.cross_entropy(X, t, reduction="none")
        loss.sum().backward()
        runs.append((loss.numpy().copy(), X.grad.numpy().copy()))
    assert len({len(p) for p in plans}) > 1
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_cross_entropy_large_default_plan():
    """Above the size threshold on the default planner, against torch."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((1024, 1100)) * 3).astype(np.float32)
    assert x.nbytes >= backend.ELEMENTWISE_MIN_BYTES
    t = rng.integers(0, 1100, 1024)
    compare(lambda a: F.cross_entropy(a, thw.tensor(t)), [x],
            torch_fn=lambda a: TF.cross_entropy(a, torch.from_numpy(t)), **F32_TOL)


@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
def test_batch_norm_blocked_backward_twice(layout, plans, monkeypatch):
    """What forward keeps for backward is not written by it: a second backward gives the same."""
    x = layouts((19, 6, 5, 4), np.float64)[layout]
    blocks_of(monkeypatch, 3, item_bytes(x, layout))
    X = thw.Tensor._wrap(x, thw.device("cpu")).requires_grad_()
    W = thw.tensor(np.linspace(0.5, 1.5, 6), requires_grad=True)
    y = F.batch_norm(X, None, None, W, None, training=True)
    g = thw.tensor(np.random.default_rng(7).standard_normal(x.shape))
    y.backward(g, retain_graph=True)
    first = X.grad.numpy().copy(), W.grad.numpy().copy()
    X.grad = W.grad = None
    y.backward(g)
    np.testing.assert_array_equal(X.grad.numpy(), first[0])
    np.testing.assert_array_equal(W.grad.numpy(), first[1])
    assert_ragged_blocks(plans)
