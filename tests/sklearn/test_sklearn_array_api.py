"""The estimators under scikit-learn's array API dispatch (array-api-strict, PyTorch).

``SCIPY_ARRAY_API=1`` must be set before SciPy is first imported, so each check
runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("array_api_strict")

SCRIPT = textwrap.dedent("""
    import numpy as np, sklearn
    import {module} as lib
    from chainrule.sklearn import MLPClassifier, MLPRegressor
    from array_api_compat import array_namespace

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = rng.integers(0, 3, 60)
    t = X @ rng.normal(size=4)
    sw = rng.uniform(0.5, 2.0, 60)
    put = lambda a: lib.asarray(a)
    kw = dict(hidden_layer_sizes=(7,), max_iter=5, random_state=0, batch_size=16,
              learning_rate_init=0.05)
    for Est, target in ((MLPClassifier, y), (MLPRegressor, t)):
        ref = Est(**kw).fit(X, target, sample_weight=sw)
        with sklearn.config_context(array_api_dispatch=True):
            est = Est(**kw).fit(put(X), put(target), sample_weight=put(sw))
            coefs = [np.array(c) for c in est.coefs_]  # fitted attributes: NumPy
            pred = est.predict(put(X))
            assert array_namespace(pred) is array_namespace(put(X)), type(pred)
            if Est is MLPClassifier:
                proba = est.predict_proba(put(X))
                assert array_namespace(proba) is array_namespace(put(X))
                np.testing.assert_allclose(np.from_dlpack(proba), ref.predict_proba(X),
                                           rtol=0, atol=1e-10)
                est.partial_fit(put(X), put(target))
                assert 0 <= est.score(put(X), put(target)) <= 1
        for got, want in zip(coefs, ref.coefs_, strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
        np.testing.assert_allclose(np.from_dlpack(pred), ref.predict(X), rtol=0, atol=1e-10)
    print("ok")
""")


@pytest.mark.slow
@pytest.mark.parametrize("module", ["array_api_strict", "torch"])
def test_estimators_fit_and_predict_arrays_of_other_namespaces(module):
    pytest.importorskip(module)
    # A fresh process: it finds this chainrule (src/) first through PYTHONPATH.
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "SCIPY_ARRAY_API": "1", "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(module=module)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
