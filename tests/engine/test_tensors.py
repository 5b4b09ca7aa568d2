"""The explicit path (seed §3–4 objects) against the fast path, and each object on its own."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule
from chainrule import Network
from chainrule.tensors import (
    bias_jacobian,
    compare_with_backprop,
    contract_row_tensor,
    explain_trace,
    explicit_gradients,
    row_times_matrix,
    weight_tensor,
)
from conftest import COMBINATIONS, make_targets


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    """Norm-wise relative difference, written independently of tensors.relative_difference."""
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


@pytest.mark.parametrize(("hidden", "output", "cost", "inp"), COMBINATIONS)
def test_explicit_path_matches_backprop(hidden, output, cost, inp):
    """1e-12 relative in float64, per single example, over random networks."""
    rng = np.random.default_rng(zlib.crc32(f"{hidden}{output}{cost}{inp}".encode()))
    for _ in range(2):
        sizes = [
            int(rng.integers(1, 5)),
            *rng.integers(2, 6, int(rng.integers(1, 3))),
            int(rng.integers(2, 5)),
        ]
        net = Network(
            sizes,
            activation=hidden,
            output_activation=output,
            cost=cost,
            input_activation=inp,
            init="scaled_normal",
            seed=rng,
        )
        x = rng.normal(size=sizes[0])
        y = make_targets(rng, 1, sizes[-1], output, cost)[0]
        gw, gb = explicit_gradients(net, x, y)
        fw, fb = net.backprop(x[None, :], y[None, :])
        assert len(gw) == len(fw) == len(sizes) - 1
        for e, f in zip(gw + gb, fw + fb, strict=True):
            assert e.shape == f.shape
            assert _rel(e, f) <= 1e-12, (sizes, _rel(e, f))


def test_seed_figure1_network_matches_and_has_every_factor():
    net = Network([3, 4, 2], activation="sigmoid", input_activation="sigmoid", seed=1)
    gw, gb, trace = explicit_gradients(net, [0.5, -1.0, 2.0], [0.0, 1.0], return_trace=True)
    agreement = compare_with_backprop(net, [0.5, -1.0, 2.0], [0.0, 1.0])
    assert agreement.passed and agreement.max_rel_diff < 1e-13
    # The seed applies σ to the input: a^1 = σ(z^1).
    np.testing.assert_allclose(trace.a[1], 1 / (1 + np.exp(-np.array([0.5, -1.0, 2.0]))))
    np.testing.assert_allclose(trace.cost, net.loss([[0.5, -1.0, 2.0]], [[0.0, 1.0]]))
    assert [g.shape for g in gw] == [(4, 3), (2, 4)] and [g.shape for g in gb] == [(4,), (2,)]


def test_every_factor_has_the_seeds_shape():
    sizes = [3, 5, 4, 2]
    net = Network(
        sizes, activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    t = explain_trace(net, np.ones(3), 1)
    L = 4
    N = [None, *sizes]  # N[l] = N_l
    assert t.dC_da.shape == (1, N[L])
    for l in range(1, L + 1):
        assert t.z[l].shape == t.a[l].shape == (N[l],)
        assert t.da_dz[l].shape == (N[l], N[l])
        assert t.delta[l].shape == (1, N[l])
    for l in range(1, L):
        assert t.dz_dz[l].shape == (N[l + 1], N[l])
    for l in range(2, L + 1):
        assert t.dz_dW[l].shape == (N[l], N[l - 1], N[l])
        assert t.dz_db[l].shape == (N[l], N[l])
        assert t.dC_dW[l].shape == (N[l - 1], N[l])  # the transpose of W^l's shape
        assert t.dC_db[l].shape == (1, N[l])
    for step in t:
        assert step.shape == np.shape(step.value)
        assert len(step.axes.split("×")) == max(len(step.shape), 1)
    keys = [s.key for s in t.steps]
    assert len(keys) == len(set(keys))
    assert t["δ^2"] is t["delta[2]"]
    with pytest.raises(KeyError, match="no step"):
        t["nonsense"]


def test_weight_tensor_entries_are_eq12():
    rng = np.random.default_rng(0)
    a_prev = rng.normal(size=3)
    T = weight_tensor(a_prev, 4)
    assert T.shape == (4, 3, 4)
    for k in range(4):
        for i in range(3):
            for j in range(4):
                assert T[k, i, j] == (a_prev[i] if j == k else 0.0)


def test_weight_tensor_is_dz_dW_with_the_seeds_index_order():
    """[∂z/∂W]_(k,i,j) = ∂z_k/∂w_{ji}: checked by perturbing W itself (z is linear in W)."""
    rng = np.random.default_rng(1)
    W, b, a_prev = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=3)
    T = weight_tensor(a_prev, 4)
    for j in range(4):
        for i in range(3):
            E = np.zeros_like(W)
            E[j, i] = 1.0
            dz = (W + E) @ a_prev + b - (W @ a_prev + b)
            np.testing.assert_allclose(T[:, i, j], dz, atol=1e-14)


def test_contraction_gives_eq13_outer_product_and_bias_identity():
    rng = np.random.default_rng(2)
    a_prev, delta = rng.normal(size=3), rng.normal(size=(1, 4))
    dC_dW = contract_row_tensor(delta, weight_tensor(a_prev, 4))
    assert dC_dW.shape == (3, 4)
    np.testing.assert_allclose(dC_dW, np.outer(a_prev, delta[0]), rtol=1e-15)
    np.testing.assert_array_equal(bias_jacobian(4), np.eye(4))
    np.testing.assert_allclose(row_times_matrix(delta, bias_jacobian(4)), delta)
    with pytest.raises(ValueError, match="cannot multiply"):
        row_times_matrix(delta, np.ones((3, 2)))
    with pytest.raises(ValueError, match="3-tensor"):
        contract_row_tensor(delta, np.ones((3, 3, 3)))


def _numeric_jacobian(f, v, eps=1e-6):
    cols = []
    for m in range(v.size):
        e = np.zeros_like(v)
        e[m] = eps
        cols.append((f(v + e) - f(v - e)) / (2 * eps))
    return np.stack(cols, axis=1)


def test_jacobians_match_finite_differences():
    """eq. 8 (and softmax's full Jacobian), eq. 7, and δ^1 = ∂C/∂z^1 against differences."""
    net = Network(
        [3, 4, 3],
        activation="tanh",
        output_activation="softmax",
        cost="quadratic",
        input_activation="sigmoid",
        init="normal",
        seed=3,
    )
    x, y = np.array([0.3, -0.7, 1.1]), np.array([0.0, 1.0, 0.0])
    t = explain_trace(net, x, y)
    softmax = net.activations[-1]
    num = _numeric_jacobian(lambda z: softmax.forward(z[None, :])[0], t.z[3])
    np.testing.assert_allclose(t.da_dz[3], num, atol=1e-9)
    assert not np.allclose(t.da_dz[3], np.diag(np.diag(t.da_dz[3])))  # not diagonal
    W3, b3 = net.weights[1], net.biases[1]
    num = _numeric_jacobian(lambda z: W3 @ np.tanh(z) + b3, t.z[2])
    np.testing.assert_allclose(t.dz_dz[2], num, atol=1e-9)
    num = _numeric_jacobian(lambda v: np.array([net.loss(v[None, :], y[None, :])]), x)
    np.testing.assert_allclose(t.delta[1], num, atol=1e-9)


def test_class_label_equals_one_hot_target():
    net = Network([2, 3, 3], output_activation="softmax", cost="log_likelihood", seed=0)
    g1 = explicit_gradients(net, [0.2, 0.4], 2)
    g2 = explicit_gradients(net, [0.2, 0.4], [0.0, 0.0, 1.0])
    for a, b in zip(g1[0] + g1[1], g2[0] + g2[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_float32_is_preserved():
    net = Network([3, 4, 2], input_activation="sigmoid", seed=0, dtype=np.float32)
    t = explain_trace(net, [0.5, -1.0, 2.0], [0.0, 1.0])
    assert all(s.value.dtype == np.float32 for s in t)
    assert compare_with_backprop(net, [0.5, -1.0, 2.0], [0.0, 1.0], trace=t).passed


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1.0, 2.0], [0.0, 1.0], "x has 2 columns, expected 3"),
        ([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [0.0, 1.0], "one example"),
        ([1.0, 2.0, 3.0], [0.0, 1.0, 0.0], r"got shape \(3,\)"),
        ([1.0, 2.0, 3.0], 5, "class label 5"),
        ([1.0, np.nan, 3.0], [0.0, 1.0], "x contains nan"),
    ],
)
def test_bad_example_is_a_one_line_error(x, y, match):
    net = Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match=match):
        explicit_gradients(net, x, y)


