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
    net = Network(
        [4, 6, 3], output_activation="softmax", cost="log_likelihood", dtype=dtype, seed=0
    )
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
    net = Network(
        [2, 16, 2],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        dtype=np.float32,
        seed=0,
    )
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
    net = Network(
        [3, 4, 3],
        activation=hidden,
        output_activation=output,
        cost=cost,
        input_activation=inp,
        seed=0,
    )
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


def test_softmax_row_max_is_exactly_the_row_maximum():
    from chainrule.functions import Softmax, _row_max

    z = np.random.default_rng(0).normal(size=(100, 10)).astype(np.float32)
    z[7, 3] = np.nan
    np.testing.assert_array_equal(_row_max(z), z.max(axis=-1, keepdims=True))
    z[7, 3] = 0.0
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    np.testing.assert_array_equal(
        Softmax().forward(z), shifted / shifted.sum(axis=-1, keepdims=True)
    )


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"softmax"}))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_times_derivative_is_the_product_with_the_derivative(name, dtype):
    """Eq. 9's diag σ'(z) as an in-place product: the values of d * σ'(z), same dtype."""
    act = get_activation(name)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 5)).astype(dtype)
    a = act.forward(z)
    d = rng.normal(size=(6, 5)).astype(dtype)
    want = d * act.derivative(z, a)
    got = act.times_derivative(d.copy(), z, a)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("output", "cost"),
    [
        ("sigmoid", "cross_entropy"),
        ("softmax", "log_likelihood"),
        ("tanh", "quadratic"),
        ("softmax", "quadratic"),
    ],
)
def test_cost_delta_is_eq5(output, cost):
    """Cost.delta (eq. 5) equals the row gradient times the Jacobian, closed form or not."""
    from chainrule.functions import get_cost

    act, c = get_activation(output), get_cost(cost)
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4, 3))
    a = act.forward(z)
    y = np.eye(3)[rng.integers(0, 3, 4)]
    general = np.einsum("ni,nij->nj", c.derivative(a, y), act.jacobian(z, a))
    out = np.empty_like(a)
    np.testing.assert_allclose(c.delta(z, a, y, act, out=out), general, rtol=1e-9, atol=1e-12)
