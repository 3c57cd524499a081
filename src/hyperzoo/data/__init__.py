"""Data sets as in-memory tensors: the embedded digits, and MNIST, notMNIST and CIFAR-10 read
from a user's own copy of the official files, or any data set in those formats or an .npz."""

from hyperzoo.data.base import DataError, Dataset
from hyperzoo.data.registry import DATASETS, NO_DATA, absolute_dataset, load_dataset, read_for

__all__ = ["DATASETS", "NO_DATA", "DataError", "Dataset", "absolute_dataset", "load_dataset", "read_for"]
