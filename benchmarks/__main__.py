"""``python -m benchmarks``: throughput of our engine beside torch, on CPU and GPU, with reports.

    python -m benchmarks --quick                      # < 1 min smoke run
    python -m benchmarks                              # full sweep, every workload and device
    python -m benchmarks --workloads lenet5 --devices cuda --batch-sizes 64 256 --out bench_gpu
"""
import argparse
import importlib.util
import os
import signal
import sys
import threading
import time
import traceback

from . import report
from .machine import blas_threads, describe, set_blas_threads
from .timing import SETTLE_S
from .train_step import crossover, measure_cell
from .workloads import WORKLOADS

FULL = dict(batch_sizes=[1, 16, 64, 128, 256], repeats=5, warmup=2, min_rep_s=0.2, max_cell_s=60.0,
            settle_s=SETTLE_S)
QUICK = dict(batch_sizes=[1, 16], repeats=2, warmup=1, min_rep_s=0.02, max_cell_s=None, settle_s=0.0)
QUICK_RESNET = dict(batch_sizes=[16], repeats=1, warmup=1, min_rep_s=0.0, max_cell_s=None, settle_s=0.0)
TIMING_KEYS = ("repeats", "warmup", "min_rep_s", "max_cell_s", "settle_s")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument("--devices", nargs="+", choices=("cpu", "cuda"), default=None,
                   help="default: cpu, and cuda when a GPU is available")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=None)
    p.add_argument("--modes", nargs="+", choices=("train", "infer"), default=["train", "infer"])
    p.add_argument("--quick", action="store_true", help="tiny sizes and repeat counts (< 1 min)")
    p.add_argument("--out", default="bench_out", help="output folder (default: bench_out/)")
    p.add_argument("--no-torch", action="store_true", help="skip the torch peer column")
    p.add_argument("--repeats", type=int, default=None, help="timed repetitions per cell")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps per cell")
    p.add_argument("--min-rep-s", type=float, default=None,
                   help="seconds one repetition should last (sets steps per repetition)")
    p.add_argument("--max-cell-s", type=float, default=None,
                   help="fewer repetitions (at least 3) for cells slower than this in total")
    p.add_argument("--settle-s", type=float, default=None,
                   help=f"idle seconds before each CPU repetition, so the other framework's worker "
                        f"threads stop spinning (default: {SETTLE_S}; 0 with --quick)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for NumPy (needs threadpoolctl) and torch; default: BLAS's own")
    p.add_argument("--include-ops", action=argparse.BooleanOptionalAction, default=None,
                   help="run the op benchmark (default: on, off with --quick)")
    p.add_argument("--include-overhead", action=argparse.BooleanOptionalAction, default=None,
                   help="run the overhead benchmark (default: on, off with --quick)")
    p.add_argument("--include-memory", action=argparse.BooleanOptionalAction, default=None,
                   help="run the memory benchmark (default: on, off with --quick)")
    p.add_argument("--keep-host-memory", action=argparse.BooleanOptionalAction, default=True,
                   help="have glibc's malloc keep freed memory, for both frameworks (default: on; "
                        "off measures page faults of fresh allocations too, which vary run to run)")
    return p.parse_args(argv)


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def plan(args, cuda_ours, cuda_torch, use_torch):
    """The cells to measure: (workload, device, batch, mode, frameworks, settings) tuples."""
    devices = args.devices or (["cpu", "cuda"] if cuda_ours else ["cpu"])
    if "cuda" in devices and not cuda_ours:
        print("warning: no CUDA GPU usable by CuPy; skipping device cuda", file=sys.stderr)
        devices = [d for d in devices if d != "cuda"]
    base = QUICK if args.quick else FULL
    cells = []
    for workload in args.workloads:
        settings = dict(QUICK_RESNET if args.quick and workload == "resnet20" else base)
        for key in ("batch_sizes",) + TIMING_KEYS:
            if getattr(args, key) is not None and not (args.quick and workload == "resnet20"
                                                      and key == "batch_sizes"):
                settings[key] = getattr(args, key)
        for device in devices:
            frameworks = ["ours"]
            if use_torch and (device == "cpu" or cuda_torch):
                frameworks.append("torch")
            for batch in settings["batch_sizes"]:
                for mode in args.modes:
                    cells.append((workload, device, batch, mode, frameworks,
                                  {k: settings[k] for k in TIMING_KEYS}))
    return cells


