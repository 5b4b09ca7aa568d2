"""Planted bugs: a backpropagation written by hand, with a classic mistake switched on.

For a class on gradient checking: :func:`backprop_by_hand` is a short, plain
NumPy backpropagation of the network's mean loss, written the way a learner
writes it (seed §5 steps 2–6, rows as examples), built only on the network's
public parameters, activations and cost — it shares nothing with
:mod:`chainrule.engine`.  With ``bug=None`` it equals :meth:`Network.backprop`
to round-off; with one of :data:`BUGS` it makes that mistake, and
:func:`chainrule.gradcheck` (``backprop=planted_backprop(net, bug)``) names the
entries it gets wrong.

From the command line: ``chainrule gradcheck --plant-bug NAME --entries``,
``chainrule explain --plant-bug NAME`` and ``chainrule train --plant-bug NAME``
(the network then trains on the wrong gradient, through :class:`PlantedBug`).

The bugs (seed equation each one breaks):

``missing-sigma-prime``
    eq. 9 without ``diag σ'(z^l)``: ``δ^l = δ^{l+1} W^{l+1}`` in the hidden layers.
``transposed-weights``
    eq. 13 in the seed's layout ``a^{l-1} ⊗ δ^l`` (``N_{l-1} × N_l``) reshaped,
    not transposed, into ``W^l``'s shape ``N_l × N_{l-1}`` (for a square layer:
    the transposed gradient).
``wrong-softmax-jacobian``
    eq. 5 with softmax treated as elementwise: ``diag a(1 − a)`` instead of
    ``diag(a) − a aᵀ`` (needs a softmax output).
``bias-gradient-not-summed``
    eq. 15 for the first example of the batch only, not summed over the batch
    (invisible on one example: a check on one example cannot catch it).
``off-by-one-layer``
    the backward loop stops one layer early: ``δ^2`` is never computed and
    ``∂C/∂W^2``, ``∂C/∂b^2`` stay zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import checks
from .training.callbacks import BatchInfo, Callback

if TYPE_CHECKING:
    from .network import Network

Array = npt.NDArray[np.floating]
Gradients = tuple[list[Array], list[Array]]

__all__ = ["BUGS", "PlantedBug", "backprop_by_hand", "check_bug", "planted_backprop"]

#: The planted bugs and what each one gets wrong, in one line.
BUGS: dict[str, str] = {
    "missing-sigma-prime": "eq. 9 without diag σ'(z^l): δ^l = δ^(l+1) W^(l+1) in hidden layers",
    "transposed-weights": "eq. 13's a^(l-1) ⊗ δ^l (N_(l-1) × N_l) reshaped, not transposed, "
    "to W^l's shape",
    "wrong-softmax-jacobian": "eq. 5 with softmax as if elementwise: diag a(1 − a) instead of "
    "diag(a) − a aᵀ",
    "bias-gradient-not-summed": "eq. 15 for the batch's first example only, not summed over "
    "the batch",
    "off-by-one-layer": "the backward loop stops one layer early: ∂C/∂W^2, ∂C/∂b^2 stay 0",
}


def check_bug(net: Network, bug: str | None) -> None:
    """Raise ``ValueError`` for an unknown bug, or one this network cannot show.

    Parameters
    ----------
    net : Network
    bug : str or None
    """
    if bug is None:
        return
    if bug not in BUGS:
        raise ValueError(f"unknown planted bug {bug!r}; choose from {', '.join(BUGS)}")
    if bug == "wrong-softmax-jacobian" and net.output_activation.name != "softmax":
        raise ValueError(
            "the planted bug 'wrong-softmax-jacobian' needs a softmax output "
            f"(--output-activation softmax), got {net.output_activation.name!r}"
        )
    if bug == "missing-sigma-prime" and len(net.sizes) < 3:
        raise ValueError(
            "the planted bug 'missing-sigma-prime' needs a hidden layer "
            f"(at least 3 sizes), got sizes {list(net.sizes)}"
        )


def backprop_by_hand(
    net: Network, X: npt.ArrayLike, Y: npt.ArrayLike, bug: str | None = None
) -> Gradients:
    """The gradient of ``net.loss(X, Y)`` by a plain NumPy backpropagation (seed §5).

    Parameters
    ----------
    net : Network
        Read only: its parameters, activations and cost (NumPy backend).
    X : array-like of shape (n, N_1)
    Y : array-like of shape (n, N_L), or (n,) class labels
    bug : str, optional
        One of :data:`BUGS`; None computes the right gradient.

    Returns
    -------
    grad_weights : list of ndarray
        ``grad_weights[l-2]`` of ``W^l``'s shape ``(N_l, N_{l-1})``, like
        :meth:`Network.backprop`.
    grad_biases : list of ndarray
        ``grad_biases[l-2]`` of shape ``(N_l,)``.
    """
    check_bug(net, bug)
    X2, _ = checks.as_inputs(X, net.sizes[0], net.dtype)
    n = X2.shape[0]
    Y2 = checks.as_targets(Y, n, net.sizes[-1], net.dtype)
    L = len(net.sizes)
    sigma = [None, net.input_activation, *net.activations]
    W: list[Any] = [None, None, *net.weights]
    b: list[Any] = [None, None, *net.biases]
    # §5 step 2: feed forward, keeping z^l and a^l (one example per row).
    z: dict[int, Array] = {1: X2}
    a: dict[int, Array] = {1: net.input_activation.forward(X2)}
    for l in range(2, L + 1):
        z[l] = a[l - 1] @ W[l].T + b[l]
        a[l] = sigma[l].forward(z[l])  # type: ignore[union-attr]
    # §5 step 3, eq. 5: δ^L, divided by n for the mean loss.
    sL = sigma[L]
    assert sL is not None
    delta_L: Array
    if bug == "wrong-softmax-jacobian":
        delta_L = net.cost.derivative(a[L], Y2) * (a[L] * (1 - a[L]))
    else:
        delta_L = net.cost.delta(z[L], a[L], Y2, sL)
    delta: dict[int, Array] = {L: delta_L / n}
    # §5 step 4, eq. 9: δ^l = δ^(l+1) W^(l+1) diag σ'(z^l).
    last = 3 if bug == "off-by-one-layer" else 2
    for l in range(L - 1, last - 1, -1):
        s = sigma[l]
        assert s is not None
        back = delta[l + 1] @ W[l + 1]
        delta[l] = back if bug == "missing-sigma-prime" else back * s.derivative(z[l], a[l])
    # §5 steps 5–6, eqs. 13 and 15.
    grad_w, grad_b = [], []
    for l in range(2, L + 1):
        if l not in delta:  # off-by-one-layer: never reached
            grad_w.append(np.zeros_like(W[l]))
            grad_b.append(np.zeros_like(b[l]))
            continue
        if bug == "transposed-weights":
            grad_w.append((a[l - 1].T @ delta[l]).reshape(W[l].shape))
        else:
            grad_w.append(delta[l].T @ a[l - 1])
        if bug == "bias-gradient-not-summed":
            grad_b.append(delta[l][0].copy())
        else:
            grad_b.append(delta[l].sum(axis=0))
    return grad_w, grad_b


def planted_backprop(net: Network, bug: str | None) -> Callable[[Any, Any], Gradients]:
    """``backprop(X, Y)`` with ``bug`` planted, for :func:`chainrule.gradcheck`.

    Parameters
    ----------
    net : Network
    bug : str or None
        One of :data:`BUGS` (None: the hand-written backprop without a bug).

    Returns
    -------
    callable
        ``backprop(X, Y) -> (grad_weights, grad_biases)``, the layout of
        :meth:`Network.backprop`.

    Examples
    --------
    >>> import numpy as np, chainrule
    >>> from chainrule.bugs import planted_backprop
    >>> net = chainrule.lesson_network()
    >>> X, Y = np.random.default_rng(0).normal(size=(4, 3)), np.eye(2)[[0, 1, 1, 0]]
    >>> report = chainrule.gradcheck(net, X, Y,
    ...                              backprop=planted_backprop(net, "missing-sigma-prime"))
    >>> report.passed, report.wrong_entries()[0].name
    (False, 'w^2_1,1')
    """
    check_bug(net, bug)

    def backprop(X: Any, Y: Any) -> Gradients:
        return backprop_by_hand(net, X, Y, bug)

    return backprop


class PlantedBug(Callback):
    """Train on a planted bug's gradient: ``fit(..., callbacks=[PlantedBug(bug, X, Y)])``.

    Per batch, the gradient the loop computed (penalties included) is moved by
    ``buggy − right``, both by :func:`backprop_by_hand` on the batch's rows, so
    the optimizer steps with the planted bug's gradient.

    Parameters
    ----------
    bug : str
        One of :data:`BUGS`.
    X, Y : arrays
        The training arrays given to ``fit`` (the batches index into them).
    """

    def __init__(self, bug: str, X: npt.ArrayLike, Y: npt.ArrayLike) -> None:
        if bug not in BUGS:
            raise ValueError(f"unknown planted bug {bug!r}; choose from {', '.join(BUGS)}")
        self.bug, self.X, self.Y = bug, np.asarray(X), np.asarray(Y)

    def on_train_begin(self, network: Network, history: Any) -> None:
        check_bug(network, self.bug)

    def on_gradients(self, network: Network, info: BatchInfo) -> None:
        rows: Any = info.rows if info.rows is not None else slice(None)
        Xb, Yb = self.X[rows], self.Y[rows]
        right = backprop_by_hand(network, Xb, Yb)
        wrong = backprop_by_hand(network, Xb, Yb, self.bug)
        for got, r, w in zip(_pairs(info), right[0] + right[1], wrong[0] + wrong[1], strict=True):
            got += (w - r).astype(got.dtype, copy=False)


def _pairs(info: BatchInfo) -> Sequence[Array]:
    return [*info.grad_weights, *info.grad_biases]
