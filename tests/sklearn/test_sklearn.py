"""chainrule.sklearn: equivalence with scikit-learn's MLP, scikit-learn#8349, and the extras."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler, scale
from sklearn.utils._param_validation import InvalidParameterError

import chainrule
from chainrule.sklearn import MLPClassifier, MLPRegressor
from chainrule.tensors import compare_with_backprop

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n: int = 53, d: int = 4, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    score = X @ rng.normal(size=(d, classes)) + 0.3 * rng.normal(size=(n, classes))
    return X, score.argmax(axis=1)


def _regression(n: int = 41, d: int = 3, k: int = 3, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = np.tanh(X @ rng.normal(size=(d, k))) + 0.1 * rng.normal(size=(n, k))
    return X, Y


def _same_params(ours, theirs, atol: float) -> None:
    for a, b in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("classes", [2, 3])
def test_predict_proba_equals_sklearn_with_copied_weights(classes):
    X, y = _data(classes=classes)
    sk = SkClassifier(
        hidden_layer_sizes=(7, 5), activation="tanh", max_iter=30, random_state=3
    ).fit(X, y)
    ours = MLPClassifier(
        hidden_layer_sizes=(7, 5), activation="tanh", max_iter=1, random_state=99
    ).fit(X, y)
    # scikit-learn's coefs_[i] is (n_in, n_out): the transpose of chainrule's W^l.
    ours.coefs_ = sk.coefs_
    ours.intercepts_ = sk.intercepts_
    assert ours.network_.weights[0].shape == (7, X.shape[1])
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    np.testing.assert_allclose(ours.predict_log_proba(X), sk.predict_log_proba(X), atol=1e-10)


@pytest.mark.parametrize("classes", [2, 3])
def test_one_epoch_of_plain_sgd_equals_sklearn(classes):
    X, y = _data(n=53, classes=classes)
    kw = dict(
        hidden_layer_sizes=(6,),
        activation="logistic",
        solver="sgd",
        momentum=0.0,
        nesterovs_momentum=False,
        shuffle=False,
        alpha=0.0,
        learning_rate="constant",
        learning_rate_init=0.5,
        batch_size=16,
    )  # 53 rows: batches 16, 16, 16, 5
    sk = SkClassifier(**kw, random_state=0).partial_fit(X, y, classes=np.unique(y))
    ours = MLPClassifier(**kw, random_state=7).partial_fit(X, y, classes=np.unique(y))
    # The same initial weights in both, then one epoch each.
    rng = np.random.default_rng(5)
    init_c = [rng.uniform(-0.5, 0.5, c.shape) for c in sk.coefs_]
    init_i = [rng.uniform(-0.5, 0.5, b.shape) for b in sk.intercepts_]
    sk.coefs_, sk.intercepts_ = [c.copy() for c in init_c], [b.copy() for b in init_i]
    ours.coefs_, ours.intercepts_ = init_c, init_i
    sk.partial_fit(X, y)
    ours.partial_fit(X, y)
    moved = max(np.abs(c - c0).max() for c, c0 in zip(ours.coefs_, init_c, strict=True))
    assert moved > 1e-3  # the epoch did train
    _same_params(ours, sk, atol=1e-10)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-10)


@pytest.mark.parametrize("hidden", [(), (4, 3)])
@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_same_random_state_same_initial_weights(hidden, activation):
    X, y = _data(n=30, classes=2)
    kw = dict(
        hidden_layer_sizes=hidden,
        activation=activation,
        random_state=11,
        solver="sgd",
        learning_rate_init=1e-300,
        momentum=0.0,
    )  # a no-op step
    sk = SkClassifier(**kw).partial_fit(X, y, classes=[0, 1])
    ours = MLPClassifier(**kw).partial_fit(X, y, classes=[0, 1])
    _same_params(ours, sk, atol=0)


def test_coefs_are_live_views_of_the_network():
    X, y = _data()
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    before = est.predict_proba(X)
    est.coefs_[1][:] = 0.0  # scikit-learn layout (4, 3), written through to W^3 (3, 4)
    assert not est.network_.weights[1].any()
    after = est.predict_proba(X)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, np.broadcast_to(after[0], after.shape))
    # The network is a plain chainrule.Network: gradients check out.
    Y = np.eye(3)[y]
    assert chainrule.gradcheck(est.network_, X[:6], Y[:6]).passed
    with pytest.raises(ValueError, match=r"coefs_\[0\] must have shape \(4, 4\)"):
        est.coefs_ = [np.zeros((4, 3)), np.zeros((4, 3))]


@pytest.mark.parametrize(
    "solver,extra",
    [
        ("adam", {}),
        (
            "sgd",
            {
                "momentum": 0.9,
                "nesterovs_momentum": True,
                "learning_rate": "invscaling",
                "learning_rate_init": 0.5,
            },
        ),
        (
            "sgd",
            {
                "momentum": 0.5,
                "nesterovs_momentum": False,
                "learning_rate": "adaptive",
                "learning_rate_init": 0.2,
                "n_iter_no_change": 2,
                "tol": 1e-2,
            },
        ),
    ],
)
def test_whole_fit_equals_sklearn(solver, extra):
    """Same random_state → same init, shuffling, alpha term, updates and schedule."""
    X, y = _data(n=70, classes=3)
    sw = np.linspace(0.5, 2.0, len(y))
    kw = dict(
        hidden_layer_sizes=(8,),
        solver=solver,
        batch_size=32,
        alpha=0.01,
        max_iter=12,
        random_state=4,
        **extra,
    )
    sk = SkClassifier(**kw).fit(X, y, sample_weight=sw)
    ours = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-9)
    _same_params(ours, sk, atol=1e-9)


def test_early_stopping_equals_sklearn():
    X, y = _data(n=90, classes=2)
    kw = dict(
        hidden_layer_sizes=(5,),
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        max_iter=40,
        learning_rate_init=0.01,
        random_state=2,
    )
    sk = SkClassifier(**kw).fit(X, y)
    ours = MLPClassifier(**kw).fit(X, y)
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(ours.validation_scores_, sk.validation_scores_)
    assert ours.best_validation_score_ == sk.best_validation_score_
    assert len(ours.validation_loss_curve_) == ours.n_iter_
    _same_params(ours, sk, atol=1e-9)  # both restored their best weights


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_training_equals_sklearn(loss):
    X, Y = _regression(k=1)
    y = Y.ravel() + (2.0 if loss == "poisson" else 0.0)
    kw = dict(
        hidden_layer_sizes=(6,),
        loss=loss,
        max_iter=15,
        batch_size=16,
        random_state=0,
        learning_rate_init=0.01,
    )
    sk = SkRegressor(**kw).fit(X, y)
    ours = MLPRegressor(**kw).fit(X, y)
    _same_params(ours, sk, atol=1e-9)
    # One output: scikit-learn's reported loss is ours.
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), atol=1e-9)


# --------------------------------------------------------------------------- multi-output loss


def _multi_output():
    """scikit-learn's own multi-output example (test_multioutput_regression), y scaled."""
    X, Y = make_regression(n_samples=200, n_targets=5, random_state=11)
    return X, scale(Y)


