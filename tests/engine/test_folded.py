"""Folded parameters (issue 25, the tiny step): ``P^l = [W^l | b^l]``, inputs ``[a | 1]``.

A small network trained by plain SGD on NumPy stores each layer's ``W^l`` and ``b^l``
as views of one array, so eq. 1 is one product with a column of ones after the
layer's input, and eqs. 13 + 15 with the SGD step one ``?gemm`` on ``P^l``.  The
results must be today's path's to round-off, in both dtypes, with weight decay and
sample weights; everything the fold cannot keep (dropout, momentum, big layers,
other namespaces, user activations) must take the old path.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule.engine import Engine, fold_parameters, folded
from chainrule.functions import Activation, LogLikelihood, ReLU, Sigmoid, Softmax, Tanh
from chainrule.training.loop import GRAD_NORM_BATCHES, Batches

DTYPES = [np.float32, np.float64]


def _net(dtype, sizes=(4, 8, 3), hidden="sigmoid", output="softmax", seed=1):
    cost = "log_likelihood" if output == "softmax" else "cross_entropy"
    return chainrule.Network(
        list(sizes),
        activation=hidden,
        output_activation=output,
        cost=cost,
        seed=seed,
        dtype=dtype,
    )


def _data(dtype, n=1003, inputs=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, inputs)).astype(dtype), rng.integers(0, classes, n)


def _record_folding(monkeypatch):
    """Engine.forward patched to record, per call, whether its layers were folded."""
    seen: list[bool] = []
    real = Engine.forward

    def forward(self, layers, X, *args, **kwargs):
        seen.append(layers.folded)
        return real(self, layers, X, *args, **kwargs)

    monkeypatch.setattr(Engine, "forward", forward)
    return seen


def _fit_both(monkeypatch, make, X, y, **fit):
    """The same fit folded and with folding turned off: (folded net, plain net, seen)."""
    a, b = make(), make()
    seen = _record_folding(monkeypatch)
    a.fit(X, y, **fit)
    folded_calls = list(seen)
    with monkeypatch.context() as m:
        m.setattr(Engine, "foldable", lambda self, weights, n: False)
        b.fit(X, y, **fit)
    return a, b, folded_calls


def test_fold_parameters_makes_views_of_one_array_and_keeps_them():
    W = [np.arange(6.0).reshape(2, 3), np.arange(4.0).reshape(2, 2)]
    b = [np.array([10.0, 20.0]), np.array([30.0, 40.0])]
    weights, biases = list(W), list(b)
    fold_parameters(weights, biases)
    for l, (Wl, bl) in enumerate(zip(weights, biases, strict=True)):
        P = folded(Wl, bl)
        assert P is not None and P.flags.c_contiguous and P.shape == (2, W[l].shape[1] + 1)
        np.testing.assert_array_equal(P[:, :-1], W[l])
        np.testing.assert_array_equal(P[:, -1], b[l])
        Wl[0, 0] = -1.0  # the very memory
        bl[1] = -2.0
        assert P[0, 0] == -1.0 and P[1, -1] == -2.0
    again = list(weights)
    fold_parameters(weights, biases)  # already folded: the same objects
    assert all(p is q for p, q in zip(weights, again, strict=True))


def test_folded_refuses_anything_but_views_of_one_ready_array():
    P = np.zeros((3, 5))
    assert folded(P[:, :-1], P[:, -1]) is P
    assert folded(P[:, :-1].copy(), P[:, -1]) is None  # a copy
    assert folded(P[:, 1:], P[:, 0]) is None  # another split of P
    Q = np.zeros((3, 5))
    assert folded(P[:, :-1], Q[:, -1]) is None  # two arrays
    F = np.zeros((3, 5), order="F")
    assert folded(F[:, :-1], F[:, -1]) is None  # not C-ordered
    R = np.zeros((3, 5))
    R.flags.writeable = False
    assert folded(R[:, :-1], R[:, -1]) is None  # BLAS cannot write it


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("sizes", "hidden", "output"),
    [((4, 8, 3), "sigmoid", "softmax"), ((5, 7, 6, 2), ["relu", "tanh"], "sigmoid")],
)
@pytest.mark.parametrize("extra", ["plain", "l2", "sample_weight", "unshuffled"])
def test_a_folded_fit_trains_as_the_unfolded_one(dtype, sizes, hidden, output, extra, monkeypatch):
    X, y = _data(dtype, inputs=sizes[0], classes=sizes[-1])
    fit = dict(epochs=3, batch_size=10, learning_rate=0.3, seed=4)
    if extra == "l2":
        fit["l2"] = 2.0
    elif extra == "sample_weight":
        fit["sample_weight"] = np.random.default_rng(5).random(len(X)) + 0.5
    elif extra == "unshuffled":
        fit["shuffle"] = False
    a, b, seen = _fit_both(monkeypatch, lambda: _net(dtype, sizes, hidden, output), X, y, **fit)
    assert seen and all(seen)  # every batch took the folded path
    tol = 3e-5 if dtype == np.float32 else 1e-12
    for p, q in zip([*a.weights, *a.biases], [*b.weights, *b.biases], strict=True):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, q, rtol=tol, atol=tol)
    np.testing.assert_allclose(a.history.train_loss, b.history.train_loss, rtol=tol)
    # The folded network's W^l, b^l are views of one array, and stay usable as arrays.
    assert all(folded(W, v) is not None for W, v in zip(a.weights, a.biases, strict=True))
    np.testing.assert_allclose(a.predict(X[:5]), b.predict(X[:5]), rtol=tol, atol=tol)


@pytest.mark.parametrize("settings", [{"dropout": 0.2}, {"optimizer": "momentum"}])
@pytest.mark.parametrize("folded_before", [False, True])
def test_what_the_fold_cannot_keep_takes_the_old_path(settings, folded_before, monkeypatch):
    X, y = _data(np.float32)
    net, ref = _net(np.float32), _net(np.float32)
    if folded_before:  # a plain SGD fit first folds the parameters; this fit unfolds them
        net.fit(X, y, epochs=1, batch_size=10, learning_rate=0.3, seed=4)
        ref.fit(X, y, epochs=1, batch_size=10, learning_rate=0.3, seed=4)
        assert folded(net.weights[0], net.biases[0]) is not None
    seen = _record_folding(monkeypatch)
    net.fit(X, y, epochs=1, batch_size=10, learning_rate=0.3, seed=4, **settings)
    assert seen and not any(seen)
    for W, b in zip(net.weights, net.biases, strict=True):
        assert W.flags.c_contiguous and b.flags.c_contiguous and folded(W, b) is None
    ref.weights = [W.copy() for W in ref.weights]  # the same values, never folded
    ref.biases = [b.copy() for b in ref.biases]
    ref.fit(X, y, epochs=1, batch_size=10, learning_rate=0.3, seed=4, **settings)
    for p, q in zip([*net.weights, *net.biases], [*ref.weights, *ref.biases], strict=True):
        np.testing.assert_array_equal(p, q)


def test_few_batches_or_big_layers_do_not_fold(monkeypatch):
    seen = _record_folding(monkeypatch)
    X, y = _data(np.float64, n=10 * GRAD_NORM_BATCHES)  # every batch measured: none fused
    _net(np.float64).fit(X, y, epochs=1, batch_size=10, learning_rate=0.3)
    X, y = _data(np.float64, n=400, inputs=300)
    _net(np.float64, sizes=(300, 100, 3)).fit(X, y, epochs=1, batch_size=10, learning_rate=0.1)
    assert seen and not any(seen)


def test_a_users_activation_is_not_folded():
    class Mine(Activation):
        name = "mine"

        def forward(self, z, out=None):
            return np.tanh(z, out=out)

        def derivative(self, z, a):
            return 1 - a**2

    engine = Engine([Sigmoid(), Mine(), Softmax()], LogLikelihood())
    W, b = [np.ones((8, 4)), np.ones((3, 8))], [np.zeros(8), np.zeros(3)]
    fold_parameters(W, b)
    assert not engine.foldable(W, 10)
    assert not engine.layers(W, b, 10, fold=True).folded
    assert Engine([Sigmoid(), Tanh(), Softmax()], LogLikelihood()).layers(W, b, 10, True).folded


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("given_ones", [True, False])
def test_folded_layers_pass_as_the_unfolded_ones(dtype, given_ones):
    # The same network, folded and not: forward values, the gradients of a backward pass
    # (eqs. 5, 9, 13, 15) and one fused SGD step with weight decay agree to round-off.
    engine = Engine([Sigmoid(), ReLU(), Tanh(), Softmax()], LogLikelihood())
    rng = np.random.default_rng(7)
    sizes = [4, 6, 5, 3]
    W = [rng.normal(size=(sizes[i + 1], sizes[i])).astype(dtype) for i in range(3)]
    b = [rng.normal(size=sizes[i + 1]).astype(dtype) for i in range(3)]
    Wf, bf = [w.copy() for w in W], [v.copy() for v in b]
    fold_parameters(Wf, bf)
    X = rng.normal(size=(9, 4)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 9)]
    plain, fold = engine.layers(W, b, 9), engine.layers(Wf, bf, 9, fold=True)
    assert fold.folded and not plain.folded
    ones = np.ones((9, 5), dtype)
    ones[:, :-1] = X
    tol = 2e-5 if dtype == np.float32 else 1e-12
    close = lambda p, q: np.testing.assert_allclose(p, q, rtol=tol, atol=tol)  # noqa: E731
    given = ones if given_ones else None
    close(engine.forward(fold, ones[:, :-1], ones=given), engine.forward(plain, X))
    for l in range(2, 5):
        close(fold.z[l], plain.z[l])
        close(fold.a[l], plain.a[l])
    got, want = engine.gradients(fold, Y), engine.gradients(plain, Y)
    mine, theirs = got.grad_weights + got.grad_biases, want.grad_weights + want.grad_biases
    for p, q in zip(mine, theirs, strict=True):
        close(p, q)
    for l in range(2, 5):
        close(fold.delta[l], plain.delta[l])
    engine.forward(fold, ones[:, :-1], ones=given)
    engine.forward(plain, X)
    for _ in engine.backward(fold, Y, step=(0.5, 0.9)):
        pass
    for _ in engine.backward(plain, Y, step=(0.5, 0.9)):
        pass
    for p, q in zip([*Wf, *bf], [*W, *b], strict=True):
        close(p, q)
    with pytest.raises(ValueError, match="dropout"):
        engine.forward(fold, X, dropout=[0.0, 0.5, 0.5, 0.0], rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batches_carry_a_column_of_ones_next_to_each_gathered_batch(dtype):
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(47, 3)).astype(dtype), rng.normal(size=(47, 2)).astype(dtype)
    batches = Batches(X, Y, 5)
    batches.carry_ones()
    for _ in range(2):  # the ones are written once and never overwritten
        order = rng.permutation(47)
        for k, Xb, Yb in batches.epoch(order):
            rows = order[k * 5 : (k + 1) * 5]
            np.testing.assert_array_equal(Xb, X[rows])
            np.testing.assert_array_equal(Yb, Y[rows])
            full = batches.with_ones[id(Xb)]
            np.testing.assert_array_equal(full[:, :-1], X[rows])
            np.testing.assert_array_equal(full[:, -1], 1)
            assert full.flags.c_contiguous
