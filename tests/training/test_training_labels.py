"""Many classes: targets kept as labels (``training.targets``) train exactly as one-hot rows.

``Network.fit`` keeps class labels instead of an ``n × classes`` one-hot matrix once
that matrix would be big (``LABELS_FROM`` values), makes each batch's one-hot rows
as it goes and sums the epoch's loss and accuracy batch by batch.  Here the
threshold is lowered to 1 so that small data take that path, and every result must
be the one-hot run's: the same weights bit for bit, the same metrics to rounding.
(The memory it saves is tested in ``test_hostile_files.py``: 10,000 classes in a
process allowed 3 GB.)
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
import chainrule.training.targets as targets
from chainrule.backend import resolve_backend, to_numpy

BACKENDS = ["numpy", "array_api_strict", "torch"]
OPTIONS = [
    {},
    {"shuffle": False},
    {"sample_weight": "sw", "validation_fraction": 0.2, "dropout": 0.1},
    {"validation_data": "first50", "optimizer": "adam"},
]


def _run(backend, labels, monkeypatch, **options):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 6)), rng.integers(0, 5, 300)
    kw = dict(options)
    if kw.get("sample_weight") == "sw":
        kw["sample_weight"] = rng.uniform(0.5, 2.0, 300)
    if kw.get("validation_data") == "first50":
        kw["validation_data"] = (X[:50], y[:50])
    monkeypatch.setattr(targets, "LABELS_FROM", 1 if labels else 1 << 24)
    net = chainrule.Network(
        [6, 8, 5],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=1,
        backend=backend,
    )
    history = net.fit(X, y, epochs=3, batch_size=16, learning_rate=0.1, **kw)
    return net, history, net.evaluate(X, y), net.loss(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "options", OPTIONS, ids=["shuffled", "in-order", "weighted", "validation-data"]
)
def test_labels_train_exactly_as_one_hot_rows(backend, options, monkeypatch):
    pytest.importorskip(backend)
    dense_net, dense_h, dense_ev, dense_loss = _run(backend, False, monkeypatch, **options)
    net, h, ev, loss = _run(backend, True, monkeypatch, **options)
    for got, want in zip(
        net.weights + net.biases, dense_net.weights + dense_net.biases, strict=True
    ):
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))
    np.testing.assert_allclose(h.train_loss, dense_h.train_loss, rtol=1e-13)
    assert h.train_accuracy == dense_h.train_accuracy
    np.testing.assert_allclose(h.val_loss, dense_h.val_loss, rtol=1e-13)
    np.testing.assert_array_equal(h.val_accuracy, dense_h.val_accuracy)
    assert ev["accuracy"] == dense_ev["accuracy"]
    assert ev["loss"] == pytest.approx(dense_ev["loss"], rel=1e-13)
    assert loss == pytest.approx(dense_loss, rel=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_hot_rows_made_from_labels(backend):
    pytest.importorskip(backend)
    ops = resolve_backend(backend)
    like = ops.asarray(np.zeros((1, 1)), None)
    Y = targets.OneHotLabels(ops.asarray(np.array([2, 0, 1, 2], dtype=np.int64), like), 3, like)
    np.testing.assert_array_equal(to_numpy(Y[1:3]), [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(to_numpy(Y[0:4, ...]), np.eye(3)[[2, 0, 1, 2]])
    np.testing.assert_array_equal(to_numpy(Y.take(np.array([3, 1]))[0:2]), np.eye(3)[[2, 0]])
    out = ops.empty((2, 3), like)
    np.testing.assert_array_equal(to_numpy(Y.rows_into(np.array([0, 2]), out)), np.eye(3)[[2, 1]])
    with pytest.raises(TypeError, match="blocks of rows"):
        Y[1]


def test_labels_are_kept_only_for_big_classifier_targets():
    assert targets.keeps_labels(30_000, 10_000)
    assert not targets.keeps_labels(60_000, 10)  # MNIST: one-hot rows as before
    assert not targets.keeps_labels(10**9, 1)  # one output: its values, not classes
