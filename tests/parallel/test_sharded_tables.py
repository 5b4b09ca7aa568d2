"""``mpiexec -n 2 chainrule train --data table.csv``: each rank reads its share of the rows
through the table layer, and the model is one process's (issue 20, item 7).

The mpiexec tests are slow (left out by default) and skip where mpi4py or ``mpiexec``
is missing; the statistics that make roles agree across ranks are tested without MPI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import read_data_file
from chainrule.data.roles import ColumnStats, TableStats, column_stats, decide_roles
from chainrule.data.tables import subset

ROOT = Path(__file__).resolve().parents[2]


def write_table(path: Path, n: int = 400, seed: int = 0, bad_line: int | None = None) -> Path:
    """Text, missing cells (features and targets), an ID column, a date, a category that
    only one half of the file holds, a column (``code``) of numbers in the first half
    and words in the second: text in the whole file, numbers in rank 0's rows, and free
    text (``note``, a bag of words, some cells missing)."""
    rng = np.random.default_rng(seed)
    lines = ["id,colour,size,weight,when,rare,code,note,label"]
    for i in range(n):
        colour = "" if rng.random() < 0.04 else rng.choice(["red", "green", "blue", "teal"])
        size = "" if rng.random() < 0.05 else f"{rng.normal(10, 3):.3f}"
        weight = "" if rng.random() < 0.05 else str(int(rng.integers(1, 5)))
        when = f"2020-{rng.integers(1, 13):02d}-{rng.integers(1, 28):02d}"
        rare = "late" if i > n * 0.8 and i % 3 == 0 else "early"
        label = "" if rng.random() < 0.02 else str(rng.choice(["a", "b", "c"]))
        code = str(i % 3) if i < n * 3 // 8 and i % 2 == 0 else ""
        code = str(rng.choice(["x", "y", "z"])) if i >= n * 23 // 40 else code
        note = (
            ""
            if rng.random() < 0.06
            else f"{rng.choice(['old', 'new', 'big'])} {rng.choice(['car', 'van'])} no{i}"
        )
        lines.append(f"{i},{colour},{size},{weight},{when},{rare},{code},{note},{label}")
    if bad_line is not None:
        cells = lines[bad_line - 1].split(",")
        cells[2] = "oops"
        lines[bad_line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- without MPI


def _halves(data, cut):  # type: ignore[no-untyped-def]
    return subset(data, np.arange(cut)), subset(data, np.arange(cut, len(data.y)))


@pytest.mark.parametrize("cut", [1, 90, 200, 389])
def test_roles_from_merged_statistics_are_one_process_roles(tmp_path: Path, cut: int) -> None:
    data = read_data_file(write_table(tmp_path / "t.csv"), target="label", missing_target="drop")
    a, b = _halves(data, cut)
    merged = [
        ColumnStats.merge([column_stats(a, j), column_stats(b, j)]) for j in range(data.X.shape[1])
    ]
    for j, s in enumerate(merged):
        whole = column_stats(data, j)
        assert s.n_present == whole.n_present and s.integral == whole.integral
        np.testing.assert_array_equal(s.values, whole.values)
        np.testing.assert_array_equal(s.counts, whole.counts)

    def nowhere(j: int, values: np.ndarray) -> tuple[str, str]:
        raise AssertionError("no column here needs a cell located")

    stats = TableStats(merged, len(data.y), nowhere)
    assert decide_roles(a, stats=stats) == decide_roles(data)
    # Without the whole table's statistics, half a table decides differently (the ID).
    assert decide_roles(subset(data, np.arange(10))) != decide_roles(data)


def test_a_numeric_column_with_a_word_is_located_in_the_part_that_holds_it(
    tmp_path: Path,
) -> None:
    from chainrule.data.roles import RolesError

    path = tmp_path / "w.csv"
    # Thousands separators: read as text, then found to be numbers, but for one word.
    rows = [f'{i % 7},"{"x" if i == 33 else f"{i * 1000 + 5:,}"}",{i % 2}' for i in range(40)]
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n", encoding="utf-8")
    data = read_data_file(path)
    a, b = _halves(data, 20)
    merged = [ColumnStats.merge([column_stats(a, j), column_stats(b, j)]) for j in range(2)]
    with pytest.raises(RolesError) as one:
        decide_roles(data)
    stats = TableStats(merged, 40, lambda j, values: ("line 35", "x"))
    with pytest.raises(RolesError) as parts:
        decide_roles(a, stats=stats)
    assert str(parts.value) == str(one.value)
    assert "line 35, column 'b': 'x' is not a number" in str(one.value)


def test_messages_about_a_rank_s_part_name_the_file_and_its_lines() -> None:
    from chainrule.parallel.table_shard import _shifted

    tmp = "/tmp/chainrule-rank-abc.csv"
    assert (
        _shifted(f"{tmp}: line 12, column 2 ('b'): 'x' is not a number", tmp, Path("d.csv"), 200)
        == "d.csv: line 212, column 2 ('b'): 'x' is not a number"
    )
    assert _shifted("lines 3, 5 and 1 more; line 1", tmp, Path("d.csv"), 10) == (
        "lines 13, 15 and 1 more; line 1"
    )


def test_only_csv_files_with_a_header_are_read_in_shares(tmp_path: Path) -> None:
    from chainrule.parallel.table_shard import shardable

    assert shardable(write_table(tmp_path / "t.csv"))
    (tmp_path / "h.csv").write_text("1,2,0\n3,4,1\n", encoding="utf-8")
    assert not shardable(tmp_path / "h.csv")
    np.save(tmp_path / "a.npy", np.zeros((3, 3)))
    assert not shardable(tmp_path / "a.npy")
    assert not shardable(tmp_path / "missing.csv")


# ---------------------------------------------------------------- under mpiexec

mpi = pytest.mark.skipif(shutil.which("mpiexec") is None, reason="mpiexec not found")


def _run(n: int, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mpi4py")
    from test_distributed import _env, _launcher_flags

    launcher = [shutil.which("mpiexec") or "mpiexec", *_launcher_flags(), "-n", str(n)]
    command = [*launcher] if n > 1 else []
    return subprocess.run(
        [*command, sys.executable, "-m", "chainrule", "train", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _model(path: Path):  # type: ignore[no-untyped-def]
    from chainrule.io import load_model

    return load_model(path)


COMMON = ["--target", "label", "--epochs", "3", "--batch-size", "16", "--seed", "0"]


@pytest.mark.slow
@mpi
@pytest.mark.parametrize(
    ("dtype", "options", "atol"),
    [
        ("float64", ["--missing", "impute", "--val-fraction", "0.1"], 1e-10),
        (
            "float64",
            ["--missing", "drop", "--scale", "minmax", "--class-weight", "balanced"],
            1e-10,
        ),
        ("float32", ["--missing", "impute"], 1e-5),
    ],
    ids=["impute-float64", "drop-minmax-float64", "impute-float32"],
)
def test_two_ranks_reading_halves_save_one_process_model(
    tmp_path: Path, dtype: str, options: list[str], atol: float
) -> None:
    write_table(tmp_path / "t.csv")
    args = ["--data", "t.csv", *COMMON, "--dtype", dtype, *options]
    one = _run(1, [*args, "--save", "one.npz"], tmp_path)
    assert one.returncode == 0, one.stderr
    two = _run(2, [*args, "--save", "two.npz"], tmp_path)
    assert two.returncode == 0, two.stderr
    a, b = _model(tmp_path / "one.npz"), _model(tmp_path / "two.npz")
    for p, q in zip(
        a.network.weights + a.network.biases, b.network.weights + b.network.biases, strict=True
    ):
        assert p.dtype == q.dtype == np.dtype(dtype)
        np.testing.assert_allclose(q, p, rtol=0, atol=atol)
    # The same pipeline: roles (the ID excluded by the whole table's count), categories
    # (``late`` only in rank 1's rows), fill values; the scaling to rounding.
    assert b.encoding.to_json() == a.encoding.to_json()
    assert "late" in next(c for c in b.encoding.columns if c.name == "rare").categories
    code = next(c for c in b.encoding.columns if c.name == "code")
    assert code.categories == ["0", "1", "2", "x", "y", "z"]
    for key, value in a.preprocessing.features.params().items():
        np.testing.assert_allclose(b.preprocessing.features.params()[key], value, rtol=1e-12)
    assert {k: v for k, v in b.metadata.items() if k != "history"} == {
        k: v for k, v in a.metadata.items() if k != "history"
    }

    def summary(out: str) -> list[str]:
        keep = ("data:", "columns:", "  ", "monitoring:", "test accuracy:")
        return [line.split("(loss")[0] for line in out.splitlines() if line.startswith(keep)]

    assert summary(two.stdout) == summary(one.stdout)
    # Each rank parsed about half of the 400 rows (less the rows without a target).
    m = re.search(r"reading: each rank parsed its share .*\((\d+) \+ (\d+) rows", two.stdout)
    assert m, two.stdout
    counts = [int(v) for v in m.groups()]
    assert sum(counts) == 400 - len(read_dropped(tmp_path / "t.csv"))
    assert all(150 < c < 250 for c in counts), counts


def read_dropped(path: Path) -> np.ndarray:
    return read_data_file(path, target="label", missing_target="drop").dropped


@pytest.mark.slow
@mpi
def test_a_bad_cell_in_rank_1_s_half_is_named_by_its_line(tmp_path: Path) -> None:
    write_table(tmp_path / "t.csv", bad_line=351)  # in rank 1's half
    args = ["--data", "t.csv", *COMMON, "--missing", "impute"]
    one, two = _run(1, args, tmp_path), _run(2, args, tmp_path)
    assert one.returncode == two.returncode == 2
    lines = [line for line in two.stderr.splitlines() if line.startswith("chainrule")]
    assert len(lines) == 1, two.stderr
    assert "t.csv: line 351, column 3 ('size'): 'oops' is not a number" in lines[0]
    assert lines == [line for line in one.stderr.splitlines() if line.startswith("chainrule")]


@pytest.mark.slow
@mpi
def test_ranks_whose_files_differ_by_one_target_are_refused(tmp_path: Path) -> None:
    from test_hostile_mpi import _ranks

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write_table(tmp_path / name / "t.csv")
    text = (tmp_path / "b" / "t.csv").read_text(encoding="utf-8").splitlines()
    i = next(i for i in range(300, 400) if text[i].endswith(",a"))  # in rank 1's half
    text[i] = text[i][:-1] + "b"  # the same size, one target changed
    (tmp_path / "b" / "t.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    args = ["train", "--data", "t.csv", *COMMON, "--missing", "impute"]
    out = _ranks(tmp_path, [str(tmp_path / "a"), *args], [str(tmp_path / "b"), *args])
    lines = [line for line in out.stderr.splitlines() if line.startswith("chainrule")]
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "the MPI ranks read different data" in lines[0], out.stderr


@pytest.mark.slow
@mpi
def test_early_stopping_without_a_validation_split_reads_the_whole_file(tmp_path: Path) -> None:
    write_table(tmp_path / "t.csv")
    args = ["--data", "t.csv", *COMMON, "--missing", "impute", "--early-stopping", "val_loss"]
    two = _run(2, args, tmp_path)
    assert two.returncode == 0, two.stderr
    assert "note: every MPI rank reads all of t.csv (early stopping" in two.stderr
    assert "reading: each rank parsed" not in two.stdout
