"""``python -m benchmarks.distributed``: data-parallel train-step throughput on this machine.

    python -m benchmarks.distributed --quick          # a smoke run, well under a minute
    python -m benchmarks.distributed --out bench_dist # LeNet-5 and ResNet-20 at global batch 128

For each workload (synthetic MNIST-shaped batches, SGD with momentum, as benchmarks.workloads),
three configurations run as separate processes, each with its BLAS/OpenMP threads fixed through
the environment before NumPy loads:

- ``1x2``: one process with 2 threads, the whole global batch B per step;
- ``1x1``: one process with 1 thread (the per-core baseline);
- ``2x1``: ``mpiexec -n 2``, one thread each, B/2 per rank, DistributedDataParallel averaging
  the gradients over MPI.

Reported: global images/s (median over repetitions; a repetition's time is the slowest rank's),
for 2x1 the gradient all-reduce per step (MB, and ms spent in it inside the step, which includes
waiting for the slower rank, plus the bare MPI all-reduce of the same buffers), the speedup of
2x1 over 1x2, and scaling efficiency = throughput(2x1) / (2 * throughput(1x1)). The load average
(``uptime``) is recorded before and after: on a shared machine the numbers are noisy.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FULL = dict(workloads={"lenet5": 128, "resnet20": 128}, warmup=2, repeats=5, steps=4)
QUICK = dict(workloads={"lenet5": 64, "resnet20": 16}, warmup=1, repeats=2, steps=2)


# --- one configuration, in its own process(es) ------------------------------------------------------
def worker(args):
    import numpy as np
    import tinygrad_hw as thw
    import tinygrad_hw.nn.functional as F
    from tinygrad_hw import optim
    from .workloads import LR, MOMENTUM, build_ours, synthetic_batch

    parallel = args.ranks > 1
    rank, world = 0, 1
    if parallel:
        import tinygrad_hw.distributed as dist
        from tinygrad_hw.nn.parallel import DistributedDataParallel
        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
    x_np, y_np = synthetic_batch(args.batch)
    share = slice(rank * args.batch // world, (rank + 1) * args.batch // world)
    x, y = thw.tensor(x_np[share]), thw.tensor(y_np[share])
    thw.manual_seed(0)
    model = build_ours(args.workload)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    comm = []
    if parallel:
        model = DistributedDataParallel(model)
        reduce_gradients = model._reduce_gradients

        def timed():    # the reduction as the step sees it: copies, all-reduce, waiting for the other rank
            t0 = time.perf_counter()
            reduce_gradients()
            comm.append(time.perf_counter() - t0)
        model._reduce_gradients = timed

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def slowest(seconds):
        if not parallel:
            return seconds
        t = thw.tensor(np.array([seconds]))
        dist.all_reduce(t, dist.ReduceOp.MAX)
        return float(t.item())

    for _ in range(args.warmup):
        step()
    times = []
    comm.clear()
    for _ in range(args.repeats):
        if parallel:
            dist.barrier()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        times.append(slowest(time.perf_counter() - t0) / args.steps)
    out = {"workload": args.workload, "config": f"{world}x{args.threads}", "global_batch": args.batch,
           "ms_per_step": 1e3 * statistics.median(times), "images_per_s": args.batch / statistics.median(times),
           "images_per_s_min": args.batch / max(times), "images_per_s_max": args.batch / min(times)}
    if parallel:
        flats = [b.flat for b in model._grad_buckets]
        out["allreduce_mb"] = sum(f.numel() * f.dtype.itemsize for f in flats) / 2**20
        out["buckets"] = len(flats)
        out["reduce_ms_in_step"] = 1e3 * statistics.median(comm)
        bare = []
        for _ in range(max(5, args.repeats * args.steps)):
            dist.barrier()
            t0 = time.perf_counter()
            for f in flats:
                dist.all_reduce(f)
            bare.append(time.perf_counter() - t0)
        out["allreduce_ms"] = 1e3 * slowest(statistics.median(bare))
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def launch(workload, batch, ranks, threads, timing):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "benchmarks.distributed", "--worker", "--workload", workload,
           "--batch", str(batch), "--ranks", str(ranks), "--threads", str(threads),
           "--warmup", str(timing["warmup"]), "--repeats", str(timing["repeats"]), "--steps", str(timing["steps"])]
    if ranks > 1:
        cmd = [shutil.which("mpiexec"), "-n", str(ranks)] + cmd
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def table(rows):
    by = {(r["workload"], r["config"]): r for r in rows}
    lines = ["| workload | global batch | 1x1 img/s | 1x2 img/s | 2x1 img/s | 2x1 / 1x2 | efficiency "
             "| all-reduce MB/step | reduce ms/step (in step) | bare all-reduce ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for w in dict.fromkeys(r["workload"] for r in rows):
        one, two, par = by[(w, "1x1")], by[(w, "1x2")], by[(w, "2x1")]
        lines.append(f"| {w} | {par['global_batch']} | {one['images_per_s']:.0f} | {two['images_per_s']:.0f} | "
                     f"{par['images_per_s']:.0f} | {par['images_per_s'] / two['images_per_s']:.2f} | "
                     f"{par['images_per_s'] / (2 * one['images_per_s']):.0%} | {par['allreduce_mb']:.2f} | "
                     f"{par['reduce_ms_in_step']:.2f} | {par['allreduce_ms']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small batches, few repetitions (well under a minute)")
    p.add_argument("--workloads", nargs="+", choices=("lenet5", "resnet20"), default=None)
    p.add_argument("--out", type=Path, help="write distributed.json and distributed.md here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name, kind in (("workload", str), ("batch", int), ("ranks", int), ("threads", int), ("warmup", int),
                       ("repeats", int), ("steps", int)):
        p.add_argument(f"--{name}", type=kind, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if shutil.which("mpiexec") is None:
        p.error("needs mpiexec and mpi4py: pip install tinygrad-hw[dist]")
    timing = QUICK if args.quick else FULL
    workloads = {w: b for w, b in timing["workloads"].items() if args.workloads is None or w in args.workloads}
    load_before = os.getloadavg()
    start = time.perf_counter()
    rows = []
    for w, batch in workloads.items():
        for ranks, threads in ((1, 1), (1, 2), (2, 1)):
            rows.append(launch(w, batch, ranks, threads, timing))
            print(f"{w} {ranks}x{threads}: {rows[-1]['images_per_s']:.0f} img/s", file=sys.stderr)
    load_after = os.getloadavg()
    text = table(rows)
    note = (f"load average (1, 5, 15 min) before {', '.join(f'{v:.2f}' for v in load_before)}, after "
            f"{', '.join(f'{v:.2f}' for v in load_after)}; {os.cpu_count()} CPUs; "
            f"{'quick' if args.quick else 'full'} run in {time.perf_counter() - start:.0f} s")
    print(text)
    print(note)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "distributed.json").write_text(json.dumps({"rows": rows, "load_before": load_before,
                                                               "load_after": load_after}, indent=1))
        (args.out / "distributed.md").write_text(text + "\n\n" + note + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
