"""Data sets as in-memory tensors: the embedded digits, and MNIST, notMNIST and CIFAR-10 read
from a user's own copy of the official files."""

from hyperzoo.data.base import DataError, Dataset
from hyperzoo.data.registry import DATASETS, load_dataset

__all__ = ["DATASETS", "DataError", "Dataset", "load_dataset"]
