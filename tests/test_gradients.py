"""The batched gradient is right: central differences and the seed's own per-example recipe."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import Network
from conftest import COMBINATIONS, make_targets
from seed_oracle import per_example_gradient


def _net(hidden, output, cost, inp, sizes=(3, 5, 4, 3), seed=0):
    return Network(list(sizes), activation=hidden, output_activation=output, cost=cost,
                   input_activation=inp, seed=seed, init="scaled_normal")


@pytest.mark.parametrize(("hidden", "output", "cost", "inp"), COMBINATIONS)
def test_backprop_matches_central_differences(hidden, output, cost, inp):
    rng = np.random.default_rng(7)
    net = _net(hidden, output, cost, inp)
    X = rng.normal(size=(6, 3))
    Y = make_targets(rng, 6, 3, output, cost)
    report = chainrule.gradcheck(net, X, Y, eps=1e-6, tolerance=1e-6)
    assert report.passed, str(report)
    assert len(report.checks) == 6  # W^2, W^3, W^4, b^2, b^3, b^4


@pytest.mark.parametrize(("hidden", "output", "cost", "inp"), COMBINATIONS)
def test_batched_gradient_is_mean_of_seed_per_example_gradients(hidden, output, cost, inp):
    rng = np.random.default_rng(3)
    net = _net(hidden, output, cost, inp)
    X = rng.normal(size=(5, 3))
    Y = make_targets(rng, 5, 3, output, cost)
    grad_w, grad_b = net.backprop(X, Y)
    per = [per_example_gradient(net, X[i], Y[i]) for i in range(len(X))]
    for layer in range(len(net.weights)):
        want_w = np.mean([p[0][layer] for p in per], axis=0)
        want_b = np.mean([p[1][layer] for p in per], axis=0)
        np.testing.assert_allclose(grad_w[layer], want_w, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(grad_b[layer], want_b, rtol=1e-10, atol=1e-13)


def test_seed_figure1_network_with_sigma_on_the_input():
    """The seed's 3-4-2 network (Figure 1), σ applied to the input layer as in §5 step 2."""
    net = Network([3, 4, 2], activation="sigmoid", input_activation="sigmoid", seed=1)
    x = np.array([0.5, -1.0, 2.0])
    a1 = 1 / (1 + np.exp(-x))
    a2 = 1 / (1 + np.exp(-(net.weights[0] @ a1 + net.biases[0])))
    a3 = 1 / (1 + np.exp(-(net.weights[1] @ a2 + net.biases[1])))
    np.testing.assert_allclose(net.feedforward(x), a3, rtol=1e-14)
    assert chainrule.gradcheck(net, x[None, :], np.array([[0.0, 1.0]])).passed


def test_grad_weights_is_transpose_of_seed_eq13():
    net = Network([3, 4, 2], seed=2)
    x, lam = np.array([0.1, 0.2, -0.3]), np.array([1.0, 0.0])
    fwd = net.forward(x[None, :])
    grad_w, _ = net.backprop(x[None, :], lam[None, :])
    # δ^L by eq. 5 with the quadratic cost: 2(a - λ) ⊙ σ'(z^L)
    aL = fwd.a[3][0]
    delta3 = 2 * (aL - lam) * aL * (1 - aL)
    seed_dW3 = np.outer(fwd.a[2][0], delta3)  # eq. 13: a^{l-1} ⊗ δ^l, shape (4, 2)
    assert seed_dW3.shape == (4, 2)
    np.testing.assert_allclose(grad_w[1], seed_dW3.T, rtol=1e-12)


def test_sample_weight_weights_the_mean():
    rng = np.random.default_rng(0)
    net = Network([2, 3, 2], seed=0)
    X, Y = rng.normal(size=(4, 2)), rng.uniform(size=(4, 2))
    w = np.array([1.0, 0.0, 3.0, 0.0])
    gw, gb = net.backprop(X, Y, sample_weight=w)
    keep = w > 0
    gw2, gb2 = net.backprop(np.repeat(X[keep], [1, 3], axis=0), np.repeat(Y[keep], [1, 3], axis=0))
    for a, b in zip(gw + gb, gw2 + gb2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_gradcheck_catches_a_planted_bug():
    """A cost whose derivative is off by the number of outputs (scikit-learn#8349) fails."""
    from chainrule.functions import Quadratic

    class Broken(Quadratic):
        name = "broken_quadratic"

        def derivative(self, a, y):
            return 2 * (a - y) / a.shape[1]

    rng = np.random.default_rng(0)
    net = Network([3, 4, 3], activation="tanh", output_activation="identity", cost=Broken(),
                  seed=0)
    report = chainrule.gradcheck(net, rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))
    assert not report.passed
    assert "FAIL" in str(report)
