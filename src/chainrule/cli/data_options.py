"""Where ``chainrule train`` gets its data: options, loading, splitting and scaling.

``--data`` names a bundled data set (``chainrule datasets`` lists them), ``mnist``
(with ``--data-dir``), or a data file (CSV, ``.npz``, ``.npy``, IDX).  The data are
split (seeded, stratified for classification), and the scaling is fitted on the
training split only; the fitted scaler travels with the saved model.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import (
    DATASETS,
    DataFileError,
    Dataset,
    IDXError,
    MinMaxScaler,
    NoScaling,
    Scaler,
    Standardizer,
    load_dataset,
    make_scaler,
    read_data_file,
    split_indices,
)
from ..data.files import TASKS
from ..data.files import _sniff as sniff
from ..data.mnist import load_mnist
from ..data.pipeline import (
    TablePipeline,
    drop_missing,
    exclude_columns,
    fingerprint,
    unscaled_one_hot,
)
from ..data.preprocessing import SCALERS
from ..data.roles import ColumnRole, RolesError, decide_roles, describe_roles
from ..data.tables import MISSING_POLICIES, TableEncoding
from .common import OWN_DEFAULT, CLIError, positive_int

__all__ = [
    "OWN_DEFAULT",
    "TrainingData",
    "add_data_arguments",
    "add_file_arguments",
    "load_training_data",
]


@dataclass
class TrainingData:
    """The splits ``train`` works on, already preprocessed, in the requested dtype."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_outputs: int
    task: str
    class_names: list[str]
    preprocessing: Scaler
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)
    target_name: str | None = None
    #: Standardises a regression target (fitted on the training split), else None.
    target_scaler: Standardizer | None = None
    #: What the model file records about the data.
    source: dict[str, Any] = field(default_factory=dict)
    #: Text columns and missing cells of a table (None when the data need neither).
    encoding: TableEncoding | None = None
    #: ``--class-weight balanced``: one weight per training row, else None.
    sample_weight: np.ndarray | None = None

    @property
    def validation(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The validation split (carved from the training rows), or None: the test rows
        are never used as validation."""
        if self.X_val is not None and self.y_val is not None and len(self.X_val):
            return self.X_val, self.y_val
        return None


def add_file_arguments(g: argparse._ArgumentGroup) -> None:
    """Options describing a data file (shared by train, evaluate and predict)."""
    g.add_argument(
        "--target",
        default=None,
        metavar="COL",
        help="target column of a CSV/.npy file: a header name or a 0-based "
        "index (default: the last column; for a saved model, the column "
        "named as in training if the header has it)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether a CSV file's first line names the columns (default: detected)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--x-key", default="X", help="features array in an .npz file (default: X)" + OWN_DEFAULT
    )
    g.add_argument(
        "--y-key", default="y", help="target array in an .npz file (default: y)" + OWN_DEFAULT
    )
    g.add_argument(
        "--labels",
        default=None,
        metavar="FILE",
        help="IDX label file for an IDX image file" + OWN_DEFAULT,
    )
    g.add_argument(
        "--decimal",
        choices=[".", ","],
        default=".",
        help="decimal mark of numbers in a CSV file (',' for 3,5; use a ';' or tab delimiter then)",
    )


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Options that choose, split and scale the data."""
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        default="digits",
        metavar="NAME|FILE",
        help=f"a bundled data set ({', '.join(DATASETS)}), 'mnist' with "
        "--data-dir, or a CSV/.npz/.npy/IDX file",
    )
    add_file_arguments(g)
    g.add_argument(
        "--missing",
        choices=MISSING_POLICIES,
        default="error",
        help="rows with missing cells (empty, NA, NaN, ?): refuse them (error), "
        "leave them out of training (drop), or fill each cell with the training "
        "split's median, or most frequent text (impute, saved in the model)",
    )
    g.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="for a data file (default: classification for text or few "
        "integer labels, else regression)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="folder with the four MNIST files (for --data mnist)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--n-samples",
        type=positive_int,
        default=None,
        help="points in a generated data set (xor, spirals, moons, circles)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--noise",
        type=float,
        default=None,
        help="noise standard deviation of a generated data set" + OWN_DEFAULT,
    )
    g.add_argument(
        "--scale",
        choices=sorted(SCALERS),
        default=None,
        help="feature scaling fitted on the training split (default: standard; "
        "none for mnist, whose pixels are already in [0, 1])" + OWN_DEFAULT,
    )
    g.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="fraction of the data held out for the final test (0: train on "
        "every row, no test score)",
    )
    g.add_argument(
        "--test-data",
        default=None,
        metavar="FILE",
        help="a separate test table (same columns, by name) instead of "
        "--test-fraction" + OWN_DEFAULT,
    )
    g.add_argument(
        "--exclude",
        nargs="+",
        default=None,
        metavar="COL",
        help="columns of a table not to use (roles are printed at the start)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--categorical",
        nargs="+",
        default=None,
        metavar="COL",
        help="columns to one-hot encode even if numeric or ID-like" + OWN_DEFAULT,
    )
    g.add_argument(
        "--date",
        nargs="+",
        default=None,
        metavar="COL",
        help="columns holding dates or times (ISO 8601 ones are found without "
        "it): year, month, day of year, weekday (and hour) features" + OWN_DEFAULT,
    )
    g.add_argument(
        "--text",
        nargs="+",
        default=None,
        metavar="COL[=WORDS]",
        help="free-text columns as a bag of words: one 0/1 input per word found in at "
        "least 5 training rows (and 1%%), at most 50; COL=w1,w2,… uses exactly those "
        "words (free text with frequent words is found without it; --exclude COL "
        "leaves a column out)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--id-column",
        default=None,
        metavar="COL",
        help="a row identifier: not a feature; predict writes it as its first column" + OWN_DEFAULT,
    )
    g.add_argument(
        "--class-weight",
        choices=["balanced"],
        default=None,
        help="weight each training row by n / (classes · rows of its class)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="fraction of the rows carved from the training rows for validation "
        "(per-epoch val_* metrics; default 0: none, or 10%% of the training rows "
        "when early stopping needs them; mnist: the last 10,000 training images)" + OWN_DEFAULT,
    )


