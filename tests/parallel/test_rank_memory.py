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

from chainrule.data import read_data_file
from chainrule.data import table as table_module
from chainrule.data.split import split_indices, split_parts
from chainrule.parallel import table_shard
from chainrule.parallel.table_shard import (
    in_blocks,
    release_rows,
    set_aside,
    set_aside_blocks,
    without_tail,
)

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


def test_set_aside_writes_chosen_rows_prepared_a_block_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(table_shard, "_ASIDE_BYTES", 64 * 8 * 7)  # blocks of 64 rows
    rows = np.random.default_rng(1).normal(size=(1000, 7))
    index = np.flatnonzero(np.arange(1000) % 3 == 1).astype(np.int32)
    seen: list[int] = []

    def prepare(block: np.ndarray) -> np.ndarray:
        seen.append(len(block))
        return (block * 2.0).astype(np.float32)

    kept = set_aside(rows, index, prepare)
    assert isinstance(kept, np.memmap) and kept.dtype == np.float32
    np.testing.assert_array_equal(kept, (rows[index] * 2.0).astype(np.float32))
    assert max(seen) == 64 and sum(seen) == len(index)  # never the rows all at once
    assert list(tmp_path.iterdir()) == []
    none = set_aside(rows, index[:0], prepare)
    assert none.shape == (0, 7) and none.dtype == np.float32


def test_set_aside_blocks_stacks_what_it_is_given_even_without_a_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = [np.full((3, 2), 1.0), np.full((5, 2), 2.0)]
    got = set_aside_blocks(lambda: iter(parts))
    np.testing.assert_array_equal(got, np.concatenate(parts))
    assert set_aside_blocks(lambda: iter([]), np.empty((0, 2))).shape == (0, 2)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.memmap, "__new__", full)
    kept = set_aside_blocks(lambda: iter(parts))
    assert type(kept) is np.ndarray
    np.testing.assert_array_equal(kept, np.concatenate(parts))
    index = np.arange(0, 5, 2)
    np.testing.assert_array_equal(set_aside(np.ones((5, 2)), index, lambda b: b + 1), 2.0)


def test_in_blocks_covers_the_index_in_order() -> None:
    index = np.arange(10_000)[::-3]
    blocks = list(in_blocks(index, lambda part: part.copy(), width=1 << 12))
    assert len(blocks) > 1 and max(map(len, blocks)) == 64  # (1 MiB of 4096-wide rows)
    np.testing.assert_array_equal(np.concatenate(blocks), index)


def _mapped_kib(address: int) -> int:
    """Resident KiB of this process's mapping that holds ``address``."""
    rss, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(v, 16) for v in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "Rss:":
                rss += int(line.split()[1])
    return rss


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux's /proc")
def test_released_rows_leave_the_process_s_resident_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rows = np.random.default_rng(2).normal(size=(64_000, 32))  # 16 MiB
    kept = set_aside(rows)
    assert isinstance(kept, np.memmap)
    address = kept.ctypes.data
    total = 0.0
    for start in range(0, len(kept), 8192):
        total += float(kept[start : start + 8192].sum())  # every page read once
    before = _mapped_kib(address)
    assert before > 12 * 1024  # read: resident in this process
    release_rows(kept, 0, len(kept))
    assert _mapped_kib(address) < 1024
    assert float(kept.sum()) == pytest.approx(total)  # still there (the page cache)
    release_rows(rows, 0, len(rows))  # an array in memory: nothing to do
    np.testing.assert_array_equal(kept, rows)


def test_a_rank_s_share_streams_in_small_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.csv as pacsv

    sizes: list[int] = []
    whole: list[object] = []  # tables parsed whole
    open_csv, read_csv = pacsv.open_csv, pacsv.read_csv

    def recording(*args: object, **kwargs: object) -> object:
        sizes.append(kwargs["read_options"].block_size)  # type: ignore[union-attr]
        return open_csv(*args, **kwargs)  # type: ignore[arg-type]

    def parsed_whole(*args: object, **kwargs: object) -> object:
        whole.append(args[0])
        return read_csv(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pacsv, "open_csv", recording)
    monkeypatch.setattr(pacsv, "read_csv", parsed_whole)
    monkeypatch.setattr(table_module, "_WHOLE_BYTES", 1 << 10)  # stream even small files
    path = tmp_path / "t.csv"
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 4))
    np.savetxt(
        path,
        np.column_stack([X, rng.integers(0, 2, 3000)]),
        delimiter=",",
        header="a,b,c,d,label",
        comments="",
        fmt=["%.6f"] * 4 + ["%d"],
    )
    one = read_data_file(path, target="label", header=True)
    sizes.clear()
    whole.clear()
    with table_shard._share_blocks():
        share = read_data_file(path, target="label", header=True)
    # Streamed in small blocks, never parsed whole (the parsed table would sit on the peak).
    assert sizes and set(sizes) == {table_shard._SHARE_BLOCK} and whole == []
    assert table_module._BLOCK_BYTES == 1 << 20 and table_module._PARSE_WHOLE_NUMBERS  # restored
    np.testing.assert_array_equal(share.X, one.X)
    np.testing.assert_array_equal(share.y, one.y)


