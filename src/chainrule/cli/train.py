"""``chainrule train``: train a network and report its test accuracy.

The data options live in :mod:`.data_options`, the training-loop options in
:mod:`.training_options`; this module builds the network and ties them together.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator

import numpy as np

from ..data.preprocessing import Preprocessing
from ..functions import ACTIVATIONS, COSTS
from ..network import INITS, Network
from ..training import JSONLinesLogger
from ..training.distributed import PeerFailed, World, launched_size, launched_world
from ..training.memory import available_memory, training_memory
from ..training.targets import keeps_labels
from .common import CLIError, check_output_file, int_list
from .data_options import OWN_DEFAULT, TrainingData, add_data_arguments, load_training_data
from .regression import regression_lines, units_of
from .report import add_report_argument, check_report_path, write_train_report
from .training_options import (
    add_training_arguments,
    describe,
    fit_kwargs,
    make_callbacks,
    validation_kwargs,
)

# Defaults for the main job: digits to >= 96 % test accuracy in a few seconds.
NETWORK_DEFAULTS = {
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
    g = p.add_argument_group("network")
    g.add_argument("--hidden", type=int_list, default=d["hidden"], metavar="N,N,...",
                   help="hidden layer sizes, comma-separated ('' for none)")
    g.add_argument("--activation", choices=sorted(set(ACTIVATIONS) - {"softmax"}),
                   default=d["activation"], help="hidden-layer activation σ")
    g.add_argument("--output-activation", choices=sorted(ACTIVATIONS),
                   default=d["output_activation"], help="output-layer activation")
    g.add_argument("--input-activation", choices=sorted(set(ACTIVATIONS) - {"softmax"}),
                   default="identity", help="σ on the input layer (the seed uses sigmoid)")
    g.add_argument("--cost", choices=sorted(COSTS), default=d["cost"], help="cost function C")
    g.add_argument("--init", choices=INITS, default=None,
                   help="weight initialisation (default: he for ReLU layers, else xavier)")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                   help="floating-point type of the weights and the arithmetic")
    g.add_argument("--seed", type=int, default=0, help="seed for split, init and shuffling")
    g.add_argument("--backend", default="numpy", metavar="NAME",
                   help="array library the training runs on: numpy, torch or cupy (the extras "
                   "chainrule[torch], chainrule[cupy]); the model is evaluated and saved as "
                   "NumPy arrays (docs/gpu.md)")
    g.add_argument("--device", default=None, metavar="DEVICE",
                   help="device of --backend, e.g. cpu, cuda or cuda:1 (PyTorch)"
                   + OWN_DEFAULT)
    add_training_arguments(p)
    p.add_argument("--save", default=None, metavar="PATH",
                   help="save the trained model (with its preprocessing and class names) "
                   "to this .npz file" + OWN_DEFAULT)
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
                stack.enter_context(contextlib.redirect_stdout(
                    stack.enter_context(open(os.devnull, "w", encoding="utf-8"))))
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
    with _agreed(world):
        check_report_path(args.report)
        _check_outputs(args)  # before training, not after: a bad path should not cost a run
        _check_backend(args, world)
        dtype = np.dtype(args.dtype)
        data = load_training_data(args, dtype)
        net = _network(args, data, dtype)
    with _agreed(world):  # its own block: every rank reaches its collective call
        _same_data_on_every_rank(world, data)
    # The task comes from the data: a classifier's class is the arg-max of its outputs
    # whatever its output activation (identity, tanh, ReLU, sigmoid with quadratic cost).
    net.task = data.task
    standardised = data.task == "regression" and data.target_scaler is not None
    if not args.quiet:
        features = f"{data.X_train.shape[1]} features"
        if data.encoding is not None and any(c.kind != "number" for c in data.encoding.columns):
            n_text = sum(c.kind == "category" for c in data.encoding.columns)
            n_date = sum(c.kind == "date" for c in data.encoding.columns)
            dates = f", {n_date} date" if n_date else ""
            features = (f"{len(data.encoding.columns)} columns ({n_text} text, one-hot{dates})"
                        f" → {data.X_train.shape[1]} inputs")
        val = f", {len(data.X_val)} validation" if data.X_val is not None else ""
        outputs = f"{data.n_outputs} output" + ("" if data.n_outputs == 1 else "s")
        print(f"data: {data.name}, {len(data.X_train)} training{val} and {len(data.X_test)} "
              f"test rows, {features}, {outputs}")
        print(f"network: {net!r}")
        if args.backend != "numpy":
            print(f"backend: {args.backend}" + (f" on {args.device}" if args.device else ""))
        print(describe(args))
    kwargs = {**fit_kwargs(args), **validation_kwargs(args, data)}
    if data.sample_weight is not None:
        kwargs["sample_weight"] = data.sample_weight
    if not args.quiet:
        print(_monitoring_line(data, kwargs))
        if world is not None:
            print(f"data-parallel: {world.size} MPI ranks, each backpropagates "
                  f"1/{world.size} of every batch of {args.batch_size}")
    if standardised and not args.quiet:
        print(f"loss: {net.cost.name} cost on the standardised target (mean 0, standard "
              f"deviation 1 on the training split); the final metrics are in "
              f"{units_of(data.target_name)}")
    with _agreed(world):
        _check_memory(net, len(data.X_train), kwargs, world is not None)
        callbacks = make_callbacks(args, "standardised_loss" if standardised else "loss")
        start = time.perf_counter()
        try:
            # Overflow on the way to NaN is not worth a warning: a diverging run is
            # detected after its epoch and reported in one line (TrainingDiverged, exit 3).
            with np.errstate(all="ignore"):
                net.fit(data.X_train, data.y_train, callbacks=callbacks, **kwargs,
                        **({} if world is None else {"comm": world.comm}))
        except BaseException as exc:
            for cb in callbacks:  # a failed run leaves an existing --log-json as it was
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
        if world is None or world.root:
            status = _finish(args, net, data, seconds)
    return status


def _same_data_on_every_rank(world: World | None, data: TrainingData) -> None:
    """Under MPI every rank reads ``--data`` itself: refuse ranks whose rows differ (a copy
    of the file that is not the same on each machine), instead of training on a mix and
    recording rank 0's row count."""
    if world is None or world.size < 2:
        return
    import hashlib

    digest = hashlib.sha256()
    for part in (data.X_train, np.asarray(data.y_train)):
        digest.update(np.ascontiguousarray(part).tobytes())
    mine = (len(data.X_train), len(data.X_test), digest.hexdigest())
    everyone = world.comm.allgather(mine)
    if any(other != everyone[0] for other in everyone):
        rows = ", ".join(f"rank {r}: {n} training rows" for r, (n, _, _) in enumerate(everyone))
        raise CLIError(f"the MPI ranks read different data from {data.name} ({rows}; the "
                       f"same counts mean different values): every rank must see the same "
                       f"file")


