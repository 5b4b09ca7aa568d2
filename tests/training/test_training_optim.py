"""Optimizers, regularization and clipping: updates match the formulas by hand."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Network
from chainrule.training import SGD, Adam, AdamW, Momentum
from chainrule.training.regularization import clip_global_norm, global_norm


def _bowl(opt, theta0=5.0, eta=0.1, steps=25):
    """Minimise f(θ) = ½θ² (∇ = θ) with ``opt``; returns the iterates."""
    theta = np.array([theta0])
    out = [theta0]
    for _ in range(steps):
        opt.step([theta], [theta.copy()], eta)
        out.append(float(theta[0]))
    return out


def test_nesterov_matches_hand_computed_steps_and_closed_form():
    # v ← μv − ηθ;  θ ← θ + μv − ηθ.  By hand from θ₀ = 5, η = 0.1, μ = 0.9:
    # v₁ = −0.5, θ₁ = 5 − 0.45 − 0.5 = 4.05;
    # v₂ = −0.45 − 0.405 = −0.855, θ₂ = 4.05 − 0.7695 − 0.405 = 2.8755.
    it = _bowl(Momentum(momentum=0.9, nesterov=True))
    np.testing.assert_allclose(it[1:3], [4.05, 2.8755], rtol=1e-14)
    # Eliminating v: [θ, v] ← [[1 − η − μη, μ²], [−η, μ]] [θ, v].
    eta, mu = 0.1, 0.9
    A = np.array([[1 - eta - mu * eta, mu * mu], [-eta, mu]])
    expected = np.linalg.matrix_power(A, 25) @ np.array([5.0, 0.0])
    np.testing.assert_allclose(it[25], expected[0], rtol=1e-12)
    # ... and it is not plain momentum, whose iterates differ.
    assert not np.isclose(_bowl(Momentum(momentum=0.9))[2], it[2])


def test_adam_matches_hand_computed_steps():
    # θ₀ = 1, ∇ = θ, η = 0.1: the first Adam step is η·m̂/√v̂ = η·sign(g) → 0.9;
    # then m = 0.18, v = 0.001809, m̂ = 0.18/0.19, v̂ = 0.001809/0.001999 → 0.80041223.
    it = _bowl(Adam(), theta0=1.0, eta=0.1, steps=3)
    np.testing.assert_allclose(it[1:], [0.9, 0.8004122297, 0.7015862745], rtol=1e-8)


def test_adam_state_counts_steps():
    opt = Adam()
    _bowl(opt, steps=7)
    assert opt.t == 7 and opt.m[0].shape == (1,)


def test_adamw_decays_weights_but_not_biases():
    W, b = np.full((2, 3), 2.0), np.full(2, 2.0)
    opt = AdamW(weight_decay=0.1)
    # A zero gradient leaves only the decoupled decay: W ← (1 − η·wd) W.
    opt.step([W, b], [np.zeros_like(W), np.zeros_like(b)], 0.5)
    np.testing.assert_allclose(W, 2.0 * (1 - 0.5 * 0.1), rtol=1e-15)
    np.testing.assert_array_equal(b, 2.0)
    # With a gradient: exactly the decay followed by Adam's step.
    W1, W2 = np.full((2, 2), 1.0), np.full((2, 2), 1.0 * (1 - 0.01 * 0.1))
    g = np.array([[0.3, -0.2], [0.1, 0.5]])
    AdamW(weight_decay=0.1).step([W1], [g.copy()], 0.01)
    Adam().step([W2], [g.copy()], 0.01)
    np.testing.assert_allclose(W1, W2, rtol=1e-15)


def test_adamw_is_selectable_by_name():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    net = Network([3, 4, 2], seed=0)
    net.fit(X, y, epochs=1, learning_rate=0.01, optimizer="adamw")
    assert isinstance(net.optimizer, AdamW)


def _one_full_batch_step(**fit_kwargs):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(8, 3)), rng.uniform(size=(8, 2))
    net = Network([3, 5, 2], seed=2)
    gw, gb = net.backprop(X, Y)
    before = [p.copy() for p in net.weights + net.biases]
    net.fit(X, Y, epochs=1, batch_size=8, shuffle=False, **fit_kwargs)
    return net, before, gw, gb


def test_l1_update_is_nielsens_formula():
    eta, lam, n = 0.5, 2.0, 8
    net, before, gw, gb = _one_full_batch_step(learning_rate=eta, l1=lam)
    for W, W0, g in zip(net.weights, before[:2], gw, strict=True):
        # Nielsen eq. 97: w → w − (ηλ/n) sgn(w) − η ∂C₀/∂w.
        np.testing.assert_allclose(W, W0 - eta * lam / n * np.sign(W0) - eta * g, rtol=1e-12)
    for b, b0, g in zip(net.biases, before[2:], gb, strict=True):
        np.testing.assert_allclose(b, b0 - eta * g, rtol=1e-12)  # biases not penalised


def test_l2_update_is_nielsens_formula():
    eta, lam, n = 0.5, 2.0, 8
    net, before, gw, gb = _one_full_batch_step(learning_rate=eta, l2=lam)
    for W, W0, g in zip(net.weights, before[:2], gw, strict=True):
        np.testing.assert_allclose(W, (1 - eta * lam / n) * W0 - eta * g, rtol=1e-12)
    for b, b0, g in zip(net.biases, before[2:], gb, strict=True):
        np.testing.assert_allclose(b, b0 - eta * g, rtol=1e-12)


def test_clipping_bounds_the_step_and_keeps_its_direction():
    eta, clip = 0.5, 1e-3
    net, before, gw, gb = _one_full_batch_step(learning_rate=eta, clip_norm=clip)
    grads = [*gw, *gb]
    norm = global_norm(grads)
    assert norm > clip  # so clipping is active in this test
    steps = [(p0 - p) / eta for p, p0 in zip(net.weights + net.biases, before, strict=True)]
    np.testing.assert_allclose(global_norm(steps), clip, rtol=1e-9)
    for s, g in zip(steps, grads, strict=True):
        np.testing.assert_allclose(s, g * (clip / norm), rtol=1e-6, atol=1e-15)


def test_clipping_leaves_small_gradients_alone():
    net, before, gw, gb = _one_full_batch_step(learning_rate=0.5, clip_norm=1e6)
    for p, p0, g in zip(net.weights + net.biases, before, [*gw, *gb], strict=True):
        np.testing.assert_allclose(p, p0 - 0.5 * g, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_global_norm_function(dtype):
    grads = [np.array([3.0, 0.0], dtype=dtype), np.array([[4.0]], dtype=dtype)]
    assert clip_global_norm(grads, 1.0) == pytest.approx(5.0)
    assert global_norm(grads) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(grads[0], [0.6, 0.0], rtol=1e-6)
    assert grads[0].dtype == dtype


def test_bad_regularization_values_are_rejected():
    X, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    net = Network([3, 2, 2], seed=0)
    with pytest.raises(ValueError, match="l1"):
        net.fit(X, y, epochs=1, l1=-1.0)
    with pytest.raises(ValueError, match="clip_norm"):
        net.fit(X, y, epochs=1, clip_norm=0.0)


def test_sgd_step_uses_the_given_rate():
    p = np.array([1.0, -2.0])
    SGD().step([p], [np.array([0.5, 0.5])], 0.2)
    np.testing.assert_array_equal(p, [0.9, -2.1])


# ---------------------------------------------------------------- the optimizer's state API


def test_optimizer_state_dict_round_trips_and_resumes_bit_for_bit():
    from chainrule.training import Adam, Momentum

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 2, 60)
    for make in (Adam, lambda: Momentum(0.8, nesterov=True)):
        a = Network([3, 5, 2], output_activation="softmax", cost="log_likelihood", seed=2)
        b = Network([3, 5, 2], output_activation="softmax", cost="log_likelihood", seed=2)
        a.fit(X, y, epochs=4, batch_size=10, optimizer=make(), seed=1)
        b.fit(X, y, epochs=2, batch_size=10, optimizer=make(), seed=1)
        saved = {
            k: [v.copy() for v in val] if isinstance(val, list) else val
            for k, val in b.optimizer.state_dict().items()
        }
        assert set(saved) == set(b.optimizer.state_names) and b.optimizer.state_arrays()
        fresh = make()
        fresh.load_state_dict(saved)
        b.fit(X, y, epochs=2, batch_size=10, optimizer=fresh, seed=None)
        # b's generator continued; a's was re-seeded once: same draws in the same order.
        for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
            np.testing.assert_array_equal(p, q)


def test_load_state_dict_refuses_an_unknown_name():
    from chainrule.training import SGD, Adam

    with pytest.raises(ValueError, match="Adam has no state 'velocity'"):
        Adam().load_state_dict({"velocity": []})
    assert SGD().state_dict() == {} and SGD().state_arrays() == {}