@pytest.mark.slow
@pytest.mark.parametrize("early_stopping", [False, True])
def test_multi_output_defaults_stop_where_sklearn_stops(early_stopping):
    X, Y = _multi_output()
    kw = dict(random_state=0, early_stopping=early_stopping)  # otherwise the defaults
    sk = SkRegressor(**kw).fit(X, Y)
    ours = MLPRegressor(**kw).fit(X, Y)
    assert sk.n_iter_ < sk.max_iter  # stopped by tol / n_iter_no_change, not by max_iter
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-9)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-9)
    if early_stopping:
        assert ours.best_loss_ is None and sk.best_loss_ is None
        np.testing.assert_allclose(
            ours.validation_scores_, sk.validation_scores_, rtol=0, atol=1e-9
        )
        assert ours.best_validation_score_ == pytest.approx(sk.best_validation_score_, abs=1e-9)
    else:
        assert ours.best_loss_ == pytest.approx(sk.best_loss_, rel=1e-9)
    _same_params(ours, sk, atol=1e-9)


def test_multi_output_loss_is_sklearns_and_the_gradient_the_networks():
    """scikit-learn#8349: loss_ is ½·mean over outputs; the gradient, as scikit-learn's, k× its.

    The network's cost is ½‖y − ŷ‖² per example (what backprop differentiates,
    checked by gradcheck); the estimator reports it divided by k, as scikit-learn does.
    """
    X, Y = _regression(k=3)
    n, k = Y.shape
    kw = dict(
        hidden_layer_sizes=(5,),
        activation="tanh",
        solver="sgd",
        momentum=0.0,
        shuffle=False,
        alpha=0.0,
        batch_size=n,
        learning_rate_init=0.05,
        random_state=0,
    )
    est = MLPRegressor(**kw).partial_fit(X, Y)
    net = est.network_

    def sklearn_loss() -> float:  # scikit-learn's squared_loss
        return float(0.5 * np.mean((Y - est.predict(X)) ** 2))

    assert net.loss(X, Y) == pytest.approx(k * sklearn_loss(), rel=1e-12)
    assert chainrule.gradcheck(net, X, Y, tolerance=1e-6).passed

    # loss_ after a full-batch SGD step is scikit-learn's loss at the weights the step
    # started from, and the step is −η × k × its central differences.
    before = sklearn_loss()
    W0 = net.weights[1].copy()
    numeric = np.zeros_like(W0)
    for idx in np.ndindex(W0.shape):
        for sign in (1, -1):
            net.weights[1][idx] = W0[idx] + sign * 1e-6
            numeric[idx] += sign * sklearn_loss() / 2e-6
        net.weights[1][idx] = W0[idx]
    est.partial_fit(X, Y)
    assert est.loss_ == pytest.approx(before, rel=1e-12)
    np.testing.assert_allclose(net.weights[1] - W0, -0.05 * k * numeric, rtol=1e-6, atol=1e-12)

    # And scikit-learn, from the same weights, takes the same step and reports the same loss.
    sk = SkRegressor(**kw).partial_fit(X, Y)
    sk.coefs_ = [c.copy() for c in est.coefs_]
    sk.intercepts_ = [b.copy() for b in est.intercepts_]
    est.partial_fit(X, Y)
    sk.partial_fit(X, Y)
    _same_params(est, sk, atol=1e-12)
    assert est.loss_ == pytest.approx(sk.loss_, rel=1e-12)


