"""DistributedSampler: each rank's share of a dataset's indices, as torch.utils.data's.

With ``shuffle=True`` every rank draws the same permutation (from ``seed`` and the epoch set by
``set_epoch``; NumPy's generator, so the permutation is not torch's); then, as torch does, the
index list is padded by repeating its start until its length divides evenly (or truncated with
``drop_last``) and rank r takes every ``num_replicas``-th index from position r. With one
replica and ``shuffle=True`` the order is the DataLoader's own shuffle order for that seed and
epoch, and N ranks each taking batches of B/N see, step by step, the same global batches as
one process with batch B (all but the last batch of an epoch, where the padding enters).
"""
import math

import numpy as np


class DistributedSampler:
    """``DistributedSampler(dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False)``:
    an iterable of this rank's indices with ``len`` and ``set_epoch``. ``num_replicas`` and
    ``rank`` default to the default process group's world size and rank."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "thw.distributed.init_process_group() first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """Pick the permutation of ``epoch`` (call it at the start of each epoch, on every rank)."""
        self.epoch = int(epoch)

    def indices(self):
        """This rank's indices as an int64 NumPy array (what ``__iter__`` yields)."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:
            # repeat the start (several times over when there are more ranks than samples)
            order = np.concatenate([order, np.resize(order, self.total_size - n)])
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples
