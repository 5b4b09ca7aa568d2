"""Max-norm (``max_norm``) and the weight average (``average_decay``): maths and plumbing."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Network
from chainrule.training import Callback
from chainrule.training.averaging import ExponentialAverage
from chainrule.training.config import TrainingConfig
from chainrule.training.constraints import max_norm


def _net(dtype: str = "float64", seed: int = 2) -> Network:
    return Network(
        [5, 16, 3],
        activation="relu",
        output_activation="softmax",
        cost="log_likelihood",
        seed=seed,
        dtype=dtype,
    )


def _data(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)


def _row_norms(W: np.ndarray) -> np.ndarray:
    return np.sqrt((W.astype(np.float64) ** 2).sum(axis=1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_norm_projects_long_rows_onto_the_sphere_and_leaves_short_ones(dtype):
    W = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0], [-6.0, 8.0]], dtype=dtype)
    before = W.copy()
    max_norm([W], 2.0)
    assert W.dtype == np.dtype(dtype)
    np.testing.assert_allclose(_row_norms(W), [2.0, 0.5, 0.0, 2.0], rtol=1e-6)
    np.testing.assert_array_equal(W[1:3], before[1:3])  # shorter rows: the same bits
    np.testing.assert_allclose(W[0], before[0] * 0.4, rtol=1e-6)  # direction kept


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_with_max_norm_keeps_every_row_within_c_after_every_step(dtype):
    X, y = _data()
    c = 0.6
    seen: list[float] = []

    class Watch(Callback):
        def on_epoch_end(self, network, history):
            seen.append(max(float(_row_norms(W).max()) for W in network.weights))

    free = _net(dtype)
    free.fit(X, y, epochs=4, batch_size=8, learning_rate=0.5, seed=1)
    assert max(float(_row_norms(W).max()) for W in free.weights) > c  # it would bind
    net = _net(dtype)
    net.fit(
        X, y, epochs=4, batch_size=8, learning_rate=0.5, seed=1, max_norm=c, callbacks=[Watch()]
    )
    assert all(W.dtype == np.dtype(dtype) for W in net.weights)
    assert max(seen) <= c * (1 + 1e-5)
    norms = np.concatenate([_row_norms(W) for W in net.weights])
    assert np.isclose(norms, c, rtol=1e-5).any()  # some rows sit on the bound
    np.testing.assert_array_equal(
        [b.dtype for b in net.biases], [np.dtype(dtype)] * 2
    )  # biases are not constrained but keep their dtype


def test_average_of_constant_parameters_is_those_parameters():
    p = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, dtype=np.float32)]
    avg = ExponentialAverage(p, 0.9)
    for _ in range(50):
        avg()
    for a, q in zip(avg.averages, p, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, q)


def test_average_follows_its_formula_with_the_warm_up():
    p = [np.zeros(2)]
    avg = ExponentialAverage(p, 0.5)
    want = np.zeros(2)
    for t, value in enumerate([1.0, 2.0, 4.0, -3.0, 5.0]):
        p[0][...] = value
        avg()
        d = min(0.5, (1 + t) / (10 + t))
        want = d * want + (1 - d) * value
        np.testing.assert_allclose(avg.averages[0], want, rtol=1e-12)
    assert avg.steps == 5
    avg.finish()
    np.testing.assert_allclose(p[0], want, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_ends_with_the_moving_average_of_the_weights_after_each_step(dtype):
    """The final parameters are the EMA, computed by hand from every step's weights."""
    X, y = _data()
    decay = 0.8
    net = _net(dtype)
    start = [p.astype(np.float64) for p in (*net.weights, *net.biases)]
    steps: list[list[np.ndarray]] = []

    class Record(Callback):
        def on_batch_end(self, network, info):
            steps.append([p.astype(np.float64) for p in (*network.weights, *network.biases)])

    net.fit(
        X, y, epochs=3, batch_size=16, learning_rate=0.3, seed=4,
        average_decay=decay, callbacks=[Record()],
    )  # fmt: skip
    assert len(steps) == 12
    want = start
    for t, params in enumerate(steps):
        d = min(decay, (1 + t) / (10 + t))
        want = [d * a + (1 - d) * q for a, q in zip(want, params, strict=True)]
    got = [*net.weights, *net.biases]
    assert all(g.dtype == np.dtype(dtype) for g in got)
    for g, w, last in zip(got, want, steps[-1], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4 if dtype == "float32" else 1e-10, atol=1e-6)
        assert not np.allclose(g, last)  # not simply the last step's weights