def _generic_table(rows):
    """Markdown for a list of flat dicts (the op benchmark's rows)."""
    if not rows:
        return ""
    keys = list(rows[0])
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = (f"{v:.4g}" if isinstance(v, float) else "" if v is None else str(v)
                 for v in map(r.get, keys))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def run_extras(args, use_torch, results, errors):
    """The op, overhead and memory benchmarks; each one's failure is recorded, not fatal."""
    sections = []

    def want(flag):   # on by default in a full run, off in a quick one
        return (not args.quick) if flag is None else flag

    if want(args.include_ops):
        if importlib.util.find_spec("benchmarks.ops") is None:
            results["ops"] = None
            if args.include_ops:   # asked for by name: its absence is an error
                errors.append("ops: benchmarks/ops.py is not present")
        else:
            try:
                from . import ops
                results["ops"] = ops.run(quick=args.quick)
                table = getattr(ops, "markdown", _generic_table)
                sections.append(("Ops (CPU)", table(results["ops"])))
            except Exception:
                errors.append("ops: " + traceback.format_exc())
    if want(args.include_overhead):
        from . import overhead
        try:
            results["overhead"] = overhead.run(quick=args.quick, torch=use_torch)
            sections.append(("Overhead (microseconds per call)", overhead.markdown(results["overhead"])))
            print(overhead.markdown(results["overhead"]))
        except Exception:
            errors.append("overhead: " + traceback.format_exc())
    if want(args.include_memory):
        from . import memory
        try:
            results["memory"] = memory.run(quick=args.quick, torch=use_torch)
            sections.append(("Memory (LeNet-5 training, batch 64, host RSS)",
                             memory.markdown(results["memory"])))
            print(memory.markdown(results["memory"]))
        except Exception:
            errors.append("memory: " + traceback.format_exc())
    return sections


class Stopped(BaseException):
    """Raised by SIGTERM; a BaseException so that per-cell error handling does not swallow it."""


def _stop(signum, frame):
    raise Stopped()


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    import tinygrad_hw as thw
    from tqdm import tqdm

    use_torch = not args.no_torch and _torch_available()
    # process-wide, so ours and torch run under the same allocator
    kept = thw.keep_host_memory() if args.keep_host_memory else False
    if args.threads is not None:
        set_blas_threads(args.threads)
    threads = blas_threads()
    cuda_torch = False
    if use_torch:
        import torch
        torch.set_num_threads(threads)   # same thread budget as NumPy's BLAS
        cuda_torch = torch.cuda.is_available()
    cuda_ours = thw.cuda.is_available()
    cells = plan(args, cuda_ours, cuda_torch, use_torch)
    if not cells:
        print("error: nothing to measure (no usable device among --devices)", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    results = {"machine": describe(torch_threads=threads if use_torch else None, kept_memory=kept),
               "config": {"quick": args.quick, "workloads": args.workloads, "modes": args.modes,
                          "devices": sorted({c[1] for c in cells}), "torch": use_torch,
                          "data": "synthetic, resident on the device",
                          "timing": {c[0]: c[5] for c in cells}},
               "throughput": []}
    errors, sections = [], []
    # A run stopped by `timeout` (SIGTERM) or Ctrl-C still writes what it has measured.
    in_main = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _stop) if in_main else None
    bar = tqdm(cells, desc="benchmarks", unit="cell", file=sys.stderr)
    try:
        for workload, device, batch, mode, frameworks, settings in bar:
            bar.set_postfix_str(f"{workload} {mode} {device} b={batch}")
            try:
                results["throughput"] += measure_cell(workload, mode, batch, device, frameworks,
                                                      **settings)
            except Exception:
                errors.append(f"{workload} {mode} {device} b={batch}: " + traceback.format_exc())
                bar.write(f"error in {workload} {mode} {device} b={batch}:\n{traceback.format_exc()}")
        bar.close()
        sections = run_extras(args, use_torch, results, errors)
    except (Stopped, KeyboardInterrupt) as e:
        bar.close()
        errors.append(f"interrupted ({type(e).__name__}); the results hold what was measured before")
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous_handler)
    results["crossover"] = crossover(results["throughput"], "ours")
    if use_torch and cuda_torch:
        results["crossover_torch"] = crossover(results["throughput"], "torch")
    results["errors"] = errors
    results["elapsed_s"] = time.perf_counter() - start
    paths = [report.write_json(results, args.out), report.write_markdown(results, args.out, sections)]
    if results["throughput"]:
        paths += report.write_plots(results["throughput"], args.out)
    print(report.throughput_tables(results["throughput"], results["crossover"]))
    print(f"\nwrote {', '.join(paths)} in {results['elapsed_s']:.1f} s")
    if errors:
        print(f"{len(errors)} benchmark(s) failed:\n" + "\n".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
