"""``chainrule train``: train a network and report its test accuracy."""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..data import Standardizer, load_dataset, train_test_split
from ..functions import ACTIVATIONS, COSTS
from ..network import INITS, Network
from ..training import PrintProgress
from ..training.optimizers import OPTIMIZERS
from .common import CLIError, int_list, positive_float, positive_int

# Defaults for the main job: digits to >= 96 % test accuracy in a few seconds.
DEFAULTS = {
    "hidden": [100],
    "activation": "tanh",
    "output_activation": "softmax",
    "cost": "log_likelihood",
    "epochs": 50,
    "batch_size": 10,
    "learning_rate": 0.1,
    "optimizer": "sgd",
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
    d = DEFAULTS
    p.add_argument("--data", default="digits", help="bundled data set to train on")
    p.add_argument("--hidden", type=int_list, default=d["hidden"], metavar="N,N,...",
                   help="hidden layer sizes, comma-separated ('' for none)")
    p.add_argument("--activation", choices=sorted(set(ACTIVATIONS) - {"softmax"}),
                   default=d["activation"], help="hidden-layer activation σ")
    p.add_argument("--output-activation", choices=sorted(ACTIVATIONS),
                   default=d["output_activation"], help="output-layer activation")
    p.add_argument("--input-activation", choices=sorted(set(ACTIVATIONS) - {"softmax"}),
                   default="identity", help="σ on the input layer (the seed uses sigmoid)")
    p.add_argument("--cost", choices=sorted(COSTS), default=d["cost"], help="cost function C")
    p.add_argument("--init", choices=INITS, default=None,
                   help="weight initialisation (default: he for ReLU layers, else xavier)")
    p.add_argument("--epochs", type=positive_int, default=d["epochs"])
    p.add_argument("--batch-size", type=positive_int, default=d["batch_size"])
    p.add_argument("--learning-rate", "--eta", type=positive_float, default=d["learning_rate"],
                   help="learning rate η (for the gradient of the mean cost)")
    p.add_argument("--optimizer", choices=[*sorted(OPTIMIZERS), "nesterov"],
                   default=d["optimizer"])
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="fraction of the data held out for the final test")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("--seed", type=int, default=0, help="seed for split, init and shuffling")
    p.add_argument("--quiet", action="store_true", help="print only the final result")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train as the options say; print per-epoch lines and the test accuracy."""
    try:
        data = load_dataset(args.data)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not 0.0 < args.test_fraction < 1.0:
        raise CLIError(f"--test-fraction must be between 0 and 1, got {args.test_fraction}")
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_fraction=args.test_fraction, seed=args.seed
    )
    # Scaling is fitted on the training split only, then applied to the test split.
    scaler = Standardizer().fit(X_train)
    dtype = np.dtype(args.dtype)
    X_train = scaler.transform(X_train).astype(dtype)
    X_test = scaler.transform(X_test).astype(dtype)
    n_out = data.n_classes if data.task == "classification" else 1
    sizes = [data.X.shape[1], *args.hidden, n_out]
    try:
        net = Network(sizes, activation=args.activation,
                      output_activation=args.output_activation, cost=args.cost,
                      input_activation=args.input_activation, init=args.init,
                      seed=args.seed, dtype=dtype)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not args.quiet:
        print(f"data: {data.name}, {len(X_train)} training and {len(X_test)} test rows, "
              f"{data.X.shape[1]} features, {n_out} classes")
        print(f"network: {net!r}")
        print(f"training: {args.epochs} epochs, batch size {args.batch_size}, "
              f"learning rate {args.learning_rate}, optimizer {args.optimizer}")
    callbacks = [] if args.quiet else [PrintProgress(total_epochs=args.epochs)]
    start = time.perf_counter()
    net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, optimizer=args.optimizer,
            validation_data=(X_test, y_test), seed=args.seed, callbacks=callbacks)
    seconds = time.perf_counter() - start
    if net.interrupted:
        print(f"interrupted after epoch {len(net.history)}; the model is intact")
    result = net.evaluate(X_test, y_test)
    if net.is_classifier:
        print(f"test accuracy: {result['accuracy'] * 100:.2f}% "
              f"(loss {result['loss']:.4f}, {seconds:.1f}s)")
    else:
        print(f"test loss: {result['loss']:.4f} ({seconds:.1f}s)")
    return 0
