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
        (
            {"sizes": [3, 2], "activation": "tanh", "cost": "cross_entropy"},
            r"cost 'cross_entropy' needs an output activation in \{sigmoid\}, got 'tanh'",
        ),
        (
            {"sizes": [3, 2], "cost": "log_likelihood"},
            r"cost 'log_likelihood' needs an output activation in \{softmax\}, got 'sigmoid'",
        ),
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
        ({"epochs": -1}, r"^epochs must be an integer >= 0, got -1$"),
        ({"epochs": True}, r"^epochs must be an integer >= 0, got True$"),
        ({"epochs": 2.0}, r"^epochs must be an integer >= 0, got 2.0$"),
        ({"batch_size": 0}, r"^batch_size must be a positive integer, got 0$"),
        ({"batch_size": 2.5}, r"^batch_size must be a positive integer, got 2.5$"),
        ({"batch_size": True}, r"^batch_size must be a positive integer, got True$"),
        ({"batch_size": "10"}, r"^batch_size must be a positive integer, got '10'$"),
        ({"learning_rate": 0.0}, r"^learning_rate must be a positive number, got 0.0$"),
        ({"learning_rate": float("nan")}, r"learning_rate must be a positive number, got nan"),
        ({"learning_rate": "0.1"}, r"learning_rate must be a positive number, got '0.1'"),
        ({"l2": -1.0}, r"^l2 must be a non-negative number, got -1.0$"),
        ({"l1": float("inf")}, r"^l1 must be a non-negative number, got inf$"),
        ({"clip_norm": 0}, r"^clip_norm must be a positive number, got 0$"),
        ({"patience": 0}, r"^patience must be a positive integer, got 0$"),
        ({"shuffle": "yes"}, r"^shuffle must be True or False, got 'yes'$"),
        ({"optimizer": "rmsprop"}, r"unknown optimizer 'rmsprop'"),
        ({"schedule": "linear"}, r"unknown schedule 'linear'"),
        ({"early_stopping": "loss"}, r"early_stopping must be one of val_loss, val_accuracy"),
        ({"validation_fraction": 1.5}, r"validation_fraction must be between 0 and 1, got 1.5"),
        ({"dropout": 1.0}, r"dropout rates must be in \[0, 1\)"),
        ({"dropout": [0.1, 0.2]}, r"dropout needs one rate per hidden layer \(1\), got 2"),
        (
            {"validation_data": (np.ones((2, 4)), np.array([0, 1]))},
            r"validation X has 4 columns, expected 3",
        ),
    ],
)
def test_bad_fit_arguments(net, kwargs, match):
    with pytest.raises(ValueError, match=match):
        net.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), **kwargs)


def test_training_config_is_validated_once_and_frozen():
    from dataclasses import FrozenInstanceError

    from chainrule.training.config import TrainingConfig

    config = TrainingConfig(epochs=3, batch_size=np.int64(4), dropout=[0.1, 0.2])
    assert config.batch_size == 4 and type(config.batch_size) is int
    assert config.dropout == (0.1, 0.2)
    with pytest.raises(FrozenInstanceError):
        config.epochs = 4  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 2.5$"):
        config.replace(batch_size=2.5)


def test_unknown_fit_setting_is_a_type_error(net):
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        net.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), epoch=3)


def test_a_config_and_overrides(net):
    from chainrule.training.config import TrainingConfig

    history = net.fit(
        np.ones((4, 3)), np.array([0, 1, 0, 1]), TrainingConfig(epochs=5, batch_size=2), epochs=2
    )
    assert len(history) == 2


@pytest.mark.parametrize("sizes", [[True, 2], [3, False, 2], [3, np.True_], "32"])
def test_bools_and_strings_are_not_sizes(sizes):
    with pytest.raises(ValueError, match="sizes must be"):
        Network(sizes)


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


def test_big_inputs_go_forward_in_blocks_of_rows_with_the_same_answers(monkeypatch):
    from chainrule import blocks

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(1000, 5)), rng.integers(0, 3, 1000)
    net = Network([5, 7, 3], output_activation="softmax", cost="log_likelihood", seed=0)
    whole = (net.feedforward(X), net.predict(X), net.loss(X, y), net.evaluate(X, y))
    sizes = []
    real = net.engine.layers
    monkeypatch.setattr(
        net.engine, "layers", lambda w, b, n, *fold: (sizes.append(n), real(w, b, n, *fold))[1]
    )
    # 2 · (5 + 7 + 3) = 30 values a row: 300 rows a block (the 256-row floor) → 4 blocks.
    monkeypatch.setattr(blocks, "FORWARD_BLOCK_VALUES", 300 * 30)
    blocked = (net.feedforward(X), net.predict(X), net.loss(X, y), net.evaluate(X, y))
    assert max(sizes) == 300 and 100 in sizes  # never the 1,000 rows at once
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-13, atol=0)
    np.testing.assert_array_equal(blocked[1], whole[1])
    assert blocked[2] == pytest.approx(whole[2], rel=1e-13)
    assert blocked[3]["loss"] == pytest.approx(whole[3]["loss"], rel=1e-13)
    assert blocked[3]["accuracy"] == whole[3]["accuracy"]
    h = net.fit(X, y, epochs=1, batch_size=100, validation_data=(X[:700], y[:700]))
    assert np.isfinite(h.val_loss[0]) and 0 <= h.val_accuracy[0] <= 1