def test_explicit_path_catches_a_planted_engine_bug(monkeypatch):
    """A softmax vector-Jacobian product that forgets the −a aᵀ term fails the agreement."""
    from chainrule.functions import Softmax

    net = Network([3, 4, 3], output_activation="softmax", cost="quadratic", seed=0)
    x, y = [0.1, 0.2, 0.3], [1.0, 0.0, 0.0]
    assert compare_with_backprop(net, x, y).passed
    monkeypatch.setattr(Softmax, "vjp", lambda self, z, a, g: a * g)
    agreement = compare_with_backprop(net, x, y)
    assert not agreement.passed and agreement.max_rel_diff > 1e-3


def test_public_names():
    assert chainrule.explicit_gradients is explicit_gradients
    assert chainrule.explain_trace is explain_trace


def test_eq3_products_give_the_first_order_change():
    """eq. 3 and §3.5: [δC/δW]·ΔW is C's change, [∂z/∂W]·ΔW is z's change."""
    from chainrule.tensors import matrix_product, tensor_matrix_product

    rng = np.random.default_rng(4)
    net = Network([3, 4, 2], activation="tanh", input_activation="sigmoid", seed=4)
    x, y = rng.normal(size=3), rng.uniform(size=2)
    t = explain_trace(net, x, y)
    dW = rng.normal(size=(4, 3))  # shaped like W^2
    eps = 1e-6
    W = net.weights[0].copy()
    net.weights[0] = W + eps * dW
    plus = net.loss(x[None, :], y[None, :])
    net.weights[0] = W - eps * dW
    minus = net.loss(x[None, :], y[None, :])
    net.weights[0] = W
    np.testing.assert_allclose(
        matrix_product(t.dC_dW[2], dW), (plus - minus) / (2 * eps), rtol=1e-7
    )
    change = (W + dW) @ t.a[1] - W @ t.a[1]
    np.testing.assert_allclose(tensor_matrix_product(t.dz_dW[2], dW), change, atol=1e-13)
    with pytest.raises(ValueError, match=r"eq\. 3"):
        matrix_product(t.dC_dW[2], dW.T)
    with pytest.raises(ValueError, match=r"§3\.5"):
        tensor_matrix_product(t.dz_dW[2], dW.T)


