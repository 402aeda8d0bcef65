"""Neural-network layers (Modules), functional ops and initialisers, with PyTorch's names."""
from . import functional
from . import init
from .module import Module, Parameter, Sequential, ModuleList, ModuleDict
from .layers import (Linear, Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ReLU, Tanh, Sigmoid, Softmax,
                     LogSoftmax, Flatten, Identity, Dropout)
from .normalization import BatchNorm1d, BatchNorm2d
from .loss import CrossEntropyLoss, NLLLoss
from . import parallel
