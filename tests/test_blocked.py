"""The CPU execution seam (threads, BLAS limits, block plans) and the ops that run blocked on it:
results against torch with several blocks and a ragged last one, on 1 and 2 threads, and the
same up to float32 summation order whatever the thread count."""
import os
import threading

import numpy as np
import pytest
import torch

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import backend
from tinygrad_hw.nn import _conv
from oracle import compare

TF = torch.nn.functional
F32_TOL = dict(rtol=2e-4, atol=1e-4, grad_rtol=2e-4, grad_atol=2e-4)
N = 37      # blocks of 4 and 3 samples below: several per thread, the last ones shorter


@pytest.fixture(autouse=True)
def _restore_threads():
    """The thread count restored after each test, and the block pool on during it (off by
    default, see backend.POOL): with 2 threads the blocks here really run on two threads. oneDNN
    is off here: these tests are about the NumPy convolutions (tests/test_onednn.py has oneDNN's)."""
    before = thw.get_num_threads()
    pool = backend.set_block_pool(True)
    onednn = backend.set_onednn(False)
    yield
    backend.set_onednn(onednn)
    backend.set_block_pool(pool)
    thw.set_num_threads(before)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of about 4 samples whatever their size, so small tests run many blocks."""
    monkeypatch.setattr(backend, "L2_BYTES", 1)
    monkeypatch.setattr(backend, "MIN_BLOCK_SECONDS", 0.0)
    monkeypatch.setattr(_conv, "MIN_BLOCK", 4)
    monkeypatch.setattr(_conv, "BLOCKED_IM2COL", True)      # off by default: see nn/_conv.py


def test_num_threads_default_and_errors():
    assert thw.get_num_threads() >= 1
    thw.set_num_threads(1)
    assert thw.get_num_threads() == 1
    thw.set_num_threads(3)
    assert thw.get_num_threads() == 3
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive int"):
            thw.set_num_threads(bad)


def test_default_threads_are_the_affinity_cores():
    backend._num_threads = None
    assert thw.get_num_threads() == len(os.sched_getaffinity(0))


class _FakeDevice:
    type = "cuda"


@pytest.mark.parametrize("n,bytes_,flops,min_block", [(128, 450_000, 3.6e6, 16), (64, 38_000, 3e5, 16),
                                                      (37, 10**9, 0, 1), (5, 10**9, 0, 4), (1, 10**9, 1e9, 1),
                                                      (1000, 8, 0, 1)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_plan_blocks_cover_the_batch(n, bytes_, flops, min_block, threads):
    thw.set_num_threads(threads)
    blocks = backend.plan_blocks(backend.CPU, n, bytes_, flops_per_sample=flops, min_block=min_block)
    assert blocks[0].start == 0 and blocks[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
    sizes = [b.stop - b.start for b in blocks]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= min(min_block, n)
    assert backend.plan_blocks(_FakeDevice(), n, bytes_, flops, min_block) == [slice(0, n)]


def test_plan_blocks_sizes():
    thw.set_num_threads(2)
    # 450 kB of temporaries and 3.6 MFLOP a sample: blocks of the minimum 16, several per thread
    sizes = [b.stop - b.start for b in backend.plan_blocks(backend.CPU, 128, 450_000, 3.6e6, 16)]
    assert sizes == [16] * 8
    # too little work to split: one block
    assert backend.plan_blocks(backend.CPU, 1000, 8, 0, 1) == [slice(0, 1000)]
    # a large batch of big samples: one block a sample would do, but each gets >= 0.2 ms of work
    blocks = backend.plan_blocks(backend.CPU, 64, 10**8, 0, 1)
    assert len(blocks) == 64


def test_parallel_blocks_order_threads_and_blas_limit():
    thw.set_num_threads(2)
    libs = backend._blas()
    before = [lib.get_num_threads() for lib in libs]
    seen, blas_inside, barrier = set(), [], threading.Barrier(2, timeout=10)

    def fn(b):
        seen.add(threading.get_ident())
        blas_inside.extend(lib.get_num_threads() for lib in libs)
        if b.start < 2:
            barrier.wait()     # both first blocks run at once: two threads really take part
        # a nested region runs inline on this thread
        inner = backend.parallel_blocks(lambda c: threading.get_ident(), [slice(0, 1), slice(1, 2)])
        assert inner == [threading.get_ident()] * 2
        return b.start
    blocks = [slice(k, k + 1) for k in range(6)]
    assert backend.parallel_blocks(fn, blocks) == list(range(6))
    assert len(seen) == 2
    assert set(blas_inside) <= {1}
    assert [lib.get_num_threads() for lib in libs] == before


def test_parallel_blocks_inline_on_one_thread():
    thw.set_num_threads(1)
    me = threading.get_ident()
    assert backend.parallel_blocks(lambda b: threading.get_ident(), [slice(0, 1), slice(1, 2)]) == [me, me]


def test_parallel_blocks_propagates_errors():
    thw.set_num_threads(2)

    def fn(b):
        if b.start == 3:
            raise KeyError("block 3")
        return b.start
    with pytest.raises(KeyError, match="block 3"):
        backend.parallel_blocks(fn, [slice(k, k + 1) for k in range(6)])
    assert backend._region_depth == 0


def test_set_num_threads_sets_blas():
    libs = backend._blas()
    if not libs:
        pytest.skip("threadpoolctl finds no BLAS library to control")
    thw.set_num_threads(1)
    assert all(lib.get_num_threads() == 1 for lib in libs)


# --- conv2d -------------------------------------------------------------------------------
CONVS = [  # C, O, size, kernel, stride, padding, dilation, groups, bias
    (3, 4, 9, 3, 1, 1, 1, 1, True),
    (4, 6, 10, 3, 2, 1, 1, 2, False),
    (2, 3, 8, (2, 3), (2, 1), (0, 2), (1, 2), 1, True),
    (4, 4, 7, 1, 1, 0, 1, 1, False),
    (4, 8, 9, 1, 2, 0, 1, 1, True),
    (3, 2, 11, 5, 1, 0, 1, 1, True),
    (6, 6, 6, 3, 1, 1, 1, 3, False),
    # stride 1, one group, >= 8 channels: the shifted-GEMM path, blocks of output rows
    (8, 8, 15, 3, 1, 1, 1, 1, True),
    (8, 12, 16, 3, 1, (0, 2), (2, 1), 1, False),
    (9, 8, 7, 1, 1, 0, 1, 1, True),
    (8, 8, 12, (3, 2), 1, (1, 0), 1, 1, True),
    (8, 10, 16, (5, 3), 1, (2, 1), 1, 1, False),
    (8, 8, 7, 3, 1, 1, 1, 1, False),          # 7x7 maps, as ResNet-20's last stage
]


def _conv_arrays(case, dtype, layout, seed=0):
    C, O, size, k, s, p, d, groups, bias = case
    k = k if isinstance(k, tuple) else (k, k)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, size, size)).astype(dtype)
    if layout == "batch_last":
        x = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    w = rng.standard_normal((O, C // groups) + k).astype(dtype)
    return [x, w] + ([rng.standard_normal(O).astype(dtype)] if bias else []), dict(
        stride=s, padding=p, dilation=d, groups=groups)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CONVS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_blocked_matches_torch(small_blocks, threads, case, dtype):
    thw.set_num_threads(threads)
    arrays, kw = _conv_arrays(case, dtype, "batch_last" if case[0] % 2 else "c")
    assert len(backend.plan_blocks(backend.CPU, N, 1, min_block=_conv.MIN_BLOCK)) > 2
    compare(F.conv2d, arrays, torch_fn=TF.conv2d, **kw, **(F32_TOL if dtype == np.float32 else {}))


def _run(fn, arrays, need):
    ts = [thw.tensor(a, requires_grad=r) for a, r in zip(arrays, need)]
    out = fn(*ts)
    out.backward(thw.tensor(np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)))
    return [out.numpy()] + [t.grad.numpy() if t.grad is not None else None for t in ts]


# float32 within the oracle's tolerance (summation order), float64 all but exactly
SAME = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONVS)
def test_conv2d_same_for_any_thread_count(small_blocks, case, dtype):
    arrays, kw = _conv_arrays(case, dtype, "batch_last")
    results = []
    for threads in (1, 2):
        thw.set_num_threads(threads)
        results.append(_run(lambda *t: F.conv2d(*t, **kw), arrays, [True] * len(arrays)))
    results.append(_run(lambda *t: F.conv2d(*t, **kw), arrays, [False] + [True] * (len(arrays) - 1)))
    for a, b, c in zip(*results):
        np.testing.assert_allclose(a, b, **SAME[dtype])
        if c is not None:
            np.testing.assert_allclose(a, c, **SAME[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_blocked_equals_one_block(monkeypatch, dtype, stride):
    """Several blocks against one block of it all, on a batch big enough for several."""
    thw.set_num_threads(2)
    monkeypatch.setattr(_conv, "BLOCKED_IM2COL", True)
    arrays, kw = _conv_arrays((16, 16, 14, 3, stride, 1, 1, 1, True), dtype, "batch_last")
    arrays[0] = np.random.default_rng(0).standard_normal((64, 16, 14, 14)).astype(dtype)
    counts, real = [], backend.parallel_blocks
    monkeypatch.setattr(backend, "parallel_blocks", lambda fn, blocks: counts.append(len(blocks)) or real(fn, blocks))
    monkeypatch.setattr(backend, "L2_BYTES", 1)       # the shifted forward: one output row a block
    many = _run(lambda *t: F.conv2d(*t, **kw), arrays, [True] * 3)
    # the weight gradient (shifted path; its forwards run their row blocks on BLAS's threads)
    # or forward and backward (im2col path) on the pool
    assert min(counts) > 1 and len(counts) == (1 if stride == 1 else 2)
    monkeypatch.setattr(backend, "MIN_BLOCK_SECONDS", 1e9)
    monkeypatch.setattr(backend, "L2_BYTES", 1 << 40)
    one = _run(lambda *t: F.conv2d(*t, **kw), arrays, [True] * 3)
    assert set(counts[1 if stride == 1 else 2:]) == {1}
    for a, b in zip(many, one):
        np.testing.assert_allclose(a, b, **SAME[dtype])


def test_shifted_path_is_taken(monkeypatch):
    """The stride-1 cases above with >= 8 channels run as shifted GEMMs (not silently im2col)."""
    taken = []
    real = _conv._ShiftedConv.forward
    monkeypatch.setattr(_conv._ShiftedConv, "forward", lambda self: taken.append(1) or real(self))
    for case in CONVS[7:]:
        arrays, kw = _conv_arrays(case, np.float32, "c")
        F.conv2d(*[thw.tensor(a) for a in arrays], **kw)
    assert len(taken) == len(CONVS[7:])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CONVS[7:])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shifted_weight_grad_by_columns_matches_torch(small_blocks, monkeypatch, threads, case, dtype):
    """The weight gradient as one GEMM per row over the row's stacked runs (>= 32 channels by
    default), taken here for the small cases too, in several row blocks."""
    thw.set_num_threads(threads)
    monkeypatch.setattr(_conv, "WGRAD_IM2COL_MIN_CHANNELS", 1)
    copies = []
    real = backend.scratch
    monkeypatch.setattr(backend, "scratch", lambda name, *a, **k: copies.append(name) or real(name, *a, **k))
    arrays, kw = _conv_arrays(case, dtype, "batch_last")
    compare(F.conv2d, arrays, torch_fn=TF.conv2d, **kw, **(F32_TOL if dtype == np.float32 else {}))
    assert "shift.wcol" in copies


@pytest.mark.parametrize("case", [CONVS[7], CONVS[8], CONVS[-1]])
def test_shifted_conv_with_the_numpy_fallback(monkeypatch, case):
    """Without OpenBLAS's accumulating GEMM (another BLAS) the shifted route gives the same."""
    funcs = backend._cblas_funcs()
    if not funcs:
        pytest.skip("NumPy's BLAS is not OpenBLAS here: only the fallback exists")
    calls = []

    def counted(fn):
        return lambda *args: calls.append(1) or fn(*args)
    monkeypatch.setattr(backend, "_cblas", {k: counted(f) for k, f in funcs.items()})
    arrays, kw = _conv_arrays(case, np.float64, "batch_last")
    fast = _run(lambda *t: F.conv2d(*t, **kw), arrays, [True] * len(arrays))
    assert calls                                # the accumulating GEMMs really ran
    monkeypatch.setattr(backend, "_cblas", {})
    slow = _run(lambda *t: F.conv2d(*t, **kw), arrays, [True] * len(arrays))
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# --- the accumulating GEMMs (OpenBLAS through ctypes, NumPy fallback) ------------------------
def _operands(dtype):
    """a (5, 7) and b (7, 4) as C-order arrays, transposed views and strided slices."""
    rng = np.random.default_rng(11)
    big = rng.standard_normal((20, 30)).astype(dtype)
    a_list = [np.ascontiguousarray(big[:5, :7]), big[:7, :5].T, big[2:7, 3:10], big[1:11:2, :7]]
    b_list = [np.ascontiguousarray(big[8:15, :4]), big[10:14, 8:15].T, big[12:19, 20:24]]
    return a_list, b_list


