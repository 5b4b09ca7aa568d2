"""Regression results as a person reads them: in the target's own units."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..metrics import regression_metrics

__all__ = ["regression_lines", "units_of"]


def units_of(target: str | None) -> str:
    """``the units of 'price'``, or ``the target's units`` when it has no name."""
    return f"the units of {target!r}" if target else "the target's units"


def regression_lines(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, target: str | None, rows: str
) -> list[str]:
    """MSE, MAE and R² for targets and predictions in the target's units, one per line,
    after a line saying which rows and which units."""
    m = regression_metrics(np.asarray(y_true), np.asarray(y_pred))
    return [
        f"{rows}, in {units_of(target)} (not standardised):",
        f"MSE: {m['mse']:.6g}",
        f"MAE: {m['mae']:.6g}",
        f"R²: {m['r2']:.4f}",
    ]
