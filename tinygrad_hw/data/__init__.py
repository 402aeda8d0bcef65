"""Datasets, samplers and the DataLoader, with torch.utils.data's names; MNIST and ImageFolder;
image transforms with a batch form (``thw.data.transforms``)."""
from . import transforms
from .dataset import (Dataset, TensorDataset, Subset, ConcatDataset, random_split, ArrayDataset, subset,
                      image_layout)
from .sampler import (Generator, Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                      BatchSampler)
from .collate import default_collate, default_convert
from .mnist import MNIST, MEAN as MNIST_MEAN, STD as MNIST_STD, read_idx, default_root
from .image_folder import ImageFolder
from .loader import DataLoader
from .transforms import random_shift
from .distributed import DistributedSampler

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "ArrayDataset", "subset",
           "image_layout", "Generator", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "BatchSampler", "default_collate", "default_convert", "MNIST", "ImageFolder", "DataLoader",
           "random_shift", "transforms", "DistributedSampler", "MNIST_MEAN", "MNIST_STD", "read_idx", "default_root"]
