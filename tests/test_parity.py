"""Several optimizer steps here and in torch, from the same weights on the same batches, in float64:
losses, parameters and buffers (BatchNorm running statistics included) agree to 1e-6 relative."""
import numpy as np
import pytest
import torch

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn, optim
from tinygrad_hw.data import MNIST, DataLoader, subset, MNIST_MEAN, MNIST_STD
from tinygrad_hw.models import BasicBlock
from benchmarks.twins import TorchLeNet5, TorchBlockNet, copy_torch_to_ours, randomise_bn

STEPS = 6
RTOL, ATOL = 1e-6, 1e-12


class LeNetBN(nn.Module):
    """LeNet-5 with a BatchNorm2d after the first convolution."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                        nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


class BlockNet(nn.Module):
    """A BasicBlock with a projection shortcut (stride 2, 4 -> 8 channels), pooled into a classifier."""

    def __init__(self):
        super().__init__()
        self.block = BasicBlock(4, 8, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.block(x))))


def _mnist_batches():
    loader = DataLoader(subset(MNIST(train=False), 16 * STEPS), 16, mean=MNIST_MEAN, std=MNIST_STD)
    return [(x.numpy().astype(np.float64), y.numpy()) for x, y in loader]


def _random_batches():
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((8, 4, 9, 9)), rng.integers(0, 3, 8)) for _ in range(STEPS)]


MODELS = {"lenet_bn": (LeNetBN, lambda: TorchLeNet5(batch_norm=True), _mnist_batches),
          "basic_block": (BlockNet, TorchBlockNet, _random_batches)}
OPTIMIZERS = {
    "sgd": (lambda ps, lib: lib.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), None),
    "adam_steplr": (lambda ps, lib: lib.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-3),
                    lambda opt, lib: lib.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)),
}


def _assert_same_state(ours, theirs, when):
    mine = ours.state_dict()
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(mine[k].numpy(), v.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"{k} {when}")


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
@pytest.mark.parametrize("model_name", MODELS)
def test_training_steps_match_torch(model_name, opt_name):
    make_ours, make_theirs, batches = MODELS[model_name]
    make_opt, make_sched = OPTIMIZERS[opt_name]
    torch.manual_seed(0)
    theirs = make_theirs().double()
    randomise_bn(theirs)
    ours = make_ours().double()
    copy_torch_to_ours(theirs, ours)
    _assert_same_state(ours, theirs, "at the start")
    start = {k: v.clone() for k, v in theirs.state_dict().items()}
    opt_t, opt_o = make_opt(theirs.parameters(), torch.optim), make_opt(ours.parameters(), optim)
    sched_t = make_sched(opt_t, torch.optim) if make_sched else None
    sched_o = make_sched(opt_o, optim) if make_sched else None
    ours.train(), theirs.train()
    for step, (x, y) in enumerate(batches()):
        loss_t = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        opt_t.zero_grad()
        loss_t.backward()
        opt_t.step()
        loss_o = F.cross_entropy(ours(thw.tensor(x)), thw.tensor(y))
        opt_o.zero_grad()
        loss_o.backward()
        opt_o.step()
        assert loss_o.dtype == np.float64
        np.testing.assert_allclose(loss_o.item(), loss_t.item(), rtol=RTOL, err_msg=f"loss at step {step}")
        if sched_t is not None:
            sched_t.step(), sched_o.step()
            assert opt_o.param_groups[0]["lr"] == opt_t.param_groups[0]["lr"]
        _assert_same_state(ours, theirs, f"after step {step}")
    # the run moved the weights far enough for the comparison to mean something
    moved = max(float((v - start[k]).abs().max()) for k, v in theirs.state_dict().items()
                if k.endswith("weight") and v.dtype.is_floating_point)
    assert moved > 1e-3
    # and the models agree in eval mode too (running statistics in use)
    ours.eval(), theirs.eval()
    x = batches()[0][0]
    np.testing.assert_allclose(ours(thw.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=RTOL, atol=1e-10)
