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
the target (:func:`atomic_write`), so an interrupted save leaves the previous
file intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from .data.preprocessing import Preprocessing, Scaler, Standardizer, make_scaler
from .functions import ACTIVATIONS, COSTS, Activation, Cost
from .network import Network
from .training.history import History

__all__ = [
    "FORMAT_VERSION",
    "METADATA_KEY",
    "Model",
    "ModelFileError",
    "OutputPathError",
    "atomic_write",
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


class OutputPathError(ValueError):
    """An output path that cannot be written: a directory, or in a missing folder."""


# ---------------------------------------------------------------------- atomic writes


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Check, before any work is done, that a file can be written at ``path``.

    Raises
    ------
    OutputPathError
        When ``path`` is a directory or its folder does not exist.
    """
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"{p}: is a directory, expected a file name")
    folder = p.parent
    if not folder.is_dir():
        raise OutputPathError(f"{p}: the folder {str(folder)!r} does not exist")
    return p


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Write a file so that readers see the old content or the new, never a part.

    ``write(f)`` fills a temporary file in the same folder; it is flushed and
    fsync'ed, then renamed over ``path`` (``os.replace`` is atomic on POSIX and
    Windows within one file system).  If anything fails — including ``write``
    raising or the process being interrupted — the temporary file is removed and
    an existing ``path`` is untouched.
    """
    p = check_output_path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the permissions a plain
        # open() would have given.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable (not possible on every platform).
    with contextlib.suppress(OSError, AttributeError):
        dir_fd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return p


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
    def history(self) -> History:
        """The per-epoch training history saved with the model."""
        return self.network.history

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Raw features ``(n, n_features)`` → network inputs in the network's dtype."""
        arr = np.asarray(X)
        if self.preprocessing is not None:
            arr = self.preprocessing.transform(arr.astype(np.float64, copy=False))
        return arr.astype(self.network.dtype, copy=False)

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """The output activations ``a^L`` for raw features, shape ``(n, N_L)``."""
        return self.network.feedforward(self.transform(X))

    def predict_indices(self, X: npt.ArrayLike) -> np.ndarray:
        """Class indices (classification) or values in the target's units (regression)."""
        out = self.network.predict(self.transform(X))
        if self.task == "regression" and self.preprocessing is not None:
            out = self.preprocessing.inverse_target(out)
        return out

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Class names (classification) or output values (regression) for raw features."""
        out = self.predict_indices(X)
        if self.task == "classification" and self.class_names:
            return np.asarray(self.class_names)[out]
        return out


# ---------------------------------------------------------------------- saving


def _activation_spec(act: Activation, where: str) -> dict[str, Any]:
    if type(act) is not ACTIVATIONS.get(act.name):
        raise ValueError(f"cannot save the custom activation {act.name!r} ({where}): only the "
                         f"named activations ({', '.join(sorted(ACTIVATIONS))}) can be saved")
    params: dict[str, Any] = dataclasses.asdict(act) if dataclasses.is_dataclass(act) else {}
    return {"name": act.name, **params}


def _cost_spec(cost: Cost) -> str:
    if type(cost) is not COSTS.get(cost.name):
        raise ValueError(f"cannot save the custom cost {cost.name!r}: only the named costs "
                         f"({', '.join(sorted(COSTS))}) can be saved")
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
    raise ValueError(f"cannot store {type(value).__name__} {value!r} in a model file: "
                     f"metadata must be plain numbers, strings, lists and dicts")


def model_metadata(
    network: Network, *, preprocessing: Preprocessing | None, class_names: list[str] | None,
    task: str, feature_names: list[str] | None, target_name: str | None,
    training: dict[str, Any] | None, data: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON metadata of a model file (see the module docstring)."""
    from . import __version__  # here, not at the top: chainrule/__init__ imports this module
    architecture = {
        "sizes": list(network.sizes),
        "activations": [_activation_spec(a, f"layer {l + 2}")
                        for l, a in enumerate(network.activations)],
        "input_activation": _activation_spec(network.input_activation, "input layer"),
        "cost": _cost_spec(network.cost),
        "init": network.init,
        "dtype": network.dtype.name,
    }
    return _plain({
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "architecture": architecture,
        "task": task,
        "class_names": class_names,
        "feature_names": feature_names or [],
        "target_name": target_name,
        "preprocessing": None if preprocessing is None else {
            "kind": preprocessing.features.kind,
            "arrays": list(preprocessing.features.param_names),
            "target": None if preprocessing.target is None else preprocessing.target.kind},
        "training": training or {},
        "data": data or {},
        "history": network.history.to_dict(),
    })


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
    task = old.get("task") or ("classification" if network.is_classifier or class_names
                               else "regression")
    if class_names is not None and not class_names:
        class_names = None
    n_out = network.sizes[-1]
    if task == "classification":
        n_classes = 2 if n_out == 1 else n_out
        if class_names is None:
            class_names = [str(i) for i in range(n_classes)]
        class_names = [str(c) for c in class_names]
        if len(class_names) != n_classes:
            raise ValueError(f"class_names has {len(class_names)} names, but the network's "
                             f"{n_out} output(s) give {n_classes} classes")
    if preprocessing is not None:
        arrays_p = {f"preprocessing.{k}": v for k, v in preprocessing.features.params().items()}
        if preprocessing.target is not None:
            arrays_p.update({f"target_scaling.{k}": v
                             for k, v in preprocessing.target.params().items()})
        n_in = preprocessing.n_features
        if n_in is not None and n_in != network.sizes[0]:
            raise ValueError(f"the preprocessing was fitted on {n_in} features, but the "
                             f"network has {network.sizes[0]} inputs")
    else:
        arrays_p = {}
    meta = model_metadata(network, preprocessing=preprocessing, class_names=class_names,
                          task=task, feature_names=feature_names, target_name=target_name,
                          training=training, data=data)
    arrays: dict[str, np.ndarray] = {
        METADATA_KEY: np.frombuffer(json.dumps(meta, allow_nan=False).encode(), dtype=np.uint8)
    }
    for l in range(2, len(network.sizes) + 1):
        arrays[f"W{l}"] = np.ascontiguousarray(network.weights[l - 2], dtype=network.dtype)
        arrays[f"b{l}"] = np.ascontiguousarray(network.biases[l - 2], dtype=network.dtype)
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
    allowed: set[str] = ({f.name for f in dataclasses.fields(cls)}
                         if dataclasses.is_dataclass(cls) else set())
    if set(params) - allowed or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in params.values()):
        raise _Bad(f"bad parameters {params!r} for the {where}'s activation {name!r}")
    return cls(**params)


