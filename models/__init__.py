"""Models built only from tinygrad_hw: softmax regression, MLP, LeNet-5, ResNet."""
from .softmax import SoftmaxRegression
from .mlp import MLP
from .lenet import LeNet5
from .resnet import ResNet, BasicBlock, resnet20

__all__ = ["SoftmaxRegression", "MLP", "LeNet5", "ResNet", "BasicBlock", "resnet20"]
