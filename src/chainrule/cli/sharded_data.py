"""``mpiexec -n N chainrule train --data big.csv``: each rank reads its share of the rows.

The collective steps live in :mod:`chainrule.parallel.table_shard`; this module puts
them in the order of :func:`.data_options.load_training_data` (one process) and builds
the same :class:`~.data_options.TrainingData`, holding this rank's rows only
(docs/distributed.md).  The splits are one process's: every rank knows every row's
target, draws the seeded split, and keeps its rows of each part; the training rows
of rank ``r`` are a contiguous block of one process's, so
``DataParallel(comm, rows=...)`` trains on one process's batches.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.datasets import Dataset
from ..data.split import split_parts
from ..data.tables import subset
from ..parallel.mpi import World
from .common import CLIError
from .data_options import (
    TrainingData,
    _check_scaling,
    _class_weights,
    _decide_roles,
    _is_file,
    _lines,
    _print_fitted_roles,
    _read_test_file,
    _reorder_rows,
    _rows_word,
    _scale_in_place,
    _source,
    _target_scaler,
    checked_test_fraction,
)
from .training_options import _decides_on_validation

if TYPE_CHECKING:
    from ..network import Network

__all__ = ["ShardedTrainingData", "load_sharded", "whole_file_reason"]

#: Test rows scored at a time on a rank (the forward pass's temporaries stay small:
#: at 32,768 rows of 19 inputs and 30 hidden units they added ~10 MiB to a rank's peak).
_SCORE_ROWS = 1 << 13


@dataclass
class ShardedTrainingData(TrainingData):
    """:class:`TrainingData` of one MPI rank: its rows of the training and validation
    splits, and of the test split (in a temporary file until it is scored after training,
    where it lies: :meth:`score_test`; or gathered to rank 0 for ``--report``:
    :meth:`gather_test`).

    Attributes
    ----------
    rows : (start, stop, n)
        This rank's training rows are rows ``start:stop`` of one process's ``n``.
    n_val, n_test : int
        Rows of the validation and test splits over all ranks.
    read : list of int
        Rows each rank read from the file (its share).
    digest : str
        What the ranks must agree on (:class:`~chainrule.parallel.table_shard.TableShard`).
    test_gathered : bool
        ``X_test``/``y_test`` hold the whole test split on rank 0 (none elsewhere).
    test_result : dict or None
        After :meth:`score_test`, on rank 0: the test split's ``loss`` and ``accuracy``
        over every rank's test rows (:meth:`Network.evaluate` of one process).
    test_pairs : (targets, predictions) or None
        After :meth:`score_test` of a regression, on rank 0: every test row's target
        and prediction, arrays of shape (n_test, k), in one process's order.
    """

    rows: tuple[int, int, int] = (0, 0, 0)
    n_val: int = 0
    n_test: int = 0
    read: list[int] = field(default_factory=list)
    digest: str = ""
    test_gathered: bool = False
    test_result: dict[str, float] | None = None
    test_pairs: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_train(self) -> int:
        """Training rows over all ranks."""
        return self.rows[2]

    def gather_test(self, world: World) -> None:
        """Every rank's test rows to rank 0, in one process's order (collective; once)."""
        from ..parallel.table_shard import gather_rows

        if self.test_gathered:
            return
        X = gather_rows(world, self.X_test)
        ys = world.comm.gather(self.y_test, root=0)
        self.X_test = X if X is not None else self.X_test[:0]
        self.y_test = np.concatenate(ys) if ys is not None else self.y_test[:0]
        self.test_gathered = True

    def score_test(self, world: World, net: Network) -> None:
        """Score the test rows where they lie (collective; after training).

        Each rank evaluates its own test rows (:meth:`Network.evaluate`, in blocks of
        rows) and rank 0 adds the ranks' sums of the per-row cost and of the rows
        classified right: one process's test loss and accuracy, to the rounding of
        those sums.  No rank receives another rank's rows; a regression gathers each
        row's target and prediction (``k`` numbers a row, not the inputs) for the
        error measures.  A ``--test-data`` file is already on rank 0: nothing to do.
        """
        from ..parallel.table_shard import gather_rows, give_back_memory, release_rows

        if self.test_gathered:
            return
        give_back_memory()  # (training's buffers, freed: before the test rows are read)
        k = len(self.X_test)
        sums = np.zeros(3)
        regression = self.task != "classification"
        predicted = []
        for start in range(0, k, _SCORE_ROWS):  # (the forward pass's temporaries bounded)
            rows = slice(start, start + _SCORE_ROWS)
            X, y = self.X_test[rows], self.y_test[rows]
            result = net.evaluate(X, y)
            right = 0.0 if regression else round(result["accuracy"] * len(X))
            sums += (result["loss"] * len(X), right, len(X))
            if regression:
                predicted.append(np.asarray(net.predict(X), dtype=float).reshape(len(X), -1))
            release_rows(self.X_test, start, start + len(X))  # (read once: mapped pages)
        total = world.comm.reduce(sums, root=0)
        pairs = None
        if regression:
            targets = np.asarray(self.y_test, dtype=float).reshape(k, -1)
            width = targets.shape[1]
            outputs = np.concatenate(predicted) if predicted else np.empty((0, width))
            pairs = (gather_rows(world, targets), gather_rows(world, outputs))
        if world.root:
            n = max(float(total[2]), 1.0)
            accuracy = float("nan") if regression else total[1] / n
            self.test_result = {"loss": float(total[0] / n), "accuracy": float(accuracy)}
            if pairs is not None and pairs[0] is not None and pairs[1] is not None:
                self.test_pairs = (pairs[0], pairs[1])

    @property
    def validation(self) -> tuple[np.ndarray, np.ndarray] | None:
        """This rank's validation rows (maybe none) when the split has any."""
        if self.n_val and self.X_val is not None and self.y_val is not None:
            return self.X_val, self.y_val
        return None


