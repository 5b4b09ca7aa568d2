"""The model file: one ``.npz`` archive, loaded without ever unpickling.

Layout (format version 1, see ``docs/model-format.md``):

* ``__chainrule__`` — the metadata: UTF-8 JSON as a 1-D ``uint8`` array.  It holds the
  architecture (sizes, activation names per layer, input activation, cost, dtype,
  init), the task, class names, feature and target names, the preprocessing kind,
  the training settings, the full per-epoch history, the format version and the
  chainrule version.
* ``W2 … WL``, ``b2 … bL`` — the seed's ``W^l`` of shape ``(N_l, N_{l-1})`` and
  ``b^l`` of shape ``(N_l,)``, stored in the network's dtype (bit-exact).
* ``preprocessing.<name>`` — the fitted feature scaler's arrays (float64), and
  ``target_scaling.mean``/``target_scaling.scale`` for a standardised regression target.

Loading uses ``np.load(..., allow_pickle=False)``: an archive holding an object
array is refused, so opening a model file never runs code from it.  Writes go to
a temporary file in the same folder, are flushed to disk and then renamed over
the target (:func:`chainrule.atomic.atomic_write`), so an interrupted save leaves
the previous file intact.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._version import __version__
from .atomic import OutputPathError, atomic_write, check_output_path
from .backend import to_numpy
from .checks import first_nonfinite
from .data.datasets import Dataset
from .data.preprocessing import Preprocessing, Scaler, Standardizer, make_scaler
from .data.tables import ColumnEncoding, TableEncoding
from .functions import ACTIVATIONS, COSTS, Activation, Cost
from .input_files import InputFileError, parse_json, read_input_bytes
from .model_archive import MAX_METADATA_BYTES, ArchiveError, ModelArchive
from .network import Network, register_model_writer
from .training.history import History

__all__ = [
    "FORMAT_VERSION",
    "METADATA_KEY",
    "Model",
    "ModelFileError",
    "OutputPathError",
    "atomic_write",
    "check_model_meaning",
    "check_output_path",
    "load",
    "load_model",
    "save_model",
]

#: The version of the file layout this chainrule writes and the newest it reads.
FORMAT_VERSION = 1
#: The archive entry that holds the JSON metadata.
METADATA_KEY = "__chainrule__"
FORMAT_NAME = "chainrule-model"


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and the reason."""


# ---------------------------------------------------------------------- the bundle


