"""scikit-learn's regression losses as chainrule costs.

:class:`SquaredError`, :class:`PoissonDeviance` and the ``exp`` output of ``loss='poisson'``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..functions import (
    Activation,
    Cost,
    CustomActivation,
)

Array = npt.NDArray[np.floating]

# --------------------------------------------------------------------------- losses


class SquaredError(Cost):
    """Half the squared error, ``C = ½ ‖a − λ‖²``, ``∂C/∂a = a − λ``.

    The mean over samples of this ``C`` is the loss whose gradient
    scikit-learn's ``MLPRegressor`` trains with; scikit-learn *reports* it
    divided by the number of outputs (scikit-learn#8349).  With the identity
    output, eq. 5 gives ``δ^L = a − λ``.
    """

    name = "squared_error"

    def value(self, z: Array, a: Array, y: Array, activation: Activation) -> Array:
        diff = a - y
        return 0.5 * np.einsum("ij,ij->i", diff, diff)

    def derivative(self, a: Array, y: Array) -> Array:
        return a - y

    def delta(
        self, z: Array, a: Array, y: Array, activation: Activation, out: Array | None = None
    ) -> Array:
        if activation.name == "identity":
            return np.subtract(a, y, out=out)
        return super().delta(z, a, y, activation, out)


class PoissonDeviance(Cost):
    """Half the Poisson deviance per example, ``C = Σ_j [λ_j ln(λ_j/a_j) − λ_j + a_j]``.

    scikit-learn's ``loss="poisson"`` (with its exponential output, ``a = e^z``):
    ``∂C/∂a = 1 − λ/a`` and, with ``a = e^z``, eq. 5 gives ``δ^L = a − λ``.
    ``ln a`` is taken from ``z`` exactly.
    """

    name = "poisson"

    def value(self, z: Array, a: Array, y: Array, activation: Activation) -> Array:
        log_a = z if activation.name == "exp" else np.log(np.maximum(a, np.finfo(a.dtype).tiny))
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0)
        return np.sum(ylogy - y * log_a - y + a, axis=1)

    def derivative(self, a: Array, y: Array) -> Array:
        return 1 - y / np.maximum(a, np.finfo(a.dtype).tiny)

    def delta(
        self, z: Array, a: Array, y: Array, activation: Activation, out: Array | None = None
    ) -> Array:
        if activation.name == "exp":
            return np.subtract(a, y, out=out)
        return super().delta(z, a, y, activation, out)


def _exp_activation() -> CustomActivation:
    # σ(z) = e^z, σ'(z) = e^z; clipped so that a runaway z gives a large value
    # rather than inf (scikit-learn's Poisson output has the same exposure).
    return CustomActivation(_clipped_exp, _clipped_exp, "exp")


def _clipped_exp(z: Array) -> Array:
    return np.exp(np.minimum(z, np.log(np.finfo(z.dtype).max) - 1))