def _network(args: argparse.Namespace, data: TrainingData, dtype: np.dtype) -> Network:
    if data.task == "regression" and (args.output_activation, args.cost) == (
            NETWORK_DEFAULTS["output_activation"], NETWORK_DEFAULTS["cost"]):
        # The classification defaults cannot fit real-valued targets.
        args.output_activation, args.cost = "identity", "quadratic"
    sizes = [data.X_train.shape[1], *args.hidden, data.n_outputs]
    try:
        return Network(sizes, activation=args.activation,
                       output_activation=args.output_activation, cost=args.cost,
                       input_activation=args.input_activation, init=args.init,
                       seed=args.seed, dtype=dtype, backend=args.backend, device=args.device)
    except ValueError as exc:
        raise CLIError(f"--backend {args.backend}: {exc}" if "backend" in str(exc)
                       else str(exc)) from None


def _check_backend(args: argparse.Namespace, world: World | None) -> None:
    """Refuse, before any work, what trains on NumPy only."""
    if args.backend == "numpy":
        if args.device not in (None, "cpu"):
            raise CLIError(f"--device {args.device} needs --backend torch (or cupy): NumPy "
                           f"runs on the CPU")
        return
    if args.optimizer == "lbfgs":
        raise CLIError(f"--optimizer lbfgs (SciPy's L-BFGS-B) trains on NumPy only: drop "
                       f"--backend {args.backend} or use another optimizer")
    if world is not None:
        raise CLIError(f"data-parallel training (mpiexec) runs on NumPy only: drop "
                       f"--backend {args.backend}")


