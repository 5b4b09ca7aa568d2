"""The tiny network's step (issue 25): its NumPy kernels and its per-fit set-up.

A [4, 8, 3] step is a few microseconds of arithmetic, so the engine's NumPy kernels
for sigmoid's σ′ product and a few-class softmax work in buffers made once, and a
fit holds no Python object per batch.  These must train exactly as the plain
formulas do: checked here against an independent NumPy implementation of
mini-batch SGD (seed §5), with a smaller last batch, in float32 and float64.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import chainrule
from chainrule.engine import Engine, _softmax_kernel
from chainrule.functions import Identity, LogLikelihood, Sigmoid, Softmax
from chainrule.training.trainer import Trainer

DTYPES = [np.float32, np.float64]


def _tiny(dtype, seed=1):
    return chainrule.Network(
        [4, 8, 3],
        activation="sigmoid",
        output_activation="softmax",
        cost="log_likelihood",
        seed=seed,
        dtype=dtype,
    )


def _reference_sgd(W, b, X, Y, batch_size, eta, epochs):
    """Mini-batch SGD on a sigmoid/softmax/log-likelihood net, written out in float64."""
    W = [w.astype(np.float64) for w in W]
    b = [v.astype(np.float64) for v in b]
    for _ in range(epochs):
        for lo in range(0, len(X), batch_size):
            x, y = X[lo : lo + batch_size].astype(np.float64), Y[lo : lo + batch_size]
            h = 1 / (1 + np.exp(-(x @ W[0].T + b[0])))  # eqs. 1, 2
            z = h @ W[1].T + b[1]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            d2 = (e / e.sum(axis=1, keepdims=True) - y) / len(x)  # δ^L (eq. 5), batch mean
            d1 = (d2 @ W[1]) * h * (1 - h)  # eq. 9
            for l, (d, a) in enumerate(((d1, x), (d2, h))):
                W[l] -= eta * d.T @ a  # eq. 13
                b[l] -= eta * d.sum(axis=0)  # eq. 15
    return W, b


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiny_fit_is_plain_minibatch_sgd_with_a_smaller_last_batch(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(57, 4)).astype(dtype)  # batches of 10, the last of 7
    y = rng.integers(0, 3, 57)
    net = _tiny(dtype)
    W, b = _reference_sgd(net.weights, net.biases, X, np.eye(3)[y], 10, 0.5, epochs=3)
    net.fit(X, y, epochs=3, batch_size=10, learning_rate=0.5, shuffle=False)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for got, want in zip([*net.weights, *net.biases], [*W, *b], strict=True):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shuffled_tiny_fit_is_the_same_as_fresh_buffers_per_batch(dtype):
    # The epoch reuses its gather and layer buffers batch after batch; training the
    # same order batch by batch with a new network's engine layers each time agrees.
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(33, 4)).astype(dtype), rng.integers(0, 3, 33)
    order = rng.permutation(33)
    net, ref = _tiny(dtype), _tiny(dtype)
    with Trainer(net, X, y, epochs=1, batch_size=8, learning_rate=0.3) as trainer:
        trainer.run_epoch(order)
    Y = np.eye(3, dtype=dtype)[y]
    engine = ref.engine
    for lo in range(0, 33, 8):
        rows = order[lo : lo + 8]
        layers = engine.layers(ref.weights, ref.biases, len(rows))
        engine.forward(layers, X[rows].copy())
        for layer in engine.backward(layers, Y[rows].copy()):
            layer.W -= dtype(0.3) * layer.grad_W
            layer.b -= dtype(0.3) * layer.grad_b
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for got, want in zip([*net.weights, *net.biases], [*ref.weights, *ref.biases], strict=True):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 10, 40])
@pytest.mark.parametrize("classes", [2, 3, 10])
def test_softmax_kernel_is_softmax_and_never_overflows(dtype, n, classes):
    rng = np.random.default_rng(n + classes)
    z = (rng.normal(size=(n, classes)) * 30).astype(dtype)
    z[0, 0] = 1e4  # an overflowing exp without the row maximum
    z[-1, :] = -1e4  # every e^z underflows without it
    out = np.empty_like(z)
    forward = _softmax_kernel(Softmax(), out)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        got = forward(z, out)
    assert got is out
    want = Softmax().forward(z)
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=8 * np.finfo(dtype).eps)
    # Other shapes (or no out) are the activation's own softmax.
    assert forward(z[:1].copy()).shape == (1, classes)
    np.testing.assert_allclose(forward(z[:1].copy()), want[:1], rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_engine_kernels_are_the_activations_own_values(dtype):
    engine = Engine([Sigmoid(), Sigmoid(), Softmax()], LogLikelihood())
    rng = np.random.default_rng(2)
    W = [rng.normal(size=(8, 4)).astype(dtype), rng.normal(size=(3, 8)).astype(dtype)]
    b = [rng.normal(size=8).astype(dtype), rng.normal(size=3).astype(dtype)]
    layers = engine.layers(W, b, n=10)
    X = rng.normal(size=(10, 4)).astype(dtype)
    engine.forward(layers, X)
    sig, smax = layers.kernels[2], layers.kernels[3]
    np.testing.assert_allclose(layers.a[3], Softmax().forward(layers.z[3]), rtol=4e-7, atol=0)
    # Sigmoid's σ′ product: bit for bit the activation's, on its own buffers and others.
    d = rng.normal(size=(10, 8)).astype(dtype)
    want = Sigmoid().times_derivative(d.copy(), layers.z[2], layers.a[2])
    np.testing.assert_array_equal(sig.times_derivative(d.copy(), layers.z[2], layers.a[2]), want)
    a_other = layers.a[2][:4].copy()
    np.testing.assert_array_equal(
        sig.times_derivative(d[:4].copy(), None, a_other),
        Sigmoid().times_derivative(d[:4].copy(), None, a_other),
    )
    assert smax.forward(layers.z[3][:2].copy()).shape == (2, 3)


def test_a_fit_holds_no_python_object_per_batch():
    # Thousands of batches must not mean thousands of tuples held through the epoch:
    # they set off the garbage collector, and in a fresh process its full collection
    # (tens of ms, as much again as a one-epoch fit of a tiny network).
    rng = np.random.default_rng(3)
    X, y = rng.random((4000, 4)), rng.integers(0, 3, 4000)
    net = _tiny(np.float64)
    net.fit(X[:4], y[:4], epochs=1, batch_size=2)  # SciPy's imports, the BLAS kernels
    trainer = Trainer(net, X, y, epochs=1, batch_size=2, learning_rate=0.1)
    collections: list[int] = []

    def seen(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(seen)
    try:
        with trainer:
            trainer.run_epoch()  # 2,000 batches
    finally:
        gc.callbacks.remove(seen)
    assert len(collections) <= 1, collections


@pytest.mark.parametrize("shuffle", [False, True])
def test_epoch_metrics_scored_in_blocks_equal_one_pass(monkeypatch, shuffle):
    """The epoch's training loss and accuracy, scored a block of rows at a time (bounded
    temporaries), equal one pass over all the rows — weighted rows and shuffles too."""
    import chainrule.training.loop as loop

    rng = np.random.default_rng(5)
    X = rng.normal(size=(301, 4))
    y = rng.integers(0, 3, 301)
    w = rng.random(301) + 0.5

    def fit(block: int) -> list[tuple[float, float]]:
        monkeypatch.setattr(loop, "_METRIC_ROWS", block)
        net = chainrule.Network(
            [4, 8, 3], output_activation="softmax", cost="log_likelihood", seed=1
        )
        net.fit(X, y, epochs=3, batch_size=10, shuffle=shuffle, seed=2, sample_weight=w)
        return list(zip(net.history.train_loss, net.history.train_accuracy, strict=True))

    blocked, whole = fit(7), fit(1 << 20)
    np.testing.assert_allclose(blocked, whole, rtol=1e-12)
    assert len(blocked) == 3 and 0 < blocked[-1][1] <= 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["own", "c-view"])
def test_bias_by_blas_is_numpys_addition_bit_for_bit(dtype, layout):
    # Eq. 1's z^l += b^l by ?ger (a rank-one update in place) is exact: the same bits
    # as NumPy's broadcast addition, in the layer's buffers and in a caller's outputs
    # (C-ordered, as ``ndarray.dot(..., out)`` requires them).
    engine = Engine([Identity(), Sigmoid(), Softmax()], LogLikelihood())
    rng = np.random.default_rng(4)
    W = [rng.normal(size=(8, 4)).astype(dtype), rng.normal(size=(3, 8)).astype(dtype)]
    b = [rng.normal(size=8).astype(dtype), rng.normal(size=3).astype(dtype)]
    X = rng.normal(size=(10, 4)).astype(dtype)
    b_before = [v.copy() for v in b]
    layers = engine.layers(W, b, n=10)
    assert all(add is not None for add in layers.bias_add[2:])  # the BLAS path is taken
    output = None
    if layout == "c-view":
        buffers = np.zeros((2, 30, 3), dtype)
        output = (buffers[0, 10:20], buffers[1, 10:20])
    got = engine.forward(layers, X, output=output)
    plain = engine.layers(W, b, n=10)
    plain.bias_add = [None] * len(plain.bias_add)  # NumPy's z += b
    want = engine.forward(plain, X)
    np.testing.assert_array_equal(layers.z[2], plain.z[2])
    np.testing.assert_array_equal(layers.z[3], plain.z[3])
    np.testing.assert_array_equal(got, want)
    if output is not None:
        assert layers.z[3] is output[0] and got is output[1]
    np.testing.assert_array_equal(layers.z[2], X @ W[0].T + b[0])
    np.testing.assert_array_equal(layers.z[3], layers.a[2] @ W[1].T + b[1])
    for v, before in zip(b, b_before, strict=True):  # ?ger reads b^l, never writes it
        np.testing.assert_array_equal(v, before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_empty_batch_adds_its_bias_without_blas(dtype):
    # An MPI rank's share of a global batch can be empty; ?ger refuses a 0-row matrix
    # ("unexpected array size"), so layers of 0 rows take NumPy's addition.
    engine = Engine([Identity(), Sigmoid(), Softmax()], LogLikelihood())
    rng = np.random.default_rng(5)
    W = [rng.normal(size=(8, 4)).astype(dtype), rng.normal(size=(3, 8)).astype(dtype)]
    b = [rng.normal(size=8).astype(dtype), rng.normal(size=3).astype(dtype)]
    layers = engine.layers(W, b, n=0)
    assert layers.bias_add[2:] == [None, None]
    out = engine.forward(layers, np.empty((0, 4), dtype))
    assert out.shape == (0, 3) and out.dtype == dtype


def test_a_shuffled_epoch_gathers_a_bounded_buffer_many_times():
    # 3,000 batches of a tiny network: the gather buffer holds at most 256 of them
    # (not the whole set), refilled as the epoch goes; each batch is still its rows.
    from chainrule.training.loop import _GATHER_BATCHES, Batches

    rng = np.random.default_rng(6)
    X, Y = rng.random((30_005, 4)), rng.random((30_005, 3))
    batches = Batches(X, Y, 10)
    assert batches.per_chunk == _GATHER_BATCHES == 256
    assert batches.xchunk.shape == (2560, 4)
    order = rng.permutation(30_005)
    seen = 0
    for k, Xb, Yb in batches.epoch(order):
        rows = order[k * 10 : (k + 1) * 10]
        np.testing.assert_array_equal(Xb, X[rows])
        np.testing.assert_array_equal(Yb, Y[rows])
        seen += len(Xb)
    assert seen == 30_005 and len(Xb) == 5  # the last batch: 5 rows


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 10, 40])
@pytest.mark.parametrize("classes", [2, 3, 10])
def test_softmax_kernel_shifts_by_the_row_maximum_only_when_exp_could_leave_range(
    dtype, n, classes
):
    # Σ z² < 60² bounds every |z| below 60: e^z is then taken of z itself (no row
    # maximum, no broadcast subtraction); past it, of z − max_j z.  Both are softmax to
    # a few units of round-off against long doubles, and each is the formula it claims, bit for bit.
    rng = np.random.default_rng(7 * n + classes)
    ones = np.ones((classes, classes), dtype)
    out = np.empty((n, classes), dtype)
    forward = _softmax_kernel(Softmax(), out)
    small = (rng.normal(size=(n, classes)) * 25 / np.sqrt(n * classes)).astype(dtype)
    big = small.copy()
    big[-1, 0] = 59.0 if n * classes == 2 else 45.0  # every |z| < 60, but Σ z² ≥ 60²
    big[0, -1] = -45.0
    for z, shifted in ((small, False), (big, True)):
        assert (float(np.sum(z.astype(np.float64) ** 2)) >= 3600) == shifted
        got = forward(z, out).copy()
        e = np.exp(z - z.max(axis=1, keepdims=True)) if shifted else np.exp(z)
        np.testing.assert_array_equal(got, e / (e @ ones))
        zl = z.astype(np.longdouble)  # (x86's 80-bit floats: a reference for float64 too)
        want = np.exp(zl - zl.max(axis=1, keepdims=True))
        want /= want.sum(axis=1, keepdims=True)
        # (z − max rounds z's last bits, which exp magnifies by |z − max|: the shifted
        # formula's error grows with the logits' spread; e^z of z itself does not.)
        ulps = 64 if shifted else 8
        np.testing.assert_allclose(got, want, rtol=ulps * np.finfo(dtype).eps, atol=1e-30)
    # NaN logits stay NaN (the check is false for NaN and takes the shifted path).
    z = small.copy()
    z[0, 0] = np.nan
    assert np.isnan(forward(z, out)[0]).all()
