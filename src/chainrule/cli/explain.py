"""``chainrule explain``: print every object of the seed's derivation for one example.

Builds a small network (default: the seed's Figure 1 network, sizes 3-4-2,
sigmoid everywhere including the input, quadratic cost), computes the explicit
objects of :mod:`chainrule.tensors` for one example, prints them in the order of
the seed's §5 summary, and ends with the check against ``Network.backprop``.
Exit status 0 when the two paths agree, 1 when they do not, 2 for bad input.

The default initialisation is ``scaled_normal`` (Nielsen's ``network2.py``):
its biases are non-zero, so ``b^l`` shows up in the trace, and its weights keep
the outputs away from saturation, where the two paths' round-off differs most.

To add a view, add a renderer to :data:`.explain_render.RENDERERS` (a new
``--format``) or an option here that post-processes the :class:`ExplainReport`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from ..network import Network
from ..tensors import compare_with_backprop, explain_trace
from ..training.memory import check_fits
from .common import CLIError
from .examples import number_list, read_rows, split_row
from .explain_render import RENDERERS, ExplainReport
from .network_options import add_network_arguments, build_network, describe_network, random_targets

__all__ = ["build_report", "register", "run"]

#: the example shown for the seed's 3-4-2 network when none is given
FIGURE1_EXAMPLE = ([0.5, -1.0, 2.0], [0.0, 1.0])


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``explain`` subcommand."""
    p = sub.add_parser(
        "explain",
        help="print every Jacobian, 3-tensor and product of the derivation for one example",
        description="Print each object of the seed's derivation for one example (x, λ): its "
        "name in the seed's notation, its equation, its shape and its values, in the order "
        "of the seed's §5 summary, then check the result against the fast path "
        "(Network.backprop). Default: the seed's Figure 1 network (3-4-2, sigmoid everywhere, "
        "σ on the input too, quadratic cost) with x = 0.5,-1,2 and λ = 0,1.",
        epilog="A negative first value needs '=': --x=-0.5,1,2. Exit status: 0 when the two "
        "paths agree, 1 when they do not, 2 for bad input.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_network_arguments(p, sizes="3,4,2", input_activation="sigmoid", init="scaled_normal",
                          dtype=True)
    g = p.add_argument_group("example (default: 0.5,-1,2 → 0,1 for 3-4-2, else random)")
    g.add_argument("--x", metavar="X1,X2,...", help="the input z^1, comma-separated")
    g.add_argument("--y", metavar="Y1,Y2,...",
                   help="the target λ (N_L values), or one integer class label")
    g.add_argument("--example", metavar="FILE",
                   help="read the example from FILE: one CSV/whitespace row of x followed by "
                   'y, or JSON {"x": [...], "y": [...]}')
    p.add_argument("--format", choices=sorted(RENDERERS), default="text",
                   help="text (80 columns, large arrays summarised), markdown, or json "
                   "(every value)")
    f = p.add_argument_group("figure (needs matplotlib: pip install chainrule[plot])")
    f.add_argument("--figure", metavar="PATH",
                   help="also draw the seed's Figure 2 for one layer, with this example's "
                   "values of z, a, W and b written on it (.svg or .png)")
    f.add_argument("--figure-layer", type=int, metavar="L",
                   help="the layer l (2..L) to draw (default: the output layer L)")
    p.set_defaults(func=run)


def _example(args: argparse.Namespace, net: Network) -> tuple[np.ndarray, Any]:
    n_in, n_out = net.sizes[0], net.sizes[-1]
    if args.example is not None:
        if args.x is not None or args.y is not None:
            raise CLIError("give the example either with --example or with --x/--y, not both")
        X, Y = read_rows(args.example, n_in, n_out)
        if len(X) != 1:
            raise CLIError(f"{args.example} holds {len(X)} examples; explain needs exactly one")
        return X[0], Y[0]
    if (args.x is None) != (args.y is None):
        raise CLIError("--x and --y go together: give both, or neither")
    if args.x is not None:
        x = number_list(args.x, "--x")
        if len(x) != n_in:
            raise CLIError(f"--x has {len(x)} values, expected {n_in} (N_1, the first of "
                           f"--sizes {','.join(map(str, net.sizes))})")
        y = number_list(args.y, "--y")
        _, target = split_row(x + y, n_in, n_out, "--y")
        return np.array(x), target
    if list(net.sizes) == [3, 4, 2]:
        return np.array(FIGURE1_EXAMPLE[0]), np.array(FIGURE1_EXAMPLE[1])
    rng = np.random.default_rng([args.seed, 1])  # apart from the weights' stream
    return rng.normal(size=n_in), random_targets(rng, 1, net)[0]