def _load(args: argparse.Namespace) -> Dataset:
    name = args.data
    generated = {"n_samples": args.n_samples, "noise": args.noise}
    if name in DATASETS and Path(name).is_file():
        # A file the user has here is what they mean; say so, since the name is ambiguous.
        print(
            f"note: --data {name}: reading the local file ./{name}, not the bundled data set "
            f"{name!r} (rename or move the file to use the bundled one)",
            file=sys.stderr,
        )
    elif name in DATASETS:
        try:
            return load_dataset(name, seed=args.seed, **generated)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    if any(v is not None for v in generated.values()):
        raise CLIError(
            "--n-samples and --noise apply only to the generated data sets "
            "(xor, spirals, moons, circles)"
        )
    path = Path(name)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1:
        raise CLIError(
            f"unknown data set {name!r}: expected one of {', '.join(DATASETS)}, "
            f"mnist, or a data file"
        )
    try:
        data = read_data_file(
            path,
            target=args.target,
            header=args.header,
            task=args.task,
            x_key=args.x_key,
            y_key=args.y_key,
            labels=args.labels,
            missing_target="drop",
            decimal=args.decimal,
        )
    except DataFileError as exc:
        raise CLIError(str(exc)) from None
    if data.y.size == 0:
        raise CLIError(f"{path}: no target to train on (an IDX image file needs --labels FILE)")
    return data


def _scaler(args: argparse.Namespace, default: str) -> Scaler:
    return make_scaler(args.scale or default)


def _mnist(args: argparse.Namespace, dtype: np.dtype) -> TrainingData:
    if args.data_dir is None:
        raise CLIError(
            "--data mnist needs --data-dir DIR, the folder with the four MNIST "
            "files (train-images-idx3-ubyte.gz and its siblings)"
        )
    # Nielsen's split holds the last 10,000 training images out for validation;
    # --val-fraction chooses another share (e.g. for a small subset of MNIST).
    n_validation = args.val_fraction if args.val_fraction > 0 else 10_000
    try:
        m = load_mnist(args.data_dir, dtype=np.float64, n_validation=n_validation)
    except IDXError as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(f"{args.data_dir}: {exc} (choose the share with --val-fraction)") from None
    scaler = _scaler(args, "none").fit(m.X_train)
    splits = [scaler.transform(X).astype(dtype, copy=False) for X in (m.X_train, m.X_val, m.X_test)]
    return TrainingData(
        name="mnist",
        X_train=splits[0],
        y_train=m.y_train,
        X_val=splits[1],
        y_val=m.y_val,
        X_test=splits[2],
        y_test=m.y_test,
        n_outputs=10,
        task="classification",
        class_names=[str(i) for i in range(10)],
        preprocessing=_raw_pixel_scaler(scaler),
        feature_names=[f"pixel{i}" for i in range(784)],
        target_name="label",
        source={"name": "mnist", "n_train": len(m.X_train)},
    )


