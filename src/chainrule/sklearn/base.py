"""The estimators' common base: parameters, fitting, prediction, the fitted attributes."""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from array_api_compat import array_namespace, device, is_array_api_obj
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network._multilayer_perceptron import BaseMultilayerPerceptron
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from sklearn import get_config

from ..backend import to_numpy
from ..functions import ACTIVATIONS, Activation, Cost
from ..network import Network
from ..training.config import TrainingConfig
from ..training.divergence import TrainingDiverged
from ..training.lbfgs import Objective, minimize, pack, unpack
from ..training.optimizers import SGD, Momentum, Optimizer
from ..training.trainer import Trainer
from .constraints import _SK_NAMES, _dropout_arg, _hidden_activations, _hidden_sizes
from .rules import _SklearnAdam, _SklearnRules, _Stepper

Array = npt.NDArray[np.floating]


class _HiddenActivationNames(set):  # type: ignore[type-arg]
    """The hidden activations' names, read from the registry when asked.

    scikit-learn's ``StrOptions`` keeps a set; this one answers from
    :data:`~chainrule.functions.ACTIVATIONS` (its elementwise activations) and
    scikit-learn's own names, so an activation registered later is accepted too.
    """

    def _names(self) -> set[str]:
        return {*ACTIVATIONS.names(lambda a: a.elementwise), *_SK_NAMES}

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Any:
        return iter(sorted(self._names()))

    def __len__(self) -> int:
        return len(self._names())


