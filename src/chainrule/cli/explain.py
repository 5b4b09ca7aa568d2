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
import json
import sys
import textwrap
from typing import Any

import numpy as np

from ..answers import CheckResult, check
from ..bugs import BUGS, backprop_by_hand, check_bug
from ..lesson import LESSON_EXAMPLES, lesson_example
from ..memory import check_fits
from ..network import Network
from ..tensors import DerivationTrace, compare_with_backprop, explain_trace
from .common import CLIError, positive_float, positive_int
from .examples import number_list, read_rows, split_row
from .explain_render import RENDERERS, ExplainReport, expand_entry
from .network_options import add_network_arguments, build_network, describe_network, random_targets

__all__ = ["build_report", "register", "run"]

#: the example shown for the seed's 3-4-2 network when none is given
FIGURE1_EXAMPLE = LESSON_EXAMPLES[(3, 4, 2)]


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
    add_network_arguments(p, dtype=True)
    g = p.add_argument_group("example (default: 0.5,-1,2 → 0,1 for 3-4-2, else random)")
    g.add_argument("--x", metavar="X1,X2,...", help="the input z^1, comma-separated")
    g.add_argument(
        "--y", metavar="Y1,Y2,...", help="the target λ (N_L values), or one integer class label"
    )
    g.add_argument(
        "--example",
        metavar="FILE",
        help="read the example from FILE: one CSV/whitespace row of x followed by "
        'y, or JSON {"x": [...], "y": [...]}',
    )
    m = p.add_argument_group("a trained model, or a textbook's weights")
    m.add_argument(
        "--model",
        metavar="MODEL.npz",
        help="explain a saved model (chainrule train --save) on one row of --data, "
        "through the model's preprocessing; the network options are then ignored",
    )
    m.add_argument(
        "--data",
        metavar="FILE",
        help="with --model: the data file (CSV, .npz, …) with the model's raw "
        "features and the target",
    )
    m.add_argument(
        "--row",
        type=positive_int,
        default=1,
        metavar="N",
        help="with --model: the data row to explain, counting from 1 (after any header)",
    )
    m.add_argument(
        "--target",
        default=None,
        metavar="COL",
        help="with --model: the target column (default: the model's)",
    )
    m.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --model: whether the CSV's first line names the columns (default: detected)",
    )
    m.add_argument(
        "--weights",
        metavar="WEIGHTS.json",
        help='use these weights: JSON {"W": [W^2, W^3, ...], "b": [b^2, ...]} '
        '(each W^l a list of N_l rows of N_(l-1) numbers) or {"W^2": …, '
        '"b^2": …}; --sizes is taken from them',
    )
    e = p.add_argument_group("the scalar view")
    e.add_argument(
        "--expand",
        action="append",
        default=None,
        metavar="ENTRY",
        help="print one entry in index form with the numbers plugged in, instead "
        "of the whole trace: δ^2_1, W^2_12 (∂C/∂w^2_12; W^2_1,2 for two-digit "
        "indices), b^3_1, z^2_1, a^2_1; 1-based; repeatable",
    )
    k = p.add_argument_group("check my work")
    k.add_argument(
        "--check",
        metavar="ANSWERS.json",
        help="compare your answers with the trace, entry by entry, and name the "
        'first wrong one: a JSON object such as {"δ^2": [...], "∂C/∂W^3": '
        '[[...], ...], "∂C/∂b^3": [...]} (keys: see chainrule.answers)',
    )
    k.add_argument(
        "--plant-bug",
        choices=list(BUGS),
        default=None,
        metavar="BUG",
        help="compare the trace with a hand-written backprop that has this classic "
        f"mistake ({', '.join(BUGS)}; see chainrule.bugs)",
    )
    k.add_argument(
        "--rtol",
        type=positive_float,
        default=1e-3,
        help="relative tolerance per entry for --check (answers to 4 significant figures pass)",
    )
    p.add_argument(
        "--format",
        choices=sorted(RENDERERS),
        default="text",
        help="text (80 columns, large arrays summarised), markdown (with $…$ "
        "math for Jupyter and MkDocs), latex (an amsmath fragment), or json "
        "(every value)",
    )
    f = p.add_argument_group("figure (needs matplotlib: pip install chainrule[plot])")
    f.add_argument(
        "--figure",
        metavar="PATH",
        help="also draw the network for this example (.svg or .png): a forward "
        "panel (a^l on the nodes, w on the edges) and a backward panel (δ^l on "
        "the nodes, ∂C/∂w on the edges)",
    )
    f.add_argument(
        "--figure-layer",
        type=int,
        metavar="L",
        help="draw the seed's Figure 2 for layer l (2..L) instead, with this "
        "example's z, a, W and b written on it",
    )
    p.set_defaults(func=run)