@dataclass
class Model:
    """A loaded model: the network and everything needed to use it on raw data.

    Attributes
    ----------
    network : Network
        With ``preprocessing``, ``class_names``, ``metadata`` and ``history``
        restored on it too.
    preprocessing : Preprocessing or None
        Fitted on the training split; applied by :meth:`transform` (features) and
        :meth:`predict` (a regression target's scaling is undone).
    class_names : list of str or None
        Index-aligned with the network's class outputs; None for regression.
    task : {"classification", "regression"}
    feature_names : list of str
    target_name : str or None
    metadata : dict
        The file's JSON metadata as read.
    """

    network: Network
    preprocessing: Preprocessing | None
    class_names: list[str] | None
    task: str
    feature_names: list[str] = field(default_factory=list)
    target_name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """The number of raw input features (``N_1``)."""
        return self.network.sizes[0]

    @property
    def encoding(self) -> TableEncoding | None:
        """How raw table columns become inputs (text columns, missing cells), or None."""
        return None if self.preprocessing is None else self.preprocessing.encoding

    @property
    def n_columns(self) -> int:
        """The number of raw feature columns a data file must have."""
        return len(self.encoding.columns) if self.encoding is not None else self.n_features

    def inputs(self, data: Dataset, *, strict: bool = False) -> tuple[np.ndarray, list[str]]:
        """The raw feature matrix of ``data`` (numbers, text, missing cells) as network
        inputs, and warning lines (categories never seen in training).

        Raises
        ------
        ValueError
            Missing cells this model cannot fill (naming the rows), text in a numeric
            column, or (``strict``) a category never seen in training.
        """
        if self.encoding is not None:
            X, warnings = self.encoding.transform(data, strict=strict)
        else:
            # All columns numeric, no fill values: refuse a missing or text cell.
            numeric = TableEncoding([ColumnEncoding(name) for name in data.feature_names])
            X, warnings = numeric.transform(data)
        return self._scale(X), warnings

    @property
    def history(self) -> History:
        """The per-epoch training history saved with the model."""
        return self.network.history

    def transform(self, X: Any) -> np.ndarray:
        """Raw features → network inputs ``(n, N_1)`` in the network's dtype.

        ``X`` may be

        * a table: a pandas or polars DataFrame, a pyarrow Table, anything with the
          Arrow PyCapsule stream interface (``__arrow_c_stream__``), or the path of a
          CSV/TSV/Parquet/Feather/Arrow file.  Its columns are matched **by name** to
          the model's (any order; a missing one is an error naming it, extra ones are
          ignored with one warning), and go through the stored pipeline: missing cells
          filled, categories one-hot, dates to features, numbers scaled.  This is what
          ``chainrule predict`` does;
        * a 2-D array taken **by position**, only when its width is the model's number
          of raw columns (``n_columns``; NaN for a missing cell).

        Raises
        ------
        ValueError
            (``DataFileError`` for tables) a missing column, a wrong width, a cell the
            pipeline cannot take.
        """
        data = self._table(X, has_target=False)
        if data is not None:
            return self.inputs_of(data)
        arr = np.asarray(X)
        enc = self.encoding
        if arr.ndim == 1 and arr.size == self.n_columns and arr.dtype.kind in "biuf":
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.n_columns:
            raise ValueError(
                f"X has shape {arr.shape}, expected (n, {self.n_columns}): one "
                f"column per raw feature "
                f"({', '.join(self.feature_names[:8])}"
                f"{', …' if len(self.feature_names) > 8 else ''}); pass a "
                f"DataFrame or table to match columns by name"
            )
        if enc is not None:
            if arr.dtype.kind in "OUS":
                table = {name: arr[:, j] for j, name in enumerate(self.feature_names)}
                text_data = self._table(_dict_table(table), has_target=False)
                assert text_data is not None
                return self.inputs_of(text_data)
            data = Dataset(
                X=arr.astype(np.float64),
                y=np.empty(0),
                task=self.task,
                name="X",
                feature_names=[c.name for c in enc.columns],
            )
            arr, _ = enc.transform(data)
        return self._scale(arr)

    def inputs_of(self, data: Dataset, *, strict: bool = False) -> np.ndarray:
        """:meth:`inputs` with its warnings (unseen categories) issued as warnings."""
        import warnings

        X, notes = self.inputs(data, strict=strict)
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=3)
        return X

    def _table(self, X: Any, *, has_target: bool | None) -> Dataset | None:
        """A table or table file as a :class:`Dataset` with the model's columns, by name;
        None for anything else (arrays)."""
        import warnings

        from .data.files import read_data_file
        from .data.table import from_arrow, is_arrow_table_like

        names = list(self.feature_names) if self.feature_names else None
        classification = self.task == "classification"
        target_kw: dict[str, Any] = dict(
            has_target=has_target,
            task=self.task,
            n_features=self.n_columns,
            class_names=self.class_names if classification else None,
        )
        if isinstance(X, (str, os.PathLike)):
            data = read_data_file(
                X, columns=names, target_hint=self.target_name, missing_target="drop", **target_kw
            )
        elif is_arrow_table_like(X) or _is_dataframe(X):
            table = _arrow(X)
            parts = from_arrow(
                "table",
                table,
                target=None,
                has_target=has_target,
                n_features=None if names else self.n_columns,
                target_hint=self.target_name,
                columns=names,
            )
            data = _as_dataset(parts, self.task, self.class_names, missing_target="drop")
        else:
            return None
        extra = self.unexpected_columns(data.ignored_columns)
        if extra:
            shown = ", ".join(repr(c) for c in extra[:8])
            warnings.warn(
                f"ignoring {len(extra)} column(s) the model does not use: {shown}",
                UserWarning,
                stacklevel=4,
            )
        return data

    def unexpected_columns(self, ignored: list[str]) -> list[str]:
        """Of a table's unused columns, those training did not see and exclude itself
        (the ID, free text, … columns of the roles are expected, and not noted)."""
        enc = self.encoding
        known = {r.name for r in enc.roles} if enc is not None else set()
        if enc is not None and enc.id_column:
            known.add(enc.id_column)
        return [c for c in ignored if c not in known]

    def evaluate(self, X: Any, y: npt.ArrayLike | None = None) -> dict[str, float]:
        """Scores on a table with the target column (by the model's target name), or on
        features ``X`` and targets ``y``.

        Rows whose target is missing are skipped (``"skipped"`` counts them).

        Returns
        -------
        dict
            ``n``, ``skipped``; classification: ``accuracy``; regression: ``rmse``,
            ``mae``, ``r2`` in the target's units.
        """
        skipped = 0
        if y is None:
            data = self._table(X, has_target=True)
            if data is None or data.y.size == 0:
                raise ValueError(
                    f"evaluate needs a table with the target column {self.target_name!r}, or y"
                )
            inputs = self.inputs_of(data)
            truth = data.y
            skipped = len(data.dropped)
        else:
            inputs = self.transform(X)
            truth = np.asarray(y)
            if self.task == "classification" and truth.dtype.kind not in "iu":
                index = {name: i for i, name in enumerate(self.class_names or [])}
                truth = np.array([index[str(v)] for v in truth.tolist()])
        predicted = self.decode(self.network.feedforward(inputs))
        result: dict[str, float] = {"n": float(len(truth)), "skipped": float(skipped)}
        if self.task == "classification":
            result["accuracy"] = float(np.mean(predicted == truth))
        else:
            t = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
            pr = np.asarray(predicted, dtype=np.float64).reshape(len(truth), -1)
            err = pr - t
            result["rmse"] = float(np.sqrt(np.mean(err**2)))
            result["mae"] = float(np.mean(np.abs(err)))
            total = float(np.sum((t - t.mean(axis=0)) ** 2))
            result["r2"] = 1.0 - float(np.sum(err**2)) / total if total > 0 else float("nan")
        return result

    def pipeline(self) -> list[dict[str, Any]]:
        """The stored preprocessing, one plain dict per raw column in input order
        (:func:`chainrule.data.pipeline.pipeline_steps`): fill value, centre and scale of
        each number, categories of each one-hot column, derived features of each date."""
        from .data.pipeline import pipeline_steps

        scaler = None if self.preprocessing is None else self.preprocessing.features
        return pipeline_steps(self.encoding, scaler, list(self.feature_names))

    def _scale(self, X: np.ndarray) -> np.ndarray:
        """Encoded features → network inputs: the fitted scaling, the network's dtype."""
        arr = np.asarray(X)
        if self.preprocessing is not None:
            arr = self.preprocessing.transform(arr.astype(np.float64, copy=False))
        return arr.astype(self.network.dtype, copy=False)

    def predict_proba(self, X: Any) -> np.ndarray:
        """The output activations ``a^L`` for raw features or a table (by column name, see
        :meth:`transform`), shape ``(n, N_L)``."""
        return self.network.feedforward(self.transform(X))

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Output activations ``a^L`` ``(n, N_L)`` → class indices or target values.

        A classifier's class is the arg-max of its outputs (``a > 0.5`` for a single
        output), whatever its output activation; a regressor's outputs are mapped
        back to the target's units.
        """
        if self.task == "classification":
            if outputs.shape[1] == 1:
                return (outputs[:, 0] > 0.5).astype(np.int64)
            return outputs.argmax(axis=1)
        if self.preprocessing is not None:
            return self.preprocessing.inverse_target(outputs)
        return outputs

    def label(self, indices: np.ndarray) -> np.ndarray:
        """Class indices → class names (classification); values pass through."""
        if self.task == "classification" and self.class_names:
            return np.asarray(self.class_names)[indices]
        return indices

    def predict_indices(self, X: Any) -> np.ndarray:
        """Class indices (classification) or values in the target's units (regression)."""
        return self.decode(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """Class names (classification) or output values (regression) for raw features or
        a table, matched by column name (see :meth:`transform`): exactly what
        ``chainrule predict`` writes."""
        return self.label(self.predict_indices(X))

    def to_onnx(
        self, path: str | os.PathLike[str] | None = None, *, dtype: npt.DTypeLike | None = None
    ) -> Any:
        """The model with its preprocessing as an ONNX model, written to ``path`` if given.

        What ``chainrule export`` writes; see :mod:`chainrule.export.onnx` for the
        graph's inputs and outputs and what ONNX cannot express (extra ``[onnx]``).
        """
        from .export.onnx import model_to_onnx, save_onnx

        proto = model_to_onnx(self, dtype=dtype)
        if path is not None:
            save_onnx(proto, path)
        return proto

    def _repr_html_(self) -> str:
        """Jupyter's view: the network, its columns and their preprocessing, the classes."""
        from .export.html import model_html

        return model_html(self)


def _is_dataframe(X: Any) -> bool:
    return type(X).__name__ == "DataFrame" and hasattr(X, "columns")


def _arrow(X: Any) -> Any:
    """An in-memory table as a pyarrow Table (pandas before 2.2 has no Arrow stream)."""
    import pyarrow as pa

    from .data.table import arrow_table_of

    if (
        _is_dataframe(X)
        and not hasattr(X, "__arrow_c_stream__")
        and type(X).__module__.startswith("pandas")
    ):
        return pa.Table.from_pandas(X, preserve_index=False)
    return arrow_table_of(X)


def _dict_table(columns: dict[str, np.ndarray]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            k: pa.array([None if v is None else str(v) for v in col.tolist()], type=pa.string())
            for k, col in columns.items()
        }
    )


