"""Packaging: models install as tinygrad_hw.models, MNIST ships as package data, the core stays below the apps."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_hw.data import mnist

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib", reason="tomllib (Python >= 3.11) reads pyproject.toml")


def _setuptools_config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_package_list_matches_tree():
    """Every package folder of the tree is installed (the list is explicit because of the models mapping)."""
    cfg = _setuptools_config()
    tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tinygrad_hw").rglob("__init__.py")
            if "__pycache__" not in p.parts}
    tree |= {"tinygrad_hw.models" + "".join("." + q for q in p.parent.relative_to(ROOT / "models").parts)
             for p in (ROOT / "models").rglob("__init__.py")}
    assert set(cfg["packages"]) == tree
    assert cfg["package-dir"]["tinygrad_hw.models"] == "models"
    assert not any(p == "models" or p.startswith("models.") for p in cfg["packages"])


def test_package_data_resolves_to_the_checked_files():
    """The package-data globs name exactly the four IDX files (with their published hashes) and the README."""
    patterns = _setuptools_config()["package-data"]["tinygrad_hw.data"]
    base = ROOT / "tinygrad_hw" / "data"
    found = sorted({p.relative_to(base).as_posix() for pat in patterns for p in base.glob(pat)})
    assert found == ["bundled/mnist/README.md"] + sorted(f"bundled/mnist/{name}" for name in mnist.SHA256)
    for name, digest in mnist.SHA256.items():
        assert hashlib.sha256((base / "bundled" / "mnist" / name).read_bytes()).hexdigest() == digest, name
    assert mnist.BUNDLED == base / "bundled" / "mnist"
    assert not (ROOT / "data").exists()   # the layout is fixed; the data lives inside the package


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TINYGRAD_HW_DATA")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def _user_project(tmp_path):
    """A user's folder with its own models.py, the name a bare top-level `models` package would take."""
    cwd = tmp_path / "project"
    cwd.mkdir()
    (cwd / "models.py").write_text("raise ImportError('the user project models.py was imported')\n")
    return cwd


def _build_here():
    """Whether this environment can build the wheel itself (setuptools with bdist_wheel built in, or
    the wheel package); else pip builds it in an isolated environment fetched from the index."""
    import importlib.util
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(p) for p in re.findall(r"\d+", setuptools.__version__)[:2])
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


def test_regular_install_has_models_and_mnist(tmp_path):
    """`pip install .` (not editable) into a --target folder: MNIST and tinygrad_hw.models work from there."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("tinygrad_hw", "models"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    target = tmp_path / "site"
    isolation = ["--no-build-isolation"] if _build_here() else []
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *isolation, "--no-deps",
                        "--no-compile", "--target", str(target), str(src)],
                       env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info")))
    assert top == ["bin", "tinygrad_hw"] or top == ["tinygrad_hw"], top
    script = ("import sys, tinygrad_hw as thw, tinygrad_hw.models as m\n"
              f"assert thw.__file__.startswith({str(target)!r}), thw.__file__\n"
              f"assert m.__file__.startswith({str(target)!r}), m.__file__\n"
              "ds = thw.data.MNIST(train=False)\n"
              "print(len(ds), ds.labels[:5].tolist(), type(m.LeNet5()).__name__)\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=_user_project(tmp_path), env=_env(PYTHONPATH=str(target)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["10000", "[7,", "2,", "1,", "0,", "4]", "LeNet5"]


def test_user_models_py_does_not_break_train(tmp_path):
    cwd = _user_project(tmp_path)
    env = _env(PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "tinygrad_hw.train", "--help"], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--optimizer" in r.stdout
    r = subprocess.run([sys.executable, "-m", "tinygrad_hw.train", "--model", "softmax", "--epochs", "1",
                        "--limit-train", "256", "--limit-test", "100", "--no-progress"],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^test accuracy: \d+\.\d\d%", r.stdout, re.M), r.stdout


def test_engine_core_never_imports_models_or_apps():
    apps = {"train.py", "sweep.py", "reconstruct.py", "__main__.py"}
    pattern = re.compile(r"^\s*(from\s+(tinygrad_hw\.models|\.+models|models|\.+(train|sweep))\b|"
                         r"import\s+(models|tinygrad_hw\.models)\b)", re.M)
    for path in (ROOT / "tinygrad_hw").rglob("*.py"):
        if path.name in apps and path.parent.name == "tinygrad_hw":
            continue
        assert not pattern.search(path.read_text()), path
    script = ("import sys, tinygrad_hw, tinygrad_hw.data, tinygrad_hw.nn, tinygrad_hw.optim, tinygrad_hw.io\n"
              "bad = [m for m in sys.modules if m in ('models', 'tinygrad_hw.models', 'tinygrad_hw.train',"
              " 'tinygrad_hw.sweep') or m.startswith('tinygrad_hw.models.')]\n"
              "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env(PYTHONPATH=str(ROOT)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
