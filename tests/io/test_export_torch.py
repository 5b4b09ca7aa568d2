"""``Network.to_torch`` and ``Network.from_torch`` (issue 22)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule

torch = pytest.importorskip("torch")
nn = torch.nn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "spec",
    [
        dict(
            sizes=[4, 7, 3],
            activation="sigmoid",
            output_activation="softmax",
            cost="log_likelihood",
        ),
        dict(sizes=[5, 6, 6, 2], activation=["relu", "tanh"], output_activation="identity"),
        dict(
            sizes=[3, 8, 1],
            activation="leaky_relu",
            output_activation="sigmoid",
            input_activation="sigmoid",
            cost="cross_entropy",
        ),
        dict(sizes=[3, 2], activation="tanh"),
    ],
    ids=["sigmoid-softmax", "relu-tanh-identity", "leaky-sigmoid-input", "no-hidden"],
)
def test_to_torch_has_the_same_outputs_and_back(spec, dtype) -> None:
    spec = dict(spec)
    net = chainrule.Network(spec.pop("sizes"), dtype=dtype, seed=1, **spec)
    X = np.random.default_rng(2).normal(size=(25, net.sizes[0])).astype(dtype)
    module = net.to_torch()
    assert isinstance(module, nn.Sequential)
    with torch.no_grad():
        out = module(torch.from_numpy(X)).numpy()
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, net.feedforward(X), atol=1e-6, rtol=0)
    linears = [m for m in module if isinstance(m, nn.Linear)]
    for W, b, lin in zip(net.weights, net.biases, linears, strict=True):
        np.testing.assert_array_equal(lin.weight.detach().numpy(), W)  # W^l untransposed
        np.testing.assert_array_equal(lin.bias.detach().numpy(), b)
    back = chainrule.Network.from_torch(module, cost=net.cost.name)
    assert back.config() == {**net.config(), "init": None}
    for W, W2 in zip(net.weights, back.weights, strict=True):
        np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(back.feedforward(X), net.feedforward(X))


def test_from_torch_reads_a_pytorch_model_and_trains_it() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(4, 6),
        nn.ReLU(),
        nn.Sequential(nn.Linear(6, 5, bias=False), nn.Tanh()),
        nn.Linear(5, 3),
        nn.Softmax(dim=1),
    )
    net = chainrule.Network.from_torch(module)
    assert net.sizes == (4, 6, 5, 3)
    assert [a.name for a in net.activations] == ["relu", "tanh", "softmax"]
    assert net.cost.name == "log_likelihood" and net.dtype == np.float32
    np.testing.assert_array_equal(net.biases[1], np.zeros(5, np.float32))
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net.feedforward(X), want, atol=1e-6)
    net.fit(X, np.arange(30) % 3, epochs=1, batch_size=10, learning_rate=0.1, seed=0)
    # Linear after Linear: an identity activation between them.
    plain = chainrule.Network.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
    assert [a.name for a in plain.activations] == ["identity", "identity"]


@pytest.mark.parametrize(
    "module, match",
    [
        (
            lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout(), nn.Linear(4, 2)),
            r"module 1 \(Dropout\) is not supported",
        ),
        (
            lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Tanh(), nn.Linear(4, 2)),
            "two activations in a row",
        ),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)), "does not follow a layer of 4"),
        (lambda: nn.Sequential(nn.ReLU()), "no nn.Linear"),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=0)), "dim=0"),
        (lambda: nn.Sequential(nn.Linear(3, 4).half()), "float32 or all float64"),
        (lambda: nn.Sequential(nn.Conv1d(1, 1, 3)), r"module 0 \(Conv1d\)"),
        (lambda: "not a module", "expected a torch.nn.Module"),
    ],
)
def test_from_torch_refuses_what_it_cannot_read(module, match) -> None:
    with pytest.raises(ValueError, match=match):
        chainrule.Network.from_torch(module())


def test_custom_activation_has_no_torch_module() -> None:
    cube = chainrule.CustomActivation(lambda z: z**3, lambda z: 3 * z**2, name="cube")
    net = chainrule.Network([2, 3, 1], activation=cube, output_activation="identity", seed=0)
    with pytest.raises(ValueError, match="layer 2 activation 'cube'"):
        net.to_torch()


def test_a_network_on_torch_keeps_its_device() -> None:
    net = chainrule.Network([3, 4, 2], seed=0, backend="torch")
    module = net.to_torch()
    assert next(module.parameters()).device == net.weights[0].device
