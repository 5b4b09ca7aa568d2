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
    return chainrule.Network([4, 6, 5, 3], activation="tanh", output_activation="softmax",
                             cost="log_likelihood", seed=seed, init="normal", **kw)


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
    assert not NUMPY_OPS.fuses_descent  # NumPy has no GEMM with β = 1 of its own


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
    monkeypatch.setattr(net.ops, "descend_product",
                        lambda *a: (calls.append(1), real(*a))[1])
    h0 = twin.fit(X, y, **kw)
    h1 = net.fit(X, y, **kw)
    # 45 batches an epoch, measured every 2nd: 22 fused steps × 3 layers × 3 epochs.
    assert len(calls) == 22 * 3 * 3
    for got, want in zip(net.weights + net.biases, twin.weights + twin.biases, strict=True):
        np.testing.assert_allclose(to_numpy(got), want, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h1.train_loss, h0.train_loss, rtol=1e-10)
    np.testing.assert_allclose(h1.grad_norms, h0.grad_norms, rtol=1e-10)


@pytest.mark.slow
def test_anything_that_reads_the_gradient_turns_fusing_off(monkeypatch):
    torch = pytest.importorskip("torch")
    assert torch is not None
    X, y = _data()
    net = _net("torch")
    monkeypatch.setattr(net.ops, "descend_product",
                        lambda *a: pytest.fail("fused although the gradient was read"))
    net.fit(X, y, epochs=1, batch_size=2, callbacks=[_Norms()])
    net.fit(X, y, epochs=1, batch_size=2, l1=0.1)
    net.fit(X, y, epochs=1, batch_size=2, clip_norm=1.0)
    net.fit(X, y, epochs=1, batch_size=2, optimizer="momentum")
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
    want = np.sqrt((sampled ** 2).mean(axis=0))
    np.testing.assert_allclose(h.grad_norms[0], want, rtol=1e-12)
    every = np.sqrt((np.asarray(rec.norms) ** 2).mean(axis=0))
    assert not np.allclose(h.grad_norms[0], every, rtol=1e-3)  # a different number


def test_small_epochs_measure_every_batch():
    X, y = _data(30)
    net, rec = _net(), _Norms()
    h = net.fit(X, y, epochs=1, batch_size=1, callbacks=[rec])
    want = np.sqrt((np.asarray(rec.norms) ** 2).mean(axis=0))
    np.testing.assert_allclose(h.grad_norms[0], want, rtol=1e-12)
