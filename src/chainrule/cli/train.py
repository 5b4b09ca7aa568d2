"""``chainrule train``: train a network and report its test accuracy.

The data options live in :mod:`.data_options`, the training-loop options in
:mod:`.training_options`; this module builds the network and ties them together.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..data.preprocessing import Preprocessing
from ..functions import ACTIVATIONS, COSTS
from ..io import OutputPathError, check_output_path
from ..network import INITS, Network
from .common import CLIError, int_list
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
    add_training_arguments(p)
    p.add_argument("--save", default=None, metavar="PATH",
                   help="save the trained model (with its preprocessing and class names) "
                   "to this .npz file" + OWN_DEFAULT)
    add_report_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train as the options say; print per-epoch lines and the test accuracy."""
    check_report_path(args.report)
    dtype = np.dtype(args.dtype)
    if args.save is not None:
        try:  # before training, not after: a bad path should not cost a training run
            check_output_path(args.save)
        except OutputPathError as exc:
            raise CLIError(str(exc)) from None
    data = load_training_data(args, dtype)
    if data.task == "regression" and (args.output_activation, args.cost) == (
            NETWORK_DEFAULTS["output_activation"], NETWORK_DEFAULTS["cost"]):
        # The classification defaults cannot fit real-valued targets.
        args.output_activation, args.cost = "identity", "quadratic"
    sizes = [data.X_train.shape[1], *args.hidden, data.n_outputs]
    try:
        net = Network(sizes, activation=args.activation,
                      output_activation=args.output_activation, cost=args.cost,
                      input_activation=args.input_activation, init=args.init,
                      seed=args.seed, dtype=dtype)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    # The task comes from the data: a classifier's class is the arg-max of its outputs
    # whatever its output activation (identity, tanh, ReLU, sigmoid with quadratic cost).
    net.task = data.task
    standardised = data.task == "regression" and data.target_scaler is not None
    if not args.quiet:
        features = f"{data.X_train.shape[1]} features"
        if data.encoding is not None:
            n_text = sum(c.kind == "category" for c in data.encoding.columns)
            features = (f"{len(data.encoding.columns)} columns ({n_text} text, one-hot) → "
                        f"{data.X_train.shape[1]} inputs")
        print(f"data: {data.name}, {len(data.X_train)} training and {len(data.X_test)} test "
              f"rows, {features}, {data.n_outputs} outputs")
        print(f"network: {net!r}")
        print(describe(args))
    kwargs = {**fit_kwargs(args), **validation_kwargs(args, data)}
    if not args.quiet:
        print(_monitoring_line(data, kwargs))
    if standardised and not args.quiet:
        print(f"loss: {net.cost.name} cost on the standardised target (mean 0, standard "
              f"deviation 1 on the training split); the final metrics are in "
              f"{units_of(data.target_name)}")
    callbacks = make_callbacks(args, "standardised_loss" if standardised else "loss")
    start = time.perf_counter()
    try:
        net.fit(data.X_train, data.y_train, callbacks=callbacks, **kwargs)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    seconds = time.perf_counter() - start
    if net.interrupted:
        print(f"interrupted after epoch {len(net.history)}; the model is intact")
    result = net.evaluate(data.X_test, data.y_test)
    if net.is_classifier:
        print(f"test accuracy: {result['accuracy'] * 100:.2f}% "
              f"(loss {result['loss']:.4f}, {seconds:.1f}s)")
    else:
        std = "standardised " if standardised else ""
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


def _save(args: argparse.Namespace, net: Network, data: TrainingData) -> None:
    settings = {k: v for k, v in vars(args).items()
                if k not in ("func", "command", "save") and not callable(v)}
    try:
        path = net.save(args.save,
                        preprocessing=Preprocessing(data.preprocessing, data.target_scaler,
                                                    data.encoding),
                        class_names=data.class_names or None, feature_names=data.feature_names,
                        target_name=data.target_name, training=settings, data=data.source)
    except (OutputPathError, OSError, ValueError) as exc:
        raise CLIError(f"could not save the model: {exc}") from None
    if not args.quiet:
        print(f"saved the model to {path}")


def _monitoring_line(data: object, kwargs: dict[str, object]) -> str:
    """Say which rows the per-epoch ``val_*`` columns are measured on."""
    if "validation_fraction" in kwargs:
        return (f"monitoring: val_* on {kwargs['validation_fraction']:.0%} of the training rows, "
                "held out (they steer early stopping / the schedule)")
    X_val = getattr(data, "X_val", None)
    if X_val is not None and len(X_val) > 0:
        return f"monitoring: val_* on the {len(X_val)}-row validation split"
    return "monitoring: val_* on the test split (shown only; it never steers training)"
