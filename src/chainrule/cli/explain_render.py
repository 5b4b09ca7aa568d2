"""How ``chainrule explain`` shows a derivation: text, Markdown and JSON.

Each renderer takes an :class:`ExplainReport` and returns a string; a new view
(a drawing, say) is one more function in :data:`RENDERERS`.  Text keeps every
line within 80 columns: large arrays are summarised (first and last rows and
columns, with ``⋮`` and ``…``), but their shape is always printed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answers import CheckResult
from ..tensors import Agreement, DerivationTrace, Step

__all__ = [
    "RENDERERS",
    "ExplainReport",
    "format_array",
    "render_json",
    "render_markdown",
    "render_text",
]

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
CANNOT_CATCH = (
    "What this check cannot catch: both paths use the same σ′ and ∂C/∂a "
    "(chainrule.functions), so a wrong derivative used by both passes here; "
    "'chainrule gradcheck' compares with finite differences of the loss and "
    "catches it."
)

TRANSPOSE_NOTE = (
    "backprop stores [δC/δW^l]ᵀ, shaped like W^l (N_l × N_(l-1)), so that a "
    "step is W − η·grad; the comparison transposes the seed's [δC/δW^l]."
)


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
    for what, result in report.checks:
        out += ["", *_wrap(f"== Check my work: {what} ==", width, "   "), ""]
        out += _wrap(("PASS: " if result.passed else "FAIL: ") + str(result), width, "  ")
    if report.checks and report.notes:
        out.append("")
    out += [line for n in report.notes for line in _wrap(n, width, "  ")]
    return "\n".join(out) + "\n"


def _agreement_lines(agreement: Agreement) -> list[str]:
    lines = [f"{'array':<8}{'max relative difference':>26}"]
    lines += [
        f"{n:<8}{d:>26.3e}" for n, d in zip(agreement.names, agreement.rel_diffs, strict=True)
    ]
    verdict = "PASS" if agreement.passed else "FAIL"
    sign = "≤" if agreement.passed else ">"
    lines.append(
        f"max relative difference {agreement.max_rel_diff:.3e} {sign} "
        f"{agreement.tolerance:g}: {verdict}"
    )
    return lines


# --------------------------------------------------------------------------- markdown


def render_markdown(report: ExplainReport) -> str:
    """The derivation as Markdown with ``$…$`` math (Jupyter, MkDocs with arithmatex/KaTeX).

    A section per phase; per object a heading with its formula as inline math and its
    value as a display-math ``bmatrix`` (large arrays elided, 3-tensors slice by slice).
    """
    out = [
        "# chainrule explain",
        "",
        "The seed's backpropagation for one example $(x, \\lambda)$.",
        "",
    ]
    out += [f"- {line}" for line in report.description]
    phase = None
    for step in report.trace.steps:
        if step.phase != phase:
            phase = step.phase
            out += ["", f"## {PHASES.get(phase, phase)}"]
        out += [
            "",
            f"### {_md_math(step)} ({step.equation})",
            "",
            f"{_shape(step)}",
            "",
            "$$",
            _latex_value(step.value),
            "$$",
        ]
    a = report.agreement
    out += [
        "",
        "## Check: the explicit path against the fast path (`Network.backprop`)",
        "",
        TRANSPOSE_NOTE,
        "",
        CANNOT_CATCH,
        "",
        "| array | max relative difference |",
        "|---|---|",
    ]
    out += [f"| ${to_latex(n)}$ | {d:.3e} |" for n, d in zip(a.names, a.rel_diffs, strict=True)]
    out += [
        "",
        f"**{'PASS' if a.passed else 'FAIL'}**: max relative difference "
        f"{a.max_rel_diff:.3e}, tolerance {a.tolerance:g}.",
    ]
    for what, result in report.checks:
        out += [
            "",
            f"## Check my work: {what}",
            "",
            f"**{'PASS' if result.passed else 'FAIL'}**: {result}",
        ]
    out += ["", *report.notes] if report.notes else []
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
        "checks": [
            {
                "what": what,
                "passed": r.passed,
                "message": str(r),
                "first_wrong": None
                if r.first_wrong is None
                else {
                    "name": r.first_wrong.name,
                    "layer": r.first_wrong.layer,
                    "index": list(r.first_wrong.index),
                    "expected": r.first_wrong.expected,
                    "got": r.first_wrong.got,
                },
            }
            for what, r in report.checks
        ],
    }
    return json.dumps(_finite(doc), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- the scalar view

_SPEC = re.compile(
    r"^\s*(?P<name>δ|delta|d|w|W|b|z|a)\s*\^\s*\{?(?P<l>\d+)\}?\s*_\s*"
    r"\{?\(?(?P<idx>[\d,\s]+)\)?\}?\s*$"
)


def parse_entry(spec: str, sizes: tuple[int, ...]) -> tuple[str, int, tuple[int, ...]]:
    """``"δ^2_1"`` → ``("delta", 2, (1,))``; ``"W^2_12"`` or ``"W^2_1,2"`` → ``("W", 2, (1, 2))``.

    Indices are 1-based, as in the seed.  Raises ``ValueError`` naming what is wrong.
    """
    m = _SPEC.match(spec)
    if m is None:
        raise ValueError(
            f"--expand {spec!r}: expected an entry such as δ^2_1, W^2_12 "
            "(or W^2_1,2), b^3_1, z^2_1 or a^2_1"
        )
    name = {"δ": "delta", "delta": "delta", "d": "delta", "w": "W", "W": "W"}.get(
        m.group("name"), m.group("name")
    )
    l, raw = int(m.group("l")), m.group("idx").replace(" ", "")
    L = len(sizes)
    lo = 2 if name in ("W", "b") else 1
    if not lo <= l <= L:
        raise ValueError(f"--expand {spec!r}: layer {l} is not between {lo} and {L}")
    if name == "W":
        parts = raw.split(",") if "," in raw else (list(raw) if len(raw) == 2 else [])
        if len(parts) != 2 or not all(parts):
            raise ValueError(
                f"--expand {spec!r}: a weight needs two indices i,j "
                "(W^l_ij, or W^l_i,j when one has two digits)"
            )
        idx: tuple[int, ...] = (int(parts[0]), int(parts[1]))
        limits: tuple[int, ...] = (sizes[l - 1], sizes[l - 2])
    else:
        if "," in raw:
            raise ValueError(f"--expand {spec!r}: {name}^l takes one index")
        idx, limits = (int(raw),), (sizes[l - 1],)
    for k, (i, n) in enumerate(zip(idx, limits, strict=True)):
        if not 1 <= i <= n:
            axis = f"layer {l}" if k == 0 else f"layer {l - 1}"
            raise ValueError(
                f"--expand {spec!r}: index {i} is not between 1 and {n} (the neurons of {axis})"
            )
    return name, l, idx


def _n(v: float) -> str:
    s = _fmt(v)
    return f"({s})" if s.startswith("-") else s


def _terms(items: list[str], keep: int = 6) -> str:
    if len(items) <= keep:
        return " + ".join(items)
    return " + ".join(items[:3]) + " + … + " + " + ".join(items[-2:])


def expand_entry(trace: DerivationTrace, spec: str) -> list[str]:
    """The index form of one entry with the numbers plugged in (the scalar view).

    ``z^l_i = Σ_j w^l_ij a^{l-1}_j + b^l_i`` (eq. 1), ``a^l_i = σ(z^l_i)``,
    ``δ^L_j = ∂C/∂a^L_j · σ′(z^L_j)`` (eq. 5; softmax: ``Σ_m ∂C/∂a_m ∂a_m/∂z_j``),
    ``δ^l_j = (Σ_k δ^{l+1}_k w^{l+1}_kj) σ′(z^l_j)`` (eq. 9),
    ``∂C/∂w^l_ij = δ^l_i a^{l-1}_j`` (eq. 13), ``∂C/∂b^l_i = δ^l_i`` (eq. 15).

    Returns
    -------
    list of str
        Lines, the last of them ``= value``.
    """
    name, l, idx = parse_entry(spec, trace.sizes)
    L = trace.L
    W = {k: trace[f"W[{k}]"].value for k in range(2, L + 1)}
    b = {k: trace[f"b[{k}]"].value for k in range(2, L + 1)}
    i = idx[0] - 1
    if name == "z":
        if l == 1:
            return [f"z^1_{i + 1} = x_{i + 1} (the input)", f"      = {_fmt(trace.z[1][i])}"]
        n_prev = trace.sizes[l - 2]
        sym = [f"w^{l}_{i + 1},{j + 1}·a^{l - 1}_{j + 1}" for j in range(n_prev)]
        num = [f"{_n(W[l][i, j])}·{_n(trace.a[l - 1][j])}" for j in range(n_prev)]
        return [
            f"z^{l}_{i + 1} = Σ_j w^{l}_{i + 1},j a^{l - 1}_j + b^{l}_{i + 1}   (eq. 1)",
            f"      = {_terms(sym)} + b^{l}_{i + 1}",
            f"      = {_terms(num)} + {_n(b[l][i])}",
            f"      = {_fmt(trace.z[l][i])}",
        ]
    if name == "a":
        s = trace[f"a[{l}]"].formula.split("[")[-1].rstrip("]")
        return [
            f"a^{l}_{i + 1} = σ(z^{l}_{i + 1}) = {s}({_fmt(trace.z[l][i])})",
            f"      = {_fmt(trace.a[l][i])}",
        ]
    if name == "b":
        return [
            f"∂C/∂b^{l}_{i + 1} = δ^{l}_{i + 1}   (eq. 15)",
            f"      = {_fmt(trace.delta[l][0, i])}",
        ]
    if name == "W":
        j = idx[1] - 1
        return [
            f"∂C/∂w^{l}_{i + 1},{j + 1} = δ^{l}_{i + 1} · a^{l - 1}_{j + 1}   (eq. 13; the "
            f"seed's [δC/δW^{l}] entry ({j + 1}, {i + 1}))",
            f"      = {_n(trace.delta[l][0, i])}·{_n(trace.a[l - 1][j])}",
            f"      = {_fmt(trace.dC_dW[l][j, i])}",
        ]
    # δ^l_j
    jac = trace.da_dz[l]
    elementwise = bool(np.count_nonzero(jac - np.diag(np.diag(jac))) == 0)
    if l == L:
        dC = trace.dC_da
        assert dC is not None
        if elementwise:
            return [
                f"δ^{L}_{i + 1} = ∂C/∂a^{L}_{i + 1} · σ′(z^{L}_{i + 1})   (eq. 5)",
                f"      = {_n(dC[0, i])}·{_n(jac[i, i])}",
                f"      = {_fmt(trace.delta[L][0, i])}",
            ]
        n = trace.sizes[L - 1]
        sym = [f"∂C/∂a^{L}_{m + 1}·∂a^{L}_{m + 1}/∂z^{L}_{i + 1}" for m in range(n)]
        num = [f"{_n(dC[0, m])}·{_n(jac[m, i])}" for m in range(n)]
        return [
            f"δ^{L}_{i + 1} = Σ_m ∂C/∂a^{L}_m · ∂a^{L}_m/∂z^{L}_{i + 1}   (eq. 5, softmax: "
            "the full Jacobian)",
            f"      = {_terms(sym)}",
            f"      = {_terms(num)}",
            f"      = {_fmt(trace.delta[L][0, i])}",
        ]
    n_next = trace.sizes[l]
    d_next = trace.delta[l + 1][0]
    back = float(d_next @ W[l + 1][:, i])
    sym = [f"δ^{l + 1}_{k + 1}·w^{l + 1}_{k + 1},{i + 1}" for k in range(n_next)]
    num = [f"{_n(d_next[k])}·{_n(W[l + 1][k, i])}" for k in range(n_next)]
    return [
        f"δ^{l}_{i + 1} = (Σ_k δ^{l + 1}_k w^{l + 1}_k,{i + 1}) · σ′(z^{l}_{i + 1})   (eq. 9)",
        f"      = ({_terms(sym)}) · σ′(z^{l}_{i + 1})",
        f"      = ({_terms(num)}) · {_n(jac[i, i])}",
        f"      = {_n(back)}·{_n(jac[i, i])}",
        f"      = {_fmt(trace.delta[l][0, i])}",
    ]


# --------------------------------------------------------------------------- LaTeX

_GREEK = {
    "δ": r"\delta ",
    "σ": r"\sigma ",
    "λ": r"\lambda ",
    "∂": r"\partial ",
    "·": r"\cdot ",
    "⊗": r"\otimes ",
    "ᵀ": "^{\\top}",
    "′": "'",
    "−": "-",
    "×": r"\times ",
    "Σ": r"\sum ",
    "…": r"\dots ",
    "→": r"\to ",
}


def to_latex(text: str) -> str:
    """The seed's notation as it appears in :class:`~chainrule.tensors.Step` → LaTeX math.

    ``δ^3`` → ``\\delta^{3}``, ``[δC/δW^3]`` → ``\\left[\\frac{\\delta C}{\\delta W^{3}}\\right]``,
    ``∂a^3/∂z^3`` → ``\\frac{\\partial a^{3}}{\\partial z^{3}}``, ``diag σ'(z^2)`` →
    ``\\operatorname{diag} \\sigma'(z^{2})``.
    """
    s = re.sub(r"\b(?!diag\b)[a-z]{2,}(?:\s+[a-z]{2,})*\b", lambda m: rf"\text{{{m[0]}}}", text)
    s = re.sub(
        r"\[([δ∂])(\w+)\^(\d+)/([δ∂])(\w+)\^(\d+)\]",
        lambda m: (
            rf"\left[\frac{{{m[1]} {m[2]}^{{{m[3]}}}}}"
            rf"{{{m[4]} {m[5]}^{{{m[6]}}}}}\right]"
        ),
        s,
    )
    s = re.sub(
        r"\[([δ∂])(\w+)/([δ∂])(\w+)\^(\d+)\]",
        lambda m: rf"\left[\frac{{{m[1]} {m[2]}}}{{{m[3]} {m[4]}^{{{m[5]}}}}}\right]",
        s,
    )
    s = re.sub(
        r"([δ∂])(\w+)\^(\d+)/([δ∂])(\w+)\^(\d+)",
        lambda m: rf"\frac{{{m[1]} {m[2]}^{{{m[3]}}}}}{{{m[4]} {m[5]}^{{{m[6]}}}}}",
        s,
    )
    s = re.sub(
        r"([δ∂])C/([δ∂])(\w+)\^(\d+)",
        lambda m: rf"\frac{{{m[1]} C}}{{{m[2]} {m[3]}^{{{m[4]}}}}}",
        s,
    )
    s = re.sub(r"\^\((\w[^)]*)\)", r"^{\1}", s)  # ^(l+1)
    s = re.sub(r"\^(\d+|[a-zA-Z])(?![}\w])", r"^{\1}", s)
    s = re.sub(r"_\((\w[^)]*)\)", r"_{\1}", s)
    s = re.sub(r"N_(\d+)", r"N_{\1}", s)
    s = s.replace("diag", r"\operatorname{diag}").replace("'", "'")
    for k, v in _GREEK.items():
        s = s.replace(k, v)
    return re.sub(r" +", " ", s).strip()


def latex_matrix(value: np.ndarray, max_rows: int = MAX_ROWS, max_cols: int = 10) -> str:
    """A ``bmatrix`` of a 1- or 2-D array (a 1-D array as a row), large ones elided."""
    arr = np.atleast_2d(np.asarray(value))
    rows = _pick(arr.shape[0], max_rows)
    cols = _pick(arr.shape[1], max_cols)
    lines = []
    for r in rows:
        if r is None:
            lines.append(" & ".join(r"\vdots" if c is not None else r"\ddots" for c in cols))
            continue
        lines.append(" & ".join(r"\cdots" if c is None else _fmt(arr[r, c]) for c in cols))
    return r"\begin{bmatrix} " + r" \\ ".join(lines) + r" \end{bmatrix}"


def _latex_value(value: np.ndarray) -> str:
    arr = np.asarray(value)
    if arr.ndim <= 2:
        return latex_matrix(arr)
    parts = []
    for k in _pick(arr.shape[0], MAX_SLICES):
        parts.append(r"\dots" if k is None else rf"[{k + 1},\cdot,\cdot]: " + latex_matrix(arr[k]))
    return r",\quad ".join(parts)


def render_latex(report: ExplainReport) -> str:
    """The derivation as a LaTeX fragment (``amsmath``): one ``align*`` row per object."""
    out = [
        r"% chainrule explain --format latex: the seed's backpropagation for one example",
        r"% needs \usepackage{amsmath}",
        "",
    ]
    out += [f"% {line}" for line in report.description]
    phase = None
    for step in report.trace.steps:
        if step.phase != phase:
            if phase is not None:
                out.append(r"\end{align*}")
            phase = step.phase
            out += ["", rf"\paragraph{{{_tex_text(PHASES.get(phase, phase))}}}", r"\begin{align*}"]
        formula = (
            "" if step.formula in ("parameter", "the input") else f" = {to_latex(step.formula)}"
        )
        out.append(
            rf"{to_latex(step.name)}{formula} &= {_latex_value(step.value)}"
            rf" && \text{{{_tex_text(step.equation)}}} \\"
        )
    if phase is not None:
        out.append(r"\end{align*}")
    a = report.agreement
    out += [
        "",
        rf"% check against Network.backprop: max relative difference "
        rf"{a.max_rel_diff:.3e}, {'PASS' if a.passed else 'FAIL'}",
    ]
    return "\n".join(out) + "\n"


def _tex_text(text: str) -> str:
    """Plain text for LaTeX's text mode (the seed's symbols as math)."""
    out = text.replace("§", r"\S{}").replace("_", r"\_").replace("^", r"\^{}")
    for k, v in _GREEK.items():
        if k in out:
            out = out.replace(k, f"${v.strip()}$")
    return out.replace("–", "--")


def _md_math(step: Step) -> str:
    formula = "" if step.formula in ("parameter", "the input") else f" = {to_latex(step.formula)}"
    return f"${to_latex(step.name)}{formula}$"


RENDERERS: dict[str, Callable[[ExplainReport], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "latex": render_latex,
    "json": render_json,
}
