"""Reading tables: chainrule's reader and ``chainrule train`` against ``pandas.read_csv``,
in the same run, each in a fresh process (time and peak RSS).

Files (generated once into ``--dir``, seeded):

* ``numeric.csv``: 1,000,000 rows × 20 columns (19 features, 6 decimals; an integer
  label 0–2), about 180 MB;
* ``mixed.csv``: 200,000 rows: 6 numbers (some missing), 3 text columns (5–50
  categories, some missing), an ISO date and a label;
* ``wide.csv``: 20 rows × 100,000 columns.

For each file: ``pandas.read_csv(path)`` and ``chainrule.data.read_data_file(path)``,
interleaved over ``--rounds`` rounds (the median is reported), and for the numeric file
``chainrule train --data numeric.csv --epochs 1 --batch-size 1000 --hidden 30`` (float64,
the default, and ``--dtype float32``).  Peak RSS is the process's own ``ru_maxrss``
(imports included).  Each process also reports the CPU seconds it used (user + system,
all its threads): on a machine shared with other jobs the wall-clock ratios swing with
the load, the CPU ratios much less, so both are printed, with the load average.

Run: ``python3 benchmarks/reading.py [--rounds 3] [--dir DIR] [--files numeric]``
(several minutes; ``--files numeric`` measures only the numeric file and its ``train``
rows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_ENV: dict[str, str] = {}

PANDAS = """
import resource, sys, time
import pandas as pd
r = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
t = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_SELF)
print(u.ru_utime + u.ru_stime - r.ru_utime - r.ru_stime, t, u.ru_maxrss * 1024)
"""

CHAINRULE = """
import resource, sys, time
import pyarrow, pyarrow.csv, pyarrow.compute  # imported before the clock, as pandas is
from chainrule.data import read_data_file
r = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
d = read_data_file(sys.argv[1])
t = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_SELF)
print(u.ru_utime + u.ru_stime - r.ru_utime - r.ru_stime, t, u.ru_maxrss * 1024)
"""

TRAIN = """
import resource, sys, time
from chainrule.cli import main
from chainrule.network import Network
fit, spent = Network.fit, []
def timed(self, *args, **kwargs):  # the epoch's share of the run (wall seconds)
    t = time.perf_counter()
    try:
        return fit(self, *args, **kwargs)
    finally:
        spent.append(time.perf_counter() - t)
Network.fit = timed
r = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
code = main(["train", "--data", sys.argv[1], "--epochs", "1", "--batch-size", "1000",
             "--hidden", "30", "--progress", "none", "--quiet", *sys.argv[2:]])
assert code == 0
t = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_SELF)
print(sum(spent), u.ru_utime + u.ru_stime - r.ru_utime - r.ru_stime, t, u.ru_maxrss * 1024)
"""

#: pyarrow's parse alone, as fast as it goes: every column declared float64 (no type
#: inference), both cores, the values left in Arrow's columns (no matrix made).  With
#: the epoch above it is a floor under ``train`` that no work on chainrule's side of
#: the read can go below.
BARE = """
import resource, sys, time
import pyarrow as pa, pyarrow.csv as pacsv
names = [f"c{j}" for j in range(20)]
r = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
types = dict.fromkeys(names, pa.float64())
pacsv.read_csv(sys.argv[1],
               read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
               convert_options=pacsv.ConvertOptions(column_types=types))
t = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_SELF)
print(u.ru_utime + u.ru_stime - r.ru_utime - r.ru_stime, t, u.ru_maxrss * 1024)
"""


def make_files(d: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    files = {"numeric": d / "numeric.csv", "mixed": d / "mixed.csv", "wide": d / "wide.csv"}
    if not files["numeric"].exists():
        n = 1_000_000
        with open(files["numeric"], "w") as f:
            f.write(",".join([f"x{i}" for i in range(19)] + ["label"]) + "\n")
            for _ in range(0, n, 100_000):
                X = rng.normal(size=(100_000, 19))
                y = rng.integers(0, 3, 100_000)
                np.savetxt(f, np.column_stack([X, y]), fmt=["%.6f"] * 19 + ["%d"], delimiter=",")
    if not files["mixed"].exists():
        n = 200_000
        cols = {f"n{i}": np.round(rng.normal(size=n), 4).astype(str) for i in range(6)}
        for i in range(6):
            cols[f"n{i}"][rng.random(n) < 0.02] = ""
        for i, k in enumerate((5, 20, 50)):
            cells = np.array([f"cat{i}_{v}" for v in range(k)])[rng.integers(0, k, n)]
            cells[rng.random(n) < 0.02] = "NA"
            cols[f"t{i}"] = cells
        days = np.datetime64("2015-01-01") + rng.integers(0, 3000, n).astype("timedelta64[D]")
        cols["day"] = days.astype(str)
        cols["label"] = rng.choice(["a", "b", "c"], n)
        with open(files["mixed"], "w") as f:
            f.write(",".join(cols) + "\n")
            rows = np.column_stack(list(cols.values()))
            f.writelines(",".join(r) + "\n" for r in rows.tolist())
    if not files["wide"].exists():
        m = 100_000
        X = rng.normal(size=(20, m))
        with open(files["wide"], "w") as f:
            f.write(",".join([f"c{i}" for i in range(m - 1)] + ["label"]) + "\n")
            X[:, -1] = rng.integers(0, 2, 20)
            np.savetxt(f, X, fmt="%.3f", delimiter=",")
    return files


def _environment() -> dict[str, str]:
    """The processes' environment: chainrule from this checkout, its modules compiled
    once (as an installed package's are: with ``PYTHONDONTWRITEBYTECODE`` set, every
    process would compile the modules it imports after the clock starts, ~0.2 s)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "chainrule")],
        env=env,
        check=True,
    )
    return env


