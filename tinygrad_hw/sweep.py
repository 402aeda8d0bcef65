"""A grid of training runs, in one process, summarised as a markdown table.

    python -m tinygrad_hw.sweep --model lenet5 --lrs 0.1 0.01 --epochs 1 2 --schedules none step

Every combination of learning rate, epoch count and schedule is trained with ``train.run``;
any other training option (``--batch-size``, ``--limit-train``, ``--device``...) applies to all.
"""
import argparse
import itertools
import sys

from . import backend, train


def _parser():
    p = argparse.ArgumentParser(prog="python -m tinygrad_hw.sweep",
                                description="Train every combination of lr, epochs and schedule; print a table.")
    p.add_argument("--model", choices=train.MODELS, default="lenet5")
    p.add_argument("--lrs", type=float, nargs="+", required=True)
    p.add_argument("--epochs", type=int, nargs="+", required=True)
    p.add_argument("--schedules", nargs="+", default=["none"], choices=("none", "step", "multistep", "cosine"))
    p.add_argument("--progress", action="store_true", help="show each run's progress bar")
    return p


def table(rows):
    """Markdown table of (lr, epochs, schedule, test accuracy, wall seconds) rows."""
    lines = ["| lr | epochs | schedule | test accuracy | wall (s) |", "|---:|---:|---|---:|---:|"]
    lines += [f"| {lr:g} | {e} | {s} | {acc:.2f}% | {wall:.1f} |" for lr, e, s, acc, wall in rows]
    return "\n".join(lines)


def main(argv=None):
    """Unknown options are passed to every training run (validated by the trainer's parser)."""
    args, rest = _parser().parse_known_args(argv)
    grid = list(itertools.product(args.lrs, args.epochs, args.schedules))
    # every run's options are checked before the first one starts
    configs = [train.parse_args(["--model", args.model, "--lr", repr(lr), "--epochs", str(epochs),
                                 "--schedule", schedule, *rest, *([] if args.progress else ["--no-progress"])])
               for lr, epochs, schedule in grid]
    backend.keep_host_memory()  # this process is ours: reuse freed pages (fewer page faults)
    rows = []
    for (lr, epochs, schedule), config in zip(grid, configs):
        result = train.run(config, log=lambda *a: None)
        rows.append((lr, epochs, schedule, result["test_acc"], result["wall"]))
        print(f"lr {lr:g}, {epochs} epoch(s), schedule {schedule}: test accuracy {result['test_acc']:.2f}% "
              f"(wall {result['wall']:.1f} s)", file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