def _as_dataset(
    parts: tuple[Any, ...], task: str, class_names: list[str] | None, missing_target: str
) -> Dataset:
    from .data.files import _missing_targets, _targets

    X, y_raw, names, target_name, _lines, texts, ignored = parts
    dropped = np.empty(0, dtype=np.int64)
    if y_raw is None:
        return Dataset(
            X=X,
            y=np.empty(0),
            task=task,
            name="table",
            feature_names=names,
            text=texts,
            ignored_columns=ignored,
        )
    gone = _missing_targets(y_raw)
    if gone.any():
        dropped = np.flatnonzero(gone) + 1
        X, y_raw = X[~gone], y_raw[~gone]
        texts = {j: c[~gone] for j, c in texts.items()}
    y, task, found = _targets(
        Path("table"),
        y_raw,
        task,
        class_names if task == "classification" else None,
        None,
        target_name,
    )
    return Dataset(
        X=X,
        y=y,
        task=task,
        name="table",
        class_names=found,
        feature_names=names,
        target_name=target_name,
        text=texts,
        ignored_columns=ignored,
        dropped=dropped,
    )


# ---------------------------------------------------------------------- saving


def _activation_spec(act: Activation, where: str) -> dict[str, Any]:
    if type(act) is not ACTIVATIONS.get(act.name):
        raise ValueError(
            f"cannot save the custom activation {act.name!r} ({where}): only the "
            f"named activations ({', '.join(sorted(ACTIVATIONS))}) can be saved"
        )
    params: dict[str, Any] = dataclasses.asdict(act) if dataclasses.is_dataclass(act) else {}
    return {"name": act.name, **params}


def _cost_spec(cost: Cost) -> str:
    if type(cost) is not COSTS.get(cost.name):
        raise ValueError(
            f"cannot save the custom cost {cost.name!r}: only the named costs "
            f"({', '.join(sorted(COSTS))}) can be saved"
        )
    return cost.name