def test_seeded_runs_with_both_reproduce_and_differ_from_a_run_without():
    X, y = _data()
    kw = dict(epochs=3, batch_size=8, learning_rate=0.01, optimizer="adam", seed=3, dropout=0.2)
    a, b, plain = _net("float32"), _net("float32"), _net("float32")
    a.fit(X, y, max_norm=0.8, average_decay=0.9, **kw)
    b.fit(X, y, max_norm=0.8, average_decay=0.9, **kw)
    plain.fit(X, y, **kw)
    for p, q, r in zip(
        (*a.weights, *a.biases), (*b.weights, *b.biases), (*plain.weights, *plain.biases),
        strict=True,
    ):  # fmt: skip
        np.testing.assert_array_equal(p, q)
        assert not np.array_equal(p, r)
    np.testing.assert_array_equal(a.history.train_loss, b.history.train_loss)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "3"])
def test_max_norm_is_validated(bad):
    with pytest.raises(ValueError, match="max_norm must be a positive number, got"):
        TrainingConfig(max_norm=bad)


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.5, float("nan"), True, "0.9"])
def test_average_decay_is_validated(bad):
    with pytest.raises(ValueError, match=r"average_decay must be a number in \(0, 1\)"):
        TrainingConfig(average_decay=bad)


@pytest.mark.parametrize("option", [{"max_norm": 3.0}, {"average_decay": 0.99}])
def test_lbfgs_refuses_them(option):
    X, y = _data()
    name = next(iter(option))
    with pytest.raises(ValueError, match=f"{name} does not apply to optimizer='lbfgs'"):
        _net().fit(X, y, optimizer="lbfgs", **option)


def test_cli_flags_reach_fit(monkeypatch, capsys):
    from chainrule.cli import main
    from chainrule.training import trainer

    seen = []
    real = trainer.Trainer.__init__

    def spy(self, net, X, Y, config=None, **kw):
        seen.append(config)
        real(self, net, X, Y, config, **kw)

    monkeypatch.setattr(trainer.Trainer, "__init__", spy)
    args = ["train", "--epochs", "1", "--hidden", "10", "--max-norm", "3.5"]
    assert main([*args, "--average-decay", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "max-norm 3.5" in out and "weight average (decay 0.99)" in out
    assert seen and seen[-1].max_norm == 3.5 and seen[-1].average_decay == 0.99


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-norm", "0"), ("--max-norm", "x"), ("--average-decay", "1"), ("--average-decay", "0")],
)
def test_cli_bad_values_are_usage_errors(capsys, flag, value):
    from chainrule.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", flag, value])
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["torch", "array_api_strict"])
def test_other_backends_train_the_same_run_to_round_off(backend):
    """The array-API paths of max-norm and the average give NumPy's run."""
    pytest.importorskip(backend)
    from chainrule.backend import to_numpy

    X, y = _data()
    kw = dict(epochs=3, batch_size=8, learning_rate=0.5, seed=5, max_norm=0.7, average_decay=0.9)
    want = _net()
    want.fit(X, y, **kw)
    net = _net()
    net.to(backend)
    net.fit(X, y, **kw)
    for g, w in zip((*net.weights, *net.biases), (*want.weights, *want.biases), strict=True):
        np.testing.assert_allclose(to_numpy(g), w, rtol=1e-9, atol=1e-12)
    assert max(float(_row_norms(to_numpy(W)).max()) for W in net.weights) <= 0.7 * (1 + 1e-9)
