"""Writing a benchmark run out: results.json (everything), results.md (tables), PNG plots.

    python -m benchmarks.report bench_out/results.json [--compact]   # the tables again
"""
import json
import os

from .machine import summary_line

_LABEL = {("ours", "cpu"): "ours CPU (NumPy)", ("torch", "cpu"): "torch CPU",
          ("ours", "cuda"): "ours GPU (CuPy)", ("torch", "cuda"): "torch GPU"}


def _index(rows):
    """{(workload, mode): {batch: {(framework, device): row}}}"""
    out = {}
    for r in rows:
        out.setdefault((r["workload"], r["mode"]), {}).setdefault(r["batch_size"], {})[
            (r["framework"], r["device"])] = r
    return out


def _fmt(row):
    if row is None:
        return "-"
    return (f"{row['images_per_s']:,.0f} ({row['images_per_s_min']:,.0f}-"
            f"{row['images_per_s_max']:,.0f})")


def _ratio(a, b):
    return "-" if a is None or b is None else f"{a['images_per_s'] / b['images_per_s']:.2f}"


def throughput_tables(rows, crossover=None):
    """Markdown: per workload and mode, images/s by batch size for each framework and device."""
    idx = _index(rows)
    has_gpu = any(r["device"] == "cuda" for r in rows)
    has_torch = any(r["framework"] == "torch" for r in rows)
    parts = []
    for (workload, mode), by_batch in idx.items():
        head = ["batch", "ours CPU"]
        if has_torch:
            head += ["torch CPU", "ours/torch CPU"]
        if has_gpu:
            head += ["ours GPU"] + (["torch GPU", "ours/torch GPU"] if has_torch else []) + [
                "ours GPU/CPU"]
        title = "train step" if mode == "train" else "inference"
        lines = [f"#### {workload}, {title} (images/s: median (min-max))", "",
                 "| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
        for b in sorted(by_batch):
            cell = by_batch[b].get
            vals = [str(b), _fmt(cell(("ours", "cpu")))]
            if has_torch:
                vals += [_fmt(cell(("torch", "cpu"))), _ratio(cell(("ours", "cpu")), cell(("torch", "cpu")))]
            if has_gpu:
                vals.append(_fmt(cell(("ours", "cuda"))))
                if has_torch:
                    vals += [_fmt(cell(("torch", "cuda"))),
                             _ratio(cell(("ours", "cuda")), cell(("torch", "cuda")))]
                vals.append(_ratio(cell(("ours", "cuda")), cell(("ours", "cpu"))))
            lines.append("| " + " | ".join(vals) + " |")
        if crossover is not None:
            c = crossover.get(workload, {}).get(mode)
            if c is None or not c["measured"]:
                text = "not measured (needs both CPU and GPU)"
            elif c["batch_size"] is None:
                text = "the GPU is not faster at any measured batch size"
            else:
                text = f"the GPU is faster from batch size {c['batch_size']} up"
            lines += ["", f"GPU/CPU crossover (ours): {text}."]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def compact_tables(rows):
    """Markdown: one table per workload and device, train and inference medians side by side."""
    idx = _index(rows)
    has_torch = any(r["framework"] == "torch" for r in rows)
    parts = []
    workloads = sorted({w for w, _ in idx}, key=[r["workload"] for r in rows].index)
    for w in workloads:
        for device in ("cpu", "cuda"):
            head, lines = ["batch"], []
            for mode in ("train", "infer"):
                name = "train" if mode == "train" else "inference"
                head += [f"{name}: ours"] + ([f"{name}: torch", "ours/torch"] if has_torch else [])
            batches = sorted({b for m in ("train", "infer") for b, d in idx.get((w, m), {}).items()
                              if ("ours", device) in d})
            for b in batches:
                vals = [str(b)]
                for mode in ("train", "infer"):
                    cell = idx.get((w, mode), {}).get(b, {}).get
                    ours = cell(("ours", device))
                    vals.append("-" if ours is None else f"{ours['images_per_s']:,.0f}")
                    if has_torch:
                        theirs = cell(("torch", device))
                        vals += ["-" if theirs is None else f"{theirs['images_per_s']:,.0f}",
                                 _ratio(ours, theirs)]
                lines.append("| " + " | ".join(vals) + " |")
            if lines:
                title = f"**{w}**, {'CPU' if device == 'cpu' else 'GPU'} (images/s, median)"
                parts.append("\n".join([title, "", "| " + " | ".join(head) + " |",
                                         "|" + "---:|" * len(head), *lines]))
    return "\n\n".join(parts)


def write_json(results, out_dir):
    path = os.path.join(out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=False, default=str)
    return path


def write_markdown(results, out_dir, extra_sections=()):
    """results.md: machine line, throughput tables, and any (title, markdown) extra sections."""
    m = results["machine"]
    lines = ["# Benchmark results", "",
             f"- date: {m['date']}",
             f"- machine: {summary_line(m)}",
             f"- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
             f"- config: {json.dumps(results['config'])}", "",
             "## Throughput", "", throughput_tables(results["throughput"], results.get("crossover"))]
    for title, body in extra_sections:
        if body:
            lines += ["", f"## {title}", "", body]
    path = os.path.join(out_dir, "results.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_plots(rows, out_dir):
    """One PNG per workload (images/s vs batch size; train and inference side by side), and a
    GPU/CPU speed-up plot when GPU rows exist. Returns the paths written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = _index(rows)
    workloads = sorted({w for w, _ in idx}, key=[r["workload"] for r in rows].index)
    paths = []
    for w in workloads:
        modes = [m for m in ("train", "infer") if (w, m) in idx]
        fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4), squeeze=False)
        for ax, mode in zip(axes[0], modes):
            by_batch = idx[(w, mode)]
            for key, label in _LABEL.items():
                pts = [(b, by_batch[b][key]) for b in sorted(by_batch) if key in by_batch[b]]
                if not pts:
                    continue
                xs = [b for b, _ in pts]
                ax.errorbar(xs, [r["images_per_s"] for _, r in pts],
                            yerr=[[r["images_per_s"] - r["images_per_s_min"] for _, r in pts],
                                  [r["images_per_s_max"] - r["images_per_s"] for _, r in pts]],
                            marker="o", capsize=3, label=label,
                            linestyle="-" if key[0] == "ours" else "--")
            _style(ax, sorted(by_batch), "images / s",
                   f"{w}: {'train step' if mode == 'train' else 'inference'}")
        fig.tight_layout()
        path = os.path.join(out_dir, f"throughput_{w}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    if any(r["device"] == "cuda" for r in rows):
        paths.append(_speedup_plot(idx, workloads, out_dir, plt))
    return paths


def _style(ax, batches, ylabel, title):
    """Log-log axes over the batch sizes (ticks at the sizes themselves), labels, grid, legend."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches)
    ax.set_xticklabels([str(b) for b in batches])
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def _speedup_plot(idx, workloads, out_dir, plt):
    """GPU/CPU throughput per batch size: train and inference side by side, one colour per
    workload, solid for ours and dashed for torch."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), squeeze=False)
    batches = sorted({b for by_batch in idx.values() for b in by_batch})
    for ax, mode in zip(axes[0], ("train", "infer")):
        for i, w in enumerate(workloads):
            for fw in ("ours", "torch"):
                by_batch = idx.get((w, mode), {})
                pts = [(b, d[(fw, "cuda")]["images_per_s"] / d[(fw, "cpu")]["images_per_s"])
                       for b, d in sorted(by_batch.items()) if (fw, "cuda") in d and (fw, "cpu") in d]
                if pts:
                    ax.plot([b for b, _ in pts], [s for _, s in pts], marker="o", color=f"C{i}",
                            linestyle="-" if fw == "ours" else "--", label=f"{w} ({fw})")
        ax.axhline(1.0, color="k", linewidth=0.8)
        _style(ax, batches, "GPU / CPU throughput",
               f"GPU speed-up, {'train step' if mode == 'train' else 'inference'} (> 1: GPU faster)")
    fig.tight_layout()
    path = os.path.join(out_dir, "speedup_gpu_over_cpu.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m benchmarks.report",
                                description="Print the throughput tables of a past run.")
    p.add_argument("results_json", help="the results.json a run of python -m benchmarks wrote")
    p.add_argument("--compact", action="store_true",
                   help="one table per workload and device, train and inference side by side")
    args = p.parse_args(argv)
    with open(args.results_json) as f:
        results = json.load(f)
    print(f"machine: {summary_line(results['machine'])}\n")
    if args.compact:
        print(compact_tables(results["throughput"]))
    else:
        print(throughput_tables(results["throughput"], results.get("crossover")))


if __name__ == "__main__":
    main()
