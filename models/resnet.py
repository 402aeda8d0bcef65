"""Residual networks in the CIFAR style of He et al. (2016), e.g. ResNet-20."""
from tinygrad_hw import nn
import tinygrad_hw.nn.functional as F


class BasicBlock(nn.Module):
    """conv3-bn-relu-conv3-bn, plus the input (through a 1x1 conv + bn projection when the
    stride or the channel count changes), then relu.

    Notation: x (N, in_channels, H, W) -> (N, channels, ceil(H/stride), ceil(W/stride)).
    """

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A 3x3 stem, then one stage of BasicBlocks per entry of ``blocks`` (stride 2 at the
    first block of every stage after the first), global average pool, fc.

    Notation: x (N, in_channels, H, W) -> logits (N, num_classes).
    """

    def __init__(self, blocks=(3, 3, 3), channels=(16, 32, 64), num_classes=10, in_channels=1):
        super().__init__()
        if len(blocks) != len(channels):
            raise ValueError(f"ResNet: {len(blocks)} block counts but {len(channels)} channel widths")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]), nn.ReLU())
        stages, width = [], channels[0]
        for i, (n, c) in enumerate(zip(blocks, channels)):
            layers = []
            for j in range(n):
                layers.append(BasicBlock(width, c, stride=2 if (i > 0 and j == 0) else 1))
                width = c
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.stages(self.stem(x)))))


def resnet20(num_classes=10, in_channels=1):
    """ResNet-20: 3 stages of 3 BasicBlocks with 16/32/64 channels (about 0.27M parameters)."""
    return ResNet((3, 3, 3), (16, 32, 64), num_classes=num_classes, in_channels=in_channels)
