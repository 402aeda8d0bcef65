"""Forward+backward time of the nn primitives on the LeNet-5 and ResNet-20 layer shapes.

    python -m benchmarks.ops [--quick] [--json PATH]

Each case runs here and, when torch is installed, in torch on the CPU in the same process,
interleaved repetition by repetition; the median is reported (and the ratio of the best times,
which other load on the machine disturbs less). Conv rows also give the achieved
GFLOP/s of the whole layer, of its GEMMs alone (the same products on arrays of the same shapes),
and the size of the im2col matrix; NumPy's large square matmul is the reference for GEMM speed.
"""
import argparse
import json
import os
import time

import numpy as np

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F

from .timing import SETTLE_S, settle

try:
    import torch
except ImportError:       # torch is only the peer column
    torch = None

# name, batch, in-channels, out-channels, input size, kernel, stride, padding, input needs grad
CONVS = [
    ("lenet5 conv1 1->6 k5", 64, 1, 6, 28, 5, 1, 0, False),
    ("lenet5 conv2 6->16 k5", 64, 6, 16, 12, 5, 1, 0, True),
    ("resnet20 16->16 k3 28x28", 128, 16, 16, 28, 3, 1, 1, True),
    ("resnet20 32->32 k3 14x14", 128, 32, 32, 14, 3, 1, 1, True),
    ("resnet20 64->64 k3 7x7", 128, 64, 64, 7, 3, 1, 1, True),
    ("resnet20 16->32 k3 s2", 128, 16, 32, 28, 3, 2, 1, True),
    ("resnet20 32->64 k3 s2", 128, 32, 64, 14, 3, 2, 1, True),
    ("resnet20 16->32 1x1 s2", 128, 16, 32, 28, 1, 2, 0, True),
    ("resnet20 32->64 1x1 s2", 128, 32, 64, 14, 1, 2, 0, True),
]


def _interleaved(fns, reps, settle_s=0.0):
    """(median, min) seconds of each function, running them in turn so drift hits all alike. With
    ``settle_s`` each timed call follows a pause and an untimed call (see ``timing.settle``)."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    for _ in range(reps):
        for k, f in enumerate(fns):
            if settle_s > 0:
                settle(settle_s)
                f()         # wakes this framework's threads and warms the caches, untimed
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return [(float(np.median(t)), float(np.min(t))) for t in times]


def _median_interleaved(fns, reps):
    return [m for m, _ in _interleaved(fns, reps)]


def _timing(row, t):
    """Fill the time columns of a row from _interleaved's result for (ours[, torch])."""
    row["ms"], row["ms_min"] = t[0][0] * 1e3, t[0][1] * 1e3
    row["torch_ms"], row["torch_ms_min"] = (t[1][0] * 1e3, t[1][1] * 1e3) if len(t) > 1 else (None, None)
    return row


def square_matmul_gflops(n, reps):
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    (t,) = _median_interleaved([lambda: a @ b], reps)
    return 2 * n ** 3 / t / 1e9


def _ours_and_torch(arrays, grads, fn_ours, fn_torch):
    """Closures that run forward + backward (under a ones cotangent) here and in torch."""
    ours = [thw.Tensor._wrap(a, thw.device("cpu")).requires_grad_(g) for a, g in zip(arrays, grads)]

    def run_ours():
        for t in ours:
            t.grad = None
        out = fn_ours(*ours)
        # in the output's memory layout, as the gradient of the layer after it would arrive
        out.backward(np.ones_like(out._data) if out.ndim else None)

    run_torch = None
    if torch is not None:
        theirs = [torch.from_numpy(a.copy()).requires_grad_(g) for a, g in zip(arrays, grads)]

        def run_torch():
            for t in theirs:
                t.grad = None
            out = fn_torch(*theirs)
            out.backward(torch.ones_like(out) if out.ndim else None)
    return run_ours, run_torch


