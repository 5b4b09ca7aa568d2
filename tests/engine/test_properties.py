"""Property tests over random sizes and seeds (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import Network
from chainrule.functions import Softmax

sizes_st = st.lists(st.integers(1, 6), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(1, 10), st.integers(0, 2**32 - 1), st.floats(0.1, 100.0))
def test_softmax_rows_sum_to_one(n_out, n, seed, scale):
    z = np.random.default_rng(seed).normal(scale=scale, size=(n, n_out))
    a = Softmax().forward(z)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(a >= 0)


@settings(max_examples=30, deadline=None)
@given(sizes_st, st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_loss_is_zero_at_the_optimum(hidden, n_out, seed):
    # With an identity output and targets equal to the network's own outputs,
    # the quadratic cost and its gradient vanish.
    net = Network([3, *hidden, n_out], activation="tanh", output_activation="identity", seed=seed)
    X = np.random.default_rng(seed).normal(size=(7, 3))
    Y = net.feedforward(X)
    assert net.loss(X, Y) == 0.0
    grad_w, grad_b = net.backprop(X, Y)
    assert all(np.all(g == 0) for g in grad_w + grad_b)


@settings(max_examples=30, deadline=None)
@given(
    sizes_st,
    st.integers(2, 5),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["sigmoid", "tanh", "relu"]),
)
def test_gradient_is_invariant_to_row_order(hidden, n_out, seed, act):
    rng = np.random.default_rng(seed)
    net = Network(
        [4, *hidden, n_out],
        activation=act,
        output_activation="softmax",
        cost="log_likelihood",
        seed=seed,
    )
    X = rng.normal(size=(9, 4))
    y = rng.integers(0, n_out, 9)
    perm = rng.permutation(9)
    gw1, gb1 = net.backprop(X, y)
    gw2, gb2 = net.backprop(X[perm], y[perm])
    for a, b in zip(gw1 + gb1, gw2 + gb2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@settings(max_examples=20, deadline=None)
@given(sizes_st, st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_batch_gradient_is_mean_of_single_example_gradients(hidden, n_out, seed):
    rng = np.random.default_rng(seed)
    net = Network([3, *hidden, n_out], activation="sigmoid", seed=seed)
    X, Y = rng.normal(size=(5, 3)), rng.uniform(size=(5, n_out))
    gw, gb = net.backprop(X, Y)
    singles = [net.backprop(X[i : i + 1], Y[i : i + 1]) for i in range(5)]
    for k in range(len(gw)):
        np.testing.assert_allclose(
            gw[k], np.mean([s[0][k] for s in singles], axis=0), rtol=1e-10, atol=1e-15
        )
        np.testing.assert_allclose(
            gb[k], np.mean([s[1][k] for s in singles], axis=0), rtol=1e-10, atol=1e-15
        )


@settings(max_examples=20, deadline=None)
@given(sizes_st, st.integers(0, 2**32 - 1))
def test_same_seed_same_weights(hidden, seed):
    a = Network([3, *hidden, 2], seed=seed)
    b = Network([3, *hidden, 2], seed=seed)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(x, y)
