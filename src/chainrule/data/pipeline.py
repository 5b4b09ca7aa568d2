"""The table pipeline: raw table columns → the network's inputs ``a^1`` (eq. 1's input).

A :class:`TablePipeline` is fitted on the training rows of a table and then applied,
unchanged, to any table with the same columns (by name): at ``train`` to the
validation and test rows, at ``predict``/``evaluate`` and from Python through
:meth:`chainrule.io.Model.transform`.  Its steps, in order:

1. **roles** (:mod:`chainrule.data.roles`): excluded columns are not read;
2. **encoding** (:class:`~chainrule.data.tables.TableEncoding`): missing cells filled
   (``--missing impute``), text categories one-hot (0/1), free text → a bag of its
   frequent words (0/1; the vocabulary fitted on the training rows), dates → year and sin/cos
   features, numbers written with separators parsed;
3. **scaling**: numeric inputs standardised (or ``--scale minmax``/``none``); one-hot
   inputs are left as 0/1.

Everything fitted is stored in the model file (docs/model-format.md), and
:func:`pipeline_steps` describes it column by column (fill value, centre, scale,
categories, derived features) for code that reimplements it (an ONNX export).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .datasets import Dataset
from .preprocessing import MinMaxScaler, Preprocessing, Scaler, Standardizer, make_scaler
from .roles import ColumnRole
from .tables import TableEncoding, describe_missing, missing_rows, subset

__all__ = [
    "TablePipeline",
    "drop_missing",
    "exclude_columns",
    "fingerprint",
    "fingerprint_soon",
    "forget_fingerprint",
    "missing_verdict",
    "pipeline_steps",
    "test_rows",
    "unscaled_one_hot",
]


def fingerprint(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a file's bytes (read in blocks): which file a model's test rows
    were drawn from.  Waits for the digest :func:`fingerprint_soon` started, if any (for
    the same file, unchanged since: size, modification time and inode)."""
    pending = _SOON.pop(os.path.realpath(path), None)
    if pending is not None:
        stamp, thread, result = pending
        thread.join()
        if result and stamp == _stamp(path):
            return result[0]
    return _sha256(path)


def _sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    block = bytearray(1 << 22)  # one buffer, reused (not a new 4 MiB object per read)
    view = memoryview(block)
    with open(path, "rb", buffering=0) as f:
        while got := f.readinto(block):
            digest.update(view[:got])
    return "sha256:" + digest.hexdigest()


#: Digests being computed in a thread: the file's real path → (its size, modification
#: time and inode when started, the thread, [the digest once done]).
_SOON: dict[str, tuple[tuple[int, int, int] | None, threading.Thread, list[str]]] = {}