def test_file_bytes_are_copied_and_counted_through_one_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_shard, "_COPY_BYTES", 7)  # blocks that cut lines
    body = b"a,b\n1,2\n\n33,44\n5,6"
    src = tmp_path / "src.csv"
    src.write_bytes(body)
    assert table_shard._newlines(src) == 5  # four newlines, and a last line without one
    src.write_bytes(body + b"\n")
    assert table_shard._newlines(src) == 5
    dst = tmp_path / "dst.csv"
    with open(src, "rb") as f, open(dst, "wb") as out:
        assert table_shard._copy_range(f, out, 4, 16) == 3
    assert dst.read_bytes() == body[4:16]


def test_a_share_s_line_numbers_are_checked_without_an_array_of_them() -> None:
    lines = np.arange(40_002, 40_002 + 200_000)
    assert table_shard._lines_are(lines, None, 40_002, 200_000)
    assert not table_shard._lines_are(lines, None, 40_001, 200_000)
    assert not table_shard._lines_are(lines[:-1], None, 40_002, 200_000)
    broken = lines.copy()
    broken[150_000] += 1
    assert not table_shard._lines_are(broken, None, 40_002, 200_000)
    assert table_shard._lines_are(lines[:5], lines[:5].copy(), 0, 0)


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


# ------------------------------------------------- data-parallel epochs (one rank)


def _fit(comm: object, n: int = 20_000) -> tuple[object, int]:
    """A seeded fit, alone or data-parallel on ``comm``; and the traced peak of the fit."""
    import tracemalloc

    from chainrule import Network

    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, 4))
    Y = np.eye(3)[rng.integers(0, 3, n)]
    net = Network([4, 8, 3], output_activation="softmax", cost="log_likelihood", seed=1)
    tracemalloc.start()
    try:
        net.fit(X, Y, epochs=2, batch_size=100, learning_rate=0.1, seed=2, comm=comm)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return net, peak


def test_data_parallel_epochs_sum_their_loss_batch_by_batch_without_epoch_buffers() -> None:
    """A rank's epoch keeps no (rows, outputs) z^L and a^L buffers for the epoch's loss:
    each batch's cost and correct rows are summed as it trains.  On one rank the
    history and the weights are one process's."""
    mpi = pytest.importorskip("mpi4py.MPI")
    from chainrule.parallel.mpi import DataParallel

    one, _ = _fit(None)
    par, peak = _fit(DataParallel(mpi.COMM_SELF))
    for name in ("train_loss", "train_accuracy"):
        np.testing.assert_allclose(
            getattr(par.history, name), getattr(one.history, name), rtol=1e-12
        )
    for a, b in zip(par.weights, one.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    epoch_buffers = 2 * 20_000 * 3 * 8  # z^L and a^L of every row, float64 (0.96 MB)
    assert peak < epoch_buffers  # all the fit allocated (the epoch's order, its plan, ...)


def test_a_share_s_numeric_classes_are_checked_as_numbers() -> None:
    values = table_shard._class_values(["0", "2", "10"])
    assert values is not None and values.tolist() == [0.0, 2.0, 10.0]
    assert table_shard._class_values(["a", "2"]) is None
    assert table_shard._class_values(["nan", "2"]) is None
    classes = np.tile(np.array([0, 2, 1], dtype=np.uint8), 50_000)
    read = np.tile(np.array([0.0, 10.0, 2.0]), 50_000)
    assert table_shard._targets_are(read, classes, values)
    read[100_001] = 10.0  # (class 1 there: 2)
    assert not table_shard._targets_are(read, classes, values)
    assert not table_shard._targets_are(read[:-1], classes, values)
    assert table_shard._targets_are(classes.astype(np.int64), classes, None)
