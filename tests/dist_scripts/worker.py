"""Launched by tests/test_distributed.py as ``mpiexec -n R python worker.py CASE OUTDIR [BACKEND]``
(BACKEND 'mpi', the default, on CPU tensors; 'nccl' on CUDA tensors).

Each case checks what it can on every rank (a failed assert aborts the whole job with the
rank's traceback) and saves what the test compares against single-process references in
OUTDIR/CASE_rank{r}.npz.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

import tinygrad_hw as thw
import tinygrad_hw.distributed as dist
from tinygrad_hw.nn.parallel import DistributedDataParallel as DDP

import dist_common as C

SHAPES = [(), (1,), (7,), (3, 4), (2, 3, 5), (64, 33)]
DEVICE = "cpu"      # 'cuda' with the nccl backend


def tensor(array):
    return thw.tensor(array, device=DEVICE)


def values(shape, dtype, rank, salt):
    """The input rank ``rank`` contributes (every rank can regenerate every other rank's)."""
    rng = np.random.default_rng([salt, rank])
    if np.dtype(dtype).kind == "i":
        return rng.integers(-5, 6, shape).astype(dtype)
    return (rng.standard_normal(shape) + 0.5).astype(dtype)


def case_collectives(rank, world, out):
    definitions = {dist.ReduceOp.SUM: lambda a: a.sum(0), dist.ReduceOp.AVG: lambda a: a.sum(0) / world,
                   dist.ReduceOp.MAX: lambda a: a.max(0), dist.ReduceOp.MIN: lambda a: a.min(0),
                   dist.ReduceOp.PRODUCT: lambda a: a.prod(0)}
    checked = 0
    for dtype in (np.float32, np.float64, np.int64):
        tol = {np.float32: 1e-6, np.float64: 1e-14, np.int64: 0}[dtype]
        for si, shape in enumerate(SHAPES):
            every = np.stack([values(shape, dtype, r, si) for r in range(world)])
            for op, definition in definitions.items():
                if op == dist.ReduceOp.AVG and dtype == np.int64:
                    continue
                want = definition(every).astype(dtype)
                for layout in ("contiguous", "transposed"):
                    if layout == "transposed" and len(shape) < 2:
                        continue
                    if layout == "transposed":   # a non-contiguous view: reduced through a copy, written back
                        t = tensor(np.ascontiguousarray(values(shape, dtype, rank, si).T)).T
                    else:
                        t = tensor(values(shape, dtype, rank, si))
                    dist.all_reduce(t, op)
                    assert t.dtype == dtype and t.shape == shape, (t.dtype, t.shape)
                    np.testing.assert_allclose(t.numpy(), want, rtol=tol, atol=0,
                                               err_msg=f"all_reduce {op} {dtype.__name__}{shape} {layout}")
                    checked += 1
                # reduce: dst gets the reduction, the others keep their input
                for dst in range(world):
                    t = tensor(values(shape, dtype, rank, si))
                    dist.reduce(t, dst, op)
                    np.testing.assert_allclose(t.numpy(), want if rank == dst else every[rank], rtol=tol,
                                               err_msg=f"reduce {op} to {dst} {dtype.__name__}{shape}")
                    checked += 1
            for src in range(world):
                t = tensor(values(shape, dtype, rank, si))
                dist.broadcast(t, src)
                np.testing.assert_array_equal(t.numpy(), every[src], err_msg=f"broadcast from {src}")
                checked += 1
            gathered = [thw.zeros(shape, dtype=dtype, device=DEVICE) for _ in range(world)]
            dist.all_gather(gathered, tensor(values(shape, dtype, rank, si)))
            for r, g in enumerate(gathered):
                np.testing.assert_array_equal(g.numpy(), every[r], err_msg=f"all_gather slot {r}")
            checked += 1
    # asynchronous all-reduce: the result is there after wait()
    t = tensor(values((5,), np.float64, rank, 99))
    work = dist.all_reduce(t, async_op=True)
    work.wait()
    np.testing.assert_allclose(t.numpy(), sum(values((5,), np.float64, r, 99) for r in range(world)))
    dist.barrier()
    return {"checked": np.array(checked + 1)}


def _ddp_train(kind, dtype, rank, world, accumulate=False):
    # every rank builds its replica from a different seed: construction must copy rank 0's
    model = DDP(C.make_model(kind, dtype, seed=100 + rank).to(DEVICE))
    opt = C.optimizer(model)
    x, y = C.data(dtype)
    for s in range(C.STEPS):
        xs, ys = C.shard(x[s], rank, world), C.shard(y[s], rank, world)
        opt.zero_grad()
        if accumulate:      # two micro-batches of half a shard: no reduction after the first
            h = len(xs) // 2
            with model.no_sync():
                (thw.nn.functional.cross_entropy(model(tensor(xs[:h])), tensor(ys[:h])) / 2).backward()
            local = [p.grad.numpy() for p in model.parameters()]
            (thw.nn.functional.cross_entropy(model(tensor(xs[h:])), tensor(ys[h:])) / 2).backward()
            if s == 0 and world > 1:      # the no_sync gradients were this rank's own: they differ between ranks
                g = tensor(local[0])
                parts = [thw.zeros_like(g) for _ in range(world)]
                dist.all_gather(parts, g)
                assert not np.allclose(parts[0].numpy(), parts[1].numpy()), "no_sync reduced the gradients"
        else:
            loss = thw.nn.functional.cross_entropy(model(tensor(xs)), tensor(ys))
            loss.backward()
        opt.step()
    st = model.state_dict()
    assert all(k.startswith("module.") for k in st), list(st)
    return {k[len("module."):]: v.numpy() for k, v in st.items()}


def case_ddp(rank, world, out):
    res = {}
    for dtype in ("float64", "float32"):
        res.update({f"{dtype}/{k}": v for k, v in _ddp_train("plain", np.dtype(dtype), rank, world).items()})
    res.update({f"accumulate/{k}": v for k, v in
                _ddp_train("plain", np.dtype("float64"), rank, world, accumulate=True).items()})
    return res


def case_bn(rank, world, out):
    return _ddp_train("bn", np.dtype("float64"), rank, world)


def case_unused(rank, world, out):
    """Head ``b`` is used on rank 0 only, head ``c`` nowhere: ``b`` gets rank 0's gradient over the
    world size on every rank, ``c`` keeps no gradient (loss = sum of outputs, so the gradient of a
    head's weight is its input's column sums, in every row)."""
    class Net(thw.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = (thw.nn.Linear(3, 2).double() for _ in range(3))

        def forward(self, x, use_b):
            return self.a(x) + self.b(x) if use_b else self.a(x)

    model = DDP(Net().to(DEVICE))
    x = [values((4, 3), np.float64, r, 5) for r in range(world)]
    model(tensor(x[rank]), use_b=rank == 0).sum().backward()
    net = model.module
    assert net.c.weight.grad is None and net.c.bias.grad is None
    colsum = [np.broadcast_to(xr.sum(0), (2, 3)) for xr in x]
    np.testing.assert_allclose(net.a.weight.grad.numpy(), sum(colsum) / world, rtol=1e-12)
    np.testing.assert_allclose(net.b.weight.grad.numpy(), colsum[0] / world, rtol=1e-12)
    np.testing.assert_allclose(net.b.bias.grad.numpy(), np.full(2, 4.0 / world), rtol=1e-12)
    return {"checked": np.array(4)}


def case_fail(rank, world, out):
    """Rank 1 raises in the middle of a step while the others go on into the gradient all-reduce."""
    model = DDP(C.make_model("plain", np.dtype("float32"), seed=0))
    opt = C.optimizer(model)
    x, y = C.data(np.float32)
    for s in range(C.STEPS):
        loss = thw.nn.functional.cross_entropy(model(thw.tensor(C.shard(x[s], rank, world))),
                                               thw.tensor(C.shard(y[s], rank, world)))
        if s == 2 and rank == 1:
            raise RuntimeError("deliberate failure on rank 1 at step 2")
        loss.backward()
        opt.step()
    time.sleep(60)      # not reached by rank 1; the others must be ended by the abort
    return {}


def main():
    global DEVICE
    case, out = sys.argv[1], Path(sys.argv[2])
    backend = sys.argv[3] if len(sys.argv) > 3 else "mpi"
    DEVICE = "cuda" if backend == "nccl" else "cpu"
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    result = globals()[f"case_{case}"](rank, world, out)
    np.savez(out / f"{case}_rank{rank}.npz", **result)
    dist.barrier()
    if rank == 0:
        (out / f"{case}.json").write_text(json.dumps({"world": world}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