def _read_metadata(entry: np.ndarray) -> dict[str, Any]:
    if entry.dtype == np.uint8 and entry.ndim == 1:
        text = entry.tobytes().decode("utf-8")
    elif entry.dtype.kind == "U" and entry.ndim == 0:
        text = str(entry)
    else:
        raise _Bad(f"the metadata entry has dtype {entry.dtype} and shape {entry.shape}")
    meta = json.loads(text)
    if not isinstance(meta, dict):
        raise _Bad("metadata is not a JSON object")
    return meta


def _build(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Model:
    arch = _get(meta, "architecture", dict)
    sizes = _get(arch, "sizes", list)
    if len(sizes) < 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                                 for s in sizes):
        raise _Bad(f"bad layer sizes {sizes!r}")
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
        net = Network(sizes, activation=layer_acts[:-1], output_activation=layer_acts[-1],
                      cost=cost, input_activation=input_act, init=init,
                      dtype=np.dtype(dtype_name))
    except ValueError as exc:
        raise _Bad(f"invalid architecture: {exc}") from None
    for l in range(2, len(sizes) + 1):
        for name, shape, params in ((f"W{l}", (sizes[l - 1], sizes[l - 2]), net.weights),
                                    (f"b{l}", (sizes[l - 1],), net.biases)):
            arr = arrays.get(name)
            if arr is None:
                raise _Bad(f"the array {name!r} is missing")
            if arr.shape != shape or arr.dtype != net.dtype:
                raise _Bad(f"{name} has shape {arr.shape} and dtype {arr.dtype}, expected "
                           f"{shape} and {net.dtype}")
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
        scaler_params = {k[len("preprocessing."):]: v for k, v in arrays.items()
                         if k.startswith("preprocessing.")}
        target_kind = _get(pre, "target", str, optional=True)
        try:
            target = None
            if target_kind is not None:
                if target_kind != Standardizer.kind:
                    raise _Bad(f"unknown target scaling {target_kind!r}")
                target = make_scaler(target_kind, {
                    k[len("target_scaling."):]: v for k, v in arrays.items()
                    if k.startswith("target_scaling.")})
            preprocessing = Preprocessing(make_scaler(kind, scaler_params),
                                          target)  # type: ignore[arg-type]
        except ValueError as exc:
            raise _Bad(str(exc)) from None
        n_in = preprocessing.n_features
        if n_in is not None and n_in != sizes[0]:
            raise _Bad(f"preprocessing for {n_in} features, but the network has {sizes[0]} "
                       f"inputs")
    history = _get(meta, "history", dict, optional=True) or {}
    for key, value in history.items():
        if not isinstance(value, list):
            raise _Bad(f"history {key!r} is not a list")
    try:
        net.history = History.from_dict(history)
    except TypeError as exc:
        raise _Bad(f"bad history ({exc})") from None
    net.preprocessing = preprocessing
    net.class_names = class_names
    net.metadata = meta
    return Model(network=net, preprocessing=preprocessing, class_names=class_names, task=task,
                 feature_names=feature_names, target_name=target_name, metadata=meta)