def _example(args: argparse.Namespace, net: Network) -> tuple[np.ndarray, Any]:
    n_in, n_out = net.sizes[0], net.sizes[-1]
    if getattr(args, "model_row", None) is not None:
        return args.model_row
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
            raise CLIError(
                f"--x has {len(x)} values, expected {n_in} (N_1, the first of "
                f"--sizes {','.join(map(str, net.sizes))})"
            )
        y = number_list(args.y, "--y")
        _, target = split_row(x + y, n_in, n_out, "--y")
        return np.array(x), target
    fixed = lesson_example(net.sizes)
    if fixed is not None:
        return np.array(fixed[0]), np.array(fixed[1])
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
    checks = _checks(args, net, trace)
    bug = getattr(args, "plant_bug", None)
    weights_line = f"weights: init {args.init or 'default'}, seed {args.seed}"
    if getattr(args, "model", None) is not None:
        weights_line = f"weights: trained ({args.model}); row {args.row} of {args.data}"
    elif getattr(args, "weights", None) is not None:
        weights_line = f"weights: from {args.weights}"
    description = [
        *describe_network(net),
        weights_line,
        "example: x = " + ", ".join(f"{v:.4g}" for v in trace.x),
        "target:  λ = " + ", ".join(f"{v:.4g}" for v in trace.y),
    ]
    config = {**net.config(), "seed": args.seed}
    notes = []
    if not agreement.passed:
        notes.append(
            "The paths disagree: one of them has a bug (or the network is "
            "saturated: check with 'chainrule gradcheck')."
        )
    if bug is not None and checks and checks[-1][1].passed:
        notes.append(
            f"The planted bug {bug} does not show on one example (it is in the sum "
            f"over a batch): 'chainrule gradcheck --plant-bug {bug}' checks several."
        )
    return ExplainReport(description, config, trace, agreement, notes, checks)


def _checks(
    args: argparse.Namespace, net: Network, trace: DerivationTrace
) -> list[tuple[str, CheckResult]]:
    """``--check`` and ``--plant-bug``: (what was checked, its result) pairs."""
    out = []
    if getattr(args, "check", None) is not None:
        answers = read_answers(args.check)
        try:
            result = check(net, trace.x, trace.y, answers, rtol=args.rtol, trace=trace)
        except ValueError as exc:
            raise CLIError(f"{args.check}: {exc}") from None
        out.append((f"your answers in {args.check}", result))
    bug = getattr(args, "plant_bug", None)
    if bug is not None:
        try:
            check_bug(net, bug)
        except ValueError as exc:
            raise CLIError(str(exc)) from None

        def planted(weights: Any, biases: Any, x: Any, y: Any) -> Any:
            return backprop_by_hand(net, x[None, :], y[None, :], bug)

        rtol = 1e-9 if net.dtype == np.float64 else 1e-4
        result = check(net, trace.x, trace.y, planted, rtol=rtol, trace=trace)
        out.append((f"the planted bug {bug} ({BUGS[bug]})", result))
    return out


