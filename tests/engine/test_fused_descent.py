"""Plain SGD folded into eq. 13 (``Engine.backward(step=…)``) and the sampled gradient norms.

Where a namespace's product can update the weights in place (PyTorch's ``addmm_``),
plain SGD whose gradient nothing else reads skips storing ``∇W``: it must train
exactly as the two-step path does (to rounding), and fall back to it whenever
something does read the gradient.  The history's gradient norms are measured on
about ``GRAD_NORM_BATCHES`` evenly spaced batches of an epoch, on every backend.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule
from chainrule import backend as backend_module
from chainrule.backend import NUMPY_OPS, resolve_backend, to_numpy
from chainrule.training.callbacks import Callback
from chainrule.training.loop import GRAD_NORM_BATCHES
from chainrule.training.optimizers import SGD


class _Norms(Callback):
    """Records ‖∇W^l‖ of every batch (reading the gradient turns fusing off)."""

    def __init__(self) -> None:
        self.norms: list[list[float]] = []

    def on_gradients(self, net, info) -> None:
        self.norms.append([float(np.linalg.norm(to_numpy(g))) for g in info.grad_weights])


class _PlainSGDSubclass(SGD):
    """A user's optimizer that looks like SGD but does its own per-layer step."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def step_layer(self, layer, lr):  # type: ignore[override]
        self.calls += 1
        layer.descend(lr)


def _data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)), rng.integers(0, 3, n)


def _net(backend=None, seed=3):
    kw = {} if backend is None else {"backend": backend}
    return chainrule.Network(
        [4, 6, 5, 3],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=seed,
        init="normal",
        **kw,
    )


def test_descend_product_is_the_step_on_every_namespace():
    rng = np.random.default_rng(0)
    W, dT, a = rng.normal(size=(3, 5)), rng.normal(size=(3, 7)), rng.normal(size=(7, 5))
    want = 0.9 * W - 0.25 * (dT @ a)
    names = ["numpy", "array_api_strict"] + (["torch"] if _has("torch") else [])
    for name in names:
        ops = resolve_backend(name)
        Wx = ops.asarray(W.copy(), None)
        ops.descend_product(Wx, ops.asarray(dT, None), ops.asarray(a, None), 0.25, 0.9)
        np.testing.assert_allclose(to_numpy(Wx), want, rtol=1e-14, atol=1e-15, err_msg=name)
    assert NUMPY_OPS.fuses_descent  # through BLAS's ?gemm with β = 1 (backend.BlasKernels)


def test_engine_backward_with_a_step_updates_as_the_gradients_say():
    net = _net()
    X, y = _data(12)
    Y = np.eye(3)[y]
    twin = _net()
    grads_w, grads_b = twin.backprop(X, Y)
    layers = net.engine.layers(net.weights, net.biases, len(X))
    net.engine.forward(layers, X)
    eta, shrink = 0.3, 0.99
    before = [W.copy() for W in net.weights], [b.copy() for b in net.biases]
    done = [layer.l for layer in net.engine.backward(layers, Y, step=(eta, shrink))]
    assert done == [4, 3, 2]
    for W, W0, g in zip(net.weights, before[0], grads_w, strict=True):
        np.testing.assert_allclose(W, shrink * W0 - eta * g, rtol=1e-13, atol=1e-15)
    for b, b0, g in zip(net.biases, before[1], grads_b, strict=True):
        np.testing.assert_allclose(b, b0 - eta * g, rtol=1e-13, atol=1e-15)


