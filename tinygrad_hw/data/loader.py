"""Mini-batches of a whole in-memory dataset: one fancy-index per batch, no per-sample Python.

Notation: N dataset size, B batch size, C channels (1 for grayscale), H, W image size.
"""
import numpy as np

from .. import backend
from ..tensor import Tensor


class ArrayDataset:
    """A dataset over two arrays: ``images`` uint8 (N, H, W) or (N, H, W, C), ``labels`` int (N,)."""

    def __init__(self, images, labels, classes=None):
        if len(images) != len(labels):
            raise ValueError(f"ArrayDataset: {len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = np.asarray(labels, np.int64)
        self.classes = classes

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]


def subset(dataset, n):
    """The first ``n`` samples of ``dataset`` (all of them when n is None), sharing memory."""
    if n is None or n >= len(dataset):
        return dataset
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    return ArrayDataset(dataset.images[:n], dataset.labels[:n], getattr(dataset, "classes", None))


def random_shift(max_shift):
    """A batch transform translating each image by up to ``max_shift`` pixels (zero fill).

    Vectorised: pad the whole batch once, then gather every image's window with one
    advanced index built from per-image row and column offsets.
    """
    k = int(max_shift)

    def shift(batch, rng):
        xp = backend.device_of_data(batch).xp
        n, h, w = batch.shape[:3]
        pad = ((0, 0), (k, k), (k, k)) + ((0, 0),) * (batch.ndim - 3)
        padded = xp.pad(batch, pad)
        oy = xp.asarray(rng.integers(0, 2 * k + 1, n))
        ox = xp.asarray(rng.integers(0, 2 * k + 1, n))
        rows = oy[:, None] + xp.arange(h)[None, :]           # (B, H)
        cols = ox[:, None] + xp.arange(w)[None, :]           # (B, W)
        return padded[xp.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]

    shift.max_shift = k
    return shift


class DataLoader:
    """Iterate (images, labels) batches of a dataset holding ``.images`` and ``.labels`` arrays.

    Images come out float32 (B, C, H, W) on ``device``, scaled to [0, 1], then normalised as
    ``(x - mean) / std`` when given (scalars, or one value per channel); labels int64 (B,).
    Shuffling draws each epoch's permutation from ``numpy.random.default_rng([seed, epoch])``,
    so a run is reproducible from ``seed`` and resumable from ``state_dict()``.
    ``transform(uint8_batch, rng)`` may augment each uint8 batch (see ``random_shift``).

    >>> from tinygrad_hw.data import MNIST, DataLoader
    >>> loader = DataLoader(MNIST(train=False), 256, mean=0.1307, std=0.3081)
    >>> x, y = next(iter(loader)); x.shape, x.dtype, y.dtype
    ((256, 1, 28, 28), dtype('float32'), dtype('int64'))
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 device="cpu", mean=None, std=None, transform=None, sampler=None):
        if not (hasattr(dataset, "images") and hasattr(dataset, "labels")):
            raise TypeError(f"DataLoader needs a dataset with .images and .labels arrays, "
                            f"got {type(dataset).__name__}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        images = dataset.images
        if images.ndim not in (3, 4):
            raise ValueError(f"DataLoader: images must be (N, H, W) or (N, H, W, C), got {images.shape}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.sampler = sampler      # any iterable of indices with len(), e.g. DistributedSampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)
        self.epoch = 0          # epochs started so far; picks the next permutation
        self.device = backend.device(device)
        self.transform = transform
        channels = 1 if images.ndim == 3 else images.shape[3]
        # (x/255 - mean)/std folded into one multiply-add per pixel
        mean = np.zeros(channels) if mean is None else np.broadcast_to(np.asarray(mean, np.float64), (channels,))
        std = np.ones(channels) if std is None else np.broadcast_to(np.asarray(std, np.float64), (channels,))
        if np.any(std <= 0):
            raise ValueError(f"std must be positive, got {std}")
        xp = self.device.xp
        self._scale = xp.asarray((1.0 / (255.0 * std)).reshape(1, channels, 1, 1), np.float32)
        self._shift = xp.asarray((-mean / std).reshape(1, channels, 1, 1), np.float32)
        # the whole uint8 set moves to the device once; batches are gathered there
        self._images = backend.to_device(np.ascontiguousarray(images), self.device)
        self._labels = backend.to_device(np.asarray(dataset.labels, np.int64), self.device)

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def state_dict(self):
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state):
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])

    def _to_float(self, batch):
        xp = self.device.xp
        x = batch[:, None] if batch.ndim == 3 else xp.moveaxis(batch, 3, 1)
        return x.astype(np.float32) * self._scale + self._shift

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        n = len(self.dataset)
        order = None
        if self.shuffle:
            order = backend.to_device(rng.permutation(n), self.device)
        elif self.sampler is not None:
            order = backend.to_device(np.fromiter(iter(self.sampler), np.int64), self.device)
            n = len(order)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            idx = slice(start, end) if order is None else order[start:end]
            images, labels = self._images[idx], self._labels[idx]
            if self.transform is not None:
                images = self.transform(images, rng)
            yield Tensor._wrap(self._to_float(images), self.device), Tensor._wrap(labels, self.device)
