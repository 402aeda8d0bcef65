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
    """The same architecture in torch (PyTorch default initialisation)."""
    from torch import nn
    if workload == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    if workload == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(16 * 4 * 4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))
    if workload == "resnet20":
        return _torch_resnet20()
    raise ValueError(f"unknown workload {workload!r}; expected one of {WORKLOADS}")


def _torch_resnet20(num_classes=10, in_channels=1):
    """ResNet-20 as in models/: 3x3 stem, three stages of three basic blocks (16, 32, 64 channels,
    stride 2 at the start of stages 2 and 3, 1x1-conv + BN shortcut where the shape changes),
    global average pool, linear head."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + self.shortcut(x))

    layers = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block(cin, cout, stride if i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


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