# --------------------------------------------------------------------------- L-BFGS


def _lbfgs_cases():
    Xd, yd = load_digits(n_class=3, return_X_y=True)
    Xd = MinMaxScaler().fit_transform(Xd[:120])
    yd = yd[:120]
    Xr, Yr = _multi_output()
    return {
        "multiclass": (Xd, yd, MLPClassifier, SkClassifier),
        "binary": (Xd, yd == 1, MLPClassifier, SkClassifier),
        "multi-output": (Xr, Yr, MLPRegressor, SkRegressor),
        "one output": (Xr, Yr[:, 0], MLPRegressor, SkRegressor),
    }


@pytest.mark.parametrize("case", ["multiclass", "binary", "multi-output", "one output"])
@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_equals_sklearn(case, weighted):
    """The same L-BFGS-B run: iterations, loss, weights (scikit-learn's loss/gradient pair)."""
    X, y, Ours, Theirs = _lbfgs_cases()[case]
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    kw = dict(solver="lbfgs", hidden_layer_sizes=(12,), alpha=0.01, max_iter=25, random_state=0)
    sk = Theirs(**kw).fit(X, y, sample_weight=sw)
    ours = Ours(**kw).fit(X, y, sample_weight=sw)
    assert ours.n_iter_ == sk.n_iter_
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-9)
    _same_params(ours, sk, atol=1e-8)
    assert len(ours.loss_curve_) == ours.n_iter_
    assert ours.loss_curve_[-1] == ours.loss_
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), atol=1e-7)


