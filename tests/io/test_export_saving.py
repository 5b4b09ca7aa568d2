"""Networks and estimators round-trip through pickle, joblib and skops (issue 22)."""

from __future__ import annotations

import io
import pickle
import warnings

import numpy as np
import pytest

import chainrule
from chainrule.backend import NUMPY_OPS
from chainrule.export.saving import trusted_types

sk = pytest.importorskip("chainrule.sklearn")


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 4))
    names = np.array(["adelie", "chinstrap", "gentoo"])
    return X, names[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)], X @ [1.0, -2.0, 0.5, 0.0]


def _fitted() -> list[object]:
    X, labels, values = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            sk.MLPClassifier(hidden_layer_sizes=(6,), max_iter=15, random_state=0).fit(X, labels),
            sk.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", max_iter=15, random_state=2).fit(
                X, values
            ),
            sk.MLPClassifier(
                hidden_layer_sizes=(5, 4),
                solver="sgd",
                momentum=0.9,
                activation="tanh",
                early_stopping=True,
                max_iter=15,
                random_state=1,
            ).fit(X, labels),
            sk.MLPRegressor(
                hidden_layer_sizes=(6,), solver="lbfgs", max_iter=30, random_state=0
            ).fit(X, values),
        ]


def _pickle(obj: object) -> object:
    return pickle.loads(pickle.dumps(obj))


def _joblib(obj: object) -> object:
    joblib = pytest.importorskip("joblib")
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def _skops(obj: object) -> object:
    sio = pytest.importorskip("skops.io")
    data = sio.dumps(obj)
    unknown = sio.get_untrusted_types(data=data)
    assert set(unknown) <= set(trusted_types()), set(unknown) - set(trusted_types())
    return sio.loads(data, trusted=unknown)


@pytest.mark.parametrize("roundtrip", [_pickle, _joblib, _skops], ids=["pickle", "joblib", "skops"])
def test_estimators_round_trip_with_identical_predictions(roundtrip) -> None:
    X, labels, values = _data(1)
    for est in _fitted():
        back = roundtrip(est)
        assert type(back) is type(est)
        assert back.network_.ops is NUMPY_OPS  # the namespace resolved again, not a copy
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        if hasattr(est, "predict_proba"):
            np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
            np.testing.assert_array_equal(back.classes_, est.classes_)
        if est.early_stopping or est.solver == "lbfgs":  # no partial_fit
            continue
        # Training goes on from the same state: the same weights as the original's.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            target = labels if hasattr(est, "classes_") else values
            est.partial_fit(X, target)
            back.partial_fit(X, target)
        for W, W2 in zip(est.coefs_, back.coefs_, strict=True):
            np.testing.assert_array_equal(W, W2)


@pytest.mark.parametrize("roundtrip", [_pickle, _joblib, _skops], ids=["pickle", "joblib", "skops"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_round_trips_with_its_optimizer_and_history(roundtrip, dtype) -> None:
    X, labels, _ = _data(2)
    y = np.unique(labels, return_inverse=True)[1]
    net = chainrule.Network(
        [4, 5, 3], output_activation="softmax", cost="log_likelihood", dtype=dtype, seed=3
    )
    net.fit(X, y, epochs=2, batch_size=16, optimizer="adam", learning_rate=0.01, seed=4)
    back = roundtrip(net)
    assert back.ops is NUMPY_OPS and back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.feedforward(X), net.feedforward(X))
    assert len(back.history) == len(net.history) == 2
    net.fit(X, y, epochs=1, batch_size=16, seed=5)
    back.fit(X, y, epochs=1, batch_size=16, seed=5)
    for W, W2 in zip(net.weights, back.weights, strict=True):
        np.testing.assert_array_equal(W, W2)


def test_network_on_another_namespace_pickles_by_module_name() -> None:
    xp = pytest.importorskip("array_api_strict")
    net = chainrule.Network([3, 4, 2], seed=0, backend="array_api_strict")
    state = net.__getstate__()
    assert state["ops"] == xp.__name__  # a name, not the module
    back = _pickle(net)
    assert back.ops is net.ops
    X = np.linspace(-1, 1, 12).reshape(4, 3)
    np.testing.assert_array_equal(np.asarray(back.feedforward(X)), np.asarray(net.feedforward(X)))


def test_trusted_types_are_chainrule_classes_only() -> None:
    names = trusted_types()
    assert "chainrule.network.Network" in names
    assert "chainrule.functions.Sigmoid" in names
    assert not any("Custom" in n for n in names)  # they hold a user's functions
    assert all(n.startswith("chainrule.") or n == "numpy.dtype" for n in names)
