"""``chainrule export``: a saved model, preprocessing included, as an ONNX file."""

from __future__ import annotations

import argparse

from .common import CLIError, check_output_file
from .model_data import add_model_argument, open_model


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    p = sub.add_parser(
        "export",
        help="export a saved model to ONNX",
        description="Write a saved model as an ONNX graph (opset 17; ai.onnx.ml 3 for text "
        "columns and class names): its preprocessing (missing numbers filled, text columns "
        "one-hot encoded, the fitted scaling), the network, and the outputs 'label' and "
        "'probabilities' (n, classes) for a classifier or 'predictions' for a regressor. "
        "A table with text columns becomes one input per column; otherwise one input 'X'. "
        "Needs onnx: pip install chainrule[onnx].",
    )
    add_model_argument(p)
    p.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="FILE",
        help="the ONNX file to write (atomically), e.g. model.onnx",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="the graph's float type (default: the model's)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and write the file."""
    check_output_file(args.output, "--output", {"model": args.model})
    model = open_model(args.model)
    try:
        from ..export.onnx import OnnxExportError, model_to_onnx, save_onnx

        proto = model_to_onnx(model, dtype=args.dtype)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except OnnxExportError as exc:
        raise CLIError(f"{args.model}: cannot export to ONNX: {exc}") from None
    save_onnx(proto, args.output)  # OSError: cli.main, exit 1
    inputs = ", ".join(i.name for i in proto.graph.input)
    outputs = ", ".join(o.name for o in proto.graph.output)
    print(
        f"wrote {args.output} (ONNX opset {proto.opset_import[0].version}; inputs: {inputs}; "
        f"outputs: {outputs})"
    )
    return 0
