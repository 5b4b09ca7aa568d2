"""``chainrule plot``: one figure of a saved model, as PNG or SVG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..plots.select import FIGURES, NEEDS_DATA
from .common import CLIError, positive_int
from .report_command import (
    ModelData,
    _check_output,
    _require_plots,
    add_model_source_arguments,
    open_model_and_data,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand."""
    listing = "; ".join(f"{name}: {text}" for name, text in FIGURES.items())
    p = sub.add_parser(
        "plot",
        help="draw one figure of a saved model as PNG or SVG",
        description="Draw one figure of a saved model for a paper or slides; the output's "
        f"suffix (.png or .svg) picks the format. Figures — {listing}. Needs matplotlib: "
        "pip install chainrule[plot].",
    )
    add_model_source_arguments(p)
    p.add_argument("--what", required=True, choices=list(FIGURES), help="which figure")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PATH",
        help="the .png or .svg file to write (.gif with --animate)",
    )
    a = p.add_argument_group("animation (--what boundary)")
    a.add_argument(
        "--animate",
        action="store_true",
        help="replay the training run epoch by epoch and write the decision "
        "boundary of each epoch as a GIF (matplotlib's Pillow writer): a fresh "
        "network with the model's architecture, seed and training settings "
        "(epochs, batch size, learning rate, optimizer), trained on the bundled "
        "data set's training split, or on --data",
    )
    a.add_argument("--fps", type=positive_int, default=4, help="frames per second of the GIF")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Draw and save the figure."""
    suffix = Path(args.output).suffix.lower()
    if args.animate:
        if args.what != "boundary":
            raise CLIError("--animate goes with --what boundary")
        if suffix != ".gif":
            raise CLIError(
                f"output {args.output!r} must end in .gif with --animate, got {suffix or 'none'!r}"
            )
        _require_plots()
        _check_output(args.output, "animation", args)
        return _animate(args)
    if args.what == "boundary" and suffix in (".png", ".svg"):
        _require_plots()
        _check_output(args.output, "figure", args)
        return _boundary(args)
    if suffix not in (".png", ".svg"):
        raise CLIError(f"output {args.output!r} must end in .png or .svg, got {suffix or 'none'!r}")
    _require_plots()
    _check_output(args.output, "figure", args)
    from ..plots import figure_for, save_figure

    # The gradients figure adds its units panel when data can be found.
    md = open_model_and_data(
        args, need_data=args.what in NEEDS_DATA, want_data=args.what in NEEDS_DATA | {"gradients"}
    )
    try:
        fig = figure_for(
            args.what,
            md.model.network,
            md.X,
            md.y,
            md.model.class_names,
            images=md.images,
            to_units=md.to_units(),
            units=md.units,
        )
    except ValueError as exc:
        raise CLIError(f"{args.model}: {exc}") from None
    print(f"{args.what}: {save_figure(fig, args.output)}")
    return 0


def _plane(md: ModelData) -> tuple[Any, Any, list[str] | None]:
    """Points, the map from the plane to network inputs, and the axes' names.

    In the data's own units when the raw numeric features are at hand (the
    plane then goes through the model's preprocessing), else in network units.
    """
    model = md.model
    if (
        md.images is not None
        and np.asarray(md.images).ndim == 2
        and np.asarray(md.images).shape[1] == 2
        and model.network.sizes[0] == 2
    ):
        return np.asarray(md.images, dtype=float), model.transform, list(model.feature_names)
    names = (
        [f"{n} (network input)" for n in model.feature_names]
        if len(model.feature_names) == 2
        else None
    )
    return md.X, None, names


def _boundary(args: argparse.Namespace) -> int:
    from ..plots import save_figure
    from ..plots.boundary import boundary_figure

    md = open_model_and_data(args, need_data=True)
    points, transform, names = _plane(md)
    try:
        assert md.y is not None
        fig = boundary_figure(
            md.model.network,
            points,
            md.y,
            class_names=md.model.class_names,
            feature_names=names,
            transform=transform,
        )
    except ValueError as exc:
        raise CLIError(f"{args.model}: {exc}") from None
    print(f"boundary: {save_figure(fig, args.output)}")
    return 0


def _animate(args: argparse.Namespace) -> int:
    from ..network import Network
    from ..plots.boundary import boundary_animation

    md = _training_data(args)
    model = md.model
    arch = model.metadata.get("architecture") or model.network.config()
    train = model.metadata.get("training") or {}
    acts = arch.get("activations") or [a.name for a in model.network.activations]
    acts = [a["name"] if isinstance(a, dict) else a for a in acts]
    inp = arch.get("input_activation", "identity")
    net = Network(
        arch["sizes"],
        activation=acts[:-1] or "identity",
        output_activation=acts[-1],
        cost=arch["cost"],
        input_activation=inp["name"] if isinstance(inp, dict) else inp,
        init=arch.get("init"),
        seed=train.get("seed", 0),
        dtype=arch.get("dtype", "float64"),
    )
    points, transform, names = _plane(md)
    settings = {
        k: train[k]
        for k in ("batch_size", "learning_rate", "optimizer")
        if train.get(k) is not None
    }
    epochs = int(train.get("epochs") or len(model.network.history) or 20)
    assert md.y is not None
    try:
        out = boundary_animation(
            net,
            points,
            md.y,
            args.output,
            epochs=epochs,
            fps=args.fps,
            class_names=model.class_names,
            feature_names=names,
            transform=transform,
            seed=train.get("seed", 0),
            **settings,
        )
    except ValueError as exc:
        raise CLIError(f"{args.model}: {exc}") from None
    print(f"boundary over {epochs} epochs: {out}")
    return 0


def _training_data(args: argparse.Namespace) -> ModelData:
    """--data, or the training split of the bundled data set the model was trained on."""
    if args.data is not None:
        return open_model_and_data(args, need_data=True)
    from ..data import DATASETS, load_dataset, split_indices
    from .model_data import open_model

    model = open_model(args.model)
    source = model.metadata.get("data") or {}
    training = model.metadata.get("training") or {}
    name = source.get("name")
    if name not in DATASETS or "test_fraction" not in source or "file" in source:
        raise CLIError(
            f"{args.model}: trained on {name or 'unrecorded data'}, not a bundled "
            "data set: give the training rows with --data FILE"
        )
    seed = source.get("seed", training.get("seed", 0))
    generated = {k: training[k] for k in ("n_samples", "noise") if training.get(k) is not None}
    data = load_dataset(name, seed=seed, **generated)
    train_rows, _, _ = split_indices(
        data.y,
        val_fraction=source.get("val_fraction", 0.0),
        test_fraction=source["test_fraction"],
        seed=seed,
        stratify=data.task == "classification",
    )
    raw = data.X[train_rows]
    return ModelData(
        model, model.transform(raw), data.y[train_rows], raw, f"{name} (training split)"
    )
