"""Host memory of LeNet-5 training: peak RSS over the first steps, and live RSS over many.

Each framework runs in a fresh subprocess, so one's allocations and imports do not count
against the other. The child trains LeNet-5 (batch 64, SGD with momentum, synthetic data) and
reports the RSS after imports, the peak RSS (VmHWM, else ``ru_maxrss``) after ``peak_steps``
steps, and the live RSS at two later steps: live RSS that climbs between them means something
keeps graphs or arrays alive. Target for ours: peak <= 100 MiB.

    python -m benchmarks.memory [--quick] [--no-torch]
"""
import argparse
import json
import os
import resource
import subprocess
import sys

TARGET_PEAK_MIB = 100.0


def _proc_status_mib(field):
    """A memory field of /proc/self/status ('VmHWM', 'VmRSS') in MiB, or None without /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mib():
    """This process's peak resident set.

    Linux's ``ru_maxrss`` carries over, across exec, the peak of the process that spawned us (so
    a child of a big benchmark run would report the parent's peak); VmHWM belongs to this
    program's own address space, so we prefer it and fall back to ``ru_maxrss`` (KiB on Linux,
    bytes on macOS) where there is no /proc.
    """
    hwm = _proc_status_mib("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def live_rss_mib():
    """Current resident set, from /proc where there is one (else the peak, an upper bound)."""
    rss = _proc_status_mib("VmRSS")
    return peak_rss_mib() if rss is None else rss


def _child(framework, batch_size, peak_steps, live_steps):
    """Runs inside the subprocess: train and print one JSON line of measurements."""
    import numpy  # noqa: F401  (counted in the baseline)
    if framework == "torch":
        import torch
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    else:
        import tinygrad_hw  # noqa: F401
    from .workloads import make_step
    baseline = live_rss_mib()
    step = make_step(framework, "lenet5", "train", batch_size, "cpu")
    out = {"framework": framework, "batch_size": batch_size, "baseline_rss_mib": baseline,
           "live_rss_mib": {}}
    last = max(peak_steps, *live_steps)
    for i in range(1, last + 1):
        step()
        if i == peak_steps:
            out["peak_rss_mib"] = peak_rss_mib()
            out["peak_steps"] = peak_steps
            out["peak_source"] = "VmHWM" if _proc_status_mib("VmHWM") is not None else "ru_maxrss"
        if i in live_steps:
            out["live_rss_mib"][str(i)] = live_rss_mib()
    print(json.dumps(out))


def measure(framework, batch_size=64, peak_steps=50, live_steps=(100, 1000), timeout=900):
    """Run the child for ``framework`` ('ours' or 'torch') and return its measurements."""
    from .machine import blas_threads
    n = str(blas_threads())   # the parent's thread budget, for both frameworks in the child
    env = dict(os.environ, BENCH_THREADS=n, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "benchmarks.memory", "--child", framework,
           "--batch-size", str(batch_size), "--peak-steps", str(peak_steps),
           "--live-steps", *map(str, live_steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child for {framework} failed:\n{proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    first, last = (row["live_rss_mib"][str(s)] for s in (live_steps[0], live_steps[-1]))
    row["growth_mib"] = last - first
    row["target_peak_mib"] = TARGET_PEAK_MIB if framework == "ours" else None
    return row


def run(quick=False, torch=True):
    """Peak and live RSS for ours (and torch when asked and installed); a list of dicts."""
    kwargs = dict(peak_steps=10, live_steps=(20, 100)) if quick else {}
    frameworks = ["ours"]
    if torch:
        try:
            import importlib.util
            if importlib.util.find_spec("torch") is not None:
                frameworks.append("torch")
        except ImportError:
            pass
    return [measure(fw, **kwargs) for fw in frameworks]


def markdown(rows):
    if not rows:
        return ""
    s0, s1 = list(rows[0]["live_rss_mib"])[:2]
    lines = [f"| framework | RSS after imports (MiB) | peak RSS, {rows[0]['peak_steps']} steps (MiB) | "
             f"live RSS step {s0} (MiB) | live RSS step {s1} (MiB) | growth (MiB) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        peak = f"{r['peak_rss_mib']:.1f}"
        if r["target_peak_mib"] is not None:
            peak += f" (target <= {r['target_peak_mib']:g})"
        lines.append(f"| {r['framework']} | {r['baseline_rss_mib']:.1f} | {peak} | "
                     f"{r['live_rss_mib'][s0]:.1f} | {r['live_rss_mib'][s1]:.1f} | "
                     f"{r['growth_mib']:+.1f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--child", choices=("ours", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--peak-steps", type=int, default=50)
    p.add_argument("--live-steps", type=int, nargs=2, default=(100, 1000))
    args = p.parse_args(argv)
    if args.child:
        _child(args.child, args.batch_size, args.peak_steps, tuple(args.live_steps))
        return
    print(markdown(run(quick=args.quick, torch=not args.no_torch)))


if __name__ == "__main__":
    main()
