"""The engine on other array namespaces: array-api-strict (CI) and PyTorch on the CPU.

The gradient matrix of the NumPy tests, run through a network whose parameters
live in another namespace: its backpropagation must match central differences of
its own loss (in that namespace), the seed's per-example oracle and the explicit
tensors of ``chainrule.tensors`` (both computed on the NumPy twin, made with the
same seed), and training must follow the NumPy run to rounding.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import chainrule
from chainrule.backend import ops_of, to_numpy
from chainrule.tensors import explicit_gradients
from seed_oracle import per_example_gradient

pytest.importorskip("array_api_strict")


def _backend(name: str) -> str:
    pytest.importorskip(name)
    return name


NAMESPACES = ["array_api_strict", "torch"]

# (hidden σ, output σ, cost, targets): every activation and cost, every δ^L form.
CASES = [
    ("sigmoid", "sigmoid", "quadratic", "onehot"),
    ("tanh", "softmax", "log_likelihood", "onehot"),
    ("relu", "sigmoid", "cross_entropy", "onehot"),
    ("leaky_relu", "identity", "quadratic", "real"),
    ("tanh", "softmax", "quadratic", "onehot"),
    ("sigmoid", "tanh", "quadratic", "real"),
    ("identity", "sigmoid", "quadratic", "real"),
]


def _twins(backend: str, hidden: str, out: str, cost: str, dtype=np.float64):
    # init="normal": non-zero biases, so no ReLU unit sits exactly on its kink.
    kw = dict(
        activation=hidden, output_activation=out, cost=cost, seed=3, dtype=dtype, init="normal"
    )
    return (
        chainrule.Network([4, 5, 6, 3], **kw),
        chainrule.Network([4, 5, 6, 3], backend=backend, **kw),
    )


def _data(targets: str, n: int = 6):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    Y = np.eye(3)[rng.integers(0, 3, n)] if targets == "onehot" else rng.normal(size=(n, 3))
    return X, Y


def _host(arrays):
    return [np.asarray(to_numpy(a)) for a in arrays]


@pytest.fixture(
    params=[(ns, *case) for ns in NAMESPACES for case in CASES], ids=lambda p: "-".join(p)
)
def case(request):
    """(NumPy twin, the namespace's network, X, Y) for one namespace and gradient case."""
    namespace, hidden, out, cost, targets = request.param
    return (*_twins(_backend(namespace), hidden, out, cost), *_data(targets))


def test_backprop_matches_central_differences_in_the_namespace(case):
    _, net, X, Y = case
    Xb = net.place(X)  # the namespace's own arrays as inputs
    gw, gb = net.backprop(Xb, net.place(Y))
    assert all(ops_of(g) is net.ops for g in [*gw, *gb])
    h = 1e-6
    for params, grads in ((net.weights, gw), (net.biases, gb)):
        for i, g in enumerate(_host(grads)):
            theta = np.array(to_numpy(params[i]))
            numeric = np.zeros_like(theta)
            for idx in np.ndindex(theta.shape):
                losses = []
                for step in (h, -h):
                    moved = theta.copy()
                    moved[idx] += step
                    params[i] = net.place(moved)
                    losses.append(net.loss(Xb, Y))
                numeric[idx] = (losses[0] - losses[1]) / (2 * h)
            params[i] = net.place(theta)
            np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)


