"""``chainrule info``: what a model file holds."""

from __future__ import annotations

import argparse
import json
import math

from .model_data import add_model_argument, open_model


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``info`` subcommand."""
    p = sub.add_parser(
        "info",
        help="describe a saved model",
        description="Print a model file's architecture, classes, "
        "preprocessing, training settings and final metrics.",
    )
    add_model_argument(p)
    p.add_argument("--json", action="store_true", help="print the full metadata as JSON")
    p.set_defaults(func=run)


def _fmt(value: float) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
    )


def run(args: argparse.Namespace) -> int:
    """Print the summary."""
    model = open_model(args.model)
    meta = model.metadata
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    net = model.network
    print(
        f"model file: {args.model} (format version {meta.get('format_version')}, "
        f"written by chainrule {meta.get('chainrule_version')})"
    )
    print(f"network: {net!r}")
    print(f"parameters: {net.n_parameters}")
    print(f"task: {model.task}")
    if model.class_names:
        shown = ", ".join(model.class_names[:20])
        more = f", … ({len(model.class_names)} in all)" if len(model.class_names) > 20 else ""
        print(f"classes: {shown}{more}")
    features = ", ".join(model.feature_names[:10])
    if len(model.feature_names) > 10:
        features += f", … ({len(model.feature_names)} in all)"
    enc = model.encoding
    if enc is not None and (enc.needed or model.n_columns != model.n_features):
        print(f"features: {model.n_columns} columns ({features}) → {model.n_features} inputs")
    else:
        print(f"features: {model.n_features}" + (f" ({features})" if features else ""))
    if model.target_name:
        print(f"target: {model.target_name}")
    pre = model.preprocessing
    print(
        "preprocessing: "
        + (
            "none"
            if pre is None
            else pre.features.kind
            + " scaling"
            + (" (target standardised)" if pre.target is not None else "")
        )
    )
    if enc is not None and enc.roles:
        from ..data.roles import describe_roles

        print("columns:")
        vocab = {c.name: c.words for c in enc.columns if c.kind == "words"}
        for line in describe_roles(enc.roles, model.target_name, vocab):
            print(line)
    if enc is not None and enc.id_column:
        print(f"id column: {enc.id_column} (written first by predict)")
    if enc is not None and enc.needed:
        print(f"encoding (missing cells: {enc.missing}):")
        for line in enc.describe():
            print(f"  {line}")
    data = meta.get("data") or {}
    if data:
        print("data: " + ", ".join(f"{k}={v}" for k, v in data.items()))
    training = meta.get("training") or {}
    if training:
        print("training: " + ", ".join(f"{k}={v}" for k, v in training.items()))
    h = model.history
    if len(h):
        last = len(h) - 1
        std = " (standardised)" if pre is not None and pre.target is not None else ""
        line = f"history: {len(h)} epochs; last: train loss{std} {_fmt(h.train_loss[last])}"
        if model.task == "classification":
            line += f", train accuracy {_fmt(h.train_accuracy[last])}"
        if h.has_validation:
            line += f", validation loss{std} {_fmt(h.val_loss[last])}"
            if model.task == "classification":
                line += f", validation accuracy {_fmt(h.val_accuracy[last])}"
        print(line)
    else:
        print("history: not trained")
    return 0
