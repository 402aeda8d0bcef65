"""A labelled image set stored as one sub-folder per class (e.g. 15-Scene), read with Pillow."""
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")


class ImageFolder(ArrayDataset):
    """Every image under ``root/<class>/``, resized to ``size`` and held in memory as uint8.

    Classes are the sub-folder names in sorted order; label i means ``classes[i]``.
    ``transform`` / ``target_transform`` act as in ``ArrayDataset``.
    Notation: ``images`` (N, H, W) when grayscale, else (N, H, W, 3); ``labels`` int64 (N,).
    """

    def __init__(self, root, size=(64, 64), grayscale=True, transform=None, target_transform=None):
        from PIL import Image   # imported here so the engine needs Pillow only for this class

        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder: {self.root} is not a directory")
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        self.size = (int(h), int(w))
        self.grayscale = bool(grayscale)
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        if not self.classes:
            raise FileNotFoundError(f"ImageFolder: no class sub-folders in {self.root}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = [(p, i) for i, c in enumerate(self.classes)
                        for p in sorted((self.root / c).rglob("*"))
                        if p.is_file() and p.suffix.lower() in EXTENSIONS]
        if not self.samples:
            raise FileNotFoundError(f"ImageFolder: no images with extensions {EXTENSIONS} under {self.root}")
        shape = (len(self.samples), h, w) + (() if self.grayscale else (3,))
        self.images = np.empty(shape, np.uint8)
        mode = "L" if self.grayscale else "RGB"
        for k, (path, _) in enumerate(self.samples):   # decoding is per file; done once, at load
            try:
                with Image.open(path) as im:
                    im = im.convert(mode)
                    if im.size != (w, h):
                        im = im.resize((w, h), Image.BILINEAR)
                    self.images[k] = np.asarray(im, np.uint8)
            except OSError as e:
                raise ValueError(f"ImageFolder: cannot read image {path} ({e})") from e
        super().__init__(self.images, np.array([i for _, i in self.samples], np.int64), self.classes, transform,
                         target_transform, layout="NHW" if self.grayscale else "NHWC")

    def __repr__(self):
        return f"ImageFolder('{self.root}', n={len(self)}, classes={len(self.classes)}, size={self.size})"
