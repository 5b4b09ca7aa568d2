"""A scikit-learn grid search of chainrule estimators on a Dask cluster (issue 15).

``joblib.parallel_backend("dask")`` sends each fit of ``GridSearchCV`` to a worker
of a ``dask.distributed`` cluster; with ``random_state`` set, every fit is the
same computation wherever it runs, so the search equals the ``n_jobs=1`` one.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from chainrule.sklearn import MLPClassifier  # noqa: E402

GRID = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-2]}


def _search() -> GridSearchCV:
    estimator = MLPClassifier(
        solver="sgd", learning_rate_init=0.1, max_iter=5, batch_size=32, random_state=0
    )
    return GridSearchCV(estimator, GRID, cv=2, n_jobs=-1)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


def test_grid_search_on_a_two_worker_dask_cluster_equals_n_jobs_1(
    digits: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = digits
    # The workers are fresh processes: they find this chainrule through PYTHONPATH.
    src = str(Path(__file__).resolve().parents[2] / "src")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")

    warnings.simplefilter("ignore", ConvergenceWarning)  # 5 epochs on purpose (pytest resets)
    serial = _search().set_params(n_jobs=1).fit(X, y)

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, timeout="60s") as client,
    ):
        workers = set(client.scheduler_info()["workers"])
        assert len(workers) == 2
        with (
            distributed.get_task_stream(client) as tasks,
            joblib.parallel_backend("dask", wait_for_workers_timeout=60),
        ):
            search = _search().fit(X, y)
    # The 8 fits (4 settings x 2 folds) ran as tasks on the cluster's worker processes.
    fits = [t for t in tasks.data if "fit_and_score" in str(t["key"])]
    assert len(fits) >= 1
    assert {t["worker"] for t in fits} <= workers

    assert search.best_params_ == serial.best_params_
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], serial.cv_results_[key])
    assert search.cv_results_["params"] == serial.cv_results_["params"]
    for a, b in zip(search.best_estimator_.coefs_, serial.best_estimator_.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
