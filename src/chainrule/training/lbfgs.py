"""Full-batch training by L-BFGS: SciPy's L-BFGS-B over the flattened parameters.

L-BFGS (Nocedal & Wright, *Numerical Optimization*, §7.2) minimises the loss of the
whole training set ``E(θ)`` from its value and gradient alone, building a
low-rank approximation of the inverse Hessian from the last few steps.  Here
``θ`` is every weight and bias of the network in one vector, ``E`` is the mean
per-example cost plus the L2 penalty, and ``∇E`` is the network's
backpropagated gradient: the same ``Engine.forward``/``Engine.backward`` pair
as :meth:`chainrule.Network.backprop` (seed eqs. 5, 9, 13, 15), which
:func:`chainrule.gradcheck` checks against central differences of the loss.
The minimisation itself is SciPy's ``minimize(method="L-BFGS-B")`` — the solver
scikit-learn's ``MLPClassifier(solver="lbfgs")`` uses.

The vector is laid out as scikit-learn lays it out (``coefs_`` row-major in its
``(n_in, n_out)`` layout, i.e. every ``W^lᵀ``, then every ``b^l``), so that the
iterates of the two libraries agree to rounding.

Two entry points:

* :func:`fit_lbfgs`, behind ``Network.fit(optimizer="lbfgs")`` (or
  ``optimizer=LBFGS(tol=…, max_fun=…)``): one history entry per L-BFGS
  iteration, callbacks per iteration, a :class:`ConvergenceWarning` when SciPy
  stops before converging;
* :class:`Objective` and :func:`minimize`, which ``chainrule.sklearn`` drives
  with scikit-learn's stopping rules and warnings.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from .callbacks import Callback
from .history import History

if TYPE_CHECKING:
    import scipy.optimize

    from ..engine import Layers
    from ..network import Network

Array = npt.NDArray[np.floating]

__all__ = ["LBFGS", "ConvergenceWarning", "Objective", "fit_lbfgs", "minimize", "pack", "unpack"]


class ConvergenceWarning(UserWarning):
    """L-BFGS stopped at its iteration or evaluation limit before converging."""


@dataclass(frozen=True)
class LBFGS:
    """Settings of full-batch L-BFGS, for ``Network.fit(optimizer=LBFGS(...))``.

    ``Network.fit(optimizer="lbfgs")`` is ``LBFGS()``; ``epochs`` is the most
    L-BFGS iterations.

    Parameters
    ----------
    tol : float, default 1e-4
        Stop when the largest ``|∂E/∂θ_i|`` is at most this (SciPy's ``gtol``;
        scikit-learn's ``tol`` for ``solver="lbfgs"``).
    max_fun : int, default 15000
        The most evaluations of ``E`` and ``∇E`` (each one forward and one
        backward pass over the training set), line searches included.
    """

    tol: float = 1e-4
    max_fun: int = 15000
    name: ClassVar[str] = "lbfgs"

    def __post_init__(self) -> None:
        if not (self.tol >= 0 and math.isfinite(self.tol)):
            raise ValueError(f"L-BFGS tol must be a non-negative number, got {self.tol}")
        if (
            isinstance(self.max_fun, bool)
            or not isinstance(self.max_fun, (int, np.integer))
            or self.max_fun < 1
        ):
            raise ValueError(f"L-BFGS max_fun must be an integer >= 1, got {self.max_fun!r}")


# --------------------------------------------------------------------------- θ


def pack(net: Network) -> npt.NDArray[np.float64]:
    """All parameters as one float64 vector: every ``W^lᵀ`` row-major, then every ``b^l``.

    That is scikit-learn's ``_pack(coefs_, intercepts_)`` layout, of length
    ``net.n_parameters``.
    """
    parts = [W.T.ravel() for W in net.weights] + [b.ravel() for b in net.biases]
    return np.concatenate(parts).astype(np.float64, copy=False)


def unpack(net: Network, theta: npt.ArrayLike) -> None:
    """Write ``theta`` (laid out as :func:`pack`'s) into the network's arrays, in place.

    In place, so views of the parameters (``MLPClassifier.coefs_``) and
    references held by callbacks stay valid.  Values are cast to the network's dtype.
    """
    theta = np.asarray(theta)
    if theta.shape != (net.n_parameters,):
        raise ValueError(
            f"theta has {theta.size} values, the network {net.n_parameters} parameters"
        )
    start = 0
    for W in net.weights:
        end = start + W.size
        # W^lᵀ was flattened row-major: read it back as (N_{l-1}, N_l) and transpose.
        np.copyto(W, theta[start:end].reshape(W.shape[::-1]).T, casting="unsafe")
        start = end
    for b in net.biases:
        end = start + b.size
        np.copyto(b, theta[start:end], casting="unsafe")
        start = end


def _flat_gradient(
    grad_weights: Sequence[Array], grad_biases: Sequence[Array], out: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    start = 0
    for g in grad_weights:
        end = start + g.size
        out[start:end].reshape(g.shape[::-1])[...] = g.T
        start = end
    for g in grad_biases:
        end = start + g.size
        out[start:end] = g
        start = end
    return out


# --------------------------------------------------------------------------- E and ∇E


class Objective:
    """``E(θ)`` and ``∇E(θ)`` over a whole training set, for :func:`scipy.optimize.minimize`.

    ``E = cost_scale · Σ w_i C_i / Σ w_i + ½ l2_scale · Σ_l ‖W^l‖²`` with ``w_i = 1``
    when no sample weights are given; the gradient of the first term is
    :meth:`chainrule.Network.backprop`'s, of the second ``l2_scale · W^l``.

    Parameters
    ----------
    net : Network
        Its arrays are overwritten with ``θ`` at every evaluation.
    X : ndarray of shape (n, N_1)
    Y : ndarray of shape (n, N_L)
        Validated arrays in the network's dtype.
    sample_weight : ndarray of shape (n,), optional
        Non-negative, not all zero; only their ratios matter.
    l2_scale : float, default 0.0
        The penalty's coefficient: Nielsen's ``λ / n`` (``Network.fit``'s ``l2``)
        or scikit-learn's ``α / Σ w_i``.
    cost_scale : float, default 1.0
        Multiplies the cost term of the *value* only, never the gradient.  Leave
        it at 1 for a consistent value and gradient.  ``chainrule.sklearn``
        passes ``1/k`` for a ``k``-output squared error, where scikit-learn
        reports ``½ · mean over outputs`` while its gradient is that of
        ``½ · sum over outputs`` (scikit-learn#8349), so that its L-BFGS line
        searches, and so its iterates, are scikit-learn's.

    Attributes
    ----------
    n_evaluations : int
    last_theta : ndarray or None
        θ of the latest evaluation; ``last_cost`` (the mean cost, unscaled and
        without the penalty), ``last_output`` (``a^L``, shape (n, N_L)) and
        ``last_grad_weights`` belong to it.
    """

    def __init__(
        self,
        net: Network,
        X: Array,
        Y: Array,
        *,
        sample_weight: npt.ArrayLike | None = None,
        l2_scale: float = 0.0,
        cost_scale: float = 1.0,
    ) -> None:
        self.net, self.X, self.Y = net, X, Y
        self.row_weights: Array | None = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            self.row_weights = (w / w.sum()).astype(net.dtype)
        self.l2_scale = float(l2_scale)
        self.cost_scale = float(cost_scale)
        self._grad = np.empty(net.n_parameters, dtype=np.float64)
        self.n_evaluations = 0
        self.last_theta: npt.NDArray[np.float64] | None = None
        self.last_cost = math.nan
        self.last_output: Array | None = None
        self.last_grad_weights: list[Array] = []
        self._layers: Layers | None = None

    def __call__(self, theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        net = self.net
        unpack(net, theta)
        engine = net.engine
        # Network.backprop's computation (seed §5 steps 2–6), keeping the forward
        # pass for the value rather than running it twice.  The layers (buffers for
        # the whole set) are made once: unpack writes into the same parameter arrays.
        if self._layers is None or not self._layers.holds(net.weights, net.biases):
            self._layers = engine.layers(net.weights, net.biases, self.X.shape[0])
        layers = self._layers
        output = engine.forward(layers, self.X)
        costs = engine.per_example_cost(layers.forward_result(), self.Y)
        if self.row_weights is None:
            cost = float(costs.mean(dtype=np.float64))
        else:
            cost = float(np.dot(costs, self.row_weights))
        bwd = engine.gradients(layers, self.Y, row_weights=self.row_weights)
        value = self.cost_scale * cost
        if self.l2_scale:
            sq = 0.0
            for g, W in zip(bwd.grad_weights, net.weights, strict=True):
                flat = W.reshape(-1)
                sq += float(np.dot(flat, flat))
                g += W.dtype.type(self.l2_scale) * W
            value += 0.5 * self.l2_scale * sq
        self.n_evaluations += 1
        self.last_theta = theta.copy()
        self.last_cost = cost
        self.last_output = output
        self.last_grad_weights = bwd.grad_weights
        return value, _flat_gradient(bwd.grad_weights, bwd.grad_biases, self._grad).copy()


def minimize(
    objective: Objective,
    theta0: npt.NDArray[np.float64],
    *,
    max_iter: int,
    max_fun: int,
    tol: float,
    callback: Callable[[Any], None] | None = None,
) -> scipy.optimize.OptimizeResult:
    """Run SciPy's L-BFGS-B from ``theta0``, as scikit-learn's ``_fit_lbfgs`` does.

    ``maxiter=max_iter``, ``maxfun=max_fun``, ``gtol=tol``, SciPy's other
    defaults.  ``callback(intermediate_result)`` is called after every
    iteration (``intermediate_result.x``, ``.fun``); raising ``StopIteration``
    in it ends the run.  The network holds the parameters of the *last
    evaluation* afterwards, which need not be ``result.x``: call
    ``unpack(net, result.x)``.
    """
    import scipy.optimize  # imported when first used: `import chainrule` stays fast

    return scipy.optimize.minimize(
        objective,
        theta0,
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options={"maxfun": int(max_fun), "maxiter": int(max_iter), "gtol": float(tol)},
    )


# --------------------------------------------------------------------------- Network.fit


def _accuracy(output: Array, Y: Array) -> float:
    if output.shape[1] == 1:
        return float(np.mean((output[:, 0] > 0.5) == (Y[:, 0] > 0.5)))
    return float(np.mean(output.argmax(axis=1) == Y.argmax(axis=1)))


def fit_lbfgs(
    net: Network,
    X: Array,
    Y: Array,
    *,
    max_iter: int,
    settings: LBFGS,
    validation_data: tuple[Array, Array] | None = None,
    callbacks: Sequence[Callback] = (),
    l2: float = 0.0,
    sample_weight: Array | None = None,
) -> History:
    """Train ``net`` in place by full-batch L-BFGS; behind ``Network.fit(optimizer="lbfgs")``.

    Parameters
    ----------
    net : Network
    X : ndarray of shape (n, N_1)
    Y : ndarray of shape (n, N_L)
        Validated arrays in the network's dtype.
    max_iter : int
        The most L-BFGS iterations (``fit``'s ``epochs``).
    settings : LBFGS
        ``tol`` and ``max_fun``.
    validation_data : (X_val, Y_val), optional
        Evaluated after every iteration.
    callbacks : sequence of Callback
        ``on_train_begin``, ``on_epoch_begin``/``on_epoch_end`` around every
        iteration, ``on_train_end``; there are no mini-batches, so
        ``on_batch_end`` is never called.  Setting ``net.stop_training`` ends
        the run after the current iteration.
    l2 : float, default 0.0
        Nielsen's λ: ``E`` gains ``(λ / 2n) Σ ‖W^l‖²`` (as in ``Network.fit``).
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    History
        One entry per iteration: the mean cost (without the penalty) and
        accuracy at the iterate, the validation metrics, ``learning_rate`` NaN
        (L-BFGS chooses its own steps), per-layer ``‖∂E/∂W^l‖``, the time.

    Warns
    -----
    ConvergenceWarning
        When SciPy stopped at ``max_iter`` or ``max_fun`` (or for another
        reason, such as a failed line search) before ``tol`` was met.
    """
    if max_iter < 0:
        raise ValueError(f"epochs must be >= 0, got {max_iter}")
    objective = Objective(
        net, X, Y, sample_weight=sample_weight, l2_scale=l2 / X.shape[0] if l2 else 0.0
    )
    history = History()
    first = len(net.history) + 1
    net.stop_training = False
    net.interrupted = False
    # SGD state (velocities, moments) would be stale after L-BFGS has moved the weights.
    net.optimizer = None
    for cb in callbacks:
        cb.on_train_begin(net, history)
    if max_iter == 0:
        for cb in callbacks:
            cb.on_train_end(net, history)
        return history
    accepted = pack(net)
    clock = [time.perf_counter()]

    def on_iteration(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        theta = intermediate_result.x
        accepted[...] = theta
        if objective.last_theta is None or not np.array_equal(objective.last_theta, theta):
            objective(theta)  # the iterate was not the latest evaluation: evaluate it
        assert objective.last_output is not None
        val_loss = val_acc = math.nan
        if validation_data is not None:
            val_loss, val_acc = net.evaluate_arrays(*validation_data)
        epoch = first + len(history)
        now = time.perf_counter()
        history.append(
            epoch=epoch,
            train_loss=objective.last_cost,
            train_accuracy=_accuracy(objective.last_output, Y) if net.is_classifier else math.nan,
            val_loss=val_loss,
            val_accuracy=val_acc,
            learning_rate=math.nan,
            grad_norms=[float(np.linalg.norm(g)) for g in objective.last_grad_weights],
            seconds=now - clock[0],
        )
        clock[0] = now
        net.history.extend(
            History(**{k: [getattr(history, k)[-1]] for k in History.__dataclass_fields__})
        )
        for cb in callbacks:
            cb.on_epoch_end(net, history)
        if net.stop_training:
            raise StopIteration
        for cb in callbacks:
            cb.on_epoch_begin(net, epoch + 1)

    for cb in callbacks:
        cb.on_epoch_begin(net, first)
    result = None
    try:
        result = minimize(
            objective,
            accepted.copy(),
            max_iter=max_iter,
            max_fun=settings.max_fun,
            tol=settings.tol,
            callback=on_iteration,
        )
    except KeyboardInterrupt:
        # Ctrl-C mid line search: go back to the last accepted iterate.
        net.interrupted = True
    unpack(net, accepted if result is None else result.x)
    if result is not None and not net.stop_training and result.status != 0:
        warnings.warn(
            f"L-BFGS stopped after {result.nit} iteration(s) without converging "
            f"(tol={settings.tol:g}): {result.message}",
            ConvergenceWarning,
            stacklevel=5,
        )  # fit_lbfgs <- Trainer <- Network.fit <- caller
    for cb in callbacks:
        cb.on_train_end(net, history)
    return history
