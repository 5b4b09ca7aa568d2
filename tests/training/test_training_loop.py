"""Schedules, early stopping, held-out validation, resuming, reproducibility, Ctrl-C."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest

from chainrule import Callback, Network
from chainrule.training import (
    Cosine,
    EarlyStopping,
    History,
    InverseScaling,
    ReduceOnPlateau,
    StepDecay,
    get_schedule,
    holdout_split,
)


def _xor(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def _params(net):
    return [p.copy() for p in net.weights + net.biases]


def _assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------- schedules


def _rates(schedule, base=1.0, epochs=5):
    schedule.begin(base, epochs)
    return [schedule.rate(e) for e in range(epochs)]


def test_schedule_values():
    assert _rates(get_schedule("constant"), 0.3) == [0.3] * 5
    assert _rates(StepDecay(every=2, factor=0.5)) == [1, 1, 0.5, 0.5, 0.25]
    np.testing.assert_allclose(
        _rates(InverseScaling(power=0.5), 2.0),
        [2.0, 2 / np.sqrt(2), 2 / np.sqrt(3), 1.0, 2 / np.sqrt(5)],
    )
    # η_e = ½η(1 + cos(πe/E)) with E = 4: 1, (1 + √½)/2, ½, (1 − √½)/2.
    np.testing.assert_allclose(
        _rates(Cosine(), epochs=4), [1, (1 + np.sqrt(0.5)) / 2, 0.5, (1 - np.sqrt(0.5)) / 2]
    )
    np.testing.assert_allclose(_rates(Cosine(min_fraction=0.1), epochs=2), [1.0, 0.55])


def _plateau_run(schedule, values, monitor="val_accuracy"):
    schedule.begin(1.0, len(values))
    h, rates = History(), []
    for v in values:
        rates.append(schedule.rate(len(rates)))
        h.append(
            epoch=len(rates),
            train_loss=v,
            train_accuracy=math.nan,
            val_loss=v,
            val_accuracy=v,
            learning_rate=rates[-1],
            grad_norms=[],
            seconds=0.0,
        )
        schedule.observe(h)
    return rates


def test_plateau_halves_after_patience_epochs_without_gain():
    # Accuracy improves for 2 epochs, then stalls: after 3 stalled epochs η halves,
    # after 3 more it halves again (Nielsen's rule with patience 3).
    rates = _plateau_run(
        ReduceOnPlateau(patience=3), [0.5, 0.6, 0.6, 0.59, 0.6, 0.6, 0.6, 0.6, 0.6]
    )
    assert rates == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    # A falling loss is an improvement: no reduction.
    rates = _plateau_run(ReduceOnPlateau(monitor="val_loss", patience=1), [3, 2, 1, 0.5])
    assert rates == [1, 1, 1, 1]


def test_plateau_floor_stops_training():
    s = ReduceOnPlateau(patience=1, min_fraction=0.25)
    _plateau_run(s, [0.5] * 3)
    assert not s.stop and s.scale == 0.25
    _plateau_run(s, [0.5] * 2)  # same object and rate: the reduced scale carries over
    assert s.stop


def test_history_records_the_scheduled_rate():
    X, y = _xor()
    net = Network([2, 4, 2], seed=0)
    h = net.fit(X, y, epochs=4, batch_size=20, learning_rate=0.8, schedule=StepDecay(1, 0.5))
    assert h.learning_rate == [0.8, 0.4, 0.2, 0.1]
    h = net.fit(X, y, epochs=3, batch_size=20, learning_rate=0.8, schedule="cosine")
    np.testing.assert_allclose(h.learning_rate, [0.8, 0.6, 0.2])


def test_plateau_in_fit_lowers_the_rate_when_validation_stalls():
    X, y = _xor()
    # Validation data the network cannot get better on: labels are random.
    Xv, yv = _xor(50, seed=5)
    yv = np.random.default_rng(0).integers(0, 2, 50)
    net = Network([2, 6, 2], seed=0)
    h = net.fit(
        X,
        y,
        epochs=12,
        batch_size=20,
        learning_rate=0.5,
        validation_data=(Xv, yv),
        schedule=ReduceOnPlateau(monitor="val_loss", patience=2),
    )
    assert min(h.learning_rate) < 0.5
    assert all(a >= b for a, b in zip(h.learning_rate, h.learning_rate[1:], strict=False))


def test_unknown_schedule_and_missing_validation_are_errors():
    X, y = _xor()
    net = Network([2, 4, 2], seed=0)
    with pytest.raises(ValueError, match="unknown schedule"):
        net.fit(X, y, epochs=1, schedule="linear")
    with pytest.raises(ValueError, match="validation"):
        net.fit(X, y, epochs=1, schedule="plateau")
    with pytest.raises(ValueError, match="validation"):
        net.fit(X, y, epochs=1, early_stopping="val_loss")
    reg = Network([2, 4, 1], output_activation="identity", seed=0)
    with pytest.raises(ValueError, match="classifier"):
        reg.fit(X, X[:, :1], epochs=1, early_stopping="val_accuracy", validation_fraction=0.2)


# ---------------------------------------------------------------- early stopping


class _Snapshots(Callback):
    def __init__(self):
        self.params, self.val_loss, self.val_acc = [], [], []

    def on_epoch_end(self, network, history):
        self.params.append(_params(network))
        self.val_loss.append(history.val_loss[-1])
        self.val_acc.append(history.val_accuracy[-1])


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_early_stopping_restores_the_best_epoch(monitor):
    X, y = _xor(200)
    # Validation labels are the training labels flipped: the better the network
    # learns, the worse it does on them, so the best epoch comes early.
    Xv, yv = X[:60], 1 - y[:60]
    snaps = _Snapshots()
    stopper = EarlyStopping(monitor=monitor, patience=3)
    net = Network(
        [2, 8, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    h = net.fit(
        X,
        y,
        epochs=40,
        batch_size=10,
        learning_rate=0.1,
        validation_data=(Xv, yv),
        callbacks=[snaps, stopper],
    )
    values = snaps.val_loss if monitor == "val_loss" else [-a for a in snaps.val_acc]
    best = int(np.argmin(values))  # first best epoch (ties keep the earliest)
    assert stopper.best_epoch == best + 1
    assert len(h) == best + 1 + 3 < 40  # stopped after `patience` epochs without gain
    assert stopper.stopped_epoch == len(h)
    _assert_same(_params(net), snaps.params[best])
    assert not np.array_equal(snaps.params[-1][0], snaps.params[best][0])


def test_early_stopping_by_name_and_validation_fraction():
    X, y = _xor(300)
    net = Network(
        [2, 8, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    h = net.fit(
        X,
        y,
        epochs=30,
        batch_size=10,
        learning_rate=0.1,
        early_stopping="val_accuracy",
        patience=2,
        validation_fraction=0.2,
        seed=1,
    )
    assert len(h) < 30 and h.has_validation
    with pytest.raises(ValueError, match="not both"):
        net.fit(X, y, epochs=1, validation_data=(X, y), validation_fraction=0.2)


def test_holdout_split_is_stratified_and_seeded():
    y = np.array([0] * 90 + [1] * 10)
    Y = np.eye(2)[y]
    X = np.arange(100.0)[:, None]
    Xt, Yt, Xv, Yv, _ = holdout_split(X, Y, 0.2, np.random.default_rng(0), stratify=True)
    assert len(Xv) == 20 and len(Xt) == 80 and Yt[:, 1].sum() == 8
    assert Yv[:, 1].sum() == 2  # 20 % of the rare class, not left to chance
    assert set(Xt[:, 0]).isdisjoint(Xv[:, 0])
    Xv2 = holdout_split(X, Y, 0.2, np.random.default_rng(0), stratify=True)[2]
    np.testing.assert_array_equal(Xv, Xv2)
    Xv3 = holdout_split(X, Y, 0.2, np.random.default_rng(1), stratify=True)[2]
    assert not np.array_equal(Xv, Xv3)
    with pytest.raises(ValueError, match="validation_fraction"):
        holdout_split(X, Y, 1.5, np.random.default_rng(0), stratify=False)


# ---------------------------------------------------------------- resuming and seeds


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_resumed_fit_equals_one_long_fit_bitwise(optimizer):
    X, y = _xor(120)
    kw = {"batch_size": 16, "learning_rate": 0.05, "optimizer": optimizer, "dropout": 0.3}
    a = Network([2, 8, 8, 2], seed=4)
    a.fit(X, y, epochs=5, seed=9, **kw)
    b = Network([2, 8, 8, 2], seed=4)
    b.fit(X, y, epochs=2, seed=9, **kw)
    b.fit(X, y, epochs=3, **kw)  # no seed: the same stream continues
    _assert_same(_params(a), _params(b))
    assert b.history.epoch == [1, 2, 3, 4, 5]
    assert a.history.train_loss == b.history.train_loss


def test_same_seed_same_weights_with_schedule_early_stopping_and_holdout():
    X, y = _xor(200)
    runs = []
    for _ in range(2):
        net = Network(
            [2, 8, 2], activation="relu", output_activation="softmax", cost="log_likelihood", seed=3
        )
        net.fit(
            X,
            y,
            epochs=8,
            batch_size=8,
            learning_rate=0.01,
            optimizer="adam",
            dropout=0.3,
            schedule="cosine",
            early_stopping="val_loss",
            patience=2,
            validation_fraction=0.25,
            clip_norm=1.0,
            l1=0.01,
            seed=11,
        )
        runs.append((_params(net), net.history.val_loss))
    _assert_same(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    other = Network(
        [2, 8, 2], activation="relu", output_activation="softmax", cost="log_likelihood", seed=3
    )
    other.fit(
        X,
        y,
        epochs=8,
        batch_size=8,
        learning_rate=0.01,
        optimizer="adam",
        dropout=0.3,
        schedule="cosine",
        validation_fraction=0.25,
        seed=12,
    )
    assert not np.array_equal(other.weights[0], runs[0][0][0])


def test_dropout_is_off_at_prediction_time():
    X, y = _xor()
    net = Network(
        [2, 16, 2], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0
    )
    net.fit(X, y, epochs=2, batch_size=10, learning_rate=0.1, dropout=0.5, seed=0)
    # f by hand with every unit kept and no 1/(1-p) scaling.
    h = np.maximum(X @ net.weights[0].T + net.biases[0], 0)
    z = h @ net.weights[1].T + net.biases[1]
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.feedforward(X), expected, rtol=1e-12)


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_stops_after_the_current_batch_and_keeps_the_model():
    X, y = _xor(100)

    class Interrupt(Callback):
        def __init__(self):
            self.batches = 0

        def on_batch_end(self, network, info):
            self.batches += 1
            if info.epoch == 2 and info.batch == 3:
                os.kill(os.getpid(), signal.SIGINT)

    cb = Interrupt()
    net = Network([2, 6, 2], seed=0)
    before = signal.getsignal(signal.SIGINT)
    h = net.fit(X, y, epochs=10, batch_size=10, learning_rate=0.1, callbacks=[cb])
    assert net.interrupted and len(h) == 2
    assert cb.batches == 10 + 4  # the whole first epoch, then batches 0..3
    assert all(np.all(np.isfinite(p)) for p in net.weights + net.biases)
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    net.fit(X, y, epochs=1, batch_size=10, learning_rate=0.1)  # the model trains on
    assert not net.interrupted and len(net.history) == 3


# --------------------------------------------------------------------------- the one epoch body


class _Watch(Callback):
    """An on_gradients hook that records what it sees and optionally zeroes the gradients."""

    def __init__(self, zero: bool = False) -> None:
        self.zero, self.rows, self.sizes = zero, [], []

    def on_gradients(self, network, info) -> None:
        self.rows.append(np.arange(100)[info.rows])
        self.sizes.append(info.size)
        if self.zero:
            for g in (*info.grad_weights, *info.grad_biases):
                g[...] = 0.0


def _net_and_data(seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(100, 4)), rng.integers(0, 3, 100)
    net = Network(
        [4, 6, 5, 3],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=seed,
    )
    return net, X, y


@pytest.mark.parametrize("shuffle", [True, False])
def test_sgd_per_layer_equals_the_collected_step(shuffle):
    """SGD updates each layer as backward yields it; with an on_gradients hook the loop
    collects all gradients first.  One backward pass: the same weights, bit for bit."""
    a, X, y = _net_and_data()
    b, _, _ = _net_and_data()
    ha = a.fit(X, y, epochs=3, batch_size=16, learning_rate=0.2, shuffle=shuffle, l2=0.3)
    watch = _Watch()
    hb = b.fit(
        X, y, epochs=3, batch_size=16, learning_rate=0.2, shuffle=shuffle, l2=0.3, callbacks=[watch]
    )
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(p, q)
    assert ha.train_loss == hb.train_loss and ha.grad_norms == hb.grad_norms
    assert watch.sizes == [16] * 6 + [4] + [16] * 6 + [4] + [16] * 6 + [4]
    # Each epoch's batches cover every row once; shuffled epochs differ.
    epochs = [np.concatenate(watch.rows[i * 7 : (i + 1) * 7]) for i in range(3)]
    for rows in epochs:
        assert sorted(rows) == list(range(100))
    assert (not np.array_equal(epochs[0], epochs[1])) == shuffle


def test_on_gradients_runs_before_the_optimizer_step():
    net, X, y = _net_and_data()
    before = [p.copy() for p in net.weights + net.biases]
    net.fit(X, y, epochs=2, batch_size=10, callbacks=[_Watch(zero=True)])
    for p, q in zip(before, net.weights + net.biases, strict=True):
        np.testing.assert_array_equal(p, q)  # zeroed gradients: no step at all


def test_batches_iterate_views_or_gathered_rows():
    from chainrule.training.loop import Batches

    X = np.arange(50, dtype=float).reshape(25, 2)
    Y = np.arange(25, dtype=float)[:, None]
    batches = Batches(X, Y, 10)
    assert (batches.count, batches.last_size) == (3, 5)
    plain = [(k, Xb.copy(), Yb.copy()) for k, Xb, Yb in batches.epoch(None)]
    assert [k for k, _, _ in plain] == [0, 1, 2]
    np.testing.assert_array_equal(np.concatenate([Xb for _, Xb, _ in plain]), X)
    order = np.random.default_rng(0).permutation(25)
    got = np.concatenate([Yb.copy() for _, _, Yb in batches.epoch(order)])[:, 0]
    np.testing.assert_array_equal(got, order.astype(float))
    np.testing.assert_array_equal(batches.rows(2, order), order[20:25])
    assert batches.rows(2, None) == slice(20, 25)


def test_epoch_loss_is_the_mean_cost_of_the_rows_as_trained():
    # One batch covering the data: the history's loss is the cost before the update.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    net = Network([4, 5, 3], output_activation="softmax", cost="log_likelihood", seed=3)
    before = net.loss(X, y)
    acc = float(np.mean(net.predict(X) == y))
    h = net.fit(X, y, epochs=1, batch_size=30, seed=0)
    assert h.train_loss[0] == pytest.approx(before, rel=1e-12)
    assert h.train_accuracy[0] == pytest.approx(acc)
    assert net.loss(X, y) != pytest.approx(before, rel=1e-12)


class _ReplaceWeights(Callback):
    """Replaces the first weight matrix by a copy after every epoch (as a user might)."""

    def on_epoch_end(self, net, history) -> None:
        net.weights[0] = net.weights[0].copy()


def test_parameter_arrays_replaced_between_epochs_are_the_ones_trained():
    a, X, y = _net_and_data()
    b, _, _ = _net_and_data()
    a.fit(X, y, epochs=3, batch_size=8, seed=1, callbacks=[_ReplaceWeights()])
    b.fit(X, y, epochs=3, batch_size=8, seed=1)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(p, q)
