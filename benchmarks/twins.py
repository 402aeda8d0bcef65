"""The torch twins of the project's models, shared by the tests (the oracle) and the benchmarks
(the peer column). Module names match ours, so state dicts map key for key.

Importing this module imports torch; the engine never does.
"""
import torch
import torch.nn as tnn


def torch_mlp(in_features=784, hidden=(512, 256), num_classes=10):
    """MLP's twin: Flatten, then Linear + ReLU per hidden width, then the Linear head. Keys are
    ``{1, 3, ...}.weight``: ours prefixes them with ``layers.`` and has no Flatten at index 0."""
    layers, width = [tnn.Flatten()], in_features
    for h in hidden:
        layers += [tnn.Linear(width, h), tnn.ReLU()]
        width = h
    return tnn.Sequential(*layers, tnn.Linear(width, num_classes))


class TorchLeNet5(tnn.Module):
    def __init__(self, in_channels=1, num_classes=10, input_size=28, batch_norm=False):
        super().__init__()
        f = ((input_size - 4) // 2 - 4) // 2
        bn = [tnn.BatchNorm2d(6)] if batch_norm else []
        self.features = tnn.Sequential(tnn.Conv2d(in_channels, 6, 5), *bn, tnn.ReLU(), tnn.MaxPool2d(2),
                                       tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2))
        self.flatten = tnn.Flatten()
        self.classifier = tnn.Sequential(tnn.Linear(16 * f * f, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                                         tnn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


class TorchBasicBlock(tnn.Module):
    """Two 3x3 conv + BN, ReLU between and after the sum; a 1x1 conv + BN shortcut where the shape changes."""

    def __init__(self, cin, c, stride=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(c)
        self.conv2 = tnn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(c)
        self.shortcut = (tnn.Sequential(tnn.Conv2d(cin, c, 1, stride, bias=False), tnn.BatchNorm2d(c))
                         if stride != 1 or cin != c else tnn.Identity())

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class TorchResNet(tnn.Module):
    """ResNet's twin (ResNet-20 by default): 3x3 stem, stages of basic blocks (stride 2 at the start
    of every stage but the first), global average pool, linear head."""

    def __init__(self, blocks=(3, 3, 3), channels=(16, 32, 64), num_classes=10, in_channels=1):
        super().__init__()
        self.stem = tnn.Sequential(tnn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False),
                                   tnn.BatchNorm2d(channels[0]), tnn.ReLU())
        stages, w = [], channels[0]
        for i, (n, c) in enumerate(zip(blocks, channels)):
            layers = []
            for j in range(n):
                layers.append(TorchBasicBlock(w, c, 2 if i > 0 and j == 0 else 1))
                w = c
            stages.append(tnn.Sequential(*layers))
        self.stages = tnn.Sequential(*stages)
        self.pool = tnn.AdaptiveAvgPool2d(1)
        self.flatten = tnn.Flatten()
        self.fc = tnn.Linear(w, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.stages(self.stem(x)))))


class TorchBlockNet(tnn.Module):
    """One BasicBlock with a projection shortcut (stride 2, 4 -> 8 channels), pooled into a classifier."""

    def __init__(self):
        super().__init__()
        self.block = TorchBasicBlock(4, 8, stride=2)
        self.pool = tnn.AdaptiveAvgPool2d(1)
        self.flatten = tnn.Flatten()
        self.fc = tnn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.block(x))))


def build_torch(workload):
    """The benchmark workload's twin ('mlp', 'lenet5', 'resnet20'), PyTorch default initialisation."""
    if workload == "mlp":
        return torch_mlp()
    if workload == "lenet5":
        return TorchLeNet5()
    if workload == "resnet20":
        return TorchResNet()
    raise ValueError(f"unknown workload {workload!r}; expected one of ('mlp', 'lenet5', 'resnet20')")


def copy_torch_to_ours(torch_model, ours):
    """Load the torch model's parameters and buffers into ours, via NumPy."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in torch_model.state_dict().items()})


def randomise_bn(torch_model, seed=0):
    """Non-trivial BN affine parameters and running statistics, so they matter in a comparison."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in torch_model.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.5 * torch.rand(m.running_var.shape, generator=g))
