"""Data: bundled data sets, file readers, preprocessing and splits."""

from .datasets import Dataset, load_dataset
from .idx import read_idx, write_idx
from .preprocessing import Standardizer
from .split import train_test_split

__all__ = ["Dataset", "Standardizer", "load_dataset", "read_idx", "train_test_split", "write_idx"]
