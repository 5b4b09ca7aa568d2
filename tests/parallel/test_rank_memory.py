"""What keeps an MPI rank's memory at its share (issue 20, item 7; docs/distributed.md):
the split held as one byte a row, the test rows scored where they lie (never sent to
rank 0) and set aside in a temporary file during training, the matrix shrunk in place.

The mpiexec tests are slow (left out by default) and skip where mpi4py or ``mpiexec``
is missing; the pieces are tested here without MPI.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from test_sharded_tables import COMMON, _run, write_table

from chainrule.data.split import split_indices, split_parts
from chainrule.parallel.table_shard import set_aside, without_tail

# ---------------------------------------------------------------- without MPI


@pytest.mark.parametrize("stratify", [True, False])
@pytest.mark.parametrize(("val", "test"), [(0.0, 0.2), (0.1, 0.2), (0.3, 0.0), (0.0, 0.0)])
@pytest.mark.parametrize(
    "y",
    [
        np.random.default_rng(1).integers(0, 3, 1000),
        np.random.default_rng(2).integers(0, 5, 37).astype(np.uint8),
        np.random.default_rng(3).normal(size=500),
        np.random.default_rng(4).normal(size=(50, 2)),
    ],
    ids=["labels", "uint8-labels", "numbers", "two-targets"],
)
def test_split_parts_is_split_indices_in_one_byte_a_row(
    y: np.ndarray, val: float, test: float, stratify: bool
) -> None:
    for seed in (0, 7):
        expected = split_indices(
            y, val_fraction=val, test_fraction=test, seed=seed, stratify=stratify
        )
        part = split_parts(y, val_fraction=val, test_fraction=test, seed=seed, stratify=stratify)
        assert part.dtype == np.uint8 and part.shape == (len(y),)
        for k, rows in enumerate(expected):
            np.testing.assert_array_equal(np.flatnonzero(part == k), rows)


def test_split_parts_refuses_what_split_indices_refuses() -> None:
    for kwargs in ({"test_fraction": 1.0}, {"val_fraction": 0.5, "test_fraction": 0.5}):
        with pytest.raises(ValueError) as a:
            split_indices(np.zeros(10), **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValueError) as b:
            split_parts(np.zeros(10), **kwargs)  # type: ignore[arg-type]
        assert str(a.value) == str(b.value)
    with pytest.raises(ValueError, match="2 rows are too few to split"):
        split_parts(np.array([0, 1]), test_fraction=0.2)


def _matrix() -> np.ndarray:
    owner = np.empty((20, 3))  # owns its buffer, as the reader's matrix does
    owner[:] = np.arange(60.0).reshape(20, 3)
    return owner


def test_without_tail_shrinks_the_buffer_in_place() -> None:
    owner = _matrix()
    expected = owner[:7].copy()
    held = [owner[:15]]  # a view at the buffer's start, as the reader hands its matrix
    del owner
    X = without_tail(held, 7)
    assert held == []
    assert not without_tail([np.arange(60.0).reshape(20, 3)], 7).flags.owndata  # a view
    assert X.base is None and X.flags.owndata and X.shape == (7, 3)
    np.testing.assert_array_equal(X, expected)


def test_without_tail_leaves_a_buffer_that_something_else_holds() -> None:
    owner = _matrix()
    other = owner[10:]  # still in use elsewhere: the buffer must not move or shrink
    X = without_tail([owner], 7)
    assert X.base is owner and X.shape == (7, 3)
    np.testing.assert_array_equal(other, np.arange(30.0, 60.0).reshape(10, 3))
    assert owner.shape == (20, 3)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_set_aside_maps_the_same_rows_back_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rows = np.random.default_rng(0).normal(size=(20_000, 7)).astype(dtype)
    kept = set_aside(rows[3:])
    assert isinstance(kept, np.memmap) and kept.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(kept, rows[3:])
    assert list(tmp_path.iterdir()) == []  # unlinked at once: the mapping holds it
    assert set_aside(rows[:0]).shape == (0, 7)


def test_set_aside_keeps_the_rows_where_no_file_can_be_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    rows = np.ones((5, 2))
    monkeypatch.setattr(np.memmap, "__new__", full)
    assert set_aside(rows) is rows


# ---------------------------------------------------------------- under mpiexec

mpi = pytest.mark.skipif(shutil.which("mpiexec") is None, reason="mpiexec not found")

#: Run by each rank: its share read and scored where it lies, against one process.
SCRIPT = r"""
import json, sys
import numpy as np
from chainrule.cli import build_parser
from chainrule.cli.data_options import load_training_data
from chainrule.cli.sharded_data import load_sharded
from chainrule.cli.train import _network
from chainrule.parallel.mpi import launched_world
from chainrule.parallel.table_shard import gather_rows

