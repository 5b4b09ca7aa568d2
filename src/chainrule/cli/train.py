"""``chainrule train``: train a network and report its test accuracy.

The data options live in :mod:`.data_options`, the training-loop options in
:mod:`.training_options`; this module builds the network and ties them together.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..bugs import BUGS, PlantedBug
from ..data.preprocessing import Preprocessing
from ..interruption import Interrupted
from ..memory import check_fits, training_memory
from ..network import Network
from ..parallel.mpi import DataParallel, PeerFailed, World, launched_size, launched_world
from ..training import JSONLinesLogger, TrainingRun
from ..training.targets import keeps_labels
from .common import CLIError, check_output_file, model_save_path
from .data_options import OWN_DEFAULT, TrainingData, add_data_arguments, load_training_data
from .network_options import add_network_arguments, network_kwargs
from .regression import regression_lines, units_of
from .report_command import add_report_argument, check_report_path, write_train_report
from .sharded_data import ShardedTrainingData, load_sharded, whole_file_reason
from .training_options import (
    add_training_arguments,
    describe,
    fit_kwargs,
    make_callbacks,
    validation_kwargs,
)

# Defaults for the main job: digits to >= 96 % test accuracy in a few seconds.
NETWORK_DEFAULTS: dict[str, Any] = {
    "hidden": [100],
    "activation": "tanh",
    "output_activation": "softmax",
    "cost": "log_likelihood",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = sub.add_parser(
        "train",
        help="train a network (default: the bundled handwritten digits)",
        description="Train a fully connected network by mini-batch gradient descent and "
        "report its accuracy on a held-out test split. With no options it trains on "
        "scikit-learn's bundled 8x8 handwritten digits.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_data_arguments(p)
    d = NETWORK_DEFAULTS
    g = add_network_arguments(
        p,
        hidden=d["hidden"],
        activation=d["activation"],
        output_activation=d["output_activation"],
        cost=d["cost"],
        input_activation="identity",
        init=None,
        dtype=True,
        seed_help="seed for split, init and shuffling",
    )
    g.add_argument(
        "--plant-bug",
        choices=list(BUGS),
        default=None,
        metavar="BUG",
        help="for class: train on a hand-written backprop with this mistake "
        f"planted ({', '.join(BUGS)}; see chainrule.bugs), NumPy backend only",
    )
    g.add_argument(
        "--backend",
        default="numpy",
        metavar="NAME",
        help="array library the training runs on: numpy, torch or cupy (the extras "
        "chainrule[torch], chainrule[cupy]); the model is evaluated and saved as "
        "NumPy arrays (docs/gpu.md)",
    )
    g.add_argument(
        "--device",
        default=None,
        metavar="DEVICE",
        help="device of --backend, e.g. cpu, cuda or cuda:1 (PyTorch)" + OWN_DEFAULT,
    )
    add_training_arguments(p)
    p.add_argument(
        "--save",
        default=None,
        metavar="PATH",
        help="save the trained model (with its preprocessing and class names) "
        "to this .npz file" + OWN_DEFAULT,
    )
    add_report_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train as the options say; print per-epoch lines and the test accuracy.

    Under ``mpiexec -n N`` (N > 1) the ranks train data-parallel; only rank 0
    prints, saves and writes the report, and a failure on any rank stops all of
    them with one message (docs/distributed.md).
    """
    try:
        world = launched_world()
    except ImportError as exc:
        raise CLIError(f"started by mpiexec as {launched_size()} processes, but {exc}") from None
    if world is None:
        return _train(args, None)
    if not world.root:
        # Rank 0 speaks for the job: the other ranks print nothing and write no files.
        args.quiet, args.progress, args.log_json = True, "none", None
        args.save = args.report = None
    try:
        with contextlib.ExitStack() as stack:
            if not world.root:
                stack.enter_context(
                    contextlib.redirect_stdout(
                        stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
                    )
                )
            return _train(args, world)
    except PeerFailed:
        return 2  # the failing rank has printed the one line


@contextlib.contextmanager
def _agreed(world: World | None) -> Iterator[None]:
    """A block that fails on every rank if it fails on any (nothing without MPI)."""
    if world is None:
        yield
        return
    with world.agree():
        yield


