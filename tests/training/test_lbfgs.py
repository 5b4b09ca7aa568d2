"""Full-batch L-BFGS: training/lbfgs.py and Network.fit(optimizer="lbfgs")."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule
from chainrule import Network
from chainrule.training import LBFGS, Callback, EarlyStopping
from chainrule.training.lbfgs import ConvergenceWarning, Objective, pack, unpack


def _blobs(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.0]])
    y = np.arange(n) % 3
    return centers[y] + rng.normal(scale=0.7, size=(n, 2)), y


def _net(dtype=np.float64, seed: int = 0) -> Network:
    return Network(
        [2, 6, 3],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=seed,
        dtype=dtype,
    )


def test_pack_is_sklearns_layout_and_unpack_its_inverse_in_place():
    net = _net()
    theta = pack(net)
    assert theta.dtype == np.float64 and theta.size == net.n_parameters
    # scikit-learn: coefs_[i] = W^{i+2}ᵀ of shape (n_in, n_out), flattened, then intercepts.
    expected = np.hstack([W.T.ravel() for W in net.weights] + list(net.biases))
    np.testing.assert_array_equal(theta, expected)
    arrays = [*net.weights, *net.biases]
    unpack(net, theta * 2)
    assert all(a is b for a, b in zip(arrays, [*net.weights, *net.biases], strict=True))
    np.testing.assert_array_equal(pack(net), theta * 2)
    with pytest.raises(ValueError, match="theta has 3 values, the network 39 parameters"):
        unpack(net, np.zeros(3))


@pytest.mark.parametrize("weighted", [False, True])
def test_objective_is_loss_plus_penalty_and_its_gradient_backprop(weighted):
    X, y = _blobs(n=15)
    Y = np.eye(3)[y]
    net = _net()
    sw = np.linspace(0.2, 3.0, 15) if weighted else None
    obj = Objective(net, X, Y, sample_weight=sw, l2_scale=0.05)
    theta = pack(net)
    value, grad = obj(theta)
    # The value: the (weighted) mean cost plus ½·c·Σ‖W‖².
    costs = net.engine.per_example_cost(net.forward(X), Y)
    mean = np.average(costs, weights=sw)
    sq = sum(float(np.sum(W * W)) for W in net.weights)
    assert value == pytest.approx(mean + 0.5 * 0.05 * sq, rel=1e-12)
    assert obj.last_cost == pytest.approx(mean, rel=1e-12)
    # The gradient: Network.backprop's (which gradcheck checks), plus c·W.
    gw, gb = net.backprop(X, Y, sample_weight=sw)
    expected = np.hstack(
        [(g + 0.05 * W).T.ravel() for g, W in zip(gw, net.weights, strict=True)]
        + [g.ravel() for g in gb]
    )
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)
    assert chainrule.gradcheck(net, X, Y).passed
    # … and that of the value, by central differences.
    numeric = np.array(
        [(obj(theta + e)[0] - obj(theta - e)[0]) / 2e-6 for e in np.eye(theta.size) * 1e-6]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    assert obj.n_evaluations == 1 + 2 * theta.size


def test_cost_scale_scales_the_value_only():
    X, y = _blobs(n=10)
    Y = np.eye(3)[y]
    net = _net()
    theta = pack(net)
    v1, g1 = Objective(net, X, Y)(theta)
    v2, g2 = Objective(net, X, Y, cost_scale=0.25)(theta)
    assert v2 == pytest.approx(0.25 * v1, rel=1e-14)
    np.testing.assert_array_equal(g1, g2)


def test_fit_lbfgs_trains_and_records_one_entry_per_iteration():
    X, y = _blobs()
    net = _net()
    first = net.loss(X, y)
    net.fit(X, y, epochs=2, learning_rate=0.5)  # two SGD epochs first: epochs keep counting
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        history = net.fit(X, y, optimizer="lbfgs", epochs=500, validation_data=(X, y))
    n = len(history)
    assert 2 < n < 500  # converged (tol reached) before the limit, without a warning
    assert history.epoch == list(range(3, 3 + n))
    assert len(net.history) == 2 + n
    assert net.loss(X, y) < 0.1 * first
    assert history.train_loss[-1] == pytest.approx(net.loss(X, y), rel=1e-12)
    assert history.val_loss[-1] == pytest.approx(net.loss(X, y), rel=1e-12)
    assert history.train_accuracy[-1] == net.accuracy(X, y) > 0.9
    assert all(np.isnan(history.learning_rate))
    assert len(history.grad_norms[-1]) == 2
    assert net.optimizer is None  # the SGD state would be stale now
    # The loss decreases from iteration to iteration (L-BFGS's line search ensures it).
    assert all(
        b <= a + 1e-12 for a, b in zip(history.train_loss[:-1], history.train_loss[1:], strict=True)
    )


def test_lbfgs_settings_and_convergence_warning():
    X, y = _blobs()
    net = _net()
    with pytest.warns(ConvergenceWarning, match=r"L-BFGS stopped after 3 iteration\(s\)"):
        history = net.fit(X, y, optimizer="lbfgs", epochs=3)
    assert len(history) == 3
    with pytest.warns(ConvergenceWarning, match="EVALUATIONS EXCEEDS LIMIT"):
        _net().fit(X, y, optimizer=LBFGS(max_fun=4), epochs=100)
    # a looser tol stops sooner
    loose = _net().fit(X, y, optimizer=LBFGS(tol=1e-2), epochs=500)
    tight = _net().fit(X, y, optimizer=LBFGS(tol=1e-6), epochs=500)
    assert len(loose) < len(tight)
    with pytest.raises(ValueError, match="L-BFGS tol must be a non-negative number"):
        LBFGS(tol=-1.0)
    with pytest.raises(ValueError, match="L-BFGS max_fun must be an integer >= 1"):
        LBFGS(max_fun=0)
    assert len(_net().fit(X, y, optimizer="lbfgs", epochs=0)) == 0


def test_lbfgs_with_l2_and_sample_weights_is_the_objectives_minimum():
    X, y = _blobs()
    Y = np.eye(3)[y]
    sw = np.where(y == 0, 3.0, 1.0)
    net = _net()
    objective = Objective(net, X, Y, sample_weight=sw, l2_scale=0.5 / len(y))
    start = np.abs(objective(pack(net))[1]).max()
    net.fit(X, y, optimizer=LBFGS(tol=1e-9), epochs=2000, l2=0.5, sample_weight=sw)
    # At the end, the gradient of this objective (and not of the unweighted or
    # unpenalised ones) is all but zero.
    assert np.abs(objective(pack(net))[1]).max() < 1e-4 * start
    for other in (
        Objective(net, X, Y, l2_scale=0.5 / len(y)),
        Objective(net, X, Y, sample_weight=sw),
    ):
        assert np.abs(other(pack(net))[1]).max() > 1e-2 * start


def test_lbfgs_keeps_float32():
    X, y = _blobs()
    net = _net(dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        history = net.fit(X.astype(np.float32), y, optimizer="lbfgs", epochs=30)
    assert all(W.dtype == np.float32 for W in net.weights + net.biases)
    assert history.train_loss[-1] < history.train_loss[0]


def test_lbfgs_refuses_options_that_do_not_apply():
    X, y = _blobs()
    for option in ({"dropout": 0.2}, {"l1": 0.1}, {"clip_norm": 1.0}, {"schedule": "cosine"}):
        with pytest.raises(
            ValueError, match=f"{next(iter(option))} does not apply to optimizer='lbfgs'"
        ):
            _net().fit(X, y, optimizer="lbfgs", **option)


def test_lbfgs_callbacks_and_early_stopping():
    X, y = _blobs()
    calls: list[str] = []

    class Spy(Callback):
        def on_train_begin(self, network, history):
            calls.append("begin")

        def on_epoch_begin(self, network, epoch):
            calls.append(f"e{epoch}")

        def on_batch_end(self, network, info):
            calls.append("batch")

        def on_epoch_end(self, network, history):
            calls.append(f"end{history.epoch[-1]}")
            if history.epoch[-1] == 4:
                network.stop_training = True

        def on_train_end(self, network, history):
            calls.append("done")

    net = _net()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop is no warning
        history = net.fit(X, y, optimizer="lbfgs", epochs=100, callbacks=[Spy()])
    assert calls == ["begin", "e1", "end1", "e2", "end2", "e3", "end3", "e4", "end4", "done"]
    assert len(history) == 4
    assert net.loss(X, y) == pytest.approx(history.train_loss[-1], rel=1e-12)

    # Early stopping on a held-out set restores the best iterate's weights.
    rng = np.random.default_rng(1)
    y_noisy = np.where(rng.random(len(y)) < 0.3, rng.integers(0, 3, len(y)), y)
    net = Network(
        [2, 30, 3], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    stopper = EarlyStopping(monitor="val_loss", patience=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        history = net.fit(
            X, y_noisy, optimizer="lbfgs", epochs=300, callbacks=[stopper], validation_fraction=0.3
        )
    best = int(np.nanargmin(history.val_loss))
    assert stopper.best == history.val_loss[best]
    assert stopper.stopped_epoch == history.epoch[-1] < 300


def test_cli_trains_with_lbfgs(capsys, tmp_path):
    from chainrule.cli import main

    code = main(
        [
            "train",
            "--optimizer",
            "lbfgs",
            "--epochs",
            "4",
            "--hidden",
            "16",
            "--save",
            str(tmp_path / "m.npz"),
        ]
    )
    assert code == 0
    out, err = capsys.readouterr()
    # The solver's warning is one chainrule line (cli.main), not a two-line Python warning.
    assert err.startswith("chainrule train: warning: L-BFGS stopped after 4 iteration")
    assert "optimizer lbfgs" in out
    assert "epoch 4/4" in out and "lr -" in out and "epoch 5" not in out
    assert "test accuracy:" in out
    assert main(["train", "--optimizer", "lbfgs", "--l1", "0.1", "--epochs", "2"]) == 2
    assert "l1 does not apply to optimizer='lbfgs'" in capsys.readouterr().err
