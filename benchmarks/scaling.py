"""Data-parallel scaling: one epoch of W2 and W3 on 1 and 2 MPI ranks (docs/scaling.md).

Usage::

    python benchmarks/scaling.py                      # 3 rounds, W2 and W3, float64, 12,000 rows
    python benchmarks/scaling.py --rounds 1 --samples 3000 --workloads W2   # a smoke run
    python benchmarks/scaling.py --model W3=26.3,W2=1.41   # the cluster model (docs/scaling.md)

Each trial is a fresh ``mpiexec -n N`` job running this file with ``--trial``;
every rank trains with ``Network.fit(..., comm=MPI.COMM_WORLD)`` and rank 0
prints one JSON object: the epoch's seconds, and the seconds spent in the
gradient ``Allreduce`` (``DataParallel.allreduce_seconds``).  The machine's
cores are shared out: ``N`` ranks get ``cores // N`` BLAS threads each.  A
plain single process (``fit`` without ``comm``, the fused SGD path) is the
baseline.  A second probe times ``Allreduce`` of a W3-sized buffer alone.

The trials of a round are shuffled together; the table shows the median over
rounds.  Data parallelism cannot speed anything up on one 2-core machine (the
ranks share the same cores); the point is the per-step cost of the reduction,
which docs/scaling.md extrapolates to a cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from workloads import WORKLOADS, make_data  # noqa: E402


def _network(name: str, dtype: str) -> Any:
    import chainrule

    w = WORKLOADS[name]
    return chainrule.Network(
        list(w.sizes),
        activation=w.activation,
        output_activation=w.output,
        cost=w.cost,
        seed=0,
        dtype=dtype,
    )


def trial(name: str, dtype: str, samples: int, mpi: bool) -> dict[str, Any]:
    """One epoch of ``name``; with ``mpi``, data-parallel over ``COMM_WORLD``."""
    w = WORKLOADS[name]
    X, y = make_data(w, samples, np.dtype(dtype))
    net = _network(name, dtype)
    kwargs: dict[str, Any] = dict(
        epochs=1, batch_size=w.batch_size, learning_rate=w.learning_rate, seed=1
    )
    rank, par = 0, None
    if mpi:
        from mpi4py import MPI

        from chainrule.parallel import DataParallel

        par = DataParallel(MPI.COMM_WORLD)
        rank = par.rank
        MPI.COMM_WORLD.Barrier()
        kwargs["comm"] = par
    start = time.perf_counter()
    net.fit(X, y, **kwargs)
    seconds = time.perf_counter() - start
    steps = w.steps(samples)
    return {
        "rank": rank,
        "seconds": seconds,
        "steps": steps,
        "allreduce_seconds": par.allreduce_seconds if par else 0.0,
        "parameters": net.n_parameters,
    }


def allreduce_probe(n_values: int, dtype: str, repeats: int = 20) -> dict[str, Any]:
    """Median seconds of ``Allreduce`` (in place, sum) of ``n_values`` values."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    buf = np.ones(n_values, dtype=dtype)
    times = []
    for _ in range(repeats + 2):
        comm.Barrier()
        start = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - start)
    return {"rank": comm.Get_rank(), "seconds": statistics.median(times[2:]), "bytes": buf.nbytes}


#: The cluster model's networks: (name, Gbit/s, latency per message in seconds).
NETWORKS = (("10 Gbit/s Ethernet", 10.0, 20e-6), ("100 Gbit/s InfiniBand/RoCE", 100.0, 5e-6))


def ring_allreduce_seconds(n_bytes: float, ranks: int, gbit: float, latency: float) -> float:
    """A ring allreduce: ``2(N−1)/N · bytes / bandwidth + 2(N−1) · latency``.

    Reduce-scatter then all-gather, each ``N − 1`` messages of ``bytes / N``; the
    bandwidth term tends to ``2 · bytes / bandwidth`` however many ranks there are.
    """
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * n_bytes / (gbit * 1e9 / 8) + 2 * (ranks - 1) * latency


