"""Shared by ``evaluate``, ``predict`` and ``info``: a model file and data for it."""

from __future__ import annotations

import argparse

from ..data import DataFileError, Dataset, read_data_file
from ..io import Model, ModelFileError, load_model
from .common import CLIError
from .data_options import add_file_arguments

__all__ = ["add_model_argument", "add_model_data_arguments", "open_model", "read_data_for"]


def add_model_argument(p: argparse.ArgumentParser) -> None:
    """The positional model file."""
    p.add_argument("model", metavar="MODEL", help="a model file saved by 'chainrule train --save'")


def add_model_data_arguments(p: argparse.ArgumentParser) -> None:
    """The model file, the data file and how to read it."""
    add_model_argument(p)
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, metavar="FILE",
                   help="a CSV, .npz, .npy or IDX file with the model's raw features")
    add_file_arguments(g)


def open_model(path: str) -> Model:
    """Load a model file; any problem becomes a one-line CLIError."""
    try:
        return load_model(path)
    except ModelFileError as exc:
        raise CLIError(str(exc)) from None


def read_data_for(args: argparse.Namespace, model: Model, *, has_target: bool | None
                  ) -> Dataset:
    """Read ``--data`` for ``model``: its feature count, task and class names."""
    classification = model.task == "classification"
    try:
        return read_data_file(
            args.data, target=args.target, has_target=has_target, header=args.header,
            task=model.task, class_names=model.class_names if classification else None,
            x_key=args.x_key, y_key=args.y_key, labels=args.labels,
            n_features=model.n_features, target_hint=model.target_name)
    except DataFileError as exc:
        raise CLIError(str(exc)) from None