def whole_file_reason(args: argparse.Namespace) -> str | None:
    """Under ``mpiexec``: None when the ranks read shares of ``--data``; else why every
    rank reads it whole (``""`` for data that is not a table file: a bundled data set,
    NumPy, IDX — nothing to say)."""
    from ..parallel.table_shard import shardable

    if not (_is_file(args.data) and Path(args.data).is_file()):
        return ""
    if args.header is False or not shardable(args.data):
        return "not a CSV/TSV file with a header line"
    if _decides_on_validation(args) and args.val_fraction == 0:
        return "early stopping holds validation rows out of the training rows: give --val-fraction"
    if getattr(args, "plant_bug", None) is not None:
        return "--plant-bug"
    return None


def load_sharded(args: argparse.Namespace, dtype: np.dtype, world: World) -> ShardedTrainingData:
    """This rank's share of ``--data``, split, encoded and scaled as one process would."""
    from ..parallel.table_shard import (
        agree_roles,
        fit_pipeline,
        give_back_memory,
        in_blocks,
        missing_across,
        read_table_shard,
        set_aside,
        set_aside_blocks,
        without_tail,
    )

    test_data = getattr(args, "test_data", None)
    test_fraction = checked_test_fraction(args)
    note = lambda text: None if args.quiet else print(text, file=sys.stderr)  # noqa: E731
    try:
        shard = read_table_shard(
            args.data, world, target=args.target, task=args.task, decimal=args.decimal
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    whole, data, start, digest = shard.target, shard.data, shard.start, shard.digest
    del shard  # (``data`` alone holds the rows: dropped once encoded)
    read = [int(v) for v in world.comm.allgather(len(data.y))]
    if whole.dropped.size:
        note(
            f"note: {whole.name}: left out {_rows_word(len(whole.dropped))} whose target "
            f"{whole.target_name!r} is missing ({_lines(whole.dropped, whole.lines)})"
        )
    data, roles, all_roles = _decide_roles(
        args, data, lambda d, **options: agree_roles(world, d, **options), ValueError
    )
    try:
        data, keep, dropped_note = missing_across(world, data, args.missing, args.data)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if dropped_note:
        note(dropped_note)
    classification = whole.task == "classification"
    class_names, task, target_name = whole.class_names, whole.task, whole.target_name
    if classification and len(class_names) < 2:
        only = f" ({class_names[0]!r})" if class_names else ""
        raise CLIError(
            f"{data.name}: the target column {target_name!r} holds one class{only} in "
            f"all {int(keep.sum())} rows: a classifier needs at least two (to predict a "
            f"number, use --task regression)"
        )
    y = whole.y if keep.all() else whole.y[keep]  # (no copy of every target when none goes)
    if classification:  # every row's class on every rank: in one byte where that holds it
        y = y.astype(np.min_scalar_type(len(class_names) - 1), copy=False)
    del whole  # (its line numbers, and its targets once compacted)
    try:
        part = split_parts(
            y,
            val_fraction=args.val_fraction,
            test_fraction=test_fraction,
            seed=args.seed,
            stratify=classification,
        )
    except ValueError as exc:
        raise CLIError(f"{data.name}: {exc}") from None
    # The split's and the roles' temporaries (a class's row indices, permuted) went back
    # to the heap; hand them to the system before the rows are encoded.
    give_back_memory()
    # This rank's rows are rows a:b of the rows kept; its rows of each split, locally.
    a = int(np.count_nonzero(keep[:start]))
    b = a + len(data.y)
    del keep
    counts = [np.count_nonzero(part == k) for k in range(3)]  # (bincount: 8 bytes a row)
    n_train, n_val = int(counts[0]), int(counts[1])
    mine, y_mine = part[a:b], y[a:b]
    index = np.int32 if len(mine) < 2**31 else np.int64  # (this rank's rows: 4 bytes)
    local = [np.flatnonzero(mine == k).astype(index) for k in range(3)]
    rows = (int(np.count_nonzero(part[:a] == 0)), int(np.count_nonzero(part[:b] == 0)), n_train)
    with world.agree():
        test_set = _read_test_file(args, data, roles) if test_data and world.root else None
    plain = (
        not data.text
        and len(roles) == len(all_roles)
        and args.missing != "impute"
        and all(r.role == "numeric" and not r.parse for r in roles)
        and test_data is None
    )
    scale = args.scale or "standard"
    try:
        pipe = fit_pipeline(
            world,
            data,
            local[0],
            missing=args.missing,
            scale=scale,
            roles=roles,
            id_column=args.id_column,
        )
        pipe.encoding.roles = all_roles
        _print_fitted_roles(args, all_roles, pipe, data.target_name)
        with world.agree():
            X_test_file = pipe.transform(test_set)[0] if test_set is not None else None
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    names = pipe.encoding.output_names()
    _check_scaling(data, pipe.scaler.params(), names, "column")
    name, feature_names = data.name, data.feature_names
    # The test rows: a --test-data file on rank 0; else each rank's own, scored where
    # they lie after training (:meth:`ShardedTrainingData.score_test`), never gathered
    # (but for --report), and meanwhile in a temporary file, not in memory: written
    # there first, a block at a time, scaled.  Then the training and validation rows:
    # the file's numbers (plain) move to the front in place (_reorder_rows of those two
    # parts: the test rows' places are free), are scaled, and the rest is handed back;
    # a table that is encoded (text, dates, fills) is encoded a block of rows at a time
    # straight into a matrix of those rows alone (unseen categories in val/test: zeros).
    n_train_here, n_val_here = len(local[0]), len(local[1])
    scaled = lambda block: pipe.scaler.transform(block).astype(dtype, copy=False)  # noqa: E731
    try:
        with world.agree():
            if plain:  # the file's numbers, scaled where they lie (as one process does)
                X_test = set_aside(data.X, local[2], scaled)
                X = _reorder_rows(data.X, local[:2])
                _scale_in_place(pipe.scaler, X[: n_train_here + n_val_here])
                held = [X]
                del data, X
                X = without_tail(held, n_train_here + n_val_here)
            else:
                encode = lambda rows: scaled(pipe.encode(subset(data, rows))[0])  # noqa: E731
                width = pipe.encoding.n_inputs
                empty = np.empty((0, width), dtype)
                test_rows = local[2]
                X_test = set_aside_blocks(lambda: in_blocks(test_rows, encode, width), empty)
                X = np.empty((n_train_here + n_val_here, width), dtype)
                at = 0
                for block in in_blocks(np.concatenate(local[:2]), encode, width):
                    X[at : at + len(block)] = block
                    at += len(block)
                del data, encode
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    give_back_memory()  # (the raw columns, now encoded, and the encoding's temporaries)
    X_train, X_val = X[:n_train_here], X[n_train_here:]
    if X_test_file is not None and test_set is not None:
        X_test, y_test = X_test_file, test_set.y
    else:
        y_test = y_mine[local[2]]
    n_test = int(counts[2]) if test_data is None else int(world.comm.bcast(len(y_test), root=0))
    kept = Dataset(X=np.empty((len(y), 0)), y=y, task=task, name=name)
    target_scaler = None
    if not classification:
        target_scaler = _target_scaler(args, kept, y[part == 0])

    def scaled_y(values: np.ndarray) -> np.ndarray:
        if classification:
            return values.astype(np.int64)  # (labels as one process holds them)
        if target_scaler is None:
            return values
        return target_scaler.transform(values[:, None] if values.ndim == 1 else values)

    weights = None
    if classification and getattr(args, "class_weight", None) == "balanced":
        weights = _class_weights(args, y[part == 0].astype(np.int64), len(class_names))
    n_out = len(class_names) if classification else (1 if y.ndim == 1 else y.shape[1])
    y_train, y_val = (scaled_y(y_mine[rows_]) for rows_ in local[:2])
    if classification:
        # Data-parallel training takes one-hot rows (Network.check_targets makes them of
        # labels, with int64 temporaries): made here, they are the rank's only targets.
        labels, y_train = y_train, np.zeros((len(y_train), n_out), dtype=dtype)
        y_train[np.arange(len(labels)), labels] = 1
        del labels
    del part, mine, local
    give_back_memory()  # (the reorder's copies: training's peak sits on what is left)
    # (the record of the split keeps the parts' sizes only)
    train_size, val_size = (np.broadcast_to(np.int8(0), (k,)) for k in (n_train, n_val))
    return ShardedTrainingData(
        name=name,
        X_train=X_train.astype(dtype, copy=False),
        y_train=y_train,
        X_test=X_test.astype(dtype, copy=False),
        y_test=scaled_y(y_test),
        X_val=X_val.astype(dtype, copy=False) if n_val else None,
        y_val=y_val if n_val else None,
        n_outputs=n_out,
        task=task,
        class_names=class_names,
        preprocessing=pipe.scaler,
        feature_names=feature_names,
        target_name=target_name,
        target_scaler=target_scaler,
        encoding=None if plain else pipe.encoding,
        sample_weight=None if weights is None else weights[rows[0] : rows[1]],
        source=_source(args, kept, train_size, val_size, n_test) if world.root else {},
        rows=rows,
        n_val=n_val,
        n_test=n_test,
        read=read,
        digest=digest,
        test_gathered=test_data is not None,
    )
