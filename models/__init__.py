"""Models built only from tinygrad_hw: softmax regression, MLP, LeNet-5, ResNet, a 1-D conv net,
a conv autoencoder."""
from .softmax import SoftmaxRegression
from .mlp import MLP
from .lenet import LeNet5
from .resnet import ResNet, BasicBlock, resnet20
from .autoencoder import ConvAutoencoder
from .conv1d import Conv1dNet

__all__ = ["SoftmaxRegression", "MLP", "LeNet5", "ResNet", "BasicBlock", "resnet20", "Conv1dNet",
           "ConvAutoencoder"]
