"""Training works, is reproducible, resumable and observable."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Callback, Network
from chainrule.data import Standardizer, load_dataset, train_test_split
from chainrule.training import SGD, Adam, Momentum


def _xor(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def test_digits_reaches_good_accuracy_quickly():
    data = load_dataset("digits")
    Xtr, Xte, ytr, yte = train_test_split(data.X, data.y, test_fraction=0.2, seed=0)
    sc = Standardizer().fit(Xtr)
    net = Network(
        [64, 50, 10], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    hist = net.fit(
        sc.transform(Xtr),
        ytr,
        epochs=10,
        batch_size=10,
        learning_rate=0.1,
        validation_data=(sc.transform(Xte), yte),
        seed=0,
    )
    assert len(hist) == 10
    assert hist.val_accuracy[-1] > 0.93
    assert hist.train_loss[-1] < hist.train_loss[0]


def test_nielsen_style_quadratic_sigmoid_learns():
    X, y = _xor(300)
    net = Network([2, 10, 2], activation="sigmoid", cost="quadratic", seed=1)
    net.fit(X, y, epochs=200, batch_size=10, learning_rate=1.5, seed=0)
    assert net.accuracy(X, y) > 0.9


def test_same_seed_gives_bitwise_identical_weights():
    X, y = _xor()
    runs = []
    for _ in range(2):
        net = Network([2, 8, 2], output_activation="softmax", cost="log_likelihood", seed=3)
        net.fit(X, y, epochs=3, batch_size=7, learning_rate=0.3, seed=11, dropout=0.2)
        runs.append([w.copy() for w in net.weights + net.biases])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_fit_seed_gives_different_weights():
    X, y = _xor()
    w = []
    for s in (1, 2):
        net = Network([2, 8, 2], seed=3)
        net.fit(X, y, epochs=1, batch_size=7, learning_rate=0.3, seed=s)
        w.append(net.weights[0].copy())
    assert not np.array_equal(*w)


def test_one_sgd_step_is_w_minus_eta_grad():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(6, 3)), rng.uniform(size=(6, 2))
    net = Network([3, 4, 2], seed=0)
    gw, gb = net.backprop(X, Y)
    before = [p.copy() for p in net.weights + net.biases]
    net.fit(X, Y, epochs=1, batch_size=6, learning_rate=0.5, shuffle=False)
    for p, p0, g in zip(net.weights + net.biases, before, gw + gb, strict=True):
        np.testing.assert_allclose(p, p0 - 0.5 * g, rtol=1e-12, atol=1e-15)


def test_history_counts_epochs_across_resumed_fits():
    X, y = _xor()
    net = Network([2, 4, 2], seed=0)
    net.fit(X, y, epochs=2, batch_size=10, learning_rate=0.1)
    h = net.fit(X, y, epochs=3, batch_size=10, learning_rate=0.1)
    assert h.epoch == [3, 4, 5]
    assert net.history.epoch == [1, 2, 3, 4, 5]
    assert len(net.history.grad_norms[0]) == 2
    assert all(np.isnan(v) for v in net.history.val_loss)


def test_resuming_keeps_optimizer_state():
    X, y = _xor()
    net = Network([2, 4, 2], seed=0)
    net.fit(X, y, epochs=1, batch_size=10, learning_rate=0.1, optimizer="momentum")
    opt = net.optimizer
    velocity = [v.copy() for v in opt.velocity]
    net.fit(X, y, epochs=1, batch_size=10, learning_rate=0.1)
    assert net.optimizer is opt
    assert any(not np.array_equal(a, b) for a, b in zip(velocity, opt.velocity, strict=True))
    net.fit(X, y, epochs=1, batch_size=10, learning_rate=0.1, optimizer="adam")
    assert isinstance(net.optimizer, Adam)


def test_momentum_matches_closed_form_on_a_quadratic_bowl():
    # f(θ) = ½ θ², ∇ = θ: with v ← μv − ηθ, θ ← θ + v, the iterates follow the
    # linear recurrence [θ, v] ← [[1−η, μ], [−η, μ]] [θ, v].
    eta, mu, theta0 = 0.1, 0.9, 5.0
    opt = Momentum(momentum=mu)
    theta = np.array([theta0])
    for _ in range(25):
        opt.step([theta], [theta.copy()], eta)
    A = np.array([[1 - eta, mu], [-eta, mu]])
    expected = np.linalg.matrix_power(A, 25) @ np.array([theta0, 0.0])
    np.testing.assert_allclose(theta[0], expected[0], rtol=1e-12)


def test_sgd_and_adam_reduce_a_quadratic():
    for opt in (SGD(), Adam()):
        theta = np.array([3.0, -2.0])
        for _ in range(200):
            opt.step([theta], [2 * theta], 0.05)
        assert np.linalg.norm(theta) < 0.1


def test_callbacks_see_batches_and_can_stop():
    X, y = _xor(100)

    class Recorder(Callback):
        def __init__(self):
            self.batches = 0
            self.epochs = 0

        def on_batch_end(self, network, info):
            self.batches += 1
            assert len(info.grad_weights) == 2 and info.grad_weights[0].shape == (4, 2)

        def on_epoch_end(self, network, history):
            self.epochs += 1
            if self.epochs == 2:
                network.stop_training = True

    rec = Recorder()
    net = Network([2, 4, 2], seed=0)
    h = net.fit(X, y, epochs=10, batch_size=25, learning_rate=0.1, callbacks=[rec])
    assert len(h) == 2 and rec.batches == 8


def test_dropout_is_off_at_prediction_time():
    X, y = _xor()
    net = Network([2, 16, 2], seed=0)
    net.fit(X, y, epochs=2, batch_size=10, learning_rate=0.1, dropout=0.5, seed=0)
    np.testing.assert_array_equal(net.feedforward(X), net.feedforward(X))


@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov", "adam"])
def test_every_optimizer_learns_xor(opt):
    X, y = _xor(300)
    net = Network(
        [2, 16, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    lr = 0.01 if opt == "adam" else 0.1
    net.fit(X, y, epochs=60, batch_size=10, learning_rate=lr, optimizer=opt, seed=0)
    assert net.accuracy(X, y) > 0.9


def test_predict_and_regression():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 1))
    Y = np.sin(3 * X)
    net = Network([1, 20, 1], activation="tanh", output_activation="identity", seed=0)
    net.fit(X, Y, epochs=200, batch_size=10, learning_rate=0.05, optimizer="momentum", seed=0)
    assert net.loss(X, Y) < 0.01
    assert net.predict(X).shape == (200, 1)
    with pytest.raises(ValueError, match="accuracy needs a classifier"):
        net.accuracy(X, Y)


def test_predict_single_example_and_binary_output():
    net = Network([2, 3, 1], seed=0)
    assert net.predict(np.zeros(2)) in (0, 1)
    assert net.predict(np.zeros((4, 2))).shape == (4,)


def test_l2_in_nielsen_form_for_one_sgd_step():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), rng.uniform(size=(8, 2))
    net = Network([3, 4, 2], seed=0)
    gw, gb = net.backprop(X, Y)
    W0, b0 = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    eta, lam, n = 0.5, 2.0, 8
    net.fit(X, Y, epochs=1, batch_size=8, learning_rate=eta, shuffle=False, l2=lam)
    for W, w0, g in zip(net.weights, W0, gw, strict=True):
        np.testing.assert_allclose(W, (1 - eta * lam / n) * w0 - eta * g, rtol=1e-12)
    for b, bb0, g in zip(net.biases, b0, gb, strict=True):  # biases are not decayed
        np.testing.assert_allclose(b, bb0 - eta * g, rtol=1e-12)


def test_sample_weight_in_fit_equals_repeating_rows():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 2)), rng.uniform(size=(3, 2))
    a, b = Network([2, 3, 2], seed=0), Network([2, 3, 2], seed=0)
    a.fit(
        X,
        Y,
        epochs=1,
        batch_size=3,
        learning_rate=0.5,
        shuffle=False,
        sample_weight=[2.0, 1.0, 0.0],
    )
    b.fit(X[[0, 0, 1]], Y[[0, 0, 1]], epochs=1, batch_size=3, learning_rate=0.5, shuffle=False)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-12)
