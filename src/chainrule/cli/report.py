"""``chainrule report`` and ``chainrule train --report``: the HTML training report.

The figures come from :mod:`chainrule.plots` (matplotlib, the optional extra
``chainrule[plot]``).  It is imported only when a report is asked for, so
``chainrule train`` without ``--report`` never loads matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .common import CLIError

__all__ = ["add_report_argument", "check_report_path", "report_settings", "write_train_report"]

# Options already shown in the report's network rows, or that do not describe the run.
_NOT_SETTINGS = {
    "func", "command", "report", "quiet", "hidden", "activation", "output_activation",
    "input_activation", "cost", "init", "dtype", "save",
}


def add_report_argument(p: argparse.ArgumentParser) -> None:
    """The ``--report PATH`` option of ``chainrule train``."""
    p.add_argument("--report", metavar="PATH", default=None,
                   help="also write a self-contained HTML training report there "
                   "(needs matplotlib: pip install chainrule[plot])")


def check_report_path(path: str | None) -> None:
    """Fail before training, not after, when the report cannot be written."""
    if path is None:
        return
    _require_plots()
    _check_output(path, "report")


def write_train_report(args: argparse.Namespace, net: Any, data: Any) -> Path:
    """Write the report for a run of ``chainrule train`` (``data``: its TrainingData)."""
    from ..plots import write_report

    out = write_report(
        args.report, net, net.history, data.X_test, data.y_test, data.class_names,
        report_settings(args, data), images=_raw_inputs(data.preprocessing, data.X_test),
        title=f"chainrule training report: {data.name}",
    )
    return out


def report_settings(args: argparse.Namespace, data: Any = None) -> dict[str, Any]:
    """The run's settings for the report's table: every option not shown elsewhere."""
    settings: dict[str, Any] = {}
    if data is not None:
        settings["data"] = data.name
        settings["training rows"] = len(data.X_train)
        settings["test rows"] = len(data.X_test)
    for key, value in sorted(vars(args).items()):
        if key in _NOT_SETTINGS or key in ("data",) or value is None or callable(value):
            continue
        settings[key] = value
    return settings


def _raw_inputs(preprocessing: Any, X: np.ndarray) -> np.ndarray | None:
    """The inputs before scaling, for drawing images the way the data looked."""
    if preprocessing is None:
        return None
    inverse = getattr(preprocessing, "inverse_transform", None)
    if callable(inverse):
        return np.asarray(inverse(X))
    mean, scale = getattr(preprocessing, "mean", None), getattr(preprocessing, "scale", None)
    if mean is not None and scale is not None:
        return np.asarray(X, dtype=np.float64) * scale + mean
    return None


def _require_plots() -> None:
    from ..plots import MissingMatplotlib, require_matplotlib

    try:
        require_matplotlib()
    except MissingMatplotlib as exc:
        raise CLIError(str(exc)) from None


def _check_output(path: str, what: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{what} path {path!r} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"cannot write the {what} {path!r}: folder {str(parent)!r} does not exist")
