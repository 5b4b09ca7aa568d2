"""Gradient checking: ``backprop`` against central differences of ``loss``.

A gradient bug that still lets training move (a factor of the number of
outputs, a missing σ′) is invisible in learning curves; this check finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .network import Network

__all__ = ["ArrayCheck", "Entry", "GradcheckReport", "entry_name", "gradcheck"]


@dataclass
class ArrayCheck:
    """The comparison for one parameter array.

    Attributes
    ----------
    name : str
        ``W^l`` or ``b^l`` in the seed's numbering.
    shape : tuple of int
    max_abs_error : float
        ``max |backprop − numeric|`` over the array's entries.
    max_rel_error : float
        The norm-wise relative error
        ``max |backprop − numeric| / max(max |backprop|, max |numeric|, floor)``:
        entries whose gradient is nearly zero are judged on the array's scale,
        not their own (where round-off would dominate).
    passed : bool
        Relative error within the tolerance, or absolute error below the
        round-off floor (``round_off``).
    round_off : bool
        True when the array passed only because its absolute error is below the
        floor: all its gradients are as small as the difference quotient's round-off.
    analytic, numeric : ndarray of the array's shape
        ``backprop``'s gradient and the central differences, entry by entry.
    wrong : list of tuple of int
        The 0-based indices of the wrong entries (row-major order): those whose
        error exceeds both ``tolerance × scale`` (the array's scale, as for
        ``max_rel_error``) and the round-off floor.
    """

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    passed: bool
    round_off: bool = False
    analytic: np.ndarray | None = field(default=None, repr=False)
    numeric: np.ndarray | None = field(default=None, repr=False)
    wrong: list[tuple[int, ...]] = field(default_factory=list)


def entry_name(array: str, index: tuple[int, ...]) -> str:
    """The seed's 1-based name of one parameter: ``w^3_1,2`` (``W^3[0, 1]``), ``b^3_2``.

    Parameters
    ----------
    array : str
        ``"W^l"`` or ``"b^l"``.
    index : tuple of int
        0-based: ``(i, j)`` for ``W^l`` (row ``i`` is neuron ``i`` of layer ``l``,
        column ``j`` neuron ``j`` of layer ``l−1``), ``(i,)`` for ``b^l``.
    """
    return f"{array[0].lower()}{array[1:]}_" + ",".join(str(k + 1) for k in index)


@dataclass
class Entry:
    """One parameter's gradient: backprop against the central difference.

    Attributes
    ----------
    name : str
        ``w^l_i,j`` or ``b^l_i`` (1-based, see :func:`entry_name`).
    array : str
        ``W^l`` or ``b^l``.
    index : tuple of int
        0-based index into the array.
    analytic, numeric : float
    abs_error : float
    wrong : bool
    """

    name: str
    array: str
    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    wrong: bool


@dataclass
class GradcheckReport:
    """The result of :func:`gradcheck`: one :class:`ArrayCheck` per parameter array."""

    checks: list[ArrayCheck] = field(default_factory=list)
    eps: float = 1e-6
    tolerance: float = 1e-6
    #: The absolute-error floor: errors below it are round-off, not a wrong gradient.
    atol: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every array is within tolerance."""
        return all(c.passed for c in self.checks)

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over all arrays."""
        return max((c.max_rel_error for c in self.checks), default=0.0)

    def __bool__(self) -> bool:
        return self.passed

    def entries(self, *, wrong_only: bool = False) -> Iterator[Entry]:
        """Every checked entry (or only the wrong ones), array by array, row-major."""
        for c in self.checks:
            if c.analytic is None or c.numeric is None:
                continue
            bad = set(c.wrong)
            for index in np.ndindex(*c.shape):
                if wrong_only and index not in bad:
                    continue
                an, nu = float(c.analytic[index]), float(c.numeric[index])
                yield Entry(
                    entry_name(c.name, index), c.name, index, an, nu, abs(an - nu), index in bad
                )

    def wrong_entries(self) -> list[Entry]:
        """The entries whose gradient is wrong, array by array."""
        return list(self.entries(wrong_only=True))

    def format_entries(self, *, wrong_only: bool = False, limit: int | None = None) -> str:
        """A table, one line per entry: name, backprop, central difference, error.

        Parameters
        ----------
        wrong_only : bool, default False
        limit : int, optional
            Show at most this many lines (and say how many more there are).
        """
        rows = list(self.entries(wrong_only=wrong_only))
        lines = [f"{'entry':<12} {'backprop':>13} {'numeric':>13} {'abs err':>10}  result"]
        for e in rows[:limit]:
            lines.append(
                f"{e.name:<12} {e.analytic:13.6g} {e.numeric:13.6g} "
                f"{e.abs_error:10.2e}  {'WRONG' if e.wrong else 'ok'}"
            )
        if limit is not None and len(rows) > limit:
            lines.append(f"… {len(rows) - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        lines = [f"{'array':<6} {'shape':<12} {'max abs err':>12} {'max rel err':>12}  result"]
        for c in self.checks:
            shape = "×".join(map(str, c.shape))
            lines.append(
                f"{c.name:<6} {shape:<12} {c.max_abs_error:12.3e} "
                f"{c.max_rel_error:12.3e}  "
                f"{('ok (round-off)' if c.round_off else 'ok') if c.passed else 'FAIL'}"
            )
        wrong = self.wrong_entries()
        if wrong:
            shown = ", ".join(e.name for e in wrong[:8])
            more = f" and {len(wrong) - 8} more" if len(wrong) > 8 else ""
            lines.append(f"wrong entries ({len(wrong)}): {shown}{more}")
        verdict = "passed" if self.passed else "FAILED"
        lines.append(
            f"gradcheck {verdict} (eps={self.eps:g}, tolerance={self.tolerance:g} "
            f"relative, or absolute error below the round-off floor "
            f"{self.atol:.2g})"
        )
        return "\n".join(lines)


def gradcheck(
    net: Network,
    X: npt.ArrayLike,
    Y: npt.ArrayLike,
    *,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    floor: float = 1e-8,
    atol: float | None = None,
    backprop: Callable[[Any, Any], tuple[list[Any], list[Any]]] | None = None,
) -> GradcheckReport:
    """Compare ``net.backprop(X, Y)`` with central differences of ``net.loss(X, Y)``.

    Every weight and bias is perturbed by ``±eps`` in turn:
    ``∂E/∂θ ≈ (E(θ + ε) − E(θ − ε)) / 2ε``, with error ``O(ε²)``.  Run it in
    float64: float32 round-off swamps the difference quotient.

    Parameters
    ----------
    net : Network
    X : array-like of shape (n, N_1)
    Y : array-like of shape (n, N_L) or (n,) class labels
    eps : float, default 1e-6
        The perturbation.
    tolerance : float, default 1e-6
        The largest relative error that passes.
    floor : float, default 1e-8
        Denominator floor, so an array whose gradient is ~0 everywhere is
        judged by absolute error.
    atol : float, optional
        An array whose largest absolute error is at most ``atol`` passes whatever
        its relative error: its gradients are all within the difference quotient's
        round-off, ``u · max(1, |E|) / ε`` (``u`` the float64 unit round-off, ``E``
        the loss), so their relative error measures noise.  Default: ten times
        that round-off, ``10 u max(1, |E|) / ε`` (about 2e-9 for ε = 1e-6, E ≤ 1).
    backprop : callable, optional
        ``backprop(X, Y) -> (grad_weights, grad_biases)`` in the layout of
        :meth:`Network.backprop` (the default): check your own backpropagation,
        or a planted bug (:func:`chainrule.bugs.planted_backprop`).

    Returns
    -------
    GradcheckReport
        Per array: max absolute and relative error and pass/fail; per entry
        (:meth:`GradcheckReport.entries`): backprop, numeric, and which are wrong.

    Examples
    --------
    >>> import numpy as np, chainrule
    >>> net = chainrule.Network([3, 4, 2], seed=0)
    >>> X, Y = np.ones((5, 3)), np.zeros((5, 2))
    >>> chainrule.gradcheck(net, X, Y).passed
    True
    """
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    grad_w, grad_b = (net.backprop if backprop is None else backprop)(X, Y)
    grad_w = [np.asarray(g, dtype=np.float64) for g in grad_w]
    grad_b = [np.asarray(g, dtype=np.float64) for g in grad_b]
    for name, got, want in zip(
        [f"W^{i + 2}" for i in range(len(net.weights))]
        + [f"b^{i + 2}" for i in range(len(net.biases))],
        grad_w + grad_b,
        list(net.weights) + list(net.biases),
        strict=True,
    ):
        if got.shape != tuple(want.shape):
            raise ValueError(
                f"backprop's gradient of {name} has shape {got.shape}, expected {tuple(want.shape)}"
            )
    if atol is None:
        u = float(np.finfo(np.float64).eps)
        atol = 10 * u * max(1.0, abs(net.loss(X, Y))) / eps
    report = GradcheckReport(eps=eps, tolerance=tolerance, atol=atol)
    arrays = [(f"W^{i + 2}", net.weights, i, grad_w[i]) for i in range(len(grad_w))]
    arrays += [(f"b^{i + 2}", net.biases, i, grad_b[i]) for i in range(len(grad_b))]
    for name, params, i, analytic in arrays:
        numeric = _central_differences(net, params, i, X, Y, eps)
        abs_err = np.abs(analytic - numeric)
        scale = max(float(np.abs(analytic).max()), float(np.abs(numeric).max()), floor)
        max_rel = float(abs_err.max()) / scale
        max_abs = float(abs_err.max())
        round_off = max_rel > tolerance and max_abs <= atol
        bad = (abs_err > tolerance * scale) & (abs_err > atol)
        wrong = [tuple(int(k) for k in idx) for idx in np.argwhere(bad)]
        report.checks.append(
            ArrayCheck(
                name,
                tuple(analytic.shape),
                max_abs,
                max_rel,
                max_rel <= tolerance or round_off,
                round_off,
                analytic,
                numeric,
                wrong,
            )
        )
    return report


def _central_differences(
    net: Network,
    params: list[np.ndarray],
    i: int,
    X: npt.ArrayLike,
    Y: npt.ArrayLike,
    eps: float,
) -> np.ndarray:
    theta = params[i]
    numeric = np.zeros(theta.shape, dtype=np.float64)
    flat = theta.reshape(-1)  # a view: perturbing it perturbs the network
    out = numeric.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        plus = net.loss(X, Y)
        flat[k] = saved - eps
        minus = net.loss(X, Y)
        flat[k] = saved
        out[k] = (plus - minus) / (2 * eps)
    return numeric
