"""A short real training run on the digits, shared by the plot and report tests."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

import chainrule
from chainrule.data import Standardizer, load_dataset, train_test_split

EPOCHS = 4
HIDDEN = 16


@dataclass
class Run:
    net: chainrule.Network
    X_test: np.ndarray
    y_test: np.ndarray
    raw_test: np.ndarray
    class_names: list[str]


@functools.cache
def digits_run() -> Run:
    """[64, 16, 10] sigmoid/softmax, 4 epochs on the digits: a few tenths of a second."""
    data = load_dataset("digits")
    X_tr, X_te, y_tr, y_te = train_test_split(data.X, data.y, seed=0)
    scaler = Standardizer().fit(X_tr)
    net = chainrule.Network(
        [64, HIDDEN, 10],
        activation="sigmoid",
        output_activation="softmax",
        cost="log_likelihood",
        seed=0,
    )
    net.fit(
        scaler.transform(X_tr),
        y_tr,
        epochs=EPOCHS,
        batch_size=10,
        learning_rate=0.1,
        validation_data=(scaler.transform(X_te), y_te),
    )
    return Run(net, scaler.transform(X_te), y_te, X_te, data.class_names)


@functools.cache
def regression_run() -> Run:
    """A small regressor on y = sin(x0) + x1 / 2: 3 epochs."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (240, 2))
    y = (np.sin(X[:, 0]) + 0.5 * X[:, 1])[:, None]
    net = chainrule.Network(
        [2, 8, 1], activation="tanh", output_activation="identity", cost="quadratic", seed=0
    )
    net.fit(
        X[:200],
        y[:200],
        epochs=3,
        batch_size=20,
        learning_rate=0.05,
        validation_data=(X[200:], y[200:]),
    )
    return Run(net, X[200:], y[200:], X[200:], [])


@functools.cache
def digits_report() -> str:
    """The HTML report of :func:`digits_run` (built once: it takes a few seconds)."""
    from chainrule.plots import build_report

    run = digits_run()
    return build_report(
        run.net,
        None,
        run.X_test,
        run.y_test,
        run.class_names,
        {"data": "digits", "epochs": EPOCHS},
        images=run.raw_test,
    )
