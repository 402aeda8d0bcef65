"""Optimizers and learning-rate schedules, with PyTorch's names, defaults and update arithmetic."""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .adadelta import Adadelta
from .nadam import NAdam
from .adamax import Adamax
from . import lr_scheduler
