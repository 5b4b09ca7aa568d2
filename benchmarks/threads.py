"""1 vs 2 BLAS threads for chainrule's ``fit``, interleaved in one process (threadpoolctl).

Usage::

    python benchmarks/threads.py --workloads W1,W2,W3 --rounds 3

Each round trains one epoch per (workload, thread count) in shuffled order under
``threadpoolctl.threadpool_limits``; the report is the median seconds per epoch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from threadpoolctl import threadpool_limits  # noqa: E402

from chainrule import Network  # noqa: E402
from workloads import WORKLOADS, make_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = args.workloads.split(",")
    counts = [int(t) for t in args.threads.split(",")]
    data = {w: make_data(WORKLOADS[w], WORKLOADS[w].samples, np.dtype(args.dtype)) for w in names}
    times: dict[tuple[str, int], list[float]] = {(w, t): [] for w in names for t in counts}
    rng = np.random.default_rng(args.seed)
    for _ in range(args.rounds):
        for j in rng.permutation(len(times)):
            w, t = list(times)[j]
            spec = WORKLOADS[w]
            net = Network(
                list(spec.sizes),
                activation=spec.activation,
                output_activation=None if spec.output == spec.activation else spec.output,
                cost=spec.cost,
                seed=0,
                dtype=np.dtype(args.dtype),
            )
            X, y = data[w]
            with threadpool_limits(limits=t, user_api="blas"):
                start = time.perf_counter()
                net.fit(
                    X,
                    y,
                    epochs=1,
                    batch_size=spec.batch_size,
                    learning_rate=spec.learning_rate,
                    seed=0,
                )
                times[w, t].append(time.perf_counter() - start)
    print(f"| workload | {' | '.join(f'{t} thread(s), s/epoch' for t in counts)} |")
    print("|---|" + "---|" * len(counts))
    for w in names:
        cells = [
            f"{statistics.median(times[w, t]):.3f} ({min(times[w, t]):.3f}–{max(times[w, t]):.3f})"
            for t in counts
        ]
        print(f"| {w} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
