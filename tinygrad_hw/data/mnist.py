"""MNIST from the four standard IDX files (gzip-compressed or raw).

IDX: a big-endian int32 magic (0x803 images, 0x801 labels), the big-endian int32 sizes
(count, rows, cols for images; count for labels), then uint8 data in row-major order.
"""
import gzip
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
MEAN, STD = 0.1307, 0.3081          # pixel mean and std of the training set, on [0, 1]

FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SHA256 = {   # of the .gz files, as listed in bundled/mnist/README.md
    "train-images-idx3-ubyte.gz": "71524e2cd1ad2968737f7f2f2ff69cbfc32df8ccddff51593f7cb2d4e0eb5b64",
    "train-labels-idx1-ubyte.gz": "fe03b8bd7915f70bf5aa08be480aa413fbd85afcaa58b35d230d335f284fd88e",
    "t10k-images-idx3-ubyte.gz": "5634745efa576a17e7d4cf5cd9d09123c75e6538e5114267c2d156edaf519341",
    "t10k-labels-idx1-ubyte.gz": "ae18e77e031ccde52407f794d123116439864147d33ac992975f85dd4dc42af6",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/")


BUNDLED = Path(__file__).resolve().parent / "bundled" / "mnist"   # shipped as package data


def default_root():
    """$TINYGRAD_HW_DATA/mnist (or $TINYGRAD_HW_DATA itself) if set, else the copy bundled in the package."""
    env = os.environ.get("TINYGRAD_HW_DATA")
    if env:
        env = Path(env).expanduser()
        return env / "mnist" if (env / "mnist").is_dir() else env
    return BUNDLED


def _read_bytes(path):
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: cannot read ({e})") from e


def read_idx(path, magic, ndim):
    """The uint8 array stored in one IDX file, after checking its magic number and size."""
    path = Path(path)
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header ({len(raw)} bytes, expected at least {header})")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: bad magic number 0x{found:08x}, expected 0x{magic:08x}")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise ValueError(f"{path}: expected {header + size} bytes for shape {shape}, found {len(raw)}"
                         f" ({'truncated' if len(raw) < header + size else 'trailing data'})")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _locate(root, name):
    # root itself, or torchvision's layout under it (root/MNIST/raw), so an existing download is found
    for candidate in (root / (name + ".gz"), root / name, root / "MNIST" / "raw" / (name + ".gz"),
                      root / "MNIST" / "raw" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MNIST file {name}[.gz] not found in {root} "
                            "(pass root=, set TINYGRAD_HW_DATA, or use download=True)")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_mnist(root, train=True):
    """Fetch the .gz files missing from ``root``, checking each SHA-256, writing atomically."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name in FILES[train]:
        gz = name + ".gz"
        target = root / gz
        if target.is_file() or (root / name).is_file():
            continue
        errors = []
        for mirror in MIRRORS:
            fd, tmp = tempfile.mkstemp(dir=root, prefix=gz, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(mirror + gz, timeout=60) as r:
                    for block in iter(lambda: r.read(1 << 20), b""):
                        out.write(block)
                digest = _sha256(tmp)
                if digest != SHA256[gz]:
                    raise ValueError(f"SHA-256 mismatch: got {digest}, expected {SHA256[gz]}")
                os.replace(tmp, target)
                break
            except Exception as e:  # try the next mirror, report all failures at the end
                errors.append(f"{mirror}{gz}: {e}")
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        else:
            raise RuntimeError("could not download MNIST:\n  " + "\n  ".join(errors))


class MNIST(ArrayDataset):
    """The MNIST training (60,000) or test (10,000) set, torchvision's signature.

    ``root``: a folder with the four IDX files (.gz or raw; torchvision's ``root/MNIST/raw`` works
    too); None reads the copy bundled with the package (offline). ``download=True`` fetches
    missing files into ``root``, checking each SHA-256. ``ds[i]`` is (uint8 (28, 28) image, int
    label) passed through ``transform`` / ``target_transform``; for the DataLoader's batch form of
    a transform see ``DataLoader``.

    Notation: ``images`` uint8 (N, 28, 28); ``labels`` int64 (N,) (``data``/``targets`` as Tensors).

    >>> ds = MNIST(train=False)
    >>> len(ds), ds.images.shape, ds.labels[:5].tolist()
    (10000, (10000, 28, 28), [7, 2, 1, 0, 4])
    """

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.train = bool(train)
        if download:
            download_mnist(self.root, self.train)
        img_name, lbl_name = FILES[self.train]
        img_path, lbl_path = _locate(self.root, img_name), _locate(self.root, lbl_name)
        images = read_idx(img_path, IMAGES_MAGIC, 3)
        labels = read_idx(lbl_path, LABELS_MAGIC, 1)
        if len(images) != len(labels):
            raise ValueError(f"{img_path} holds {len(images)} images but {lbl_path} holds "
                             f"{len(labels)} labels")
        if labels.size and labels.max() > 9:
            raise ValueError(f"{lbl_path}: label {int(labels.max())} out of range 0..9")
        super().__init__(images, labels.astype(np.int64), [str(i) for i in range(10)], transform,
                         target_transform, layout="NHW")

    def __repr__(self):
        return f"MNIST({'train' if self.train else 'test'}, n={len(self)}, root='{self.root}')"