def _plain(value: Any) -> Any:
    """JSON-ready values: NumPy scalars to Python, NaN and ±inf to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"cannot store {type(value).__name__} {value!r} in a model file: "
        f"metadata must be plain numbers, strings, lists and dicts"
    )


def model_metadata(
    network: Network,
    *,
    preprocessing: Preprocessing | None,
    class_names: list[str] | None,
    task: str,
    feature_names: list[str] | None,
    target_name: str | None,
    training: dict[str, Any] | None,
    data: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON metadata of a model file (see the module docstring)."""
    architecture = {
        "sizes": list(network.sizes),
        "activations": [
            _activation_spec(a, f"layer {l + 2}") for l, a in enumerate(network.activations)
        ],
        "input_activation": _activation_spec(network.input_activation, "input layer"),
        "cost": _cost_spec(network.cost),
        "init": network.init,
        "dtype": network.dtype.name,
    }
    return _plain(
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "chainrule_version": __version__,
            "architecture": architecture,
            "task": task,
            "class_names": class_names,
            "feature_names": feature_names or [],
            "target_name": target_name,
            "preprocessing": None
            if preprocessing is None
            else {
                "kind": preprocessing.features.kind,
                "arrays": list(preprocessing.features.param_names),
                "target": None if preprocessing.target is None else preprocessing.target.kind,
                **(
                    {"encoding": preprocessing.encoding.to_json()}
                    if preprocessing.encoding is not None
                    else {}
                ),
            },
            "training": training or {},
            "data": data or {},
            "history": network.history.to_dict(),
        }
    )


