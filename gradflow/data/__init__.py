"""Data: Dataset, DataLoader, image datasets (Fashion-MNIST, MNIST, embedded digits), transforms."""

from gradflow.data import transforms
from gradflow.data.datasets import MNIST, Digits, FashionMNIST
from gradflow.data.distributed import DistributedSampler
from gradflow.data.loader import DataLoader, Dataset, TensorDataset, default_collate

__all__ = ["DataLoader", "Dataset", "Digits", "DistributedSampler", "FashionMNIST", "MNIST", "TensorDataset",
           "default_collate", "transforms"]
