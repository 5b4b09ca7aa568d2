"""Check my work: a learner's ``δ^l``, ``∂C/∂W^l``, ``∂C/∂b^l`` against the trace.

:func:`check` compares answers — arrays, or a function
``backprop(weights, biases, x, y)`` — entry by entry with the explicit path of
:func:`chainrule.explain_trace` for one example, in the order the derivation
computes them (forward, then ``δ^L … δ^2``, then the gradients), and reports the
first wrong entry: its layer, its 1-based index, the expected and the given
value, and the equation that produces it.  ``chainrule explain --check
answers.json`` does the same from the command line.

Answer keys (``l`` is the seed's layer number, ``2..L``; ``1..L`` for ``z``, ``a``
and ``δ``):

=====================================  ===============================  ==============
key                                    value                            shape
=====================================  ===============================  ==============
``δ^l``, ``delta[l]``, ``delta^l``     ``δ^l = ∂C/∂z^l`` (eqs. 5, 9)    ``(N_l,)``
``z^l``, ``a^l`` (``z[l]``, ``a[l]``)  the forward pass (eqs. 1, 2)     ``(N_l,)``
``grad_W[l]``, ``∂C/∂W^l``, ``dW^l``   ``∂C/∂w^l_ij`` at ``[i, j]``      ``(N_l, N_{l-1})``, W's
``dC_dW[l]``, ``[δC/δW^l]``            the seed's ``a^{l-1} ⊗ δ^l``     ``(N_{l-1}, N_l)``
``grad_b[l]``, ``∂C/∂b^l``, ``db^l``   ``∂C/∂b^l = δ^l`` (eq. 15)       ``(N_l,)``
=====================================  ===============================  ==============

A row vector may also be given as ``(1, N_l)`` or ``(N_l, 1)``.  A function
returns such a dict, or ``(grad_weights, grad_biases)`` like
:meth:`Network.backprop` (lists for ``l = 2..L``, ``W^l``'s layout).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .tensors import DerivationTrace, explain_trace

if TYPE_CHECKING:
    from .network import Network

__all__ = ["CheckResult", "WrongEntry", "check", "expected_answers"]

Answers = Mapping[str, Any] | Callable[..., Any]

_KEY = re.compile(r"^\s*(?P<name>.+?)\s*(?:\^\{?|\[)\s*(?P<l>\d+)\s*[\]}]?\s*$")
#: what each accepted name means: (kind, display)
_NAMES: dict[str, str] = {
    "δ": "delta",
    "delta": "delta",
    "d": "delta",
    "dc_dz": "delta",
    "∂c/∂z": "delta",
    "z": "z",
    "a": "a",
    "grad_w": "grad_W",
    "∂c/∂w": "grad_W",
    "dw": "grad_W",
    "dc/dw": "grad_W",
    "dc_dw": "dC_dW",
    "[δc/δw": "dC_dW",
    "[∂c/∂w": "dC_dW",
    "grad_b": "grad_b",
    "∂c/∂b": "grad_b",
    "db": "grad_b",
    "dc/db": "grad_b",
    "dc_db": "grad_b",
    "[δc/δb": "grad_b",
    "[∂c/∂b": "grad_b",
}
#: the order of the derivation: forward first, then backward from the output
_ORDER = {"z": 0, "a": 0, "delta": 1, "grad_W": 2, "dC_dW": 2, "grad_b": 3}
_DISPLAY = {
    "z": "z^{l}",
    "a": "a^{l}",
    "delta": "δ^{l}",
    "grad_W": "∂C/∂W^{l}",
    "dC_dW": "[δC/δW^{l}]",
    "grad_b": "∂C/∂b^{l}",
}
_TRACE_KEY = {
    "z": "z[{l}]",
    "a": "a[{l}]",
    "delta": "delta[{l}]",
    "grad_W": "dC_dW[{l}]",
    "dC_dW": "dC_dW[{l}]",
    "grad_b": "dC_db[{l}]",
}


@dataclass
class WrongEntry:
    """The first wrong entry of a learner's answers.

    Attributes
    ----------
    name : str
        The array in the seed's notation, e.g. ``"δ^2"`` or ``"∂C/∂W^3"``.
    layer : int
        The seed's ``l``.
    index : tuple of int
        1-based, as in the seed (``(i, j)`` for ``w^l_ij``); empty for a shape error.
    expected, got : float
        NaN for a shape error.
    how : str
        How the trace computes it (formula and equation).
    message : str
        One line saying what is wrong.
    """

    name: str
    layer: int
    index: tuple[int, ...]
    expected: float
    got: float
    how: str
    message: str


@dataclass
class CheckResult:
    """The result of :func:`check`.

    Attributes
    ----------
    checked : list of str
        The arrays compared, in the derivation's order.
    entries : int
        How many entries were compared.
    first_wrong : WrongEntry or None
    rtol : float
    """

    checked: list[str] = field(default_factory=list)
    entries: int = 0
    first_wrong: WrongEntry | None = None
    rtol: float = 1e-3

    @property
    def passed(self) -> bool:
        """True when every given entry is right."""
        return self.first_wrong is None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.first_wrong is not None:
            return self.first_wrong.message
        return (
            f"check: all {self.entries} entries of {', '.join(self.checked)} are right "
            f"(relative tolerance {self.rtol:g})"
        )


def _parse_key(key: str) -> tuple[str, int]:
    m = _KEY.match(str(key))
    kind = _NAMES.get(m.group("name").strip().lower()) if m else None
    if m is None or kind is None:
        raise ValueError(
            f"answer key {key!r} is not one of δ^l, z^l, a^l, grad_W[l] (∂C/∂W^l), "
            f"dC_dW[l] ([δC/δW^l]), grad_b[l] (∂C/∂b^l), with l a layer number"
        )
    return kind, int(m.group("l"))


def _expected(trace: DerivationTrace, kind: str, l: int) -> np.ndarray:
    if kind == "z":
        return trace.z[l]
    if kind == "a":
        return trace.a[l]
    if kind == "delta":
        return trace.delta[l][0]
    if kind == "dC_dW":
        return trace.dC_dW[l]
    if kind == "grad_W":
        return trace.dC_dW[l].T
    return trace.dC_db[l][0]


def expected_answers(trace: DerivationTrace) -> dict[str, list[Any]]:
    """Every answer :func:`check` accepts, from a trace: the solution sheet (JSON-ready).

    Parameters
    ----------
    trace : DerivationTrace

    Returns
    -------
    dict
        ``"δ^l"`` for ``l = 2..L``, ``"∂C/∂W^l"`` and ``"∂C/∂b^l"`` for ``l = 2..L``,
        as nested lists.
    """
    L = trace.L
    out: dict[str, list[Any]] = {}
    for l in range(L, 1, -1):
        out[f"δ^{l}"] = trace.delta[l][0].tolist()
    for l in range(L, 1, -1):
        out[f"∂C/∂W^{l}"] = trace.dC_dW[l].T.tolist()
        out[f"∂C/∂b^{l}"] = trace.dC_db[l][0].tolist()
    return out


def _from_function(fn: Callable[..., Any], net: Network, trace: DerivationTrace) -> Any:
    weights = [W.copy() for W in net.weights]
    biases = [b.copy() for b in net.biases]
    got = fn(weights, biases, trace.x.copy(), trace.y.copy())
    if isinstance(got, Mapping):
        return got
    if isinstance(got, tuple) and len(got) == 2:
        gw, gb = got
        L = trace.L
        if len(gw) != L - 1 or len(gb) != L - 1:
            raise ValueError(
                f"backprop returned {len(gw)} weight and {len(gb)} bias gradients, "
                f"expected {L - 1} of each (layers 2..{L})"
            )
        out: dict[str, Any] = {}
        for l in range(2, L + 1):
            out[f"grad_W[{l}]"] = gw[l - 2]
            out[f"grad_b[{l}]"] = gb[l - 2]
        return out
    raise ValueError(
        "backprop(weights, biases, x, y) must return a dict of answers or "
        "(grad_weights, grad_biases) like Network.backprop"
    )


def check(
    net: Network,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    answers: Answers,
    *,
    rtol: float = 1e-3,
    atol: float | None = None,
    trace: DerivationTrace | None = None,
) -> CheckResult:
    """Compare a learner's answers with the derivation, entry by entry.

    Parameters
    ----------
    net : Network
        The network the answers were computed for (its weights, σ, cost).
    x : array-like of shape (N_1,)
    y : array-like of shape (N_L,), or an int class label
    answers : dict or callable
        A dict of arrays (keys in the module docstring), or a function
        ``backprop(weights, biases, x, y)`` called with copies of ``W^2..W^L``,
        ``b^2..b^L`` (lists), ``x`` and the one-hot ``λ``, returning such a dict
        or ``(grad_weights, grad_biases)``.
    rtol : float, default 1e-3
        Relative tolerance per entry: answers worked out by hand to four
        significant figures pass.
    atol : float, optional
        Absolute tolerance per entry; default ``1e-5 × max |expected|`` of the array.
    trace : DerivationTrace, optional
        A trace already computed for ``(x, y)``.

    Returns
    -------
    CheckResult
        ``result.first_wrong`` names the first wrong entry in the derivation's
        order (the forward pass, ``δ^L … δ^2``, then the gradients), so it points
        at the cause, not at a consequence.

    Examples
    --------
    >>> import chainrule
    >>> net = chainrule.lesson_network([2, 3, 2])
    >>> trace = chainrule.explain_trace(net, [1.0, -0.5], [1.0, 0.0])
    >>> mine = {"δ^3": trace.delta[3][0], "δ^2": 2 * trace.delta[2][0]}
    >>> print(chainrule.check(net, [1.0, -0.5], [1.0, 0.0], mine).first_wrong.name)
    δ^2
    """
    if trace is None:
        trace = explain_trace(net, x, y)
    given = _from_function(answers, net, trace) if callable(answers) else answers
    if not isinstance(given, Mapping):
        raise ValueError(f"answers must be a dict or a function, got {type(given).__name__}")
    L = trace.L
    parsed = []
    for key, value in given.items():
        kind, l = _parse_key(key)
        lo = 1 if kind in ("z", "a", "delta") else 2
        if not lo <= l <= L:
            raise ValueError(f"answer {key!r}: layer {l} is not between {lo} and {L}")
        rank = _ORDER[kind]
        parsed.append(((rank, l if rank == 0 else -l), kind, l, key, value))
    parsed.sort(key=lambda p: p[0])
    result = CheckResult(rtol=rtol)
    for _, kind, l, key, value in parsed:
        name = _DISPLAY[kind].format(l=l)
        step = trace[_TRACE_KEY[kind].format(l=l)]
        how = f"{step.name} = {step.formula} ({step.equation})"
        want = np.asarray(_expected(trace, kind, l), dtype=np.float64)
        try:
            got = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"answer {key!r} is not an array of numbers") from None
        if want.ndim == 1 and got.size == want.size and got.ndim <= 2:
            got = got.reshape(want.shape)
        if got.shape != want.shape:
            hint = ""
            if kind in ("grad_W", "dC_dW") and got.shape == want.T.shape:
                other = "dC_dW" if kind == "grad_W" else "grad_W"
                hint = (
                    f"; that is the other layout: give it as {other}[{l}] "
                    f"({_DISPLAY[other].format(l=l)})"
                )
            result.first_wrong = WrongEntry(
                name,
                l,
                (),
                float("nan"),
                float("nan"),
                how,
                f"{name} (answer {key!r}) has shape {got.shape}, expected {want.shape}{hint}",
            )
            return result
        scale = float(np.abs(want).max(initial=0.0))
        tol = (1e-5 * scale if atol is None else atol) + rtol * np.abs(want)
        bad = np.argwhere(~(np.abs(got - want) <= tol))
        result.checked.append(name)
        result.entries += int(want.size)
        if len(bad):
            idx = tuple(int(k) for k in bad[0])
            index = tuple(k + 1 for k in idx)
            e, g = float(want[idx]), float(got[idx])
            sub = ",".join(map(str, index))
            result.first_wrong = WrongEntry(
                name,
                l,
                index,
                e,
                g,
                how,
                f"first wrong entry: {name}_{sub} (layer {l}, index {sub}): expected {e:.6g}, "
                f"got {g:.6g}; {how}",
            )
            return result
    return result