def _stamp(path: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def forget_fingerprint(path: str | os.PathLike[str]) -> None:
    """Drop a digest :func:`fingerprint_soon` started that no one collected (a run that
    failed, or needed none): its thread finishes on its own."""
    _SOON.pop(os.path.realpath(path), None)


def fingerprint_soon(path: str | os.PathLike[str]) -> None:
    """Start :func:`fingerprint` of ``path`` in a thread, for a later call to collect:
    hashlib and file reads release the GIL, so the digest is taken while the file is
    parsed (``train`` records it with a fraction's test rows).  An error is left for
    the later call to meet."""
    stamp = _stamp(path)
    key = os.path.realpath(path)
    if stamp is None or (key in _SOON and _SOON[key][0] == stamp):
        return
    result: list[str] = []

    def work() -> None:
        try:
            result.append(_sha256(path))
        except OSError:
            pass  # fingerprint(), called again, says why

    thread = threading.Thread(target=work, daemon=True, name="chainrule-fingerprint")
    _SOON[key] = (stamp, thread, result)
    thread.start()


def test_rows(
    test: dict[str, Any], path: str | os.PathLike[str], data: Dataset
) -> tuple[np.ndarray | None, str]:
    """The rows of ``data`` (read from ``path`` for the model) that were the model's test
    rows, rebuilt from the model's record ``data.test``; ``(None, why)`` when ``path`` is
    not the training file or the rows cannot be rebuilt exactly.

    Rows are dropped as at ``train`` (missing targets; missing cells under ``--missing
    drop``) before the seeded split is redone.
    """
    from .split import split_indices

    if test.get("how") != "fraction":
        return None, "the model's test rows were not a fraction of one file"
    if fingerprint(path) != test.get("fingerprint"):
        return None, "not the file the model was trained on"
    rows = np.arange(len(data.y))
    if test.get("missing") == "drop":
        mask, _ = missing_rows(data)
        rows = rows[~mask]
    if len(rows) != test.get("rows"):
        return None, (f"{len(rows)} rows, but the model's split was of {test.get('rows')} rows")
    _, _, held = split_indices(
        data.y[rows],
        val_fraction=float(test.get("val_fraction", 0)),
        test_fraction=float(test["fraction"]),
        seed=test.get("seed"),
        stratify=bool(test.get("stratified")),
    )
    return rows[held], (
        f"the {len(held)} held-out test rows of {len(data.y)} (as chosen at "
        f"train: seed {test.get('seed')}, --test-fraction {test['fraction']})"
    )


def drop_missing(data: Dataset, policy: str, where: str = "") -> tuple[Dataset, str | None]:
    """Apply ``--missing`` to rows with missing feature cells.

    Returns the data (rows with missing cells left out for ``"drop"``) and a note for
    the user, or None.

    Raises
    ------
    ValueError
        ``"error"`` and some row has a missing cell; ``"drop"`` and every row has one.
    """
    if not data.text and not np.isnan(data.X).any():
        return data, None
    mask, counts = missing_rows(data)
    note = missing_verdict(policy, where or data.name, int(mask.sum()), len(mask), counts)
    return (data, None) if note is None else (subset(data, ~mask), note)


def missing_verdict(
    policy: str, name: str, n: int, total: int, counts: dict[str, int]
) -> str | None:
    """What ``--missing policy`` says of ``n`` of ``total`` rows with missing cells
    (``counts``: missing cells per column): None when the rows stay, else the note on
    the rows left out (``"drop"``).

    Raises
    ------
    ValueError
        ``"error"`` and ``n > 0``; ``"drop"`` and every row has a missing cell.
    """
    if n == 0 or policy == "impute":
        return None
    if policy == "error":
        raise ValueError(
            f"{name}: {n} of {total} rows have missing cells (columns "
            f"{describe_missing(counts)}); choose --missing drop to leave those "
            f"rows out, or --missing impute to fill them with the training "
            f"split's median (numbers) or most frequent value (text)"
        )
    if n == total:
        raise ValueError(
            f"{name}: every row has a missing cell (columns "
            f"{describe_missing(counts)}), so --missing drop leaves nothing; use "
            f"--missing impute"
        )
    return (
        f"note: --missing drop: left out {n} of {total} rows "
        f"with missing cells (columns {describe_missing(counts)})"
    )


def exclude_columns(data: Dataset, roles: list[ColumnRole]) -> tuple[Dataset, list[ColumnRole]]:
    """``data`` without its excluded columns, and the roles of the columns kept."""
    keep = [j for j, r in enumerate(roles) if r.role != "excluded"]
    if len(keep) == len(roles):
        return data, list(roles)
    index = {j: k for k, j in enumerate(keep)}
    kept = Dataset(
        X=np.asarray(data.X[:, keep]),
        y=data.y,
        task=data.task,
        name=data.name,
        class_names=data.class_names,
        image_shape=None,
        feature_names=[data.feature_names[j] for j in keep],
        target_name=data.target_name,
        lines=data.lines,
        text={index[j]: c for j, c in data.text.items() if j in index},
        ignored_columns=data.ignored_columns,
        dropped=data.dropped,
    )
    return kept, [roles[j] for j in keep]


def unscaled_one_hot(scaler: Scaler, mask: np.ndarray) -> Scaler:
    """Make ``scaler`` leave the inputs ``mask`` as they are (centre 0, scale 1)."""
    if not mask.any():
        return scaler
    if isinstance(scaler, Standardizer) and scaler.mean is not None and scaler.scale is not None:
        scaler.mean = np.where(mask, 0.0, scaler.mean)
        scaler.scale = np.where(mask, 1.0, scaler.scale)
    elif isinstance(scaler, MinMaxScaler) and scaler.low is not None and scaler.range is not None:
        scaler.low = np.where(mask, 0.0, scaler.low)
        scaler.range = np.where(mask, 1.0, scaler.range)
    return scaler


@dataclass
class TablePipeline:
    """Fitted steps from raw table columns to network inputs.

    Attributes
    ----------
    encoding : TableEncoding
        Roles, fill values, categories, date features, number parsing.
    scaler : Scaler
        Fitted on the encoded training rows; one-hot inputs have centre 0, scale 1.
    """

    encoding: TableEncoding
    scaler: Scaler

    @classmethod
    def fit(
        cls,
        data: Dataset,
        rows: np.ndarray,
        *,
        missing: str = "error",
        scale: str = "standard",
        roles: list[ColumnRole] | None = None,
        id_column: str | None = None,
    ) -> TablePipeline:
        """Fit on the rows ``rows`` (indices, the training split) of ``data``.

        ``data`` holds only the columns the network uses (see :func:`exclude_columns`);
        ``roles`` are those columns' roles.
        """
        encoding = TableEncoding.fit(data, rows, missing, roles)
        encoding.id_column = id_column
        X, _ = encoding.transform(_rows(data, rows))
        with np.errstate(over="ignore", invalid="ignore"):
            scaler = make_scaler(scale).fit(X)
        return cls(encoding, unscaled_one_hot(scaler, encoding.one_hot_inputs()))

    def encode(self, data: Dataset, *, strict: bool = False) -> tuple[np.ndarray, list[str]]:
        """Encoded (unscaled) inputs ``(n, N_1)`` float64 and warning lines."""
        return self.encoding.transform(data, strict=strict)

    def transform(self, data: Dataset, *, strict: bool = False) -> tuple[np.ndarray, list[str]]:
        """Network inputs ``(n, N_1)`` float64 for a table with the pipeline's columns,
        and warning lines (categories never seen in training)."""
        X, warnings = self.encode(data, strict=strict)
        return self.scaler.transform(X), warnings

    def preprocessing(self, target: Standardizer | None = None) -> Preprocessing:
        """What the model file stores."""
        return Preprocessing(self.scaler, target, self.encoding)

    def steps(self) -> list[dict[str, Any]]:
        """:func:`pipeline_steps` of this pipeline."""
        return pipeline_steps(self.encoding, self.scaler)


def _rows(data: Dataset, rows: np.ndarray) -> Dataset:
    return subset(data, rows)


def pipeline_steps(
    encoding: TableEncoding | None, scaler: Scaler | None, feature_names: list[str] | None = None
) -> list[dict[str, Any]]:
    """One plain dict per raw column the network reads, in input order.

    Keys: ``name``; ``kind`` (``"number"``, ``"category"``, ``"date"``); ``inputs``
    (the network input indices it feeds); ``fill`` (the value a missing cell takes, or
    None when missing cells are refused); for numbers ``centre`` and ``scale``
    (input = (x − centre) / scale) and ``parse``; for categories ``categories`` (one
    0/1 input each, never scaled; an unseen category is all zeros); for text (kind
    ``"words"``) ``words`` (one 0/1 input each, 1 when the cell, lower-cased and split on
    anything not a letter or digit, holds the word; never scaled); for dates
    ``derived`` (the feature names) with per-feature ``centre`` and ``scale``.
    """
    centre, width = _affine(scaler)
    out: list[dict[str, Any]] = []
    if encoding is None:
        n = len(centre) if centre is not None else len(feature_names or [])
        names = feature_names or [f"x{i}" for i in range(n)]
        for i, name in enumerate(names):
            out.append(
                {
                    "name": name,
                    "kind": "number",
                    "inputs": [i],
                    "fill": None,
                    "centre": _at(centre, i, 0.0),
                    "scale": _at(width, i, 1.0),
                    "parse": None,
                }
            )
        return out
    k = 0
    for c in encoding.columns:
        inputs = list(range(k, k + c.width))
        step: dict[str, Any] = {"name": c.name, "kind": c.kind, "inputs": inputs, "fill": c.fill}
        if c.kind == "number":
            step.update(centre=_at(centre, k, 0.0), scale=_at(width, k, 1.0), parse=c.parse)
        elif c.kind == "category":
            step.update(categories=list(c.categories))
        elif c.kind == "words":
            step.update(words=list(c.words))
        else:
            step.update(
                derived=list(c.derived),
                centre=[_at(centre, i, 0.0) for i in inputs],
                scale=[_at(width, i, 1.0) for i in inputs],
            )
        out.append(step)
        k += c.width
    return out


def _affine(scaler: Scaler | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    if isinstance(scaler, Standardizer) and getattr(scaler, "mean", None) is not None:
        return scaler.mean, scaler.scale
    if isinstance(scaler, MinMaxScaler) and getattr(scaler, "low", None) is not None:
        return scaler.low, scaler.range
    return None, None


def _at(values: np.ndarray | None, i: int, default: float) -> float:
    return default if values is None else float(values[i])
