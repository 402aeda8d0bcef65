"""DistributedDataParallel: the same module on every rank, gradients averaged after backward.

Each rank runs forward and backward on its own share of the batch; at the end of
``loss.backward()`` the gradients are averaged over the ranks (so ``optimizer.step()`` sees
the same gradient everywhere and the replicas stay identical). With equal per-rank batches and
a loss that is a mean over the batch, the averaged gradient is the full batch's gradient: N
ranks with batch B each train like one process with batch N * B (up to summation order), as
long as the module has no batch-dependent layers (batch norm normalises with each rank's own
batch statistics).

Gradients are reduced in buckets: the parameters, in reverse registration order (roughly the
order backward produces their gradients), are packed into flat buffers of at most
``bucket_cap_mb`` each, one all-reduce per bucket. The reduction runs once backward has
finished (a callback queued by forward); it does not overlap with backward.
"""
import contextlib

import numpy as np

from .. import distributed as dist
from ..tensor import Tensor, is_grad_enabled, queue_post_backward, no_grad
from .module import Module


class _Bucket:
    """Parameters of one device and dtype packed into one flat buffer; after the parameters' values
    it holds one slot per parameter that counts the ranks that produced a gradient for it."""

    def __init__(self, params):
        self.params = params
        self.sizes = [p.numel() for p in params]
        self.offsets = np.cumsum([0] + self.sizes).tolist()
        p0 = params[0]
        self.device, self.dtype = p0.device, p0.dtype
        self.flat = Tensor._wrap(p0.device.xp.empty(self.offsets[-1] + len(params), p0.dtype), p0.device)

    def views(self):
        flat = self.flat._data
        return [flat[a:b].reshape(p.shape) for p, a, b in zip(self.params, self.offsets, self.offsets[1:])]


def _buckets(tensors, cap_bytes):
    """Group tensors by (device, dtype), in the given order, into lists of at most ``cap_bytes``
    (a tensor larger than the cap gets a bucket of its own)."""
    out, open_ = [], {}
    for t in tensors:
        key = (str(t.device), t.dtype.str)
        cur = open_.get(key)
        nbytes = t.numel() * t.dtype.itemsize
        if cur is None or (cur[1] + nbytes > cap_bytes and cur[0]):
            cur = open_[key] = [[], 0]
            out.append(cur[0])
        cur[0].append(t)
        cur[1] += nbytes
    return out


@no_grad()
def broadcast_coalesced(tensors, src=0, cap_bytes=1 << 62):
    """Overwrite ``tensors`` on every rank with rank ``src``'s values, packed by (device, dtype)
    into flat buffers of at most ``cap_bytes`` (one broadcast each)."""
    for group in _buckets(tensors, cap_bytes):
        xp = group[0].device.xp
        flat = Tensor._wrap(xp.concatenate([t._data.reshape(-1) for t in group]), group[0].device)
        dist.broadcast(flat, src)
        start = 0
        for t in group:
            n = t.numel()
            t._data[...] = flat._data[start:start + n].reshape(t.shape)
            start += n


class DistributedDataParallel(Module):
    """``DistributedDataParallel(module, device_ids=None, output_device=None, dim=0,
    broadcast_buffers=True, process_group=None, bucket_cap_mb=25, find_unused_parameters=False,
    check_reduction=False, gradient_as_bucket_view=False, static_graph=False)``.

    Needs ``thw.distributed.init_process_group`` first. At construction the parameters and
    buffers of rank 0 are copied to every rank. Before each forward (after a forward with
    gradients), the buffers (batch-norm running statistics) are broadcast from rank 0
    (``broadcast_buffers=True``). ``no_sync()`` skips the reduction (gradients accumulate
    locally) until the first backward after the block. ``.module`` is the wrapped module; state
    dict keys carry the prefix 'module.', as in torch.

    A parameter that got no gradient on a rank contributes zeros; one that got none on any rank
    keeps ``grad`` None. ``find_unused_parameters``, ``static_graph`` and ``check_reduction``
    are accepted for compatibility and change nothing.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel needs the default process group: call "
                               "thw.distributed.init_process_group() first")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a Module, got {type(module).__name__}")
        params = [p for p in module.parameters() if p.requires_grad]
        devices = {str(t.device) for t in list(module.parameters()) + list(module.buffers())}
        if len(devices) > 1:
            raise ValueError(f"DistributedDataParallel: the module's parameters and buffers are on "
                             f"several devices ({', '.join(sorted(devices))}); put them on one")
        if device_ids is not None:
            if len(device_ids) != 1:
                raise ValueError(f"device_ids must hold exactly one device (this rank's), got {device_ids}")
            want = device_ids[0]
            want = f"cuda:{want}" if isinstance(want, int) else str(want)
            if devices and devices != {want}:
                raise ValueError(f"device_ids={device_ids} but the module is on {devices.pop()}")
        if process_group is not None:
            raise NotImplementedError("only the default process group (process_group=None) is supported")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.world_size = dist.get_world_size()
        cap = int(bucket_cap_mb * 1024 * 1024)
        self._grad_buckets = [_Bucket(b) for b in _buckets(params[::-1], cap)]
        self._buffers_list = [b for b in module.buffers()]
        broadcast_coalesced(list(module.parameters()) + self._buffers_list, 0, cap)

    def _reduce_gradients(self):
        """Average every parameter's gradient over the ranks, one all-reduce per bucket."""
        for b in self._grad_buckets:
            flat = b.flat._data
            for p, view in zip(b.params, b.views()):
                view[...] = 0 if p.grad is None else p.grad._data
            counts = flat[b.offsets[-1]:]
            counts[...] = b.device.xp.asarray([p.grad is not None for p in b.params], flat.dtype)
            dist.all_reduce(b.flat, dist.ReduceOp.SUM)
            flat[:b.offsets[-1]] /= self.world_size
            for p, view, count in zip(b.params, b.views(), counts.tolist()):
                if count == 0:
                    continue
                if self.gradient_as_bucket_view or p.grad is None:
                    p.grad = Tensor._wrap(view if self.gradient_as_bucket_view else view.copy(), p.device)
                else:
                    p.grad._data[...] = view

    # --- forward ----------------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        # as torch: after a forward that recorded gradients, the next one first takes rank 0's buffers
        sync_buffers = self.broadcast_buffers and self.require_forward_param_sync and self.world_size > 1
        if sync_buffers and self._buffers_list:
            broadcast_coalesced(self._buffers_list)
        grad_sync = is_grad_enabled() and self.require_backward_grad_sync
        if grad_sync and self.world_size > 1 and self._grad_buckets:
            queue_post_backward(self._reduce_gradients)
        self.require_forward_param_sync = grad_sync
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Within this block backward leaves gradients local (they accumulate); the first backward
        after a forward outside it averages everything accumulated."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old


class DataParallel(Module):
    """Not provided: single-process multi-device parallelism; use DistributedDataParallel."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("nn.DataParallel is not provided; use "
                                  "nn.parallel.DistributedDataParallel with mpiexec (one process per device)")


__all__ = ["DistributedDataParallel", "DataParallel", "broadcast_coalesced"]