def test_lbfgs_warnings_limits_and_warm_start():
    X, y, _, _ = _lbfgs_cases()["multiclass"]
    kw = dict(solver="lbfgs", hidden_layer_sizes=(8,), random_state=0)
    for limits in (dict(max_iter=3), dict(max_fun=4)):
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            sk = SkClassifier(**kw, **limits).fit(X, y)
        with warnings.catch_warnings(record=True) as ours_w:
            warnings.simplefilter("always")
            ours = MLPClassifier(**kw, **limits).fit(X, y)
        assert [str(w.message) for w in ours_w] == [str(w.message) for w in theirs]
        assert all(w.category is ConvergenceWarning for w in ours_w) and ours_w
        assert ours.n_iter_ == sk.n_iter_
    # Converged: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPClassifier(solver="lbfgs", hidden_layer_sizes=(8,), tol=1e-2, random_state=0).fit(X, y)
    # warm_start continues from the current weights, n_iter_ counts this call.
    est = MLPClassifier(**kw, max_iter=5, warm_start=True).fit(X, y)
    first = est.loss_
    est.fit(X, y)
    assert est.n_iter_ == 5 and est.loss_ < first
    assert not hasattr(est, "best_loss_") and not hasattr(est, "validation_scores_")
    # switching to a stochastic solver keeps the weights and starts its bookkeeping
    est.set_params(solver="sgd", max_iter=2).fit(X, y)
    assert len(est.loss_curve_) == 2 and est.best_loss_ < np.inf


