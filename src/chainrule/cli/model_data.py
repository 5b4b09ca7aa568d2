"""Shared by ``evaluate``, ``predict``, ``report`` and ``info``: a model file and data for it.

A CSV file with a header line is matched to the model by column name (any order,
extra columns ignored with a note); headerless files and NumPy/IDX files are read
by position.
"""

from __future__ import annotations

import argparse
import re
import sys

import numpy as np

from ..data import DataFileError, Dataset, read_data_file
from ..io import Model, ModelFileError, load_model
from .common import CLIError
from .data_options import add_file_arguments

__all__ = [
    "add_model_argument",
    "add_model_data_arguments",
    "model_inputs",
    "open_model",
    "read_data_for",
]

#: The names a data set without a header gets (x0, x1, …): not names to match by.
_GENERIC = re.compile(r"x\d+")


def add_model_argument(p: argparse.ArgumentParser) -> None:
    """The positional model file."""
    p.add_argument("model", metavar="MODEL", help="a model file saved by 'chainrule train --save'")


def add_model_data_arguments(p: argparse.ArgumentParser) -> None:
    """The model file, the data file and how to read it."""
    add_model_argument(p)
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="a CSV, .npz, .npy or IDX file with the model's raw features (a CSV "
        "header is matched to the model's feature names, in any order)",
    )
    add_file_arguments(g)
    add_strict_argument(g)


def add_strict_argument(g: argparse._ArgumentGroup) -> None:
    """``--strict``: a category never seen in training is an error, not all zeros."""
    g.add_argument(
        "--strict",
        action="store_true",
        help="refuse a text category never seen in training (default: encode it "
        "as all zeros, with a warning)",
    )


def open_model(path: str) -> Model:
    """Load a model file; any problem becomes a one-line CLIError."""
    try:
        return load_model(path)
    except ModelFileError as exc:
        raise CLIError(str(exc)) from None


def _names_to_match(model: Model) -> list[str] | None:
    names = model.feature_names
    if len(names) != model.n_columns or all(_GENERIC.fullmatch(n) for n in names):
        return None
    return names


def read_data_for(args: argparse.Namespace, model: Model, *, has_target: bool | None) -> Dataset:
    """Read ``--data`` for ``model``: its columns (by name where the file has a header),
    task and class names.  Columns the model does not use are named on stderr."""
    classification = model.task == "classification"
    columns = _names_to_match(model)
    try:
        data = read_data_file(
            args.data,
            target=args.target,
            has_target=has_target,
            header=args.header,
            task=model.task,
            class_names=model.class_names if classification else None,
            x_key=args.x_key,
            y_key=args.y_key,
            labels=args.labels,
            n_features=model.n_columns,
            target_hint=model.target_name,
            columns=columns,
            missing_target="drop" if has_target else "error",
            decimal=getattr(args, "decimal", "."),
        )
    except DataFileError as exc:
        raise CLIError(str(exc)) from None
    if data.dropped.size:
        n = len(data.dropped)
        print(
            f"note: {args.data}: skipped {n} row{'s' if n != 1 else ''} whose target is "
            f"missing (first at {'line' if data.lines is not None else 'row'} "
            f"{int(data.dropped[0])})",
            file=sys.stderr,
        )
    extra = model.unexpected_columns(data.ignored_columns)
    if extra:
        shown = ", ".join(repr(c) for c in extra[:8])
        more = f" and {len(extra) - 8} more" if len(extra) > 8 else ""
        print(
            f"note: {args.data}: ignoring {len(extra)} column(s) the model does not use: "
            f"{shown}{more}",
            file=sys.stderr,
        )
    return data


def model_inputs(args: argparse.Namespace, model: Model, data: Dataset) -> np.ndarray:
    """The network inputs for ``data`` (encoded, filled, scaled); warnings go to stderr."""
    try:
        X, warnings = model.inputs(data, strict=getattr(args, "strict", False))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if warnings:  # one line, however many columns have unseen categories
        print("warning: " + "; ".join(warnings), file=sys.stderr)
    return X
