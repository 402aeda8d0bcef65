"""Data-parallel training under ``mpiexec``, as the training command uses it.

``setup(device)`` finds whether this process was started by ``mpiexec`` (the process manager's
environment: MPICH/Hydra's PMI_*, Open MPI's OMPI_*, PMIx); if so it joins the default process
group ('nccl' for CUDA devices, 'mpi' otherwise) and returns a ``Run`` for this rank, else a
``Run`` of one process that changes nothing. The run's rules:

- ``--batch-size`` is the global batch: each of N ranks takes ``batch_size / N`` samples per step
  from its DistributedSampler share, so N ranks see the same global batches as one process and
  the learning rate stays as it is;
- rank 0 alone logs, plots and writes checkpoints; every rank reads a checkpoint on resume;
- training loss, accuracy and speed are reduced over the ranks; the test set is split between
  them (rank r takes samples r, r + N, ...) and the accuracies combined exactly;
- each rank limits its BLAS/OpenMP threads to its share of the machine's cores (through
  threadpoolctl when it is installed, unless OMP_NUM_THREADS is set), so N ranks on one
  machine do not oversubscribe it.
"""
import os

import numpy as np

from . import (abort, init_process_group, is_initialized, get_rank, get_world_size, all_reduce, ReduceOp,
               _default_group)
from .. import backend
from ..tensor import Tensor

_ENV = ("PMI_SIZE", "PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def launched_by_mpi():
    """True when a process manager (mpiexec, mpirun, srun with PMI) started this process."""
    return any(k in os.environ for k in _ENV)


def _quiet(*args, **kwargs):
    pass


class Run:
    """This process's part in a run: ``rank`` of ``world`` (0 of 1 outside mpiexec)."""

    def __init__(self, rank=0, world=1):
        self.rank, self.world = rank, world
        self.is_main = rank == 0
        self._threads = None

    def log(self, log):
        """``log`` on rank 0, a function that prints nothing elsewhere."""
        return log if self.is_main else _quiet

    def local_batch(self, batch_size):
        if batch_size % self.world:
            raise ValueError(f"--batch-size {batch_size} (the global batch) must be a multiple of the "
                             f"number of processes, {self.world}")
        return batch_size // self.world

    def train_loader_args(self, dataset, args):
        """DataLoader arguments for the training set: shuffled, this rank's share of each batch."""
        if self.world == 1:
            return dict(batch_size=args.batch_size, shuffle=True, seed=args.seed)
        from ..data import DistributedSampler
        self.sampler = DistributedSampler(dataset, self.world, self.rank, shuffle=True, seed=args.seed)
        # the sampler shuffles; the loader's own generator then only drives augmentation, per rank
        seed = int(np.random.SeedSequence([args.seed, self.rank]).generate_state(1)[0])
        return dict(batch_size=self.local_batch(args.batch_size), sampler=self.sampler, seed=seed)

    def eval_loader_args(self, dataset):
        """DataLoader arguments for the test set: rank r evaluates samples r, r + N, ..."""
        return {} if self.world == 1 else dict(sampler=range(self.rank, len(dataset), self.world))

    def set_epoch(self, epoch):
        if self.world > 1:
            self.sampler.set_epoch(epoch)

    def wrap(self, model):
        """The model as DistributedDataParallel (the model itself in a world of one)."""
        if self.world == 1:
            return model
        from ..nn.parallel import DistributedDataParallel
        return DistributedDataParallel(model)

    def _sum(self, values, op=ReduceOp.SUM):
        t = Tensor._wrap(np.asarray(values, np.float64), backend.CPU)
        if _default_group().name == "nccl":     # NCCL reduces GPU arrays only
            t = t.to(_default_group().device)
        all_reduce(t, op)
        return t.numpy().tolist()

    def train_stats(self, loss, acc, speed):
        """(loss, accuracy, images/s) of one epoch over all ranks, from this rank's."""
        if self.world == 1:
            return loss, acc, speed
        seen = len(self.sampler)
        loss_sum, correct, total = self._sum([loss * seen, acc * seen, seen])
        (elapsed,) = self._sum([seen / speed], ReduceOp.MAX)
        return loss_sum / total, correct / total, total / elapsed

    def evaluate(self, evaluate, model, loader):
        """``evaluate(model, loader)`` (an accuracy in %) over the whole test set, every rank's
        share combined; the model first takes rank 0's buffers, as DistributedDataParallel's
        forward does."""
        if self.world == 1:
            return evaluate(model, loader)
        from ..nn.parallel import broadcast_coalesced
        broadcast_coalesced(list(model.buffers()))
        seen = len(loader.sampler)
        correct, total = self._sum([round(evaluate(model, loader) * seen / 100.0), seen])
        return 100.0 * correct / total

    def limit_threads(self, local_size):
        """Give each of ``local_size`` ranks on this machine its share of the cores (BLAS, OpenMP)."""
        if local_size <= 1 or "OMP_NUM_THREADS" in os.environ:
            return
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return
        self._threads = threadpool_limits(max(1, cores // local_size))


def setup(device="cpu"):
    """Join the process group when started by mpiexec; returns this process's ``Run``."""
    if not launched_by_mpi():
        return Run()
    if not is_initialized():    # (a second run in the same process reuses the group)
        init_process_group("nccl" if str(device).startswith("cuda") else "mpi")
    run = Run(get_rank(), get_world_size())
    run.limit_threads(_default_group().local_size)
    return run


__all__ = ["Run", "setup", "launched_by_mpi", "abort"]
