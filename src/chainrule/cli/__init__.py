"""The ``chainrule`` command line: argument parsing and messages, no math.

Each subcommand lives in its own module exposing ``register(subparsers)``; it
adds its parser and sets ``func`` to a function ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from .common import CLIError, HelpFormatter

__all__ = ["CLIError", "main"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("train", "datasets", "evaluate", "predict", "info", "explain", "gradcheck", "report",
            "plot")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Feed-forward neural networks trained by backpropagation, "
        "following the seed derivation equation by equation.",
        epilog="Run 'chainrule COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    for command in sub.choices.values():  # every option's help shows its default
        command.formatter_class = HelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"chainrule {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `chainrule train | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
