"""What the distributed tests and the scripts they launch under mpiexec share: the small models,
the data, and single-process references of data-parallel training.

Notation: S steps, B global batch (each of R ranks takes B / R rows of it), images (B, 1, 8, 8).
"""
import numpy as np

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn, optim

STEPS, BATCH, LR, MOMENTUM, WEIGHT_DECAY = 5, 16, 0.1, 0.9, 1e-3


def make_model(kind, dtype, seed):
    """'plain': conv, ReLU, max-pool, linear; 'bn': the same with batch norm after the conv."""
    thw.manual_seed(seed)
    layers = [nn.Conv2d(1, 4, 3)]
    if kind == "bn":
        layers.append(nn.BatchNorm2d(4))
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 10)]
    return nn.Sequential(*layers).to(dtype)


def data(dtype, steps=STEPS, batch=BATCH):
    """Images (S, B, 1, 8, 8) of ``dtype`` and labels (S, B)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((steps, batch, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 10, (steps, batch))
    return x, y


def shard(array, rank, world):
    """Rank ``rank``'s contiguous share of a batch (the first axis)."""
    n = len(array) // world
    return array[rank * n:(rank + 1) * n]


def optimizer(model):
    return optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)


def step(model, opt, x, y):
    loss = F.cross_entropy(model(thw.tensor(x)), thw.tensor(y))
    opt.zero_grad()
    loss.backward()
    opt.step()


def state(model):
    return {k: v.numpy() for k, v in model.state_dict().items()}


def train_single(kind, dtype, seed):
    """One process on the full batches: the state after S steps."""
    model = make_model(kind, dtype, seed)
    opt = optimizer(model)
    x, y = data(dtype)
    for s in range(STEPS):
        step(model, opt, x[s], y[s])
    return state(model)


def simulate_bn_ranks(dtype, seed, world):
    """What DistributedDataParallel does with batch norm, written out in one process: R replicas,
    each taking rank 0's buffers before its forward, normalising with its own shard's batch
    statistics, then stepping with the gradient averaged over replicas. Returns each replica's state."""
    replicas = [make_model("bn", dtype, seed) for _ in range(world)]
    opts = [optimizer(m) for m in replicas]
    x, y = data(dtype)
    for s in range(STEPS):
        start = [b.numpy() for b in replicas[0].buffers()]     # rank 0's, before this step's forward
        for r, m in enumerate(replicas):
            for b, b0 in zip(m.buffers(), start):
                b._data[...] = b0
            loss = F.cross_entropy(m(thw.tensor(shard(x[s], r, world))), thw.tensor(shard(y[s], r, world)))
            for p in m.parameters():
                p.grad = None
            loss.backward()
        for ps in zip(*(m.parameters() for m in replicas)):
            mean = sum(p.grad._data for p in ps) / world
            for p in ps:
                p.grad._data[...] = mean
        for o in opts:
            o.step()
    return [state(m) for m in replicas]
