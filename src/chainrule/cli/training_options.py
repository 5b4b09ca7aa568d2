"""How ``chainrule train`` trains: optimizer and loop options, callbacks."""

from __future__ import annotations

import argparse
from typing import Any

from ..training import Callback, PrintProgress
from ..training.optimizers import OPTIMIZERS
from .common import positive_float, positive_int

__all__ = [
    "TRAINING_DEFAULTS",
    "add_training_arguments",
    "describe",
    "fit_kwargs",
    "make_callbacks",
]

# Defaults for the main job: digits to >= 96 % test accuracy in a few seconds.
TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 50,
    "batch_size": 10,
    "learning_rate": 0.1,
    "optimizer": "sgd",
}


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Options for the training loop."""
    d = TRAINING_DEFAULTS
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int, default=d["epochs"])
    g.add_argument("--batch-size", type=positive_int, default=d["batch_size"])
    g.add_argument("--learning-rate", "--eta", type=positive_float, default=d["learning_rate"],
                   help="learning rate η (for the gradient of the mean cost)")
    g.add_argument("--optimizer", choices=[*sorted(OPTIMIZERS), "nesterov"],
                   default=d["optimizer"])
    g.add_argument("--quiet", action="store_true", help="print only the final result")


def fit_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``Network.fit`` from the options."""
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "optimizer": args.optimizer,
        "seed": args.seed,
    }


def make_callbacks(args: argparse.Namespace) -> list[Callback]:
    """Progress display and logging callbacks the options ask for."""
    return [] if args.quiet else [PrintProgress(total_epochs=args.epochs)]


def describe(args: argparse.Namespace) -> str:
    """One line summarising the training settings."""
    return (f"training: {args.epochs} epochs, batch size {args.batch_size}, "
            f"learning rate {args.learning_rate}, optimizer {args.optimizer}")
