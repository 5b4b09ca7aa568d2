"""The training report: one self-contained HTML file.

Every figure is embedded as a base64 PNG ``data:`` URI and the style sheet is
inline, so the file opens offline, can be mailed or archived as one file, and
makes no network request.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._version import __version__
from ..io import atomic_write
from ..metrics import regression_metrics
from ._mpl import require_matplotlib, to_bytes
from .diagram import network_diagram
from .figures import (
    confusion_figure,
    gradient_figure,
    learning_curves,
    misclassified_figure,
    residual_figure,
    weights_figure,
)
from .stats import image_shape_for, labels_of, unit_stats

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..network import Network
    from ..training import History

__all__ = ["build_report", "write_report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; background: #f6f7f9; color: #1d2330; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 0 0 8px; }
.sub { color: #5a6270; margin: 0 0 18px; font-family: ui-monospace, "DejaVu Sans Mono", monospace;
       font-size: 0.9rem; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 20px; }
.card { background: white; border-radius: 8px; padding: 10px 16px; min-width: 120px;
        box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.card .v { font-size: 1.5rem; font-weight: 600; }
.card .k { color: #5a6270; font-size: 0.8rem; text-transform: uppercase; letter-spacing: .04em; }
section { background: white; border-radius: 8px; padding: 16px 20px; margin: 0 0 18px;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption, .note { color: #5a6270; font-size: 0.9rem; margin-top: 6px; }
.tables { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
table { border-collapse: collapse; font-size: 0.92rem; }
th, td { text-align: left; padding: 3px 14px 3px 0; border-bottom: 1px solid #eceef2;
         vertical-align: top; }
th { color: #5a6270; font-weight: 500; }
td.num { font-variant-numeric: tabular-nums; }
"""


