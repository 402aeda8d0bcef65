"""Per-op framework overhead: what a tiny op or a tiny model costs beyond its arithmetic.

Two numbers, beside torch when it is installed:
  * microseconds per 1-element add with the graph recorded (both inputs require grad);
  * microseconds per forward+backward of a 16-32-10 MLP (Linear-ReLU-Linear, cross-entropy) at
    batch 1.
Targets for ours: <= 3 us per add and <= 100 us per tiny MLP step (reported, not asserted).

    python -m benchmarks.overhead [--quick] [--no-torch]
"""
import argparse
import time

import numpy as np

TARGETS_US = {"add_1elem": 3.0, "tiny_mlp_fwd_bwd": 100.0}


def _best_us(fn, n, repeats):
    """Median and best microseconds per call over ``repeats`` timings of ``n`` calls."""
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        per_call.append((time.perf_counter() - start) / n * 1e6)
    per_call.sort()
    return per_call[len(per_call) // 2], per_call[0]


def _ours_cases():
    import tinygrad_hw as thw
    import tinygrad_hw.nn.functional as F
    from tinygrad_hw import nn

    a = thw.tensor([1.0], requires_grad=True)
    b = thw.tensor([2.0], requires_grad=True)

    def add():
        return a + b

    thw.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))
    x = thw.tensor(np.random.default_rng(0).standard_normal((1, 16), dtype=np.float32))
    y = thw.tensor(np.array([3], dtype=np.int64))

    def mlp():
        F.cross_entropy(model(x), y).backward()
    return {"add_1elem": add, "tiny_mlp_fwd_bwd": mlp}


def _torch_cases():
    import torch
    import torch.nn.functional as F
    from torch import nn

    a = torch.tensor([1.0], requires_grad=True)
    b = torch.tensor([2.0], requires_grad=True)

    def add():
        return a + b

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 16), dtype=np.float32))
    y = torch.tensor([3])

    def mlp():
        F.cross_entropy(model(x), y).backward()
    return {"add_1elem": add, "tiny_mlp_fwd_bwd": mlp}


def run(quick=False, torch=True):
    """Measure both cases for ours (and torch when asked and installed); return rows of dicts."""
    counts = {"add_1elem": 2000 if quick else 20000, "tiny_mlp_fwd_bwd": 200 if quick else 2000}
    repeats = 3 if quick else 7
    frameworks = {"ours": _ours_cases}
    if torch:
        try:
            import torch as _  # noqa: F401
            frameworks["torch"] = _torch_cases
        except ImportError:
            pass
    rows = []
    for fw, make in frameworks.items():
        for name, fn in make().items():
            for _ in range(min(50, counts[name])):   # warm caches and allocators
                fn()
            median, best = _best_us(fn, counts[name], repeats)
            rows.append({"case": name, "framework": fw, "us_median": median, "us_best": best,
                         "target_us": TARGETS_US[name] if fw == "ours" else None,
                         "meets_target": (median <= TARGETS_US[name]) if fw == "ours" else None})
    return rows


def markdown(rows):
    lines = ["| case | framework | median (us) | best (us) | target (us) |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        target = "" if r["target_us"] is None else (
            f"<= {r['target_us']:g} ({'met' if r['meets_target'] else 'not met'})")
        lines.append(f"| {r['case']} | {r['framework']} | {r['us_median']:.2f} | {r['us_best']:.2f} | "
                     f"{target} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args(argv)
    if not args.no_torch:
        from .machine import blas_threads
        try:
            import torch
            torch.set_num_threads(blas_threads())
        except ImportError:
            pass
    print(markdown(run(quick=args.quick, torch=not args.no_torch)))


if __name__ == "__main__":
    main()
