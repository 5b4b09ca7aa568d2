"""What Jupyter shows for a ``Network`` or a saved ``Model``: HTML with an inline SVG.

``Network._repr_html_`` is :func:`network_html` (a one-line summary and the
network diagram: one column of units per layer, the seed's ``N_l`` and σ under
each); ``Model._repr_html_`` is :func:`model_html` (the same, then the raw
columns with their preprocessing, and the classes).  Plain strings, no
matplotlib, no JavaScript; every name from a file is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..io import Model
    from ..network import Network

__all__ = ["model_html", "network_html", "network_svg", "summary"]

#: At most this many units are drawn per layer; the rest are elided ("⋮").
MAX_UNITS = 8


def summary(net: Network) -> str:
    """One line: sizes, activations, cost, dtype, parameters, backend, training so far.

    Examples
    --------
    >>> import chainrule
    >>> print(summary(chainrule.Network([2, 3, 1], seed=0)))  # doctest: +NORMALIZE_WHITESPACE
    Network [2, 3, 1]: sigmoid hidden → sigmoid output, quadratic cost, float64,
    13 parameters, numpy, untrained
    """
    acts = [a.name for a in net.activations]
    hidden = sorted(set(acts[:-1]), key=acts.index)
    shape = (f"{'/'.join(hidden)} hidden → " if hidden else "") + f"{acts[-1]} output"
    trained = "untrained"
    if len(net.history):
        loss = float(net.history.train_loss[-1])
        trained = f"trained {len(net.history)} epochs" + (
            f" (loss {loss:.4g})" if np.isfinite(loss) else ""
        )
    backend = net.ops.name if net.device is None else f"{net.ops.name} on {net.device}"
    return (
        f"Network {list(net.sizes)}: {shape}, {net.cost.name} cost, {net.dtype.name}, "
        f"{net.n_parameters:,} parameters, {backend}, {trained}"
    )


def _unit_rows(n: int) -> list[int | None]:
    """Which units of a layer of ``n`` to draw (None: the elision mark)."""
    if n <= MAX_UNITS:
        return list(range(n))
    half = MAX_UNITS // 2
    return [*range(half - 1), None, *range(n - half, n)]


def network_svg(net: Network, *, width: int = 520, height: int = 260) -> str:
    """The network diagram as an SVG element (units as circles, weights as lines).

    Layers larger than :data:`MAX_UNITS` show their first and last units and a ⋮;
    under each layer: ``N_l`` and its σ (``l = 1`` shows the input activation).
    """
    sizes = list(net.sizes)
    L = len(sizes)
    names = [net.input_activation.name] + [a.name for a in net.activations]
    top, bottom = 18, 44
    xs = [40 + (width - 80) * i / max(L - 1, 1) for i in range(L)]
    layers = []
    for n in sizes:
        rows = _unit_rows(n)
        step = (height - top - bottom) / max(len(rows), 1)
        layers.append([(u, top + step * (k + 0.5)) for k, u in enumerate(rows)])
    radius = max(3.0, min(10.0, (height - top - bottom) / (2.6 * MAX_UNITS)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(summary(net))}" font-family="sans-serif" font-size="11">'
    ]
    parts.append('<g stroke="#9aa5b1" stroke-width="0.6" opacity="0.7">')
    for i in range(L - 1):
        for u, y0 in layers[i]:
            for v, y1 in layers[i + 1]:
                if u is not None and v is not None:
                    parts.append(
                        f'<line x1="{xs[i]:.1f}" y1="{y0:.1f}" x2="{xs[i + 1]:.1f}" y2="{y1:.1f}"/>'
                    )
    parts.append("</g>")
    colours = {0: "#e8f1fb", L - 1: "#fdebd3"}
    for i, layer in enumerate(layers):
        fill = colours.get(i, "#e6f4ea")
        for u, y in layer:
            if u is None:
                parts.append(f'<text x="{xs[i]:.1f}" y="{y + 4:.1f}" text-anchor="middle">⋮</text>')
            else:
                parts.append(
                    f'<circle cx="{xs[i]:.1f}" cy="{y:.1f}" r="{radius:.1f}" '
                    f'fill="{fill}" stroke="#3c4a5a"/>'
                )
        label = f"N{i + 1} = {sizes[i]:,}"
        act = names[i]
        parts.append(
            f'<text x="{xs[i]:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<text x="{xs[i]:.1f}" y="{height - bottom + 30}" text-anchor="middle" '
            f'fill="#5b6b7b">{escape(act)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def network_html(net: Network) -> str:
    """``Network._repr_html_``: the one-line summary and the diagram."""
    return (
        f'<div class="chainrule-network"><p><code>{escape(summary(net))}</code></p>'
        f"{network_svg(net)}</div>"
    )


def _columns_table(model: Model) -> str:
    enc = model.encoding
    pre = model.preprocessing
    scaler = None if pre is None else pre.features
    params = scaler.params() if scaler is not None and scaler.param_names else {}
    rows = []
    k = 0  # the network input of the column's first encoded value
    columns = enc.columns if enc is not None else []
    names = (
        [c.name for c in columns]
        or list(model.feature_names)
        or [f"x{j}" for j in range(model.n_features)]
    )
    for j, name in enumerate(names):
        c = columns[j] if columns else None
        kind = c.kind if c is not None else "number"
        steps = []
        if c is not None and c.fill is not None:
            steps.append(
                f"missing → {c.fill!r}" if isinstance(c.fill, str) else f"missing → {c.fill:g}"
            )
        if c is not None and c.kind == "category":
            shown = ", ".join(c.categories[:6]) + (
                f", … ({len(c.categories)})" if len(c.categories) > 6 else ""
            )
            steps.append(f"one-hot over {len(c.categories)} categories ({shown})")
            width = len(c.categories)
            if params:
                steps.append(f"each 0/1 column scaled ({scaler.kind if scaler else ''})")
        else:
            width = 1
            if params and scaler is not None:
                first, second = scaler.param_names
                steps.append(f"(x − {params[first][k]:.4g}) / {params[second][k]:.4g}")
        k += width
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{escape(kind)}</td>"
            f"<td>{escape('; '.join(steps) or 'as is')}</td></tr>"
        )
    return (
        "<table><thead><tr><th>column</th><th>kind</th><th>preprocessing</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def model_html(model: Model) -> str:
    """``Model._repr_html_``: the network, its columns and their preprocessing, the classes."""
    pre = model.preprocessing
    scaling = "none" if pre is None else pre.features.kind
    lines = [f"task: {model.task}", f"scaling: {scaling}"]
    if model.target_name:
        lines.append(
            f"target: {model.target_name}"
            + (" (standardised)" if pre is not None and pre.target is not None else "")
        )
    if model.class_names:
        shown = ", ".join(model.class_names[:20]) + (
            f", … ({len(model.class_names)} in all)" if len(model.class_names) > 20 else ""
        )
        lines.append(f"classes ({len(model.class_names)}): {shown}")
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return (
        f'<div class="chainrule-model">{network_html(model.network)}<ul>{items}</ul>'
        f"{_columns_table(model)}</div>"
    )
