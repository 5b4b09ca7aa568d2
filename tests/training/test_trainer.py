"""The Trainer: begin / run_epoch / end, the same training as Network.fit, epoch by epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import Network
from chainrule.training import EpochStats, Trainer, TrainingConfig


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    return X, (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)


def _net(seed=1, dtype=np.float64):
    return Network(
        [3, 6, 2],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=seed,
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_epoch_by_epoch_is_fit_bit_for_bit(dtype):
    X, y = _data()
    settings = dict(
        epochs=4,
        batch_size=16,
        learning_rate=0.3,
        optimizer="momentum",
        validation_fraction=0.2,
        l2=0.1,
    )
    a, b = _net(dtype=dtype), _net(dtype=dtype)
    history = a.fit(X, y, **settings)
    trainer = Trainer(b, X, y, **settings)
    stats = []
    with trainer:
        while not trainer.stopped:
            stats.append(trainer.run_epoch())
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert p.dtype == q.dtype == dtype
        np.testing.assert_array_equal(p, q)
    assert [s.epoch for s in stats] == [1, 2, 3, 4]
    assert all(isinstance(s, EpochStats) for s in stats)
    assert [s.train_loss for s in stats] == history.train_loss
    assert [s.val_accuracy for s in stats] == history.val_accuracy
    assert trainer.history.train_loss == b.history.train_loss == history.train_loss
    assert b.optimizer is not None and b.optimizer.name == "momentum"


def test_an_explicit_order_and_learning_rate_per_epoch():
    # The order given is the rows' order: the same as fitting the permuted rows unshuffled.
    X, y = _data()
    order = np.random.default_rng(5).permutation(len(X))
    a, b = _net(), _net()
    a.fit(X[order], y[order], epochs=1, batch_size=10, learning_rate=0.2, shuffle=False)
    trainer = Trainer(b, X, y, TrainingConfig(epochs=1, batch_size=10, learning_rate=9.0))
    trainer.begin()
    stats = trainer.run_epoch(order, learning_rate=0.2)
    trainer.end()
    assert stats is not None and stats.learning_rate == 0.2
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-14)


def test_callbacks_and_early_stopping_end_with_the_best_weights():
    X, y = _data()
    net = _net()
    trainer = Trainer(
        net,
        X,
        y,
        epochs=200,
        batch_size=8,
        learning_rate=2.0,
        validation_fraction=0.3,
        early_stopping="val_loss",
        patience=2,
    )
    history = trainer.run()
    assert trainer.stopped and len(history) < 200
    best = int(np.argmin(history.val_loss))
    assert math.isclose(
        net.evaluate_arrays(*trainer.validation_data, accuracy=False)[0],
        history.val_loss[best],
        rel_tol=1e-12,
    )


def test_refusals_change_nothing_and_say_what_is_wrong():
    X, y = _data()
    net = _net()
    before = [p.copy() for p in net.weights]
    with pytest.raises(TypeError, match="'epoch'"):
        Trainer(net, X, y, epoch=3)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        Trainer(net, X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="not both"):
        Trainer(net, X, y, validation_data=(X, y), validation_fraction=0.1)
    trainer = Trainer(net, X, y, epochs=1)
    with pytest.raises(RuntimeError, match="begin"):
        trainer.run_epoch()
    with pytest.raises(ValueError, match="call run"):
        Trainer(net, X, y, optimizer="lbfgs").begin()
    for p, q in zip(before, net.weights, strict=True):
        np.testing.assert_array_equal(p, q)
    assert len(net.history) == 0


@pytest.mark.filterwarnings("ignore:L-BFGS stopped")
def test_lbfgs_runs_whole():
    X, y = _data()
    net = _net()
    history = Trainer(net, X, y, optimizer="lbfgs", epochs=5).run()
    assert 1 <= len(history) <= 5 and len(net.history) == len(history)
    assert net.optimizer is None


def test_an_error_mid_run_restores_the_interrupt_handler():
    import signal

    X, y = _data()
    before = signal.getsignal(signal.SIGINT)
    trainer = Trainer(_net(), X, y, epochs=3)
    with pytest.raises(ZeroDivisionError), trainer:
        trainer.run_epoch()
        assert signal.getsignal(signal.SIGINT) is not before
        1 / 0  # noqa: B018
    assert signal.getsignal(signal.SIGINT) is before
