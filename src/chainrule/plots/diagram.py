"""Pictures of the network itself, in the style of the seed's Figures 1 and 2.

* :func:`network_diagram` — seed Figure 1: the layers as columns of units, the
  bias "1" nodes, the edges carrying ``w^l_{jk}``; a wide layer is summarised as
  its first and last units around "⋮ N units" instead of thousands of circles.
* :func:`backprop_figure` — the whole network for one example, twice: the
  forward pass (``a^l`` on the units, ``w^l_ij`` on the edges) and the backward
  pass (``δ^l`` on the units, ``∂C/∂w^l_ij`` on the edges), from
  :func:`chainrule.explain_trace` (``chainrule explain --figure``).
* :func:`layer_figure` — seed Figure 2: one layer ``l`` split into σ nodes
  (green) and sum nodes (blue), with the actual values of ``z^{l-1}``,
  ``a^{l-1}``, ``W^l`` (orange), ``b^l`` and ``z^l`` for one input written on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._mpl import new_figure, save_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..network import Network
    from ..tensors import DerivationTrace

__all__ = [
    "LAYER_FIGURE_MAX_UNITS",
    "backprop_figure",
    "format_value",
    "layer_figure",
    "network_diagram",
]

# The seed's colours: σ nodes green, sum nodes blue, weights orange.
SIGMA_COLOR = "#4caf50"
SUM_COLOR = "#42a5f5"
WEIGHT_COLOR = "#ef8a17"
UNIT_COLOR = "#e3f2fd"
BIAS_COLOR = "#eeeeee"
RADIUS = 0.26

#: layer_figure writes every weight on the figure; beyond this it is unreadable.
LAYER_FIGURE_MAX_UNITS = 8


def format_value(v: float) -> str:
    """How numbers are written on the figures: three significant digits."""
    return f"{float(v):.3g}"


def _shown_units(n: int, max_units: int) -> list[int | None]:
    """Unit indices to draw for a layer of ``n``; ``None`` marks the "⋮" slot."""
    if n <= max_units:
        return list(range(n))
    return [0, 1, 2, None, n - 2, n - 1]


def network_diagram(
    net: Network | Sequence[int],
    activations: Sequence[str] | None = None,
    max_units: int = 10,
) -> Figure:
    """The network as in seed Figure 1: units, bias "1" nodes and edges.

    Parameters
    ----------
    net : Network or sequence of int
        A network, or just its layer sizes ``[N_1, ..., N_L]``.
    activations : sequence of str, optional
        Names of σ for layers ``2..L`` (taken from ``net`` when it is a Network).
    max_units : int, default 10
        A layer with more units is drawn as its first three and last two units
        around a "⋮ N units" marker.

    Returns
    -------
    Figure
        Circles carry ``gid`` ``"unit-l-i"`` (``i`` counting from 1) and
        ``"bias-l"`` for the "1" node feeding layer ``l + 1``.
    """
    if isinstance(net, Sequence):
        sizes = [int(n) for n in net]
        input_act = "identity"
    else:
        sizes = list(net.sizes)
        activations = [a.name for a in net.activations]
        input_act = net.input_activation.name
    if len(sizes) < 2:
        raise ValueError(f"a network has at least 2 layers, got sizes {sizes}")
    if max_units < 6:
        raise ValueError(f"max_units must be at least 6, got {max_units}")
    L = len(sizes)
    shown = [_shown_units(n, max_units) for n in sizes]
    tallest = max(len(s) for s in shown) + 1  # + the bias node
    dx = 2.4
    fig = new_figure(max(4.5, 1.7 * L + 0.8), 0.52 * tallest + 1.5)
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_aspect("equal")

    # Unit centres, top to bottom, centred on y = 0; the bias node sits below.
    centres: list[dict[int, tuple[float, float]]] = []
    ellipsis_y: list[float | None] = []
    bias_xy: list[tuple[float, float]] = []
    top = (tallest - 1) / 2
    for col, units in enumerate(shown):
        x = col * dx
        y0 = (len(units) - 1) / 2
        pos: dict[int, tuple[float, float]] = {}
        ey = None
        for slot, unit in enumerate(units):
            y = y0 - slot
            if unit is None:
                ey = y
            else:
                pos[unit] = (x, y)
        centres.append(pos)
        ellipsis_y.append(ey)
        bias_xy.append((x, y0 - len(units)))

    # Edges first so the nodes cover their ends.
    for l in range(2, L + 1):
        src, dst = centres[l - 2], centres[l - 1]
        for x0, y0 in src.values():
            for x1, y1 in dst.values():
                ax.plot([x0, x1], [y0, y1], color="#9e9e9e", lw=0.6, alpha=0.7, zorder=1)
        bx, by = bias_xy[l - 2]
        for x1, y1 in dst.values():
            ax.plot([bx, x1], [by, y1], color=WEIGHT_COLOR, lw=0.7, ls="--", alpha=0.8, zorder=1)
        # Label one weight and one bias per layer with the seed's indexing.
        (x0, y0), (x1, y1) = src[0], dst[0]
        ax.text(
            x0 + 0.5 * (x1 - x0),
            y0 + 0.5 * (y1 - y0) + 0.12,
            f"$w^{{{l}}}_{{11}}$",
            ha="center",
            va="bottom",
            fontsize=9,
            color="#b35c00",
            zorder=4,
        )
        ax.text(
            bx + 0.3 * (x1 - bx),
            by + 0.3 * (y1 - by) - 0.05,
            f"$b^{{{l}}}_1$",
            ha="center",
            va="top",
            fontsize=9,
            color="#b35c00",
            zorder=4,
        )

    from matplotlib.patches import Circle

    for col, pos in enumerate(centres):
        l = col + 1
        for unit, (x, y) in pos.items():
            ax.add_patch(
                Circle(
                    (x, y),
                    RADIUS,
                    facecolor=UNIT_COLOR,
                    edgecolor="#1565c0",
                    lw=1.0,
                    zorder=3,
                    gid=f"unit-{l}-{unit + 1}",
                )
            )
        y_dots = ellipsis_y[col]
        if y_dots is not None:
            x = col * dx
            ax.text(
                x, y_dots, "⋮", ha="center", va="center", fontsize=14, zorder=3, gid=f"ellipsis-{l}"
            )
            ax.text(
                x + 0.38,
                y_dots,
                f"{sizes[col]} units",
                ha="left",
                va="center",
                fontsize=8,
                color="#555555",
                zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
            )
        if l < L:
            bx, by = bias_xy[col]
            ax.add_patch(
                Circle(
                    (bx, by),
                    RADIUS,
                    facecolor=BIAS_COLOR,
                    edgecolor="#616161",
                    lw=1.0,
                    zorder=3,
                    gid=f"bias-{l}",
                )
            )
            ax.text(bx, by, "1", ha="center", va="center", fontsize=9, zorder=4)
        name = "input" if l == 1 else "output" if l == L else "hidden"
        act = input_act if l == 1 else (activations[l - 2] if activations else "")
        act_text = "" if (l == 1 and act == "identity") else f"\nσ = {act}" if act else ""
        ax.text(
            col * dx,
            top + 0.75,
            f"layer {l}\n{name}",
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
        )
        ax.text(
            col * dx,
            -top - 0.9,
            f"$N_{{{l}}}$ = {sizes[col]}{act_text}",
            ha="center",
            va="top",
            fontsize=9,
        )
    ax.set_xlim(-0.8, (L - 1) * dx + 1.3)
    ax.set_ylim(-top - 2.0, top + 1.6)
    return fig


def layer_figure(
    net: Network,
    x: npt.ArrayLike,
    layer: int,
    path: str | Path | None = None,
) -> Figure:
    """Seed Figure 2 for layer ``l`` of a small network, with the values for input ``x``.

    ``z^{l-1}`` goes through σ nodes (green) to ``a^{l-1} = σ(z^{l-1})``; each
    edge multiplies by ``w^l_{ij}`` (orange); the "1" node adds ``b^l_i``; the sum
    nodes (blue) give ``z^l = W^l a^{l-1} + b^l`` (eq. 1).  For ``l = 2`` the
    incoming ``z^1`` is the input ``x`` and σ is the input activation.

    Parameters
    ----------
    net : chainrule.Network
        Layers ``l - 1`` and ``l`` may have at most 8 units each.
    x : array-like of shape (N_1,) or (1, N_1)
        One input example.
    layer : int
        The seed's ``l``, between 2 and L.
    path : str or Path, optional
        Also write the figure there (``.svg`` or ``.png``).

    Returns
    -------
    Figure
        σ circles carry ``gid`` ``"sigma-j"``, sum circles ``"sum-i"``, the bias
        node ``"bias"``; every value is written with :func:`format_value`.
    """
    L = len(net.sizes)
    if not isinstance(layer, (int, np.integer)) or not 2 <= layer <= L:
        raise ValueError(f"layer must be between 2 and {L} (the seed's l), got {layer!r}")
    l = int(layer)
    n_in, n_out = net.sizes[l - 2], net.sizes[l - 1]
    if max(n_in, n_out) > LAYER_FIGURE_MAX_UNITS:
        raise ValueError(
            f"layer_figure draws layers of at most {LAYER_FIGURE_MAX_UNITS} units; "
            f"layer {l - 1} has {n_in} and layer {l} has {n_out}"
        )
    x_arr = np.asarray(x)
    if x_arr.ndim == 2 and x_arr.shape[0] == 1:
        x_arr = x_arr[0]
    if x_arr.ndim != 1:
        raise ValueError(f"x must be one example of shape ({net.sizes[0]},), got {x_arr.shape}")
    fwd = net.forward(x_arr[None, :])
    z_prev, a_prev, z = fwd.z[l - 1][0], fwd.a[l - 1][0], fwd.z[l][0]
    a = fwd.a[l][0]
    W, b = net.weights[l - 2], net.biases[l - 2]
    sigma_prev = net.input_activation.name if l == 2 else net.activations[l - 3].name
    sigma = net.activations[l - 2].name

    rows = max(n_in + 1, n_out)
    fig = new_figure(10.5, 0.75 * rows + 2.4)
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_aspect("equal")
    xs_z, xs_sigma, xs_sum = 0.0, 1.6, 6.2
    ys_in = [(n_in - 1) / 2 - j + 0.5 for j in range(n_in)]
    top = max(ys_in[0], (n_out - 1) / 2) + 0.75
    y_bias = ys_in[-1] - 1.0
    ys_out = [(n_out - 1) / 2 - i for i in range(n_out)]

    from matplotlib.patches import Circle

    edge_labels = n_in * n_out <= 8
    for i in range(n_out):
        for j in range(n_in):
            x0, y0, x1, y1 = xs_sigma + RADIUS, ys_in[j], xs_sum - RADIUS, ys_out[i]
            ax.annotate(
                "",
                (x1, y1),
                (x0, y0),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": WEIGHT_COLOR,
                    "lw": 0.9,
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
                zorder=1,
            )
            if edge_labels:
                # Stagger along the edge by target so labels for different i do not stack.
                t = 0.2 + 0.55 * (i + 0.5) / n_out
                lx, ly = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                ax.text(
                    lx,
                    ly,
                    f"$w^{{{l}}}_{{{i + 1}{j + 1}}}$={format_value(W[i, j])}",
                    fontsize=7,
                    color="#8a4500",
                    ha="center",
                    va="center",
                    zorder=5,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85},
                )
        ax.annotate(
            "",
            (xs_sum - RADIUS, ys_out[i]),
            (xs_sigma + RADIUS, y_bias),
            arrowprops={
                "arrowstyle": "-|>",
                "color": WEIGHT_COLOR,
                "lw": 0.9,
                "ls": "--",
                "shrinkA": 0,
                "shrinkB": 0,
            },
            zorder=1,
        )
    for j in range(n_in):
        y = ys_in[j]
        ax.text(
            xs_z,
            y,
            f"$z^{{{l - 1}}}_{{{j + 1}}}$ = {format_value(z_prev[j])}",
            ha="center",
            va="center",
            fontsize=9,
        )
        ax.annotate(
            "",
            (xs_sigma - RADIUS, y),
            (xs_z + 0.75, y),
            arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 0.8},
        )
        ax.add_patch(
            Circle(
                (xs_sigma, y),
                RADIUS,
                facecolor=SIGMA_COLOR,
                edgecolor="#1b5e20",
                zorder=3,
                gid=f"sigma-{j + 1}",
            )
        )
        ax.text(xs_sigma, y, "σ", ha="center", va="center", fontsize=11, color="white", zorder=4)
        ax.text(
            xs_sigma,
            y + RADIUS + 0.05,
            f"$a^{{{l - 1}}}_{{{j + 1}}}$ = {format_value(a_prev[j])}",
            ha="center",
            va="bottom",
            fontsize=8,
            color="#1b5e20",
            zorder=4,
        )
    ax.add_patch(
        Circle(
            (xs_sigma, y_bias),
            RADIUS,
            facecolor=BIAS_COLOR,
            edgecolor="#616161",
            zorder=3,
            gid="bias",
        )
    )
    ax.text(xs_sigma, y_bias, "1", ha="center", va="center", fontsize=10, zorder=4)
    for i in range(n_out):
        y = ys_out[i]
        ax.add_patch(
            Circle(
                (xs_sum, y),
                RADIUS,
                facecolor=SUM_COLOR,
                edgecolor="#0d47a1",
                zorder=3,
                gid=f"sum-{i + 1}",
            )
        )
        ax.text(xs_sum, y, "+", ha="center", va="center", fontsize=13, color="white", zorder=4)
        ax.text(
            xs_sum - RADIUS - 0.05,
            y - 0.3,
            f"$b^{{{l}}}_{{{i + 1}}}$={format_value(b[i])}",
            ha="right",
            va="top",
            fontsize=7,
            color="#8a4500",
            zorder=5,
        )
        ax.annotate(
            "",
            (xs_sum + 1.0, y),
            (xs_sum + RADIUS, y),
            arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 0.8},
        )
        ax.text(
            xs_sum + 1.05,
            y,
            f"$z^{{{l}}}_{{{i + 1}}}$ = {format_value(z[i])}   "
            f"($a^{{{l}}}_{{{i + 1}}}$ = {format_value(a[i])})",
            ha="left",
            va="center",
            fontsize=9,
        )

    # The same numbers as matrices, so they can be read even where edges cross.
    bottom = min(y_bias, ys_out[-1]) - 0.9
    w_rows = "\n".join(
        "[ " + "  ".join(f"{format_value(v):>7}" for v in W[i]) + " ]" for i in range(n_out)
    )
    ax.text(
        xs_z - 0.6,
        bottom,
        f"$W^{{{l}}}$ ({n_out}×{n_in}) =\n{w_rows}",
        ha="left",
        va="top",
        fontsize=8,
        family="monospace",
        color="#8a4500",
    )
    b_rows = "\n".join(f"[ {format_value(v):>7} ]" for v in b)
    ax.text(
        xs_sum + 0.3,
        bottom,
        f"$b^{{{l}}}$ =\n{b_rows}",
        ha="left",
        va="top",
        fontsize=8,
        family="monospace",
        color="#8a4500",
    )
    ax.set_title(
        f"Layer {l}: $z^{{{l}}} = W^{{{l}}}\\,σ(z^{{{l - 1}}}) + b^{{{l}}}$ (seed eq. 1);  "
        f"σ on layer {l - 1} = {sigma_prev}, σ on layer {l} = {sigma}",
        fontsize=10,
    )
    ax.set_xlim(-1.0, 10.2)
    ax.set_ylim(bottom - 0.38 * (n_out + 1), top)
    if path is not None:
        save_figure(fig, path)
    return fig


#: backprop_figure writes the number on every edge up to this many edges per layer.
EDGE_LABELS_MAX = 12


def backprop_figure(
    trace: DerivationTrace, path: str | Path | None = None, max_units: int = 8
) -> Figure:
    """The forward and the backward pass of one example, side by side.

    Left, the forward pass: each unit shows ``a^l_i`` (``a^1 = σ(z^1)`` on the
    input column: what the first weights multiply), each edge ``w^l_ij``
    (colour: sign and size; the number itself when the layer has at most
    :data:`EDGE_LABELS_MAX` edges).  Right, the backward
    pass: each unit shows ``δ^l_i`` (eqs. 5, 9), each edge ``∂C/∂w^l_ij =
    δ^l_i a^{l-1}_j`` (eq. 13).  Legible up to layers of 8 units ([8, 8, 8, 8]);
    a wider layer is drawn as its first and last units around "⋮".

    Parameters
    ----------
    trace : DerivationTrace
        From :func:`chainrule.explain_trace`.
    path : str or Path, optional
        Also write the figure there (``.svg`` or ``.png``).
    max_units : int, default 8
        Units drawn per layer before summarising.

    Returns
    -------
    Figure
        Units carry ``gid`` ``"forward-l-i"`` / ``"backward-l-i"`` (1-based), edges
        ``"forward-edge-l-i-j"`` / ``"backward-edge-l-i-j"``.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Circle

    sizes, L = trace.sizes, trace.L
    W = {l: trace[f"W[{l}]"].value for l in range(2, L + 1)}
    grads = {l: trace.dC_dW[l].T for l in range(2, L + 1)}
    shown = {l: _shown_units(sizes[l - 1], max_units) for l in range(1, L + 1)}
    rows = max(len(u) for u in shown.values())
    dx = 3.2
    fig = new_figure(max(9.0, 2 * (L - 1) * 2.0 + 4.0), 0.62 * rows + 2.2)
    axes = fig.subplots(1, 2)
    cmap = colormaps["RdBu_r"]
    panels = [
        (
            "forward",
            "Forward pass: $a^l$ on the units, $w^l_{ij}$ on the edges (eqs. 1–2)",
            W,
            {l: trace.a[l] for l in range(1, L + 1)},
            "a",
            "w",
        ),
        (
            "backward",
            "Backward pass: $\\delta^l$ on the units, $\\partial C/\\partial w^l_{ij}$ "
            "on the edges (eqs. 5, 9, 13)",
            grads,
            {l: trace.delta[l][0] for l in range(1, L + 1)},
            "δ",
            "∂C/∂w",
        ),
    ]
    for ax, (tag, title, edges, units, unit_sym, edge_sym) in zip(axes, panels, strict=True):
        ax.set_axis_off()
        vmax = max(float(np.abs(e).max(initial=0.0)) for e in edges.values()) or 1.0
        norm = Normalize(-vmax, vmax)
        ys = {
            l: [(len(shown[l]) - 1) / 2 - k for k in range(len(shown[l]))] for l in range(1, L + 1)
        }
        for l in range(2, L + 1):
            n_edges = sizes[l - 1] * sizes[l - 2]
            label = n_edges <= EDGE_LABELS_MAX
            for a_i, i in enumerate(shown[l]):
                for a_j, j in enumerate(shown[l - 1]):
                    if i is None or j is None:
                        continue
                    v = float(edges[l][i, j])
                    x0, y0 = (l - 2) * dx + RADIUS, ys[l - 1][a_j]
                    x1, y1 = (l - 1) * dx - RADIUS, ys[l][a_i]
                    ax.plot(
                        [x0, x1],
                        [y0, y1],
                        color=cmap(norm(v)),
                        lw=0.6 + 2.4 * abs(v) / vmax,
                        zorder=1,
                        gid=f"{tag}-edge-{l}-{i + 1}-{j + 1}",
                    )
                    if label:
                        t = 0.25 + 0.5 * (a_i + 0.5) / len(shown[l])
                        ax.text(
                            x0 + t * (x1 - x0),
                            y0 + t * (y1 - y0),
                            format_value(v),
                            fontsize=6.5,
                            ha="center",
                            va="center",
                            zorder=5,
                            bbox={
                                "boxstyle": "round,pad=0.08",
                                "fc": "white",
                                "ec": "none",
                                "alpha": 0.8,
                            },
                        )
        for l in range(1, L + 1):
            x = (l - 1) * dx
            for k, i in enumerate(shown[l]):
                y = ys[l][k]
                if i is None:
                    ax.text(x, y, f"⋮ {sizes[l - 1]}", ha="center", va="center", fontsize=9)
                    continue
                v = float(units[l][i])
                ax.add_patch(
                    Circle(
                        (x, y),
                        RADIUS,
                        facecolor=UNIT_COLOR,
                        edgecolor="#0d47a1",
                        zorder=3,
                        gid=f"{tag}-{l}-{i + 1}",
                    )
                )
                sym = unit_sym
                ax.text(x, y, f"{i + 1}", ha="center", va="center", fontsize=7, zorder=4)
                ax.text(
                    x + RADIUS + 0.05,
                    y + RADIUS,
                    f"{sym}={format_value(v)}",
                    ha="left",
                    va="bottom",
                    fontsize=7,
                    zorder=6,
                    color="#0d47a1",
                    bbox={"boxstyle": "round,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.85},
                )
            ax.text(
                x,
                min(min(y) for y in ys.values()) - 0.6,
                f"layer {l}",
                ha="center",
                va="top",
                fontsize=8,
            )
        ax.set_xlim(-0.7, (L - 1) * dx + 1.3)
        ax.set_ylim(min(ys[l][-1] for l in ys) - 1.3, max(ys[l][0] for l in ys) + 0.8)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
        fig.colorbar(
            ScalarMappable(norm=norm, cmap=cmap),
            ax=ax,
            shrink=0.6,
            label=edge_sym,
            location="bottom",
            pad=0.02,
        )
    fig.suptitle(
        f"One example through {'-'.join(map(str, sizes))}: "
        f"x = ({', '.join(format_value(v) for v in trace.x[:4])}"
        f"{', …' if len(trace.x) > 4 else ''}), C = {format_value(trace.cost)}",
        fontsize=10,
    )
    if path is not None:
        save_figure(fig, path)
    return fig


def _axes_of(fig: Figure) -> Axes:  # pragma: no cover - convenience for interactive use
    return fig.axes[0]
