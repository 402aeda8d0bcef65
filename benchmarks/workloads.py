"""The benchmarked workloads, in our engine and as torch twins, as zero-argument step functions.

Notation: N batch; images are (N, 1, 28, 28) float32, labels (N,) int64 in [0, 10).

A train step is zero_grad, forward, cross-entropy, backward and an SGD-with-momentum update;
an inference step is one forward in eval mode with gradients off. Data are synthetic and already
on the device, so the step measures compute and framework overhead, not host-to-device copies.
torch is imported only when a twin is asked for.
"""
import numpy as np

WORKLOADS = ("mlp", "lenet5", "resnet20")
LR, MOMENTUM = 0.01, 0.9


def synthetic_batch(batch_size, seed=0):
    """Reproducible images and labels: ((N, 1, 28, 28) float32, (N,) int64)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=batch_size, dtype=np.int64)
    return x, y


def _model_input(workload, x):
    return x.reshape(len(x), -1) if workload == "mlp" else x


# --- ours ------------------------------------------------------------------------------------
def build_ours(workload):
    from tinygrad_hw.models import MLP, LeNet5, resnet20
    if workload == "mlp":
        return MLP(784, (512, 256), 10)
    if workload == "lenet5":
        return LeNet5(in_channels=1, num_classes=10, input_size=28)
    if workload == "resnet20":
        return resnet20(num_classes=10, in_channels=1)
    raise ValueError(f"unknown workload {workload!r}; expected one of {WORKLOADS}")


def ours_step(workload, mode, batch_size, device):
    """A step function for our engine: mode 'train' or 'infer', device 'cpu' or 'cuda'."""
    import tinygrad_hw as thw
    import tinygrad_hw.nn.functional as F
    from tinygrad_hw import optim

    thw.manual_seed(0)
    x_np, y_np = synthetic_batch(batch_size)
    model = build_ours(workload).to(device)
    x = thw.tensor(_model_input(workload, x_np), device=device)
    y = thw.tensor(y_np, device=device)
    if mode == "infer":
        model.eval()

        def step():
            with thw.no_grad():
                model(x)
        return step
    model.train()
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


# --- torch twins -----------------------------------------------------------------------------
def build_torch(workload):
    """The same architecture in torch (PyTorch default initialisation), from the shared twins."""
    from .twins import build_torch as build
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; expected one of {WORKLOADS}")
    return build(workload)


def torch_step(workload, mode, batch_size, device):
    """The torch twin's step function, on 'cpu' or 'cuda'."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    x_np, y_np = synthetic_batch(batch_size)
    model = build_torch(workload).to(device)
    x = torch.from_numpy(_model_input(workload, x_np).copy()).to(device)
    y = torch.from_numpy(y_np).to(device)
    if mode == "infer":
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
        return step
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def make_step(framework, workload, mode, batch_size, device):
    maker = ours_step if framework == "ours" else torch_step
    return maker(workload, mode, batch_size, device)
