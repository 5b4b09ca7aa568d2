"""``chainrule plot``: one figure of a saved model, as PNG or SVG."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..plots.select import FIGURES, NEEDS_DATA
from .common import CLIError
from .report_command import (
    _check_output,
    _require_plots,
    add_model_source_arguments,
    open_model_and_data,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand."""
    listing = "; ".join(f"{name}: {text}" for name, text in FIGURES.items())
    p = sub.add_parser(
        "plot", help="draw one figure of a saved model as PNG or SVG",
        description="Draw one figure of a saved model for a paper or slides; the output's "
        f"suffix (.png or .svg) picks the format. Figures — {listing}. Needs matplotlib: "
        "pip install chainrule[plot].")
    add_model_source_arguments(p)
    p.add_argument("--what", required=True, choices=list(FIGURES), help="which figure")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="the .png or .svg file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Draw and save the figure."""
    suffix = Path(args.output).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise CLIError(f"output {args.output!r} must end in .png or .svg, got {suffix or 'none'!r}")
    _require_plots()
    _check_output(args.output, "figure", args)
    from ..plots import figure_for, save_figure

    # The gradients figure adds its units panel when data can be found.
    md = open_model_and_data(args, need_data=args.what in NEEDS_DATA,
                             want_data=args.what in NEEDS_DATA | {"gradients"})
    try:
        fig = figure_for(args.what, md.model.network, md.X, md.y, md.model.class_names,
                         images=md.images, to_units=md.to_units(), units=md.units)
    except ValueError as exc:
        raise CLIError(f"{args.model}: {exc}") from None
    print(f"{args.what}: {save_figure(fig, args.output)}")
    return 0