def model_table(step_ms: dict[str, float], dtype: str, ranks: tuple[int, ...]) -> str:
    """Markdown: modelled step time and speed-up of N ranks with the global batch fixed.

    Each rank computes ``1/N`` of the batch (``t₁/N``, optimistic: thinner GEMMs run
    less efficiently) and then waits for the allreduce (chainrule does not overlap
    communication with the backward pass).
    """
    lines = [
        "| workload | network | t₁ ms | " + " | ".join(f"N = {n}" for n in ranks) + " |",
        "|---|---|---|" + "---|" * len(ranks),
    ]
    for name, t1 in step_ms.items():
        n_bytes = _network(name, dtype).n_parameters * np.dtype(dtype).itemsize
        for label, gbit, latency in NETWORKS:
            cells = []
            for n in ranks:
                ar = ring_allreduce_seconds(n_bytes, n, gbit, latency) * 1e3
                step = t1 / n + ar
                cells.append(f"{ar:.2f} + {t1 / n:.2f} → **{t1 / step:.2f}×**")
            lines.append(
                f"| {name} ({n_bytes / 1e6:.2f} MB) | {label} | {t1:g} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def _launch(args: list[str], ranks: int, threads: int) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
    )
    cmd = [sys.executable, __file__, *args]
    if ranks:
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None:
            raise SystemExit("mpiexec not found: pip install 'chainrule[mpi]'")
        cmd = [mpiexec, "-n", str(ranks), *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", default="W2,W3")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--samples", type=int, default=12_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument(
        "--model",
        default=None,
        metavar="W3=26.3,W2=1.41",
        help="print only the cluster model for these one-process step times (ms)",
    )
    p.add_argument("--trial", default=None, help=argparse.SUPPRESS)
    p.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.model is not None:
        steps = {k: float(v) for k, v in (item.split("=") for item in args.model.split(","))}
        print(model_table(steps, args.dtype, (2, 4, 8, 16, 64)))
        return 0
    if args.probe is not None:
        result = allreduce_probe(args.probe, args.dtype)
        if result["rank"] == 0:
            print(json.dumps(result))
        return 0
    if args.trial is not None:
        result = trial(args.trial, args.dtype, args.samples, args.mpi)
        if result["rank"] == 0:
            print(json.dumps(result))
        return 0

    names = args.workloads.split(",")
    common = ["--dtype", args.dtype, "--samples", str(args.samples)]
    # (label, ranks (0: no mpiexec), threads per rank, extra arguments)
    setups = [
        ("1 process, no MPI (fused SGD)", 0, args.cores, []),
        ("1 rank", 1, args.cores, ["--mpi"]),
        ("1 rank", 1, 1, ["--mpi"]),
        ("2 ranks", 2, max(1, args.cores // 2), ["--mpi"]),
    ]
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    loads = []
    for _ in range(args.rounds):
        jobs = [(n, s) for n in names for s in setups]
        random.shuffle(jobs)
        for name, (label, ranks, threads, extra) in jobs:
            loads.append(os.getloadavg()[0])
            r = _launch(["--trial", name, *common, *extra], ranks, threads)
            results.setdefault((name, label, threads), []).append(r)

    print(
        f"{args.dtype}, {args.samples:,} rows, {args.rounds} round(s), {args.cores} cores, "
        f"median over rounds; 1-minute load average before the trials "
        f"{statistics.median(loads):.1f} ({min(loads):.1f}–{max(loads):.1f})\n"
    )
    print(
        "| workload | parameters | setup | BLAS threads / rank | seconds / epoch | "
        "ms / step | Allreduce ms / step | Allreduce share |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        for label, ranks, threads, _ in setups:
            rs = results[(name, label, threads)]
            sec = statistics.median(r["seconds"] for r in rs)
            steps = rs[0]["steps"]
            ar = statistics.median(r["allreduce_seconds"] for r in rs)
            share = f"{ar / sec:.0%}" if ranks else "–"
            ar_ms = f"{ar / steps * 1e3:.2f}" if ranks else "–"
            print(
                f"| {name} | {rs[0]['parameters']:,} | {label} | {threads} | {sec:.3f} | "
                f"{sec / steps * 1e3:.2f} | {ar_ms} | {share} |"
            )
    n_w3 = _network("W3", args.dtype).n_parameters + 8
    probe = [
        _launch(["--probe", str(n_w3), "--dtype", args.dtype], 2, 1) for _ in range(args.rounds)
    ]
    sec = statistics.median(r["seconds"] for r in probe)
    print(
        f"\nAllreduce alone, 2 ranks, {probe[0]['bytes'] / 1e6:.1f} MB (W3's gradient): "
        f"{sec * 1e3:.2f} ms ({probe[0]['bytes'] / sec / 1e9:.1f} GB/s of buffer)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
