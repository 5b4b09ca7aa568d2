"""``chainrule gradcheck``: backprop against central differences, from the command line.

Builds a network from options, draws random examples (or reads them from a
file), runs :func:`chainrule.gradcheck` and prints its per-array report.
Exit status 0 when every array passes, 1 when one fails, 2 for bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

import chainrule

from ..gradcheck import gradcheck
from ..network import Network
from .common import CLIError, positive_float, positive_int
from .examples import read_rows
from .network_options import add_network_arguments, build_network, describe_network, random_targets

__all__ = ["register", "run"]

# chainrule.load arrives with the model file format; --model is offered once it exists.
_load: Callable[[str], Network] | None = getattr(chainrule, "load", None)


def _as_float64(net: Network) -> Network:
    """A float64 network with the same architecture and parameters."""
    cfg = net.config()
    copy = Network(cfg["sizes"], activation=list(net.activations[:-1]) or "identity",
                   output_activation=net.output_activation, cost=net.cost,
                   input_activation=net.input_activation, seed=0, dtype=np.float64)
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
        "the largest absolute and relative error per parameter array.",
        epilog="Exit status: 0 when every array passes, 1 when one fails, 2 for bad input.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_network_arguments(p, sizes="4,5,3")
    g = p.add_argument_group("data and check")
    g.add_argument("--samples", type=positive_int, default=5,
                   help="number of random examples (x ~ N(0, 1), targets to suit the output)")
    g.add_argument("--data", metavar="FILE", default=None,
                   help="read examples from FILE instead: CSV/whitespace rows of x followed by "
                   'y (or a class label), or JSON {"x": [[...]], "y": [...]}')
    g.add_argument("--eps", type=positive_float, default=1e-6, help="the perturbation ε")
    g.add_argument("--tolerance", type=positive_float, default=1e-6,
                   help="the largest relative error that passes")
    if _load is not None:  # model files come with chainrule.io (chainrule.load)
        g.add_argument("--model", metavar="PATH", default=None,
                       help="check a saved model (chainrule.load) instead of building one; "
                       "the network options are then ignored")
    p.set_defaults(func=run)


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
        X, Y = read_rows(args.data, net.sizes[0], net.sizes[-1])
        source = f"{len(X)} example{'s' if len(X) > 1 else ''} from {args.data}"
    else:
        rng = np.random.default_rng([args.seed, 2])  # apart from the weights' stream
        X, Y = rng.normal(size=(args.samples, net.sizes[0])), random_targets(rng, args.samples,
                                                                             net)
        source = f"{args.samples} random example{'s' if args.samples > 1 else ''}"
    try:
        report = gradcheck(net, X, Y, eps=args.eps, tolerance=args.tolerance)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print("gradcheck: backprop against central differences of the mean loss")
    if model is not None:
        print(f"model: {model}")
    for line in describe_network(net):
        print(line)
    print(f"data: {source}, seed {args.seed}")
    print(report)
    return 0 if report.passed else 1
