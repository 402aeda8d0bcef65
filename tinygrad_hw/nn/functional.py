"""Neural-network functions with torch.nn.functional's names, arguments and numbers.

    import tinygrad_hw.nn.functional as F
    y = F.relu(F.conv2d(x, w, b, padding=1))
    loss = F.cross_entropy(F.linear(y.flatten(1), w2, b2), labels)

Only re-exports: each family lives, Function and wrapper side by side, in its private file
(``_linear``, ``_conv``, ``_pool``, ``_activation``, ``_normalization``, ``_dropout``, ``_loss``,
``_shape``); softmax and log_softmax are tensor ops (``tinygrad_hw.ops.softmax``).
"""
from ._linear import linear
from ._conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from ._pool import max_pool2d, avg_pool2d, adaptive_avg_pool2d
from ._pool import (max_pool1d, max_pool3d, avg_pool1d, avg_pool3d, adaptive_avg_pool1d, adaptive_avg_pool3d,
                    adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d, max_unpool1d,
                    max_unpool2d, max_unpool3d)
from ._activation import (relu, sigmoid, tanh, softmax, log_softmax, leaky_relu, elu, selu, celu, gelu,
                          silu, mish, softplus, softsign, hardtanh, relu6, hardsigmoid, hardswish,
                          logsigmoid, prelu)
from ._normalization import batch_norm, layer_norm, group_norm, instance_norm
from ._dropout import dropout
from ._loss import (cross_entropy, nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss,
                    binary_cross_entropy, binary_cross_entropy_with_logits, kl_div)
from ._shape import pad, flatten
from ._upsample import interpolate, upsample
from ._embedding import embedding

__all__ = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "relu", "sigmoid",
           "tanh", "softmax", "log_softmax", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
           "softplus", "softsign", "hardtanh", "relu6", "hardsigmoid", "hardswish", "logsigmoid", "prelu",
           "batch_norm", "dropout", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss",
           "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "pad",
           "flatten", "layer_norm", "group_norm", "instance_norm", "interpolate", "upsample", "embedding",
           "max_pool1d", "max_pool3d", "avg_pool1d", "avg_pool3d", "adaptive_avg_pool1d",
           "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
           "max_unpool1d", "max_unpool2d", "max_unpool3d"]
