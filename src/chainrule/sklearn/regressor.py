"""``MLPRegressor``: scikit-learn's regressor on a chainrule network."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import validate_data

from ..functions import (
    Activation,
    Cost,
    get_activation,
)
from .base import _BaseMLP, _namespace_boundary, _solver_is_stochastic
from .constraints import _custom_cost
from .losses import PoissonDeviance, SquaredError, _exp_activation

Array = npt.NDArray[np.floating]

# --------------------------------------------------------------------------- regressor


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` on a chainrule Network.

    The output layer is the identity with half the squared error, and
    ``loss_`` is scikit-learn's: ``½ · mean over samples and outputs of (y − ŷ)²``.
    Like scikit-learn, it trains with the gradient of ``½ · mean over samples of
    ‖y − ŷ‖²`` (the network's cost, ``k`` times ``loss_`` for ``k`` outputs,
    scikit-learn#8349), so both stop at the same iteration.
    ``loss="poisson"`` gives scikit-learn's exponential output and half
    Poisson deviance.  As in scikit-learn, ``loss`` is the first positional
    parameter.

    Parameters and attributes are those of :class:`MLPClassifier` (without
    ``classes_`` and ``class_weight``); ``loss`` is ``"squared_error"``,
    ``"poisson"``, a :class:`chainrule.Cost` or a ``(function, derivative)``
    pair of ``(y_pred, y)`` on the identity output.
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseMLP._parameter_constraints,
        "loss": [*SkMLPRegressor._parameter_constraints["loss"], Cost, "array-like"],
    }

    def __init__(
        self,
        loss: Any = "squared_error",
        hidden_layer_sizes: Any = (100,),
        activation: Any = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        dropout: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _output(self, y: np.ndarray) -> tuple[Activation, Cost]:
        custom = _custom_cost(self.loss)
        if custom is not None:
            return get_activation("identity"), custom
        if self.loss == "squared_error":
            return get_activation("identity"), SquaredError()
        if self.loss == "poisson":
            if np.any(y < 0):
                raise ValueError("loss='poisson' needs non-negative targets y")
            return _exp_activation(), PoissonDeviance()
        raise ValueError(
            f"loss must be 'squared_error', 'poisson', a chainrule Cost or a "
            f"(function, derivative) pair, got {self.loss!r}"
        )

    def _validate_xy(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _validation_labels(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.shape != (n, self.n_outputs_):
            raise ValueError(
                f"validation_data: y_val must have shape ({n}, {self.n_outputs_}) "
                f"or ({n},), got {y.shape}"
            )
        return y

    @_fit_context(prefer_skip_nested_validation=True)
    @_namespace_boundary
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, *, validation_data: Any = None
    ) -> MLPRegressor:
        """Update the model with a single iteration over ``(X, y)``."""
        return self._fit(X, y, sample_weight, incremental=True, validation_data=validation_data)

    partial_fit = available_if(_solver_is_stochastic)(partial_fit)  # type: ignore[assignment]

    @_namespace_boundary
    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, shape ``(n_samples,)`` or ``(n_samples, n_outputs)``."""
        out = self._outputs_for(X)
        return out.ravel() if out.shape[1] == 1 else out.copy()

    def _score(self, X: np.ndarray, y: np.ndarray, sample_weight: Any = None) -> float:
        out = self.network_.feedforward(X)
        if not np.isfinite(out).all():
            return np.nan
        return float(
            r2_score(
                y.ravel() if out.shape[1] == 1 else y,
                out.ravel() if out.shape[1] == 1 else out,
                sample_weight=sample_weight,
            )
        )