def _namespace_boundary(method: Callable[..., Any]) -> Callable[..., Any]:
    """Accept and return arrays of the input's namespace under array API dispatch.

    With ``sklearn.config_context(array_api_dispatch=True)`` an estimator meets
    array-api-strict arrays or PyTorch tensors: they are brought to the host for
    scikit-learn's validation and the estimator's NumPy bookkeeping, and the result
    (labels, probabilities, values) goes back to ``X``'s namespace and device.
    Without dispatch, or for NumPy/sparse/list input, nothing changes.
    """

    @functools.wraps(method)
    def wrapper(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        if (
            isinstance(X, np.ndarray)
            or not is_array_api_obj(X)
            or not get_config().get("array_api_dispatch", False)
        ):
            return method(self, X, *args, **kwargs)

        xp, where = array_namespace(X), device(X)
        args = tuple(_host(a) for a in args)
        kwargs = {k: _host(v) for k, v in kwargs.items()}
        out = method(self, to_numpy(X), *args, **kwargs)
        if isinstance(out, np.ndarray) and out.dtype.kind in "biuf":
            return xp.asarray(np.ascontiguousarray(out), device=where)
        return out

    return wrapper


def _host(value: Any) -> Any:
    """``value`` (an array, or a tuple of them such as ``validation_data``) on the host."""
    if isinstance(value, tuple):
        return tuple(_host(v) for v in value)
    return to_numpy(value)


#: chainrule's → scikit-learn's (for ``out_activation_``)
_OUT_NAMES = {"sigmoid": "logistic", "softmax": "softmax", "identity": "identity", "exp": "exp"}
_STOCHASTIC_SOLVERS = ("sgd", "adam")


# --------------------------------------------------------------------------- base


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: validation, fitting, the loop."""

    # The subclasses' __init__ store every parameter untouched (scikit-learn's rule).

    # ------------------------------------------------------------------ attributes

    @property
    def coefs_(self) -> list[Array]:
        """scikit-learn's layout: ``coefs_[i]`` of shape ``(n_in, n_out)``, ``W^{i+2}ᵀ``.

        Live views of ``network_.weights``; assign a list to replace them.  Before
        the first fit, an assigned list is kept as it is (and can be filled in
        afterwards, as scikit-learn's own tests do): ``partial_fit``, or ``fit``
        with ``warm_start=True``, then starts from these weights instead of
        drawing new ones.
        """
        if "network_" not in self.__dict__:
            if "_coefs_before_fit" in self.__dict__:
                return self.__dict__["_coefs_before_fit"]
            raise AttributeError("coefs_ exists once the estimator is fitted")
        return [W.T for W in self.network_.weights]

    @coefs_.setter
    def coefs_(self, coefs: Sequence[npt.ArrayLike]) -> None:
        if "network_" not in self.__dict__:
            self.__dict__["_coefs_before_fit"] = coefs  # the list itself: see the getter
            return
        net = self.network_
        if len(coefs) != len(net.weights):
            raise ValueError(f"coefs_ needs {len(net.weights)} arrays, got {len(coefs)}")
        for i, c in enumerate(coefs):
            c = np.asarray(c)
            want = net.weights[i].T.shape
            if c.shape != want:
                raise ValueError(f"coefs_[{i}] must have shape {want}, got {c.shape}")
            net.weights[i] = np.ascontiguousarray(c.T, dtype=net.dtype)

    @property
    def intercepts_(self) -> list[Array]:
        """``intercepts_[i]`` of shape ``(n_out,)``: ``b^{i+2}`` (the network's own arrays).

        Assignable before the first fit, as ``coefs_`` is.
        """
        if "network_" not in self.__dict__:
            if "_intercepts_before_fit" in self.__dict__:
                return self.__dict__["_intercepts_before_fit"]
            raise AttributeError("intercepts_ exists once the estimator is fitted")
        return list(self.network_.biases)

    @intercepts_.setter
    def intercepts_(self, intercepts: Sequence[npt.ArrayLike]) -> None:
        if "network_" not in self.__dict__:
            self.__dict__["_intercepts_before_fit"] = intercepts
            return
        net = self.network_
        if len(intercepts) != len(net.biases):
            raise ValueError(f"intercepts_ needs {len(net.biases)} arrays, got {len(intercepts)}")
        for i, b in enumerate(intercepts):
            b = np.asarray(b)
            if b.shape != net.biases[i].shape:
                raise ValueError(
                    f"intercepts_[{i}] must have shape {net.biases[i].shape}, got {b.shape}"
                )
            net.biases[i] = np.array(b, dtype=net.dtype)

    def __sklearn_is_fitted__(self) -> bool:
        return "network_" in self.__dict__

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------------ validation

    # scikit-learn's own constraints (its MLP's ``_parameter_constraints``), checked by
    # its own machinery (``_fit_context`` on fit and partial_fit): an invalid parameter
    # raises InvalidParameterError with scikit-learn's message.  Where chainrule accepts
    # more (activations, losses, a Generator as random_state, dropout), the constraint
    # says so; the finer checks of those extras follow in _check_params and when the
    # network is built.
    _parameter_constraints: ClassVar[dict] = {
        **BaseMultilayerPerceptron._parameter_constraints,
        # The hidden activations: the registry's elementwise ones and scikit-learn's names.
        "activation": [StrOptions(_HiddenActivationNames()), Activation, "array-like"],
        "random_state": ["random_state", np.random.Generator],
        "dropout": [None, Interval(Real, 0, 1, closed="left"), "array-like"],
    }

    def _check_params(self) -> None:
        """What the constraints cannot say: the sizes' values and the extras."""
        _hidden_sizes(self.hidden_layer_sizes)
        _dropout_arg(self.dropout)
        if self.solver == "lbfgs" and self.dropout is not None:
            raise ValueError(
                "dropout needs a stochastic solver ('sgd' or 'adam'); "
                "solver='lbfgs' evaluates the exact full-batch loss"
            )

    # ------------------------------------------------------------------ the network

    def _output(self, y: np.ndarray) -> tuple[Activation, Cost]:
        """The output activation and cost for targets ``y`` of shape (n, n_outputs)."""
        raise NotImplementedError

    def _build_network(
        self, n_features: int, y: np.ndarray, dtype: np.dtype, *, given: bool = False
    ) -> None:
        """A new network; ``given``: from the ``coefs_``/``intercepts_`` assigned before fit."""
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features, *hidden, self.n_outputs_]
        acts = _hidden_activations(self.activation, len(hidden))
        out_act, cost = self._output(y)
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(layer_units)
        self.out_activation_ = _OUT_NAMES.get(out_act.name, out_act.name)
        net = Network(
            layer_units,
            activation=acts,
            output_activation=out_act,
            cost=cost,
            seed=self._network_seed(),
            dtype=dtype,
        )
        # scikit-learn's initialisation, from the same random_state: Glorot's uniform
        # bound √(6/(fan_in+fan_out)) (√(2/…) for logistic units), weights then biases.
        for i in range(0 if given else self.n_layers_ - 1):
            # scikit-learn takes the factor from its (single) hidden activation for
            # every layer, the output layer included; with per-layer activations,
            # a layer's own (the last hidden one's for the output layer).
            act = acts[min(i, len(acts) - 1)] if acts else self.activation
            name = act.name if isinstance(act, Activation) else act
            factor = 2.0 if name in ("logistic", "sigmoid") else 6.0
            bound = np.sqrt(factor / (layer_units[i] + layer_units[i + 1]))
            coef = self._random_state.uniform(-bound, bound, (layer_units[i], layer_units[i + 1]))
            intercept = self._random_state.uniform(-bound, bound, layer_units[i + 1])
            net.weights[i] = np.ascontiguousarray(coef.astype(dtype).T)
            net.biases[i] = intercept.astype(dtype)
        if given:
            coefs = self.__dict__.pop("_coefs_before_fit", None)
            intercepts = self.__dict__.pop("_intercepts_before_fit", None)
            if coefs is None or intercepts is None:
                raise ValueError(
                    "coefs_ and intercepts_ must both be assigned before fit to "
                    "start from given weights; only "
                    f"{'coefs_' if intercepts is None else 'intercepts_'} was"
                )
        self.network_ = net
        if given:
            self.coefs_, self.intercepts_ = coefs, intercepts  # checks the shapes
        self.validation_loss_curve_: Any = None
        self._best_weights = self._snapshot()
        if self.solver in _STOCHASTIC_SOLVERS:
            self._init_stochastic_state()

    def _init_stochastic_state(self) -> None:
        # What scikit-learn keeps for its stochastic solvers only.
        self.loss_curve_: list[float] = []
        self._no_improvement_count = 0
        # scikit-learn's attributes: None or a value depending on early_stopping.
        if self.early_stopping:
            self.validation_scores_: Any = []
            self.best_validation_score_: Any = -np.inf
            self.best_loss_: Any = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self.validation_loss_curve_ = None
        self._best_weights = self._snapshot()

    def _network_seed(self) -> int | np.random.Generator | None:
        # The network's own generator only drives dropout (batches are cut here),
        # so it must not consume draws from the scikit-learn random_state that the
        # initialisation, the shuffling and the validation split share.
        if isinstance(self.random_state, numbers.Integral):
            return np.random.default_rng(int(self.random_state))
        if self.dropout is None:
            return 0
        return np.random.default_rng(self._random_state.randint(0, 2**31 - 1))

    def _snapshot(self) -> tuple[list[Array], list[Array]]:
        net = self.network_
        return [W.copy() for W in net.weights], [b.copy() for b in net.biases]

    def _new_optimizer(self) -> Optimizer:
        if self.solver == "adam":
            return _SklearnAdam(self.beta_1, self.beta_2, self.epsilon)
        if self.momentum > 0:
            return Momentum(self.momentum, nesterov=bool(self.nesterovs_momentum))
        return SGD()

    # ------------------------------------------------------------------ fitting

    def _validate_xy(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """Targets as the network's (n, n_outputs) matrix (classifier: binarized)."""
        raise NotImplementedError

    def _fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        incremental: bool,
        validation_data: Any = None,
    ) -> _BaseMLP:
        self._check_params()
        fitted = "network_" in self.__dict__
        # scikit-learn's rule, with "has coefs_" (fitted, or assigned before fit).
        has_coefs = fitted or "_coefs_before_fit" in self.__dict__
        first_pass = not has_coefs or (not self.warm_start and not incremental)
        X, y = self._validate_xy(X, y, incremental, reset=first_pass)
        if sp.issparse(X):
            X = X.toarray()
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        sample_weight = self._with_class_weight(y, sample_weight)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self._random_state = check_random_state(self._rs())
        if first_pass or not fitted:
            self._build_network(X.shape[1], Y, X.dtype, given=not first_pass)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs, but the estimator was fitted with {self.n_outputs_}"
            )
        if self.solver == "lbfgs":
            if validation_data is not None:
                raise ValueError(
                    "validation_data needs a stochastic solver ('sgd' or "
                    "'adam'); solver='lbfgs' does not score a validation set"
                )
            self._fit_lbfgs(X, Y, sample_weight)
        else:
            if "_no_improvement_count" not in self.__dict__:  # warm start after lbfgs
                self._init_stochastic_state()
            self._fit_stochastic(X, Y, sample_weight, incremental, validation_data)
        net = self.network_
        if not all(np.isfinite(p).all() for p in (*net.weights, *net.biases)):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data "
                "may contain large values and need to be preprocessed."
            )
        return self

    def _rs(self) -> Any:
        # None: NumPy's global RandomState, as scikit-learn (check_random_state) has it.
        if isinstance(self.random_state, np.random.Generator):
            return np.random.RandomState(self.random_state.integers(2**32))
        return self.random_state

    def _with_class_weight(
        self, y: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray | None:
        return sample_weight

    def _validation_set(self, validation_data: Any) -> tuple[Any, ...] | None:
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be (X_val, y_val) or (X_val, y_val, sample_weight_val)"
            )
        Xv, yv = validation_data[0], validation_data[1]
        Xv = validate_data(
            self, Xv, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32)
        )
        if sp.issparse(Xv):
            Xv = Xv.toarray()
        yv = self._validation_labels(yv, Xv.shape[0])
        swv = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            swv = _check_sample_weight(validation_data[2], Xv)
        return Xv, yv, swv

    def _validation_labels(self, y: Any, n: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def _learning_rate(self) -> float:
        """scikit-learn's current η (its schedule), given to each epoch of the Trainer.

        Kept on ``_optimizer`` (a :class:`~.rules._Stepper`), where scikit-learn keeps
        it: its own tests read ``_optimizer.learning_rate``.
        """
        return self._optimizer.learning_rate

    @_learning_rate.setter
    def _learning_rate(self, value: float) -> None:
        self._optimizer.learning_rate = float(value)

    def _fit_stochastic(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        sample_weight: np.ndarray | None,
        incremental: bool,
        validation_data: Any,
    ) -> None:
        net = self.network_
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = _Stepper(self._new_optimizer(), float(self.learning_rate_init))
        rules = _SklearnRules(float(self.alpha))
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        user_val = self._validation_set(validation_data)
        if user_val is not None:
            X_train, Y_train, sw_train = X, Y, sample_weight
            X_val, y_val, sw_val = user_val
        elif early_stopping:
            # scikit-learn's split, from the same random_state (stratified for a
            # single-output classifier).
            stratify = Y if (self._is_classifier() and self.n_outputs_ == 1) else None
            arrays = [X, Y] if sample_weight is None else [X, Y, sample_weight]
            parts = train_test_split(
                *arrays,
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X_train, X_val, Y_train, Y_val = parts[:4]
            sw_train, sw_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase "
                    "'validation_fraction' or the size of your dataset."
                )
            y_val = self._val_labels_from_targets(Y_val)
        else:
            X_train, Y_train, sw_train = X, Y, sample_weight
            X_val = y_val = sw_val = None
        Y_val_net = None
        if X_val is not None:
            if self.validation_scores_ is None:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
            if self.validation_loss_curve_ is None:
                self.validation_loss_curve_ = []
            Y_val_net = self._targets_for_loss(y_val)

        n = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. "
                    "It is going to be clipped",
                    stacklevel=3,
                )
            batch_size = int(np.clip(self.batch_size, 1, n))
        sample_idx = np.arange(n)
        # One Trainer for the whole fit, driven epoch by epoch: the inputs are checked
        # and the buffers built once.  Its batches are gen_batches's over the order
        # given (scikit-learn's shuffle), its step size scikit-learn's schedule.
        config = TrainingConfig(
            epochs=1 if incremental else self.max_iter,
            batch_size=batch_size,
            learning_rate=1.0,
            optimizer=self._optimizer.rule,
            shuffle=False,
            dropout=_dropout_arg(self.dropout),
        )
        trainer = Trainer(net, X_train, Y_train, config, sample_weight=sw_train, callbacks=[rules])
        with trainer:
            self._run_epochs(
                trainer,
                rules,
                n,
                sample_idx,
                early_stopping,
                incremental,
                X_val,
                y_val,
                Y_val_net,
                sw_val,
                sw_train,
            )
        if early_stopping:
            # Restore the best weights (scikit-learn's rule), in place.
            for dst, src in zip(
                net.weights + net.biases, self._best_weights[0] + self._best_weights[1], strict=True
            ):
                np.copyto(dst, src)

    def _run_epochs(
        self,
        trainer: Trainer,
        rules: _SklearnRules,
        n: int,
        sample_idx: np.ndarray,
        early_stopping: bool,
        incremental: bool,
        X_val: Any,
        y_val: Any,
        Y_val_net: Any,
        sw_val: Any,
        sw_train: np.ndarray | None,
    ) -> None:
        """scikit-learn's iterations: one Trainer epoch each, then its stopping rules."""
        net = self.network_
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            order = None
            if self.shuffle:
                # sklearn.utils.shuffle(sample_idx, random_state) draw for draw,
                # without its per-call parameter validation.
                perm = np.arange(n)
                self._random_state.shuffle(perm)
                sample_idx = order = sample_idx[perm]
            rules.begin_epoch(sw_train)  # the batches' rows index the training arrays
            trained = not net.interrupted
            if trained:
                try:
                    trained = (
                        trainer.run_epoch(order, learning_rate=self._learning_rate) is not None
                    )
                except TrainingDiverged:
                    # scikit-learn's MLP trains on through a diverging loss (NaN validation
                    # scores, its test_mlp_diverging_loss) and refuses non-finite weights
                    # only at the end of fit, with its own message; the epoch did run.
                    trained = True
            if net.interrupted or not trained:
                warnings.warn("Training interrupted by user.", stacklevel=4)
                break
            self.n_iter_ += 1
            self.loss_ = (rules.loss_sum * self._cost_scale() + rules.penalty_sum) / n
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if X_val is not None:
                self._record_validation(X_val, y_val, Y_val_net, sw_val)
            self._update_no_improvement_count(early_stopping)
            if self.learning_rate == "invscaling" and self.solver == "sgd":
                self._learning_rate = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early_stopping else "Training loss"
                msg = (
                    f"{what} did not improve more than tol={self.tol:f} for "
                    f"{self.n_iter_no_change} consecutive epochs."
                )
                if self._trigger_stopping(msg):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                    "reached and the optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=4,
                )

    def _cost_scale(self) -> float:
        """The factor from the network's mean cost to scikit-learn's reported loss.

        1, except for the built-in squared error with ``k`` outputs: scikit-learn
        reports ``½ · mean over samples and outputs``, ``1/k`` of the network's
        ``½ · mean over samples of ‖y − ŷ‖²``, whose gradient both train with.
        """
        if (
            not self._is_classifier()
            and isinstance(self.loss, str)
            and self.loss == "squared_error"
        ):
            return 1.0 / self.n_outputs_
        return 1.0

    def _lbfgs_objective(
        self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None
    ) -> Objective:
        """scikit-learn's L-BFGS objective: its loss and ``α/Σw``, chainrule's backprop."""
        net = self.network_
        n = X.shape[0]
        sw_sum = n if sample_weight is None else float(np.sum(sample_weight))
        if not sw_sum > 0:
            raise ValueError("solver='lbfgs' needs sample weights with a positive sum")
        return Objective(
            net,
            np.ascontiguousarray(X, dtype=net.dtype),
            np.ascontiguousarray(Y, dtype=net.dtype),
            sample_weight=sample_weight,
            l2_scale=float(self.alpha) / sw_sum,
            cost_scale=self._cost_scale(),
        )

    def _fit_lbfgs(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        """scikit-learn's ``_fit_lbfgs``: SciPy's L-BFGS-B, ``max_iter``, ``max_fun``, ``tol``.

        One ``minimize`` call from the current weights (``warm_start`` continues
        from them); ``n_iter_`` counts its iterations; a ``ConvergenceWarning``
        with scikit-learn's message when SciPy stops without converging.
        ``loss_curve_`` (beyond scikit-learn) holds the objective after every iteration.
        """
        net = self.network_
        objective = self._lbfgs_objective(X, Y, sample_weight)
        curve: list[float] = []

        def on_iteration(intermediate_result: Any) -> None:
            curve.append(float(intermediate_result.fun))
            if self.verbose:
                print(f"Iteration {len(curve)}, loss = {curve[-1]:.8f}")

        result = minimize(
            objective,
            pack(net),
            max_iter=self.max_iter,
            max_fun=self.max_fun,
            tol=self.tol,
            callback=on_iteration,
        )
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = float(result.fun)
        self.loss_curve_ = curve
        unpack(net, result.x)

    def _loss_grad_lbfgs(
        self,
        packed_coef_inter: np.ndarray,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *unused_buffers: Any,
    ) -> tuple[float, np.ndarray]:
        """scikit-learn's L-BFGS objective at ``packed_coef_inter``: ``(loss, gradient)``.

        As scikit-learn's private method of the same name (its tests call it), it
        first writes ``packed_coef_inter`` (``coefs_`` then ``intercepts_``,
        flattened) into the model.  ``y`` is the binarized target matrix; the
        trailing work buffers of scikit-learn's signature are accepted and unused.
        """
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return self._lbfgs_objective(X, Y, sample_weight)(packed_coef_inter)

    def _trigger_stopping(self, msg: str) -> bool:
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if self._learning_rate <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._learning_rate /= 5.0
        if self.verbose:
            print(msg + f" Setting learning rate to {self._learning_rate:f}")
        return False

    def _record_validation(
        self, X_val: np.ndarray, y_val: np.ndarray, Y_val_net: np.ndarray, sw_val: np.ndarray | None
    ) -> None:
        net = self.network_
        fwd = net.forward(X_val)
        costs = net.engine.per_example_cost(fwd, Y_val_net.astype(net.dtype, copy=False))
        val_loss = float(np.average(costs, weights=sw_val)) * self._cost_scale()
        self.validation_loss_curve_.append(val_loss)
        score = self._score(X_val, y_val, sample_weight=sw_val)
        self.validation_scores_.append(score)
        if self.verbose:
            print(f"Validation score: {score:f}")

    def _update_no_improvement_count(self, early_stopping: bool) -> None:
        if early_stopping:
            last = self.validation_scores_[-1]
            if last < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last > self.best_validation_score_:
                self.best_validation_score_ = last
                self._best_weights = self._snapshot()
        else:
            if self.validation_scores_ and self.validation_scores_[-1] > (
                self.best_validation_score_
            ):
                self.best_validation_score_ = self.validation_scores_[-1]
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _is_classifier(self) -> bool:
        return False

    def _val_labels_from_targets(self, Y_val: np.ndarray) -> np.ndarray:
        return Y_val

    def _targets_for_loss(self, y_val: np.ndarray) -> np.ndarray:
        return y_val

    # ------------------------------------------------------------------ prediction

    def _outputs_for(self, X: Any) -> Any:
        """The network's output ``a^L`` for ``X`` (in blocks of rows for big inputs)."""
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32)
        )
        if sp.issparse(X):
            X = X.toarray()
        return self.network_.feedforward(X)

    def _score(self, X: np.ndarray, y: np.ndarray, sample_weight: Any = None) -> float:
        """Score without input validation (scikit-learn's ``_score``)."""
        raise NotImplementedError

    @_fit_context(prefer_skip_nested_validation=True)
    @_namespace_boundary
    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, *, validation_data: Any = None
    ) -> _BaseMLP:
        """Fit the model to data matrix ``X`` and targets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Sparse input is densified.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier: also a multilabel indicator matrix) or
            regression targets.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights, with scikit-learn's per-batch semantics.
        validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            A validation set of your own (beyond scikit-learn).  It is scored
            after every iteration into ``validation_scores_`` and
            ``validation_loss_curve_``; with ``early_stopping=True`` it replaces
            the ``validation_fraction`` split.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data)


def _solver_is_stochastic(est: _BaseMLP) -> bool:
    if est.solver not in _STOCHASTIC_SOLVERS:
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. "
            f"{est.solver} is not stochastic."
        )
    return True
