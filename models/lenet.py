"""LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling, for any input size."""
from tinygrad_hw import nn


def _after(size):
    """Spatial size after a 5x5 valid convolution then a 2x2 max-pool."""
    return (size - 4) // 2


class LeNet5(nn.Module):
    """conv5(6)-relu-pool2, conv5(16)-relu-pool2, fc120-relu, fc84-relu, fc(num_classes).

    No padding; the flattened size follows from ``input_size`` (an int or (H, W)), so e.g.
    ``LeNet5(1, 15, input_size=128)`` takes 128x128 images of 15 classes.
    Notation: x (N, in_channels, H, W) -> logits (N, num_classes).
    """

    def __init__(self, in_channels=1, num_classes=10, input_size=28):
        super().__init__()
        h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        fh, fw = _after(_after(h)), _after(_after(w))
        if fh < 1 or fw < 1:
            raise ValueError(f"LeNet5: input size {h}x{w} is too small (needs at least 16x16)")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(16 * fh * fw, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))
