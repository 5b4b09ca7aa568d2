"""``chainrule evaluate``: a saved model's metrics on a labelled data file."""

from __future__ import annotations

import argparse
from typing import Any

from ..metrics import classification_metrics, top_confusions
from .model_data import add_model_data_arguments, model_inputs, open_model, read_data_for
from .regression import regression_lines

#: Past this many classes the confusion matrix is summarised by its largest mistakes.
MATRIX_CLASSES = 30


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate", help="evaluate a saved model on a labelled data file",
        description="Apply a saved model (with its saved preprocessing) to a data file "
        "with a target column and report accuracy, per-class precision/recall/F1 and "
        "the confusion matrix (classifiers), or MSE, MAE and R² (regressors).")
    add_model_data_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the metrics."""
    model = open_model(args.model)
    data = read_data_for(args, model, has_target=True)
    pred = model.decode(model.network.feedforward(model_inputs(args, model, data)))
    n = len(data.X)
    print(f"model: {args.model} ({model.task}, {model.n_features} features)")
    print(f"data: {args.data}, {n} rows")
    if model.task == "classification":
        names = model.class_names or []
        m: dict[str, Any] = classification_metrics(data.y, pred, len(names))
        print(f"accuracy: {m['accuracy'] * 100:.2f}% ({m['correct']}/{n})")
        width = max(8, *(len(c) for c in names))
        print(f"{'class':<{width}}  precision  recall      f1  support")
        for k, name in enumerate(names):
            print(f"{name:<{width}}  {m['precision'][k]:9.3f}  {m['recall'][k]:6.3f}  "
                  f"{m['f1'][k]:6.3f}  {m['support'][k]:7d}")
        if len(names) > MATRIX_CLASSES:
            # A matrix of thousands of columns helps nobody: its largest off-diagonal cells.
            top = top_confusions(data.y, pred, len(names))
            print(f"confusion matrix: {len(names)} classes, too many to print; the "
                  f"{len(top)} most frequent confusions (true class → predicted: rows):")
            for i, j, rows in top:
                print(f"  {names[i]} → {names[j]}: {rows}")
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
