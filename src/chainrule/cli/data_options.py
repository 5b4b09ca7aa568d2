"""Where ``chainrule train`` gets its data: options and loading."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from ..data import Standardizer, load_dataset, train_test_split
from .common import CLIError

__all__ = ["TrainingData", "add_data_arguments", "load_training_data"]


@dataclass
class TrainingData:
    """The splits ``train`` works on, already preprocessed, in the requested dtype."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_outputs: int
    task: str
    class_names: list[str]
    preprocessing: Standardizer


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Options that choose and split the data."""
    g = p.add_argument_group("data")
    g.add_argument("--data", default="digits", help="bundled data set to train on")
    g.add_argument("--test-fraction", type=float, default=0.2,
                   help="fraction of the data held out for the final test")


def load_training_data(args: argparse.Namespace, dtype: np.dtype) -> TrainingData:
    """Load, split and standardise the data the options name."""
    try:
        data = load_dataset(args.data)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not 0.0 < args.test_fraction < 1.0:
        raise CLIError(f"--test-fraction must be between 0 and 1, got {args.test_fraction}")
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_fraction=args.test_fraction, seed=args.seed
    )
    # Scaling is fitted on the training split only, then applied to the test split.
    scaler = Standardizer().fit(X_train)
    n_out = data.n_classes if data.task == "classification" else 1
    return TrainingData(
        name=data.name,
        X_train=scaler.transform(X_train).astype(dtype),
        y_train=y_train,
        X_test=scaler.transform(X_test).astype(dtype),
        y_test=y_test,
        n_outputs=n_out,
        task=data.task,
        class_names=data.class_names,
        preprocessing=scaler,
    )
