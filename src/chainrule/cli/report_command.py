"""``chainrule report`` and ``chainrule train --report``: the HTML training report.

The figures come from :mod:`chainrule.plots` (matplotlib, the optional extra
``chainrule[plot]``).  It is imported only when a report is asked for, so
``chainrule train`` without ``--report`` never loads matplotlib.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .common import CLIError

__all__ = [
    "ModelData",
    "add_model_source_arguments",
    "add_report_argument",
    "check_report_path",
    "open_model_and_data",
    "register",
    "report_settings",
    "write_train_report",
]

# Options already shown in the report's network rows, or that do not describe the run.
_NOT_SETTINGS = {
    "func",
    "command",
    "report",
    "quiet",
    "hidden",
    "activation",
    "output_activation",
    "input_activation",
    "cost",
    "init",
    "dtype",
    "save",
}


def add_report_argument(p: argparse.ArgumentParser) -> None:
    """The ``--report PATH`` option of ``chainrule train``."""
    p.add_argument(
        "--report",
        metavar="PATH",
        default=None,
        help="also write a self-contained HTML training report there "
        "(needs matplotlib: pip install chainrule[plot])",
    )


def check_report_path(path: str | None) -> None:
    """Fail before training, not after, when the report cannot be written."""
    if path is None:
        return
    _require_plots()
    _check_output(path, "report", option="--report")


def write_train_report(args: argparse.Namespace, net: Any, data: Any) -> Path:
    """Write the report for a run of ``chainrule train`` (``data``: its TrainingData)."""
    from ..data.preprocessing import Preprocessing
    from ..plots import write_report
    from .regression import units_of

    to_units = None
    if data.task != "classification" and data.target_scaler is not None:
        to_units = Preprocessing(data.preprocessing, data.target_scaler).inverse_target
    raw = None if data.encoding is not None else _raw_inputs(data.preprocessing, data.X_test)
    out = write_report(
        args.report,
        net,
        net.history,
        data.X_test,
        data.y_test,
        data.class_names,
        report_settings(args, data),
        images=raw,
        title=f"chainrule training report: {data.name}",
        to_units=to_units,
        units=units_of(data.target_name),
    )
    return out


def report_settings(args: argparse.Namespace, data: Any = None) -> dict[str, Any]:
    """The run's settings for the report's table: every option not shown elsewhere."""
    settings: dict[str, Any] = {}
    if data is not None:
        settings["data"] = data.name
        # (under mpiexec a rank holds its share of the training rows: count them all)
        settings["training rows"] = getattr(data, "n_train", len(data.X_train))
        settings["test rows"] = len(data.X_test)
    return {**settings, **_settings_of(vars(args))}


def _settings_of(options: dict[str, Any]) -> dict[str, Any]:
    """The options worth listing: set, describing the run, not shown elsewhere."""
    npz = str(options.get("data", "")).lower().endswith(".npz")
    return {
        key: value
        for key, value in sorted(options.items())
        if key not in _NOT_SETTINGS
        and key != "data"
        and value is not None
        and not callable(value)
        and (npz or key not in ("x_key", "y_key"))
    }


def _raw_inputs(preprocessing: Any, X: np.ndarray) -> np.ndarray | None:
    """The inputs before scaling, for drawing images the way the data looked.

    Undoes a standard (``mean``, ``scale``) or min-max (``low``, ``range``)
    scaling; None when the scaling is unknown (the scaled inputs are drawn).
    """
    scaler = getattr(preprocessing, "features", preprocessing)  # a Preprocessing wraps it
    if scaler is None:
        return None
    arr = np.asarray(X, dtype=np.float64)
    for shift, factor in (("mean", "scale"), ("low", "range")):
        a, b = getattr(scaler, shift, None), getattr(scaler, factor, None)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return arr * b + a
    if getattr(scaler, "kind", None) == "none":
        return arr
    return None


def _require_plots() -> None:
    from ..plots import MissingMatplotlib, require_matplotlib

    try:
        require_matplotlib()
    except MissingMatplotlib as exc:
        raise CLIError(str(exc)) from None


def _check_output(
    path: str, what: str, args: argparse.Namespace | None = None, option: str = "--output"
) -> None:
    """``path`` can be written, and is not the model or data file ``args`` read."""
    from ..io import OutputPathError, check_output_path
    from .common import check_output_file

    try:
        check_output_path(path)
    except OutputPathError as exc:
        raise CLIError(f"{option}: cannot write the {what}: {exc}") from None
    if args is not None:
        check_output_file(
            path, "--output", {"model": args.model, "data": args.data, "labels": args.labels}
        )


# ---------------------------------------------------------------------- from a model file


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="write the self-contained HTML training report of a saved model",
        description="Write one HTML file (figures embedded, opens offline) with a saved "
        "model's learning curves, gradient norms, saturated/dead units, network diagram, "
        "confusion matrix or residuals, first-layer weights and misclassified examples "
        "(image inputs), and its settings and metrics. Needs matplotlib: "
        "pip install chainrule[plot].",
    )
    add_model_source_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="the HTML file to write")
    p.set_defaults(func=run)


def add_model_source_arguments(p: argparse.ArgumentParser) -> None:
    """The model file, and optionally a labelled data file to evaluate it on."""
    from .data_options import add_file_arguments
    from .model_data import add_model_argument

    add_model_argument(p)
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help="labelled data (CSV, .npz, .npy, IDX) with the model's raw features; "
        "default: the test split of the bundled data set the model was trained "
        "on, rebuilt from the seed and fractions saved in the model",
    )
    g.add_argument(
        "--rows",
        choices=["test", "all"],
        default=None,
        help="rows of --data to use: 'all' (the default; when --data is the model's "
        "training file and --rows is not given, a note says so), or 'test': exactly "
        "the model's held-out test rows of its training file, rebuilt from the seed "
        "and fraction the model records",
    )
    add_file_arguments(g)


@dataclass
class ModelData:
    """A loaded model and the data to show it on, in the network's own units."""

    model: Any
    X: np.ndarray | None
    y: np.ndarray | None
    images: np.ndarray | None
    data_name: str | None
    #: How the report names the evaluated rows: "rows of FILE" or "the test split".
    rows: str = ""

    def to_units(self) -> Any:
        """Maps outputs and ``y`` of a standardised regression target back to its units."""
        pre = self.model.preprocessing
        if self.model.task == "classification" or pre is None or pre.target is None:
            return None
        return pre.inverse_target

    @property
    def units(self) -> str:
        from .regression import units_of

        return units_of(self.model.target_name)


