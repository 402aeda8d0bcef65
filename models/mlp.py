"""Multi-layer perceptron: Linear-ReLU blocks on flattened pixels."""
from tinygrad_hw import nn


class MLP(nn.Module):
    """Flatten, then Linear-ReLU per hidden width, then a Linear to the classes.

    Notation: x (N, C, H, W) or (N, in_features) -> logits (N, num_classes).
    """

    def __init__(self, in_features=784, hidden=(512, 256), num_classes=10):
        super().__init__()
        widths = [in_features, *hidden]
        layers = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
