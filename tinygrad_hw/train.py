"""Train a model on MNIST: ``python -m tinygrad_hw.train --model lenet5`` (or ``tinygrad-hw-train``).

Each model's defaults reach its accuracy bar on the MNIST test set (softmax >= 92.5%,
MLP >= 98.3%, LeNet-5 >= 99.1%, ResNet-20 >= 99.5%). With ``--checkpoint`` the state after
every epoch is saved (model, optimizer, schedule, loader and RNG state), and ``--resume``
continues from it to the same result an uninterrupted run gives.

``mpiexec -n N python -m tinygrad_hw.train ...`` trains data-parallel on N processes (see
``tinygrad_hw.distributed.launch``): ``--batch-size`` stays the global batch (each rank takes
1/N of it), so the learning rate is unchanged; rank 0 alone logs, plots and checkpoints.
"""
import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

import tinygrad_hw as thw
from tinygrad_hw import optim
import tinygrad_hw.nn.functional as F
from tinygrad_hw.data import MNIST, DataLoader, subset, random_shift, MNIST_MEAN, MNIST_STD
from tinygrad_hw.distributed import launch
from tinygrad_hw.models import SoftmaxRegression, MLP, LeNet5, resnet20

MODELS = ("softmax", "mlp", "lenet5", "resnet20")
# Per-model defaults, chosen as the fewest epochs that clear each model's bar with some margin.
# ``augment`` is the largest random translation in pixels (0: none).
DEFAULTS = {
    "softmax": dict(epochs=20, batch_size=128, lr=0.002, momentum=0.9, weight_decay=0.0,
                    optimizer="adam", schedule="cosine", augment=0),
    "mlp": dict(epochs=10, batch_size=128, lr=0.05, momentum=0.9, weight_decay=5e-4,
                optimizer="sgd", schedule="cosine", augment=2),
    "lenet5": dict(epochs=12, batch_size=128, lr=0.05, momentum=0.9, weight_decay=5e-4,
                   optimizer="sgd", schedule="cosine", augment=2),
    "resnet20": dict(epochs=8, batch_size=128, lr=0.1, momentum=0.9, weight_decay=5e-4,
                     optimizer="sgd", schedule="cosine", augment=2),
}
# the learning rate used when --optimizer overrides a model's default optimizer but --lr is not given
OPTIMIZER_LR = {"sgd": 0.05, "adam": 0.001}
EVAL_BATCH = 1000


def build_model(name, num_classes=10, in_channels=1, input_size=28):
    if name == "softmax":
        return SoftmaxRegression(in_channels * input_size * input_size, num_classes)
    if name == "mlp":
        return MLP(in_channels * input_size * input_size, (512, 256), num_classes)
    if name == "lenet5":
        return LeNet5(in_channels, num_classes, input_size)
    if name == "resnet20":
        return resnet20(num_classes, in_channels)
    raise ValueError(f"unknown model '{name}': expected one of {', '.join(MODELS)}")


def build_optimizer(args, params):
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                         nesterov=args.momentum > 0)
    return optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)


