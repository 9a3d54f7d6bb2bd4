"""Data: datasets, DataLoader, image datasets (Fashion-MNIST, MNIST, CIFAR-10, folders of images,
embedded digits) and batch-wise augmentation."""

from gradflow.data import transforms
from gradflow.data.cifar import CIFAR10
from gradflow.data.datasets import MNIST, Digits, FashionMNIST
from gradflow.data.distributed import DistributedSampler
from gradflow.data.folder import ImageFolder
from gradflow.data.loader import (
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    default_collate,
)
from gradflow.data.seeding import current_generator
from gradflow.data.subsets import ChainDataset, ConcatDataset, Subset, random_split

__all__ = ["CIFAR10", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "Digits",
           "DistributedSampler", "FashionMNIST", "ImageFolder", "IterableDataset", "MNIST",
           "Subset", "TensorDataset", "current_generator", "default_collate", "random_split",
           "transforms"]
