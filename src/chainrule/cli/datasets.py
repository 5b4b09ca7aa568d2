"""``chainrule datasets``: the bundled and generated data sets."""

from __future__ import annotations

import argparse

from ..data import DATASETS, load_dataset


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``datasets`` subcommand."""
    p = sub.add_parser(
        "datasets",
        help="list the bundled data sets",
        description="List the data sets 'chainrule train --data NAME' "
        "accepts, with their shapes and task. All are offline; the generated "
        "ones take --n-samples, --noise and --seed.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per data set."""
    print(f"{'name':<14} {'task':<15} {'rows':>6} {'features':>8} {'classes':>7}  description")
    for name, info in DATASETS.items():
        d = load_dataset(name)
        rows = f"{len(d.X)}" + ("*" if info.generated else "")
        classes = str(d.n_classes) if d.task == "classification" else "-"
        print(
            f"{name:<14} {d.task:<15} {rows:>6} {d.X.shape[1]:>8} {classes:>7}  {info.description}"
        )
    print(
        "mnist          classification  70000      784      10  handwritten digits 28x28 "
        "(needs --data-dir with the four IDX files)"
    )
    print("* generated: the default size; choose it with --n-samples")
    return 0