def test_single_output_takes_a_scalar_target():
    net = Network([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    gw, gb = explicit_gradients(net, [0.3, -0.2], 0.7)
    fw, fb = net.backprop([[0.3, -0.2]], [[0.7]])
    for e, f in zip(gw + gb, fw + fb, strict=True):
        assert _rel(e, f) <= 1e-12


# derandomize: a fixed set of examples, so the suite cannot flake on a rare, nearly
# saturated network (where round-off, not a bug, separates the paths; see Agreement).
@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(1, 6), min_size=2, max_size=5),
    st.integers(0, 2**32 - 1),
    st.sampled_from(COMBINATIONS),
)
def test_explicit_path_matches_backprop_on_random_shapes(sizes, seed, combination):
    hidden, output, cost, inp = combination
    if output == "softmax" and sizes[-1] < 2:
        sizes = [*sizes[:-1], 2]
    rng = np.random.default_rng(seed)
    net = Network(
        sizes,
        activation=hidden,
        output_activation=output,
        cost=cost,
        input_activation=inp,
        init="scaled_normal",
        seed=seed,
    )
    x = rng.normal(size=sizes[0])
    y = make_targets(rng, 1, sizes[-1], output, cost)[0]
    agreement = compare_with_backprop(net, x, y)
    assert agreement.passed, agreement


def test_trace_is_a_snapshot():
    net = Network([2, 3, 2], seed=0)
    t = explain_trace(net, [0.1, 0.2], [0.0, 1.0])
    before = t["W^2"].value.copy()
    net.weights[0] += 1.0
    np.testing.assert_array_equal(t["W^2"].value, before)