def read_answers(path: str) -> dict[str, Any]:
    """A JSON object of answers; a bad file is a one-line :class:`CLIError`."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as exc:
        raise CLIError(f"cannot read --check {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"{path}, line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})"
        ) from None
    if not isinstance(doc, dict):
        raise CLIError(
            f"{path}: expected a JSON object of answers such as "
            f'{{"δ^2": [...]}}, got {type(doc).__name__}'
        )
    return doc


def _network(args: argparse.Namespace) -> Network:
    """The network to explain: from --model, --weights, or the network options."""
    model = getattr(args, "model", None)
    if model is None:
        if getattr(args, "data", None) is not None:
            raise CLIError(
                "--data goes with --model (for your own example use --x/--y or --example)"
            )
        weights = getattr(args, "weights", None)
        if weights is None:
            _check_memory(args)
            return build_network(args)
        W, b = read_weights(weights)
        args.sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
        _check_memory(args)
        net = build_network(args)
        net.weights = [w.astype(net.dtype) for w in W]
        net.biases = [v.astype(net.dtype) for v in b]
        return net
    if args.data is None:
        raise CLIError("--model needs --data FILE (and --row N) for the example to explain")
    if args.weights is not None or args.example is not None or args.x is not None:
        raise CLIError(
            "--model explains a row of --data: leave out --weights, --example, --x and --y"
        )
    net, x, y = model_row(args, args.model, args.data, args.row)
    args.model_row = (x, y)
    return net


def model_row(
    args: argparse.Namespace, path: str, data_path: str, row: int
) -> tuple[Network, np.ndarray, np.ndarray]:
    """A saved model's network and data row ``row`` (1-based) through its preprocessing.

    The one place ``explain`` applies a model's preprocessing (its text encoding,
    missing-value filling and scaling; a regression target standardised as in
    training), so the trace sees what training saw.
    """
    from ..data import one_hot
    from .model_data import model_inputs, open_model, read_data_for

    model = open_model(path)
    args.x_key, args.y_key, args.labels = "X", "y", None  # (CSV options only here)
    data = read_data_for(args, model, has_target=True)
    if not 1 <= row <= len(data.y):
        raise CLIError(f"--row {row}: {data_path} has {len(data.y)} data rows (1..{len(data.y)})")
    net = model.network
    n_out = net.sizes[-1]
    X = model_inputs(args, model, data).astype(net.dtype)
    y = data.y[row - 1 : row]
    if model.task == "classification":
        Y = (y[:, None] == 1).astype(net.dtype) if n_out == 1 else one_hot(y, n_out)
    else:
        Y = np.asarray(y, dtype=np.float64).reshape(1, -1)
        if model.preprocessing is not None:
            Y = model.preprocessing.transform_target(Y)
    return net, X[row - 1], np.asarray(Y[0], dtype=net.dtype)


def read_weights(path: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``W^2..W^L`` and ``b^2..b^L`` from a JSON file; a bad file is a one-line error."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as exc:
        raise CLIError(f"cannot read --weights {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"{path}, line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})"
        ) from None
    if not isinstance(doc, dict):
        raise CLIError(f'{path}: expected a JSON object {{"W": [...], "b": [...]}}')
    if "W" in doc or "b" in doc:
        Ws, bs = doc.get("W"), doc.get("b")
    else:
        layers = sorted(int(k[2:]) for k in doc if k.startswith("W^") and k[2:].isdigit())
        Ws = [doc[f"W^{l}"] for l in layers]
        bs = [doc.get(f"b^{l}") for l in layers]
        if not layers or layers != list(range(2, len(layers) + 2)):
            raise CLIError(
                f'{path}: expected "W^2", "W^3", … (and "b^2", …) or "W" and "b", '
                f"got keys {', '.join(map(repr, doc))}"
            )
    if not isinstance(Ws, list) or not isinstance(bs, list) or not Ws or len(Ws) != len(bs):
        raise CLIError(f'{path}: "W" and "b" must be lists with one entry per layer 2..L')
    W: list[np.ndarray] = []
    b: list[np.ndarray] = []
    for l, (w, v) in enumerate(zip(Ws, bs, strict=True), start=2):
        try:
            wa = np.array(w, dtype=np.float64)
            va = np.array(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise CLIError(f"{path}: W^{l} and b^{l} must hold numbers") from None
        if wa.ndim != 2 or 0 in wa.shape:
            raise CLIError(
                f"{path}: W^{l} must be a list of rows (N_{l} × N_{l - 1}), got shape {wa.shape}"
            )
        if va.shape != (wa.shape[0],):
            raise CLIError(
                f"{path}: b^{l} must hold N_{l} = {wa.shape[0]} numbers (one per "
                f"row of W^{l}), got shape {va.shape}"
            )
        if W and wa.shape[1] != W[-1].shape[0]:
            raise CLIError(
                f"{path}: W^{l} has {wa.shape[1]} columns, expected "
                f"N_{l - 1} = {W[-1].shape[0]} (the rows of W^{l - 1})"
            )
        if not (np.isfinite(wa).all() and np.isfinite(va).all()):
            raise CLIError(f"{path}: W^{l} or b^{l} holds NaN or infinity")
        W.append(wa)
        b.append(va)
    return W, b


def run(args: argparse.Namespace) -> int:
    """Print the derivation in the chosen format; 0 if the paths agree, else 1."""
    net = _network(args)
    layer = _check_figure_options(args, net)
    report = build_report(args, net)
    if args.expand:
        out = [
            "chainrule explain: the scalar view (seed eqs. 1, 5, 9, 13, 15 by index)",
            *report.description,
        ]
        for spec in args.expand:
            try:
                out += ["", *expand_entry(report.trace, spec)]
            except ValueError as exc:
                raise CLIError(str(exc)) from None
        for what, result in report.checks:
            verdict = f"check my work, {what}: {'PASS' if result.passed else 'FAIL'}: {result}"
            out += ["", *textwrap.wrap(verdict, 80, subsequent_indent="  ")]
        out += [line for n in report.notes for line in textwrap.wrap(n, 80)]
        sys.stdout.write("\n".join(out) + "\n")
    else:
        sys.stdout.write(RENDERERS[args.format](report))
    ok = report.agreement.passed and all(r.passed for _, r in report.checks)
    if args.figure is not None:
        from ..plots import backprop_figure, layer_figure

        try:
            if args.figure_layer is None:
                backprop_figure(report.trace, args.figure)
                what = "the forward and backward passes"
            else:
                layer_figure(net, report.trace.x, layer, args.figure)
                what = f"the seed's Figure 2 for layer {layer}"
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        print(f"wrote {what} to {args.figure}", file=sys.stderr)
    return 0 if ok else 1


def _check_memory(args: argparse.Namespace) -> None:
    """Refuse, with the estimate, sizes whose explicit objects cannot fit in memory.

    Per layer the trace holds the 3-tensor ``∂z^l/∂W^l`` of shape (N_l, N_l, N_{l-1}) and
    its product with ``δ^l``, the Jacobians (N_l, N_l) and (N_l, N_{l-1}), and the chain
    of products back from the output, (N_L, N_l).
    """
    sizes = args.sizes
    itemsize = np.dtype(getattr(args, "dtype", "float64")).itemsize
    need = itemsize * sum(
        2 * n * n * m + 3 * n * n + 3 * n * m + sizes[-1] * n
        for n, m in zip(sizes[1:], sizes[:-1], strict=False)
    )
    check_fits(
        need,
        f"explaining a {'-'.join(map(str, sizes))} network",
        "explain is meant for small networks: use smaller --sizes",
    )


def _check_figure_options(args: argparse.Namespace, net: Network) -> int:
    """Validate --figure/--figure-layer before any work; return the layer to draw."""
    L = len(net.sizes)
    layer = L if args.figure_layer is None else args.figure_layer
    if args.expand and args.format != "text":
        raise CLIError("--expand prints text: leave out --format")
    if args.figure is None:
        if args.figure_layer is not None:
            raise CLIError("--figure-layer needs --figure PATH")
        return layer
    if not 2 <= layer <= L:
        raise CLIError(
            f"--figure-layer must be between 2 and {L} (the layers with weights), got {layer}"
        )
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