@pytest.fixture(params=["openblas", "numpy"])
def gemm_path(request, monkeypatch):
    """Both GEMM paths: OpenBLAS through ctypes, and the NumPy fallback (any other BLAS)."""
    if request.param == "numpy":
        monkeypatch.setattr(backend, "_cblas", {})
    elif not backend._cblas_funcs():
        pytest.skip("NumPy's BLAS is not OpenBLAS here: only the fallback exists")
    return request.param


def _gemm_tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_matches_numpy(gemm_path, dtype):
    tol = _gemm_tol(dtype)
    a_list, b_list = _operands(dtype)
    for a in a_list:
        for b in b_list:
            for order in "CF":
                for beta in (0.0, 1.0, 0.5):
                    c0 = np.random.default_rng(1).standard_normal((5, 4)).astype(dtype)
                    out = np.array(c0, order=order)
                    if beta == 0.0:
                        out[0, 0] = np.nan          # beta 0 ignores what out held
                    backend.gemm(a, b, out, beta=beta)
                    np.testing.assert_allclose(out, a.astype(np.float64) @ b + beta * c0, **tol)
    raw = np.zeros(5 * 7 * a_list[0].itemsize + 1, np.uint8)       # an unaligned a: the fallback
    unaligned = raw[1:].view(dtype).reshape(5, 7)
    unaligned[...] = a_list[0]
    assert not unaligned.flags.aligned
    out = np.empty((5, 4), dtype)
    backend.gemm(unaligned, b_list[0], out)
    np.testing.assert_allclose(out, a_list[0].astype(np.float64) @ b_list[0], **tol)
    with pytest.raises(ValueError, match=r"\(5, 7\) @ \(4, 4\)"):
        backend.gemm(a_list[0], np.ones((4, 4), dtype), np.empty((5, 4), dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_taps_match_a_loop_of_numpy_products(gemm_path, dtype):
    tol = _gemm_tol(dtype)
    rng = np.random.default_rng(12)
    T, M, K, L = 4, 3, 5, 9
    offsets = [0, 1, 7, 12]
    x = rng.standard_normal((K, 40)).astype(dtype)[:, 2:30]     # strided rows: a view
    a = rng.standard_normal((T, M, K)).astype(dtype)
    for beta in (0.0, 1.0):
        c0 = rng.standard_normal((M, L)).astype(dtype)
        out = c0.copy()
        backend.gemm_taps(a, x, offsets, out, beta=beta)
        want = beta * c0 + sum(a[t].astype(np.float64) @ x[:, o:o + L] for t, o in enumerate(offsets))
        np.testing.assert_allclose(out, want, **tol)
        g = rng.standard_normal((M, L)).astype(dtype)
        d0 = rng.standard_normal((T, M, K)).astype(dtype)
        each = d0.copy()
        backend.gemm_taps_t(g, x, offsets, each, beta=beta)
        for t, o in enumerate(offsets):
            np.testing.assert_allclose(each[t], beta * d0[t] + g.astype(np.float64) @ x[:, o:o + L].T, **tol)
    # checked before any pointer arithmetic reads memory: windows past x's end, mismatched shapes
    with pytest.raises(ValueError, match="outside x's 28 columns"):
        backend.gemm_taps(a, x, [0, 1, 2, 20], np.empty((M, L), dtype))
    with pytest.raises(ValueError, match="outside x's 28 columns"):
        backend.gemm_taps_t(np.empty((M, L), dtype), x, [0, 1, 2, 20], np.empty((T, M, K), dtype))
    with pytest.raises(ValueError, match="shapes do not match"):
        backend.gemm_taps(a, x[:4], offsets, np.empty((M, L), dtype))
    with pytest.raises(ValueError, match="shapes do not match"):
        backend.gemm_taps(a, x, offsets[:3], np.empty((M, L), dtype))
    with pytest.raises(ValueError, match="shapes do not match"):
        backend.gemm_taps_t(np.empty((M + 1, L), dtype), x, offsets, np.empty((T, M, K), dtype))


def test_gemm_blocks_fill_one_l2(monkeypatch):
    monkeypatch.setattr(backend, "L2_BYTES", 1000)
    sizes = [b.stop - b.start for b in backend.gemm_blocks(23, 300)]
    assert sizes == [3] * 7 + [2]
    assert backend.gemm_blocks(5, 10**9) == [slice(k, k + 1) for k in range(5)]   # at least one item


def test_block_pool_is_off_by_default_and_results_agree(monkeypatch):
    """Off (see backend.POOL), blocks run inline on the caller's thread; on, on the pool; the
    same results either way."""
    import subprocess
    import sys
    fresh = subprocess.run([sys.executable, "-c", "import tinygrad_hw.backend as b; print(b.POOL)"],
                           capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == "False"
    backend.set_block_pool(False)
    thw.set_num_threads(2)
    me = threading.get_ident()
    assert backend.parallel_blocks(lambda b: threading.get_ident(), [slice(0, 1), slice(1, 2)]) == [me, me]
    arrays, kw = _conv_arrays(CONVS[7], np.float32, "batch_last")
    monkeypatch.setattr(backend, "L2_BYTES", 1)
    monkeypatch.setattr(backend, "MIN_BLOCK_SECONDS", 0.0)
    inline = _run(lambda *t: F.conv2d(*t, **kw), arrays, [True] * len(arrays))
    backend.set_block_pool(True)
    pooled = _run(lambda *t: F.conv2d(*t, **kw), arrays, [True] * len(arrays))
    for a, b in zip(inline, pooled):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# --- pooling and ReLU: blocks of the outer memory axis / of the flat array ------------------
@pytest.fixture
def small_slabs(monkeypatch):
    monkeypatch.setattr(backend, "ELEMENTWISE_MIN_BYTES", 1)
    monkeypatch.setattr(backend, "L2_BYTES", 1)
    monkeypatch.setattr(backend, "MIN_BLOCK_SECONDS", 0.0)


POOLS = [  # name, kwargs
    ("max", dict(kernel_size=2)),
    ("max", dict(kernel_size=3, stride=2, padding=1)),
    ("max", dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1))),
    ("avg", dict(kernel_size=2)),
    ("avg", dict(kernel_size=3, stride=2, padding=1)),
    ("avg", dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
]


def _pool_fns(name):
    return (F.max_pool2d, TF.max_pool2d) if name == "max" else (F.avg_pool2d, TF.avg_pool2d)


def _pool_input(dtype, layout, ties=False):
    x = np.random.default_rng(0).standard_normal((N, 5, 9, 10)).astype(dtype)
    if ties:        # equal values in a window: the gradient goes to the first max, as torch
        x = np.round(x)
    if layout == "batch_last":
        x = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    return x


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", ["c", "batch_last"])
@pytest.mark.parametrize("case", POOLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pool_blocked_matches_torch(small_slabs, threads, layout, case, dtype):
    thw.set_num_threads(threads)
    ours, theirs = _pool_fns(case[0])
    compare(lambda x: ours(x, **case[1]), [_pool_input(dtype, layout, ties=case[0] == "max")],
            torch_fn=lambda x: theirs(x, **case[1]))


@pytest.mark.parametrize("layout", ["c", "batch_last"])
@pytest.mark.parametrize("case", POOLS)
def test_pool_same_for_any_thread_count(small_slabs, monkeypatch, layout, case):
    x = _pool_input(np.float32, layout)
    fn = _pool_fns(case[0])[0]
    counts, real = [], backend.parallel_blocks
    monkeypatch.setattr(backend, "parallel_blocks", lambda f, b: counts.append(len(b)) or real(f, b))
    results = []
    for threads in (1, 2):
        thw.set_num_threads(threads)
        results.append(_run(lambda t: fn(t, **case[1]), [x], [True]))
    assert min(counts) > 2
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)     # no sums across blocks: the same bits


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", ["c", "batch_last"])
def test_relu_blocked_matches_torch(small_slabs, threads, layout):
    thw.set_num_threads(threads)
    x = _pool_input(np.float32, layout)
    x[..., ::3] = 0.0                            # exact zeros get gradient 0, as torch
    out, _ = compare(F.relu, [x], torch_fn=TF.relu)
    assert out._data.strides == x.strides        # the layout is kept


def test_relu_same_for_any_thread_count(small_slabs, monkeypatch):
    x = _pool_input(np.float32, "batch_last")
    counts, real = [], backend.parallel_blocks
    monkeypatch.setattr(backend, "parallel_blocks", lambda f, b: counts.append(len(b)) or real(f, b))
    results = []
    for threads in (1, 2):
        thw.set_num_threads(threads)
        results.append(_run(F.relu, [x], [True]))
    assert len(counts) == 2 and min(counts) > 2      # forward and backward on 2 threads (1: one call)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", ["c", "batch_last"])
def test_add_blocked_matches_torch(small_slabs, monkeypatch, threads, layout):
    thw.set_num_threads(threads)
    counts, real = [], backend.parallel_blocks
    monkeypatch.setattr(backend, "parallel_blocks", lambda f, b: counts.append(len(b)) or real(f, b))
    a, b = _pool_input(np.float32, layout), _pool_input(np.float32, layout)[::-1].copy(order="K")
    compare(lambda x, y: x + y, [a, b])
    assert counts == ([] if threads == 1 else [counts[0]]) and (threads == 1 or counts[0] > 2)


def test_parallel_blocks_waits_for_every_block_before_raising():
    thw.set_num_threads(2)
    done = []

    def fn(b):
        if b.start == 0:
            raise KeyError("first")
        import time
        time.sleep(0.05)
        done.append(b.start)
    with pytest.raises(KeyError):
        backend.parallel_blocks(fn, [slice(k, k + 1) for k in range(4)])
    assert sorted(done) == [1, 2, 3]


def test_pool_works_in_a_forked_child():
    """The pool made before a fork is replaced in the child (its threads are not there)."""
    thw.set_num_threads(2)
    backend.parallel_blocks(lambda b: None, [slice(0, 1), slice(1, 2)])     # the pool exists
    pid = os.fork()
    if pid == 0:
        import signal
        signal.alarm(30)            # a hang ends the child, and the test fails
        try:
            ok = backend.parallel_blocks(lambda b: b.start, [slice(k, k + 1) for k in range(4)]) == [0, 1, 2, 3]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
