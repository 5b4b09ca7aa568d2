"""The playground's data: 2-D data sets, input features and uploaded CSV files.

Every point is a pair ``(x₁, x₂)`` on the plane; the network never sees it
directly but through the chosen *input features* (``x₁``, ``x₂``, ``x₁²``,
``x₂²``, ``x₁x₂``, ``sin x₁``, ``sin x₂``), which form its input ``z^1``
(seed §2.2).  The built-in sets follow TensorFlow Playground's on the square
``[-6, 6]²``; all are drawn from one :class:`numpy.random.Generator`, so a seed
gives the same points.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CLASSIFICATION_SETS",
    "DATASETS",
    "FEATURES",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_ROWS",
    "REGRESSION_SETS",
    "PlaneData",
    "UploadError",
    "features",
    "make_dataset",
    "read_upload",
]

Array = npt.NDArray[np.float64]

#: Half the side of the built-in sets' square.
EXTENT = 6.0

#: The input features by name, each a function of the plane's ``(x₁, x₂)``.
FEATURES: dict[str, Callable[[Array, Array], Array]] = {
    "x1": lambda a, b: a,
    "x2": lambda a, b: b,
    "x1^2": lambda a, b: a * a,
    "x2^2": lambda a, b: b * b,
    "x1x2": lambda a, b: a * b,
    "sin_x1": lambda a, b: np.sin(a),
    "sin_x2": lambda a, b: np.sin(b),
}

CLASSIFICATION_SETS = ("circle", "xor", "gauss", "spiral")
REGRESSION_SETS = ("reg-plane", "reg-gauss")
DATASETS = CLASSIFICATION_SETS + REGRESSION_SETS

#: Uploads larger than this are refused before they are parsed.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
#: Uploads with more rows than this are refused (the page redraws every point).
MAX_UPLOAD_ROWS = 5000


class UploadError(ValueError):
    """An uploaded file that cannot be used; the message is one line."""


@dataclass
class PlaneData:
    """Points on the plane with their targets.

    Attributes
    ----------
    points : ndarray of shape (n, 2)
        ``(x₁, x₂)`` of every point.
    y : ndarray of shape (n,)
        Class indices (int64) or target values (float64).
    task : {"classification", "regression"}
    n_classes : int
        0 for regression.
    extent : tuple of 4 floats
        ``(x1_min, x1_max, x2_min, x2_max)``: the plane the heat maps cover.
    names : tuple of 2 str
        The two columns' names (``x1``, ``x2`` for the built-in sets).
    class_names : list of str
    target_name : str
    """

    points: Array
    y: np.ndarray
    task: str
    n_classes: int
    extent: tuple[float, float, float, float] = (-EXTENT, EXTENT, -EXTENT, EXTENT)
    names: tuple[str, str] = ("x1", "x2")
    class_names: list[str] = field(default_factory=list)
    target_name: str = "y"


def features(points: Array, names: Sequence[str]) -> Array:
    """The network's input ``z^1`` for each point: the chosen features as columns.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
    names : sequence of str
        Keys of :data:`FEATURES`, in order.

    Returns
    -------
    ndarray of shape (n, len(names))

    Examples
    --------
    >>> features(np.array([[2.0, 3.0]]), ["x1", "x1x2", "x2^2"]).tolist()
    [[2.0, 6.0, 9.0]]
    """
    a, b = points[:, 0], points[:, 1]
    return np.stack([FEATURES[name](a, b) for name in names], axis=1)


def make_dataset(
    name: str, n: int, noise: float, rng: np.random.Generator, classes: int = 2
) -> PlaneData:
    """Draw one of the built-in data sets.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    n : int
        Number of points.
    noise : float
        0 to 0.5 (TensorFlow Playground's 0 to 50 %).
    rng : numpy.random.Generator
    classes : int, default 2
        Number of classes for ``gauss`` and ``spiral`` (2 to 8); ``circle`` and
        ``xor`` always have two.

    Returns
    -------
    PlaneData
    """
    if name in ("circle", "xor"):
        classes = 2
    if name == "circle":
        radius = 5.0
        inner = n // 2
        r = np.concatenate(
            [rng.uniform(0, 0.5 * radius, inner), rng.uniform(0.7 * radius, radius, n - inner)]
        )
        angle = rng.uniform(0, 2 * np.pi, n)
        pts = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
        pts += rng.uniform(-radius, radius, (n, 2)) * noise
        y = (np.hypot(pts[:, 0], pts[:, 1]) < 0.5 * radius).astype(np.int64)
    elif name == "xor":
        pts = rng.uniform(-5, 5, (n, 2))
        pts += np.where(pts > 0, 0.3, -0.3)  # keep points off the axes
        pts += rng.uniform(-5, 5, (n, 2)) * noise
        y = (pts[:, 0] * pts[:, 1] >= 0).astype(np.int64)
    elif name == "gauss":
        y = np.arange(n, dtype=np.int64) % classes
        if classes == 2:
            centres = np.array([[2.0, 2.0], [-2.0, -2.0]])
        else:
            t = 2 * np.pi * np.arange(classes) / classes
            centres = 3.0 * np.stack([np.cos(t), np.sin(t)], axis=1)
        scale = 0.5 + 3.0 * noise
        pts = centres[y] + rng.normal(0.0, scale, (n, 2))
        y = y[::-1] if classes == 2 else y  # class 1 at (2, 2), as TF Playground
    elif name == "spiral":
        y = np.arange(n, dtype=np.int64) % classes
        s = rng.uniform(0, 1, n)
        r = 5.0 * s
        t = 1.75 * s * 2 * np.pi + 2 * np.pi * y / classes
        pts = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        pts += rng.uniform(-1, 1, (n, 2)) * noise * 5.0
    elif name == "reg-plane":
        pts = rng.uniform(-EXTENT, EXTENT, (n, 2))
        y = (pts[:, 0] + pts[:, 1]) / (2 * EXTENT) + rng.uniform(-1, 1, n) * noise
        return PlaneData(
            np.clip(pts, -EXTENT, EXTENT), y.astype(np.float64), "regression", 0, target_name="y"
        )
    elif name == "reg-gauss":
        pts = rng.uniform(-EXTENT, EXTENT, (n, 2))
        bumps = [
            (-4, 2.5, 1),
            (0, 2.5, -1),
            (4, 2.5, 1),
            (-4, -2.5, -1),
            (0, -2.5, 1),
            (4, -2.5, -1),
        ]
        y = np.zeros(n)
        for cx, cy, sign in bumps:
            y += sign * np.exp(-((pts[:, 0] - cx) ** 2 + (pts[:, 1] - cy) ** 2) / 2.0)
        y += rng.uniform(-1, 1, n) * noise
        return PlaneData(pts, np.clip(y, -1.5, 1.5), "regression", 0, target_name="y")
    else:
        raise ValueError(f"unknown data set {name!r}: expected one of {', '.join(DATASETS)}")
    return PlaneData(
        pts,
        y,
        "classification",
        classes,
        class_names=[str(k) for k in range(classes)],
        target_name="class",
    )


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def read_upload(
    raw: bytes, filename: str, x1: str, x2: str, target: str, *, task: str | None = None
) -> PlaneData:
    """An uploaded CSV file as points on the plane, or one line saying what is wrong.

    The file goes through the command line's own table layer
    (:func:`chainrule.data.read_data_file`, then the column roles of
    :mod:`chainrule.data.roles`), so its messages name the file, the line and the
    column exactly as ``chainrule train`` does, and it reads what ``train`` reads:
    comma, semicolon or tab separated (a ``.tsv`` name or tabs in the header), numbers
    written with thousands separators (``"1,250.5"``).  This is the one place the
    playground reads a table: point it at another reader here.

    Parameters
    ----------
    raw : bytes
        The file's content, at most :data:`MAX_UPLOAD_BYTES`.
    filename : str
        The name the browser gave (only its safe characters are kept).
    x1, x2 : str
        The header names of the two numeric feature columns.
    target : str
        The header name of the target column.
    task : {"classification", "regression"}, optional
        Decided from the target column when omitted.

    Returns
    -------
    PlaneData

    Raises
    ------
    UploadError
    """
    from ..data import DataFileError, read_data_file
    from ..data.roles import RolesError

    name = _SAFE_NAME.sub("_", os.path.basename(filename or "")).strip("._") or "upload.csv"
    if len(raw) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"{name}: the file has {len(raw)} bytes, more than the {MAX_UPLOAD_BYTES} allowed"
        )
    if not raw.strip():
        raise UploadError(f"{name}: the file is empty")
    if raw[:4] == b"PK\x03\x04" or raw[:6] == b"\x93NUMPY" or raw[:2] in (b"\x1f\x8b", b"\x00\x00"):
        raise UploadError(f"{name}: not a CSV file (only CSV text can be uploaded)")
    if x1 == x2 or target in (x1, x2):
        raise UploadError(
            f"{name}: choose two different feature columns and another "
            f"target column (got {x1!r}, {x2!r} and {target!r})"
        )
    with tempfile.TemporaryDirectory(prefix="chainrule-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(raw)
        try:
            data = read_data_file(path, target=target, header=True, columns=[x1, x2], task=task)
            if data.text:
                _parse_number_columns(data)
        except (DataFileError, RolesError) as exc:
            message = str(exc).replace(str(path), name).splitlines()[0]
            raise UploadError(message) from None
    if data.text:
        j = min(data.text)
        raise UploadError(
            f"{name}: column {data.feature_names[j]!r} holds text; the two "
            f"feature columns must be numbers"
        )
    missing = np.argwhere(~np.isfinite(data.X))
    if missing.size:
        row, col = (int(v) for v in missing[0])
        raise UploadError(
            f"{name}: {data.where(row)}, column {data.feature_names[col]!r}: "
            f"the cell is missing; every point needs both coordinates"
        )
    if data.X.shape[0] < 4:
        raise UploadError(f"{name}: {data.X.shape[0]} rows, need at least 4 points")
    if data.X.shape[0] > MAX_UPLOAD_ROWS:
        raise UploadError(
            f"{name}: {data.X.shape[0]} rows, more than the {MAX_UPLOAD_ROWS} allowed"
        )
    if data.task == "classification" and not 2 <= data.n_classes <= 8:
        raise UploadError(
            f"{name}: the target column {target!r} has {data.n_classes} "
            f"classes; the playground draws 2 to 8"
        )
    pts = np.ascontiguousarray(data.X, dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * 0.05, 1.0)
    extent = (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )
    return PlaneData(
        pts,
        data.y,
        data.task,
        data.n_classes if data.task == "classification" else 0,
        extent=extent,
        names=(x1, x2),
        class_names=list(data.class_names),
        target_name=target,
    )


def _parse_number_columns(data: Any) -> None:
    """Text feature columns that the roles find to be numbers written with thousands
    separators, parsed in place (as ``train`` does); other text columns stay text.

    Raises
    ------
    RolesError
        A column most of whose cells are numbers holds a word (naming line and column).
    """
    from ..data.roles import RolesError, decide_roles, parse_numbers

    for j, role in enumerate(decide_roles(data)):
        if j in data.text and role.role == "numeric" and role.parse:
            try:
                data.X[:, j] = parse_numbers(data.text[j], role.parse)
            except ValueError as exc:  # pragma: no cover - the roles matched every cell
                raise RolesError(
                    f"{data.name}: {data.where(exc.args[1])}, column {role.name!r}: {exc.args[0]}"
                ) from None
            del data.text[j]