def _finish(args: argparse.Namespace, net: Network, data: TrainingData, seconds: float) -> int:
    """Test accuracy, the saved model and the report (rank 0 only under MPI); exit status."""
    if net.interrupted:
        return _interrupted(args, net, data)
    if args.early_stopping and not args.quiet:
        line = _early_stopping_line(args, net)
        if line:
            print(line)
    if len(data.X_test) == 0:
        print(f"no test score: --test-fraction 0 trained on all {len(data.X_train)} rows "
              f"({seconds:.1f}s)")
        if args.save is not None:
            _save(args, net, data)
        return 0
    result = net.evaluate(data.X_test, data.y_test)
    if net.is_classifier:
        print(f"test accuracy: {result['accuracy'] * 100:.2f}% "
              f"(loss {result['loss']:.4f}, {seconds:.1f}s)")
    else:
        std = "standardised " if data.target_scaler is not None else ""
        print(f"test {std}loss: {result['loss']:.4f} ({seconds:.1f}s)")
        to_units = Preprocessing(data.preprocessing, data.target_scaler).inverse_target
        y_test = np.asarray(data.y_test, dtype=float).reshape(len(data.y_test), -1)
        for line in regression_lines(to_units(y_test), to_units(net.predict(data.X_test)),
                                     data.target_name, f"test split ({len(y_test)} rows)"):
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
    best = int(np.nanargmax(values) if "accuracy" in args.early_stopping
               else np.nanargmin(values))
    epochs = list(h.epoch)
    stopped = len(epochs) < args.epochs
    how = (f"stopped after epoch {epochs[-1]} ({args.patience} without improvement)"
           if stopped else f"ran all {len(epochs)} epochs")
    return (f"early stopping: {how}; kept the weights of epoch {epochs[best]} "
            f"({args.early_stopping} {values[best]:.4f})")


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output can be written and none is an input or another output."""
    inputs = {"data": args.data, "labels": args.labels,
              "test-data": getattr(args, "test_data", None)}
    outputs = {"--save": args.save, "--report": args.report, "--log-json": args.log_json}
    for option, path in outputs.items():
        if path is not None:
            others = {k: v for k, v in outputs.items() if k != option}
            check_output_file(path, option, inputs, others)


def _check_memory(net: Network, n_train: int, kwargs: dict[str, object],
                  distributed: bool = False) -> None:
    """Refuse, with the estimate, a run that cannot fit in memory (before it starts)."""
    validation = kwargs.get("validation_data")
    n_val = len(validation[0]) if isinstance(validation, tuple) else int(
        n_train * float(kwargs.get("validation_fraction") or 0.0))  # type: ignore[arg-type]
    # Many classes are trained from labels (training.targets), except by L-BFGS and MPI.
    config = kwargs.get("config")
    labels = (net.is_classifier and keeps_labels(n_train, net.sizes[-1])
              and getattr(config, "optimizer", None) != "lbfgs" and not distributed)
    need = training_memory(net.sizes, n_train, n_val, net.dtype.itemsize, labels=labels)
    have = available_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"training needs about {need / 1e9:.1f} GB ({n_train} rows x {net.sizes[-1]} "
            f"outputs in {net.dtype.name}: targets and each epoch's outputs), more than the "
            f"{have / 1e9:.1f} GB of memory available; use --dtype float32, fewer rows or "
            f"classes, or a larger machine")


def _interrupted(args: argparse.Namespace, net: Network, data: TrainingData) -> int:
    """After one Ctrl-C: keep the partial model only if --save asked for a model; 130."""
    where = f"interrupted after epoch {len(net.history)}"
    if args.save is None:
        message = f"{where}; nothing saved (give --save PATH to keep a partial model)"
    else:
        message = f"{where}; saved the partial model to {_save(args, net, data, quiet=True)}"
    print(f"chainrule train: {message}", file=sys.stderr, flush=True)
    return 130


def _save(args: argparse.Namespace, net: Network, data: TrainingData, *, quiet: bool = False
          ) -> str:
    settings = {k: v for k, v in vars(args).items()
                if k not in ("func", "command", "save") and not callable(v)}
    try:
        path = net.save(args.save,
                        preprocessing=Preprocessing(data.preprocessing, data.target_scaler,
                                                    data.encoding),
                        class_names=data.class_names or None, feature_names=data.feature_names,
                        target_name=data.target_name, training=settings, data=data.source)
    except ValueError as exc:  # OSError (disk full, …) is reported by cli.main, exit 1
        raise CLIError(f"could not save the model: {exc}") from None
    if not (args.quiet or quiet):
        print(f"saved the model to {path}")
    return str(path)


def _monitoring_line(data: object, kwargs: dict[str, object]) -> str:
    """Say which rows the per-epoch ``val_*`` columns are measured on."""
    if "validation_fraction" in kwargs:
        return (f"monitoring: val_* on {kwargs['validation_fraction']:.0%} of the training rows, "
                "held out (they steer early stopping / the schedule)")
    X_val = getattr(data, "X_val", None)
    if X_val is not None and len(X_val) > 0:
        return (f"monitoring: val_* on the {len(X_val)}-row validation split (carved from "
                f"the training rows)")
    return ("monitoring: no validation split (--val-fraction 0); the test rows are scored "
            "once, at the end")