def _gemm_seconds(N, C, O, H, k, s, p, need_x, reps):
    """Time the conv layer's GEMMs alone: forward, weight gradient, column gradient."""
    OH = (H + 2 * p - k) // s + 1
    P, K = N * OH * OH, C * k * k
    rng = np.random.default_rng(0)
    w = rng.standard_normal((O, K), dtype=np.float32)
    col = rng.standard_normal((K, P), dtype=np.float32)
    g = rng.standard_normal((O, P), dtype=np.float32)
    if O * K <= 1024 and OH > 1:     # conv2d's per-output-row weight gradient for tiny weights
        c3 = col.reshape(K, OH, -1).transpose(1, 0, 2)
        g3 = g.reshape(O, OH, -1).transpose(1, 2, 0)
        grad_w = lambda: np.matmul(c3, g3).sum(axis=0)      # noqa: E731
    else:
        grad_w = lambda: col @ g.T                            # noqa: E731
    parts = [lambda: w @ col, grad_w] + ([lambda: w.T @ g] if need_x else [])
    return sum(_median_interleaved(parts, reps))


def _wanted(name, only):
    return only is None or any(o in name for o in only)


def _conv_cases(reps, only, settle_s):
    rows = []
    for name, N, C, O, H, k, s, p, need_x in CONVS:
        if not _wanted(name, only):
            continue
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, C, H, H), dtype=np.float32)
        w = (rng.standard_normal((O, C, k, k), dtype=np.float32) / np.sqrt(C * k * k)).astype(np.float32)
        b = rng.standard_normal(O, dtype=np.float32)
        ours, theirs = _ours_and_torch(
            [x, w, b], [need_x, True, True],
            lambda x, w, b: F.conv2d(x, w, b, stride=s, padding=p),
            torch and (lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=s, padding=p)))
        OH = (H + 2 * p - k) // s + 1
        flops = 2 * N * O * C * k * k * OH * OH * (3 if need_x else 2)
        t = _interleaved([ours] + ([theirs] if theirs else []), reps, settle_s if theirs else 0.0)
        gemm = _gemm_seconds(N, C, O, H, k, s, p, need_x, reps)
        rows.append(_timing(dict(op="conv2d", case=name, shape=f"{N}x{C}x{H}x{H} -> {O}x{OH}x{OH}",
                                 gflops=flops / t[0][0] / 1e9, gemm_gflops=flops / gemm / 1e9,
                                 im2col_mib=C * k * k * N * OH * OH * 4 / 2 ** 20), t))
    return rows


def _other_cases(reps, only, settle_s):
    rng = np.random.default_rng(0)
    cases = []
    x = rng.standard_normal((64, 6, 24, 24), dtype=np.float32)
    cases.append(("max_pool2d", "2x2 lenet5", [x], [True], lambda x: F.max_pool2d(x, 2),
                  lambda x: torch.nn.functional.max_pool2d(x, 2)))
    # channels-last, as a float32 conv on oneDNN hands its output on (see nn/_conv.py)
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    cases.append(("max_pool2d", "channels-last 2x2 lenet5", [xl], [True], lambda x: F.max_pool2d(x, 2),
                  lambda x: torch.nn.functional.max_pool2d(x, 2)))
    x = rng.standard_normal((128, 16, 28, 28), dtype=np.float32)
    cases.append(("max_pool2d", "2x2 128x16x28x28", [x], [True], lambda x: F.max_pool2d(x, 2),
                  lambda x: torch.nn.functional.max_pool2d(x, 2)))
    cases.append(("max_pool2d", "3x3 s2 p1 128x16x28x28", [x], [True],
                  lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: torch.nn.functional.max_pool2d(x, 3, 2, 1)))
    cases.append(("avg_pool2d", "2x2 128x16x28x28", [x], [True], lambda x: F.avg_pool2d(x, 2),
                  lambda x: torch.nn.functional.avg_pool2d(x, 2)))
    cases.append(("avg_pool2d", "3x3 s1 p1 128x16x28x28", [x], [True], lambda x: F.avg_pool2d(x, 3, 1, 1),
                  lambda x: torch.nn.functional.avg_pool2d(x, 3, 1, 1)))
    # batch-last, as a conv on NumPy hands its output on, and channels-last, as one on oneDNN does
    xb = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    cases.append(("relu", "128x16x28x28 batch-last", [xb], [True], F.relu, torch.nn.functional.relu))
    cases.append(("relu", "128x16x28x28 channels-last", [xl], [True], F.relu, torch.nn.functional.relu))
    cases.append(("relu", "64x6x24x24", [x[:64, :6, :24, :24].copy()], [True], F.relu, torch.nn.functional.relu))
    c = x.shape[1]
    wb = [rng.standard_normal(c, dtype=np.float32), rng.standard_normal(c, dtype=np.float32)]
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    ours_rm, ours_rv = thw.tensor(rm), thw.tensor(rv)
    t_rm = torch.from_numpy(rm.copy()) if torch else None
    t_rv = torch.from_numpy(rv.copy()) if torch else None
    cases.append(("batch_norm", "train 128x16x28x28", [x] + wb, [True, True, True],
                  lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, training=True),
                  lambda x, w, b: torch.nn.functional.batch_norm(x, t_rm, t_rv, w, b, training=True)))
    cases.append(("batch_norm", "train 128x16x28x28 batch-last", [xb] + wb, [True, True, True],
                  lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, training=True),
                  lambda x, w, b: torch.nn.functional.batch_norm(x, t_rm, t_rv, w, b, training=True)))
    cases.append(("batch_norm", "train 128x16x28x28 channels-last", [xl] + wb, [True, True, True],
                  lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, training=True),
                  lambda x, w, b: torch.nn.functional.batch_norm(x, t_rm, t_rv, w, b, training=True)))
    for n, k in ((128, 10), (1024, 1000)):
        logits = (rng.standard_normal((n, k), dtype=np.float32) * 3).astype(np.float32)
        target = rng.integers(0, k, n)
        cases.append(("cross_entropy", f"{n}x{k}", [logits], [True],
                      lambda a, target=target: F.cross_entropy(a, thw.tensor(target)),
                      lambda a, target=target: torch.nn.functional.cross_entropy(a, torch.from_numpy(target))))
    rows = []
    for op, name, arrays, grads, fo, ft in cases:
        if not _wanted(f"{op} {name}", only):
            continue
        ours, theirs = _ours_and_torch(arrays, grads, fo, torch and ft)
        t = _interleaved([ours] + ([theirs] if theirs else []), reps, settle_s if theirs else 0.0)
        rows.append(_timing(dict(op=op, case=name, shape="x".join(map(str, arrays[0].shape)), gflops=None,
                                 gemm_gflops=None, im2col_mib=None), t))
    return rows