def _raw_pixel_scaler(scaler: Scaler) -> Scaler:
    """The saved scaler must take raw pixels 0–255 (as in the IDX files), but
    ``load_mnist`` has already divided by 255: fold that division into it.

    Both scalers are affine, ``(x/255 − a)/b = (x − 255a)/(255b)``, so their
    parameters are multiplied by 255; no scaling becomes min-max with range 255.
    """
    if isinstance(scaler, NoScaling):
        return MinMaxScaler(low=np.zeros(784), range=np.full(784, 255.0))
    params = {k: v * 255.0 for k, v in scaler.params().items()}
    return make_scaler(scaler.kind, params)


def _check_scaling(
    data: Dataset, params: dict[str, np.ndarray], names: list[str], what: str
) -> None:
    """A scaling fitted to values near the float64 limit overflows (|x| ≈ 1e200 squares to
    inf): say which column, instead of training on zeros to chance accuracy."""
    for param, values in params.items():
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            j = int(bad[0])
            name = f" ({names[j]!r})" if j < len(names) else ""
            raise CLIError(
                f"{data.name}: {what} {j + 1}{name}: its values are too large to "
                f"scale (the {param} overflows float64); rescale that column"
            )


def _is_file(name: str) -> bool:
    """Whether ``--data name`` is read from a file (not a bundled data set)."""
    return name not in DATASETS or Path(name).is_file()


def _is_table(path: str) -> bool:
    """A CSV/TSV/Parquet/Feather file (not NumPy or IDX): its columns get roles."""
    head = sniff(Path(path))
    return not (
        head[:4] == b"PK\x03\x04"
        or head[:6] == b"\x93NUMPY"
        or head[:2] in (b"\x1f\x8b", b"\x00\x00")
    )


def checked_test_fraction(args: argparse.Namespace) -> float:
    """The share of rows held out for testing (0 with ``--test-data``), after checking
    ``--test-fraction`` and ``--val-fraction`` (one process and every MPI rank alike)."""
    test_data = getattr(args, "test_data", None)
    if test_data is None and not 0.0 <= args.test_fraction < 1.0:
        raise CLIError(f"--test-fraction must be at least 0 and below 1, got {args.test_fraction}")
    test_fraction = 0.0 if test_data is not None else float(args.test_fraction)
    if not 0.0 <= args.val_fraction < 1.0 - test_fraction:
        raise CLIError(
            f"--val-fraction must be at least 0 and below 1 - --test-fraction, "
            f"got {args.val_fraction}"
        )
    return test_fraction


def load_training_data(args: argparse.Namespace, dtype: np.dtype) -> TrainingData:
    """Load, split and scale the data the options name (the table steps: chainrule.data)."""
    test_data = getattr(args, "test_data", None)
    test_fraction = checked_test_fraction(args)
    if args.data == "mnist" and not Path("mnist").is_file():
        return _mnist(args, dtype)
    data = _load(args)
    table = _is_file(args.data) and _is_table(args.data)
    if not table and _table_options(args):
        raise CLIError(
            f"{_table_options(args)[0]} applies to a table file (CSV, TSV, "
            f"Parquet, Feather), not to --data {args.data}"
        )
    note = lambda text: None if args.quiet else print(text, file=sys.stderr)  # noqa: E731
    if data.dropped.size:
        note(
            f"note: {data.name}: left out {_rows_word(len(data.dropped))} whose target "
            f"{data.target_name!r} is missing ({_lines(data.dropped, data.lines)})"
        )
    roles: list[ColumnRole] | None = None
    all_roles: list[ColumnRole] = []
    if table:
        data, roles, all_roles = _decide_roles(args, data)
    try:
        data, dropped_note = drop_missing(data, args.missing, args.data)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if dropped_note:
        note(dropped_note)
    classification = data.task == "classification"
    if classification and data.n_classes < 2:
        # Otherwise the network refuses "a softmax output needs at least 2 output units".
        only = f" ({data.class_names[0]!r})" if data.class_names else ""
        target = f"target column {data.target_name!r}" if data.target_name else "target"
        raise CLIError(
            f"{data.name}: the {target} holds one class{only} in all "
            f"{len(data.y)} rows: a classifier needs at least two "
            f"(to predict a number, use --task regression)"
        )
    try:
        train, val, test = split_indices(
            data.y,
            val_fraction=args.val_fraction,
            test_fraction=test_fraction,
            seed=args.seed,
            stratify=classification,
        )
    except ValueError as exc:
        raise CLIError(f"{data.name}: {exc}") from None
    test_set = None
    if test_data is not None:
        test_set = _read_test_file(args, data, roles)
    plain = (
        not data.text
        and len(roles or ()) == len(all_roles)
        and args.missing != "impute"
        and all(r.role == "numeric" and not r.parse for r in roles or ())
    )
    if table and roles is not None and not (plain and test_set is None):
        return _table_splits(args, dtype, data, roles, all_roles, train, val, test, test_set)
    # All columns plain numbers: no encoding; a table read here is ours to reorder and
    # scale in place (no copy of a million-row file).
    return _array_splits(args, dtype, data, train, val, test, in_place=table)