def test_lbfgs_gradient_is_backprop():
    """scikit-learn's ``_loss_grad_lbfgs`` signature, chainrule's backprop underneath."""
    X, y = _data(n=20, classes=3)
    est = MLPClassifier(
        solver="lbfgs", hidden_layer_sizes=(4,), alpha=0.3, max_iter=2, random_state=0
    ).fit(X, y)
    Y = np.eye(3)[y]
    theta = np.hstack([a.ravel() for a in est.coefs_ + est.intercepts_])
    loss, grad = est._loss_grad_lbfgs(theta, X, Y, None, [], [], [], [])
    gw, gb = est.network_.backprop(X, Y)
    penalty = [0.3 / 20 * W for W in est.network_.weights]
    expected = np.hstack(
        [(g + p).T.ravel() for g, p in zip(gw, penalty, strict=True)] + [g.ravel() for g in gb]
    )
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)
    numeric = np.array(
        [
            (est._loss_grad_lbfgs(theta + e, X, Y)[0] - est._loss_grad_lbfgs(theta - e, X, Y)[0])
            / 2e-6
            for e in np.eye(theta.size) * 1e-6
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    sk = SkClassifier(
        solver="lbfgs", hidden_layer_sizes=(4,), alpha=0.3, max_iter=2, random_state=0
    ).fit(X, y)
    # scikit-learn's method needs its work buffers; ours ignores them.
    acts = [X] + [np.empty((20, u)) for u in (4, 3)]
    deltas = [np.empty((20, u)) for u in (4, 3)]
    cg = [np.empty(c.shape) for c in sk.coefs_]
    ig = [np.empty(b.shape) for b in sk.intercepts_]
    sk_loss, sk_grad = sk._loss_grad_lbfgs(theta, X, Y, None, acts, deltas, cg, ig)
    assert loss == pytest.approx(sk_loss, rel=1e-12)
    np.testing.assert_allclose(grad, sk_grad, rtol=1e-10, atol=1e-14)


def test_lbfgs_refuses_what_it_cannot_do():
    X, y = _data()
    with pytest.raises(ValueError, match="dropout needs a stochastic solver"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    with pytest.raises(ValueError, match="validation_data needs a stochastic solver"):
        MLPClassifier(solver="lbfgs").fit(X, y, validation_data=(X, y))


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "Ours,Theirs", [(MLPClassifier, SkClassifier), (MLPRegressor, SkRegressor)]
)
@pytest.mark.parametrize(
    "params",
    [
        {"solver": "newton"},
        {"alpha": -1.0},
        {"batch_size": 0},
        {"batch_size": "big"},
        {"learning_rate": "cyclic"},
        {"learning_rate_init": 0.0},
        {"power_t": -0.5},
        {"max_iter": 0},
        {"max_iter": 2.5},
        {"shuffle": "yes"},
        {"verbose": "loud"},
        {"tol": -1e-3},
        {"warm_start": 1.5},
        {"momentum": 1.5},
        {"momentum": -0.1},
        {"nesterovs_momentum": None},
        {"early_stopping": "no"},
        {"validation_fraction": 1.0},
        {"beta_1": 1.0},
        {"beta_2": -0.1},
        {"epsilon": 0.0},
        {"n_iter_no_change": 0},
        {"n_iter_no_change": 2.5},
        {"max_fun": 0},
        {"hidden_layer_sizes": "wide"},
    ],
)
def test_invalid_parameters_raise_sklearns_error(Ours, Theirs, params):
    X, y = _data(n=20, classes=2)
    with pytest.raises(InvalidParameterError) as theirs:
        Theirs(**params).fit(X, y)
    with pytest.raises(InvalidParameterError) as ours:
        Ours(**params).fit(X, y)
    assert str(ours.value) == str(theirs.value)


def test_momentum_one_is_accepted_as_in_sklearn():
    X, y = _data(n=40, classes=2)
    kw = dict(
        solver="sgd",
        momentum=1.0,
        hidden_layer_sizes=(4,),
        max_iter=5,
        learning_rate_init=0.01,
        random_state=0,
    )
    sk = SkClassifier(**kw).fit(X, y)
    ours = MLPClassifier(**kw).fit(X, y)
    _same_params(ours, sk, atol=1e-10)


def test_random_state_none_draws_from_numpys_global_state():
    X, y = _data(n=40, classes=2)
    kw = dict(hidden_layer_sizes=(4,), max_iter=3)
    saved = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(17)  # noqa: NPY002 (the global state is what is tested)
        sk = SkClassifier(**kw).fit(X, y)
        np.random.seed(17)  # noqa: NPY002
        ours = MLPClassifier(**kw).fit(X, y)
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    _same_params(ours, sk, atol=1e-10)
    assert not np.allclose(MLPClassifier(**kw).fit(X, y).coefs_[0], ours.coefs_[0])


def test_coefs_assigned_before_fit_are_the_starting_weights():
    X, y = _data(n=30, classes=2)
    rng = np.random.default_rng(3)
    coefs = [rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (3, 1))]
    intercepts = [rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 1)]
    kw = dict(solver="sgd", hidden_layer_sizes=(3,), momentum=0.0, random_state=0)
    sk, ours = SkClassifier(**kw), MLPClassifier(**kw)
    for est in (sk, ours):
        # scikit-learn's own test assigns placeholder lists, then fills them in.
        est.coefs_, est.intercepts_ = [0, 0], [0, 0]
        for i in range(2):
            est.coefs_[i], est.intercepts_[i] = coefs[i].copy(), intercepts[i].copy()
        # (scikit-learn's partial_fit also needs the bookkeeping its fit would set up)
        est.n_layers_, est.n_outputs_, est.out_activation_ = 3, 1, "logistic"
        est.n_iter_, est.t_, est.best_loss_, est.loss_curve_ = 0, 0, np.inf, []
        est._no_improvement_count = 0
        est.partial_fit(X, y, classes=[0, 1])
    _same_params(ours, sk, atol=1e-12)
    # warm_start fit starts from them too; a plain fit draws its own.
    for warm in (True, False):
        est = MLPClassifier(
            hidden_layer_sizes=(3,),
            max_iter=1,
            warm_start=warm,
            solver="sgd",
            learning_rate_init=1e-300,
            random_state=0,
        )
        est.coefs_, est.intercepts_ = [c.copy() for c in coefs], [b.copy() for b in intercepts]
        est.fit(X, y)
        assert np.allclose(est.coefs_[0], coefs[0]) == warm
    est = MLPClassifier(hidden_layer_sizes=(3,), warm_start=True)
    est.coefs_ = coefs
    with pytest.raises(ValueError, match="coefs_ and intercepts_ must both be assigned"):
        est.fit(X, y)
    est = MLPClassifier(hidden_layer_sizes=(5,), warm_start=True)
    est.coefs_, est.intercepts_ = coefs, intercepts
    with pytest.raises(ValueError, match=r"coefs_\[0\] must have shape \(4, 5\)"):
        est.fit(X, y)