def load_model(path: str | os.PathLike[str]) -> Model:
    """Load a model file written by :func:`save_model` (or ``Network.save``).

    Never unpickles: the archive is opened with ``allow_pickle=False``.

    Raises
    ------
    ModelFileError
        For a missing, empty, truncated or corrupted file, a file that is not a
        chainrule model, or one written in a newer format version.
    """
    from . import __version__
    from .data.files import DataFileError, read_bytes

    p = Path(path)
    try:  # the same checks and messages as for data files, as a model-file error
        raw = read_bytes(p, "model file")
    except DataFileError as exc:
        raise ModelFileError(str(exc)) from None
    if raw[:4] != b"PK\x03\x04":
        raise ModelFileError(f"{p}: not a chainrule model file (not an .npz archive)")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            if METADATA_KEY not in archive.files:
                raise ModelFileError(f"{p}: not a chainrule model file (no {METADATA_KEY} "
                                     f"metadata entry)")
            meta = _read_metadata(archive[METADATA_KEY])
            if meta.get("format", FORMAT_NAME) != FORMAT_NAME:
                raise _Bad(f"format {meta.get('format')!r} is not {FORMAT_NAME!r}")
            version = _get(meta, "format_version", int)
            if version > FORMAT_VERSION:
                raise ModelFileError(
                    f"{p}: written in model format version {version} (by chainrule "
                    f"{meta.get('chainrule_version', '?')}); this chainrule {__version__} reads "
                    f"versions up to {FORMAT_VERSION}: upgrade chainrule to load it")
            if version < 1:
                raise _Bad(f"bad format version {version}")
            arrays = {k: archive[k] for k in archive.files if k != METADATA_KEY}
        return _build(meta, arrays)
    except ModelFileError:
        raise
    except _Bad as exc:
        raise ModelFileError(f"{p}: corrupted model file: {exc}") from None
    except (ValueError, OSError, EOFError, KeyError, IndexError, TypeError, AttributeError,
            zipfile.BadZipFile, zlib.error, RecursionError, NotImplementedError,
            OverflowError, MemoryError, SyntaxError, tokenize.TokenError) as exc:
        if "allow_pickle" in str(exc):
            raise ModelFileError(f"{p}: holds a pickled object array, which chainrule never "
                                 f"loads (unpickling can run code): not a valid model file"
                                 ) from None
        # ValueError covers bad JSON, bad UTF-8 and the like.
        raise ModelFileError(f"{p}: corrupted or truncated model file "
                             f"({type(exc).__name__}: {str(exc)[:100]})") from None


def load(path: str | os.PathLike[str]) -> Network:
    """Load a model file and return its :class:`Network`.

    The network carries what was saved with it: ``net.preprocessing`` (a fitted
    scaler or None), ``net.class_names``, ``net.metadata`` (the file's JSON) and
    ``net.history``.  For prediction on raw features use
    :func:`load_model`, whose :class:`Model` applies the preprocessing.
    """
    return load_model(path).network
