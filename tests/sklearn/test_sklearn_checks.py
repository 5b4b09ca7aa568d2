"""scikit-learn's own estimator checks on chainrule's MLPClassifier and MLPRegressor.

The estimators run with their default parameters (``max_iter=200``, 100 hidden
units, Adam), exactly as scikit-learn's suite constructs them.  No check is
expected to fail; ``EXPECTED_FAILED_CHECKS`` documents the mechanism for when
one has to be (see docs/sklearn.md).
"""

from __future__ import annotations

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from chainrule.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.slow  # scikit-learn's own checks: 123 small fits

#: check name → reason, per estimator class (empty: every check passes).
EXPECTED_FAILED_CHECKS: dict[type, dict[str, str]] = {MLPClassifier: {}, MLPRegressor: {}}


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS.get(type(estimator), {})


@parametrize_with_checks(
    [MLPClassifier(), MLPRegressor()], expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible_estimator(estimator, check):
    # scikit-learn's own MLP warns too when its checks' small fits stop at max_iter.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