def _train(args: argparse.Namespace, world: World | None) -> int:
    with _agreed(world):  # first: a collective that every rank reaches
        _check_ranks_agree(world, args, None)
    with _agreed(world):
        args.save = model_save_path(args.save)  # --save DIR/ → DIR/model.npz
        check_report_path(args.report)
        _check_outputs(args)  # before training, not after: a bad path should not cost a run
        _check_backend(args, world)
        dtype = np.dtype(args.dtype)
        early = world is None and _start_early(args)
        try:
            data = _load(args, dtype, world)
        finally:
            if early:
                from ..data.pipeline import forget_fingerprint

                forget_fingerprint(str(args.data))  # collected by now, or not needed
    with _agreed(world):
        _check_ranks_agree(world, args, data)
        _check_memory(
            [data.X_train.shape[1], *args.hidden, data.n_outputs],
            dtype,
            data.task == "classification",
            len(data.X_train),
            {**fit_kwargs(args), **validation_kwargs(args, data)},
            world is not None,
        )
        net = _network(args, data, dtype)  # allocated only once the estimate fits
    # The task comes from the data: a classifier's class is the arg-max of its outputs
    # whatever its output activation (identity, tanh, ReLU, sigmoid with quadratic cost).
    net.task = data.task
    standardised = data.task == "regression" and data.target_scaler is not None
    if not args.quiet:
        features = f"{data.X_train.shape[1]} features"
        if data.encoding is not None and any(c.kind != "number" for c in data.encoding.columns):
            n_text = sum(c.kind == "category" for c in data.encoding.columns)
            n_date = sum(c.kind == "date" for c in data.encoding.columns)
            n_words = sum(c.kind == "words" for c in data.encoding.columns)
            kinds = [f"{n_text} text, one-hot"] if n_text else []
            kinds += [f"{n_date} date"] if n_date else []
            kinds += [f"{n_words} free text, bag of words"] if n_words else []
            features = (
                f"{len(data.encoding.columns)} columns ({', '.join(kinds)})"
                f" → {data.X_train.shape[1]} inputs"
            )
        n_train, n_val, n_test = _counts(data)
        val = f", {n_val} validation" if data.X_val is not None else ""
        outputs = f"{data.n_outputs} output" + ("" if data.n_outputs == 1 else "s")
        print(
            f"data: {data.name}, {n_train} training{val} and {n_test} "
            f"test rows, {features}, {outputs}"
        )
        print(f"network: {net!r}")
        if args.backend != "numpy":
            print(f"backend: {args.backend}" + (f" on {args.device}" if args.device else ""))
        print(describe(args))
    # The run, described whole (network, data, TrainingConfig), for the library to train.
    run = _training_run(args, data, net, world)
    if not args.quiet:
        print(_monitoring_line(data, run))
        if world is not None:
            print(
                f"data-parallel: {world.size} MPI ranks, each backpropagates "
                f"1/{world.size} of every batch of {args.batch_size}"
            )
            if isinstance(data, ShardedTrainingData):
                print(
                    f"reading: each rank parsed its share of the rows of {data.name} "
                    f"({' + '.join(map(str, data.read))} rows; the target column whole)"
                )
    if standardised and not args.quiet:
        print(
            f"loss: {net.cost.name} cost on the standardised target (mean 0, standard "
            f"deviation 1 on the training split); the final metrics are in "
            f"{units_of(data.target_name)}"
        )
    with _agreed(world):
        run.callbacks = make_callbacks(args, "standardised_loss" if standardised else "loss")
        if getattr(args, "plant_bug", None) is not None:
            if args.optimizer == "lbfgs" or args.backend != "numpy":
                raise CLIError(
                    "--plant-bug needs a gradient-descent optimizer (not lbfgs) "
                    "on the numpy backend"
                )
            run.callbacks.append(PlantedBug(args.plant_bug, data.X_train, data.y_train))
            if not args.quiet:
                print(f"planted bug: {args.plant_bug} ({BUGS[args.plant_bug]})")
        start = time.perf_counter()
        try:
            # Overflow on the way to NaN is not worth a warning: a diverging run is
            # detected after its epoch and reported in one line (TrainingDiverged, exit 3).
            with np.errstate(all="ignore"):
                run.run()
        except BaseException as exc:
            for cb in run.callbacks:  # a failed run leaves an existing --log-json as it was
                if isinstance(cb, JSONLinesLogger):
                    cb.discard()
            if isinstance(exc, ValueError):
                raise CLIError(str(exc)) from None
            raise
        seconds = time.perf_counter() - start
    # Evaluated, saved and reported as NumPy arrays, whatever it trained on.
    net.to("numpy")
    status = 0
    with _agreed(world):
        if isinstance(data, ShardedTrainingData) and world is not None:
            # (only rank 0 keeps --report: it says whether the rows go to it)
            if world.comm.bcast(bool(args.report), root=0):  # the report plots them
                data.gather_test(world)
            else:  # each rank scores its own test rows; rank 0 adds the sums
                data.score_test(world, net)
        if world is None or world.root:
            status = _finish(args, net, data, seconds)
    return status