def _held_out(args: argparse.Namespace, model: Any, data: Any) -> Any:
    """``--rows test``: the model's test rows of its training file (else a CLIError); with
    ``--rows all`` None, and a note when ``--data`` is the training file."""
    import sys

    from ..data.pipeline import test_rows
    from ..data.tables import subset

    test = (model.metadata.get("data") or {}).get("test") or {}
    rows, why = test_rows(test, args.data, data) if test else (None, "no record of them")
    if getattr(args, "rows", "all") == "test":
        if rows is None:
            raise CLIError(f"{args.data}: --rows test: cannot rebuild the model's test rows: {why}")
        return subset(data, rows)
    if rows is not None and getattr(args, "rows", None) is None:
        print(
            f"note: {args.data} is the model's training file: all its rows are used; "
            f"--rows test uses {why}",
            file=sys.stderr,
        )
    return None


def open_model_and_data(
    args: argparse.Namespace, *, need_data: bool = True, want_data: bool = True
) -> ModelData:
    """Load ``args.model`` and its evaluation data (``--data``, or the saved test split).

    With ``need_data=False`` a model whose data cannot be found is still returned,
    with ``X`` and ``y`` None; with ``want_data=False`` (and no ``--data``) no data
    are looked for at all.
    """
    from .model_data import model_inputs, open_model, read_data_for

    model = open_model(args.model)
    if not (want_data or need_data):
        # A figure drawn from the model file alone (curves) reads no --data: a large or
        # broken file given out of habit costs nothing.
        return ModelData(model, None, None, None, None)
    if args.data is not None:
        data = read_data_for(args, model, has_target=True)
        held = _held_out(args, model, data)
        if held is not None:
            data = held
        X = model_inputs(args, model, data)
        raw = None if data.text or model.encoding is not None else np.asarray(data.X)
        y, name, rows = (
            np.asarray(data.y),
            str(args.data),
            (
                f"the held-out test rows of {args.data}"
                if held is not None
                else f"rows of {args.data}"
            ),
        )
    else:
        found = _saved_test_split(args.model, model, required=need_data)
        if found is None:
            return ModelData(model, None, None, None, None)
        raw, y, name = found
        X, rows = model.transform(raw), "the test split"
    pre = model.preprocessing
    if model.task != "classification" and pre is not None and hasattr(pre, "transform_target"):
        # The loss in the units the network was trained in; the report maps outputs
        # and targets back to the target's units for MSE, MAE, R² and the residuals.
        y = pre.transform_target(y)
    return ModelData(model, X, y, raw, name, rows)


def _saved_test_split(
    path: str, model: Any, *, required: bool
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The bundled data set's test split as it was at training time, from the metadata."""
    from ..data import DATASETS, load_dataset, split_indices

    source = model.metadata.get("data") or {}
    training = model.metadata.get("training") or {}
    name = source.get("name")
    if name not in DATASETS or "test_fraction" not in source or "file" in source:
        if not required:
            return None
        columns = ", ".join(model.feature_names[:6]) + (
            ", …" if len(model.feature_names) > 6 else ""
        )
        target = f" and the target {model.target_name!r}" if model.target_name else ""
        raise CLIError(
            f"{path}: the model was trained on {name or 'unrecorded data'}, not a "
            f"bundled data set, so there is no test split to rebuild: pass "
            f"labelled rows with --data FILE (the training file itself with "
            f"--rows test: its held-out test rows, rebuilt from the seed and "
            f"fraction the model records; or other rows with the columns "
            f"{columns}{target})"
        )
    seed = source.get("seed", training.get("seed", 0))
    generated = {k: training[k] for k in ("n_samples", "noise") if training.get(k) is not None}
    data = load_dataset(name, seed=seed, **generated)
    _, _, test = split_indices(
        data.y,
        val_fraction=source.get("val_fraction", 0.0),
        test_fraction=source["test_fraction"],
        seed=seed,
        stratify=data.task == "classification",
    )
    return data.X[test], data.y[test], f"{name} (test split, {len(test)} rows)"


def run(args: argparse.Namespace) -> int:
    """Write the report of a saved model."""
    _require_plots()
    _check_output(args.output, "report", args)
    md = open_model_and_data(args)
    from ..plots import write_report

    model, net = md.model, md.model.network
    settings: dict[str, Any] = {"model file": args.model, "data": md.data_name}
    settings.update(_settings_of(model.metadata.get("training") or {}))
    try:
        out = write_report(
            args.output,
            net,
            net.history,
            md.X,
            md.y,
            model.class_names,
            settings,
            images=md.images,
            title=f"chainrule report: {Path(args.model).name}",
            rows=md.rows,
            to_units=md.to_units(),
            units=md.units,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(f"report: {out}")
    return 0
