"""The 'nccl' backend: NCCL through CuPy (``cupy.cuda.nccl``) on CUDA tensors, one GPU per rank.

MPI starts the processes and carries NCCL's unique id from rank 0 to the others; every
collective then runs on the GPUs, on CuPy's current stream (so it is ordered after the kernels
that produced its input, without a host synchronisation).
"""
from .. import backend

_DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
           "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "int64": "NCCL_INT64",
           "uint32": "NCCL_UINT32", "uint64": "NCCL_UINT64"}


def _import_nccl():
    try:
        import cupy
        from cupy.cuda import nccl
    except Exception as e:
        raise RuntimeError(f"backend 'nccl' needs CuPy with NCCL (install tinygrad-hw[cuda12] or "
                           f"[cuda13] and NCCL): {e}") from None
    return cupy, nccl


class NCCLGroup:
    """NCCL communicator over the processes of an ``MPIGroup``; CUDA tensors only."""
    name = "nccl"

    def __init__(self, mpi_group, device_id=None):
        from . import ReduceOp, Work
        cupy, nccl = _import_nccl()
        self.mpi, self.cupy, self.nccl, self.Work = mpi_group, cupy, nccl, Work
        self.rank, self.size, self.world_comm = mpi_group.rank, mpi_group.size, mpi_group.world_comm
        self.local_rank, self.local_size = mpi_group.local_rank, mpi_group.local_size
        count = cupy.cuda.runtime.getDeviceCount()
        if device_id is None:
            if count < self.local_size:
                raise RuntimeError(f"backend 'nccl' needs one GPU per rank: {self.local_size} ranks on "
                                   f"this machine but {count} GPU(s)")
            index = self.local_rank % count
        else:
            index = device_id if isinstance(device_id, int) else backend.device(device_id).index
        cupy.cuda.Device(index).use()
        self.device = backend.device(f"cuda:{index}")
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi_group.bcast_object(uid, root=0)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self._ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM, ReduceOp.PRODUCT: nccl.NCCL_PROD,
                     ReduceOp.MAX: nccl.NCCL_MAX, ReduceOp.MIN: nccl.NCCL_MIN}
        self._avg = ReduceOp.AVG

    def destroy(self):
        self.comm.destroy()
        self.mpi.destroy()

    def barrier(self):
        self.cupy.cuda.get_current_stream().synchronize()
        self.mpi.barrier()

    def _buffer(self, tensor):
        """(contiguous CuPy array, write_back or None, NCCL datatype)."""
        if tensor.device.type != "cuda":
            raise RuntimeError(f"backend 'nccl' works on CUDA tensors only, got a tensor on {tensor.device}; "
                               "use backend 'mpi' for CPU tensors")
        if tensor.device is not self.device:
            raise RuntimeError(f"backend 'nccl': this rank uses {self.device}, the tensor is on {tensor.device}")
        name = _DTYPES.get(str(tensor.dtype))
        if name is None:
            raise TypeError(f"backend 'nccl' cannot communicate {tensor.dtype} tensors")
        arr = tensor._data
        if arr.flags.c_contiguous:
            return arr, None, getattr(self.nccl, name)
        buf = self.cupy.ascontiguousarray(arr)

        def write_back():
            tensor._data[...] = buf
        return buf, write_back, getattr(self.nccl, name)

    def _stream(self):
        return self.cupy.cuda.get_current_stream().ptr

    def all_reduce(self, tensor, op, async_op=False):      # NCCL is asynchronous on the stream anyway
        buf, write_back, dt = self._buffer(tensor)
        self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, dt, self._ops[op], self._stream())
        return self.Work(None, self._finisher(buf, write_back, op))

    def _finisher(self, buf, write_back, op):
        def finish():
            if op == self._avg:
                buf[...] /= self.size   # (an item assignment: buf stays the same array)
            if write_back is not None:
                write_back()
        return finish

    def broadcast(self, tensor, src, async_op=False):
        buf, write_back, dt = self._buffer(tensor)
        self.comm.bcast(buf.data.ptr, buf.size, dt, src, self._stream())
        return self.Work(None, write_back)

    def reduce(self, tensor, dst, op):
        buf, write_back, dt = self._buffer(tensor)
        self.comm.reduce(buf.data.ptr, buf.data.ptr, buf.size, dt, self._ops[op], dst, self._stream())
        if self.rank != dst:    # NCCL may use the send buffer only; the result lands on dst alone
            return self.Work()
        return self.Work(None, self._finisher(buf, write_back, op))

    def all_gather(self, tensor_list, tensor):
        send, _, dt = self._buffer(tensor)
        recv = self.cupy.empty((self.size,) + send.shape, send.dtype)
        self.comm.allGather(send.data.ptr, recv.data.ptr, send.size, dt, self._stream())
        for t, part in zip(tensor_list, recv):
            t._data[...] = part
        return self.Work()

    def bcast_object(self, obj, root=0):
        return self.mpi.bcast_object(obj, root)
