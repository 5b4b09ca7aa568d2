"""Data: bundled data sets, file readers, preprocessing and splits."""

from . import table as _table  # noqa: F401  (registers the pyarrow readers with files)
from .datasets import DATASETS, Dataset, load_dataset
from .files import DataFileError, read_data_file
from .idx import IDXError, read_idx, write_idx
from .images import deskew
from .labels import encode_labels
from .preprocessing import MinMaxScaler, NoScaling, Scaler, Standardizer, make_scaler, one_hot
from .split import split_indices, train_test_split
from .text_column import TextColumn

__all__ = [
    "DATASETS",
    "DataFileError",
    "Dataset",
    "IDXError",
    "MinMaxScaler",
    "NoScaling",
    "Scaler",
    "Standardizer",
    "TextColumn",
    "deskew",
    "encode_labels",
    "load_dataset",
    "make_scaler",
    "one_hot",
    "read_data_file",
    "read_idx",
    "split_indices",
    "train_test_split",
    "write_idx",
]
