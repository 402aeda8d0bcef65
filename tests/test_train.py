"""The training command: a short real-data run, argument errors, resume, plots and the sweep.

The full-length runs of each model to its accuracy bar are marked slow (``pytest -m slow``).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_hw as thw
from tinygrad_hw import sweep, train

ROOT = Path(__file__).resolve().parents[1]
FINAL = re.compile(r"^test accuracy: (\d+\.\d\d)% \(wall (\d+\.\d) s\)$", re.M)


def _cli(*argv, timeout=120):
    # one BLAS thread: on a busy 2-core machine extra BLAS threads only contend with each other
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "tinygrad_hw.train", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_lenet5_learns_mnist_in_one_epoch():
    """One epoch over the 60,000 training images (about 10 s here) clears 97% on 2,000 test images."""
    r = _cli("--model", "lenet5", "--epochs", "1", "--optimizer", "adam", "--lr", "0.002", "--batch-size", "64",
             "--augment", "0", "--limit-test", "2000", "--no-progress")
    assert r.returncode == 0, r.stderr
    m = FINAL.search(r.stdout)
    assert m, r.stdout
    assert float(m.group(1)) >= 97.0, r.stdout
    assert re.search(r"epoch 1/1: .*train loss \d\.\d{4} .*test acc \d+\.\d\d%", r.stdout)


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "-1"], "--epochs must be at least 1"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--epochs", "two"], "invalid int value"),
    (["--model", "vgg"], "invalid choice"),
    (["--batch-size", "0"], "--batch-size"),
    (["--lr", "-0.1"], "--lr must be positive"),
    (["--momentum", "1.5"], "--momentum"),
    (["--schedule", "linear"], "invalid choice"),
    (["--data-dir", "/no/such/folder"], "is not a directory"),
    (["--resume"], "--resume needs --checkpoint"),
    (["--resume", "--checkpoint", "/no/such/ckpt.npz"], "no checkpoint at"),
    (["--limit-train", "0"], "--limit-train"),
    (["--epochs", "2", "--stop-after", "3"], "--stop-after"),
    (["--device", "tpu"], "--device tpu"),
    (["--plot", "/no/such/folder/curves.png"], "--plot"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum applies to SGD only"),
    (["--model", "softmax", "--momentum", "0.5"], "--momentum applies to SGD only"),   # Adam by default
])
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        train.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_momentum_still_accepted_for_sgd():
    args = train.parse_args(["--model", "softmax", "--optimizer", "sgd", "--momentum", "0.5"])
    assert args.momentum == 0.5
    assert train.build_optimizer(args, [thw.nn.Parameter(thw.zeros(2))]).param_groups[0]["momentum"] == 0.5
    assert train.parse_args(["--model", "softmax"]).optimizer == "adam"   # its default momentum is not an error


def test_missing_data_exit_2(tmp_path, capsys):
    assert train.main(["--data-dir", str(tmp_path), "--no-progress"]) == 2
    assert "train-images-idx3-ubyte" in capsys.readouterr().err


def test_cli_bad_argument_status():
    r = _cli("--epochs", "-3")
    assert r.returncode == 2 and "--epochs must be at least 1" in r.stderr


def _small(*extra, model="lenet5"):
    return ["--model", model, "--limit-train", "640", "--limit-test", "200", "--batch-size", "64",
            "--no-progress", *extra]


@pytest.mark.parametrize("extra", [
    ["--model", "lenet5"],                                                     # SGD, cosine, shifts
    ["--model", "resnet20", "--optimizer", "adam", "--schedule", "step",       # BatchNorm buffers
     "--limit-train", "64", "--limit-test", "32", "--batch-size", "32"],
])
def test_resume_equals_uninterrupted(tmp_path, extra):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    straight = _cli(*_small("--epochs", "2", "--checkpoint", str(a), *extra))
    assert straight.returncode == 0, straight.stderr
    first = _cli(*_small("--epochs", "2", "--checkpoint", str(b), "--stop-after", "1", *extra))
    assert first.returncode == 0, first.stderr
    assert thw.load(b)["epoch"] == 1
    resumed = _cli(*_small("--epochs", "2", "--checkpoint", str(b), "--resume", *extra))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    assert FINAL.search(straight.stdout).group(1) == FINAL.search(resumed.stdout).group(1)
    ca, cb = thw.load(a), thw.load(b)
    assert ca["epoch"] == cb["epoch"] == 2
    assert list(ca["model"]) == list(cb["model"])
    for k in ca["model"]:
        assert np.array_equal(ca["model"][k], cb["model"][k]), k
    for i, state in ca["optimizer"]["state"].items():
        for name, value in state.items():
            assert np.array_equal(np.asarray(value), np.asarray(cb["optimizer"]["state"][i][name])), (i, name)
    for key in ("loader", "schedule", "rng"):
        assert ca[key] == cb[key], key
    for key in ("train_loss", "train_acc", "test_acc", "lr"):      # all but the speed
        assert ca["history"][key] == cb["history"][key], key


def test_resume_refuses_other_model_or_length(tmp_path, capsys):
    ck = str(tmp_path / "c.npz")
    train.run(train.parse_args(_small("--epochs", "1", "--checkpoint", ck, model="softmax")), log=lambda *a: None)
    assert train.main(_small("--epochs", "1", "--checkpoint", ck, "--resume", model="mlp")) == 2
    assert "model 'softmax', not 'mlp'" in capsys.readouterr().err
    assert train.main(_small("--epochs", "1", "--checkpoint", ck, "--resume", "--optimizer", "sgd",
                             model="softmax")) == 2
    assert "optimizer 'adam', not 'sgd'" in capsys.readouterr().err
    assert train.main(_small("--epochs", "3", "--checkpoint", ck, "--resume", model="softmax")) == 2
    assert "--epochs 1" in capsys.readouterr().err


def test_plot_written(tmp_path, capsys):
    png = tmp_path / "curves.png"
    assert train.main(_small("--epochs", "3", "--plot", str(png), model="softmax")) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^epoch \d/3: ", out, re.M)) == 3
    m = FINAL.search(out)
    assert m and 50 < float(m.group(1)) <= 100
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    with Image.open(png) as im:
        im.verify()
        assert im.size[0] > 300 and im.size[1] > 200


def test_sweep_prints_table(capsys):
    assert sweep.main(["--model", "softmax", "--lrs", "0.1", "0.01", "--epochs", "1", "2",
                       "--schedules", "none", "step", "--limit-train", "500", "--limit-test", "200"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "| lr | epochs | schedule | test accuracy | wall (s) |"
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out[2:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [(lr, e, s) for lr in ("0.1", "0.01") for e in ("1", "2")
                                                 for s in ("none", "step")]
    for r in rows:
        assert 10 < float(r[3].rstrip("%")) <= 100 and float(r[4]) >= 0
    # a 1-epoch run is the same with or without a step schedule (the first decay comes after it)
    assert rows[0][3] == rows[1][3]


def test_sweep_bad_argument():
    with pytest.raises(SystemExit) as e:
        sweep.main(["--lrs", "0.1", "--epochs", "1", "-2"])
    assert e.value.code == 2


BARS = {"softmax": 92.5, "mlp": 98.3, "lenet5": 99.1, "resnet20": 99.5}


@pytest.mark.slow
@pytest.mark.parametrize("model", BARS)
def test_default_run_reaches_bar(model):
    """The default command for each model, on the full MNIST (minutes; ResNet-20 takes hours on a CPU)."""
    r = _cli("--model", model, "--no-progress", timeout=None)
    assert r.returncode == 0, r.stderr
    assert float(FINAL.search(r.stdout).group(1)) >= BARS[model], r.stdout
