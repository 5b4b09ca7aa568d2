"""chainrule.sklearn: equivalence with scikit-learn's MLP, scikit-learn#8349, and the extras."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_,
                    strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("classes", [2, 3])
def test_predict_proba_equals_sklearn_with_copied_weights(classes):
    X, y = _data(classes=classes)
    sk = SkClassifier(hidden_layer_sizes=(7, 5), activation="tanh", max_iter=30,
                      random_state=3).fit(X, y)
    ours = MLPClassifier(hidden_layer_sizes=(7, 5), activation="tanh", max_iter=1,
                         random_state=99).fit(X, y)
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
    kw = dict(hidden_layer_sizes=(6,), activation="logistic", solver="sgd", momentum=0.0,
              nesterovs_momentum=False, shuffle=False, alpha=0.0, learning_rate="constant",
              learning_rate_init=0.5, batch_size=16)  # 53 rows: batches 16, 16, 16, 5
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
    kw = dict(hidden_layer_sizes=hidden, activation=activation, random_state=11,
              solver="sgd", learning_rate_init=1e-300, momentum=0.0)  # a no-op step
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


@pytest.mark.parametrize("solver,extra", [
    ("adam", {}),
    ("sgd", {"momentum": 0.9, "nesterovs_momentum": True, "learning_rate": "invscaling",
             "learning_rate_init": 0.5}),
    ("sgd", {"momentum": 0.5, "nesterovs_momentum": False, "learning_rate": "adaptive",
             "learning_rate_init": 0.2, "n_iter_no_change": 2, "tol": 1e-2}),
])
def test_whole_fit_equals_sklearn(solver, extra):
    """Same random_state → same init, shuffling, alpha term, updates and schedule."""
    X, y = _data(n=70, classes=3)
    sw = np.linspace(0.5, 2.0, len(y))
    kw = dict(hidden_layer_sizes=(8,), solver=solver, batch_size=32, alpha=0.01,
              max_iter=12, random_state=4, **extra)
    sk = SkClassifier(**kw).fit(X, y, sample_weight=sw)
    ours = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-9)
    _same_params(ours, sk, atol=1e-9)


def test_early_stopping_equals_sklearn():
    X, y = _data(n=90, classes=2)
    kw = dict(hidden_layer_sizes=(5,), early_stopping=True, validation_fraction=0.2,
              n_iter_no_change=3, max_iter=40, learning_rate_init=0.01, random_state=2)
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
    kw = dict(hidden_layer_sizes=(6,), loss=loss, max_iter=15, batch_size=16,
              random_state=0, learning_rate_init=0.01)
    sk = SkRegressor(**kw).fit(X, y)
    ours = MLPRegressor(**kw).fit(X, y)
    _same_params(ours, sk, atol=1e-9)
    # One output: scikit-learn's reported loss is ours.
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), atol=1e-9)


# --------------------------------------------------------------------------- scikit-learn#8349


def test_multi_output_gradient_is_that_of_the_reported_loss():
    """scikit-learn#8349: its MLPRegressor's gradient is k× that of the loss it reports."""
    X, Y = _regression(k=3)
    n, k = Y.shape
    kw = dict(hidden_layer_sizes=(5,), activation="tanh", solver="sgd", momentum=0.0,
              shuffle=False, alpha=0.0, batch_size=n, learning_rate_init=0.05, random_state=0)
    est = MLPRegressor(**kw).partial_fit(X, Y)
    net = est.network_

    def reported_loss() -> float:  # the definition the docs give for loss_
        return float(0.5 * np.mean(np.sum((Y - est.predict(X)) ** 2, axis=1)))

    # (1) the network's loss is the reported loss, and backprop is its gradient.
    assert net.loss(X, Y) == pytest.approx(reported_loss(), rel=1e-12)
    assert chainrule.gradcheck(net, X, Y, tolerance=1e-6).passed

    # (2) loss_ after a full-batch SGD step is the reported loss at the weights the
    # step started from, and the step is −η × central differences of that loss.
    before = reported_loss()
    W0 = net.weights[1].copy()
    numeric = np.zeros_like(W0)
    for idx in np.ndindex(W0.shape):
        for sign in (1, -1):
            net.weights[1][idx] = W0[idx] + sign * 1e-6
            numeric[idx] += sign * reported_loss() / 2e-6
        net.weights[1][idx] = W0[idx]
    est.partial_fit(X, Y)
    assert est.loss_ == pytest.approx(before, rel=1e-12)
    np.testing.assert_allclose(net.weights[1] - W0, -0.05 * numeric, rtol=1e-6, atol=1e-12)

    # scikit-learn trains identically but reports loss_ / k.
    sk = SkRegressor(**kw).partial_fit(X, Y)
    sk.coefs_ = [c.copy() for c in est.coefs_]
    sk.intercepts_ = [b.copy() for b in est.intercepts_]
    at = est.network_.loss(X, Y)
    est.partial_fit(X, Y)
    sk.partial_fit(X, Y)
    _same_params(est, sk, atol=1e-12)
    assert est.loss_ == pytest.approx(at, rel=1e-12)
    assert sk.loss_ == pytest.approx(at / k, rel=1e-12)