def run(quick=False, only=None):
    """All cases (or those whose name contains one of ``only``) as a list of dicts; the first row
    is NumPy's square matmul reference."""
    reps = 3 if quick else 15
    n = 1024 if quick else 2048
    rows = [dict(op="numpy matmul", case=f"{n}x{n} float32", shape=f"{n}x{n}", ms=None, ms_min=None,
                 torch_ms=None, torch_ms_min=None, gflops=square_matmul_gflops(n, reps), gemm_gflops=None,
                 im2col_mib=None)]
    settle_s = 0.0 if quick else SETTLE_S    # see benchmarks.timing.settle
    rows += _conv_cases(reps, only, settle_s)
    rows += _other_cases(reps, only, settle_s)
    for r in rows:
        r["speed_vs_torch"] = r["torch_ms"] / r["ms"] if r["torch_ms"] and r["ms"] else None
        r["speed_vs_torch_min"] = r["torch_ms_min"] / r["ms_min"] if r["torch_ms_min"] and r["ms_min"] else None
    return rows


def markdown(rows):
    def f(v, fmt):
        return "" if v is None else format(v, fmt)
    lines = ["| op | case | shape | ours ms | torch ms | torch/ours | best-of torch/ours | GFLOP/s "
             "| GEMM GFLOP/s | im2col MiB |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['op']} | {r['case']} | {r['shape']} | {f(r['ms'], '.2f')} | {f(r['torch_ms'], '.2f')} "
                     f"| {f(r['speed_vs_torch'], '.2f')} | {f(r['speed_vs_torch_min'], '.2f')} "
                     f"| {f(r['gflops'], '.0f')} | {f(r['gemm_gflops'], '.0f')} | {f(r['im2col_mib'], '.1f')} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller reference matmul")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    ap.add_argument("--only", nargs="+", metavar="TEXT", help="run only the cases whose name contains TEXT")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for NumPy's BLAS (needs threadpoolctl) and torch; default: their own")
    args = ap.parse_args(argv)
    if args.threads:
        from .machine import set_blas_threads
        set_blas_threads(args.threads)
        if hasattr(thw, "set_num_threads"):
            thw.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    rows = run(quick=args.quick, only=args.only)
    # other processes on the machine slow multithreaded BLAS and OpenMP badly: say how busy it was
    print(f"load average (1 min) before / after: {load:.2f} / {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs; threads: {args.threads or 'default'}\n")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