def build_report(args: argparse.Namespace, net: Network | None = None) -> ExplainReport:
    """Network, example, trace and agreement for the parsed options."""
    if net is None:
        net = build_network(args)
    x, y = _example(args, net)
    try:
        trace = explain_trace(net, x, y)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    agreement = compare_with_backprop(net, x, y, trace=trace)
    init = args.init or "default"
    description = [*describe_network(net),
                   f"weights: init {init}, seed {args.seed}",
                   "example: x = " + ", ".join(f"{v:.4g}" for v in trace.x),
                   "target:  λ = " + ", ".join(f"{v:.4g}" for v in trace.y)]
    config = {**net.config(), "seed": args.seed}
    notes = []
    if not agreement.passed:
        notes.append("The paths disagree: one of them has a bug (or the network is "
                     "saturated: check with 'chainrule gradcheck').")
    return ExplainReport(description, config, trace, agreement, notes)


def run(args: argparse.Namespace) -> int:
    """Print the derivation in the chosen format; 0 if the paths agree, else 1."""
    _check_memory(args)
    net = build_network(args)
    layer = _check_figure_options(args, net)
    report = build_report(args, net)
    sys.stdout.write(RENDERERS[args.format](report))
    if args.figure is not None:
        from ..plots import layer_figure

        try:
            layer_figure(net, report.trace.x, layer, args.figure)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        print(f"wrote the seed's Figure 2 for layer {layer} to {args.figure}", file=sys.stderr)
    return 0 if report.agreement.passed else 1


def _check_memory(args: argparse.Namespace) -> None:
    """Refuse, with the estimate, sizes whose explicit objects cannot fit in memory.

    Per layer the trace holds the 3-tensor ``∂z^l/∂W^l`` of shape (N_l, N_l, N_{l-1}) and
    its product with ``δ^l``, the Jacobians (N_l, N_l) and (N_l, N_{l-1}), and the chain
    of products back from the output, (N_L, N_l).
    """
    sizes = args.sizes
    itemsize = np.dtype(getattr(args, "dtype", "float64")).itemsize
    need = itemsize * sum(2 * n * n * m + 3 * n * n + 3 * n * m + sizes[-1] * n
                          for n, m in zip(sizes[1:], sizes[:-1], strict=False))
    check_fits(need, f"explaining a {'-'.join(map(str, sizes))} network",
               "explain is meant for small networks: use smaller --sizes")


def _check_figure_options(args: argparse.Namespace, net: Network) -> int:
    """Validate --figure/--figure-layer before any work; return the layer to draw."""
    L = len(net.sizes)
    layer = L if args.figure_layer is None else args.figure_layer
    if args.figure is None:
        if args.figure_layer is not None:
            raise CLIError("--figure-layer needs --figure PATH")
        return layer
    if not 2 <= layer <= L:
        raise CLIError(f"--figure-layer must be between 2 and {L} (the layers with weights), "
                       f"got {layer}")
    if not args.figure.lower().endswith((".svg", ".png")):
        raise CLIError(f"--figure {args.figure!r} must end in .svg or .png")
    from ..io import OutputPathError, check_output_path
    from ..plots import MissingMatplotlib, require_matplotlib

    try:
        check_output_path(args.figure)
        require_matplotlib()
    except (OutputPathError, MissingMatplotlib) as exc:
        raise CLIError(str(exc)) from None
    return layer
