"""The differentiable ops, each a Function with forward and backward side by side."""
from .elementwise import (Add, Sub, Mul, Div, Pow, Neg, Exp, Log, Sqrt, Tanh, Sigmoid, ReLU, Abs,
                          Clamp, Maximum, Minimum, Where, where, Cast, Clone, ToDevice, unbroadcast)
from .reduce import Sum, Mean, Var, Std, Max, Min, PickAlong, reduce_extreme, argmax
from .movement import Reshape, Permute, Expand, Index, index, raw_index, device_index, Pad, pad, Cat, cat, Stack, stack
from .matmul import MatMul
from .reduce import Prod, Cumsum, Cumprod, LogSumExp, Norm, norm, any_all
from . import unary, indexing, shape, linalg, sort
from .indexing import gather, scatter, index_select, take_along_dim, masked_fill, masked_select
from .linalg import mm, bmm, dot, outer, einsum
