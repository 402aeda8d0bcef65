"""Throughput of train and inference steps: ours beside torch, interleaved, over a batch sweep.

For one cell (workload, mode, batch size, device) both frameworks are warmed up, then timed in
alternating repetitions (ours, torch, torch, ours, ...) so that drift of the machine (turbo,
neighbours, thermal) hits both alike. Each repetition times ``inner`` back-to-back steps, with
``inner`` chosen from the warm-up so a repetition lasts about ``min_rep_s``; cells whose
repetitions would together exceed ``max_cell_s`` get fewer of them (never under 3). Throughput
is images per second; we keep the median and the min/max over repetitions. On the CPU each
repetition starts after an idle pause (``settle_s``) and one untimed step, so that the worker
threads the other framework left spinning do not share its cores.
"""
import math
import statistics

from .timing import SETTLE_S, settle, timer_for
from .workloads import make_step


def _calibrate(fn, timer, warmup, min_rep_s, max_inner):
    """Run the warm-up calls; return steps per repetition so one lasts about ``min_rep_s``."""
    last = None
    for _ in range(max(1, warmup)):
        last = timer.time(fn, 1)
    return max(1, min(max_inner, math.ceil(min_rep_s / max(last, 1e-9)))), last


def measure_cell(workload, mode, batch_size, device, frameworks, repeats=5, warmup=2,
                 min_rep_s=0.2, max_cell_s=None, settle_s=SETTLE_S, max_inner=1000):
    """Time one cell for each framework in ``frameworks``; return one result dict per framework."""
    steps, timers, inner, first = {}, {}, {}, {}
    for fw in frameworks:
        steps[fw] = make_step(fw, workload, mode, batch_size, device)
        timers[fw] = timer_for(fw, device)
        inner[fw], first[fw] = _calibrate(steps[fw], timers[fw], warmup, min_rep_s, max_inner)
    if max_cell_s:
        per_rep = sum(inner[fw] * first[fw] for fw in frameworks)
        repeats = min(repeats, max(3, int(max_cell_s / max(per_rep, 1e-9))))
    samples = {fw: [] for fw in frameworks}
    for r in range(repeats):
        order = frameworks if r % 2 == 0 else frameworks[::-1]
        for fw in order:
            if device == "cpu" and settle_s > 0:
                settle(settle_s)
                steps[fw]()     # wakes this framework's threads and warms the caches, untimed
            seconds = timers[fw].time(steps[fw], inner[fw])
            samples[fw].append(batch_size * inner[fw] / seconds)
    rows = []
    for fw in frameworks:
        s = samples[fw]
        med = statistics.median(s)
        rows.append({"workload": workload, "mode": mode, "batch_size": batch_size, "device": device,
                     "framework": fw, "images_per_s": med, "images_per_s_min": min(s),
                     "images_per_s_max": max(s), "ms_per_step": 1e3 * batch_size / med,
                     "repeats": repeats, "steps_per_repeat": inner[fw],
                     "warmup": warmup, "warmup_step_ms": 1e3 * first[fw]})
    return rows


def crossover(rows, framework="ours"):
    """Per (workload, mode): the smallest batch size from which the GPU is faster than the CPU.

    'From which' means for that batch size and every larger one measured; None when the GPU never
    wins, or when one of the two devices was not measured.
    """
    table = {}
    for r in rows:
        if r["framework"] == framework:
            table.setdefault((r["workload"], r["mode"]), {}).setdefault(r["batch_size"], {})[
                r["device"]] = r["images_per_s"]
    out = {}
    for (workload, mode), by_batch in table.items():
        both = sorted(b for b, d in by_batch.items() if "cpu" in d and "cuda" in d)
        found = None
        for b in reversed(both):
            if by_batch[b]["cuda"] > by_batch[b]["cpu"]:
                found = b
            else:
                break
        out.setdefault(workload, {})[mode] = {"batch_size": found, "measured": bool(both)}
    return out
