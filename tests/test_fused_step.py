"""The engine's fused plain-SGD step matches the general path bit for bit (issue 7)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Callback, Network
from chainrule.training.optimizers import SGD


class _GeneralSGD(SGD):
    """Plain SGD that the loop does not recognise, so it takes the general path."""


class _Counter(Callback):
    def __init__(self) -> None:
        self.batches = 0

    def on_batch_end(self, net, info) -> None:
        self.batches += 1


def _data(n, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    return X, rng.integers(0, n_out, size=n)


CASES = [
    # hidden activation, output activation, cost, dtype
    ("sigmoid", "softmax", "log_likelihood", np.float32),
    ("sigmoid", "sigmoid", "quadratic", np.float64),
    ("relu", "sigmoid", "cross_entropy", np.float32),
    ("tanh", "softmax", "log_likelihood", np.float64),
    ("leaky_relu", "identity", "quadratic", np.float64),
]


@pytest.mark.parametrize(("hidden", "output", "cost", "dtype"), CASES)
@pytest.mark.parametrize("extras", [{}, {"l2": 0.5, "sample_weight": True}])
def test_fused_and_general_paths_give_bitwise_identical_training(hidden, output, cost, dtype,
                                                                 extras):
    X, y = _data(53, 5, 3)  # 53 rows, batch 10: a short last batch
    kwargs = dict(epochs=3, batch_size=10, learning_rate=0.3, seed=4)
    if extras:
        kwargs["l2"] = extras["l2"]
        kwargs["sample_weight"] = np.random.default_rng(1).uniform(0.5, 1.5, size=53)
    nets = [Network([5, 7, 6, 3], activation=hidden, output_activation=output, cost=cost,
                    seed=2, dtype=dtype) for _ in range(2)]
    calls = []
    step = nets[0].engine.train_step
    nets[0].engine.train_step = lambda *a, **k: calls.append(1) or step(*a, **k)
    fast = nets[0].fit(X, y, optimizer=SGD(), **kwargs)
    assert len(calls) == 18  # the fused step ran: 6 batches × 3 epochs
    general = nets[1].fit(X, y, optimizer=_GeneralSGD(), **kwargs)
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases,
                    strict=True):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert fast.train_loss == general.train_loss
    assert fast.train_accuracy == general.train_accuracy
    assert fast.grad_norms == general.grad_norms


def test_blocked_update_of_a_wide_layer_matches_the_general_path():
    # W^2 is 300 × 300: the fused update runs in two row blocks, and with 48 rows
    # its weight gradient is a "big" product (np.matmul).
    X, y = _data(100, 300, 3)
    nets = [Network([300, 300, 3], output_activation="softmax", cost="log_likelihood", seed=5,
                    dtype=np.float32) for _ in range(2)]
    nets[0].fit(X, y, epochs=1, batch_size=48, seed=0, optimizer=SGD())
    nets[1].fit(X, y, epochs=1, batch_size=48, seed=0, optimizer=_GeneralSGD())
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert nets[0].history.grad_norms == nets[1].history.grad_norms


def test_a_batch_callback_takes_the_general_path_with_the_same_result():
    X, y = _data(40, 4, 2)
    a = Network([4, 6, 2], output_activation="softmax", cost="log_likelihood", seed=0)
    b = Network([4, 6, 2], output_activation="softmax", cost="log_likelihood", seed=0)
    a.fit(X, y, epochs=2, batch_size=8, seed=1)
    counter = _Counter()
    b.fit(X, y, epochs=2, batch_size=8, seed=1, callbacks=[counter])
    assert counter.batches == 10
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(p, q)
    assert a.history.train_loss == b.history.train_loss


def test_epoch_loss_is_the_mean_cost_of_the_rows_as_trained():
    # One batch covering the data: the history's loss is the cost before the update.
    X, y = _data(30, 4, 3)
    net = Network([4, 5, 3], output_activation="softmax", cost="log_likelihood", seed=3)
    before = net.loss(X, y)
    acc = float(np.mean(net.predict(X) == y))
    h = net.fit(X, y, epochs=1, batch_size=30, seed=0)
    assert h.train_loss[0] == pytest.approx(before, rel=1e-12)
    assert h.train_accuracy[0] == pytest.approx(acc)
    assert net.loss(X, y) != pytest.approx(before, rel=1e-12)


def test_softmax_row_max_is_exactly_the_row_maximum():
    from chainrule.functions import Softmax, _row_max

    z = np.random.default_rng(0).normal(size=(100, 10)).astype(np.float32)
    z[7, 3] = np.nan
    np.testing.assert_array_equal(_row_max(z), z.max(axis=-1, keepdims=True))
    z[7, 3] = 0.0
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    np.testing.assert_array_equal(Softmax().forward(z),
                                  shifted / shifted.sum(axis=-1, keepdims=True))


class _ReplaceWeights(Callback):
    """Replaces the first weight matrix by a copy after every epoch (as a user might)."""

    def on_epoch_end(self, net, history) -> None:
        net.weights[0] = net.weights[0].copy()


def test_parameter_arrays_replaced_between_epochs_are_the_ones_trained():
    X, y = _data(40, 4, 3)
    nets = [Network([4, 6, 3], output_activation="softmax", cost="log_likelihood", seed=0)
            for _ in range(2)]
    nets[0].fit(X, y, epochs=3, batch_size=8, seed=1, callbacks=[_ReplaceWeights()])
    nets[1].fit(X, y, epochs=3, batch_size=8, seed=1, optimizer=_GeneralSGD(),
                callbacks=[_ReplaceWeights()])
    for p, q in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases,
                    strict=True):
        np.testing.assert_array_equal(p, q)


def test_unshuffled_training_matches_the_general_path():
    X, y = _data(45, 4, 3)
    nets = [Network([4, 6, 3], output_activation="softmax", cost="log_likelihood", seed=0)
            for _ in range(2)]
    a = nets[0].fit(X, y, epochs=2, batch_size=10, shuffle=False)
    b = nets[1].fit(X, y, epochs=2, batch_size=10, shuffle=False, optimizer=_GeneralSGD())
    for p, q in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases,
                    strict=True):
        np.testing.assert_array_equal(p, q)
    assert a.train_loss == b.train_loss and a.train_accuracy == b.train_accuracy