def build_report(
    network: Network,
    history: History | None,
    X_test: npt.ArrayLike,
    y_test: npt.ArrayLike,
    class_names: Sequence[str] | None,
    settings: Mapping[str, Any] | None,
    *,
    image_shape: tuple[int, int] | str | None = "auto",
    images: npt.ArrayLike | None = None,
    title: str | None = None,
    rows: str = "the test split",
    to_units: Callable[[np.ndarray], np.ndarray] | None = None,
    units: str = "the target's units",
) -> str:
    """The training report as one self-contained HTML document.

    Parameters
    ----------
    network : chainrule.Network
        The trained network.
    history : chainrule.History, optional
        The run to plot; defaults to ``network.history``.
    X_test : array-like of shape (n, N_1)
        Held-out inputs as the network sees them (preprocessed).
    y_test : array-like of shape (n,) or (n, N_L)
        Their labels (classifiers) or targets (regressors).
    class_names : sequence of str, optional
        Names of the classes, index-aligned with the labels.
    settings : mapping, optional
        Training settings to list (data set, epochs, batch size, η, …).
    image_shape : (height, width), "auto" or None, default "auto"
        Draw first-layer weights and misclassified examples as images of this
        shape; ``"auto"`` uses ``s × s`` when ``N_1 = s²`` (s ≥ 4), ``None`` never.
    images : array-like of shape (n, N_1), optional
        Pixels to draw for the misclassified examples (e.g. before scaling);
        defaults to ``X_test``.
    title : str, optional
    rows : str, default "the test split"
        What the evaluated rows are, as the report names them (e.g. ``"rows of
        new.csv"``).
    to_units : callable, optional
        For a regressor trained on a standardised target: maps network outputs and
        ``y_test`` back to the target's units, where MSE, MAE, R² and the residuals
        are reported (losses are then labelled "standardised").
    units : str, default "the target's units"
        How the target's units are named (``"the units of 'price'"``).

    Returns
    -------
    str
        HTML with every figure embedded as a base64 PNG; no external resources.
    """
    require_matplotlib()
    history = network.history if history is None else history
    X = np.asarray(X_test)
    y = np.asarray(y_test)
    if X.ndim != 2 or X.shape[1] != network.sizes[0]:
        raise ValueError(f"X_test must have shape (n, {network.sizes[0]}), got {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"y_test has {len(y)} rows but X_test has {len(X)}")
    if image_shape == "auto":
        shape = image_shape_for(network.sizes[0])
    elif image_shape is None:
        shape = None
    else:
        shape = (int(image_shape[0]), int(image_shape[1]))  # type: ignore[index]
    classifier = network.is_classifier
    names = list(class_names) if class_names else None
    if classifier and not names:
        n_cls = network.sizes[-1] if network.sizes[-1] > 1 else 2
        names = [str(k) for k in range(n_cls)]

    test = network.evaluate(X, y)
    pred = network.predict(X)
    stats = unit_stats(network, X)

    parts: list[str] = []
    title = title or "chainrule training report"
    parts.append(f"<h1>{_e(title)}</h1><p class='sub'>{_e(repr(network))}</p>")
    std = " (standardised)" if to_units is not None and not classifier else ""
    if not classifier:
        y_u = np.asarray(y, dtype=float).reshape(len(y), -1)
        pred_u = np.asarray(pred, dtype=float).reshape(len(y), -1)
        if to_units is not None:
            y_u, pred_u = to_units(y_u), to_units(pred_u)
        metrics = regression_metrics(y_u, pred_u)
        test = {**test, **{f"{k} ({units})": v for k, v in metrics.items()}}
    parts.append(_cards(network, history, test, rows, std))
    parts.append(
        "<section><h2>Settings and final metrics</h2><div class='tables'>"
        + _table("Settings", _settings_rows(network, settings))
        + _table("Final metrics", _metric_rows(network, history, test, len(X), rows, std))
        + "</div></section>"
    )
    if len(history):
        parts.append(
            _figure_section(
                "Learning curves",
                learning_curves(history, standardised=bool(std)),
                "Training metrics are accumulated over each epoch's mini-batches; validation "
                "metrics use the end-of-epoch weights.",
                "learning curves",
            )
        )
        parts.append(
            _figure_section(
                "Gradients and saturation",
                gradient_figure(history, network.sizes, stats),
                "Left: the Frobenius norm of ∂E/∂W<sup>l</sup> per layer (root mean square "
                "over up to 32 evenly spaced batches of each epoch), on a log scale — when "
                "early layers sit far below late ones, gradients are vanishing (Nielsen, "
                "ch. 5). Right: on the evaluated rows, the "
                "share of sigmoid/tanh/softmax activations in the flat tails (σ′ small), or of "
                "ReLU units that never fire.",
                "gradient norms",
                raw_caption=True,
            )
        )
    else:
        parts.append(
            "<section><h2>Learning curves</h2><p class='note'>No training history "
            "was recorded for this network.</p></section>"
        )
    parts.append(
        _figure_section(
            "The network",
            network_diagram(network),
            'Seed Figure 1: each column is a layer; the grey "1" nodes feed the biases '
            "b<sup>l</sup>; every edge carries a weight w<sup>l</sup><sub>jk</sub>. Wide layers "
            "show their first and last units only.",
            "network diagram",
            raw_caption=True,
        )
    )
    if classifier:
        parts.append(
            _figure_section(
                "Confusion matrix",
                confusion_figure(labels_of(y), pred, names or []),
                f"Rows: true class; columns: predicted class; on {rows}.",
                "confusion matrix",
            )
        )
    else:
        parts.append(
            _figure_section(
                "Residuals",
                residual_figure(y_u, pred_u, units=units),
                f"Residual y − ŷ against the prediction ŷ on {rows}, in {units}; a good fit "
                "scatters evenly around zero.",
                "residual plot",
            )
        )
    if shape is not None:
        parts.append(
            _figure_section(
                "First-layer weights",
                weights_figure(network, shape),
                "Each image is one row of W<sup>2</sup>: the input pattern a hidden unit "
                "responds to (red positive, blue negative).",
                "first-layer weights",
                raw_caption=True,
            )
        )
        if classifier:
            parts.append(
                _figure_section(
                    "Misclassified examples",
                    misclassified_figure(network, X, y, shape, names, images=images),
                    f"True and predicted labels of {rows} that the network gets wrong.",
                    "misclassified examples",
                )
            )
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        # No external resources of any kind; this also forbids them to the browser.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><main>\n{body}\n"
        f"<p class='note'>Made by chainrule {_e(__version__)}. This file is self-contained: "
        "it works offline.</p>\n</main></body></html>\n"
    )


