"""Network options shared by ``chainrule explain`` and ``chainrule gradcheck``."""

from __future__ import annotations

import argparse

import numpy as np

from ..functions import ACTIVATIONS, COSTS
from ..network import INITS, Network
from ..training.memory import check_fits, network_memory
from .common import CLIError, int_list, non_negative_int

__all__ = ["add_network_arguments", "build_network", "describe_network"]

ELEMENTWISE = sorted(set(ACTIVATIONS) - {"softmax"})


def add_network_arguments(
    p: argparse.ArgumentParser,
    *,
    sizes: str,
    input_activation: str = "identity",
    init: str | None = None,
    dtype: bool = False,
) -> None:
    """Options that build a :class:`~chainrule.Network` (see :func:`build_network`).

    Parameters
    ----------
    p : argparse.ArgumentParser
    sizes : str
        Default ``--sizes``, e.g. ``"3,4,2"``.
    input_activation : str
        Default ``--input-activation``.
    init : str, optional
        Default ``--init`` (None: the network's own default).
    dtype : bool
        Offer ``--dtype float32|float64``.
    """
    g = p.add_argument_group("network")
    g.add_argument("--sizes", type=int_list, default=int_list(sizes), metavar="N,N,...",
                   help="layer sizes N_1,...,N_L, input first and output last")
    g.add_argument("--activation", choices=ELEMENTWISE, default="sigmoid",
                   help="σ of the hidden layers")
    g.add_argument("--output-activation", choices=sorted(ACTIVATIONS), default=None,
                   help="σ of the output layer (default: the same as --activation)")
    g.add_argument("--cost", choices=sorted(COSTS), default="quadratic", help="cost function C")
    g.add_argument("--input-activation", choices=ELEMENTWISE, default=input_activation,
                   help="σ on the input layer, a^1 = σ(z^1) (the seed uses sigmoid)")
    g.add_argument("--init", choices=INITS, default=init,
                   help="weight initialisation (default: he for ReLU layers, else xavier)"
                   if init is None else "weight initialisation")
    g.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for the weights and random data")
    if dtype:
        g.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                       help="floating-point type of the weights and the arithmetic")


def build_network(args: argparse.Namespace) -> Network:
    """The network the options describe; a bad combination is a :class:`CLIError`."""
    if len(args.sizes) < 2:
        raise CLIError(f"--sizes needs at least 2 layers (input and output), got {args.sizes}")
    dtype = np.dtype(getattr(args, "dtype", "float64"))
    check_fits(network_memory(args.sizes, dtype.itemsize),
               f"a {'-'.join(map(str, args.sizes))} network in {dtype.name}", "use smaller --sizes")
    try:
        return Network(args.sizes, activation=args.activation,
                       output_activation=args.output_activation, cost=args.cost,
                       input_activation=args.input_activation, init=args.init,
                       seed=args.seed, dtype=getattr(args, "dtype", "float64"))
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def describe_network(net: Network) -> list[str]:
    """Short lines (under 80 columns) describing the network."""
    hidden = sorted({a.name for a in net.activations[:-1]}) or ["none"]
    return [
        f"network: sizes {'-'.join(map(str, net.sizes))}, cost {net.cost.name}, "
        f"{net.dtype.name}",
        f"σ: input {net.input_activation.name}, hidden {'/'.join(hidden)}, "
        f"output {net.output_activation.name}",
    ]


def random_targets(rng: np.random.Generator, n: int, net: Network) -> np.ndarray:
    """Targets of shape ``(n, N_L)`` that make sense for the output activation and cost."""
    n_out, out = net.sizes[-1], net.output_activation.name
    if out == "softmax":
        return np.eye(n_out)[rng.integers(0, n_out, n)]
    if out == "sigmoid":
        return rng.uniform(0.05, 0.95, (n, n_out))
    if out == "tanh":
        return rng.uniform(-0.9, 0.9, (n, n_out))
    return rng.normal(size=(n, n_out))
