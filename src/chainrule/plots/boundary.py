"""Decision boundaries of a classifier with two inputs, still or animated over epochs.

* :func:`boundary_figure` — the predicted class over the plane (shaded by the
  winning probability), the boundary where the two most likely classes tie,
  and the data points coloured by their true class;
* :func:`boundary_animation` — the same, one frame per epoch while a network
  trains, written as a GIF through matplotlib's Pillow writer.

The plane is drawn in the data's own units when a ``transform`` (the model's
preprocessing) is given: the grid is mapped through it before the network sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._mpl import new_figure, require_matplotlib, save_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..network import Network

__all__ = ["boundary_animation", "boundary_figure"]

GRID = 150


def _check(network: Network, X: np.ndarray, y: np.ndarray) -> None:
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(
            f"the boundary figure needs data with 2 features, got {X.shape[-1]} "
            "(it draws the plane of the two inputs)"
        )
    if not network.is_classifier:
        raise ValueError(
            "the boundary figure is for classifiers; this network's output is "
            f"{network.output_activation.name}"
        )
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")


def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(int)


def _grid(X: np.ndarray, n: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n)
    return np.meshgrid(gx, gy)


def _probabilities(
    network: Network, plane: np.ndarray, transform: Callable[[np.ndarray], np.ndarray] | None
) -> np.ndarray:
    inputs = plane if transform is None else transform(plane)
    out = np.asarray(network.feedforward(np.asarray(inputs, dtype=network.dtype)), dtype=float)
    if out.shape[1] == 1:  # one sigmoid output: P(class 1)
        out = np.hstack([1 - out, out])
    return out


def _draw(
    ax: Axes,
    network: Network,
    X: np.ndarray,
    labels: np.ndarray,
    transform: Callable[[np.ndarray], np.ndarray] | None,
    class_names: Sequence[str] | None,
    feature_names: Sequence[str] | None,
    title: str,
) -> None:
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    gx, gy = _grid(X)
    probs = _probabilities(network, np.column_stack([gx.ravel(), gy.ravel()]), transform)
    k = probs.shape[1]
    winner = probs.argmax(axis=1).reshape(gx.shape)
    confidence = probs.max(axis=1).reshape(gx.shape)
    colours = list(getattr(colormaps["tab10"], "colors", ["C0", "C1", "C2"]))[: max(k, 2)]
    cmap = ListedColormap(colours)
    ax.imshow(
        winner,
        origin="lower",
        extent=(gx.min(), gx.max(), gy.min(), gy.max()),
        cmap=cmap,
        vmin=-0.5,
        vmax=len(colours) - 0.5,
        alpha=0.18 + 0.3 * ((confidence - confidence.min()) / max(np.ptp(confidence), 1e-12)),
        aspect="auto",
        interpolation="nearest",
    )
    top2 = np.sort(probs, axis=1)[:, -2:]
    margin = (top2[:, 1] - top2[:, 0]).reshape(gx.shape)
    if 0 < margin.min() < 0.05 or (winner != winner.flat[0]).any():
        # The boundary: where the winning class changes.
        for c in range(k):
            ax.contour(
                gx, gy, (winner == c).astype(float), levels=[0.5], colors="#222222", linewidths=1.2
            )
    names = list(class_names) if class_names else [str(c) for c in range(k)]
    for c in np.unique(labels):
        sel = labels == c
        ax.scatter(
            X[sel, 0],
            X[sel, 1],
            s=14,
            color=colours[int(c) % len(colours)],
            edgecolor="white",
            linewidth=0.4,
            label=names[int(c)] if c < len(names) else str(c),
            zorder=3,
        )
    ax.set_xlim(gx.min(), gx.max())
    ax.set_ylim(gy.min(), gy.max())
    fx, fy = [*feature_names, "x1", "x2"][:2] if feature_names else ("x1", "x2")
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8, title="class")
    ax.set_title(title, fontsize=10)


def boundary_figure(
    network: Network,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    class_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """The decision boundary of a 2-input classifier with the data points.

    Parameters
    ----------
    network : Network
        A classifier with ``N_1 = 2`` inputs (after ``transform``).
    X : array-like of shape (n, 2)
        The points, in the units the plane is drawn in.
    y : array-like of shape (n,) labels, or (n, K) one-hot
    class_names, feature_names : sequence of str, optional
    transform : callable, optional
        Maps points of the plane ``(m, 2)`` to network inputs (a model's preprocessing).
    path : str or Path, optional
        Also write the figure there (``.png`` or ``.svg``).

    Returns
    -------
    Figure
    """
    X_arr = np.asarray(X, dtype=float)
    labels = _labels(np.asarray(y))
    _check(network, X_arr, labels)
    fig = new_figure(6.4, 5.2)
    ax = fig.subplots()
    acc = float(np.mean(_probabilities(network, X_arr, transform).argmax(axis=1) == labels))
    _draw(
        ax,
        network,
        X_arr,
        labels,
        transform,
        class_names,
        feature_names,
        f"Decision boundary ({'-'.join(map(str, network.sizes))}), accuracy "
        f"{100 * acc:.1f}% on these {len(X_arr)} points",
    )
    if path is not None:
        save_figure(fig, path)
    return fig


def boundary_animation(
    network: Network,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    path: str | Path,
    *,
    epochs: int = 20,
    fps: int = 4,
    class_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    **fit_settings: Any,
) -> Path:
    """Train ``network`` for ``epochs`` and write its decision boundary per epoch as a GIF.

    Frame 0 is the untrained network; frame ``e`` is after epoch ``e``.  The GIF is
    written by matplotlib's ``PillowWriter`` (Pillow comes with matplotlib).

    Parameters
    ----------
    network : Network
        Trained in place (``network.fit(..., epochs=1)`` per frame, which continues
        from the current weights and optimizer state).
    X : array-like of shape (n, 2)
        Points in the plane's units.
    y : array-like of shape (n,) labels, or (n, K) one-hot
    path : str or Path
        The ``.gif`` to write (atomically: an existing file is replaced only once
        the animation is complete).
    epochs : int, default 20
    fps : int, default 4
    class_names, feature_names, transform :
        As for :func:`boundary_figure`.
    **fit_settings
        Passed to :meth:`Network.fit` (``learning_rate``, ``batch_size``, ``seed`` …).

    Returns
    -------
    Path
    """
    require_matplotlib()
    import tempfile

    from matplotlib.animation import FuncAnimation, PillowWriter

    from ..io import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"the animation is a GIF: {str(path)!r} must end in .gif")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    X_arr = np.asarray(X, dtype=float)
    y_arr = np.asarray(y)
    labels = _labels(y_arr)
    _check(network, X_arr, labels)
    inputs = X_arr if transform is None else np.asarray(transform(X_arr))
    fig = new_figure(6.4, 5.2)
    ax = fig.subplots()
    name = "-".join(map(str, network.sizes))
    seed = fit_settings.pop("seed", 0)

    def frame(e: int) -> list[Any]:
        if e > 0:
            network.fit(
                inputs, y_arr, epochs=1, seed=None if seed is None else seed + e, **fit_settings
            )
        ax.clear()
        acc = float(np.mean(_probabilities(network, X_arr, transform).argmax(axis=1) == labels))
        _draw(
            ax,
            network,
            X_arr,
            labels,
            transform,
            class_names,
            feature_names,
            f"{name}, epoch {e}: accuracy {100 * acc:.1f}%",
        )
        return []

    anim = FuncAnimation(fig, frame, frames=epochs + 1, blit=False, repeat=False)
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp) / "boundary.gif"
        anim.save(str(frames), writer=PillowWriter(fps=fps))
        data = frames.read_bytes()
    atomic_write(path, lambda f: f.write(data))
    return path
