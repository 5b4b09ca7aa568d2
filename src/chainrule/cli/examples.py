"""Reading examples ``(x, λ)`` from the command line and from small files.

Used by ``chainrule explain`` (one example) and ``chainrule gradcheck`` (a few
rows).  A row holds the ``N_1`` inputs followed by either the ``N_L`` target
values or, when ``N_L > 1``, one integer class label.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..input_files import InputFileError, parse_json, read_input_text
from .common import CLIError

__all__ = ["MAX_EXAMPLE_BYTES", "number_list", "read_rows", "split_row"]

#: The largest examples file read (a few rows for explain and gradcheck).
MAX_EXAMPLE_BYTES = 64 << 20

_SEPARATORS = re.compile(r"[,\s;]+")


def number_list(text: str, option: str) -> list[float]:
    """Parse ``"0.5,-1,2"`` given to ``option``; a bad number is a :class:`CLIError`."""
    parts = [p for p in _SEPARATORS.split(text.strip()) if p]
    if not parts:
        raise CLIError(f"{option} needs comma-separated numbers, got {text!r}")
    values = []
    for i, part in enumerate(parts, start=1):
        try:
            values.append(float(part))
        except ValueError:
            raise CLIError(f"{option}: value {i} is {part!r}, expected a number") from None
    if not all(np.isfinite(values)):
        raise CLIError(f"{option}: values must be finite, got {text!r}")
    return values


def split_row(values: list[float], n_in: int, n_out: int, where: str) -> tuple[list[float], object]:
    """Split one row into ``x`` and ``y`` (a target row or an integer class label)."""
    if len(values) == n_in + n_out:
        return values[:n_in], values[n_in:]
    if n_out > 1 and len(values) == n_in + 1:
        label = values[-1]
        if label != int(label) or not 0 <= label < n_out:
            raise CLIError(
                f"{where}: the last value {label:g} should be a class label "
                f"0..{n_out - 1} (or give {n_out} target values)"
            )
        return values[:n_in], int(label)
    want = f"{n_in + n_out}" + (f" or {n_in + 1}" if n_out > 1 else "")
    raise CLIError(
        f"{where}: expected {want} values ({n_in} inputs, then {n_out} targets"
        + (" or one class label" if n_out > 1 else "")
        + f"), got {len(values)}"
    )


def read_rows(path: str, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Read examples from a CSV/whitespace file or a JSON file.

    CSV/whitespace: one example per line (blank lines and ``#`` comments
    skipped).  JSON: ``{"x": [...], "y": [...]}`` for one example, or
    ``{"x": [[...], ...], "y": [...]}`` for several (``y`` rows or labels).

    Returns
    -------
    X : ndarray of shape (n, N_1)
    Y : ndarray of shape (n, N_L)
        Class labels are one-hot encoded.
    """
    p = Path(path)
    try:  # a regular file, bounded, UTF-8: FIFOs, /dev/zero and random bytes are refused
        text = read_input_text(p, "file of examples", max_bytes=MAX_EXAMPLE_BYTES)
    except InputFileError as exc:
        raise CLIError(str(exc)) from None
    if p.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        return _read_json(path, text, n_in, n_out)
    X, Y = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        values = []
        for col, part in enumerate((q for q in _SEPARATORS.split(line) if q), start=1):
            try:
                values.append(float(part))
            except ValueError:
                raise CLIError(
                    f"{path}, row {lineno}, column {col}: {part!r} is not a number"
                ) from None
            if not np.isfinite(values[-1]):
                raise CLIError(f"{path}, row {lineno}, column {col}: {part!r} is not finite")
        x, y = split_row(values, n_in, n_out, f"{path}, row {lineno}")
        X.append(x)
        Y.append(_target_row(y, n_out))
    if not X:
        raise CLIError(f"{path} holds no examples")
    return np.array(X), np.array(Y)


def _target_row(y: object, n_out: int) -> list[float]:
    if isinstance(y, int):
        row = [0.0] * n_out
        row[y] = 1.0
        return row
    return list(y)  # type: ignore[call-overload]


def _read_json(path: str, text: str, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        doc = parse_json(text, path, max_depth=4)  # {"x": [[...], ...]} is 3 deep
    except InputFileError as exc:
        raise CLIError(str(exc)) from None
    if not isinstance(doc, dict) or "x" not in doc or "y" not in doc:
        raise CLIError(f'{path}: expected a JSON object {{"x": [...], "y": [...]}}')
    x, y = doc["x"], doc["y"]
    if not isinstance(x, list):
        raise CLIError(f'{path}: "x" must be a list of numbers (or of rows), got {x!r}')
    rows_x = x if x and isinstance(x[0], list) else [x]
    rows_y = y if isinstance(y, list) and len(rows_x) > 1 else [y]
    if len(rows_x) != len(rows_y):
        raise CLIError(f"{path}: {len(rows_x)} rows of x but {len(rows_y)} of y")
    X, Y = [], []
    for i, (xr, yr) in enumerate(zip(rows_x, rows_y, strict=True), start=1):
        where = f"{path}, example {i}"
        try:
            xv = [float(v) for v in xr]
            if isinstance(yr, list):
                yv: list[float] = [float(v) for v in yr]
            else:
                yv = [float(yr)]
        except (TypeError, ValueError):
            raise CLIError(f"{where}: x and y must hold numbers") from None
        if len(xv) != n_in:
            raise CLIError(f"{where}: x has {len(xv)} values, expected {n_in} (N_1)")
        if not all(np.isfinite(xv + yv)):
            raise CLIError(f"{where}: values must be finite")
        _, target = split_row(xv + yv, n_in, n_out, where)
        X.append(xv)
        Y.append(_target_row(target, n_out))
    return np.array(X), np.array(Y)
