"""Models built only from tinygrad_hw: softmax regression, MLP, LeNet-5, ResNet, a conv autoencoder."""
from .softmax import SoftmaxRegression
from .mlp import MLP
from .lenet import LeNet5
from .resnet import ResNet, BasicBlock, resnet20
from .autoencoder import ConvAutoencoder

__all__ = ["SoftmaxRegression", "MLP", "LeNet5", "ResNet", "BasicBlock", "resnet20", "ConvAutoencoder"]
