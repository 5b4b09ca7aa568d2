"""dtypes are preserved, and extreme inputs give finite values without warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from chainrule import Network
from chainrule.functions import ACTIVATIONS, get_activation
from conftest import COMBINATIONS, make_targets


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_end_to_end(dtype):
    rng = np.random.default_rng(0)
    net = Network([4, 6, 3], output_activation="softmax", cost="log_likelihood", dtype=dtype,
                  seed=0)
    X = rng.normal(size=(8, 4)).astype(dtype)
    y = rng.integers(0, 3, 8)
    assert all(w.dtype == dtype for w in net.weights + net.biases)
    assert net.feedforward(X).dtype == dtype
    gw, gb = net.backprop(X, y)
    assert all(g.dtype == dtype for g in gw + gb)
    fwd = net.forward(X)
    assert all(arr.dtype == dtype for arr in fwd.z[1:] + fwd.a[1:])
    net.fit(X, y, epochs=2, batch_size=3, learning_rate=0.1, seed=0)
    assert all(w.dtype == dtype for w in net.weights + net.biases)


def test_float32_network_learns():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    net = Network([2, 16, 2], activation="tanh", output_activation="softmax",
                  cost="log_likelihood", dtype=np.float32, seed=0)
    net.fit(X, y, epochs=60, batch_size=10, learning_rate=0.2, seed=0)
    assert net.accuracy(X, y) > 0.9


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_finite_at_extreme_inputs(name, dtype):
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=dtype)
    act = get_activation(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = act.forward(z)
        assert np.all(np.isfinite(a)) and a.dtype == dtype
        if act.elementwise:
            assert np.all(np.isfinite(act.derivative(z, a)))
        assert np.all(np.isfinite(act.log(z, a)))


@pytest.mark.parametrize(("hidden", "output", "cost", "inp"), COMBINATIONS)
def test_loss_and_gradient_finite_for_huge_inputs(hidden, output, cost, inp):
    rng = np.random.default_rng(0)
    net = Network([3, 4, 3], activation=hidden, output_activation=output, cost=cost,
                  input_activation=inp, seed=0)
    X = np.array([[1e4, -1e4, 1e4], [-1e4, 1e4, 0.0]])
    Y = make_targets(rng, 2, 3, output, cost)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(net.loss(X, Y))
        gw, gb = net.backprop(X, Y)
    assert all(np.all(np.isfinite(g)) for g in gw + gb)


def test_cross_entropy_of_saturated_sigmoid_is_exact_not_clipped():
    # z = -1e4 for a target of 1 costs exactly 1e4 (= -ln σ(-1e4)), not a clip value.
    net = Network([1, 1], activation="sigmoid", cost="cross_entropy", seed=0)
    net.weights[0][:] = 1.0
    net.biases[0][:] = 0.0
    assert net.loss(np.array([[-1e4]]), np.array([[1.0]])) == pytest.approx(1e4)