def _table_options(args: argparse.Namespace) -> list[str]:
    given = {
        "--exclude": args.exclude,
        "--categorical": args.categorical,
        "--date": args.date,
        "--id-column": args.id_column,
        "--text": getattr(args, "text", None),
        "--test-data": getattr(args, "test_data", None),
    }
    return [k for k, v in given.items() if v]


def _decide_roles(
    args: argparse.Namespace,
    data: Dataset,
    decide: Callable[..., list[ColumnRole]] = decide_roles,
    errors: type[Exception] = RolesError,
) -> tuple[Dataset, list[ColumnRole], list[ColumnRole]]:
    """Every column's role by ``decide`` (:func:`decide_roles`, or the MPI ranks' agreed
    version) from the options; ``data`` without the excluded columns, their roles, and
    every column's.  The roles block is printed now, unless a text column's words are
    known only once fitted (:func:`_print_fitted_roles`).  ``errors``: the exceptions
    that become one-line CLI errors."""
    try:
        all_roles = decide(
            data,
            exclude=args.exclude or (),
            categorical=args.categorical or (),
            dates=args.date or (),
            id_column=args.id_column,
            decimal=args.decimal,
            text=getattr(args, "text", None) or (),
        )
    except errors as exc:
        raise CLIError(str(exc)) from None
    data, roles = exclude_columns(data, all_roles)
    if not roles:
        raise CLIError(
            f"{data.name}: every feature column is excluded "
            f"({'; '.join(f'{r.name}: {r.reason}' for r in all_roles[:4])}); "
            f"keep some with --categorical COL"
        )
    if not args.quiet and not any(r.role == "text" for r in all_roles):
        _print_roles(all_roles, data.target_name)  # (text columns: once fitted)
    return data, roles, all_roles


def _print_fitted_roles(
    args: argparse.Namespace, all_roles: list[ColumnRole], pipe: TablePipeline, target: str | None
) -> None:
    """The roles block with each text column's fitted words (when there is a text column)."""
    if not args.quiet and any(r.role == "text" for r in all_roles):
        vocab = {c.name: c.words for c in pipe.encoding.columns if c.kind == "words"}
        _print_roles(all_roles, target, vocab)


def _print_roles(
    roles: list[ColumnRole], target: str | None, words: dict[str, list[str]] | None = None
) -> None:
    print("columns:")
    for line in describe_roles(roles, target, words):
        print(line)


def _rows_word(n: int) -> str:
    return f"{n} row" + ("" if n == 1 else "s")


def _lines(rows: np.ndarray, lines: np.ndarray | None, limit: int = 5) -> str:
    word = "lines" if lines is not None else "rows"
    shown = ", ".join(str(int(i)) for i in rows[:limit])
    return f"{word} {shown}" + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _read_test_file(
    args: argparse.Namespace, data: Dataset, roles: list[ColumnRole] | None
) -> Dataset:
    """``--test-data FILE``: the training table's columns, by name, and its classes."""
    classification = data.task == "classification"
    try:
        test = read_data_file(
            args.test_data,
            target=args.target,
            header=args.header,
            task=data.task,
            class_names=data.class_names if classification else None,
            columns=list(data.feature_names) if data.feature_names else None,
            target_hint=data.target_name,
            missing_target="drop",
            decimal=args.decimal,
        )
    except DataFileError as exc:
        raise CLIError(f"--test-data: {exc}") from None
    if test.dropped.size and not args.quiet:
        print(
            f"note: {test.name}: left out {len(test.dropped)} test rows whose target is "
            f"missing ({_lines(test.dropped, test.lines)})",
            file=sys.stderr,
        )
    return test


