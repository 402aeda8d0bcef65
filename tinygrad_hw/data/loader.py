"""DataLoader: batches of any map-style dataset, with a vectorised path for array-backed ones.

Notation: N dataset size, B batch size, C channels (1 for grayscale), H, W image size.
"""
import itertools
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import backend
from ..tensor import Tensor
from . import transforms as T
from .collate import default_collate, default_convert, to_device
from .dataset import ArrayDataset, Subset, TensorDataset, check_image_dtype, image_layout
from .sampler import BatchSampler, RandomSampler, SequentialSampler, draw_seed, epoch_indices

# re-exported for code written against the loader's older home of these names
from .dataset import subset  # noqa: F401
from .transforms import random_shift  # noqa: F401


class _Images:
    """An array-backed image set ready for batching on a device: uint8/float (N, ...) and labels."""

    def __init__(self, images, labels, layout, steps):
        self.images, self.labels, self.layout, self.steps = images, labels, layout, steps


class _Tensors:
    """The arrays of a TensorDataset, batched by gathering each one."""

    def __init__(self, arrays, device):
        self.arrays, self.device = arrays, device


def _take(array, indices):
    """``array[indices]`` for a Subset's indices; a range becomes a slice (a view, no copy)."""
    if isinstance(indices, range) and indices.step > 0:
        return array[indices.start:indices.stop:indices.step]
    xp = backend.device_of_data(array).xp
    return array[xp.asarray(np.asarray(indices, np.int64))]


def _array_source(dataset):
    """What the vectorised path batches for ``dataset``, or None when it must go sample by sample.

    Array-backed: an ArrayDataset (MNIST, ImageFolder) or TensorDataset whose class keeps the
    base ``__getitem__``, with no ``target_transform`` and a ``transform`` that has a batch form;
    or a Subset of one (its samples gathered once, here).
    """
    if isinstance(dataset, Subset):
        inner = _array_source(dataset.dataset)
        if isinstance(inner, _Images):
            return _Images(_take(inner.images, dataset.indices), _take(inner.labels, dataset.indices),
                           inner.layout, inner.steps)
        if isinstance(inner, _Tensors):
            return _Tensors([_take(a, dataset.indices) for a in inner.arrays], inner.device)
        return None
    if isinstance(dataset, ArrayDataset) and type(dataset).__getitem__ is ArrayDataset.__getitem__:
        steps = T.batch_plan(dataset.transform)
        if steps is None or dataset.target_transform is not None:
            return None
        return _Images(dataset.images, dataset.labels, dataset.layout, steps)
    if isinstance(dataset, TensorDataset) and type(dataset).__getitem__ is TensorDataset.__getitem__:
        return _Tensors([t._data for t in dataset.tensors], dataset.tensors[0].device)
    return None


