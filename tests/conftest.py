"""Shared fixtures and the table of allowed network configurations."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chainrule.functions import ACTIVATIONS, COSTS  # the registries


def _allowed(cost: str, output: str) -> bool:
    try:
        COSTS[cost]().check_output(ACTIVATIONS[output]())
    except ValueError:
        return False
    return True


# Read from the registries: a new activation or cost is gradient-checked with no edit here.
HIDDEN = ACTIVATIONS.names(lambda a: a.elementwise)
OUTPUTS = ACTIVATIONS.names()
COST_OUTPUTS = {c: [o for o in OUTPUTS if _allowed(c, o)] for c in COSTS}
INPUTS = ["identity", "sigmoid"]

#: every allowed (hidden activation, output activation, cost, input activation)
COMBINATIONS = [
    (h, o, c, i)
    for h, i in itertools.product(HIDDEN, INPUTS)
    for c, outs in COST_OUTPUTS.items()
    for o in outs
]


def make_targets(rng: np.random.Generator, n: int, n_out: int, output: str, cost: str):
    """Targets that make sense for the output activation and cost."""
    if cost == "log_likelihood" or output == "softmax":
        return np.eye(n_out)[rng.integers(0, n_out, n)]
    if cost == "cross_entropy" or output == "sigmoid":
        return rng.uniform(0.05, 0.95, (n, n_out))
    if output == "tanh":
        return rng.uniform(-0.9, 0.9, (n, n_out))
    return rng.normal(size=(n, n_out))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
