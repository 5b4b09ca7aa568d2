"""``MLPClassifier``: scikit-learn's classifier on a chainrule network."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import validate_data

from ..functions import (
    Activation,
    Cost,
    get_activation,
    get_cost,
)
from .base import _BaseMLP, _namespace_boundary, _solver_is_stochastic
from .constraints import _custom_cost

Array = npt.NDArray[np.floating]

# --------------------------------------------------------------------------- classifier


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` on a chainrule Network.

    Binary targets get one logistic output unit with the log-loss (chainrule's
    sigmoid + ``cross_entropy``), multiclass targets a softmax layer with the
    log-likelihood, multilabel indicator targets one logistic unit per label
    with the summed binary log-loss — scikit-learn's choices.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (100,)
    activation : str, Activation, (function, derivative) pair, or list of them, default "relu"
        ``'identity'``, ``'logistic'``, ``'tanh'``, ``'relu'`` (scikit-learn's),
        also ``'sigmoid'``, ``'leaky_relu'``, a :class:`chainrule.Activation`,
        a pair of callables ``(σ, σ′)`` of ``z``, or a list with one of these
        per hidden layer.
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        ``"lbfgs"`` is scikit-learn's: SciPy's L-BFGS-B over all the weights
        and biases at once (full batch), with the network's backpropagated
        gradient (:mod:`chainrule.training.lbfgs`); ``max_iter`` bounds its
        iterations, ``max_fun`` its loss evaluations, and it stops when every
        gradient entry is within ``tol`` of 0.
    alpha : float, default 1e-4
        L2 penalty, scikit-learn's form: ``α W / batch size`` joins each batch's
        weight gradient and ``½ α ‖W‖² / batch size`` its loss.
    batch_size : int or "auto", default "auto"
        ``"auto"`` is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        The schedule for ``solver="sgd"``.
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose,
    warm_start, momentum, nesterovs_momentum, early_stopping,
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change :
        As in scikit-learn.  ``random_state=None`` draws from NumPy's global
        random state, as scikit-learn does; a ``numpy.random.Generator`` is
        accepted too.
    max_fun : int, default 15000
        The most loss evaluations of ``solver="lbfgs"``.
    loss : str, Cost or (function, derivative) pair, default "log_loss"
        Beyond scikit-learn: a custom loss on the output probabilities,
        ``function(p, y)`` and ``derivative(p, y)`` with ``p`` and the
        binarized targets ``y`` of shape ``(n, n_outputs)`` (see
        :class:`chainrule.CustomCost`).
    dropout : float or list of float, optional
        Beyond scikit-learn: inverted-dropout rate for the hidden layers.
    class_weight : dict, "balanced" or None, default None
        Beyond scikit-learn's MLP: weights of the classes, multiplied into
        ``sample_weight`` (as in scikit-learn's linear models).

    Attributes
    ----------
    network_ : chainrule.Network
        The trained network (use ``chainrule.gradcheck(est.network_, X, Y)``).
    coefs_, intercepts_ : lists of ndarray
        scikit-learn's layout (``coefs_[i]`` is ``(n_in, n_out)``), live views
        of ``network_``'s parameters.
    classes_, n_iter_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, t_, n_features_in_, feature_names_in_, n_layers_,
    n_outputs_, out_activation_ :
        As in scikit-learn.
    validation_loss_curve_ : list of float or None
        Beyond scikit-learn: the validation loss after every iteration, when a
        validation set is in use.
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"log_loss"}), Cost, "array-like"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
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
        loss: Any = "log_loss",
        dropout: Any = None,
        class_weight: Any = None,
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
        self.loss = loss
        self.dropout = dropout
        self.class_weight = class_weight

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _is_classifier(self) -> bool:
        return True

    def _output(self, y: np.ndarray) -> tuple[Activation, Cost]:
        multiclass = self._label_binarizer.y_type_ == "multiclass"
        out = get_activation("softmax" if multiclass else "sigmoid")
        custom = _custom_cost(self.loss)
        if custom is not None:
            return out, custom
        if self.loss != "log_loss":
            raise ValueError(
                f"loss must be 'log_loss', a chainrule Cost or a "
                f"(function, derivative) pair, got {self.loss!r}"
            )
        # scikit-learn's log-loss: the log-likelihood on softmax, else the summed
        # binary cross-entropy on logistic units.
        return out, get_cost("log_likelihood" if multiclass else "cross_entropy")

    def _validate_xy(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` "
                    f"has {self.classes_}. 'y' has {classes}."
                )
        # bool keeps float32 data float32 (the network converts to its dtype).
        return X, self._label_binarizer.transform(y).astype(bool)

    def _with_class_weight(
        self, y: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray | None:
        if self.class_weight is None:
            return sample_weight
        # y is binarized here; the weights are per original label.
        cw = compute_sample_weight(self.class_weight, self._label_binarizer.inverse_transform(y))
        return cw if sample_weight is None else sample_weight * cw

    def _val_labels_from_targets(self, Y_val: np.ndarray) -> np.ndarray:
        return self._label_binarizer.inverse_transform(Y_val)

    def _validation_labels(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y) if not sp.issparse(y) else y.toarray()
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.shape[0] != n:
            raise ValueError(f"validation_data: y_val has {y.shape[0]} rows, X_val has {n}")
        extra = np.setdiff1d(unique_labels(y), self.classes_)
        if self._label_binarizer.y_type_ != "multilabel-indicator" and len(extra):
            raise ValueError(f"validation_data: y_val has classes not seen in training: {extra}")
        return y

    def _targets_for_loss(self, y_val: np.ndarray) -> np.ndarray:
        Y = self._label_binarizer.transform(y_val)
        return Y.toarray() if sp.issparse(Y) else np.asarray(Y)

    @_fit_context(prefer_skip_nested_validation=True)
    @_namespace_boundary
    def partial_fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        classes: Any = None,
        *,
        validation_data: Any = None,
    ) -> MLPClassifier:
        """Update the model with a single iteration over ``(X, y)``.

        ``classes`` (all the labels) is required on the first call, as in scikit-learn.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True, validation_data=validation_data)

    partial_fit = available_if(_solver_is_stochastic)(partial_fit)  # type: ignore[assignment]

    @_namespace_boundary
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, columns as ``classes_``."""
        out = self._outputs_for(X)
        if self.n_outputs_ == 1:
            p = out[:, 0]
            return np.vstack([1 - p, p]).T
        return out.copy()

    @_namespace_boundary
    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``, exactly as scikit-learn's (``-inf`` where a probability is 0).

        scikit-learn's estimator checks require exactly this.  The exact
        log-probabilities of saturated outputs come from the network:
        ``est.network_.output_activation.log(z, a)`` on ``est.network_.forward(X)``.
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    @_namespace_boundary
    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, shape ``(n_samples,)`` (multilabel: an indicator matrix)."""
        out = self._outputs_for(X)
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def _score(self, X: np.ndarray, y: np.ndarray, sample_weight: Any = None) -> float:
        out = self.network_.feedforward(X)
        if not np.isfinite(out).all():
            return np.nan
        pred = self._label_binarizer.inverse_transform(out.ravel() if out.shape[1] == 1 else out)
        return float(accuracy_score(y, pred, sample_weight=sample_weight))
