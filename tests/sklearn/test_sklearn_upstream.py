"""scikit-learn's own MLP tests, run against chainrule.sklearn.

``sklearn/neural_network/tests/test_mlp.py`` ships inside the installed
scikit-learn wheel.  It is copied at test time (never vendored, so it is always
the installed version's), its one import of the estimators is switched to
``from chainrule.sklearn import MLPClassifier, MLPRegressor``, and it runs in a
pytest subprocess with scikit-learn's ``conftest`` (for its fixtures such as
``global_random_seed``) and this project's rule that a RuntimeWarning is an error.

Every test must pass.  ``MAY_FAIL`` is where a test that only sets or reads
scikit-learn's private attributes would be listed, with its reason, should one
ever have to fail; today none does.  The tests that touch private attributes,
and pass: ``test_fit`` (assigns ``coefs_``, ``intercepts_`` and private fields
before ``partial_fit``), ``test_gradient`` (calls ``_loss_grad_lbfgs``),
``test_learning_rate_warmstart`` and ``test_adaptive_learning_rate`` (read
``_optimizer.learning_rate``), ``test_n_iter_no_change`` and
``test_n_iter_no_change_inf`` (read ``_no_improvement_count``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import sklearn

pytestmark = pytest.mark.slow

#: test name (without parameters) → why it may fail.  Only tests that set or read
#: scikit-learn's private attributes belong here.
MAY_FAIL: dict[str, str] = {}

#: What the installed file imports, and what it becomes.
IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor\n"
OURS = "from chainrule.sklearn import MLPClassifier, MLPRegressor\n"

#: Tests scikit-learn itself skips here (an optional package that is not installed).
SKIP_REASONS = ("pandas",)


def _upstream() -> Path:
    path = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    if not path.is_file():
        pytest.skip(f"this scikit-learn {sklearn.__version__} install has no tests ({path})")
    return path


def test_sklearn_own_mlp_tests_pass_on_chainrule(tmp_path):
    source = _upstream().read_text(encoding="utf-8")
    assert source.count(IMPORT) == 1, "scikit-learn's test file no longer imports the MLP so"
    # One test of ours in the copy: the estimators under test are chainrule's.
    guard = (
        "\n\ndef test_the_estimators_are_chainrules():\n"
        "    assert MLPClassifier.__module__ == MLPRegressor.__module__ == "
        "'chainrule.sklearn'\n"
    )
    (tmp_path / "test_mlp_chainrule.py").write_text(
        source.replace(IMPORT, OURS) + guard, encoding="utf-8"
    )
    # No ini file of ours applies in tmp_path: give pytest an empty one, so rootdir is here.
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    report = tmp_path / "report.xml"
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    # The file's matrices are tiny: one BLAS thread is fastest, and on a shared
    # 2-core machine threaded OpenBLAS calls of that size are many times slower.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "sklearn.conftest",
            "-W",
            "error::RuntimeWarning",
            f"--junitxml={report}",
            "test_mlp_chainrule.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]

    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[name] = "failed"
        elif (skip := case.find("skipped")) is not None:
            outcomes[name] = "skipped: " + (skip.get("message") or "")
        else:
            outcomes[name] = "passed"
    assert outcomes.get("test_the_estimators_are_chainrules") == "passed", proc.stdout[-3000:]
    assert len(outcomes) >= 50, f"only {len(outcomes)} tests collected:\n{proc.stdout[-3000:]}"

    failed = sorted(
        n for n, o in outcomes.items() if o == "failed" and n.split("[")[0] not in MAY_FAIL
    )
    assert not failed, (
        f"scikit-learn's own MLP tests failing on chainrule: {failed}\n" + proc.stdout[-6000:]
    )
    skipped = sorted(
        n
        for n, o in outcomes.items()
        if o.startswith("skipped") and not any(r in o for r in SKIP_REASONS)
    )
    assert not skipped, f"skipped for an unexpected reason: {skipped}"
    for name in MAY_FAIL:
        assert any(n.split("[")[0] == name for n in outcomes), f"{name} is not in the file"
