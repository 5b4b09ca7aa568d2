"""How ``chainrule explain`` shows a derivation: text, Markdown and JSON.

Each renderer takes an :class:`ExplainReport` and returns a string; a new view
(a drawing, say) is one more function in :data:`RENDERERS`.  Text keeps every
line within 80 columns: large arrays are summarised (first and last rows and
columns, with ``⋮`` and ``…``), but their shape is always printed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answers import CheckResult
from ..tensors import Agreement, DerivationTrace, Step

__all__ = ["RENDERERS", "ExplainReport", "format_array", "render_json", "render_markdown",
           "render_text"]

WIDTH = 80
#: rows (and 3-tensor slices) shown before summarising
MAX_ROWS = 8
MAX_SLICES = 4

PHASES = {
    "forward": "Feed-forward (§5 steps 1–2; eqs. 1–2)",
    "step 3": "Step 3: the helper gradient δ^L of the last layer (§4.1; eq. 5)",
    "step 4": "Step 4: δ^l from δ^(l+1), l = L−1 … 1 (§4.2; eqs. 6–9)",
    "step 5": "Step 5: the weight gradients (§4.3; eqs. 10–13)",
    "step 6": "Step 6: the bias gradients (§4.4; eqs. 14–15)",
}

#: The one line on what explain's own comparison cannot see.
CANNOT_CATCH = ("What this check cannot catch: both paths use the same σ′ and ∂C/∂a "
                "(chainrule.functions), so a wrong derivative used by both passes here; "
                "'chainrule gradcheck' compares with finite differences of the loss and "
                "catches it.")

TRANSPOSE_NOTE = ("backprop stores [δC/δW^l]ᵀ, shaped like W^l (N_l × N_(l-1)), so that a "
                  "step is W − η·grad; the comparison transposes the seed's [δC/δW^l].")


@dataclass
class ExplainReport:
    """Everything ``chainrule explain`` shows.

    Attributes
    ----------
    description : list of str
        Short lines describing the network and the example.
    config : dict
        The network's architecture as plain values.
    trace : DerivationTrace
    agreement : Agreement
        The explicit path against ``Network.backprop``.
    notes : list of str
        Lines printed after the check.
    checks : list of (str, CheckResult)
        ``--check`` / ``--plant-bug``: what was compared with the trace, and the result.
    """

    description: list[str]
    config: dict[str, Any]
    trace: DerivationTrace
    agreement: Agreement
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, CheckResult]] = field(default_factory=list)


# --------------------------------------------------------------------------- arrays


def _fmt(v: float) -> str:
    return f"{float(v) + 0.0:.4g}"  # + 0.0 turns -0.0 into 0


def _pick(n: int, limit: int) -> list[int | None]:
    """Indices to show out of ``n``: all, or the first and last with None for the gap."""
    if n <= limit:
        return list(range(n))
    head = (limit + 1) // 2
    tail = limit - head
    return [*range(head), None, *range(n - tail, n)]


def format_array(value: np.ndarray, width: int = WIDTH, indent: int = 4) -> list[str]:
    """Lines showing ``value`` (1-, 2- or 3-D) within ``width`` columns.

    Rows beyond :data:`MAX_ROWS` and columns beyond what fits are elided with
    ``⋮`` and ``…``; a 3-tensor is shown slice by slice, ``[k, ·, ·]``
    (1-based ``k``, as in the seed).
    """
    arr = np.asarray(value)
    pad = " " * indent
    if arr.ndim == 0:
        return [pad + _fmt(float(arr))]
    if arr.ndim == 1:
        return _matrix(arr[None, :], width, pad)
    if arr.ndim == 2:
        return _matrix(arr, width, pad)
    lines: list[str] = []
    for k in _pick(arr.shape[0], MAX_SLICES):
        if k is None:
            gap = arr.shape[0] - MAX_SLICES
            lines.append(f"{pad}⋮  ({gap} more slice{'s' if gap > 1 else ''})")
            continue
        lines.append(f"{pad}[k = {k + 1}, ·, ·]")
        lines += _matrix(arr[k], width, pad + "  ")
    return lines


def _matrix(M: np.ndarray, width: int, pad: str) -> list[str]:
    rows, cols = M.shape
    row_idx = _pick(rows, MAX_ROWS)
    # Cell width from the columns that could be shown (the first and last few).
    probe = sorted(set(range(min(cols, 8))) | set(range(max(cols - 8, 0), cols)))
    shown_rows = [r for r in row_idx if r is not None]
    cell = max(len(_fmt(M[r, c])) for r in shown_rows for c in probe)
    avail = width - len(pad) - 3  # "[" … " ]"
    fit = max(avail // (cell + 1), 3)
    col_idx = _pick(cols, fit - 1) if cols > fit else list(range(cols))
    lines = []
    for r in row_idx:
        if r is None:
            gap = rows - (len(row_idx) - 1)
            lines.append(f"{pad} ⋮  ({gap} more row{'s' if gap > 1 else ''})")
            continue
        cells = [("…" if c is None else _fmt(M[r, c])).rjust(cell) for c in col_idx]
        lines.append(f"{pad}[ {' '.join(cells)} ]")
    if cols > fit:
        lines.append(f"{pad} ({cols - (len(col_idx) - 1)} columns not shown)")
    return lines


def _shape(step: Step) -> str:
    dims = " × ".join(map(str, step.shape)) if step.shape else "1"
    return f"shape {dims} ({step.axes})"


# --------------------------------------------------------------------------- text


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    words, lines, line = text.split(" "), [], ""
    for w in words:
        candidate = f"{line} {w}" if line else w
        if len(candidate) > width and line:
            lines.append(line)
            line = indent + w
        else:
            line = candidate
    return [*lines, line]


def render_text(report: ExplainReport, width: int = WIDTH) -> str:
    """The derivation as plain text, every line at most ``width`` columns."""
    out: list[str] = ["chainrule explain: the seed's backpropagation for one example (x, λ)"]
    for line in report.description:
        out += _wrap(line, width, "  ")
    phase = None
    for step in report.trace.steps:
        if step.phase != phase:
            phase = step.phase
            title = PHASES.get(phase, phase)
            out += ["", *_wrap(f"== {title} ==", width, "   "), ""]
        head = f"{step.name} = {step.formula}"
        if len(head) + len(step.equation) + 2 <= width:
            out.append(head + step.equation.rjust(width - len(head)))
        else:
            out += _wrap(head, width, "    ")
            out.append(step.equation.rjust(width))
        out.append(f"  {_shape(step)}")
        out += format_array(step.value, width)
    out += ["", "== Check: the explicit path against the fast path (Network.backprop) ==", ""]
    out += [*_wrap(TRANSPOSE_NOTE, width), "", *_wrap(CANNOT_CATCH, width), ""]
    out += _agreement_lines(report.agreement)
    out += [line for n in report.notes for line in _wrap(n, width, "  ")]
    for what, result in report.checks:
        out += ["", *_wrap(f"== Check my work: {what} ==", width, "   "), ""]
        out += _wrap(("PASS: " if result.passed else "FAIL: ") + str(result), width, "  ")
    return "\n".join(out) + "\n"


def _agreement_lines(agreement: Agreement) -> list[str]:
    lines = [f"{'array':<8}{'max relative difference':>26}"]
    lines += [f"{n:<8}{d:>26.3e}" for n, d in zip(agreement.names, agreement.rel_diffs,
                                                  strict=True)]
    verdict = "PASS" if agreement.passed else "FAIL"
    sign = "≤" if agreement.passed else ">"
    lines.append(f"max relative difference {agreement.max_rel_diff:.3e} {sign} "
                 f"{agreement.tolerance:g}: {verdict}")
    return lines


# --------------------------------------------------------------------------- markdown


def render_markdown(report: ExplainReport) -> str:
    """The derivation as Markdown: a section per phase, a code block per object."""
    out = ["# chainrule explain", "", "The seed's backpropagation for one example (x, λ).", ""]
    out += [f"- {line}" for line in report.description]
    phase = None
    for step in report.trace.steps:
        if step.phase != phase:
            phase = step.phase
            out += ["", f"## {PHASES.get(phase, phase)}"]
        out += ["", f"### `{step.name} = {step.formula}` ({step.equation})", "",
                f"{_shape(step)}", "", "```", *format_array(step.value, WIDTH, 0), "```"]
    a = report.agreement
    out += ["", "## Check: the explicit path against the fast path (`Network.backprop`)", "",
            TRANSPOSE_NOTE, "", CANNOT_CATCH, "",
            "| array | max relative difference |", "|---|---|"]
    out += [f"| `{n}` | {d:.3e} |" for n, d in zip(a.names, a.rel_diffs, strict=True)]
    out += ["", f"**{'PASS' if a.passed else 'FAIL'}**: max relative difference "
            f"{a.max_rel_diff:.3e}, tolerance {a.tolerance:g}."]
    out += ["", *report.notes] if report.notes else []
    for what, result in report.checks:
        out += ["", f"## Check my work: {what}", "",
                f"**{'PASS' if result.passed else 'FAIL'}**: {result}"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- json


def _finite(obj: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    return obj


def render_json(report: ExplainReport) -> str:
    """Every object with its full values (nested lists), as one JSON document."""
    t = report.trace
    doc = {
        "network": report.config,
        "example": {"x": t.x.tolist(), "y": t.y.tolist()},
        "cost": t.cost,
        "steps": [s.as_dict() for s in t.steps],
        "agreement": report.agreement.as_dict(),
        "notes": report.notes,
        "cannot_catch": CANNOT_CATCH,
        "checks": [{"what": what, "passed": r.passed, "message": str(r),
                    "first_wrong": None if r.first_wrong is None else {
                        "name": r.first_wrong.name, "layer": r.first_wrong.layer,
                        "index": list(r.first_wrong.index),
                        "expected": r.first_wrong.expected, "got": r.first_wrong.got}}
                   for what, r in report.checks],
    }
    return json.dumps(_finite(doc), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


RENDERERS: dict[str, Callable[[ExplainReport], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}
