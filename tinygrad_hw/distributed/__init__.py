"""Collective communication between processes, with torch.distributed's names and semantics.

Processes are started by MPI (``mpiexec -n N python script.py``); each finds its rank and the
world size there. Two backends:

- ``'mpi'``: mpi4py's buffer-based collectives on NumPy arrays (CUDA tensors are staged
  through the host);
- ``'nccl'``: NCCL through CuPy (``cupy.cuda.nccl``) on CUDA tensors, one GPU per rank; MPI
  only starts the processes and hands NCCL's unique id from rank 0 to the others.

mpi4py and MPICH come with ``pip install tinygrad-hw[dist]``; importing this module never
imports them, only ``init_process_group`` does.

>>> import tinygrad_hw as thw
>>> import tinygrad_hw.distributed as dist
>>> dist.init_process_group("mpi")           # doctest: +SKIP
>>> t = thw.tensor([float(dist.get_rank())])  # doctest: +SKIP
>>> dist.all_reduce(t)                        # doctest: +SKIP   t is now the sum over ranks
"""
import importlib.util
import sys

from ..tensor import Tensor

_INSTALL = "pip install tinygrad-hw[dist]"


class ReduceOp:
    """Reduction of ``all_reduce`` and ``reduce``. AVG needs floating-point tensors."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MAX, ReduceOp.MIN)


class Work:
    """The handle an ``async_op=True`` collective returns: ``wait()`` completes it."""

    def __init__(self, request=None, finish=None):
        self._request, self._finish = request, finish

    def wait(self, timeout=None):
        if self._request is not None:
            self._request.Wait()
            self._request = None
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        return True

    def is_completed(self):
        return self._request is None and self._finish is None


def import_mpi():
    """mpi4py's MPI module (this initialises MPI), or a RuntimeError saying what to install."""
    try:
        from mpi4py import MPI
    except Exception as e:     # ImportError, or the MPI library failing to load
        raise RuntimeError(f"tinygrad_hw.distributed needs mpi4py and an MPI library (MPICH), "
                           f"which could not be loaded ({e}): {_INSTALL}") from None
    return MPI


def is_available():
    """True when mpi4py is installed (nothing is imported or initialised)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available():
    return is_available()


def is_nccl_available():
    """True when mpi4py is installed and CuPy's NCCL bindings import."""
    if not is_available():
        return False
    try:
        from cupy.cuda import nccl  # noqa: F401
    except Exception:
        return False
    return True


# --- the default process group ------------------------------------------------------------------
_group = None       # the backend object once init_process_group has run
_NOT_INIT = "Default process group has not been initialized, please make sure to call init_process_group."