def save_model(
    path: str | os.PathLike[str],
    network: Network,
    *,
    preprocessing: Preprocessing | Scaler | None = None,
    class_names: list[str] | None = None,
    feature_names: list[str] | None = None,
    target_name: str | None = None,
    training: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Path:
    """Save ``network`` and what it needs for raw data into one ``.npz`` file, atomically.

    Anything not given is taken from the network's own ``preprocessing``,
    ``class_names`` and ``metadata`` (so a loaded model saves back unchanged).
    The file name is used as given (no ``.npz`` is appended).

    Parameters
    ----------
    path : path-like
    network : Network
        Its activations and cost must be named ones (custom ones cannot be saved).
    preprocessing : Preprocessing or Scaler, optional
        Fitted; its ``n_features`` must be ``N_1``.
    class_names : list of str, optional
        One per output unit (two for a single sigmoid output).  Default for a
        classifier: ``"0", "1", …``.
    feature_names, target_name : optional
        Column names of the training data.
    training, data : dict, optional
        Settings to record (plain values): how it was trained, on what.

    Returns
    -------
    Path
        Where it was written.

    Raises
    ------
    ValueError
        For a custom activation or cost, unfitted or mismatched preprocessing,
        wrong class names, or metadata that is not plain values.
    OutputPathError
        For a directory, or a folder that does not exist (checked before writing).
    """
    old = network.metadata or {}
    if preprocessing is None:
        preprocessing = network.preprocessing
    preprocessing = Preprocessing.wrap(preprocessing)
    if class_names is None:
        class_names = network.class_names
    feature_names = feature_names if feature_names is not None else old.get("feature_names")
    target_name = target_name if target_name is not None else old.get("target_name")
    training = dict(training if training is not None else old.get("training") or {})
    data = data if data is not None else old.get("data")
    if network.optimizer is not None and "optimizer" not in training:
        training["optimizer"] = network.optimizer.config()
    task = old.get("task") or (
        "classification" if network.is_classifier or class_names else "regression"
    )
    if class_names is not None and not class_names:
        class_names = None
    n_out = network.sizes[-1]
    if task == "classification":
        n_classes = 2 if n_out == 1 else n_out
        if class_names is None:
            class_names = [str(i) for i in range(n_classes)]
        class_names = [str(c) for c in class_names]
        if len(class_names) != n_classes:
            raise ValueError(
                f"class_names has {len(class_names)} names, but the network's "
                f"{n_out} output(s) give {n_classes} classes"
            )
    if preprocessing is not None:
        arrays_p = {f"preprocessing.{k}": v for k, v in preprocessing.features.params().items()}
        if preprocessing.target is not None:
            arrays_p.update(
                {f"target_scaling.{k}": v for k, v in preprocessing.target.params().items()}
            )
        n_in = preprocessing.n_features
        if n_in is not None and n_in != network.sizes[0]:
            raise ValueError(
                f"the preprocessing was fitted on {n_in} features, but the "
                f"network has {network.sizes[0]} inputs"
            )
    else:
        arrays_p = {}
    meta = model_metadata(
        network,
        preprocessing=preprocessing,
        class_names=class_names,
        task=task,
        feature_names=feature_names,
        target_name=target_name,
        training=training,
        data=data,
    )
    arrays: dict[str, np.ndarray] = {
        METADATA_KEY: np.frombuffer(json.dumps(meta, allow_nan=False).encode(), dtype=np.uint8)
    }
    for l in range(2, len(network.sizes) + 1):
        # Always NumPy arrays in the file, whatever backend or device the network is on.
        arrays[f"W{l}"] = np.ascontiguousarray(
            to_numpy(network.weights[l - 2]), dtype=network.dtype
        )
        arrays[f"b{l}"] = np.ascontiguousarray(to_numpy(network.biases[l - 2]), dtype=network.dtype)
        for name in (f"W{l}", f"b{l}"):
            if first_nonfinite(arrays[name]) is not None:  # a diverged run is no model
                raise ValueError(
                    f"cannot save a network whose {name} holds NaN or inf (did training diverge?)"
                )
    arrays.update(arrays_p)
    return atomic_write(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- loading


class _Bad(Exception):
    """Internal: the metadata is not what format version 1 says."""


def _get(d: Any, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    if not isinstance(d, dict):
        raise _Bad("metadata is not a JSON object")
    if key not in d or d[key] is None:
        if optional:
            return None
        raise _Bad(f"metadata lacks {key!r}")
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"metadata {key!r} has the wrong type ({type(value).__name__})")
    return value


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{what} must be a list of strings")
    return list(value)


def _activation(spec: Any, where: str) -> Activation:
    if isinstance(spec, str):
        spec = {"name": spec}
    name = _get(spec, "name", str)
    if name not in ACTIVATIONS:
        raise _Bad(f"unknown activation {name!r} for the {where}")
    params = {k: v for k, v in spec.items() if k != "name"}
    cls = ACTIVATIONS[name]
    allowed: set[str] = (
        {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    )
    if set(params) - allowed or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in params.values()
    ):
        raise _Bad(f"bad parameters {params!r} for the {where}'s activation {name!r}")
    return cls(**params)


def _read_metadata(entry: np.ndarray) -> dict[str, Any]:
    if entry.dtype == np.uint8 and entry.ndim == 1:
        text = entry.tobytes().decode("utf-8")
    elif entry.dtype.kind == "U" and entry.ndim == 0:
        text = str(entry)
    else:
        raise _Bad(f"the metadata entry has dtype {entry.dtype} and shape {entry.shape}")
    try:  # nesting bounded before parsing: no RecursionError from a hostile file
        meta = parse_json(text, "the metadata")
    except InputFileError as exc:
        raise _Bad(str(exc)) from None
    if not isinstance(meta, dict):
        raise _Bad("metadata is not a JSON object")
    return meta


def _build(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Model:
    arch = _get(meta, "architecture", dict)
    sizes = _sizes(meta)
    acts = _get(arch, "activations", list)
    if len(acts) != len(sizes) - 1:
        raise _Bad(f"{len(acts)} activations for {len(sizes)} layers")
    layer_acts = [_activation(a, f"layer {l + 2}") for l, a in enumerate(acts)]
    input_act = _activation(_get(arch, "input_activation", (str, dict)), "input layer")
    cost = _get(arch, "cost", str)
    if cost not in COSTS:
        raise _Bad(f"unknown cost {cost!r}")
    dtype_name = _get(arch, "dtype", str)
    if dtype_name not in ("float32", "float64"):
        raise _Bad(f"unsupported dtype {dtype_name!r}")
    init = _get(arch, "init", str, optional=True)
    try:
        net = Network(
            sizes,
            activation=layer_acts[:-1],
            output_activation=layer_acts[-1],
            cost=cost,
            input_activation=input_act,
            init=init,
            dtype=np.dtype(dtype_name),
        )
    except ValueError as exc:
        raise _Bad(f"invalid architecture: {exc}") from None
    for l in range(2, len(sizes) + 1):
        for name, shape, params in (
            (f"W{l}", (sizes[l - 1], sizes[l - 2]), net.weights),
            (f"b{l}", (sizes[l - 1],), net.biases),
        ):
            arr = arrays.get(name)
            if arr is None:
                raise _Bad(f"the array {name!r} is missing")
            if arr.shape != shape or arr.dtype != net.dtype:
                raise _Bad(
                    f"{name} has shape {arr.shape} and dtype {arr.dtype}, expected "
                    f"{shape} and {net.dtype}"
                )
            if not np.all(np.isfinite(arr)):
                raise _Bad(f"{name} contains NaN or inf")
            params[l - 2] = arr if arr.flags.writeable else arr.copy()

    task = _get(meta, "task", str)
    if task not in ("classification", "regression"):
        raise _Bad(f"unknown task {task!r}")
    class_names = meta.get("class_names")
    if class_names is not None:
        class_names = _str_list(class_names, "class_names")
        n_classes = 2 if sizes[-1] == 1 else sizes[-1]
        if len(class_names) != n_classes:
            raise _Bad(f"{len(class_names)} class names for {n_classes} classes")
    if task == "classification" and class_names is None:
        raise _Bad("a classifier without class names")
    feature_names = _str_list(meta.get("feature_names") or [], "feature_names")
    target_name = _get(meta, "target_name", str, optional=True)

    preprocessing = None
    pre = _get(meta, "preprocessing", dict, optional=True)
    if pre is not None:
        kind = _get(pre, "kind", str)
        scaler_params = {
            k[len("preprocessing.") :]: v
            for k, v in arrays.items()
            if k.startswith("preprocessing.")
        }
        target_kind = _get(pre, "target", str, optional=True)
        try:
            target = None
            if target_kind is not None:
                if target_kind != Standardizer.kind:
                    raise _Bad(f"unknown target scaling {target_kind!r}")
                target = make_scaler(
                    target_kind,
                    {
                        k[len("target_scaling.") :]: v
                        for k, v in arrays.items()
                        if k.startswith("target_scaling.")
                    },
                )
            encoding = None
            if pre.get("encoding") is not None:
                encoding = TableEncoding.from_json(pre["encoding"])
                if encoding.n_inputs != sizes[0]:
                    raise _Bad(
                        f"the table encoding gives {encoding.n_inputs} inputs, but the "
                        f"network has {sizes[0]}"
                    )
            preprocessing = Preprocessing(make_scaler(kind, scaler_params), target, encoding)  # type: ignore[arg-type]
        except ValueError as exc:
            raise _Bad(str(exc)) from None
        n_in = preprocessing.n_features
        if n_in is not None and n_in != sizes[0]:
            raise _Bad(f"preprocessing for {n_in} features, but the network has {sizes[0]} inputs")
    net.history = _history(meta, len(sizes) - 1)
    _check_settings(meta)
    net.preprocessing = preprocessing
    net.class_names = class_names
    net.metadata = meta
    net.task = task
    twice = sorted({n for n in feature_names if feature_names.count(n) > 1})
    if twice:
        raise _Bad(
            f"the feature names name {', '.join(repr(n) for n in twice[:5])} more "
            f"than once, so a table's columns cannot be matched to them by name"
        )
    return Model(
        network=net,
        preprocessing=preprocessing,
        class_names=class_names,
        task=task,
        feature_names=feature_names,
        target_name=target_name,
        metadata=meta,
    )


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _history(meta: dict[str, Any], n_layers: int) -> History:
    """The saved history, every field a list of one entry per epoch, or :class:`_Bad`."""
    saved = _get(meta, "history", dict, optional=True) or {}
    fields = History.__dataclass_fields__
    epochs = saved.get("epoch")
    n = len(epochs) if isinstance(epochs, list) else 0
    for key, value in saved.items():
        if key not in fields:
            continue
        if not isinstance(value, list) or len(value) != n:
            raise _Bad(f"history {key!r} is not a list of {n} entries (one per epoch)")
        if key == "epoch":
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        elif key == "grad_norms":
            ok = all(
                isinstance(v, list) and len(v) == n_layers and all(map(_is_number, v))
                for v in value
            )
        else:
            ok = all(map(_is_number, value))
        if not ok:
            raise _Bad(f"history {key!r} holds something other than numbers")
    full = {
        k: saved.get(k, [None] * n if k != "grad_norms" else [[None] * n_layers] * n)
        for k in fields
    }
    return History.from_dict(full)


#: Entries of the ``data`` and ``training`` metadata that chainrule reads back, and
#: the JSON types they must have (None is always allowed).
_SETTING_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "data": {
        "name": (str,),
        "seed": (int,),
        "test_fraction": (int, float),
        "val_fraction": (int, float),
        "n_rows": (int,),
        "n_train": (int,),
        "n_val": (int,),
        "n_test": (int,),
    },
    "training": {"seed": (int,), "n_samples": (int,), "noise": (int, float)},
}


def _check_settings(meta: dict[str, Any]) -> None:
    """``data`` and ``training`` are JSON objects whose known entries have their types."""
    for group, types in _SETTING_TYPES.items():
        values = meta.get(group)
        if values is None:
            meta[group] = {}
            continue
        if not isinstance(values, dict):
            raise _Bad(f"metadata {group!r} must be a JSON object, got {type(values).__name__}")
        for key, kinds in types.items():
            v = values.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, kinds)):
                raise _Bad(f"metadata {group}.{key} has the wrong type ({type(v).__name__})")


