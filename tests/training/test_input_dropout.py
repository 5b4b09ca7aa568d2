"""Input dropout (``input_dropout``): the mask on a^1, its validation and its plumbing."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Network
from chainrule.training.config import TrainingConfig


def _net(dtype: str = "float64") -> Network:
    return Network(
        [5, 7, 3],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=2,
        dtype=dtype,
    )


def _data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_input_mask_enters_eq13_as_the_gradient_of_the_masked_inputs(dtype):
    """Layer 2 sees a^1 ⊙ m / (1-p); its gradients are those of that input, exactly."""
    X, y = _data(9)
    net = _net(dtype)
    X = X.astype(dtype)
    Y = np.eye(3, dtype=dtype)[y]
    p = 0.4
    layers = net.engine.layers(net.weights, net.biases, len(X))
    net.engine.forward(layers, X, [p, 0.0, 0.0], np.random.default_rng(7))
    got = net.engine.gradients(layers, Y)
    got_w = [g.copy() for g in got.grad_weights]
    keep = np.dtype(dtype).type(1 - p)
    mask = (np.random.default_rng(7).random(X.shape) < 1 - p).astype(dtype) / keep
    assert 0 < mask.astype(bool).sum() < mask.size  # some inputs dropped, some kept
    want_w, want_b = net.backprop(X * mask, Y)
    for g, w in zip([*got_w, *got.grad_biases], [*want_w, *want_b], strict=True):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, w, rtol=1e-5 if dtype == "float32" else 1e-12)
    assert not np.shares_memory(layers.inputs[1], X)
    np.testing.assert_array_equal(X, _data(9)[0].astype(dtype))  # the caller's X untouched


def test_input_dropout_changes_training_is_seeded_and_off_at_prediction():
    X, y = _data()
    kw = dict(epochs=3, batch_size=8, learning_rate=0.1, seed=4)
    plain = _net()
    plain.fit(X, y, **kw)
    a, b = _net(), _net()
    ha = a.fit(X, y, input_dropout=0.3, **kw)
    hb = b.fit(X, y, input_dropout=0.3, **kw)
    np.testing.assert_array_equal(ha.train_loss, hb.train_loss)  # seeded: the same run
    for wa, wb, wp in zip(a.weights, b.weights, plain.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
        assert not np.allclose(wa, wp)  # the masks changed the run
    np.testing.assert_array_equal(a.feedforward(X), a.feedforward(X))


def test_input_dropout_with_hidden_dropout_and_alone():
    c = TrainingConfig(input_dropout=0.2)
    assert c.dropout_rates(2) == [0.2, 0.0, 0.0, 0.0]
    assert TrainingConfig(input_dropout=0.2, dropout=0.5).dropout_rates(2) == [0.2, 0.5, 0.5, 0.0]
    assert TrainingConfig(input_dropout=0, dropout=0.5).dropout_rates(1) == [0.0, 0.5, 0.0]
    assert TrainingConfig().dropout_rates(2) is None
    assert TrainingConfig(input_dropout=0.0, dropout=0.0).dropout_rates(2) is None


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), True, "0.2", None])
def test_input_dropout_is_validated(bad):
    with pytest.raises(ValueError, match=r"input_dropout must be a rate in \[0, 1\), got"):
        TrainingConfig(input_dropout=bad)


def test_lbfgs_refuses_input_dropout():
    X, y = _data()
    with pytest.raises(ValueError, match="input_dropout does not apply to optimizer='lbfgs'"):
        _net().fit(X, y, optimizer="lbfgs", input_dropout=0.2)


def test_cli_input_dropout_reaches_fit(monkeypatch, capsys):
    from chainrule.cli import main
    from chainrule.training import trainer

    seen = []
    real = trainer.Trainer.__init__

    def spy(self, net, X, Y, config=None, **kw):
        seen.append(config)
        real(self, net, X, Y, config, **kw)

    monkeypatch.setattr(trainer.Trainer, "__init__", spy)
    assert (
        main(
            [
                "train",
                "--epochs",
                "1",
                "--hidden",
                "10",
                "--input-dropout",
                "0.25",
                "--dropout",
                "0.5",
            ]
        )
        == 0
    )
    assert "input dropout 0.25" in capsys.readouterr().out
    assert seen and seen[-1].input_dropout == 0.25 and seen[-1].dropout == 0.5


@pytest.mark.parametrize("value", ["1.0", "0.1,0.2", "x"])
def test_cli_bad_input_dropout_is_a_usage_error(capsys, value):
    from chainrule.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--input-dropout", value])
    assert exc.value.code == 2
    assert "--input-dropout" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_engines_numpy_shortcuts_give_the_activations_and_costs_own_bits(dtype):
    """Sigmoid's σ′ product with its scratch buffer and δ^L = a − λ as one ufunc (the
    tiny step's cuts) equal the Activation's and Cost's own methods bit for bit."""
    from chainrule.functions import get_activation

    rng = np.random.default_rng(5)
    for out, cost in (("softmax", "log_likelihood"), ("sigmoid", "cross_entropy")):
        net = Network(
            [4, 6, 3], activation="sigmoid", output_activation=out, cost=cost, seed=1, dtype=dtype
        )
        X = rng.normal(size=(7, 4)).astype(dtype)
        Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 7)]
        layers = net.engine.layers(net.weights, net.biases, 7)
        assert layers.minus_delta
        net.engine.forward(layers, X)
        a2, aL, zL = layers.a[2].copy(), layers.a[3].copy(), layers.z[3].copy()
        got = net.engine.gradients(layers, Y)
        dL = net.cost.delta(zL, aL, Y, net.output_activation)
        dL *= layers.inv_n  # the batch mean, as gradients() scales it
        np.testing.assert_array_equal(got.delta[3], dL)
        d2 = get_activation("sigmoid").times_derivative(np.dot(dL, net.weights[1]), None, a2)
        np.testing.assert_array_equal(got.delta[2], d2)
