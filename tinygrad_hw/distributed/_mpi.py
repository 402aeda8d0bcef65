"""The 'mpi' backend: mpi4py's buffer-based collectives (uppercase methods) on NumPy arrays.

A tensor whose array is a C-contiguous, writable NumPy array is communicated in place; any
other (non-contiguous, read-only view, or on a GPU) goes through a contiguous host copy that
is written back afterwards.
"""
import numpy as np

from .. import backend


def host_buffer(tensor):
    """(buffer, write_back): a C-contiguous writable host array with the tensor's values, and a
    function that copies it back into the tensor (None when the buffer is the tensor's own array)."""
    arr = tensor._data
    if isinstance(arr, np.ndarray) and arr.flags.c_contiguous and arr.flags.writeable:
        return arr, None
    buf = np.array(backend.to_host(arr), order="C", copy=True)
    dev = tensor.device

    def write_back():
        tensor._data[...] = buf if dev is backend.CPU else backend.to_device(buf, dev)

    return buf, write_back


class MPIGroup:
    """All the processes of ``MPI.COMM_WORLD``, on a duplicate of it (so our messages never match
    a user's own MPI traffic)."""
    name = "mpi"

    def __init__(self, MPI):
        from . import ReduceOp, Work
        self.MPI, self.Work = MPI, Work
        self.world_comm = MPI.COMM_WORLD
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # processes on this machine: which GPU to use, how many threads each may take
        self.local = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank, self.local_size = self.local.Get_rank(), self.local.Get_size()
        self._ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN}
        self._avg = ReduceOp.AVG

    def destroy(self):
        self.local.Free()
        self.comm.Free()

    def barrier(self):
        self.comm.Barrier()

    def _finisher(self, buf, write_back, op):
        def finish():
            if op == self._avg:
                buf[...] /= self.size   # (an item assignment: buf stays the same array)
            if write_back is not None:
                write_back()
        return finish

    def all_reduce(self, tensor, op, async_op=False):
        buf, write_back = host_buffer(tensor)
        if async_op:
            request = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self._ops[op])
        else:       # the blocking call: no request to progress, the fastest for small messages
            request = self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self._ops[op])
        return self.Work(request, self._finisher(buf, write_back, op))

    def broadcast(self, tensor, src, async_op=False):
        buf, write_back = host_buffer(tensor)
        request = self.comm.Ibcast(buf, root=src) if async_op else self.comm.Bcast(buf, root=src)
        return self.Work(request, write_back)

    def reduce(self, tensor, dst, op):
        buf, write_back = host_buffer(tensor)
        if self.rank == dst:
            self.comm.Reduce(self.MPI.IN_PLACE, buf, op=self._ops[op], root=dst)
            return self.Work(None, self._finisher(buf, write_back, op))
        self.comm.Reduce(buf, None, op=self._ops[op], root=dst)
        return self.Work()

    def all_gather(self, tensor_list, tensor):
        send, _ = host_buffer(tensor)
        recv = np.empty((self.size,) + send.shape, send.dtype)
        self.comm.Allgather(send, recv)
        for t, part in zip(tensor_list, recv):
            t._data[...] = part if t.device is backend.CPU else backend.to_device(part, t.device)
        return self.Work()

    # host-side helpers (not tensors): small Python objects, e.g. NCCL's unique id
    def bcast_object(self, obj, root=0):
        return self.comm.bcast(obj, root=root)
