"""``chainrule gradcheck``: backprop against central differences, from the command line.

Builds a network from options, draws random examples (or reads them from a
file), runs :func:`chainrule.gradcheck` and prints its per-array report and the
wrong entries by name; ``--entries`` prints every entry, ``--plant-bug`` checks
a hand-written backprop with a classic mistake (:mod:`chainrule.bugs`).
Exit status 0 when every array passes, 1 when one fails, 2 for bad input.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import numpy as np

import chainrule

from ..bugs import BUGS, planted_backprop
from ..data import DataFileError, one_hot, read_data_file
from ..gradcheck import gradcheck
from ..network import Network
from .common import CLIError, positive_float, positive_int
from .data_options import OWN_DEFAULT
from .examples import read_rows
from .model_data import model_inputs, open_model, read_data_for
from .network_options import add_network_arguments, build_network, describe_network, random_targets

__all__ = ["register", "run"]

# chainrule.load arrives with the model file format; --model is offered once it exists.
_load: Callable[[str], Network] | None = getattr(chainrule, "load", None)


def _as_float64(net: Network) -> Network:
    """A float64 network with the same architecture and parameters."""
    cfg = net.config()
    copy = Network(
        cfg["sizes"],
        activation=list(net.activations[:-1]) or "identity",
        output_activation=net.output_activation,
        cost=net.cost,
        input_activation=net.input_activation,
        seed=0,
        dtype=np.float64,
    )
    copy.weights = [W.astype(np.float64) for W in net.weights]
    copy.biases = [b.astype(np.float64) for b in net.biases]
    return copy


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``gradcheck`` subcommand."""
    p = sub.add_parser(
        "gradcheck",
        help="check backprop against central differences for a network built from options",
        description="Compare Network.backprop with central differences of the mean loss for "
        "every weight and bias, on random examples or examples read from a file, and print "
        "the largest absolute and relative error per parameter array and the wrong entries "
        "by name (w^l_i,j, b^l_i; --entries: every entry).",
        epilog="Exit status: 0 when every array passes, 1 when one fails, 2 for bad input.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_network_arguments(p)
    g = p.add_argument_group("data and check")
    g.add_argument(
        "--samples",
        type=positive_int,
        default=5,
        help="number of random examples (x ~ N(0, 1), targets to suit the output), "
        "or of rows taken from the start of --data",
    )
    g.add_argument(
        "--data",
        metavar="FILE",
        default=None,
        help="read examples from FILE instead: a CSV file as for train/evaluate "
        "(header optional, the target in --target or the last column; with "
        "--model, its columns are matched by name and the model's preprocessing "
        "— text encoding, missing-value filling, scaling, target standardising — "
        "is applied, so the check sees what training saw), whitespace rows of x "
        'then y, or JSON {"x": [[...]], "y": [...]}' + OWN_DEFAULT,
    )
    g.add_argument(
        "--target",
        default=None,
        metavar="COL",
        help="the target column of a CSV --data file (default: the last column, "
        "or the model's target column)" + OWN_DEFAULT,
    )
    g.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether a CSV file's first line names the columns (default: detected)" + OWN_DEFAULT,
    )
    g.add_argument("--eps", type=positive_float, default=1e-6, help="the perturbation ε")
    g.add_argument(
        "--tolerance",
        type=positive_float,
        default=1e-6,
        help="the largest relative error that passes; an array whose absolute "
        "error is below the round-off floor 10·u·max(1, |E|)/ε (u = 2.2e-16, E the "
        "loss) passes too, as 'ok (round-off)'",
    )
    g.add_argument(
        "--entries",
        action="store_true",
        help="print every entry: backprop against the central difference, "
        "the wrong ones marked WRONG (default: only the wrong ones are named)",
    )
    g.add_argument(
        "--plant-bug",
        choices=list(BUGS),
        default=None,
        metavar="BUG",
        help="check a hand-written backprop with this classic mistake planted "
        f"instead of Network.backprop ({', '.join(BUGS)}): see chainrule.bugs",
    )
    if _load is not None:  # model files come with chainrule.io (chainrule.load)
        g.add_argument(
            "--model",
            metavar="PATH",
            default=None,
            help="check a saved model (chainrule.load) instead of building one; "
            "the network options are then ignored",
        )
    p.set_defaults(func=run)


