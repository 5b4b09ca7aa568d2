"""``chainrule evaluate``: a saved model's metrics on a labelled data file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from ..data.pipeline import test_rows
from ..data.tables import subset
from ..metrics import classification_metrics, top_confusions
from .common import CLIError
from .model_data import add_model_data_arguments, model_inputs, open_model, read_data_for
from .regression import regression_lines

#: Past this many classes the confusion matrix is summarised by its largest mistakes.
MATRIX_CLASSES = 30


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate",
        help="evaluate a saved model on a labelled data file",
        description="Apply a saved model (with its saved preprocessing) to a data file "
        "with a target column and report accuracy, per-class precision/recall/F1 and "
        "the confusion matrix (classifiers), or MSE, MAE and R² (regressors).",
    )
    add_model_data_arguments(p)
    p.add_argument(
        "--rows",
        choices=["test", "all"],
        default=None,
        help="which rows to score: every row (default; a note says when --data is "
        "the model's training file), or 'test': exactly the model's held-out test "
        "rows of its training file (rebuilt from the seed and fraction it records)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the metrics."""
    model = open_model(args.model)
    data = read_data_for(args, model, has_target=True)
    which = f"{len(data.X)} rows"
    test = (model.metadata.get("data") or {}).get("test") or {}
    rows, why = test_rows(test, args.data, data) if test else (None, "no record of them")
    if args.rows == "test":
        if rows is None:
            raise CLIError(f"{args.data}: --rows test: cannot rebuild the model's test rows: {why}")
        data, which = subset(data, rows), why
    elif rows is not None and args.rows is None:  # an explicit --rows all needs no note
        print(
            f"note: {args.data} is the model's training file: these scores include its "
            f"training rows; --rows test scores {why}",
            file=sys.stderr,
        )
    pred = model.decode(model.network.feedforward(model_inputs(args, model, data)))
    n = len(data.X)
    enc = model.encoding
    features = (
        f"{model.n_columns} columns → {model.n_features} inputs"
        if enc is not None and (enc.needed or model.n_columns != model.n_features)
        else f"{model.n_features} features"
    )
    print(f"model: {args.model} ({model.task}, {features})")
    print(f"data: {args.data}, {which}")
    if model.task == "classification":
        names = model.class_names or []
        m: dict[str, Any] = classification_metrics(data.y, pred, len(names))
        print(f"accuracy: {m['accuracy'] * 100:.2f}% ({m['correct']}/{n})")
        width = max(8, *(len(c) for c in names))
        print(f"{'class':<{width}}  precision  recall      f1  support")
        predicted = np.bincount(np.asarray(pred, dtype=np.int64), minlength=len(names))
        for k, name in enumerate(names):
            never = (
                "  (never predicted: precision undefined, shown as 0)"
                if predicted[k] == 0 and m["support"][k] > 0
                else ""
            )
            print(
                f"{name:<{width}}  {m['precision'][k]:9.3f}  {m['recall'][k]:6.3f}  "
                f"{m['f1'][k]:6.3f}  {m['support'][k]:7d}{never}"
            )
        if len(names) > MATRIX_CLASSES:
            # A matrix of thousands of columns helps nobody: its largest off-diagonal cells.
            top = top_confusions(data.y, pred, len(names))
            print(
                f"confusion matrix: {len(names)} classes, too many to print; the "
                f"{len(top)} most frequent confusions (true class → predicted: rows):"
            )
            for i, j, count in top:
                print(f"  {names[i]} → {names[j]}: {count}")
            return 0
        print("confusion matrix (rows: true class, columns: predicted class):")
        cells = max(5, len(str(n)), *(len(c) for c in names))
        print(" " * width + "".join(f"  {c:>{cells}}" for c in names))
        for k, name in enumerate(names):
            print(f"{name:<{width}}" + "".join(f"  {v:>{cells}d}" for v in m["confusion"][k]))
    else:
        for line in regression_lines(data.y, pred, model.target_name, f"rows of {args.data}"):
            print(line)
    return 0