def load_model(path: str | os.PathLike[str]) -> Model:
    """Load a model file written by :func:`save_model` (or ``Network.save``).

    Never unpickles: the archive is opened with ``allow_pickle=False``.

    Raises
    ------
    ModelFileError
        For a missing, empty, truncated or corrupted file, a file that is not a
        chainrule model, or one written in a newer format version.
    """

    p = Path(path)
    try:  # a regular file (no FIFO, device, directory), no larger than the memory left
        raw = read_input_bytes(p, "model file")
    except InputFileError as exc:
        raise ModelFileError(str(exc)) from None
    if raw[:4] != b"PK\x03\x04":
        raise ModelFileError(f"{p}: not a chainrule model file (not an .npz archive)")
    try:
        # Bounded before allocating: the members are listed, the array headers read and
        # checked against the metadata, and only then is any array inflated (exactly
        # the bytes its checked header declares).
        with ModelArchive(raw) as archive:
            if METADATA_KEY not in archive.names:
                raise ModelFileError(
                    f"{p}: not a chainrule model file (no {METADATA_KEY} metadata entry)"
                )
            archive.check_names(_known_member)
            meta = _read_metadata(archive.read(METADATA_KEY, max_bytes=MAX_METADATA_BYTES))
            if meta.get("format", FORMAT_NAME) != FORMAT_NAME:
                raise _Bad(f"format {meta.get('format')!r} is not {FORMAT_NAME!r}")
            version = _get(meta, "format_version", int)
            if version > FORMAT_VERSION:
                raise ModelFileError(
                    f"{p}: written in model format version {version} (by chainrule "
                    f"{meta.get('chainrule_version', '?')}); this chainrule {__version__} reads "
                    f"versions up to {FORMAT_VERSION}: upgrade chainrule to load it"
                )
            if version < 1:
                raise _Bad(f"bad format version {version}")
            names = [k for k in archive.names if k != METADATA_KEY]
            _check_headers(meta, {k: archive.header(k) for k in names})
            arrays = {k: archive.read(k) for k in names}
        model = _build(meta, arrays)
        check_model_meaning(model, p)
        return model
    except ModelFileError:
        raise
    except _Bad as exc:
        raise ModelFileError(f"{p}: corrupted model file: {exc}") from None
    except ArchiveError as exc:
        raise ModelFileError(f"{p}: corrupted or truncated model file: {exc}") from None
    except MemoryError:
        raise ModelFileError(f"{p}: too large to load into memory") from None
    except (
        ValueError,
        OSError,
        EOFError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        zipfile.BadZipFile,
        zlib.error,
        RecursionError,
        NotImplementedError,
        RuntimeError,
        OverflowError,
        SyntaxError,
        tokenize.TokenError,
    ) as exc:
        # RuntimeError: what zipfile raises for a feature it cannot read (a password).
        # ValueError covers bad JSON, bad UTF-8 and the like.
        raise ModelFileError(
            f"{p}: corrupted or truncated model file ({type(exc).__name__}: {str(exc)[:100]})"
        ) from None


