"""Network options shared by ``chainrule train``, ``explain`` and ``gradcheck``.

The choices are the registries' (:mod:`chainrule.functions`). Every default of
``explain`` and ``gradcheck`` is :data:`chainrule.lesson.LESSON_DEFAULTS`, the one
set of defaults of both commands and of the docs' Python snippets
(:func:`chainrule.lesson_network`); ``train`` passes its own.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..functions import ACTIVATIONS, COSTS, INITIALISATIONS
from ..lesson import LESSON_DEFAULTS
from ..memory import check_fits, network_memory
from ..network import Network
from .common import CLIError, int_list, non_negative_int

__all__ = ["add_network_arguments", "build_network", "describe_network", "network_kwargs"]


def add_network_arguments(
    p: argparse.ArgumentParser,
    *,
    sizes: str | None = None,
    hidden: list[int] | None = None,
    activation: str = LESSON_DEFAULTS["activation"],
    output_activation: str | None = None,
    cost: str = LESSON_DEFAULTS["cost"],
    input_activation: str = LESSON_DEFAULTS["input_activation"],
    init: str | None = LESSON_DEFAULTS["init"],
    dtype: bool = False,
    seed_help: str = "seed for the weights and random data",
) -> argparse._ArgumentGroup:
    """Options that build a :class:`~chainrule.Network` (see :func:`network_kwargs`).

    Every default is :data:`LESSON_DEFAULTS`'s unless a command passes its own.

    Parameters
    ----------
    p : argparse.ArgumentParser
    sizes : str, optional
        Default ``--sizes``, e.g. ``"3,4,2"`` (every layer given).
    hidden : list of int, optional
        Instead of ``sizes``: default ``--hidden``, the hidden layers only (the data
        give the input and output sizes, as in ``chainrule train``).
    activation, output_activation, cost, input_activation : str
        Defaults of ``--activation``, ``--output-activation`` (None: the same as
        ``--activation``), ``--cost`` and ``--input-activation``.
    init : str, optional
        Default ``--init`` (None: each activation's own, ``Activation.init``).
    dtype : bool
        Offer ``--dtype float32|float64``.
    seed_help : str
        What ``--seed`` seeds.

    Returns
    -------
    argparse._ArgumentGroup
        The "network" group, for a command's own network options.
    """
    g = p.add_argument_group("network")
    if hidden is not None:
        g.add_argument(
            "--hidden",
            type=int_list,
            default=hidden,
            metavar="N,N,...",
            help="hidden layer sizes, comma-separated ('' for none)",
        )
    else:
        default_sizes = int_list(sizes or str(LESSON_DEFAULTS["sizes"]))
        g.add_argument(
            "--sizes",
            type=int_list,
            default=default_sizes,
            metavar="N,N,...",
            help="layer sizes N_1,...,N_L, input first and output last",
        )
    # The registries' names as the parser is built (a hidden or input layer: elementwise).
    elementwise = ACTIVATIONS.names(lambda a: a.elementwise)
    g.add_argument(
        "--activation", choices=elementwise, default=activation, help="σ of the hidden layers"
    )
    g.add_argument(
        "--output-activation",
        choices=sorted(ACTIVATIONS),
        default=output_activation,
        help="σ of the output layer"
        if output_activation is not None
        else "σ of the output layer (default: the same as --activation)",
    )
    g.add_argument("--cost", choices=sorted(COSTS), default=cost, help="cost function C")
    g.add_argument(
        "--input-activation",
        choices=elementwise,
        default=input_activation,
        help="σ on the input layer, a^1 = σ(z^1) (the seed uses sigmoid)",
    )
    g.add_argument(
        "--init",
        choices=list(INITIALISATIONS),
        default=init,
        help="weight initialisation (default: he for ReLU layers, else xavier)"
        if init is None
        else "weight initialisation (scaled_normal: Nielsen's "
        "N(0, 1/N_(l-1)) weights and N(0, 1) biases)",
    )
    if dtype:
        g.add_argument(
            "--dtype",
            choices=["float32", "float64"],
            default="float64",
            help="floating-point type of the weights and the arithmetic",
        )
    g.add_argument("--seed", type=non_negative_int, default=LESSON_DEFAULTS["seed"], help=seed_help)
    return g


def network_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~chainrule.Network` keyword arguments the options give (not the sizes)."""
    return {
        "activation": args.activation,
        "output_activation": args.output_activation,
        "cost": args.cost,
        "input_activation": args.input_activation,
        "init": args.init,
        "seed": args.seed,
        "dtype": getattr(args, "dtype", "float64"),
    }


def build_network(args: argparse.Namespace) -> Network:
    """The network the options describe; a bad combination is a :class:`CLIError`."""
    if len(args.sizes) < 2:
        raise CLIError(f"--sizes needs at least 2 layers (input and output), got {args.sizes}")
    dtype = np.dtype(getattr(args, "dtype", "float64"))
    check_fits(
        network_memory(args.sizes, dtype.itemsize),
        f"a {'-'.join(map(str, args.sizes))} network in {dtype.name}",
        "use smaller --sizes",
    )
    try:
        return Network(args.sizes, **network_kwargs(args))
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def describe_network(net: Network) -> list[str]:
    """Short lines (under 80 columns) describing the network."""
    hidden = sorted({a.name for a in net.activations[:-1]}) or ["none"]
    return [
        f"network: sizes {'-'.join(map(str, net.sizes))}, cost {net.cost.name}, {net.dtype.name}",
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