class DataLoader:
    """Iterate over batches of ``dataset``, as torch.utils.data.DataLoader.

    Any map-style dataset works (``__getitem__`` and ``__len__``): each batch is the samples at the
    sampler's indices merged by ``collate_fn`` (``default_collate``: stacks Tensors, arrays and
    numbers; recurses into tuples, lists and dicts). ``sampler`` (an iterable of indices) and
    ``batch_sampler`` (an iterable of index lists) replace the default order.

    **Vectorised path.** An ArrayDataset (MNIST, ImageFolder, or Subsets of them) is batched with
    one gather per batch from arrays moved to ``device`` once, never sample by sample. Batches
    are [images, labels] (a list, as torch's collate gives for tuple samples): images float32
    (B, C, H, W), labels int64 (B,). The rule for which
    transforms run when:

    - the dataset's ``transform`` runs per sample in ``ds[i]``. Through the loader its batch form
      runs instead, once per batch, when it is ``transforms.ToTensor()`` followed only by
      ``transforms`` with a batch form (``Normalize``, ``RandomShift``), as in
      ``Compose([ToTensor(), Normalize(mean, std)])``; no transform means ToTensor alone (uint8 is
      scaled to [0, 1], float images are taken as they are). Any other transform, a
      ``target_transform``, a ``collate_fn``, or a subclass with its own ``__getitem__`` makes the
      loader go sample by sample (``ds[i]`` and ``collate_fn``), as torch does.
    - the loader's own batch options act on the vectorised path only, in this order: the raw
      batch, viewed (B, C, H, W), goes through ``transform(batch, rng)`` (e.g. ``random_shift``),
      then ToTensor and the dataset's batch steps, then ``(x - mean) / std`` (scalars or one
      value per channel). Random batch steps draw from the loader's generator.

    A TensorDataset is also gathered a batch at a time (one index per tensor).

    **Order and seeds.** ``shuffle=True`` draws each epoch's permutation from
    ``numpy.random.default_rng([seed, epoch])``. Without ``seed``, it is drawn (once, when the loader
    is made, and only if it shuffles or has random batch steps) from ``generator``, else from thw's
    global generator, so ``thw.manual_seed(s)`` makes a whole run reproducible (as
    in torch); ``state_dict()`` resumes the sequence of epochs. A ``sampler`` is read a whole epoch
    at a time, so the vectorised path keeps one gather per batch (call its ``set_epoch`` yourself,
    as in torch).

    **Workers.** ``num_workers > 0`` fetches and collates batches of the per-sample path on that
    many threads (not processes), ``prefetch_factor`` batches ahead each, in order; the vectorised
    path needs no workers and ignores them. ``pin_memory``, ``persistent_workers`` and ``timeout``
    are accepted and have no effect. ``device`` puts every batch there (default: where the data are).

    >>> from tinygrad_hw.data import MNIST, DataLoader
    >>> loader = DataLoader(MNIST(train=False), 256, mean=0.1307, std=0.3081)
    >>> x, y = next(iter(loader)); x.shape, x.dtype, y.dtype
    ((256, 1, 28, 28), dtype('float32'), dtype('int64'))
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="", in_order=True,
                 seed=None, device=None, mean=None, std=None, transform=None):
        shuffle = bool(shuffle)
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             f"multiprocessing (got {num_workers!r})")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. Let "
                             "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError(f"prefetch_factor option should be non-negative, got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive "
                                 "with drop_last")
        elif isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader needs a map-style dataset (with __getitem__ and __len__), "
                            f"got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = bool(drop_last)
        self.num_workers = num_workers
        self.prefetch_factor = (2 if prefetch_factor is None else int(prefetch_factor)) if num_workers else None
        self.pin_memory, self.pin_memory_device = bool(pin_memory), pin_memory_device
        self.persistent_workers, self.timeout, self.in_order = bool(persistent_workers), timeout, in_order
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, multiprocessing_context
        self.generator = generator
        self._user_sampler = sampler is not None
        self.sampler = sampler if sampler is not None else (
            RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset))
        if batch_sampler is None and self.batch_size is not None:
            self._user_batch_sampler = False
            self.batch_sampler = BatchSampler(self.sampler, self.batch_size, self.drop_last)
        else:
            self._user_batch_sampler = batch_sampler is not None
            self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self.batch_size is not None or batch_sampler is not None else default_convert)
        self.transform = transform
        batched = self.batch_size is not None or self._user_batch_sampler
        source = _array_source(dataset) if collate_fn in (None, default_collate) and batched else None
        # the loader's seed, fixed here so that state_dict() resumes and manual_seed reproduces; the
        # global generator is only drawn from when something random uses it
        random = shuffle or transform is not None or any(
            not isinstance(step, T.Normalize) for step in getattr(source, "steps", ()))
        self.seed = int(seed) if seed is not None else draw_seed(generator) if random else 0
        self.epoch = 0          # epochs started so far; picks the next permutation
        if source is None or isinstance(source, _Tensors):
            if mean is not None or std is not None or transform is not None:
                raise ValueError(f"DataLoader: mean=, std= and transform= act on batches of an array-backed "
                                 f"image dataset (ArrayDataset, MNIST, ImageFolder, or a Subset of one), not on "
                                 f"{type(dataset).__name__}; use a per-sample transform "
                                 f"(thw.data.transforms.Normalize) or collate_fn=")
        self.device = None if device is None else backend.device(device)
        self._source = source
        if isinstance(source, _Images):
            self._init_images(source, mean, std)
        elif isinstance(source, _Tensors):
            dev = self.device or source.device
            self._arrays = [backend.to_device(a, dev) for a in source.arrays]
            self.device = dev

    def _init_images(self, source, mean, std):
        images = source.images
        check_image_dtype(images.dtype, images.shape)
        layout = image_layout(images.shape, source.layout)
        channels = 1 if layout == "NHW" else images.shape[1 if layout == "NCHW" else 3]
        self._layout = layout
        if self.device is None:
            self.device = backend.device_of_data(images)
        # ToTensor, the leading Normalize steps and the loader's (x - mean)/std fold into one
        # multiply-add per pixel, in float64 here and float32 on the batch
        scale = np.full(channels, 1 / 255 if images.dtype == np.uint8 else 1.0)
        shift = np.zeros(channels)
        steps = list(source.steps)
        while steps and isinstance(steps[0], T.Normalize):
            a, b = steps.pop(0).affine(channels)
            scale, shift = scale * a, shift * a + b
        self._steps = steps
        mean = None if mean is None else np.broadcast_to(np.asarray(mean, np.float64), (channels,))
        std = None if std is None else np.broadcast_to(np.asarray(std, np.float64), (channels,))
        if std is not None and np.any(std <= 0):
            raise ValueError(f"std must be positive, got {std}")
        post = None
        if mean is not None or std is not None:
            m = np.zeros(channels) if mean is None else mean
            s = np.ones(channels) if std is None else std
            if steps:
                post = (1 / s, -m / s)
            else:
                scale, shift = scale / s, (shift - m) / s
        xp = self.device.xp

        def per_channel(v):
            return xp.asarray(np.asarray(v).reshape(1, channels, 1, 1), np.float32)

        self._scale, self._shift = per_channel(scale), per_channel(shift)
        self._post = None if post is None else (per_channel(post[0]), per_channel(post[1]))
        # the whole set moves to the device once; batches are gathered there
        self._images = xp.ascontiguousarray(backend.to_device(images, self.device))
        self._labels = backend.to_device(source.labels, self.device).astype(np.int64, copy=False)

    # --- length and state --------------------------------------------------------------------------
    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def state_dict(self):
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state):
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])

    # --- iteration ------------------------------------------------------------------------------------
    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        if self._source is None:
            return self._per_sample(self._index_batches(rng, host=True))
        if isinstance(self._source, _Tensors):
            return self._tensor_batches(self._index_batches(rng))
        return self._image_batches(self._index_batches(rng), rng)

    def _index_batches(self, rng, host=False):
        """Index arrays (or slices), one per batch, on the loader's device unless ``host``."""
        if self._user_batch_sampler:
            for batch in self.batch_sampler:
                idx = np.asarray(batch, np.int64)
                yield idx if host else backend.to_device(idx, self.device)
            return
        n = len(self.dataset)
        if self._user_sampler:
            order = epoch_indices(self.sampler)
        elif self.shuffle:
            order = rng.permutation(n)
        else:
            order = None
        if self.batch_size is None:
            yield from (range(n) if order is None else order.tolist())
            return
        count = n if order is None else len(order)
        if order is not None and not host:
            order = backend.to_device(order, self.device)
        stop = count - count % self.batch_size if self.drop_last else count
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, count)
            if order is None:
                yield range(start, end) if host else slice(start, end)
            else:
                yield order[start:end]

    def _to_float(self, batch, rng):
        x = batch.astype(np.float32) * self._scale + self._shift
        for step in self._steps:
            x = step.batch(x, rng)
        if self._post is not None:
            x = x * self._post[0] + self._post[1]
        return x

    def _image_batches(self, batches, rng):
        xp = self.device.xp
        for idx in batches:
            images, labels = self._images[idx], self._labels[idx]
            if self._layout == "NHW":
                images = images[:, None]
            elif self._layout == "NHWC":
                images = xp.moveaxis(images, 3, 1)
            if self.transform is not None:
                images = self.transform(images, rng)
            yield [Tensor._wrap(self._to_float(images, rng), self.device), Tensor._wrap(labels, self.device)]

    def _tensor_batches(self, batches):
        for idx in batches:
            yield [Tensor._wrap(a[idx], self.device) for a in self._arrays]

    def _fetch(self, idx):
        if self.batch_size is None and not self._user_batch_sampler:
            return self.collate_fn(self.dataset[idx])
        idx = [int(i) for i in idx]
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(idx) if callable(getitems) else [self.dataset[i] for i in idx]
        return self.collate_fn(samples)

    def _per_sample(self, batches):
        place = (lambda b: b) if self.device is None else (lambda b: to_device(b, self.device))
        if self.num_workers == 0:
            for idx in batches:
                yield place(self._fetch(idx))
            return
        ids = itertools.count()

        def init():
            if self.worker_init_fn is not None:
                self.worker_init_fn(next(ids))

        with ThreadPoolExecutor(self.num_workers, initializer=init) as pool:
            ahead = deque(pool.submit(self._fetch, idx)
                          for idx in itertools.islice(batches, max(1, self.prefetch_factor * self.num_workers)))
            while ahead:
                out = ahead.popleft().result()
                nxt = next(batches, None)
                if nxt is not None:
                    ahead.append(pool.submit(self._fetch, nxt))
                yield place(out)
