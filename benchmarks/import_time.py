"""How long ``import chainrule`` takes beyond ``import numpy`` (issue 22's target: ≤ 100 ms).

Each measurement is a fresh interpreter (``python -X importtime`` is not used: it
slows imports down); the two statements are interleaved round by round so that a
busy machine slows both alike, and the medians are compared::

    python benchmarks/import_time.py             # 15 rounds
    python benchmarks/import_time.py --rounds 31
    python benchmarks/import_time.py --src /path/to/other/checkout/src   # a baseline

The working tree's ``src/`` is put first on ``PYTHONPATH``.  The script also
lists the heavy modules ``import chainrule`` pulled in (there should be none:
SciPy, scikit-learn and the table engines are imported when first used).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
HEAVY = ("scipy", "sklearn", "pandas", "polars", "pyarrow", "matplotlib", "torch", "tqdm")

_PROBE = """
import sys, time
t = time.perf_counter()
{statement}
elapsed = time.perf_counter() - t
heavy = [m for m in {heavy!r} if m in sys.modules]
print(elapsed, ",".join(heavy))
"""


def measure(statement: str, src: Path = SRC) -> tuple[float, list[str]]:
    """Seconds ``statement`` takes in a fresh interpreter, and the heavy modules it loaded."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement, heavy=HEAVY)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), (out[1].split(",") if len(out) > 1 else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="fresh interpreters per statement")
    parser.add_argument(
        "--src",
        type=Path,
        default=SRC,
        help="the source tree to measure (e.g. another checkout's src/)",
    )
    args = parser.parse_args(argv)
    numpy_s: list[float] = []
    chainrule_s: list[float] = []
    heavy: set[str] = set()
    for _ in range(args.rounds):
        numpy_s.append(measure("import numpy", args.src)[0])
        seconds, loaded = measure("import numpy; import chainrule", args.src)
        chainrule_s.append(seconds)
        heavy.update(loaded)
    base, total = statistics.median(numpy_s), statistics.median(chainrule_s)
    print(
        f"import numpy                    median {1e3 * base:7.1f} ms "
        f"({1e3 * min(numpy_s):.1f}–{1e3 * max(numpy_s):.1f})"
    )
    print(
        f"import numpy; import chainrule  median {1e3 * total:7.1f} ms "
        f"({1e3 * min(chainrule_s):.1f}–{1e3 * max(chainrule_s):.1f})"
    )
    print(
        f"chainrule beyond numpy: {1e3 * (total - base):.1f} ms (target ≤ 100 ms), "
        f"{args.rounds} interleaved rounds"
    )
    print("heavy modules imported:", ", ".join(sorted(heavy)) or "none")
    return 0 if total - base <= 0.100 and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