def _default_group(group=None):
    if _group is None:
        raise ValueError(_NOT_INIT)
    if group is not None and group is not _group:
        raise NotImplementedError("only the default process group (group=None) is supported")
    return _group


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the processes MPI started into the default group.

    ``backend`` is 'mpi' (CPU tensors; CUDA ones are staged through the host) or 'nccl' (CUDA
    tensors, one GPU per rank: rank r uses GPU ``local_rank % device_count`` unless
    ``device_id`` says otherwise). Rank and world size come from MPI; when ``rank`` or
    ``world_size`` are given they must agree with it. ``init_method`` may be None or 'mpi://';
    ``timeout`` is accepted and not used: a failing rank aborts the job instead (see below).

    When the world has more than one process, an uncaught exception in any rank prints its
    traceback (prefixed with the rank) and aborts the whole job, so the other ranks never wait
    forever in a collective.
    """
    global _group
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: unknown backend {backend!r}; expected 'mpi' or 'nccl' "
                         "(processes are started by mpiexec)")
    if init_method not in (None, "mpi://"):
        raise ValueError(f"init_process_group: init_method {init_method!r} is not supported; ranks "
                         "come from MPI (start the processes with mpiexec)")
    if store is not None:
        raise ValueError("init_process_group: store= is not supported; ranks come from MPI")
    MPI = import_mpi()
    from ._mpi import MPIGroup
    group = MPIGroup(MPI)
    for what, given, actual in (("rank", rank, group.rank), ("world_size", world_size, group.size)):
        if given not in (-1, None) and int(given) != actual:
            raise ValueError(f"init_process_group: {what}={given} but MPI says {actual}")
    if name == "nccl":
        from ._nccl import NCCLGroup
        group = NCCLGroup(group, device_id)
    _group = group
    if group.size > 1:
        _install_excepthook(group)


def is_initialized():
    return _group is not None


def destroy_process_group(group=None):
    """Leave the default group (MPI itself stays initialised until the process exits)."""
    global _group
    g = _default_group(group)
    _group = None
    _remove_excepthook()
    g.destroy()


def get_backend(group=None):
    return _default_group(group).name


def get_rank(group=None):
    return _default_group(group).rank


def get_world_size(group=None):
    return _default_group(group).size


def barrier(group=None, async_op=False, device_ids=None):
    _default_group(group).barrier()
    return Work() if async_op else None


# --- collectives on tensors -------------------------------------------------------------------------
def _check(tensor, what):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected a Tensor, got {type(tensor).__name__}")


def _check_op(op, tensor, what):
    if op not in _OPS:
        raise ValueError(f"{what}: unknown op {op!r}; expected one of ReduceOp.SUM, AVG, PRODUCT, MAX, MIN")
    if op == ReduceOp.AVG and tensor.dtype.kind not in "fc":
        raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {tensor.dtype}")


def _done(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks with ``op``, in place on every rank."""
    _check(tensor, "all_reduce")
    _check_op(op, tensor, "all_reduce")
    return _done(_default_group(group).all_reduce(tensor, op, async_op), async_op)


def broadcast(tensor, src=0, group=None, async_op=False):
    """Overwrite ``tensor`` on every rank with rank ``src``'s values (shapes and dtypes must agree)."""
    _check(tensor, "broadcast")
    g = _default_group(group)
    if not 0 <= src < g.size:
        raise ValueError(f"broadcast: src {src} is not a rank of a world of {g.size}")
    return _done(g.broadcast(tensor, int(src), async_op), async_op)


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks into rank ``dst``'s tensor; the others' are left unchanged."""
    _check(tensor, "reduce")
    _check_op(op, tensor, "reduce")
    g = _default_group(group)
    if not 0 <= dst < g.size:
        raise ValueError(f"reduce: dst {dst} is not a rank of a world of {g.size}")
    return _done(g.reduce(tensor, int(dst), op), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[r]`` (one tensor per rank, same shape and dtype as ``tensor``) with rank
    r's ``tensor``, on every rank."""
    _check(tensor, "all_gather")
    g = _default_group(group)
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a world of {g.size}")
    for i, t in enumerate(tensor_list):
        _check(t, "all_gather")
        if t.shape != tensor.shape or t.dtype != tensor.dtype or t.device is not tensor.device:
            raise ValueError(f"all_gather: tensor_list[{i}] is {t.dtype}{t.shape} on {t.device}, but the "
                             f"input is {tensor.dtype}{tensor.shape} on {tensor.device}")
    return _done(g.all_gather(tensor_list, tensor), async_op)


# --- a failing rank ends the job ----------------------------------------------------------------------
_previous_hook = None


def _install_excepthook(group):
    """An uncaught exception on any rank prints its traceback, then aborts every rank."""
    global _previous_hook
    if _previous_hook is not None:
        return
    _previous_hook = sys.excepthook
    rank, comm = group.rank, group.world_comm

    def hook(kind, value, tb):
        import traceback
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write("".join(f"[rank {rank}] {line}\n" for line in text.rstrip().split("\n")))
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = hook


def _remove_excepthook():
    global _previous_hook
    if _previous_hook is not None:
        sys.excepthook, _previous_hook = _previous_hook, None


def abort(code=1):
    """End every rank of the job now with status ``code`` (no-op outside a multi-process group)."""
    if _group is not None and _group.size > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        _group.world_comm.Abort(int(code))


__all__ = ["ReduceOp", "Work", "init_process_group", "destroy_process_group", "is_available",
           "is_mpi_available", "is_nccl_available", "is_initialized", "get_backend", "get_rank",
           "get_world_size", "barrier", "all_reduce", "broadcast", "reduce", "all_gather", "abort"]