def _source(
    args: argparse.Namespace, data: Dataset, train: np.ndarray, val: np.ndarray, n_test: int
) -> dict[str, Any]:
    test_data = getattr(args, "test_data", None)
    source: dict[str, Any] = {
        "name": data.name,
        **({"file": args.data} if _is_file(args.data) else {}),
        "n_rows": len(data.y) + (n_test if test_data else 0),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": n_test,
        "test_fraction": 0.0 if test_data else args.test_fraction,
        "val_fraction": args.val_fraction,
        "seed": args.seed,
    }
    if _is_file(args.data):
        source["test"] = (
            {"how": "file", "file": str(test_data), "fingerprint": fingerprint(test_data)}
            if test_data
            else {"how": "none"}
            if args.test_fraction == 0
            else {
                "how": "fraction",
                "fraction": args.test_fraction,
                "val_fraction": args.val_fraction,
                "seed": args.seed,
                "stratified": data.task == "classification",
                "rows": len(data.y),
                "fingerprint": fingerprint(args.data),
                "missing": args.missing,
            }
        )
    return source


def _class_weights(args: argparse.Namespace, y: np.ndarray, n_classes: int) -> np.ndarray | None:
    """``--class-weight balanced``: weight n / (k · n_c) per row of class c."""
    if getattr(args, "class_weight", None) != "balanced":
        return None
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return weights[y]


def _table_splits(
    args: argparse.Namespace,
    dtype: np.dtype,
    data: Dataset,
    roles: list[ColumnRole],
    all_roles: list[ColumnRole],
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    test_set: Dataset | None,
) -> TrainingData:
    classification = data.task == "classification"
    try:
        # Every row encoded once, into a matrix of this run's own: its rows are then
        # reordered (train, validation, test), the scaler fitted on the training block
        # and applied where the rows lie, so the parts are views, as for a table of
        # numbers (:func:`_array_splits`).  The same values as ``TablePipeline.fit(data,
        # train)`` and ``pipe.transform(data)``: an encoded row depends on that row
        # alone, and the scaler's fit and transform are the same arithmetic in blocks.
        encoding = TableEncoding.fit(data, train, args.missing, roles)
        encoding.id_column = args.id_column
        X, _ = encoding.transform(data)  # unseen categories in val/test: all zeros
        parts = [train, val, test]
        if sum(len(part) for part in parts) == len(X):
            X = _reorder_rows(X, parts)
        else:  # (not every row in a part: the parts' rows gathered)
            X = X[np.concatenate(parts)]
        scaler = _scaler(args, "standard")
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below, by column
            _fit_in_blocks(scaler, X[: len(train)])
        pipe = TablePipeline(encoding, unscaled_one_hot(scaler, encoding.one_hot_inputs()))
        pipe.encoding.roles = all_roles
        _print_fitted_roles(args, all_roles, pipe, data.target_name)
        if test_set is not None:
            X_test_raw, _ = pipe.transform(test_set)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    _check_scaling(data, pipe.scaler.params(), pipe.encoding.output_names(), "column")
    _scale_in_place(pipe.scaler, X)
    X_train, X_val, X_in_test = _part_views(X, parts)
    y = data.y
    if test_set is not None:
        X_test, y_test = X_test_raw, test_set.y
    else:
        X_test, y_test = X_in_test, y[test]
    target_scaler = _target_scaler(args, data, y[train]) if not classification else None

    def scaled_y(values: np.ndarray) -> np.ndarray:
        if target_scaler is None:
            return values
        return target_scaler.transform(values[:, None] if values.ndim == 1 else values)

    n_out = data.n_classes if classification else (1 if y.ndim == 1 else y.shape[1])
    return TrainingData(
        name=data.name,
        X_train=X_train.astype(dtype, copy=False),
        y_train=scaled_y(y[train]),
        X_test=X_test.astype(dtype, copy=False),
        y_test=scaled_y(y_test),
        X_val=X_val.astype(dtype, copy=False) if len(val) else None,
        y_val=scaled_y(y[val]) if len(val) else None,
        n_outputs=n_out,
        task=data.task,
        class_names=data.class_names,
        preprocessing=pipe.scaler,
        feature_names=data.feature_names,
        target_name=data.target_name,
        target_scaler=target_scaler,
        encoding=pipe.encoding if pipe.encoding.needed or all_roles else None,
        sample_weight=_class_weights(args, y[train], data.n_classes) if classification else None,
        source=_source(args, data, train, val, len(y_test)),
    )


