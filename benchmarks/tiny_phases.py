"""Where a tiny-network trial's time goes, and why it differs between fresh processes.

Runs the ``tiny`` trial of ``run.py`` (a throwaway one-batch fit, then one timed
``Network.fit`` of 3,000 steps, float32) in ``--processes`` fresh processes, one after
another, and prints one line per process:

* ``fit``: the timed fit's wall-clock µs per step (the benchmark's own measure);
* ``setup`` / ``tail``: thread CPU ms before the first batch and after the last one
  (validation, one-hot targets, buffers, views; the epoch's loss and accuracy);
* ``step``: the median thread CPU µs of one step, from a timestamp per batch;
* ``faults``: minor page faults during the fit (fresh memory touched);
* ``speed``: ns per iteration of a fixed pure-Python loop timed just before and
  after the fit, in thread CPU time — no NumPy, no memory traffic, no waiting for a
  CPU, so it tracks only how fast the CPU runs Python at that moment.

Usage::

    python benchmarks/tiny_phases.py --processes 12
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _speed() -> float:
    """Thread CPU ns per iteration of a pure-Python loop (median of 5)."""
    times = []
    for _ in range(5):
        start = time.thread_time_ns()
        s = 0
        for i in range(20_000):
            s += i * i
        times.append((time.thread_time_ns() - start) / 20_000)
    return float(np.median(times))


def one_trial() -> dict[str, float]:
    """The tiny trial in this process, with a timestamp per batch."""
    sys.path.insert(0, str(HERE))
    import chainrule
    from chainrule.training import loop
    from workloads import WORKLOADS, make_data

    w = WORKLOADS["tiny"]
    X, y = make_data(w, w.samples, np.dtype("float32"))
    stamps = np.zeros(w.steps(w.samples) + 1, dtype=np.int64)
    epoch = loop.Batches.epoch

    def stamped(self: loop.Batches, order: np.ndarray | None) -> object:
        clock, i = time.thread_time_ns, 0
        for batch in epoch(self, order):
            stamps[i] = clock()
            i += 1
            yield batch
        stamps[i] = clock()

    loop.Batches.epoch = stamped  # type: ignore[method-assign]

    def network() -> chainrule.Network:
        return chainrule.Network(  # as benchmarks/peers.py's fit_chainrule
            list(w.sizes),
            activation=w.activation,
            output_activation=w.output,
            cost=w.cost,
            seed=0,
            dtype=X.dtype,
        )

    fit = {"epochs": 1, "batch_size": w.batch_size, "learning_rate": w.learning_rate}
    network().fit(X[: w.batch_size], y[: w.batch_size], **fit)  # the lazy imports
    net = network()
    before = _speed()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
    net.fit(X, y, shuffle=True, seed=0, **fit)  # type: ignore[arg-type]
    wall, cpu_end = time.perf_counter_ns() - wall, time.thread_time_ns()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    steps = len(stamps) - 1
    return {
        "fit": wall / steps / 1e3,
        "setup": (stamps[0] - cpu) / 1e6,
        "tail": (cpu_end - stamps[-1]) / 1e6,
        "step": float(np.median(np.diff(stamps))) / 1e3,
        "faults": faults,
        "speed": (before + _speed()) / 2,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the trial in fresh processes; print each and the spread's correlation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_trial()))
        return
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    rows = []
    for _ in range(args.processes):
        out = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr.strip().splitlines()[-1])
        rows.append(json.loads(out.stdout))
        r = rows[-1]
        print(
            f"fit {r['fit']:5.1f} µs/step  setup {r['setup']:4.1f} ms  tail {r['tail']:4.1f} ms  "
            f"step {r['step']:5.1f} µs  faults {r['faults']:5.0f}  speed {r['speed']:5.1f} ns"
        )
    if len(rows) > 2:
        step = [r["step"] for r in rows]
        speed = [r["speed"] for r in rows]
        corr = np.corrcoef(step, speed)[0, 1]
        print(f"correlation of the step and the Python loop's speed over processes: {corr:.2f}")


if __name__ == "__main__":
    main()
