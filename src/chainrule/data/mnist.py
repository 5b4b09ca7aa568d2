"""MNIST (and Fashion-MNIST) from the four standard IDX files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import IDXError, read_idx

__all__ = ["MNIST_FILES", "MNISTSplits", "load_mnist"]

#: The standard file names, gzip-compressed; raw (un-gzipped) copies are found too.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass
class MNISTSplits:
    """MNIST split as in Nielsen's book: 50,000 training, 10,000 validation, 10,000 test.

    Images are flattened to 784 features scaled to [0, 1] in the requested dtype;
    labels are int64 class indices.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _find(data_dir: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (data_dir / name).is_file():
            return data_dir / name
    raise IDXError(
        f"{data_dir}: missing {stem}.gz (or {stem}); expected the four standard "
        f"MNIST files ({', '.join(v + '.gz' for v in MNIST_FILES.values())})"
    )


def load_mnist(
    data_dir: str | os.PathLike[str],
    *,
    n_validation: int | float = 10_000,
    dtype: np.dtype | type = np.float64,
) -> MNISTSplits:
    """Read the four MNIST files from ``data_dir`` and split as Nielsen does.

    Parameters
    ----------
    data_dir : path-like
        Folder holding ``train-images-idx3-ubyte.gz`` and its three siblings.
    n_validation : int or float, default 10000
        The last ``n_validation`` training images become the validation set; a
        float in (0, 1) is a fraction of the training images.
    dtype : float dtype, default float64

    Raises
    ------
    IDXError
        If a file is missing or malformed, or images and labels disagree in count.
    """
    d = Path(data_dir)
    if not d.is_dir():
        raise IDXError(f"{d}: not a directory (expected a folder with the MNIST files)")
    arrays = {key: read_idx(_find(d, stem)) for key, stem in MNIST_FILES.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise IDXError(
                f"{d}: {part} images {images.shape} and labels {labels.shape} do not match"
            )

    def flat(images: np.ndarray) -> np.ndarray:
        out = images.reshape(len(images), -1).astype(dtype)
        out /= 255.0
        return out

    X_all, y_all = flat(arrays["train_images"]), arrays["train_labels"].astype(np.int64)
    if isinstance(n_validation, float) and 0 < n_validation < 1:
        n_validation = round(len(X_all) * n_validation)
    if not 0 <= n_validation < len(X_all):
        raise ValueError(f"n_validation must be in [0, {len(X_all)}), got {n_validation}")
    cut = len(X_all) - int(n_validation)
    return MNISTSplits(
        X_train=X_all[:cut],
        y_train=y_all[:cut],
        X_val=X_all[cut:],
        y_val=y_all[cut:],
        X_test=flat(arrays["test_images"]),
        y_test=arrays["test_labels"].astype(np.int64),
    )
