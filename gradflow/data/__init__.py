"""Data: datasets, DataLoader, image datasets (Fashion-MNIST, MNIST, CIFAR-10, folders of images,
embedded digits) and batch-wise augmentation."""

from gradflow.data import transforms
from gradflow.data.datasets import MNIST, Digits, FashionMNIST
from gradflow.data.loader import (
    DataLoader, Dataset, IterableDataset, TensorDataset, default_collate,
)
from gradflow.data.seeding import current_generator
from gradflow.data.subsets import ChainDataset, ConcatDataset, Subset, random_split

__all__ = ["ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "Digits", "FashionMNIST",
           "IterableDataset", "MNIST", "Subset", "TensorDataset", "current_generator",
           "default_collate", "random_split", "transforms"]
