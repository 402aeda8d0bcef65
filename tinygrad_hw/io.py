"""Checkpoints: ``save(obj, path)`` / ``load(path)`` for nested dicts, lists and tuples of Tensors,
NumPy arrays, ints (of any size), floats, strings, bools and None, e.g. a model's and an
optimizer's state dicts, a scheduler's state, the epoch and ``thw.get_rng_state()``.

Format: an ``.npz`` (zip) archive holding one ``.npy`` entry per array and one JSON entry,
``__structure__.json``, that describes the nesting and points at the arrays. Nothing is
pickled and loading uses ``allow_pickle=False``, so loading a file cannot run code. Files are
written to a temporary file in the target's folder and then renamed over it, so a crash never
leaves a half-written checkpoint under the real name.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> save({"w": np.arange(3.0), "epoch": 4, "betas": (0.9, 0.999), 0: None}, path)
>>> load(path)
{'w': array([0., 1., 2.]), 'epoch': 4, 'betas': (0.9, 0.999), 0: None}
"""
import json
import math
import os
import tempfile
import zipfile

import numpy as np

from . import backend
from .tensor import Tensor

_STRUCTURE = "__structure__.json"
_FORMAT = "tinygrad_hw.checkpoint"
_VERSION = 1
_TAG = "__thw__"        # marks a JSON object that encodes something other than a str-keyed dict


class _Encoder:
    """Turns the object tree into JSON-ready data, collecting arrays under entry names."""

    def __init__(self):
        self.arrays = {}
        self._path = set()      # ids of the containers being encoded (to reject cycles)

    def array(self, arr, kind, where):
        arr = backend.to_host(arr)
        if arr.dtype.hasobject or arr.dtype.kind not in "biufcSUV":
            raise TypeError(f"save: cannot store an array of dtype {arr.dtype} at {where}")
        name = f"arr_{len(self.arrays)}"
        self.arrays[name] = arr
        return {_TAG: kind, "entry": name}

    def encode(self, obj, where):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, np.generic):
            return self.array(np.asarray(obj), "scalar", where)
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {_TAG: "float", "value": repr(obj)}
        if isinstance(obj, Tensor):
            return self.array(obj._data, "tensor", where)
        if isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
            return self.array(obj, "ndarray", where)
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._path:
                raise ValueError(f"save: circular reference at {where}")
            self._path.add(id(obj))
            try:
                return self._container(obj, where)
            finally:
                self._path.discard(id(obj))
        raise TypeError(f"save: cannot store an object of type {type(obj).__name__} at {where} (supported: "
                        "dict, list, tuple, Tensor, numpy array, int, float, str, bool, None)")

    def _container(self, obj, where):
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj) and _TAG not in obj:
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in obj.items()}
            for k in obj:
                if not (k is None or isinstance(k, (str, int, float))) or isinstance(k, np.generic):
                    raise TypeError(f"save: dict key {k!r} of type {type(k).__name__} at {where} is not a "
                                    "str, int, float, bool or None")
            return {_TAG: "dict", "items": [[self.encode(k, where), self.encode(v, f"{where}[{k!r}]")]
                                            for k, v in obj.items()]}
        items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else {_TAG: "tuple", "items": items}


def save(obj, path):
    """Write ``obj`` (see the module docstring for what it may hold) to ``path`` atomically.

    The file is written exactly at ``path`` (no suffix is added).
    """
    enc = _Encoder()
    tree = enc.encode(obj, "obj")
    header = json.dumps({"format": _FORMAT, "version": _VERSION, "root": tree}, allow_nan=False)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, arr in enc.arrays.items():
                    with zf.open(name + ".npy", "w", force_zip64=True) as entry:
                        np.lib.format.write_array(entry, arr, allow_pickle=False)
                zf.writestr(_STRUCTURE, header)
            f.flush()
            os.fsync(f.fileno())
        mask = os.umask(0)       # mkstemp makes the file private; give it the usual permissions
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class _Decoder:
    def __init__(self, npz, path, device):
        self.npz, self.path, self.device = npz, path, device

    def entry(self, name):
        try:
            arr = self.npz[name]
        except KeyError:
            raise ValueError(f"{self.path}: checkpoint refers to array '{name}', which the file lacks") from None
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"{self.path}: entry '{name}' is not an array")
        return arr

    def decode(self, node):
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        kind = node.get(_TAG)
        if kind is None:
            return {k: self.decode(v) for k, v in node.items()}
        if kind == "dict":
            return {self.decode(k): self.decode(v) for k, v in node["items"]}
        if kind == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        if kind == "float":
            return float(node["value"])
        if kind == "scalar":
            return self.entry(node["entry"])[()]
        if kind == "ndarray":
            return self.entry(node["entry"])
        if kind == "tensor":
            arr = self.entry(node["entry"])
            if self.device is None:
                return arr
            return Tensor._wrap(backend.to_device(arr, self.device), self.device)
        raise ValueError(f"{self.path}: unknown entry kind {kind!r} (written by a newer version?)")


def load(path, map_location=None):
    """Read what ``save`` wrote. Saved Tensors come back as NumPy arrays (which every
    ``load_state_dict`` accepts), or as Tensors on ``map_location`` ('cpu', 'cuda', ...) when it
    is given; saved NumPy arrays always come back as NumPy arrays.

    Raises ValueError naming the path for a truncated, corrupt or foreign file.
    """
    device = None if map_location is None else backend.device(map_location)
    shown = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise ValueError("it does not start like an .npz (zip) archive")
        with np.load(path, allow_pickle=False) as npz:
            if _STRUCTURE not in npz.files:
                raise ValueError(f"it has no '{_STRUCTURE}' entry, so it was not written by tinygrad_hw.save")
            raw = npz[_STRUCTURE]
            header = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise ValueError("its structure entry does not describe a tinygrad_hw checkpoint")
            if header.get("version", 0) > _VERSION:
                raise ValueError(f"it has format version {header['version']}, newer than this reader ({_VERSION})")
            return _Decoder(npz, shown, device).decode(header["root"])
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise ValueError(f"cannot load checkpoint {shown}: the file is truncated, corrupt or not a "
                         f"tinygrad_hw checkpoint ({e})") from e
