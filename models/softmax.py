"""Multinomial logistic regression: one weight matrix and one bias on flattened pixels."""
from tinygrad_hw import nn


class SoftmaxRegression(nn.Module):
    """logits = x.flatten(1) @ W.T + b; train with cross-entropy (which applies the softmax).

    Notation: x (N, C, H, W) or (N, in_features) -> logits (N, num_classes).
    """

    def __init__(self, in_features=784, num_classes=10):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(x))
