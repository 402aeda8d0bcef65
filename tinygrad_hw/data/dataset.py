"""Map-style datasets as torch.utils.data: Dataset, TensorDataset, Subset, ConcatDataset, random_split,
and ArrayDataset, the array-backed image set that the DataLoader batches with one gather.

Notation: N dataset size, C channels, H, W image size.
"""
import bisect
import math
import warnings

import numpy as np

from .. import backend
from ..tensor import Tensor
from .sampler import numpy_rng

CHANNEL_COUNTS = (1, 2, 3, 4)      # what a channel axis of an image array can hold
LAYOUTS = ("NHW", "NHWC", "NCHW")


class Dataset:
    """A map-style dataset: ``__getitem__(index)`` and ``__len__``; ``a + b`` concatenates."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Sample i is ``tuple(t[i] for t in tensors)``; every tensor has the same first dimension.

    NumPy arrays are wrapped as Tensors (no copy). The DataLoader gathers whole batches from the
    tensors at once.
    """

    def __init__(self, *tensors):
        tensors = tuple(t if isinstance(t, Tensor) else Tensor._wrap(np.asarray(t), backend.CPU) for t in tensors)
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (any sequence of ints), in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        inner = getattr(self.dataset, "__getitems__", None)
        if callable(inner):
            return inner([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several datasets, one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        sizes, total = [], 0
        for d in self.datasets:
            total += len(d)
            sizes.append(total)
        self.cumulative_sizes = sizes

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        if which == len(self.datasets):
            raise IndexError(f"index {idx} is out of range for a ConcatDataset of length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random Subsets of the given ``lengths``.

    Lengths are counts summing to ``len(dataset)``, or fractions summing to 1 (floored, with the
    remainder handed out one by one from the first subset, as torch does). The permutation comes
    from ``generator`` (e.g. ``thw.Generator().manual_seed(42)``), else thw's global generator.
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(int(math.floor(n * frac)))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"Sum of input lengths ({sum(lengths)}) does not equal the length of the input "
                         f"dataset ({n})!")
    order = numpy_rng(generator).permutation(n).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[offset:offset + length]))
        offset += length
    return out


def image_layout(shape, layout=None):
    """The layout of an image array of ``shape``: 'NHW', 'NHWC' or 'NCHW'.

    A 4-d array is read as (N, C, H, W) when only axis 1 can hold channels (1 to 4 of them), as
    (N, H, W, C) when only axis 3 can; otherwise it is ambiguous and ``layout=`` must say.
    """
    shape = tuple(int(s) for s in shape)
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if len(shape) == 3:
        if layout not in (None, "NHW"):
            raise ValueError(f"images of shape {shape} are (N, H, W), not {layout}")
        return "NHW"
    if len(shape) != 4:
        raise ValueError(f"images must be (N, H, W), (N, H, W, C) or (N, C, H, W), got shape {shape}")
    if layout is not None:
        if layout == "NHW":
            raise ValueError(f"images of shape {shape} are 4-d, not NHW")
        return layout
    first, last = shape[1] in CHANNEL_COUNTS, shape[3] in CHANNEL_COUNTS
    if first != last:
        return "NCHW" if first else "NHWC"
    raise ValueError(f"images of shape {shape}: cannot tell (N, C, H, W) from (N, H, W, C); "
                     "pass layout='NCHW' or layout='NHWC'")


def check_image_dtype(dtype, shape):
    """uint8 images are scaled by 1/255 (as ToTensor), float images are taken as they are; others raise."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8 or dtype.kind in "fb":
        return dtype
    raise TypeError(f"images of shape {tuple(shape)} have dtype {dtype}: expected uint8 (0..255, scaled "
                    "by 1/255) or a float dtype (taken as it is, e.g. already in [0, 1])")


class ArrayDataset(Dataset):
    """Images and labels held as two arrays; the DataLoader batches it with one gather per batch.

    ``images``: uint8 (scaled by 1/255 when loaded) or float (taken as is, so values already in
    [0, 1] stay there), laid out (N, H, W), (N, H, W, C) or (N, C, H, W) (see ``image_layout``;
    ``layout=`` settles an ambiguous shape). ``labels``: ints (N,). ``transform`` and
    ``target_transform`` act per sample on ``ds[i]``; the DataLoader runs the batch form of a
    ``transform`` built from ``thw.data.transforms`` (see ``DataLoader``).
    """

    def __init__(self, images, labels, classes=None, transform=None, target_transform=None, layout=None):
        if len(images) != len(labels):
            raise ValueError(f"ArrayDataset: {len(images)} images but {len(labels)} labels")
        self.layout = image_layout(images.shape, layout)
        check_image_dtype(images.dtype, images.shape)
        self.images = images
        self.labels = backend.device_of_data(labels).xp.asarray(labels, np.int64)   # on the images' device
        self.classes = classes
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image, target = self.images[index], self.labels[index]
        if np.ndim(target) == 0:
            target = int(target)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    @property
    def data(self):
        """The images as a Tensor (torchvision's name; shares memory)."""
        return Tensor._wrap(self.images, backend.device_of_data(self.images))

    @property
    def targets(self):
        """The labels as an int64 Tensor (torchvision's name; shares memory)."""
        return Tensor._wrap(self.labels, backend.device_of_data(self.labels))


def subset(dataset, n):
    """The first ``n`` samples of ``dataset`` (all of them when n is None), sharing memory."""
    if n is None or n >= len(dataset):
        return dataset
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    if isinstance(dataset, ArrayDataset):
        return ArrayDataset(dataset.images[:n], dataset.labels[:n], dataset.classes, dataset.transform,
                            dataset.target_transform, dataset.layout)
    return Subset(dataset, range(n))