#: Array groups besides the weights: ``GROUP.<param>`` holds a fitted scaler's array.
ARRAY_GROUPS = ("preprocessing.", "target_scaling.")


def _known_member(name: str) -> bool:
    if name == METADATA_KEY or name.startswith(ARRAY_GROUPS):
        return True
    return name[:1] in ("W", "b") and name[1:].isdigit()


def _sizes(meta: dict[str, Any]) -> list[int]:
    sizes = _get(_get(meta, "architecture", dict), "sizes", list)
    if len(sizes) < 2 or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise _Bad(f"bad layer sizes {sizes!r}"[:200])
    return sizes


def _check_headers(
    meta: dict[str, Any], headers: dict[str, tuple[tuple[int, ...], np.dtype]]
) -> None:
    """Every array's header (shape, dtype) is what the metadata's architecture says.

    Runs before any array is inflated, so a file cannot make chainrule allocate
    more than its own architecture needs.
    """
    sizes = _sizes(meta)
    dtype_name = _get(_get(meta, "architecture", dict), "dtype", str)
    if dtype_name not in ("float32", "float64"):
        raise _Bad(f"unsupported dtype {dtype_name!r}")
    expected: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for l in range(2, len(sizes) + 1):
        expected[f"W{l}"] = ((sizes[l - 1], sizes[l - 2]), np.dtype(dtype_name))
        expected[f"b{l}"] = ((sizes[l - 1],), np.dtype(dtype_name))
    for name in expected:
        if name not in headers:  # before Network(sizes) would allocate it
            raise _Bad(f"the array {name!r} is missing")
    for name, (shape, dtype) in headers.items():
        if name in expected:
            want_shape, want_dtype = expected[name]
        elif name.startswith("preprocessing."):
            want_shape, want_dtype = (sizes[0],), np.dtype(np.float64)
        elif name.startswith("target_scaling.") and len(shape) == 1 and shape[0] <= sizes[-1]:
            want_shape, want_dtype = shape, np.dtype(np.float64)
        elif name.startswith("target_scaling."):
            want_shape, want_dtype = (sizes[-1],), np.dtype(np.float64)
        else:
            raise _Bad(f"the array {name!r} does not belong to a {len(sizes)}-layer network")
        if shape != want_shape or dtype != want_dtype:
            raise _Bad(
                f"{name} has shape {shape} and dtype {dtype}, expected {want_shape} "
                f"and {want_dtype}"
            )


#: Scaler arrays that divide the features (``(x - mean) / scale``, ``(x - low) / range``):
#: each entry must be a positive, normal float, or the inputs become inf or NaN.
DIVISORS = frozenset({"scale", "range", "std", "iqr", "width"})


def _meaning_errors(model: Model) -> list[str]:
    """What in a built model is well-formed but meaningless (see :func:`check_model_meaning`)."""
    problems: list[str] = []
    pre = model.preprocessing
    scalers = (
        []
        if pre is None
        else [
            ("preprocessing", getattr(pre, "features", None)),
            ("target_scaling", getattr(pre, "target", None)),
        ]
    )
    tiny = np.finfo(np.float64).tiny
    for group, scaler in scalers:
        params = scaler.params() if scaler is not None and hasattr(scaler, "params") else {}
        for name, values in params.items():
            arr = np.asarray(values)
            if arr.dtype.kind != "f":
                problems.append(f"{group}.{name} holds {arr.dtype}, not floats")
                continue
            bad = np.flatnonzero(~np.isfinite(arr))
            if name in DIVISORS:
                bad = np.flatnonzero(~(np.isfinite(arr) & (np.abs(arr) >= tiny) & (arr > 0)))
                what = "a positive, finite number"
            else:
                what = "finite"
            if bad.size:
                more = f" ({bad.size} such entries)" if bad.size > 1 else ""
                problems.append(
                    f"{group}.{name}[{bad[0]}] is {float(arr.flat[bad[0]])!r}, "
                    f"expected {what}{more}"
                )
    encoding = model.encoding
    columns = list(getattr(encoding, "columns", None) or [])
    for c in columns:
        fill = getattr(c, "fill", None)
        if isinstance(fill, float) and not math.isfinite(fill):
            problems.append(
                f"the fill value of column {c.name!r} is {fill!r}, expected a finite number"
            )
    problems += _pipeline_errors(encoding, columns)
    names = list(model.feature_names)
    if columns:
        problems += _duplicates([c.name for c in columns], "the table encoding's columns")
    problems += _duplicates(names, "feature_names")
    problems += _duplicates(list(model.class_names or []), "class_names")
    if names and len(names) != model.n_columns:
        problems.append(
            f"{len(names)} feature_names for the {model.n_columns} input columns the model reads"
        )
    if names and columns and names != [c.name for c in columns]:
        problems.append("feature_names differ from the table encoding's column names")
    return problems


