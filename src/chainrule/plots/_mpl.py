"""The one door to matplotlib: imported lazily, never by the core library.

matplotlib is the optional extra ``chainrule[plot]``.  Figures are built as
``matplotlib.figure.Figure`` objects and rendered by the Agg (PNG) or SVG
canvas directly — pyplot is never imported, so no display is needed and the
caller's own matplotlib backend is left alone.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["MissingMatplotlib", "new_figure", "require_matplotlib", "save_figure", "to_bytes"]

INSTALL_HINT = "pip install chainrule[plot]"


class MissingMatplotlib(ImportError):
    """matplotlib is not installed; the message names the extra that brings it."""


def require_matplotlib() -> None:
    """Import matplotlib or raise :class:`MissingMatplotlib` with a one-line hint."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise MissingMatplotlib(
            f"plots need matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None


def new_figure(width: float, height: float) -> Figure:
    """A detached Figure (no pyplot, no global state) of ``width × height`` inches."""
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_bytes(fig: Figure, fmt: str = "png", dpi: int = 110) -> bytes:
    """Render ``fig`` as PNG or SVG bytes."""
    import matplotlib

    buf = io.BytesIO()
    # A fixed salt for the SVG's element ids: the same figure gives the same bytes.
    with matplotlib.rc_context({"svg.hashsalt": "chainrule"}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path``; the format follows the suffix (``.png`` or ``.svg``)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"figure file {str(path)!r} must end in .png or .svg, got {path.suffix!r}")
    data = to_bytes(fig, fmt, dpi)
    # Atomic: an interrupted write never leaves half a figure over an old one.
    from ..io import atomic_write

    atomic_write(path, lambda f: f.write(data))
    return path


def _metadata(fmt: str) -> dict[str, str | None]:
    # No creation date: the same figure gives the same bytes (reproducible reports).
    if fmt == "svg":
        return {"Date": None}
    return {"Software": "chainrule"}