def build_schedule(args, optimizer):
    """Per-epoch schedules: step divides by 10 every third of the run, multistep at 1/2 and 3/4."""
    e = args.epochs
    if args.schedule == "step":
        return optim.lr_scheduler.StepLR(optimizer, step_size=max(1, e // 3), gamma=0.1)
    if args.schedule == "multistep":
        return optim.lr_scheduler.MultiStepLR(optimizer, sorted({max(1, e // 2), max(1, 3 * e // 4)}), gamma=0.1)
    if args.schedule == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=e)
    return None


# --- arguments ------------------------------------------------------------------------------------
def _parser():
    p = argparse.ArgumentParser(prog="tinygrad-hw-train", description="Train a model on MNIST with tinygrad_hw.")
    p.add_argument("--model", choices=MODELS, default="lenet5")
    p.add_argument("--epochs", type=int, help="number of epochs (default: per model)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--momentum", type=float, help="SGD momentum (Nesterov when > 0); not for Adam")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--optimizer", choices=("sgd", "adam"))
    p.add_argument("--schedule", choices=("none", "step", "multistep", "cosine"))
    p.add_argument("--augment", type=int, metavar="PIXELS", help="random shifts of up to PIXELS (0: off)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--data-dir", type=Path, help="folder with the MNIST IDX files (default: the copy bundled with the package)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", type=Path, metavar="PATH", help="save a checkpoint here after each epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--stop-after", type=int, metavar="E",
                   help="stop after epoch E, as if interrupted (--resume continues the run)")
    p.add_argument("--plot", type=Path, metavar="PNG", help="write loss and accuracy curves here")
    p.add_argument("--limit-train", type=int, metavar="N", help="train on the first N images only")
    p.add_argument("--limit-test", type=int, metavar="N", help="test on the first N images only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def parse_args(argv=None):
    """Parse and validate; per-model defaults fill what was not given. Errors exit with status 2."""
    p = _parser()
    args = p.parse_args(argv)
    defaults = DEFAULTS[args.model]
    optimizer = args.optimizer or defaults["optimizer"]
    if optimizer == "adam" and args.momentum is not None:
        # Adam's counterpart of momentum is betas[0] (0.9 here, torch's default); ignoring the
        # option silently would train something other than what was asked for
        p.error(f"--momentum applies to SGD only, not to Adam (whose first-moment decay is betas[0] = 0.9); "
                f"drop --momentum or use --optimizer sgd")
    if args.lr is None and args.optimizer not in (None, defaults["optimizer"]):
        args.lr = OPTIMIZER_LR[args.optimizer]
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    def check(ok, message):
        if not ok:
            p.error(message)

    check(args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}")
    check(args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}")
    check(math.isfinite(args.lr) and args.lr > 0, f"--lr must be positive, got {args.lr}")
    check(0 <= args.momentum < 1, f"--momentum must be in [0, 1), got {args.momentum}")
    check(args.weight_decay >= 0, f"--weight-decay must be >= 0, got {args.weight_decay}")
    check(0 <= args.augment <= 8, f"--augment must be between 0 and 8 pixels, got {args.augment}")
    for name in ("limit_train", "limit_test"):
        n = getattr(args, name)
        check(n is None or n >= 1, f"--{name.replace('_', '-')} must be at least 1, got {n}")
    if args.stop_after is not None:
        check(1 <= args.stop_after <= args.epochs, f"--stop-after must be in 1..{args.epochs}, got {args.stop_after}")
    if args.data_dir is not None:
        check(args.data_dir.is_dir(), f"--data-dir {args.data_dir} is not a directory")
    if args.resume:
        check(args.checkpoint is not None, "--resume needs --checkpoint PATH")
        check(args.checkpoint.is_file(), f"--resume: no checkpoint at {args.checkpoint}")
    if args.plot is not None:
        check(args.plot.parent.is_dir(), f"--plot: folder {args.plot.parent} does not exist")
    try:
        thw.device(args.device)
    except (ValueError, RuntimeError, TypeError) as e:
        p.error(f"--device {args.device}: {e}")
    return args


class _NoBar:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


# --- one epoch --------------------------------------------------------------------------------------
def train_epoch(model, loader, optimizer, desc="train", progress=True):
    """One pass over ``loader``; returns (mean loss, accuracy in %, images per second)."""
    try:
        from tqdm import tqdm
    except ImportError:     # the progress bar is optional (tinygrad-hw[train] installs it)
        def tqdm(iterable, **kwargs):
            return _NoBar(iterable)
    model.train()
    xp = loader.device.xp
    loss_sum, correct, seen = xp.zeros((), np.float64), xp.zeros((), np.int64), 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True, file=sys.stderr)
    for step, (x, y) in enumerate(bar):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        n = len(y._data)
        loss_sum += loss._data.astype(np.float64) * n
        correct += (logits._data.argmax(1) == y._data).sum()
        seen += n
        if progress and step % 20 == 0:   # syncing the device only now and then
            bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}",
                            img_s=f"{seen / (time.perf_counter() - start):.0f}")
    bar.close()
    thw.synchronize(loader.device)
    elapsed = time.perf_counter() - start
    return float(loss_sum) / seen, 100.0 * float(correct) / seen, seen / elapsed


@thw.no_grad()
def evaluate(model, loader):
    """Accuracy in % of ``model`` (put in eval mode) over ``loader``."""
    model.eval()
    correct, seen = 0, 0
    for x, y in loader:
        correct += int((model(x)._data.argmax(1) == y._data).sum())
        seen += len(y._data)
    return 100.0 * correct / seen


# --- checkpoints and plots ---------------------------------------------------------------------------
def save_checkpoint(path, model, optimizer, schedule, loader, epoch, history, args):
    thw.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
              "schedule": None if schedule is None else schedule.state_dict(),
              "loader": loader.state_dict(), "rng": thw.get_rng_state(), "epoch": epoch,
              "history": history,
              "config": {"model": args.model, "epochs": args.epochs, "optimizer": args.optimizer,
                         "schedule": args.schedule}}, path)


def load_checkpoint(path, model, optimizer, schedule, loader, args):
    """Restore everything saved by ``save_checkpoint``; returns (epochs done, history)."""
    ck = thw.load(path)
    config = ck["config"]
    for key in ("model", "optimizer", "schedule"):
        if config.get(key, getattr(args, key)) != getattr(args, key):
            raise ValueError(f"checkpoint {path} holds a run with {key} '{config[key]}', not "
                             f"'{getattr(args, key)}'")
    if schedule is not None and config["epochs"] != args.epochs:
        # the schedule's shape depends on the run length, so a resumed run must keep it
        raise ValueError(f"checkpoint {path} was made for a {config['epochs']}-epoch run with a "
                         f"'{args.schedule}' schedule; resume it with --epochs {config['epochs']}")
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    if schedule is not None and ck["schedule"] is not None:
        schedule.load_state_dict(ck["schedule"])
    loader.load_state_dict(ck["loader"])
    thw.set_rng_state(ck["rng"])
    return int(ck["epoch"]), {k: list(v) for k, v in ck["history"].items()}


def plot_curves(history, path, title=""):
    """Train loss, and train/test accuracy, per epoch, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, history["train_loss"], "o-")
    a.set(xlabel="epoch", ylabel="train loss", yscale="log", title="loss")
    b.plot(epochs, history["train_acc"], "o-", label="train")
    b.plot(epochs, history["test_acc"], "s-", label="test")
    b.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    b.legend()
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- the run -----------------------------------------------------------------------------------------
def run(args, log=print):
    """Train as ``args`` says (see ``parse_args``); returns a dict with the model, test accuracy,
    wall time and per-epoch history."""
    wall_start = time.perf_counter()
    par = launch.setup(args.device)     # one rank of `mpiexec -n N` (else a run of one process)
    log = par.log(log)
    device = thw.device(args.device)
    train_set = subset(MNIST(args.data_dir, train=True), args.limit_train)
    test_set = subset(MNIST(args.data_dir, train=False), args.limit_test)
    thw.manual_seed(args.seed)
    model = build_model(args.model).to(device)
    optimizer = build_optimizer(args, model.parameters())
    schedule = build_schedule(args, optimizer)
    norm = dict(mean=MNIST_MEAN, std=MNIST_STD, device=device)
    train_loader = DataLoader(train_set, **par.train_loader_args(train_set, args),
                              transform=random_shift(args.augment) if args.augment else None, **norm)
    test_loader = DataLoader(test_set, EVAL_BATCH, **par.eval_loader_args(test_set), **norm)
    start, history = 0, {"train_loss": [], "train_acc": [], "test_acc": [], "img_s": [], "lr": []}
    if args.resume:
        start, history = load_checkpoint(args.checkpoint, model, optimizer, schedule, train_loader, args)
        log(f"resumed from {args.checkpoint} after epoch {start}")
    stop = args.epochs if args.stop_after is None else args.stop_after
    net = par.wrap(model)       # DistributedDataParallel under mpiexec
    for epoch in range(start, stop):
        lr = optimizer.param_groups[0]["lr"]
        par.set_epoch(epoch)
        loss, acc, speed = train_epoch(net, train_loader, optimizer, f"epoch {epoch + 1}/{args.epochs}",
                                       progress=not args.no_progress and par.is_main)
        loss, acc, speed = par.train_stats(loss, acc, speed)    # over all ranks
        test_acc = par.evaluate(evaluate, model, test_loader)
        if schedule is not None:
            schedule.step()
        for k, v in zip(history, (loss, acc, test_acc, speed, lr)):
            history[k].append(float(v))
        log(f"epoch {epoch + 1}/{args.epochs}: lr {lr:.4g}  train loss {loss:.4f}  train acc {acc:.2f}%  "
            f"test acc {test_acc:.2f}%  ({speed:.0f} img/s)")
        if args.checkpoint is not None and par.is_main:
            save_checkpoint(args.checkpoint, model, optimizer, schedule, train_loader, epoch + 1, history, args)
    test_acc = history["test_acc"][-1] if history["test_acc"] else par.evaluate(evaluate, model, test_loader)
    wall = time.perf_counter() - wall_start
    if args.plot is not None and par.is_main:
        plot_curves(history, args.plot, f"{args.model} on MNIST: test accuracy {test_acc:.2f}%")
    log(f"test accuracy: {test_acc:.2f}% (wall {wall:.1f} s)")
    return {"model": model, "test_acc": test_acc, "wall": wall, "history": history}


def main(argv=None):
    args = parse_args(argv)
    thw.keep_host_memory()  # this process is ours: reuse freed pages (fewer page faults per step)
    try:
        run(args)
    except (FileNotFoundError, ValueError) as e:   # missing or corrupt data, mismatched checkpoint
        print(f"tinygrad-hw-train: error: {e}", file=sys.stderr)
        launch.abort(2)     # under mpiexec: end every rank, not only this one
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
