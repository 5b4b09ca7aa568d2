"""Bad input gives a ValueError that says what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Network


@pytest.fixture
def net():
    return Network([3, 4, 2], output_activation="softmax", cost="log_likelihood", seed=0)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.ones((4, 5)), r"X has 5 columns, expected 3"),
        (np.ones((2, 2, 3)), r"X must have shape \(n, 3\) or \(3,\), got shape \(2, 2, 3\)"),
        (np.ones((0, 3)), r"X is empty"),
        (np.array([[1.0, np.nan, 0.0]]), r"X contains nan at row 0, column 1"),
        (np.array([[1.0, 0.0, 0.0], [0.0, 0.0, np.inf]]), r"X contains inf at row 1, column 2"),
        (np.array([["a", "b", "c"]]), r"X must be numeric"),
    ],
)
def test_bad_inputs(net, X, match):
    with pytest.raises(ValueError, match=match):
        net.feedforward(X)


@pytest.mark.parametrize(
    ("Y", "match"),
    [
        (np.array([0, 1, 2]), r"class label 2 at index 2 is out of range: expected 0\.\.1"),
        (np.array([0, -1, 1]), r"class label -1 at index 1 is out of range"),
        (np.array([0, 1]), r"Y must have 3 rows \(one per row of X\), got 2 rows"),
        (np.ones((3, 3)), r"Y must have shape \(3, 2\)"),
        (np.array([[0, 1], [1, 0], [np.nan, 1]]), r"Y contains nan at row 2, column 0"),
        (np.array([0.5, 1.0, 0.0]), r"integer class labels, got 0\.5 at index 0"),
    ],
)
def test_bad_targets(net, Y, match):
    with pytest.raises(ValueError, match=match):
        net.backprop(np.ones((3, 3)), Y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizes": [3]}, r"at least 2 layers"),
        ({"sizes": [3, 0, 2]}, r"positive integers"),
        ({"sizes": [3, 2.5, 2]}, r"positive integers"),
        ({"sizes": [3, 2], "activation": "tanh", "cost": "cross_entropy"},
         r"cost 'cross_entropy' needs an output activation in \{sigmoid\}, got 'tanh'"),
        ({"sizes": [3, 2], "cost": "log_likelihood"},
         r"cost 'log_likelihood' needs an output activation in \{softmax\}, got 'sigmoid'"),
        ({"sizes": [3, 4, 2], "activation": "softmax"}, r"only allowed as the output"),
        ({"sizes": [3, 1], "output_activation": "softmax"}, r"at least 2 output units"),
        ({"sizes": [3, 2], "activation": "swish"}, r"unknown activation 'swish'"),
        ({"sizes": [3, 2], "cost": "hinge"}, r"unknown cost 'hinge'"),
        ({"sizes": [3, 2], "init": "zeros"}, r"unknown init 'zeros'"),
        ({"sizes": [3, 2], "dtype": np.int32}, r"dtype must be float32 or float64"),
        ({"sizes": [3, 4, 4, 2], "activation": ["relu"]}, r"expected 2, got 1"),
    ],
)
def test_bad_construction(kwargs, match):
    sizes = kwargs.pop("sizes")
    with pytest.raises(ValueError, match=match):
        Network(sizes, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": -1}, r"epochs must be >= 0"),
        ({"batch_size": 0}, r"batch_size must be >= 1"),
        ({"learning_rate": 0.0}, r"learning_rate must be a positive number"),
        ({"learning_rate": float("nan")}, r"learning_rate must be a positive number"),
        ({"optimizer": "rmsprop"}, r"unknown optimizer 'rmsprop'"),
        ({"dropout": 1.0}, r"dropout rates must be in \[0, 1\)"),
        ({"validation_data": (np.ones((2, 4)), np.array([0, 1]))},
         r"validation X has 4 columns, expected 3"),
    ],
)
def test_bad_fit_arguments(net, kwargs, match):
    with pytest.raises(ValueError, match=match):
        net.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), **kwargs)


def test_wrongly_assigned_weights_are_reported(net):
    net.weights[0] = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"weights\[0\] \(W\^2\) must have shape \(4, 3\)"):
        net.feedforward(np.ones(3))


def test_first_nonfinite_scans_blocks_only_when_the_sum_is_not_finite():
    from chainrule.checks import first_nonfinite

    X = np.ones((3000, 50), dtype=np.float32)
    assert first_nonfinite(X) is None
    X[2999, 49] = -np.inf  # in the last row block
    assert first_nonfinite(X) == (2999, 49)
    X[1400, 3] = np.nan
    assert first_nonfinite(X) == (1400, 3)
    # Huge finite values overflow the sum but are not an error.
    big = np.full((4, 3), 3e38, dtype=np.float32)
    assert first_nonfinite(big) is None
    assert first_nonfinite(np.array([1.0, np.inf])) == (1,)