def _start_early(args: argparse.Namespace) -> bool:
    """Start the file's SHA-256 (for the model's record of its test rows) in a thread, so
    that it runs while the file is parsed (hashlib releases the GIL); whether it started.
    A digest no one collected is dropped after the load.  (SciPy's BLAS lookup is not
    started early: it loads one extension module now, 0.02–0.04 s, where an early thread's
    memory raised the peak when it imported ``scipy.linalg``, 0.3 s: 1.93–2.09× the file
    against 1.92–1.93×, where issue 20 allows 2×.)"""
    data = str(args.data)
    if (
        getattr(args, "test_data", None) is None
        and args.test_fraction > 0
        and data != "mnist"
        and os.path.isfile(data)
    ):
        from ..data.pipeline import fingerprint_soon

        fingerprint_soon(data)
        return True
    return False


def _load(args: argparse.Namespace, dtype: np.dtype, world: World | None) -> TrainingData:
    """The data of the run: under ``mpiexec``, each rank's share of a CSV/TSV file
    (:mod:`.sharded_data`), else all of it."""
    if world is not None:
        reason = whole_file_reason(args)
        if reason is None:
            return load_sharded(args, dtype, world)
        if reason and not args.quiet:
            print(f"note: every MPI rank reads all of {args.data} ({reason})", file=sys.stderr)
    return load_training_data(args, dtype)


def _counts(data: TrainingData) -> tuple[int, int, int]:
    """Training, validation and test rows (over all ranks when each holds its share)."""
    if isinstance(data, ShardedTrainingData):
        return data.n_train, data.n_val, data.n_test
    n_val = 0 if data.X_val is None else len(data.X_val)
    return len(data.X_train), n_val, len(data.X_test)


def _training_run(
    args: argparse.Namespace, data: TrainingData, net: Network, world: World | None
) -> TrainingRun:
    """The options as one :class:`~chainrule.training.TrainingRun` (no callbacks yet)."""
    fit = fit_kwargs(args)
    validation = validation_kwargs(args, data)
    comm: Any = None if world is None else world.comm
    if isinstance(data, ShardedTrainingData):
        # Each rank holds its rows of one process's training rows (and validation rows,
        # maybe none): the batches are one process's.
        validation = {"validation_data": data.validation} if data.n_val else {}
        comm = DataParallel(world.comm if world is not None else None, rows=data.rows)
    config = fit["config"]
    if "validation_fraction" in validation:
        config = config.replace(validation_fraction=validation["validation_fraction"])
    return TrainingRun(
        net,
        data.X_train,
        data.y_train,
        config,
        validation_data=validation.get("validation_data"),
        seed=fit["seed"],
        sample_weight=data.sample_weight,  # --class-weight balanced
        comm=comm,
    )


#: Options that rank 0 alone acts on (the others print and write nothing).
_RANK_LOCAL = frozenset({"func", "command", "save", "report", "log_json", "quiet", "progress"})


def _check_ranks_agree(
    world: World | None, args: argparse.Namespace, data: TrainingData | None
) -> None:
    """Every MPI rank was started with the same options (and read the same ``data``).

    Ranks that disagree (``mpiexec -n 1 … --hidden 10 : -n 1 … --hidden 20``) would
    otherwise exchange gradients of different shapes or a different number of steps:
    an MPI abort or a hang.  One ``allgather`` of the options (and a digest of the
    training rows), as the first step of its own agreed block so that every rank
    reaches it; rank 0 names the first difference (one line, exit 2), the other ranks
    stop silently (:class:`PeerFailed`).
    """
    if world is None:
        return
    options = {
        k: repr(v)
        for k, v in sorted(vars(args).items())
        if k not in _RANK_LOCAL and not callable(v)
    }
    digest = hashlib.sha256()
    n_rows = 0
    if isinstance(data, ShardedTrainingData):
        # Each rank holds other rows: they agree on the file (size, header, first and
        # last bytes) and on every row's target, which each rank read whole.
        options, n_rows = {}, data.n_train
        digest.update(data.digest.encode())
    elif data is not None:
        options = {}
        n_rows = len(data.X_train)
        for arr in (data.X_train, data.y_train):
            digest.update(repr((arr.shape, arr.dtype.str)).encode())
            digest.update(np.ascontiguousarray(arr).tobytes())
    every = world.comm.allgather((options, n_rows, digest.hexdigest()[:12]))
    if all(other == every[0] for other in every):
        return
    if not world.root:
        raise PeerFailed("the ranks disagree; rank 0 says how")
    for rank, (other, n_rows, other_digest) in enumerate(every):
        for key, value in options.items():
            if other.get(key) != value:
                flag = "--" + key.replace("_", "-")
                raise CLIError(
                    f"the MPI ranks were started with different options: {flag} is "
                    f"{value} on rank 0 but {other.get(key)} on rank {rank}; start "
                    f"every rank with the same command"
                )
        if (n_rows, other_digest) != every[0][1:]:
            raise CLIError(
                f"the MPI ranks read different data: rank 0 has {every[0][1]} "
                f"training rows (digest {every[0][2]}), rank {rank} {n_rows} "
                f"(digest {other_digest}); give every rank the same --data"
            )