# --------------------------------------------------------------------------- beyond scikit-learn


def test_per_layer_and_custom_activations_and_custom_loss():
    X, Y = _regression(k=2)
    softplus = (lambda z: np.logaddexp(0, z), lambda z: 1 / (1 + np.exp(-z)))
    est = MLPRegressor(hidden_layer_sizes=(6, 4), activation=["tanh", softplus],
                       max_iter=20, random_state=0).fit(X, Y)
    names = [a.name for a in est.network_.activations]
    assert names == ["tanh", "<lambda>", "identity"]
    assert chainrule.gradcheck(est.network_, X[:5], Y[:5]).passed
    # The seed's explicit derivation (chainrule.tensors) runs on the same network.
    trace = chainrule.explain_trace(est.network_, X[0], Y[0])
    assert compare_with_backprop(est.network_, X[0], Y[0], trace=trace).passed

    # A custom loss given as (function, derivative) trains exactly like the built-in one.
    half_sq = (lambda a, y: 0.5 * (a - y) ** 2, lambda a, y: a - y)
    kw = dict(hidden_layer_sizes=(5,), max_iter=10, random_state=0)
    custom = MLPRegressor(loss=half_sq, **kw).fit(X, Y)
    builtin = MLPRegressor(**kw).fit(X, Y)
    np.testing.assert_allclose(custom.loss_curve_, builtin.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(custom.predict(X), builtin.predict(X), atol=1e-12)

    bad = MLPRegressor(loss=(half_sq[0], lambda a, y: (a - y)[:, 0]), **kw)
    with pytest.raises(ValueError, match=r"derivative has shape \(41,\), expected \(41, 2\)"):
        bad.fit(X, Y)
    with pytest.raises(ValueError, match="one per hidden layer: expected 2"):
        MLPRegressor(hidden_layer_sizes=(6, 4), activation=["tanh"]).fit(X, Y)
    with pytest.raises(ValueError, match="unknown 'swish'"):
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
    est = MLPClassifier(hidden_layer_sizes=(10,), max_iter=150, learning_rate_init=0.02,
                        random_state=0).fit(X, Y)
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
    es = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=300,
                       n_iter_no_change=2, random_state=0).fit(X, y, validation_data=(Xv, yv))
    assert es.n_iter_ < 300
    assert es.best_validation_score_ == max(es.validation_scores_)
    with pytest.raises(ValueError, match="classes not seen"):
        est.fit(X, y, validation_data=(Xv, yv + 5))


def test_regressor_validation_set_and_network_history():
    X, Y = _regression(k=2)
    Xv, Yv = _regression(n=15, k=2, seed=4)
    est = MLPRegressor(hidden_layer_sizes=(6,), max_iter=6, learning_rate_init=0.01,
                       random_state=0).fit(X, Y, validation_data=(Xv, Yv))
    assert est.validation_scores_[-1] == pytest.approx(est.score(Xv, Yv))
    assert est.validation_loss_curve_[-1] == pytest.approx(
        0.5 * np.mean(np.sum((Yv - est.predict(Xv)) ** 2, axis=1)))
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


def test_pipeline_grid_search_and_cross_validation():
    X, y = _data(n=60)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(6,), max_iter=300,
                                                         learning_rate_init=0.01,
                                                         random_state=0))
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
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0.0, 1.0\)"):
        MLPClassifier(momentum=1.5).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be positive"):
        MLPClassifier(hidden_layer_sizes=(3, 0)).fit(X, y)
    with pytest.raises(ValueError, match="dropout must be a number"):
        MLPClassifier(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.unique(y))
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="sgd"), "partial_fit")