def _target_scaler(
    args: argparse.Namespace, data: Dataset, y_train: np.ndarray
) -> Standardizer | None:
    # Standardise a regression target too, so that the default learning rate
    # suits any units; predictions are mapped back (the scaler is saved).
    if (args.scale or "standard") == "none":
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        scaler = Standardizer().fit(y_train[:, None] if y_train.ndim == 1 else y_train)
    _check_scaling(data, scaler.params(), [], "target column")
    return scaler


def _array_splits(
    args: argparse.Namespace,
    dtype: np.dtype,
    data: Dataset,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    *,
    in_place: bool = False,
) -> TrainingData:
    """Bundled data sets, NumPy and IDX files, and tables of plain numbers: all columns
    numeric, none excluded.

    ``in_place``: ``data.X`` was read for this run alone, so its rows are reordered
    (train, validation, test) and scaled where they lie, and the parts are views of it
    (one matrix in memory, not four; docs/performance.md).  For a float32 run the scaled
    rows are then narrowed into the first half of the same memory and the rest is given
    back (:func:`_narrow_in_place`): no float32 copy beside the float64 matrix, and
    ``data.X`` is not to be read afterwards.
    """
    classification = data.task == "classification"
    # Text columns and fill values are learned from the training split only.
    encoding: TableEncoding | None = TableEncoding.fit(data, train, args.missing)
    X = data.X
    if encoding is not None and encoding.needed:
        try:
            X, _ = encoding.transform(data)  # unseen categories in val/test: all zeros
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    else:
        encoding = None
    in_place = (
        in_place
        and X.dtype == np.float64
        and X.ndim == 2
        and X.flags.c_contiguous
        and X.flags.writeable
    )
    # Scaling is fitted on the training split only, then applied to the others.
    names = encoding.output_names() if encoding is not None else data.feature_names
    scaler = _scaler(args, "standard")
    if in_place:
        X = _reorder_rows(X, [train, val, test])
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below, by column
            _fit_in_blocks(scaler, X[: len(train)])
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            scaler.fit(X[train])
    _check_scaling(data, scaler.params(), names, "column")
    if in_place:
        _scale_in_place(scaler, X)
        if dtype == np.float32:
            X = _narrow_in_place(X)
        parts = [train, val, test]
        views = {id(idx): view for idx, view in zip(parts, _part_views(X, parts), strict=True)}

    def part(idx: np.ndarray) -> np.ndarray:
        if in_place:
            return views[id(idx)].astype(dtype, copy=False)
        return scaler.transform(X[idx]).astype(dtype, copy=False)

    y = data.y
    target_scaler = None
    if not classification:
        target_scaler = _target_scaler(args, data, y[train])
        if target_scaler is not None:
            y = target_scaler.transform(y[:, None] if y.ndim == 1 else y)
    n_out = data.n_classes if classification else (1 if y.ndim == 1 else y.shape[1])
    return TrainingData(
        name=data.name,
        X_train=part(train),
        y_train=y[train],
        X_test=part(test),
        y_test=y[test],
        X_val=part(val) if len(val) else None,
        y_val=y[val] if len(val) else None,
        n_outputs=n_out,
        task=data.task,
        class_names=data.class_names,
        preprocessing=scaler,
        feature_names=data.feature_names,
        target_name=data.target_name,
        target_scaler=target_scaler,
        encoding=encoding,
        sample_weight=_class_weights(args, y[train], data.n_classes) if classification else None,
        source=_source(args, data, train, val, len(test)),
    )


#: Rows reordered or scaled at a time in place (bounded temporaries: 1 MiB at 20 columns).
_CHUNK_ROWS = 1 << 13


