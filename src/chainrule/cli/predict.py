"""``chainrule predict``: a saved model's predictions for raw data."""

from __future__ import annotations

import argparse
import csv
import io
import sys

import numpy as np

from ..io import atomic_write
from .common import CLIError, check_output_file, is_standard_output, stdout_closed
from .model_data import add_model_data_arguments, model_inputs, open_model, read_data_for


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    p = sub.add_parser(
        "predict",
        help="predict with a saved model",
        description="Apply a saved model (with its saved preprocessing) to raw features. "
        "A target column, if the file has one, is ignored. Writes CSV: one prediction per "
        "row (class names for classifiers), to standard output or --output.",
    )
    add_model_data_arguments(p)
    p.add_argument(
        "--output",
        "-o",
        default=None,
        metavar="FILE",
        help="write the predictions to this CSV file (atomically; '-' for standard output)",
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="also write the output activations a^L as one column per class: "
        "p(class) for softmax (probabilities), a(class) for other output layers; "
        "classifiers only",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict and write CSV."""
    if args.output is not None and is_standard_output(args.output):
        args.output = None  # -o - or -o /dev/stdout: print them (a pipe cannot be renamed over)
    if args.output is None and stdout_closed():
        raise CLIError(
            "standard output is closed, so the predictions would be lost; give --output FILE"
        )
    if args.output is not None:
        # Checked first: nothing is computed for an output that cannot be written,
        # and the model or data file is never overwritten by mistake.
        check_output_file(
            args.output, "--output", {"model": args.model, "data": args.data, "labels": args.labels}
        )
    model = open_model(args.model)
    if args.proba and model.task != "classification":
        raise CLIError(
            f"{args.model}: --proba gives class probabilities, but this model is a "
            f"regressor (its predictions are the values themselves)"
        )
    data = read_data_for(args, model, has_target=True if args.target is not None else None)
    outputs = model.network.feedforward(model_inputs(args, model, data))
    pred = model.label(model.decode(outputs))
    columns = ["prediction"]
    table: list[np.ndarray] = [pred if pred.ndim == 1 else pred[:, 0]]
    if pred.ndim == 2 and pred.shape[1] > 1:
        columns = [f"prediction{j}" for j in range(pred.shape[1])]
        table = [pred[:, j] for j in range(pred.shape[1])]
    id_column = model.encoding.id_column if model.encoding is not None else None
    if id_column is not None:
        ids = _ids(args.data, id_column, len(pred))
        if ids is not None:
            columns, table = [id_column, *columns], [ids, *table]
    if args.proba:
        names = model.class_names or [str(j) for j in range(outputs.shape[1])]
        if outputs.shape[1] == 1 and len(names) == 2:  # one sigmoid unit: P(class 1)
            names = names[1:]
        # Only softmax (and one sigmoid unit) outputs are probabilities; other output
        # layers give scores whose arg-max is the class.
        probability = model.network.output_activation.name == "softmax" or (
            outputs.shape[1] == 1 and model.network.output_activation.bounded01
        )
        columns += [f"p({c})" if probability else f"a({c})" for c in names]
        table += [outputs[:, j] for j in range(outputs.shape[1])]
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    cells = [col.tolist() for col in table]
    writer.writerows(zip(*cells, strict=True))
    if args.output is None:
        sys.stdout.write(text.getvalue())
        return 0
    body = text.getvalue().encode()
    atomic_write(args.output, lambda f: f.write(body))  # OSError: cli.main, exit 1
    print(f"wrote {len(pred)} predictions to {args.output}")
    return 0


def _ids(path: str, name: str, n: int) -> np.ndarray | None:
    """The model's ``--id-column`` from the data file, or None (with a note) without it."""
    from pathlib import Path

    from ..data import DataFileError
    from ..data.table import read_column

    try:
        ids = read_column(Path(path), name)
    except (DataFileError, OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"note: {path}: no id column {name!r} to write first ({exc})"[:200], file=sys.stderr)
        return None
    if len(ids) != n:
        print(
            f"note: {path}: the id column {name!r} has {len(ids)} cells for {n} rows; not written",
            file=sys.stderr,
        )
        return None
    return ids
