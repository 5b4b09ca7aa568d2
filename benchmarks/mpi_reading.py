"""Peak memory per MPI rank when each rank reads its share of a table: ``chainrule train``
in one process against ``mpiexec -n 2 chainrule train``, on the files of
``benchmarks/reading.py`` (``numeric.csv``: 1,000,000 × 20, about 180 MB; ``mixed.csv``:
200,000 rows with text, missing cells and a date) and ``numeric3m.csv`` (the same generator's
3,000,000 × 20, about 550 MB; ``--no-large`` leaves it out), interleaved over ``--rounds``.

Each process's peak RSS is its ``ru_maxrss`` (imports included), reported by
``/usr/bin/time -f %M`` around every rank.  Run:
``python3 benchmarks/mpi_reading.py [--rounds 2] [--dir DIR] [--no-large]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reading import make_files

ROOT = Path(__file__).resolve().parents[1]


def make_large(path: Path, n: int = 3_000_000) -> Path:
    """``numeric.csv``'s generator (``benchmarks/reading.py``) for ``n`` rows."""
    if not path.exists():
        rng = np.random.default_rng(0)
        with open(path, "w") as f:
            f.write(",".join([f"x{i}" for i in range(19)] + ["label"]) + "\n")
            for _ in range(0, n, 100_000):
                X = rng.normal(size=(100_000, 19))
                y = rng.integers(0, 3, 100_000)
                np.savetxt(f, np.column_stack([X, y]), fmt=["%.6f"] * 19 + ["%d"], delimiter=",")
    return path


def run(n: int, path: Path, extra: list[str]) -> tuple[float, list[float]]:
    """Seconds and each rank's peak RSS (bytes) of one ``chainrule train``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE"):
        env.pop(name, None)
    train = [sys.executable, "-m", "chainrule", "train", "--data", str(path), "--epochs", "1"]
    train += ["--batch-size", "1000", "--hidden", "30", "--progress", "none", *extra]
    timed = ["/usr/bin/time", "-f", "peak-kb %M", *train]
    launcher = [shutil.which("mpiexec") or "mpiexec", "-n", str(n)] if n > 1 else []
    for _attempt in range(3):
        start = time.perf_counter()
        out = subprocess.run([*launcher, *timed], capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(out.stderr[-2000:])
        peaks = [float(v) * 1024 for v in re.findall(r"peak-kb (\d+)", out.stderr)]
        if len(peaks) == n:  # (mpiexec once lost a rank's last line of stderr: run again)
            return seconds, peaks
    raise SystemExit(f"no peak from every rank of {n}: {out.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--no-large", action="store_true", help="leave out the 550 MB file")
    args = parser.parse_args()
    d = Path(args.dir or tempfile.mkdtemp(prefix="chainrule-reading-"))
    d.mkdir(parents=True, exist_ok=True)
    files = make_files(d)
    cases = {
        "numeric": (files["numeric"], []),
        "mixed": (files["mixed"], ["--missing", "impute"]),
    }
    if not args.no_large:
        cases["numeric3m"] = (make_large(d / "numeric3m.csv"), [])
    results: dict[str, dict[int, list[tuple[float, list[float]]]]] = {}
    for _ in range(args.rounds):
        for name, (path, extra) in cases.items():
            for n in (1, 2):
                results.setdefault(name, {}).setdefault(n, []).append(run(n, path, extra))
    print("| file | size | one process: peak RSS | 2 ranks: per rank | ratio | seconds 1 / 2 |")
    print("|---|---|---|---|---|---|")
    mb = 1 << 20  # MiB, as the peaks are (ru_maxrss is in KiB)
    for name, by_n in results.items():
        one = statistics.median(max(p) for _, p in by_n[1])
        two = statistics.median(max(p) for _, p in by_n[2])
        t1 = statistics.median(s for s, _ in by_n[1])
        t2 = statistics.median(s for s, _ in by_n[2])
        size = cases[name][0].stat().st_size / mb
        print(
            f"| {name}.csv | {size:.0f} MiB | {one / mb:.0f} MiB | {two / mb:.0f} MiB "
            f"| {two / one:.2f}× | {t1:.1f} s / {t2:.1f} s |"
        )


if __name__ == "__main__":
    main()