def _pipeline_errors(encoding: Any, columns: list[Any]) -> list[str]:
    """The table pipeline's stored steps that contradict each other: categories twice or
    a fill category that is none of them, date features other than those training
    derives, a date fill that is no date, roles that disagree with the encoding."""
    from .data.roles import DATE_FEATURES, HOUR_FEATURES, parse_dates

    problems: list[str] = []
    dates = (list(DATE_FEATURES), list(DATE_FEATURES) + list(HOUR_FEATURES))
    for c in columns:
        if c.kind == "category":
            cats = list(c.categories)
            twice = next((v for i, v in enumerate(cats) if v in cats[:i]), None)
            if twice is not None:
                problems.append(
                    f"column {c.name!r} lists the category {twice!r} more than "
                    f"once (one 0/1 input each)"
                )
            if isinstance(c.fill, str) and c.fill and c.fill not in c.categories:
                problems.append(
                    f"the fill value of column {c.name!r} is {c.fill!r}, which is "
                    f"not one of its categories"
                )
        elif c.kind == "date":
            if list(c.derived) not in dates:
                problems.append(
                    f"column {c.name!r} derives the date features "
                    f"{', '.join(c.derived)}, expected {', '.join(dates[0])} "
                    f"(and hour_sin, hour_cos for times)"
                )
            if c.fill is not None:
                try:
                    parse_dates(np.array([str(c.fill)]))
                except ValueError:
                    problems.append(
                        f"the fill value of date column {c.name!r} is "
                        f"{str(c.fill)[:40]!r}, expected an ISO 8601 date"
                    )
    roles = list(getattr(encoding, "roles", None) or [])
    if not roles:
        return problems
    problems += _duplicates([r.name for r in roles], "the column roles")
    by_name = {r.name: r for r in roles}
    kinds = {"numeric": "number", "categorical": "category", "date": "date", "text": "words"}
    for c in columns:
        role = by_name.get(c.name)
        if role is None or role.role not in kinds:
            what = "no role" if role is None else f"the role {role.role!r}"
            problems.append(
                f"the network reads column {c.name!r}, which has {what} in the column roles"
            )
        elif (
            (role.role == "date") != (c.kind == "date")
            or (role.role == "text") != (c.kind == "words")
            or (role.words is not None and list(role.words) != list(c.words))
            or (role.role == "categorical" and c.kind != "category")
            or (c.kind == "number" and role.parse != c.parse)
        ):
            problems.append(
                f"column {c.name!r} is a {c.kind} column of the encoding but has "
                f"the role {role.role!r}" + (f" (parse {role.parse!r})" if role.parse else "")
            )
    id_column = getattr(encoding, "id_column", None)
    if id_column and (id_column not in by_name or by_name[id_column].role != "excluded"):
        problems.append(
            f"the id column {id_column!r} is not an excluded column of the column roles"
        )
    return problems


def _duplicates(names: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return [f"{what} names {name!r} more than once (each column must have its own name)"]
        seen.add(name)
    return []


def check_model_meaning(model: Model, where: str | os.PathLike[str] = "model") -> None:
    """Refuse a model whose parts are well-formed but cannot mean anything.

    The structure (types, shapes of the arrays, the architecture) is checked while the
    file is read; this checks what the numbers and names mean, on the built model:

    * every scaler array is finite, and every divisor (a standardiser's ``scale``, a
      min-max scaler's ``range``) is a positive, normal float — a scale of 0, a
      subnormal one or NaN would turn every input into inf or NaN;
    * every fill value of a numeric column is finite, a category column's fill is one
      of its (unique) categories, a date column's fill is a date;
    * a date column derives the features training derives (``year``, the month, day
      of year and weekday as sin/cos, and the hour for times);
    * the column roles name each column once, agree with the encoding (a column the
      network reads is numeric, categorical, a date or text (words) there, with the same
      number parsing and, for ``--text COL=w1,w2``, the same words), and the ID column is
      one of the excluded columns;
    * feature names, table columns and class names are unique — with a name twice,
      ``predict`` would read one column in two places;
    * there is one feature name per input column, and they are the encoding's columns.

    Raises
    ------
    ModelFileError
        ``"WHERE: corrupted model file: …"``, naming the first problem (and how many
        entries share it).
    """
    problems = _meaning_errors(model)
    if problems:
        raise ModelFileError(f"{where}: corrupted model file: {problems[0]}")


def load(path: str | os.PathLike[str], *, backend: Any = None, device: Any = None) -> Network:
    """Load a model file and return its :class:`Network`.

    The file holds NumPy arrays; ``backend`` and ``device`` (as for
    :meth:`Network.to`, e.g. ``backend="torch", device="cuda"``) place the
    parameters there.

    The network carries what was saved with it: ``net.preprocessing`` (a fitted
    scaler or None), ``net.class_names``, ``net.metadata`` (the file's JSON) and
    ``net.history``.  For prediction on raw features use
    :func:`load_model`, whose :class:`Model` applies the preprocessing.
    """
    net = load_model(path).network
    return net if backend is None and device is None else net.to(backend, device=device)


# Network.save writes through this module (the network does not import upwards).
register_model_writer(save_model)
