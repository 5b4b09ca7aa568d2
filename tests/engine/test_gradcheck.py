"""chainrule.gradcheck: backpropagation against central differences, and it can fail."""

from __future__ import annotations

import numpy as np

import chainrule
from chainrule import Network


def test_gradcheck_passes_for_a_correct_network():
    rng = np.random.default_rng(1)
    net = Network(
        [3, 4, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    report = chainrule.gradcheck(net, rng.normal(size=(5, 3)), rng.integers(0, 2, 5))
    assert report.passed
    assert len(report.checks) == 4  # W^2, W^3, b^2, b^3


def test_gradcheck_catches_a_planted_bug():
    """A cost whose derivative is off by the number of outputs (scikit-learn#8349) fails."""
    from chainrule.functions import Quadratic

    class Broken(Quadratic):
        name = "broken_quadratic"

        def derivative(self, a, y):
            return 2 * (a - y) / a.shape[1]

    rng = np.random.default_rng(0)
    net = Network([3, 4, 3], activation="tanh", output_activation="identity", cost=Broken(), seed=0)
    report = chainrule.gradcheck(net, rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))
    assert not report.passed
    assert "FAIL" in str(report)