def measure(code: str, path: Path, *extra: str) -> tuple[float, ...]:
    """(wall seconds, peak RSS bytes, CPU seconds[, the epoch's wall seconds]) of one
    fresh process."""
    if not _ENV:
        _ENV.update(_environment())
    env = _ENV
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    fields = (float(out[-2]), float(out[-1]), float(out[-3]))
    return fields + ((float(out[-4]),) if code is TRAIN else ())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None)
    parser.add_argument(
        "--files",
        default="numeric,mixed,wide",
        help="which files to measure, comma-separated (numeric: the train rows too)",
    )
    args = parser.parse_args()
    d = Path(args.dir or tempfile.mkdtemp(prefix="chainrule-reading-"))
    d.mkdir(parents=True, exist_ok=True)
    chosen = args.files.split(",")
    files = {k: v for k, v in make_files(d).items() if k in chosen}
    if not files:
        parser.error(f"--files: none of {args.files!r} is numeric, mixed or wide")
    results: dict[str, dict[str, list[tuple[float, ...]]]] = {}
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, path in files.items():
            r = results.setdefault(
                name, {"pandas": [], "chainrule": [], "train": [], "train32": [], "bare": []}
            )
            r["pandas"].append(measure(PANDAS, path))
            r["chainrule"].append(measure(CHAINRULE, path))
            if name == "numeric":
                r["bare"].append(measure(BARE, path))
                r["train"].append(measure(TRAIN, path))
                r["train32"].append(measure(TRAIN, path, "--dtype", "float32"))
            load.append(os.getloadavg()[0])
    print(
        f"1-minute load average on {os.cpu_count()} CPUs during the run: "
        f"{min(load):.1f}–{max(load):.1f} (median {float(np.median(load)):.1f})\n"
    )
    print(
        "| file | size | pandas.read_csv | chainrule read | ratio | chainrule train "
        "(1 epoch) | train / pandas | peak RSS pandas / chainrule read / train "
        "(× file size) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        size = files[name].stat().st_size
        med = {
            k: tuple(float(np.median([m[i] for m in v])) for i in range(3))
            for k, v in r.items()
            if v
        }
        train = med.get("train")
        print(
            f"| {name}.csv | {size / 1e6:.0f} MB | {med['pandas'][0]:.2f} s | "
            f"{med['chainrule'][0]:.2f} s | {med['chainrule'][0] / med['pandas'][0]:.2f}× | "
            + (f"{train[0]:.2f} s | {train[0] / med['pandas'][0]:.2f}× | " if train else "– | – | ")
            + f"{med['pandas'][1] / size:.1f} / {med['chainrule'][1] / size:.1f}"
            + (f" / {train[1] / size:.1f}" if train else "")
            + " |"
        )
    print(
        "\nCPU seconds (user + system, every thread of the process), medians: "
        "the same comparisons, less swayed by other jobs\n"
    )
    print(
        "| file | pandas.read_csv | chainrule read | ratio | train (float64) | "
        "train / pandas | train --dtype float32 | train32 / pandas |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        cpu = {k: float(np.median([m[2] for m in v])) for k, v in r.items() if v}
        row = f"| {name}.csv | {cpu['pandas']:.2f} s | {cpu['chainrule']:.2f} s | "
        row += f"{cpu['chainrule'] / cpu['pandas']:.2f}× | "
        for k in ("train", "train32"):
            row += f"{cpu[k]:.2f} s | {cpu[k] / cpu['pandas']:.2f}× | " if k in cpu else "– | – | "
        print(row.rstrip())
    wall32 = results["numeric"]["train32"] if "numeric" in results else []
    if wall32:
        pandas = float(np.median([m[0] for m in results["numeric"]["pandas"]]))
        t32 = float(np.median([m[0] for m in wall32]))
        rss32 = float(np.median([m[1] for m in wall32]))
        size = files["numeric"].stat().st_size
        print(
            f"\nnumeric.csv, train --dtype float32: {t32:.2f} s wall "
            f"({t32 / pandas:.2f}× pandas' read), peak RSS {rss32 / size:.1f}× the file"
        )
    if "numeric" in results:
        floor(results["numeric"])
    print(json.dumps({k: {kk: vv for kk, vv in v.items()} for k, v in results.items()}))


def floor(r: dict[str, list[tuple[float, ...]]]) -> None:
    """How far below its measured time ``train`` on the numeric file could go: pyarrow's
    bare parse (both cores, no matrix) plus the run's own epoch, against pandas' read."""
    pandas = float(np.median([m[0] for m in r["pandas"]]))
    bare = float(np.median([m[0] for m in r["bare"]]))
    train = float(np.median([m[0] for m in r["train"]]))
    epoch = float(np.median([m[3] for m in r["train"]]))
    print(
        f"\nnumeric.csv, where train's time goes (wall, medians): pandas' read {pandas:.2f} s; "
        f"train {train:.2f} s ({train / pandas:.2f}×), of which the epoch (Network.fit) "
        f"{epoch:.2f} s ({epoch / pandas:.2f}×); pyarrow's bare parse {bare:.2f} s "
        f"({bare / pandas:.2f}×); bare parse + epoch {bare + epoch:.2f} s = "
        f"{(bare + epoch) / pandas:.2f}× pandas' read, a floor under train with pyarrow"
    )


if __name__ == "__main__":
    main()
