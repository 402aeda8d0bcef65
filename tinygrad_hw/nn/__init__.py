"""Neural-network layers (Modules), functional ops and initialisers, with PyTorch's names.

Each family has a private file with its Functions and functional wrappers (``_linear``, ``_conv``,
``_pool``, ``_activation``, ``_normalization``, ``_dropout``, ``_loss``) and a public file with its
Modules (``linear``, ``conv``, ``pooling``, ``activation``, ``normalization``, ``dropout``, ``loss``,
``flatten``); ``functional`` re-exports the functions.
"""
from . import functional
from . import init
from . import utils
from .module import Module, Parameter, Sequential, ModuleList, ModuleDict
from .linear import Linear, Identity
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .pooling import (MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                      AdaptiveMaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from .activation import (ReLU, Tanh, Sigmoid, Softmax, LogSoftmax, LeakyReLU, ELU, SELU, CELU, GELU, SiLU,
                         Mish, Softplus, Softsign, Hardtanh, ReLU6, Hardsigmoid, Hardswish, LogSigmoid, PReLU)
from .flatten import Flatten
from .dropout import Dropout
from .normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm, GroupNorm, InstanceNorm1d,
                            InstanceNorm2d, InstanceNorm3d)
from .loss import (CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCELoss,
                   BCEWithLogitsLoss, KLDivLoss)
from .sparse import Embedding
from .upsampling import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d
from . import parallel