def _part_views(X: np.ndarray, parts: list[np.ndarray]) -> list[np.ndarray]:
    """The rows of each part of ``X`` once :func:`_reorder_rows` has put them in the
    parts' order: consecutive blocks, as views."""
    ends = itertools.accumulate((len(part) for part in parts), initial=0)
    return [X[a:b] for a, b in itertools.pairwise(ends)]


def _reorder_rows(X: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    """``X`` with its rows in the order ``parts`` concatenated (each part sorted, the
    parts disjoint and covering every row), rearranged in place.

    The later parts (validation, test) are copied out first; the first part's rows
    then move forward a block at a time (row ``first[i] >= i``, so a block only reads
    rows not yet overwritten), and the saved rows follow.  Whole rows move, in file
    order (a column at a time gathered each row once per column: 20 passes over the
    matrix); the extra memory is the later parts' rows, not a second matrix.
    """
    order = np.concatenate(parts)
    if len(order) == len(X) and np.array_equal(order, np.arange(len(X))):
        return X
    first = parts[0]
    if len(first) > 1 and bool((np.diff(first) <= 0).any()):  # not sorted: by column
        for j in range(X.shape[1]):
            X[:, j] = X[order, j]
        return X
    saved = [X[idx] for idx in parts[1:]]
    for start in range(0, len(first), _CHUNK_ROWS):
        rows = first[start : start + _CHUNK_ROWS]
        X[start : start + len(rows)] = X[rows]
    at = len(first)
    for block in saved:
        X[at : at + len(block)] = block
        at += len(block)
    return X


def _scale_in_place(scaler: Scaler, X: np.ndarray) -> None:
    """``X[:] = scaler.transform(X)``, a block of rows at a time (same values: the
    scalers' ``(x − a) / b`` in float64)."""
    for start in range(0, len(X), _CHUNK_ROWS):
        block = X[start : start + _CHUNK_ROWS]
        block[...] = scaler.transform(block)


def _narrow_in_place(X: np.ndarray) -> np.ndarray:
    """The C-ordered float64 ``X`` of shape ``(n, m)`` as float32, written over the first
    half of ``X``'s own memory (the same values as ``X.astype(np.float32)``); the second
    half's pages are given back to the operating system, so ``X`` itself is no longer
    valid.

    Blocks go front to back: float32 row ``i`` lies in the bytes of float64 rows
    ``i/2 … (i+1)/2``, which a block has already read (into its float32 temporary)
    before it writes.  The peak is the float64 matrix alone, where a copy would add
    half of it (1,000,000 × 19: 76 MB) at the moment both exist.
    """
    n, m = X.shape
    out = X.reshape(-1).view(np.float32)[: n * m].reshape(n, m)
    for start in range(0, n, _CHUNK_ROWS):
        block = X[start : start + _CHUNK_ROWS].astype(np.float32)
        out[start : start + len(block)] = block
    _give_back_pages(X.ctypes.data + out.nbytes, X.ctypes.data + X.nbytes)
    return out


def _give_back_pages(start: int, stop: int) -> None:
    """``madvise(MADV_DONTNEED)`` the whole pages between the addresses ``start`` and
    ``stop`` (memory no array will read again); nothing outside Linux, or when small."""
    import mmap

    page = mmap.PAGESIZE
    start, stop = -(-start // page) * page, stop // page * page
    if stop - start < (1 << 20) or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        madvise = ctypes.CDLL(None).madvise
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise(start, stop - start, mmap.MADV_DONTNEED)


def _fit_in_blocks(scaler: Scaler, X: np.ndarray) -> None:
    """``scaler.fit(X)`` without a temporary the size of ``X``: the standard deviation's
    squared deviations are summed a block of rows at a time, in the same order as NumPy's
    ``X.std(axis=0)`` sums them (the running sum is the first row of the next block), so
    the fitted values are identical."""
    if not isinstance(scaler, Standardizer):
        scaler.fit(X)  # min/max and none: reductions without temporaries
        return
    mean = X.mean(axis=0)
    total: np.ndarray | None = None
    for start in range(0, len(X), _CHUNK_ROWS):
        d = X[start : start + _CHUNK_ROWS] - mean
        np.multiply(d, d, out=d)
        if total is not None:
            d = np.vstack([total[None], d])
        total = np.add.reduce(d, axis=0)
    std = np.sqrt(total / len(X)) if total is not None else np.zeros(X.shape[1])
    scaler.mean = mean
    scaler.scale = np.where(std > 0, std, 1.0)