def _network(args: argparse.Namespace, data: TrainingData, dtype: np.dtype) -> Network:
    if data.task == "regression" and (args.output_activation, args.cost) == (
        NETWORK_DEFAULTS["output_activation"],
        NETWORK_DEFAULTS["cost"],
    ):
        # The classification defaults cannot fit real-valued targets.
        args.output_activation, args.cost = "identity", "quadratic"
    sizes = [data.X_train.shape[1], *args.hidden, data.n_outputs]
    try:
        return Network(
            sizes,
            **{**network_kwargs(args), "dtype": dtype},
            backend=args.backend,
            device=args.device,
        )
    except ValueError as exc:
        raise CLIError(
            f"--backend {args.backend}: {exc}" if "backend" in str(exc) else str(exc)
        ) from None


def _check_backend(args: argparse.Namespace, world: World | None) -> None:
    """Refuse, before any work, what trains on NumPy only."""
    if args.backend == "numpy":
        if args.device not in (None, "cpu"):
            raise CLIError(
                f"--device {args.device} needs --backend torch (or cupy): NumPy runs on the CPU"
            )
        return
    if args.optimizer == "lbfgs":
        raise CLIError(
            f"--optimizer lbfgs (SciPy's L-BFGS-B) trains on NumPy only: drop "
            f"--backend {args.backend} or use another optimizer"
        )
    if world is not None:
        raise CLIError(
            f"data-parallel training (mpiexec) runs on NumPy only: drop --backend {args.backend}"
        )


def _finish(args: argparse.Namespace, net: Network, data: TrainingData, seconds: float) -> int:
    """Test accuracy, the saved model and the report (rank 0 only under MPI); exit status."""
    if net.interrupted:
        return _interrupted(args, net, data)
    if args.early_stopping and not args.quiet:
        line = _early_stopping_line(args, net)
        if line:
            print(line)
    if _counts(data)[2] == 0:
        print(
            f"no test score: --test-fraction 0 trained on all {_counts(data)[0]} rows "
            f"({seconds:.1f}s)"
        )
        if args.save is not None:
            _save(args, net, data)
        return 0
    scored = data if isinstance(data, ShardedTrainingData) else None
    if scored and scored.test_result:  # every rank's test rows, scored where they lie
        result = scored.test_result
    else:
        result = net.evaluate(data.X_test, data.y_test)
    if net.is_classifier:
        print(
            f"test accuracy: {result['accuracy'] * 100:.2f}% "
            f"(loss {result['loss']:.4f}, {seconds:.1f}s)"
        )
    else:
        std = "standardised " if data.target_scaler is not None else ""
        print(f"test {std}loss: {result['loss']:.4f} ({seconds:.1f}s)")
        to_units = Preprocessing(data.preprocessing, data.target_scaler).inverse_target
        if scored and scored.test_pairs:
            y_test, predicted = scored.test_pairs
        else:
            y_test = np.asarray(data.y_test, dtype=float).reshape(len(data.y_test), -1)
            predicted = net.predict(data.X_test)
        for line in regression_lines(
            to_units(y_test),
            to_units(predicted),
            data.target_name,
            f"test split ({len(y_test)} rows)",
        ):
            print(line)
    if args.save is not None:
        _save(args, net, data)
    if args.report:
        print(f"report: {write_train_report(args, net, data)}")
    return 0


