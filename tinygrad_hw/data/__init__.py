"""Datasets (MNIST, ImageFolder) and the vectorised DataLoader."""
from .mnist import MNIST, MEAN as MNIST_MEAN, STD as MNIST_STD, read_idx, default_root
from .image_folder import ImageFolder
from .loader import DataLoader, ArrayDataset, subset, random_shift
from .distributed import DistributedSampler

__all__ = ["MNIST", "ImageFolder", "DataLoader", "ArrayDataset", "subset", "random_shift",
           "MNIST_MEAN", "MNIST_STD", "read_idx", "default_root", "DistributedSampler"]
