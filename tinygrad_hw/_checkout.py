"""In a source checkout, ``tinygrad_hw.models`` is the repository's top-level ``models/`` folder.

An install maps that folder to ``tinygrad_hw.models`` through setuptools' ``package-dir``; this
finder does the same when the package is imported straight from a checkout (``PYTHONPATH``), so
the checkout's own models win over any installed copy. In an install it does nothing.
"""
import importlib.abc
import importlib.util
import sys
from pathlib import Path

NAME = "tinygrad_hw.models"
_ROOT = Path(__file__).resolve().parent.parent
_MODELS = _ROOT / "models"


class _ModelsFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != NAME:
            return None
        return importlib.util.spec_from_file_location(NAME, _MODELS / "__init__.py",
                                                      submodule_search_locations=[str(_MODELS)])


def _is_checkout():
    if (Path(__file__).resolve().parent / "models").is_dir():    # installed: the package holds it
        return False
    try:
        meta = (_ROOT / "pyproject.toml").read_text()
    except OSError:
        return False
    return 'name = "tinygrad-hw"' in meta and (_MODELS / "__init__.py").is_file()


def install():
    if _is_checkout() and not any(isinstance(f, _ModelsFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ModelsFinder())