def write_report(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """Build the report (same arguments as :func:`build_report`) and write it to ``path``."""
    text = build_report(*args, **kwargs)
    path = Path(path)
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))  # never half a report over an old one
    return path


# ---------------------------------------------------------------------- pieces


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _png_uri(fig: Figure) -> str:
    data = base64.b64encode(to_bytes(fig, "png", dpi=100)).decode("ascii")
    return f"data:image/png;base64,{data}"


def _figure_section(
    heading: str, fig: Figure, caption: str, alt: str, raw_caption: bool = False
) -> str:
    cap = caption if raw_caption else _e(caption)
    return (
        f"<section><h2>{_e(heading)}</h2><figure><img alt='{_e(alt)}' "
        f"src='{_png_uri(fig)}'><figcaption>{cap}</figcaption></figure></section>"
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v) if v else "none"
    return str(v)


def _pct(v: float) -> str:
    return "—" if v is None or math.isnan(v) else f"{100 * v:.2f}%"


def _table(caption: str, rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td class='num'>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table><caption style='text-align:left'><b>{_e(caption)}</b></caption>{body}</table>"


def _settings_rows(network: Network, settings: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    cfg = network.config()
    rows = [
        ("layer sizes", " → ".join(str(n) for n in cfg["sizes"])),
        ("activations (layers 2..L)", ", ".join(cfg["activations"])),
        ("input activation", cfg["input_activation"]),
        ("cost", cfg["cost"]),
        ("initialisation", cfg["init"] or "default (he for ReLU, else xavier)"),
        ("dtype", cfg["dtype"]),
        ("parameters", f"{network.n_parameters:,}"),
    ]
    for key, value in (settings or {}).items():
        rows.append((str(key).replace("_", " "), _fmt(value)))
    return rows


def _metric_rows(
    network: Network, history: History, test: Mapping[str, float], n_test: int, where: str, std: str
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    classifier = network.is_classifier
    if len(history):
        rows.append(("epochs", str(len(history))))
        rows.append((f"training loss{std} (last epoch)", _fmt(float(history.train_loss[-1]))))
        if classifier:
            rows.append(("training accuracy (last epoch)", _pct(history.train_accuracy[-1])))
        if history.has_validation:
            rows.append((f"validation loss{std} (last epoch)", _fmt(float(history.val_loss[-1]))))
            if classifier:
                val = np.asarray(history.val_accuracy, dtype=float)
                rows.append(("validation accuracy (last epoch)", _pct(val[-1])))
                if np.any(np.isfinite(val)):
                    best = int(np.nanargmax(val))
                    rows.append(
                        (
                            "best validation accuracy",
                            f"{_pct(val[best])} (epoch {history.epoch[best]})",
                        )
                    )
        rows.append(("training time", f"{sum(history.seconds):.1f} s"))
    rows.append((f"loss{std} on {where} ({n_test} rows)", _fmt(float(test["loss"]))))
    if classifier:
        rows.append((f"accuracy on {where} ({n_test} rows)", _pct(test["accuracy"])))
    for key, value in test.items():
        if key.startswith(("mse", "mae", "r2")):
            name = {"mse": "MSE", "mae": "MAE", "r2": "R²"}[key.split(" ")[0]]
            rows.append((f"{name} on {where}, in {key.split(' (')[1][:-1]}", _fmt(float(value))))
    return rows


def _cards(
    network: Network, history: History, test: Mapping[str, float], where: str, std: str
) -> str:
    cards = []
    if network.is_classifier:
        cards.append((f"accuracy on {where}", _pct(test["accuracy"])))
    else:
        r2 = [v for k, v in test.items() if k.startswith("r2")]
        if r2:
            cards.append((f"R² on {where}", _fmt(float(r2[0]))))
    cards.append((f"loss{std} on {where}", _fmt(float(test["loss"]))))
    cards.append(("epochs", str(len(history))))
    if len(history):
        cards.append(("training time", f"{sum(history.seconds):.1f} s"))
    cards.append(("parameters", f"{network.n_parameters:,}"))
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='v'>{_e(v)}</div><div class='k'>{_e(k)}</div></div>"
            for k, v in cards
        )
        + "</div>"
    )