def test_regressor_takes_loss_first_as_sklearn_does():
    assert MLPRegressor("poisson", (7,)).get_params()["hidden_layer_sizes"] == (7,)
    assert SkRegressor("poisson", (7,)).get_params() == {
        k: v for k, v in MLPRegressor("poisson", (7,)).get_params().items() if k != "dropout"
    }


# --------------------------------------------------------------------------- beyond scikit-learn


def test_per_layer_and_custom_activations_and_custom_loss():
    X, Y = _regression(k=2)
    softplus = (lambda z: np.logaddexp(0, z), lambda z: 1 / (1 + np.exp(-z)))
    est = MLPRegressor(
        hidden_layer_sizes=(6, 4), activation=["tanh", softplus], max_iter=20, random_state=0
    ).fit(X, Y)
    names = [a.name for a in est.network_.activations]
    assert names == ["tanh", "<lambda>", "identity"]
    assert chainrule.gradcheck(est.network_, X[:5], Y[:5]).passed
    # The seed's explicit derivation (chainrule.tensors) runs on the same network.
    trace = chainrule.explain_trace(est.network_, X[0], Y[0])
    assert compare_with_backprop(est.network_, X[0], Y[0], trace=trace).passed

    # A custom loss given as (function, derivative) trains exactly like the built-in one.
    half_sq = (lambda a, y: 0.5 * (a - y) ** 2, lambda a, y: a - y)
    kw = dict(hidden_layer_sizes=(5,), max_iter=10, random_state=0, alpha=0.0)
    custom = MLPRegressor(loss=half_sq, **kw).fit(X, Y)
    builtin = MLPRegressor(**kw).fit(X, Y)
    # The same training; a custom loss is reported as the network's cost, the built-in
    # squared error as scikit-learn reports it (divided by the number of outputs).
    np.testing.assert_allclose(
        custom.loss_curve_, Y.shape[1] * np.array(builtin.loss_curve_), rtol=1e-12
    )
    np.testing.assert_allclose(custom.predict(X), builtin.predict(X), atol=1e-12)

    bad = MLPRegressor(loss=(half_sq[0], lambda a, y: (a - y)[:, 0]), **kw)
    with pytest.raises(ValueError, match=r"derivative has shape \(41,\), expected \(41, 2\)"):
        bad.fit(X, Y)
    with pytest.raises(ValueError, match="one per hidden layer: expected 2"):
        MLPRegressor(hidden_layer_sizes=(6, 4), activation=["tanh"]).fit(X, Y)
    with pytest.raises(ValueError, match="'activation' parameter of MLPRegressor must be"):
        MLPRegressor(activation="swish").fit(X, Y)


def test_dropout_is_seeded_and_changes_training():
    X, y = _data()
    kw = dict(hidden_layer_sizes=(20,), max_iter=5, random_state=0)
    a = MLPClassifier(dropout=0.5, **kw).fit(X, y)
    b = MLPClassifier(dropout=0.5, **kw).fit(X, y)
    plain = MLPClassifier(**kw).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.allclose(a.coefs_[0], plain.coefs_[0])
    # Dropout is off at prediction time: predictions are deterministic.
    np.testing.assert_array_equal(a.predict_proba(X), a.predict_proba(X))


def test_class_weight_is_sample_weight():
    X, y = _data(classes=3)
    kw = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    a = MLPClassifier(class_weight=weights, **kw).fit(X, y)
    b = MLPClassifier(**kw).fit(X, y, sample_weight=np.vectorize(weights.get)(y))
    c = MLPClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], atol=1e-12)
    assert not np.allclose(a.coefs_[0], c.coefs_[0])
    balanced = MLPClassifier(class_weight="balanced", **kw).fit(X, y)
    assert balanced.n_iter_ == 5