def _has(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("l2", [0.0, 0.5])
def test_fused_sgd_on_torch_follows_numpy_and_fuses(l2, monkeypatch):
    pytest.importorskip("torch")
    X, y = _data()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    kw = dict(epochs=3, batch_size=2, learning_rate=0.1, dropout=0.2, l2=l2, sample_weight=sw)
    twin, net = _net(), _net("torch")
    calls = []
    real = net.ops.descend_product
    monkeypatch.setattr(net.ops, "descend_product", lambda *a: (calls.append(1), real(*a))[1])
    h0 = twin.fit(X, y, **kw)
    h1 = net.fit(X, y, **kw)
    # 45 batches an epoch, measured every 2nd: 22 fused steps × 3 layers × 3 epochs.
    assert len(calls) == 22 * 3 * 3
    for got, want in zip(net.weights + net.biases, twin.weights + twin.biases, strict=True):
        np.testing.assert_allclose(to_numpy(got), want, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h1.train_loss, h0.train_loss, rtol=1e-10)
    np.testing.assert_allclose(h1.grad_norms, h0.grad_norms, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_anything_that_reads_the_gradient_turns_fusing_off(backend, monkeypatch):
    if backend == "torch":
        pytest.importorskip("torch")
    X, y = _data()
    net = _net(backend)

    def fused(*args):
        pytest.fail("fused although the gradient was read")

    monkeypatch.setattr(net.ops, "descend_product", fused)
    monkeypatch.setattr(net.ops, "descent_kernel", lambda *a: fused)
    monkeypatch.setattr(net.ops, "momentum_kernel", lambda *a: fused)
    net.fit(X, y, epochs=1, batch_size=2, callbacks=[_Norms()])
    net.fit(X, y, epochs=1, batch_size=2, l1=0.1)
    net.fit(X, y, epochs=1, batch_size=2, clip_norm=1.0)
    net.fit(X, y, epochs=1, batch_size=2, optimizer="momentum", l2=0.5)  # ∇ + (λ/n)W
    net.fit(X, y, epochs=1, batch_size=2, optimizer="nesterov", clip_norm=1.0)
    net.fit(X, y, epochs=1, batch_size=2, optimizer="adam")
    opt = _PlainSGDSubclass()
    net.fit(X, y, epochs=1, batch_size=2, optimizer=opt)
    assert opt.calls == 45 * 3  # its own step_layer, every layer of every batch


def test_grad_norms_are_the_rms_over_evenly_spaced_batches():
    X, y = _data(100)
    net, rec = _net(), _Norms()
    h = net.fit(X, y, epochs=1, batch_size=1, callbacks=[rec])
    stride = math.ceil(100 / GRAD_NORM_BATCHES)  # 4: batches 0, 4, …, 96
    sampled = np.asarray(rec.norms[::stride])
    assert len(sampled) == 25
    want = np.sqrt((sampled**2).mean(axis=0))
    np.testing.assert_allclose(h.grad_norms[0], want, rtol=1e-12)
    every = np.sqrt((np.asarray(rec.norms) ** 2).mean(axis=0))
    assert not np.allclose(h.grad_norms[0], every, rtol=1e-3)  # a different number


def test_small_epochs_measure_every_batch():
    X, y = _data(30)
    net, rec = _net(), _Norms()
    h = net.fit(X, y, epochs=1, batch_size=1, callbacks=[rec])
    want = np.sqrt((np.asarray(rec.norms) ** 2).mean(axis=0))
    np.testing.assert_allclose(h.grad_norms[0], want, rtol=1e-12)


# ----------------------------------------------------------------- NumPy: BLAS ?gemm


def _two_step(monkeypatch):
    """Make NumPy's fused step the two-step path (no BLAS kernels), as before issue 25."""
    monkeypatch.setattr(backend_module, "_BLAS", [None])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("l2", [0.0, 0.5])
def test_fused_sgd_on_numpy_trains_as_the_two_step_path(dtype, l2, monkeypatch):
    X, y = _data()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    kw = dict(epochs=3, batch_size=2, learning_rate=0.1, dropout=0.2, l2=l2, sample_weight=sw)
    fused = chainrule.Network(
        [4, 6, 5, 3],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=3,
        init="normal",
        dtype=dtype,
    )
    calls = []
    real = NUMPY_OPS.descent_kernel

    def counted(*args):
        kernel = real(*args)
        return lambda *a: (calls.append(1), kernel(*a))[1]

    monkeypatch.setattr(NUMPY_OPS, "descent_kernel", counted)
    h1 = fused.fit(X, y, **kw)
    assert len(calls) == 22 * 3 * 3  # 45 batches an epoch, every 2nd measured
    monkeypatch.undo()
    _two_step(monkeypatch)
    assert not NUMPY_OPS.fuses_descent
    plain = chainrule.Network(
        [4, 6, 5, 3],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=3,
        init="normal",
        dtype=dtype,
    )
    h0 = plain.fit(X, y, **kw)
    tol = 2e-5 if dtype == "float32" else 1e-11
    for got, want in zip(fused.weights + fused.biases, plain.weights + plain.biases, strict=True):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(h1.train_loss, h0.train_loss, rtol=tol)


def _layer_arrays(rng, n, M, N, dtype):
    W = rng.normal(size=(M, N)).astype(dtype)
    b = rng.normal(size=M).astype(dtype)
    d = rng.normal(size=(n, M)).astype(dtype)
    a = rng.normal(size=(n, N)).astype(dtype)
    return W, b, d, a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("route", ["scipy", "cblas", "shared"])
@pytest.mark.parametrize("a_kind", ["c", "fortran", "rows", "other-dtype"])
def test_blas_step_is_the_update_and_stores_no_gradient(dtype, route, a_kind, monkeypatch):
    """Each route of the fused step (SciPy's wrappers for single-thread sizes, NumPy's own
    ``cblas_?gemm`` for big ones, SciPy's for all when the BLAS is shared) updates W and b
    in place to ``shrink·W − η dᵀa`` and ``b − η Σ d``, for any layout of ``a^{l-1}``."""
    kernels = backend_module.blas_kernels()
    assert kernels is not None
    if route == "cblas":
        if kernels.cblas is None:
            pytest.skip("NumPy's BLAS has no cblas_?gemm64_ to call (two-step path instead)")
        monkeypatch.setattr(backend_module, "SINGLE_THREAD_GEMM", 0)
        monkeypatch.setattr(backend_module, "SINGLE_THREAD_GEMV", 0)  # b through NumPy
    if route == "shared":
        monkeypatch.setattr(kernels, "shared", True)
    rng = np.random.default_rng(5)
    W, b, d, a = _layer_arrays(rng, 9, 6, 7, dtype)
    if a_kind == "fortran":
        a = np.asfortranarray(a)
    elif a_kind == "rows":
        a = np.concatenate([a, a], axis=1)[:, :7]  # a row stride wider than a row
    elif a_kind == "other-dtype":
        a = a.astype(np.float64 if dtype is np.float32 else np.float32)
    eta, shrink = 0.25, 0.9
    want_W = shrink * W.astype(np.float64) - eta * (d.T.astype(np.float64) @ a)
    want_b = b - eta * d.astype(np.float64).sum(axis=0)
    grad_W = np.full_like(W, np.nan)
    grad_b = np.full_like(b, np.nan)
    step = NUMPY_OPS.descent_kernel(W, b, grad_b, grad_W)
    W_id, b_id = W.__array_interface__["data"][0], b.__array_interface__["data"][0]
    step(d, a, eta, shrink)
    tol = 1e-5 if dtype is np.float32 else 1e-12
    np.testing.assert_allclose(W, want_W, rtol=tol, atol=tol)
    np.testing.assert_allclose(b, want_b, rtol=tol, atol=tol)
    assert W.__array_interface__["data"][0] == W_id and b.__array_interface__["data"][0] == b_id
    assert W.dtype == dtype and b.dtype == dtype
    if a_kind == "c" or route != "cblas":
        # The fused product: no ∇W or ∇b was stored (the two-step path writes both).
        assert np.isnan(grad_W).all() and np.isnan(grad_b).all()


@pytest.mark.parametrize("kind", ["fortran", "readonly", "float16"])
def test_arrays_blas_cannot_update_take_the_two_step_path(kind):
    rng = np.random.default_rng(6)
    W, b, d, a = _layer_arrays(rng, 5, 4, 3, np.float64)
    if kind == "fortran":
        W = np.asfortranarray(W)
    elif kind == "float16":
        W, b, d, a = (x.astype(np.float16) for x in (W, b, d, a))
    want_W = 0.5 * W.astype(np.float64) - 0.1 * (d.T.astype(np.float64) @ a)
    want_b = b.astype(np.float64) - 0.1 * d.astype(np.float64).sum(axis=0)
    grad_W, grad_b = np.empty(W.shape, W.dtype), np.empty_like(b)  # as Engine.layers
    if kind == "readonly":
        W.flags.writeable = False
        assert not backend_module.BlasKernels.ready(W)
        return
    step = NUMPY_OPS.descent_kernel(W, b, grad_b, grad_W)
    step(d, a, 0.1, 0.5)
    tol = 1e-2 if kind == "float16" else 1e-12
    np.testing.assert_allclose(W, want_W, rtol=tol, atol=tol)
    np.testing.assert_allclose(b, want_b, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_b, d.astype(np.float64).sum(axis=0), rtol=tol, atol=tol)


def test_numpy_finds_its_own_blas_for_big_products():
    """threadpoolctl names the BLAS libraries loaded; with two (NumPy's and SciPy's
    wheels) the big products must call NumPy's, never SciPy's multi-threaded one."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    kernels = backend_module.blas_kernels()
    libs = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert kernels is not None
    assert kernels.shared == (len(libs) == 1)
    if not kernels.shared and kernels.cblas is None:
        pytest.skip("NumPy's BLAS has no 64-bit cblas_?gemm: big products use two steps")
    assert kernels.shared or set(kernels.cblas) == {np.float32, np.float64}


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_momentum_trains_as_the_optimizers_own_step(backend, optimizer, dtype, monkeypatch):
    """v ← μv − ηδᵀa inside the product, then θ ← θ + v (Nesterov: θ − μv_old + (1 + μ)v):
    the same run as Momentum.step on the stored gradient (NumPy without BLAS kernels)."""
    if backend == "torch":
        pytest.importorskip("torch")
    X, y = _data()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    kw = dict(
        epochs=3,
        batch_size=2,
        learning_rate=0.05,
        dropout=0.2,
        sample_weight=sw,
        optimizer=optimizer,
    )

    def make(backend_name):
        extra = {} if backend_name == "numpy" else {"backend": backend_name}
        return chainrule.Network(
            [4, 6, 5, 3],
            activation="tanh",
            output_activation="softmax",
            cost="log_likelihood",
            seed=3,
            init="normal",
            dtype=dtype,
            **extra,
        )

    fused = make(backend)
    calls = []
    ops = fused.ops
    real = ops.momentum_kernel

    def counted(*args):
        kernel = real(*args)
        return lambda *a: (calls.append(1), kernel(*a))[1]

    monkeypatch.setattr(ops, "momentum_kernel", counted)
    h1 = fused.fit(X, y, **kw)
    h1b = fused.fit(X, y, **{**kw, "epochs": 1})  # the velocities carry over between fits
    assert len(calls) == 22 * 3 * 4  # 45 batches an epoch, every 2nd measured (unfused)
    monkeypatch.undo()
    _two_step(monkeypatch)
    plain = make("numpy")
    h0 = plain.fit(X, y, **kw)
    h0b = plain.fit(X, y, **{**kw, "epochs": 1})
    # float32: 180 momentum steps amplify the round-off of a different summation order to
    # ~1e-3 (float64 agrees to 1e-10); a wrong update would be off by O(1).
    tol = 5e-3 if dtype == "float32" else 1e-10
    for got, want in zip(fused.weights + fused.biases, plain.weights + plain.biases, strict=True):
        np.testing.assert_allclose(to_numpy(got), want, rtol=tol, atol=tol)
    for v, w in zip(fused.optimizer.velocity, plain.optimizer.velocity, strict=True):
        np.testing.assert_allclose(to_numpy(v), w, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        [*h1.train_loss, *h1b.train_loss], [*h0.train_loss, *h0b.train_loss], rtol=tol
    )


@pytest.mark.parametrize("route", ["scipy", "cblas", "two-step"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_kernel_is_one_momentum_step(route, nesterov, monkeypatch):
    kernels = backend_module.blas_kernels()
    if route == "cblas":
        if kernels is None or kernels.cblas is None:
            pytest.skip("NumPy's BLAS has no cblas_?gemm64_ to call")
        monkeypatch.setattr(backend_module, "SINGLE_THREAD_GEMM", 0)
        monkeypatch.setattr(backend_module, "SINGLE_THREAD_GEMV", 0)
    if route == "two-step":
        _two_step(monkeypatch)
    rng = np.random.default_rng(8)
    W, b, d, a = _layer_arrays(rng, 9, 6, 7, np.float64)
    vW, vb = rng.normal(size=W.shape), rng.normal(size=b.shape)
    eta, mu = 0.3, 0.9
    gW, gb = d.T @ a, d.sum(axis=0)
    new_vW, new_vb = mu * vW - eta * gW, mu * vb - eta * gb
    want_W = W + (mu * new_vW - eta * gW if nesterov else new_vW)
    want_b = b + (mu * new_vb - eta * gb if nesterov else new_vb)
    step = NUMPY_OPS.momentum_kernel(W, b, np.empty_like(b), np.empty(W.shape))
    step(d, a, eta, mu, nesterov, vW, vb)
    np.testing.assert_allclose(vW, new_vW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vb, new_vb, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(W, want_W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b, want_b, rtol=1e-12, atol=1e-12)
