"""One list per name: the registries, and everything that reads them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import build_parser
from chainrule.functions import ACTIVATIONS, COSTS, INITIALISATIONS, Activation, get_activation
from chainrule.registry import Registry
from chainrule.sklearn import MLPClassifier
from chainrule.training.config import OPTIMIZER_NAMES
from chainrule.training.optimizers import OPTIMIZERS, Momentum, get_optimizer
from chainrule.training.schedules import SCHEDULES

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _first_column(markdown: str, heading: str) -> set[str]:
    """The backticked names in the first column of the table under ``heading``."""
    part = markdown.split(heading, 1)[1]
    table = re.search(r"\n(\|.*\|\n)+", part)
    assert table is not None, heading
    rows = table.group(0).strip().splitlines()[2:]
    return {re.findall(r"`([^`]+)`", row.split("|")[1])[0] for row in rows}


def test_docs_tables_list_exactly_the_registered_names():
    training = (DOCS / "training.md").read_text(encoding="utf-8")
    assert _first_column(training, "## Optimizers") == set(OPTIMIZERS)
    assert _first_column(training, "The rate of epoch") == set(SCHEDULES)
    architecture = (DOCS / "architecture.md").read_text(encoding="utf-8")
    table = architecture.split("### The registries", 1)[1].split("\n\n", 2)[1]
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        registry = {
            "ACTIVATIONS": ACTIVATIONS,
            "COSTS": COSTS,
            "INITIALISATIONS": INITIALISATIONS,
            "OPTIMIZERS": OPTIMIZERS,
            "SCHEDULES": SCHEDULES,
        }[cells[0].strip("`")]
        listed = set(re.findall(r"`([^`]+)`", cells[2].split("(")[0]))
        assert listed == set(registry), cells[0]


def test_activations_declare_their_default_initialisation():
    assert {name: cls.init for name, cls in ACTIVATIONS.items()} == {
        "sigmoid": "xavier",
        "tanh": "xavier",
        "relu": "he",
        "leaky_relu": "he",
        "identity": "xavier",
        "softmax": "xavier",
    }
    assert all(cls.init in INITIALISATIONS for cls in ACTIVATIONS.values())


def test_the_cli_and_the_estimators_offer_the_registered_names():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    choices = {a.dest: set(a.choices) for a in train._actions if a.choices}
    assert choices["activation"] == {n for n, c in ACTIVATIONS.items() if c.elementwise}
    assert choices["output_activation"] == set(ACTIVATIONS)
    assert choices["cost"] == set(COSTS)
    assert choices["init"] == set(INITIALISATIONS)
    assert choices["optimizer"] == set(OPTIMIZER_NAMES) == {*OPTIMIZERS, "lbfgs"}
    assert choices["schedule"] == set(SCHEDULES)
    constraint = MLPClassifier._parameter_constraints["activation"][0]
    assert all(n in constraint.options for n, c in ACTIVATIONS.items() if c.elementwise)
    assert "logistic" in constraint.options and "softmax" not in constraint.options


class _Swish(Activation):
    """σ(z) = z·sigmoid(z): an activation added by one class (and removed after the test)."""

    name = "swish_test"

    def forward(self, z, out=None):
        a = z / (1.0 + np.exp(-z))
        if out is None:
            return a
        out[...] = a
        return out

    def derivative(self, z, a):
        s = 1.0 / (1.0 + np.exp(-z))
        return s + z * s * (1.0 - s)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_registered_activation_is_known_everywhere_and_gradient_checked():
    ACTIVATIONS.register(_Swish)
    try:
        assert isinstance(get_activation("swish_test"), _Swish)
        net = chainrule.Network(
            [3, 4, 2],
            activation="swish_test",
            output_activation="softmax",
            cost="log_likelihood",
            seed=0,
        )
        report = chainrule.gradcheck(
            net, np.random.default_rng(1).normal(size=(5, 3)), np.eye(2)[[0, 1, 0, 1, 1]]
        )
        assert report.passed, report
        train = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore
        acts = next(a for a in train._actions if a.dest == "activation")
        assert "swish_test" in acts.choices
        MLPClassifier(activation="swish_test", max_iter=2, hidden_layer_sizes=(3,)).fit(
            np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
        )
    finally:
        del ACTIVATIONS["swish_test"]


def test_nesterov_is_momentum_with_look_ahead_and_names_are_checked_once():
    opt = get_optimizer("nesterov")
    assert isinstance(opt, Momentum) and opt.nesterov
    with pytest.raises(
        ValueError,
        match=r"unknown optimizer 'rmsprop': expected one of adam, "
        r"adamw, momentum, nesterov, sgd",
    ):
        get_optimizer("rmsprop")
    registry: Registry[type] = Registry("widget")
    with pytest.raises(TypeError, match="needs a class attribute 'name'"):
        registry.register(object)
    registry.register(_Swish)
    with pytest.raises(ValueError, match="two widgets are named 'swish_test'"):
        registry.add("swish_test", object)