def test_multilabel_targets():
    X, y = _data(classes=3)
    Y = np.column_stack([y == 0, y != 1, X[:, 0] > 0]).astype(int)
    est = MLPClassifier(
        hidden_layer_sizes=(10,), max_iter=150, learning_rate_init=0.02, random_state=0
    ).fit(X, Y)
    assert est.out_activation_ == "logistic"
    assert est.network_.cost.name == "cross_entropy"
    assert est.predict(X).shape == Y.shape
    proba = est.predict_proba(X)
    assert proba.shape == Y.shape and np.all((proba > 0) & (proba < 1))
    assert est.score(X, Y) > 0.6  # subset accuracy: all three labels right


def test_user_validation_set():
    X, y = _data(n=80)
    Xv, yv = _data(n=30, seed=9)
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=7, random_state=0)
    est.fit(X, y, validation_data=(Xv, yv))
    assert len(est.validation_loss_curve_) == len(est.validation_scores_) == est.n_iter_ == 7
    assert est.validation_scores_[-1] == pytest.approx(est.score(Xv, yv))
    assert est.validation_loss_curve_[-1] == pytest.approx(est.network_.loss(Xv, yv))
    assert est.best_validation_score_ == max(est.validation_scores_)
    # With early stopping the given set replaces the validation_fraction split.
    es = MLPClassifier(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        max_iter=300,
        n_iter_no_change=2,
        random_state=0,
    ).fit(X, y, validation_data=(Xv, yv))
    assert es.n_iter_ < 300
    assert es.best_validation_score_ == max(es.validation_scores_)
    with pytest.raises(ValueError, match="classes not seen"):
        est.fit(X, y, validation_data=(Xv, yv + 5))


def test_regressor_validation_set_and_network_history():
    X, Y = _regression(k=2)
    Xv, Yv = _regression(n=15, k=2, seed=4)
    est = MLPRegressor(
        hidden_layer_sizes=(6,), max_iter=6, learning_rate_init=0.01, random_state=0
    ).fit(X, Y, validation_data=(Xv, Yv))
    assert est.validation_scores_[-1] == pytest.approx(est.score(Xv, Yv))
    assert est.validation_loss_curve_[-1] == pytest.approx(  # scikit-learn's loss_ scale
        0.5 * np.mean((Yv - est.predict(Xv)) ** 2)
    )
    # Every iteration is one epoch of the network's own history (with gradient norms).
    assert len(est.network_.history) == est.n_iter_ == 6
    with pytest.raises(ValueError, match=r"y_val must have shape \(15, 2\)"):
        est.fit(X, Y, validation_data=(Xv, Yv[:, 0]))


def test_float32_is_preserved():
    X, y = _data()
    X32 = X.astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X32, y)
    assert clf.network_.dtype == np.float32
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X32).dtype == np.float32
    X64 = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    assert X64.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(clf.coefs_[0], X64.coefs_[0], atol=1e-4)


def test_pickle_round_trip_and_warm_start():
    X, y = _data()
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.predict_proba(X), est.predict_proba(X))
    # The copy carries on training like the original.
    est.set_params(warm_start=True).fit(X, y)
    clone.set_params(warm_start=True).fit(X, y)
    np.testing.assert_array_equal(clone.coefs_[0], est.coefs_[0])
    assert len(est.loss_curve_) == 10


@pytest.mark.slow
def test_pipeline_grid_search_and_cross_validation():
    X, y = _data(n=60)
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(6,), max_iter=300, learning_rate_init=0.01, random_state=0
        ),
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.75
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1]}, cv=2, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_params_["mlpclassifier__alpha"] in (1e-4, 1e-1)
    assert grid.score(X, y) > 0.75


def test_validation_messages():
    X, y = _data()
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be > 0, got \[3, 0\]"):
        MLPClassifier(hidden_layer_sizes=(3, 0)).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be positive integers"):
        MLPClassifier(hidden_layer_sizes=(3, 2.5)).fit(X, y)
    # chainrule's extras are named in scikit-learn's message format.
    with pytest.raises(InvalidParameterError, match=r"or an instance of 'numpy\.random"):
        MLPClassifier(random_state="seed").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'leaky_relu'"):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'dropout' parameter"):
        MLPClassifier(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="dropout must be a number"):
        MLPClassifier(dropout=[1.0]).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.unique(y))
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="sgd"), "partial_fit")
