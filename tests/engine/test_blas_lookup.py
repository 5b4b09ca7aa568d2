"""How the fused step finds SciPy's BLAS wrappers (``backend._find_blas``): the extension
module ``scipy.linalg._fblas`` without ``scipy.linalg``'s package import (0.2–0.4 s of a
``train``), the very routines ``scipy.linalg.blas`` exports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule import backend as backend_module

SRC = Path(__file__).resolve().parents[2] / "src"


def _fresh(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"},
        check=True,
    ).stdout.strip()


def test_the_lookup_does_not_import_scipy_linalg():
    """In a fresh process the kernels are found and ``scipy.linalg`` stays unimported; a
    later ``scipy.linalg`` import hands out the same routine objects (one extension
    module a process), so the fused step's computation is SciPy's own."""
    pytest.importorskip("scipy")
    out = _fresh(
        "import sys, numpy as np\n"
        "from chainrule.backend import blas_kernels\n"
        "k = blas_kernels()\n"
        "print(k is not None, 'scipy.linalg' in sys.modules)\n"
        "from scipy.linalg import blas\n"
        "print(k.gemm[np.float64] is blas.dgemm, k.gemm[np.float32] is blas.sgemm,"
        " k.gemv[np.float64] is blas.dgemv, k.ger[np.float32] is blas.sger)\n"
    )
    assert out.splitlines() == ["True False", "True True True True"]


def test_after_scipy_linalg_the_lookup_takes_its_module():
    """Where ``scipy.linalg`` is already imported, its ``blas`` module is used as is."""
    blas = pytest.importorskip("scipy.linalg.blas")
    assert backend_module._scipy_fblas() is blas


def test_a_seeded_fit_is_the_same_with_either_lookup(monkeypatch):
    """The same seed gives bit-for-bit the same weights through the direct extension
    load and through ``scipy.linalg.blas`` (both fused)."""
    pytest.importorskip("scipy")
    code = (
        "import sys, numpy as np, chainrule\n"
        "from chainrule import backend\n"
        "{pre}"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(300, 5)); y = rng.integers(0, 3, 300)\n"
        "net = chainrule.Network([5, 7, 3], seed=1)\n"
        "net.fit(X, y, epochs=2, batch_size=10, learning_rate=0.5)\n"
        "print(bool(backend._BLAS), backend.blas_kernels().fblas.__name__)\n"
        "print(np.concatenate([w.ravel() for w in net.weights]).tobytes().hex())\n"
    )
    direct = _fresh(code.format(pre="")).splitlines()
    via = _fresh(code.format(pre="import scipy.linalg\n")).splitlines()
    assert direct[0] == "True scipy.linalg._fblas"  # found by the fit's fused step
    assert via[0] == "True scipy.linalg.blas"
    assert direct[1] == via[1]
    assert np.frombuffer(bytes.fromhex(direct[1]), np.float64).size == 5 * 7 + 7 * 3


def test_a_fit_of_small_products_runs_its_blas_on_one_thread_and_gives_the_threads_back():
    """Products between OpenBLAS's threading threshold and ``ONE_THREAD_FIT`` run on one
    thread for the fit (a second buys nothing, and thrashes on a busy machine); smaller
    ones (already one thread) and larger ones keep the library's threads; the threads
    come back after the fit."""
    pytest.importorskip("threadpoolctl")
    code = (
        "import numpy as np\n"
        "from threadpoolctl import threadpool_info\n"
        "from chainrule import Network\n"
        "from chainrule.training.callbacks import Callback\n"
        "def threads():\n"
        "    blas = [i for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "    return sorted({i['num_threads'] for i in blas})\n"
        "class Seen(Callback):\n"
        "    def on_batch_end(self, network, info):\n"
        "        seen.update(threads())\n"
        "rng = np.random.default_rng(0)\n"
        "for sizes, batch in (([19, 30, 3], 1000), ([4, 8, 3], 10), ([300, 100, 10], 128)):\n"
        "    seen = set()\n"
        "    X = rng.normal(size=(2 * batch, sizes[0]))\n"
        "    y = rng.integers(0, sizes[-1], 2 * batch)\n"
        "    Network(sizes, seed=0).fit(X, y, epochs=1, batch_size=batch, callbacks=[Seen()])\n"
        "    print(sorted(seen), threads())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "2"},
        check=True,
    ).stdout.split("\n")
    assert out[:3] == ["[1] [2]", "[2] [2]", "[2] [2]"]