def _read_examples(
    args: argparse.Namespace, net: Network, model_path: str | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Examples ``(X, Y)`` from ``--data``, as network inputs and targets ``(n, N_L)``."""
    n_in, n_out = net.sizes[0], net.sizes[-1]
    if model_path is not None and not str(args.data).lower().endswith(".json"):
        # The model's own reading: columns by name, its encoding and scaling, and the
        # target as it was in training (one-hot classes, a standardised value).
        model = open_model(model_path)
        args.x_key, args.y_key, args.labels = "X", "y", None  # (CSV options only here)
        data = read_data_for(args, model, has_target=True)
        X = model_inputs(args, model, data).astype(np.float64)
        if model.task == "classification":
            Y = (data.y[:, None] == 1).astype(np.float64) if n_out == 1 else one_hot(data.y, n_out)
        else:
            Y = np.asarray(data.y, dtype=np.float64).reshape(len(X), -1)
            if model.preprocessing is not None:
                Y = model.preprocessing.transform_target(Y)
        return X, Y, ", with the model's preprocessing"
    try:
        data = read_data_file(
            args.data,
            target=args.target,
            header=args.header,
            has_target=True,
            task="regression",
            n_features=n_in,
        )
    except DataFileError as exc:
        # Whitespace rows, several target columns, JSON: the simple example reader.
        try:
            X, Y = read_rows(args.data, n_in, n_out)
        except CLIError:
            if not os.path.isfile(args.data):  # a FIFO or device: read_rows said so
                raise
            with open(args.data, encoding="utf-8", errors="replace") as f:
                first = f.readline(4096)
            if "," in first or ";" in first or "\t" in first:  # a CSV file: its own error
                hint = (
                    f" (without --model, targets are numbers: class indices "
                    f"0..{n_out - 1} or values)"
                    if "target" in str(exc)
                    else ""
                )
                raise CLIError(
                    str(exc).replace(" (a regression target must be numeric)", "") + hint
                ) from None
            raise
        return X, Y, ""
    if data.text or np.isnan(data.X).any():
        raise CLIError(
            f"{args.data}: text or missing cells; without --model the examples must be numbers"
        )
    y = data.y
    if n_out == 1:
        return data.X, y.reshape(-1, 1), ""
    labels = y.astype(np.int64)
    if not np.all(labels == y) or labels.min() < 0 or labels.max() >= n_out:
        raise CLIError(
            f"{args.data}: the target column must hold class labels 0..{n_out - 1} "
            f"for a network with {n_out} outputs"
        )
    return data.X, one_hot(labels, n_out), ""


def run(args: argparse.Namespace) -> int:
    """Run the check and print the report; 0 on pass, 1 on fail."""
    model = getattr(args, "model", None)
    if model is not None:
        assert _load is not None
        try:
            net = _load(model)
        except (OSError, ValueError) as exc:
            raise CLIError(str(exc)) from None
        if net.dtype != np.float64:
            # Central differences drown in float32 round-off: check a float64 copy.
            net = _as_float64(net)
    else:
        net = build_network(args)
    if args.data is not None:
        X, Y, how = _read_examples(args, net, model)
        n_rows = len(X)
        # --samples holds for a file too: the first N rows (each costs two forward passes
        # per parameter; 80 rows of a wide network take a minute).
        X, Y = X[: args.samples], Y[: args.samples]
        of = f" (the first {len(X)} of {n_rows} rows; --samples)" if n_rows > len(X) else ""
        source = f"{len(X)} example{'s' if len(X) > 1 else ''} from {args.data}{how}{of}"
    else:
        rng = np.random.default_rng([args.seed, 2])  # apart from the weights' stream
        X, Y = rng.normal(size=(args.samples, net.sizes[0])), random_targets(rng, args.samples, net)
        source = f"{args.samples} random example{'s' if args.samples > 1 else ''}"
    try:
        backprop = None if args.plant_bug is None else planted_backprop(net, args.plant_bug)
        report = gradcheck(net, X, Y, eps=args.eps, tolerance=args.tolerance, backprop=backprop)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print("gradcheck: backprop against central differences of the mean loss")
    if args.plant_bug is not None:
        print(f"planted bug: {args.plant_bug} ({BUGS[args.plant_bug]})")
    if model is not None:
        print(f"model: {model}")
    for line in describe_network(net):
        print(line)
    print(f"data: {source}, seed {args.seed}")
    print(report)
    if args.entries:
        print()
        print(report.format_entries())
    return 0 if report.passed else 1
