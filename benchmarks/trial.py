"""One benchmark trial, run in a fresh process by ``run.py``; prints one JSON object.

Usage::

    python benchmarks/trial.py fit --impl chainrule --workload W2 --dtype float32 --samples 60000
    python benchmarks/trial.py gemm --dtype float32 --size 4096
    python benchmarks/trial.py info
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from typing import Any

import numpy as np


def peak_rss_mib() -> float:
    """Peak resident memory of this process (``ru_maxrss``) in MiB."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def run_fit(impl: str, workload: str, dtype: str, samples: int, threads: int) -> dict[str, Any]:
    """Time one epoch of ``impl`` on ``workload``."""
    from peers import IMPLEMENTATIONS
    from workloads import WORKLOADS, make_data

    w = WORKLOADS[workload]
    X, y = make_data(w, samples, np.dtype(dtype))
    load = os.getloadavg()[0]
    cpu = time.process_time()
    seconds = IMPLEMENTATIONS[impl](w, X, y, threads)
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "steps": w.steps(samples),
        "peak_rss_mib": peak_rss_mib(),
        "load_before": load,
    }


def run_gemm(dtype: str, size: int, repeats: int = 3) -> dict[str, Any]:
    """Best GFLOP/s of a square ``size``^3 GEMM in NumPy: the hardware limit of the run."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.dtype(dtype).type)
    b = rng.random((size, size), dtype=np.dtype(dtype).type)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm-up: threads started, pages touched
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return {"gflops": 2 * size**3 / best / 1e9, "seconds": best, "peak_rss_mib": peak_rss_mib()}


def _timed(f: Any) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def run_info() -> dict[str, Any]:
    """Machine, library versions and the BLAS libraries that threadpoolctl sees."""
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS too)

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "env": {
            k: os.environ.get(k)
            for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        },
    }
    for module in ("scipy", "sklearn", "torch", "chainrule", "threadpoolctl"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                **{
                    k: p.get(k)
                    for k in (
                        "internal_api",
                        "version",
                        "architecture",
                        "num_threads",
                        "threading_layer",
                        "prefix",
                    )
                },
                "owner": _owner(p.get("filepath") or ""),
            }
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    if info["torch"]:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "other"
    return info


def _owner(filepath: str) -> str:
    """The package that ships a shared library, from its path (``numpy.libs`` -> ``numpy``)."""
    parts = filepath.split(os.sep)
    if "site-packages" in parts and parts.index("site-packages") + 1 < len(parts):
        return parts[parts.index("site-packages") + 1].removesuffix(".libs")
    return filepath


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run one trial, print its JSON result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    fit = sub.add_parser("fit")
    fit.add_argument("--impl", required=True)
    fit.add_argument("--workload", required=True)
    fit.add_argument("--dtype", default="float32")
    fit.add_argument("--samples", type=int, required=True)
    fit.add_argument("--threads", type=int, default=2)
    gemm = sub.add_parser("gemm")
    gemm.add_argument("--dtype", default="float32")
    gemm.add_argument("--size", type=int, default=4096)
    sub.add_parser("info")
    args = parser.parse_args(argv)
    if args.kind == "fit":
        result = run_fit(args.impl, args.workload, args.dtype, args.samples, args.threads)
    elif args.kind == "gemm":
        result = run_gemm(args.dtype, args.size)
    else:
        result = run_info()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
