"""chainrule.engine: the batched gradient is right (central differences, the seed's own
per-example recipe), and the backward pass hands out each layer only when it is done with it."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import Network
from conftest import COMBINATIONS, make_targets
from seed_oracle import per_example_gradient


def _net(hidden, output, cost, inp, sizes=(3, 5, 4, 3), seed=0):
    return Network(
        list(sizes),
        activation=hidden,
        output_activation=output,
        cost=cost,
        input_activation=inp,
        seed=seed,
        init="scaled_normal",
    )


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


def test_backward_yields_layers_from_L_down_when_their_W_is_no_longer_needed():
    """Updating each layer as it is yielded (plain SGD's way) gives the gradients of
    the unchanged network: eq. 9 has used W^l before layer l is handed out."""
    rng = np.random.default_rng(3)
    net = _net("tanh", "softmax", "log_likelihood", "identity", sizes=(3, 5, 4, 6, 3))
    X, Y = rng.normal(size=(7, 3)), make_targets(rng, 7, 3, "softmax", "log_likelihood")
    want_w, want_b = net.backprop(X, Y)
    layers = net.engine.layers(net.weights, net.biases, 7)
    net.engine.forward(layers, X)
    seen = []
    for layer in net.engine.backward(layers, Y):
        seen.append(layer.l)
        np.testing.assert_allclose(layer.grad_W, want_w[layer.l - 2], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.grad_b, want_b[layer.l - 2], rtol=1e-12, atol=1e-15)
        layer.W[...] = np.nan  # anything the pass still read from W^l would turn NaN
    assert seen == [5, 4, 3, 2]
    for g in (*layers.grad_W[2:], *layers.grad_b[2:]):
        assert np.all(np.isfinite(g))


def test_engine_layers_are_the_networks_arrays_and_reused_buffers():
    net = _net("sigmoid", "sigmoid", "quadratic", "identity")
    layers = net.engine.layers(net.weights, net.biases, 4)
    assert layers.holds(net.weights, net.biases)
    assert [ly.l for ly in layers] == [2, 3, 4]
    assert all(ly.W is W for ly, W in zip(layers, net.weights, strict=True))
    X = np.ones((4, 3))
    out1 = net.engine.forward(layers, X)
    out2 = net.engine.forward(layers, X)
    assert out1 is out2  # the same buffer, written again
    net.weights[0] = net.weights[0].copy()
    assert not layers.holds(net.weights, net.biases)


def test_eq9_is_one_line_of_the_engine_as_the_readme_quotes_it():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    lines = [
        ln
        for ln in (root / "src/chainrule/engine.py").read_text().splitlines()
        if "eq. 9" in ln and "delta[l] =" in ln
    ]
    assert len(lines) == 1
    code = lines[0].split("#")[0].strip()
    assert code == (
        "delta[l] = σ[l].times_derivative(dot(delta[l + 1], W[l + 1], out=delta[l]), z[l], a[l])"
    )
    assert code in (root / "README.md").read_text()
    assert code in (root / "docs/architecture.md").read_text()