world = launched_world()
args = build_parser().parse_args(["train", "--quiet", *sys.argv[1:]])
dtype = np.dtype("float64")
data = load_sharded(args, dtype, world)
net = _network(args, data, dtype)
mine = np.array(data.X_test)
data.score_test(world, net)
held = [len(data.X_test), bool(np.array_equal(data.X_test, mine))]
every = gather_rows(world, mine)  # (for this check only)
sizes = world.comm.gather(held, root=0)
if world.root:
    one = load_training_data(args, dtype)
    expected = net.evaluate(one.X_test, one.y_test)
    out = {
        "sizes": sizes, "n_test": data.n_test, "one_n_test": len(one.X_test),
        "rows": float(np.abs(every - one.X_test).max()),
        "loss": [data.test_result["loss"], expected["loss"]],
        "accuracy": [data.test_result["accuracy"], expected["accuracy"]],
    }
    if data.test_pairs is not None:
        y, p = data.test_pairs
        y1 = np.asarray(one.y_test, dtype=float).reshape(len(one.y_test), -1)
        p1 = net.predict(one.X_test)
        out["pairs"] = [float(np.abs(y - y1).max()), float(np.abs(p - p1).max())]
    print("RESULT " + json.dumps(out))
"""


def _ranks(tmp_path: Path, args: list[str]) -> dict[str, object]:
    pytest.importorskip("mpi4py")
    from test_distributed import _env, _launcher_flags

    script = tmp_path / "score.py"
    script.write_text(SCRIPT, encoding="utf-8")
    launcher = [shutil.which("mpiexec") or "mpiexec", *_launcher_flags(), "-n", "2"]
    out = subprocess.run(
        [*launcher, sys.executable, str(script), *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    line = next(v for v in out.stdout.splitlines() if v.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT ") :]))


@pytest.mark.slow
@mpi
@pytest.mark.parametrize(
    "options",
    [
        ["--target", "label", "--missing", "impute", "--val-fraction", "0.1"],
        ["--target", "size", "--task", "regression", "--missing", "drop"],
    ],
    ids=["classification", "regression"],
)
def test_each_rank_scores_its_own_test_rows_as_one_process_would(
    tmp_path: Path, options: list[str]
) -> None:
    write_table(tmp_path / "t.csv", n=600)
    got = _ranks(tmp_path, ["--data", "t.csv", "--seed", "0", *options])
    sizes = got["sizes"]
    assert isinstance(sizes, list)
    # Each rank kept its own test rows (none sent to rank 0), between them one process's.
    assert all(kept for _, kept in sizes)
    assert sum(n for n, _ in sizes) == got["n_test"] == got["one_n_test"]
    assert all(0 < n < got["n_test"] for n, _ in sizes)  # type: ignore[operator]
    assert got["rows"] < 1e-12  # one process's test rows, in its order
    loss, accuracy = got["loss"], got["accuracy"]
    assert isinstance(loss, list) and isinstance(accuracy, list)
    assert loss[0] == pytest.approx(loss[1], rel=1e-12)
    if "regression" in options:
        assert np.isnan(accuracy[0]) and got["pairs"] == [0.0, pytest.approx(0.0, abs=1e-12)]
    else:
        assert accuracy[0] == accuracy[1]


@pytest.mark.slow
@mpi
def test_regression_lines_and_a_report_from_two_ranks_are_one_process_s(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    write_table(tmp_path / "t.csv")
    args = ["--data", "t.csv", *COMMON, "--missing", "drop"]
    args = [a if a != "label" else "size" for a in args] + ["--task", "regression"]
    one = _run(1, [*args, "--report", "one.html"], tmp_path)
    two = _run(2, [*args, "--report", "two.html"], tmp_path)
    three = _run(2, args, tmp_path)  # scored where the rows lie, no report
    assert one.returncode == two.returncode == three.returncode == 0, two.stderr + three.stderr

    def scores(out: str) -> list[str]:
        lines = [line for line in out.splitlines() if line.startswith(("test ", "M", "R²"))]
        return [re.sub(r" \(\d+\.\ds\)", "", line) for line in lines]

    assert scores(one.stdout) and scores(two.stdout) == scores(one.stdout)
    assert scores(three.stdout) == scores(one.stdout)
    assert (tmp_path / "two.html").stat().st_size > 0
