"""Samplers (iterables of dataset indices) and the Generator that seeds them, as torch.utils.data.

A sampler is anything iterable with ``__len__`` that yields indices; the DataLoader's array fast
path reads a whole epoch of them at once, so a sampler written elsewhere (a distributed one with
``set_epoch``) keeps the one-gather-per-batch speed.
"""
import numpy as np

from .. import backend


class Generator:
    """A random generator seeded like torch's: ``g = thw.Generator().manual_seed(42)``.

    Wraps a ``numpy.random.Generator``; pass it as ``generator=`` to ``random_split``,
    ``RandomSampler`` or ``DataLoader``.
    """

    def __init__(self, device="cpu"):
        self.device = backend.device(device)
        self._seed = int(np.random.SeedSequence().entropy % 2**63)
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self):
        """Reseed from fresh entropy; returns the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy % 2**63)).initial_seed()

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state):
        self._rng.bit_generator.state = state
        return self


def numpy_rng(generator=None):
    """The numpy Generator behind ``generator``: thw's global CPU generator (``thw.manual_seed``) when None."""
    if generator is None:
        return backend.rng(backend.CPU)
    if isinstance(generator, Generator):
        return generator._rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a thw.Generator or a numpy.random.Generator, got {type(generator).__name__}")


def draw_seed(generator=None):
    """A 63-bit seed drawn from ``generator`` (the global one when None), as torch's samplers do."""
    return int(numpy_rng(generator).integers(2**63, dtype=np.int64))


class Sampler:
    """Base class: subclasses define ``__iter__`` (indices) and ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation (or, with ``replacement``, ``num_samples`` draws with replacement).

    Each iteration draws a fresh seed from ``generator`` (thw's global generator when None), so
    ``thw.manual_seed`` makes the sequence of epochs reproducible.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.num_samples, int) or isinstance(self.num_samples, bool) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _epoch_indices(self):
        """One epoch of indices as an int64 array."""
        rng = np.random.default_rng(draw_seed(self.generator))
        n = len(self.data_source)
        if self.replacement:
            return rng.integers(0, n, self.num_samples, dtype=np.int64)
        reps = -(-self.num_samples // n)
        return np.concatenate([rng.permutation(n) for _ in range(reps)])[:self.num_samples]

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order, without replacement."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def _epoch_indices(self):
        order = np.random.default_rng(draw_seed(self.generator)).permutation(len(self.indices))
        return np.asarray(self.indices, np.int64)[order]

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self):
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def epoch_indices(sampler):
    """All indices ``sampler`` yields this epoch, as one int64 array (read in one go, not per batch)."""
    fast = getattr(sampler, "_epoch_indices", None)
    if callable(fast):
        return np.asarray(fast(), np.int64)
    return np.fromiter(iter(sampler), np.int64)