def test_backprop_matches_the_seed_oracle_and_the_explicit_tensors(case):
    twin, net, X, Y = case
    gw, gb = net.backprop(X, Y)
    n = X.shape[0]
    oracle_w = [np.zeros(W.shape) for W in twin.weights]
    oracle_b = [np.zeros(b.shape) for b in twin.biases]
    for x, y in zip(X, Y, strict=True):
        ow, ob = per_example_gradient(twin, x, y)
        for acc, g in zip(oracle_w + oracle_b, list(ow) + list(ob), strict=True):
            acc += np.asarray(g).reshape(acc.shape) / n
    for got, want in zip(_host(gw + gb), oracle_w + oracle_b, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # One example: the explicit Jacobians and 3-tensors of seed §3–4.
    ew, eb = explicit_gradients(twin, X[0], Y[0])
    gw1, gb1 = net.backprop(X[:1], Y[:1])
    for got, want in zip(_host(gw1 + gb1), [*ew, *eb], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam", "adamw"])
def test_training_follows_the_numpy_run(namespace, optimizer):
    """Seeded: the same draws (init, shuffling, dropout) from NumPy's generator."""
    backend = _backend(namespace)
    twin, net = _twins(backend, "tanh", "softmax", "log_likelihood")
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    sw = rng.uniform(0.5, 2.0, 40)
    kw = dict(
        epochs=3,
        batch_size=7,
        learning_rate=0.2,
        optimizer=optimizer,
        dropout=0.2,
        l2=0.1,
        l1=0.01,
        validation_fraction=0.2,
        sample_weight=sw,
        clip_norm=5.0 if optimizer == "adam" else None,
    )
    h0 = twin.fit(X, y, **kw)
    h1 = net.fit(X, y, **kw)
    for a, b in zip(_host(net.weights + net.biases), twin.weights + twin.biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h1.train_loss, h0.train_loss, rtol=1e-10)
    np.testing.assert_allclose(h1.val_accuracy, h0.val_accuracy)
    labels = net.predict(X)
    assert ops_of(labels) is net.ops
    np.testing.assert_array_equal(to_numpy(labels), twin.predict(X))


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_float32_stays_float32(namespace):
    backend = _backend(namespace)
    twin, net = _twins(backend, "relu", "sigmoid", "cross_entropy", dtype=np.float32)
    X, Y = _data("onehot", 20)
    net.fit(X, Y, epochs=2, batch_size=5, learning_rate=0.1)
    twin.fit(X, Y, epochs=2, batch_size=5, learning_rate=0.1)
    out = net.feedforward(X)
    assert net.ops.numpy_dtype(out.dtype) == np.float32
    assert all(net.ops.numpy_dtype(W.dtype) == np.float32 for W in net.weights)
    np.testing.assert_allclose(to_numpy(out), twin.feedforward(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_to_save_and_load_move_between_backends(namespace, tmp_path):
    backend = _backend(namespace)
    net = chainrule.Network([3, 4, 2], seed=0)
    X = np.random.default_rng(0).normal(size=(5, 3))
    want = net.feedforward(X)
    assert net.to(backend) is net
    assert all(ops_of(W) is net.ops for W in net.weights)
    # σ to round-off: SciPy's expit on NumPy, torch.sigmoid or the e^{-|z|} formula here.
    np.testing.assert_allclose(to_numpy(net.feedforward(X)), want, rtol=1e-15)
    path = net.save(tmp_path / "m.npz")  # always NumPy arrays in the file
    with np.load(path) as f:
        assert isinstance(f["W2"], np.ndarray)
    loaded = chainrule.load(path, backend=backend)
    assert ops_of(loaded.weights[0]) is net.ops
    back = loaded.to("numpy")
    assert isinstance(back.weights[0], np.ndarray)
    np.testing.assert_array_equal(back.feedforward(X), want)


def test_unknown_backends_are_refused_in_one_line():
    with pytest.raises(ValueError, match="backend 'no_such_array_lib' is not installed"):
        chainrule.Network([2, 2], backend="no_such_array_lib")
    with pytest.raises(ValueError, match="is not an array namespace"):
        chainrule.Network([2, 2], backend=importlib.import_module("math"))
    with pytest.raises(ValueError, match="numpy backend has no device 'cuda'"):
        chainrule.Network([2, 2], device="cuda")


def test_lbfgs_refuses_other_backends():
    net = chainrule.Network([2, 3, 1], seed=0, backend="array_api_strict")
    with pytest.raises(ValueError, match="lbfgs"):
        net.fit(np.zeros((4, 2)), np.zeros((4, 1)), optimizer="lbfgs", epochs=2)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_to_moves_the_optimizer_state_so_training_resumes(namespace):
    backend = _backend(namespace)
    twin, net = _twins("numpy", "tanh", "softmax", "log_likelihood")
    X, y = _data("onehot", 30)
    for n in (twin, net):
        n.fit(X, y, epochs=2, batch_size=8, learning_rate=0.05, optimizer="adam")
    net.to(backend)
    assert all(ops_of(m) is net.ops for m in net.optimizer.m)
    for n in (twin, net):
        n.fit(X, y, epochs=2, batch_size=8, learning_rate=0.05)  # the same Adam, resumed
    for a, b in zip(_host(net.weights), twin.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_inputs_of_the_network_namespace_are_checked_where_they_live(namespace, monkeypatch):
    """No trip to the host and back (for a CUDA tensor, two copies of the data set)."""
    backend = _backend(namespace)
    twin, net = _twins(backend, "tanh", "softmax", "log_likelihood")
    X, y = _data("onehot", 30)
    Xb = net.ops.asarray(X, net.weights[0])
    # The very data (dtype and device already right): no copy.
    assert np.shares_memory(to_numpy(net.check_inputs(Xb)[0]), to_numpy(Xb))
    import chainrule.network as network_module

    def no_host(*args, **kwargs):
        raise AssertionError("X went through the host checks")

    monkeypatch.setattr(network_module.checks, "as_inputs", no_host)
    net.fit(Xb, y, epochs=2, batch_size=8, learning_rate=0.1, validation_fraction=0.2)
    predicted = net.predict(Xb[:5, ...])
    monkeypatch.undo()
    twin.fit(X, y, epochs=2, batch_size=8, learning_rate=0.1, validation_fraction=0.2)
    np.testing.assert_array_equal(to_numpy(predicted), twin.predict(X[:5]))
    for got, want in zip(_host(net.weights), twin.weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_bad_inputs_of_the_network_namespace_get_the_host_errors(namespace):
    backend = _backend(namespace)
    net = chainrule.Network([4, 3, 2], seed=0, backend=backend)
    X = np.ones((6, 4))
    X[3, 1] = np.nan
    for bad, message in [
        (X, "X contains nan at row 3, column 1"),
        (np.ones((6, 5)), "X has 5 columns, expected 4"),
        (np.ones((0, 4)), "X is empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            net.predict(net.ops.asarray(bad, net.weights[0]))
    single = net.predict(net.ops.asarray(np.ones(4), net.weights[0]))  # one example, 1-D
    assert tuple(single.shape) == ()
    as_float32 = net.ops.asarray(np.ones((2, 4), np.float32), net.weights[0])
    assert net.ops.numpy_dtype(net.check_inputs(as_float32)[0].dtype) == np.float64  # the network's


def test_a_tensor_that_requires_grad_trains_as_data():
    torch = pytest.importorskip("torch")
    net = chainrule.Network([4, 3, 2], seed=0, backend="torch")
    X = torch.ones((6, 4), dtype=torch.float64, requires_grad=True)
    net.fit(X, [0, 1, 0, 1, 0, 1], epochs=1, batch_size=2)
    assert X.grad is None and not net.weights[0].requires_grad


@pytest.mark.slow
def test_cli_trains_on_torch_and_saves_the_numpy_model(tmp_path, capsys):
    pytest.importorskip("torch")
    from chainrule.cli import main

    common = ["train", "--epochs", "4", "--progress", "none"]
    assert main([*common, "--save", str(tmp_path / "np.npz")]) == 0
    numpy_out = capsys.readouterr().out
    assert (
        main(
            [
                *common,
                "--backend",
                "torch",
                "--device",
                "cpu",
                "--save",
                str(tmp_path / "torch.npz"),
            ]
        )
        == 0
    )
    torch_out = capsys.readouterr().out
    assert "backend: torch on cpu" in torch_out
    accuracy = [line for line in numpy_out.splitlines() if line.startswith("test accuracy")]
    assert accuracy and accuracy[0].split("(")[0] in torch_out  # the same run, to rounding
    a, b = chainrule.load(tmp_path / "np.npz"), chainrule.load(tmp_path / "torch.npz")
    assert isinstance(b.weights[0], np.ndarray)
    for got, want in zip(b.weights + b.biases, a.weights + a.biases, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--backend", "no_such_array_lib"],
            "--backend no_such_array_lib: backend 'no_such_array_lib' is not installed",
        ),
        (["--device", "cuda"], "--device cuda needs --backend torch (or cupy)"),
        (
            ["--backend", "array_api_strict", "--optimizer", "lbfgs"],
            "--optimizer lbfgs (SciPy's L-BFGS-B) trains on NumPy only",
        ),
    ],
)
def test_cli_backend_errors_are_one_line(args, message, capsys):
    from chainrule.cli import main

    code = main(["train", "--epochs", "1", "--progress", "none", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and message in err, err


def test_a_device_the_backend_cannot_use_leaves_the_network_as_it_was():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    net = chainrule.Network([2, 3, 2], seed=0, backend="torch")
    before = [W.clone() for W in net.weights]
    with pytest.raises(ValueError, match="the torch backend cannot use device 'cuda' here"):
        net.to(device="cuda")
    assert net.device is None and all(W.device.type == "cpu" for W in net.weights)
    assert all(torch.equal(a, b) for a, b in zip(net.weights, before, strict=True))
    with pytest.raises(ValueError, match="cannot use device 'no-such-device'"):
        chainrule.Network([2, 3, 2], backend="torch", device="no-such-device")


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_predict_in_blocks_of_rows_on_other_namespaces(namespace, monkeypatch):
    from chainrule import blocks

    backend = _backend(namespace)
    twin, net = _twins(backend, "tanh", "softmax", "log_likelihood")
    X, _ = _data("onehot", 700)
    monkeypatch.setattr(blocks, "FORWARD_BLOCK_VALUES", 10)  # 256-row blocks
    labels = net.predict(X)
    assert ops_of(labels) is net.ops and tuple(labels.shape) == (700,)
    np.testing.assert_array_equal(to_numpy(labels), twin.predict(X))
    np.testing.assert_allclose(to_numpy(net.feedforward(X)), twin.feedforward(X), rtol=1e-12)