def _early_stopping_line(args: argparse.Namespace, net: Network) -> str | None:
    """Which epoch's weights early stopping kept (the best monitored one)."""
    h = net.history
    values = np.asarray(getattr(h, args.early_stopping, []) or [], dtype=float)
    if values.size == 0 or np.isnan(values).all():
        return None
    best = int(np.nanargmax(values) if "accuracy" in args.early_stopping else np.nanargmin(values))
    epochs = list(h.epoch)
    stopped = len(epochs) < args.epochs
    how = (
        f"stopped after epoch {epochs[-1]} ({args.patience} without improvement)"
        if stopped
        else f"ran all {len(epochs)} epochs"
    )
    return (
        f"early stopping: {how}; kept the weights of epoch {epochs[best]} "
        f"({args.early_stopping} {values[best]:.4f})"
    )


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output can be written and none is an input or another output."""
    inputs = {
        "data": args.data,
        "labels": args.labels,
        "test-data": getattr(args, "test_data", None),
    }
    outputs = {"--save": args.save, "--report": args.report, "--log-json": args.log_json}
    for option, path in outputs.items():
        if path is not None:
            others = {k: v for k, v in outputs.items() if k != option}
            check_output_file(path, option, inputs, others)


def _check_memory(
    sizes: list[int],
    dtype: np.dtype,
    classifier: bool,
    n_train: int,
    kwargs: dict[str, object],
    distributed: bool = False,
) -> None:
    """Refuse, with the estimate, a run that cannot fit in memory (before the network
    and the training buffers are allocated)."""
    validation = kwargs.get("validation_data")
    n_val = (
        len(validation[0])
        if isinstance(validation, tuple)
        else int(n_train * float(kwargs.get("validation_fraction") or 0.0))  # type: ignore[arg-type]
    )
    # Many classes are trained from labels (training.targets), except by L-BFGS and MPI.
    config = kwargs.get("config")
    labels = (
        classifier
        and keeps_labels(n_train, sizes[-1])
        and getattr(config, "optimizer", None) != "lbfgs"
        and not distributed
    )
    need = training_memory(sizes, n_train, n_val, dtype.itemsize, labels=labels)
    check_fits(
        need,
        "training",
        "use --dtype float32, fewer or smaller layers, rows or classes, or a larger machine",
        f"a {'-'.join(map(str, sizes))} network, {n_train} rows x {sizes[-1]} outputs "
        f"in {dtype.name}: weights, targets and each epoch's outputs",
    )


def _interrupted(args: argparse.Namespace, net: Network, data: TrainingData) -> int:
    """After one Ctrl-C: keep the partial model only if --save asked for a model.

    Raises :class:`Interrupted`: ``cli.main`` prints the one line (which also names
    any other file written, e.g. the ``--log-json`` log) and exits 130.
    """
    where = f" after epoch {len(net.history)}"
    if args.save is None:
        raise Interrupted(detail=where, hint="give --save PATH to keep a partial model")
    path = _save(args, net, data, quiet=True)
    raise Interrupted(detail=f"{where}; saved the partial model to {path}", described=(path,))


def _save(
    args: argparse.Namespace, net: Network, data: TrainingData, *, quiet: bool = False
) -> str:
    settings = {
        k: v
        for k, v in vars(args).items()
        if k not in ("func", "command", "save") and not callable(v)
    }
    try:
        path = net.save(
            args.save,
            preprocessing=Preprocessing(data.preprocessing, data.target_scaler, data.encoding),
            class_names=data.class_names or None,
            feature_names=data.feature_names,
            target_name=data.target_name,
            training=settings,
            data=data.source,
        )
    except ValueError as exc:  # OSError (disk full, …) is reported by cli.main, exit 1
        raise CLIError(f"could not save the model: {exc}") from None
    if not (args.quiet or quiet):
        print(f"saved the model to {path}")
    return str(path)


def _monitoring_line(data: object, run: TrainingRun) -> str:
    """Say which rows the per-epoch ``val_*`` columns are measured on."""
    if run.config.validation_fraction is not None:
        return (
            f"monitoring: val_* on {run.config.validation_fraction:.0%} of the training rows, "
            "held out (they steer early stopping / the schedule)"
        )
    n_val = _counts(data)[1] if isinstance(data, TrainingData) else 0
    if n_val > 0:
        return (
            f"monitoring: val_* on the {n_val}-row validation split (carved from the training rows)"
        )
    return (
        "monitoring: no validation split (--val-fraction 0); the test rows are scored "
        "once, at the end"
    )
