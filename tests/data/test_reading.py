"""Issue 20's reading targets, as behaviour: the fast CSV reader declares column types
from its first block and still widens a column that changes later; a table of plain
numbers is split and scaled in place, with the same values as the copying path."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from chainrule.cli import data_options
from chainrule.data import read_data_file
from chainrule.data.datasets import Dataset

pytest.importorskip("pyarrow")


def _reading_mode(monkeypatch, mode):
    """``"whole"``: a small file, read whole; ``"stream"``: as a file over _WHOLE_BYTES
    is read, one stream; ``"prefault"``: streamed with the matrix's pages faulted in by
    the second thread from the first block on, a few blocks ahead (as for a big file)."""
    from chainrule.data import table

    if mode in ("stream", "prefault"):
        monkeypatch.setattr(table, "_WHOLE_BYTES", 0)
    monkeypatch.setattr(table, "_PREFAULT_BYTES", 0 if mode == "prefault" else 1 << 62)
    if mode == "prefault":
        monkeypatch.setattr(table, "_PREFAULT_AHEAD", 1 << 16)


def _big_csv(path, n=100_000):
    """Over pyarrow's 1 MiB block: column ``a`` integers until row ``n - 10``."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 100, n).astype(float)
    b = np.round(rng.normal(size=n), 6)
    y = rng.integers(0, 3, n)
    with open(path, "w") as f:
        f.write("a,b,label\n")
        for i in range(n):
            cell = f"{int(a[i])}" if i < n - 10 else f"{a[i] + 0.5}"
            if i >= n - 10:
                a[i] += 0.5
            f.write(f"{cell},{b[i]},{y[i]}\n")
    return np.column_stack([a, b]), y


@pytest.mark.parametrize("mode", ["stream", "whole", "prefault"])
def test_declared_types_widen_a_column_that_turns_to_decimals(tmp_path, monkeypatch, mode):
    _reading_mode(monkeypatch, mode)
    p = tmp_path / "t.csv"
    X, y = _big_csv(p)
    assert p.stat().st_size > 1 << 20
    d = read_data_file(p, target="label")
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.y, y)
    assert d.X.flags.c_contiguous  # rows contiguous, as training gathers batches
    assert d.lines is not None and d.lines[-1] == len(y) + 1


@pytest.mark.parametrize("mode", ["stream", "whole", "prefault"])
def test_a_late_word_in_a_number_column_still_names_its_line(tmp_path, monkeypatch, mode):
    _reading_mode(monkeypatch, mode)
    p = tmp_path / "t.csv"
    _big_csv(p)
    text = p.read_text().splitlines()
    text[-3] = "oops," + text[-3].split(",", 1)[1]
    p.write_text("\n".join(text) + "\n")
    from chainrule.data.files import DataFileError

    line = len(text) - 2
    with pytest.raises(DataFileError, match=rf"line {line}, column 1 \('a'\): 'oops' is not"):
        read_data_file(p, target="label")


def _slow_read(monkeypatch, *args, **kwargs):
    """The line-by-line reader only (the fast path switched off)."""
    from chainrule.data import files as files_module

    with monkeypatch.context() as m:
        m.setattr(files_module, "_read_fast", lambda *a, **k: None)
        return read_data_file(*args, **kwargs)


def _numbers_csv(path, gaps):
    """A table of numbers over two of pyarrow's blocks, with the rows ``gaps`` replaces."""
    rng = np.random.default_rng(1)
    lines = ["a,b,label"] + [
        f"{x:.6f},{z:.6f},{k}"
        for x, z, k in zip(
            rng.normal(size=60_000),
            rng.normal(size=60_000),
            rng.integers(0, 3, 60_000),
            strict=True,
        )
    ]
    for i, text in gaps.items():
        lines[i] = text
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "gaps",
    [
        {},
        {50_000: ""},  # a blank line: skipped, later lines keep their numbers
        {50_000: ",,"},  # a row of empty cells: a row with a missing target
        {50_000: ",,2"},  # features missing, the target present
        {59_990: "1.5,,"},  # a missing target only
    ],
)
@pytest.mark.parametrize("mode", ["stream", "whole", "prefault"])
def test_a_table_of_numbers_reads_as_the_line_reader_reads_it(tmp_path, monkeypatch, gaps, mode):
    """The fast reader does not count a table's lines: it keeps blank lines as rows of
    nulls and hands a file with a row of nothing but missing cells on (streamed or read
    whole)."""
    from chainrule.data import DataFileError

    _reading_mode(monkeypatch, mode)
    p = _numbers_csv(tmp_path / "t.csv", gaps)
    try:
        slow = _slow_read(monkeypatch, p, target="label", missing_target="drop")
    except DataFileError as exc:  # the same message from both readers
        with pytest.raises(DataFileError) as fast_exc:
            read_data_file(p, target="label", missing_target="drop")
        assert str(fast_exc.value) == str(exc)
        return
    from chainrule.data import files

    took = files._read_fast(p, "label", True, None, None, None, None, "drop", ".") is not None
    # The line reader takes blank lines and rows of empty cells.
    assert took == (list(gaps.values()) not in ([""], [",,"]))
    fast = read_data_file(p, target="label", missing_target="drop")
    assert np.array_equal(fast.X, slow.X, equal_nan=True)
    assert fast.y.tolist() == slow.y.tolist() and fast.class_names == slow.class_names
    assert fast.lines.tolist() == slow.lines.tolist()
    assert fast.dropped.tolist() == slow.dropped.tolist()
    if gaps:
        assert fast.lines[-1] == 60_001


def test_a_blank_line_keeps_the_line_numbers_of_a_missing_target(tmp_path):
    from chainrule.data import DataFileError

    p = _numbers_csv(tmp_path / "t.csv", {10: "", 59_000: "0.5,0.25,"})
    with pytest.raises(DataFileError, match=r"line 59001, target 'label': the cell is empty"):
        read_data_file(p, target="label")


def test_an_infinite_number_in_a_text_column_is_named(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,label\n" + "".join(f"{i},{i % 3},1\n" for i in range(50)) + "3,inf,0\n")
    from chainrule.data import DataFileError

    with pytest.raises(DataFileError, match=r"line 52, column 2 \('b'\): inf is not a finite"):
        read_data_file(p, target="label")


def _imported_by_a_fresh_read(p, kwargs, check, module):
    """Whether ``read_data_file(p, **kwargs)`` in a fresh interpreter imports ``module``
    (``check`` is run on the result ``d`` first)."""
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src"
    code = (
        "import sys; from chainrule.data import read_data_file; "
        f"d = read_data_file({str(p)!r}{', ' + kwargs if kwargs else ''}); {check}; "
        f"print({module!r} in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    return {"True": True, "False": False}[out.strip()]


def test_reading_a_table_does_not_import_pandas(tmp_path):
    """pyarrow's ``to_numpy`` and Python scalars handed to Arrow import pandas (0.3–0.6 s
    of a read): the reader takes values from the buffers instead."""

    p = tmp_path / "t.csv"
    p.write_text(
        "n,word,day,label\n"
        + "".join(
            f"{i / 7:.3f},{'abc'[i % 3]},2020-01-{1 + i % 28:02d},{'xy'[i % 2]}\n"
            for i in range(300)
        )
        + ",NA,,x\n"
    )
    check = "assert d.text and d.X.shape == (301, 3), d.X.shape"
    assert not _imported_by_a_fresh_read(p, "missing_target='drop'", check, "pandas")


def test_class_labels_by_counting_equal_numpys_unique():
    from chainrule.data.files import _unique_inverse

    rng = np.random.default_rng(0)
    for values in (
        rng.integers(-5, 5, 1000).astype(float),
        np.array([7.0]),
        np.array([-0.0, 0.0, 3.0]),
        np.array([1e9, 1e9 + 3, 1e9]),
        np.array([0.0, 1e6]),  # too wide a range to count: sorted
    ):
        distinct, inverse = _unique_inverse(values, True)
        want, want_inverse = np.unique(values, return_inverse=True)
        np.testing.assert_array_equal(distinct, want)
        np.testing.assert_array_equal(inverse, want_inverse.reshape(-1))


def _args(**kw):
    base = dict(
        scale=None,
        missing="error",
        test_fraction=0.2,
        val_fraction=0.1,
        seed=0,
        class_weight=None,
        data="xor",
        test_data=None,
    )
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.mark.parametrize("scale", ["standard", "minmax", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_in_place_splits_equal_the_copying_path(scale, dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 2.0, size=(30_001, 4))  # more rows than one block of scaling
    y = rng.integers(0, 3, 30_001)
    from chainrule.data.split import split_indices

    parts = split_indices(y, val_fraction=0.1, test_fraction=0.2, seed=0)

    def run(in_place):
        data = Dataset(
            X=X.copy(), y=y.copy(), task="classification", name="t", class_names=["a", "b", "c"]
        )
        td = data_options._array_splits(
            _args(scale=scale), np.dtype(dtype), data, *parts, in_place=in_place
        )
        return td, data

    copied, _ = run(False)
    placed, data = run(True)
    for name in ("X_train", "X_val", "X_test", "y_train", "y_val", "y_test"):
        a, b = getattr(copied, name), getattr(placed, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert placed.X_train.dtype == dtype
    # Views of the one matrix read (float32: narrowed into its first half): no copy.
    assert np.shares_memory(placed.X_train, data.X)
    assert np.shares_memory(placed.X_test, data.X)
    a, b = copied.preprocessing.params(), placed.preprocessing.params()
    assert a.keys() == b.keys()
    for k in a:  # the same fitted values, bit for bit
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("n", [5, 100, 30_001])
def test_rows_reordered_in_place_as_numpy_takes_them(n):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3))
    p = rng.permutation(n)
    parts = [
        np.sort(p[: n * 7 // 10]),
        np.sort(p[n * 7 // 10 : n * 8 // 10]),
        np.sort(p[n * 8 // 10 :]),
    ]
    for order in (parts, [parts[0][::-1], *parts[1:]]):  # sorted, and not (by column)
        want = X[np.concatenate(order)]
        got = data_options._reorder_rows(X.copy(), order)
        np.testing.assert_array_equal(got, want)


def test_a_fingerprint_started_early_is_the_files_digest(tmp_path):
    """``train`` starts the SHA-256 while the file is parsed; what it collects is the
    digest of the file as it is then (a file changed meanwhile is hashed again)."""
    import hashlib

    from chainrule.data import pipeline

    pipeline._SOON.clear()
    p = tmp_path / "t.csv"
    p.write_bytes(b"a,b\n" + b"1,2\n" * 300_000)
    pipeline.fingerprint_soon(p)
    pipeline.fingerprint_soon(p)  # once per file
    assert len(pipeline._SOON) == 1
    assert pipeline.fingerprint(p) == "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    assert not pipeline._SOON
    pipeline.fingerprint_soon(p)
    p.write_bytes(b"a,b\n" + b"3,4\n" * 300_001)  # another size: another key
    assert pipeline.fingerprint(p) == "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    pipeline.fingerprint_soon(p)
    pipeline.forget_fingerprint(p)  # a run that did not collect it
    assert not pipeline._SOON
    pipeline.fingerprint_soon(tmp_path / "absent.csv")  # nothing to start
    assert not pipeline._SOON
    with pytest.raises(FileNotFoundError):
        pipeline.fingerprint(tmp_path / "absent.csv")


@pytest.mark.parametrize("mode", ["stream", "whole", "prefault"])
@pytest.mark.parametrize("drop", ["", "NA"])
def test_text_labels_from_dictionary_codes_are_the_line_readers_classes(
    tmp_path, monkeypatch, mode, drop
):
    """Text targets keep their dictionary codes (no sort of a million strings to find
    the classes again): the same classes and indices as the line reader, with missing
    labels dropped, and no class for a label no row has."""
    from chainrule.data import files

    _reading_mode(monkeypatch, mode)
    rng = np.random.default_rng(2)
    labels = np.array(["beta", "alpha", " gamma ", "Alpha"])[rng.integers(0, 4, 60_000)]
    labels[rng.random(60_000) < 0.01] = drop
    p = tmp_path / "t.csv"
    p.write_text("x,label\n" + "".join(f"{i / 7:.4f},{c}\n" for i, c in enumerate(labels.tolist())))
    slow = _slow_read(monkeypatch, p, target="label", missing_target="drop")
    fast = read_data_file(p, target="label", missing_target="drop")
    assert fast.class_names == slow.class_names == ["Alpha", "alpha", "beta", "gamma"]
    np.testing.assert_array_equal(fast.y, slow.y)
    assert fast.dropped.tolist() == slow.dropped.tolist() and len(fast.dropped)
    cells = np.array(["b", "a", "b", ""])
    files.remember_decoded(cells, np.array(["", "a", "b", "zz"]), np.array([2, 1, 2, 0]))
    distinct, inverse = files._decoded(cells)
    assert distinct.tolist() == ["", "a", "b"]  # "zz": no row's
    np.testing.assert_array_equal(distinct[inverse], cells)
    key = id(cells)
    del cells
    assert key not in files._DECODED


def test_cells_that_differ_only_by_spaces_share_a_code():
    import pyarrow as pa

    from chainrule.data import table

    col = pa.chunked_array([["a", " a", None], ["b ", "b", "a", " c"]])
    codes, distinct = table._codes(col)
    assert codes.tolist() == [0, 0, -1, 1, 1, 0, 2] and distinct == ["a", "b", "c"]
    codes, distinct = table._codes(pa.array(["x", None, "y"]))
    assert codes.tolist() == [0, -1, 1] and distinct == ["x", "y"]


@pytest.mark.parametrize("kind", ["int8", "int32", "int64", "uint16", "uint64", "float32", "bool"])
def test_arrow_numbers_become_float64_with_nan_where_null(kind):
    """Integers convert through NumPy (reading numbers never imports pyarrow.compute),
    other types through Arrow's cast; nulls are NaN, a slice's offset is kept."""
    import pyarrow as pa

    from chainrule.data import table

    values = [True, None, False, True] if kind == "bool" else [3, None, 1, 2]
    col = pa.chunked_array(
        [pa.array(values, pa.type_for_alias(kind)), pa.array(values, pa.type_for_alias(kind))[1:]]
    )
    out = table._to_float(col)
    expected = [np.nan if v is None else float(v) for v in values + values[1:]]
    np.testing.assert_array_equal(out, expected)


def test_reading_a_table_of_numbers_does_not_import_pyarrow_compute(tmp_path):
    """``pyarrow.compute`` takes ~0.1 s to import (it builds its functions' docstrings):
    a table of numbers is read without it."""

    p = tmp_path / "t.csv"
    p.write_text("a,b,label\n" + "".join(f"{i / 7:.3f},{i % 5},{i % 3}\n" for i in range(300)))
    check = "assert d.X.shape == (300, 2) and d.class_names == ['0', '1', '2']"
    assert not _imported_by_a_fresh_read(p, "", check, "pyarrow.compute")


@pytest.mark.parametrize("labels", ["few", "negative", "sparse", "floats"])
def test_split_indices_by_counting_are_those_of_sorting(labels):
    """The split finds classes and sorts its parts by counting (a million labels: no
    sort); the parts are those of ``np.unique`` and ``np.sort`` on the same draws."""
    from chainrule.data import split

    rng = np.random.default_rng(4)
    y = {
        "few": rng.integers(0, 3, 50_000),
        "negative": rng.integers(-2, 3, 5_000),
        "sparse": np.array([5, 7, 9, 10**9] * 300),
        "floats": rng.normal(size=3_000),
    }[labels]

    def reference(y, val_fraction, test_fraction, seed):
        gen = np.random.default_rng(seed)
        groups = (
            [np.flatnonzero(y == c) for c in np.unique(y)]
            if y.dtype.kind in "iu"
            else [np.arange(len(y))]
        )
        parts = [[], [], []]
        for members in groups:
            members = gen.permutation(members)
            n_test = round(len(members) * test_fraction)
            n_val = round(len(members) * val_fraction)
            parts[2].append(members[:n_test])
            parts[1].append(members[n_test : n_test + n_val])
            parts[0].append(members[n_test + n_val :])
        return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]

    for val, test in ((0.0, 0.2), (0.1, 0.3)):
        got = split.split_indices(y, val_fraction=val, test_fraction=test, seed=5)
        for a, b in zip(got, reference(y, val, test, 5), strict=True):
            assert a.dtype == np.int64
            np.testing.assert_array_equal(a, b)


def test_train_leaves_no_digest_behind(tmp_path, capsys):
    """``train`` collects the digest it started (the model's record of its test rows),
    and drops it when the run fails before (here, a missing target column)."""
    import hashlib

    from chainrule.cli import main
    from chainrule.data import pipeline
    from chainrule.io import load_model

    pipeline._SOON.clear()
    p = tmp_path / "t.csv"
    p.write_text("a,b,label\n" + "".join(f"{i / 7:.3f},{i % 5},{i % 2}\n" for i in range(200)))
    model = tmp_path / "m.npz"
    args = ["train", "--data", str(p), "--epochs", "1", "--progress", "none", "--quiet"]
    assert main([*args, "--save", str(model)]) == 0
    assert not pipeline._SOON
    record = load_model(model).metadata["data"]["test"]
    assert record["fingerprint"] == "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    assert main([*args, "--target", "nothing"]) == 2
    assert not pipeline._SOON
    capsys.readouterr()


def _prefault_threads():
    import threading

    return [t for t in threading.enumerate() if t.name == "chainrule-prefault"]


@pytest.mark.parametrize("late", [None, "1.5", "oops"])
def test_the_prefault_thread_changes_nothing_and_ends_with_the_read(tmp_path, monkeypatch, late):
    """A big enough matrix gets its pages faulted in by a second thread; the result (or
    the error, or the retry after a wrongly declared type) is that of a read without
    it, and no thread outlives the read."""
    from chainrule.data import table
    from chainrule.data.files import DataFileError

    p = tmp_path / "t.csv"
    X, y = _big_csv(p)
    # A text column: a big table of numbers alone is parsed whole (no thread of ours).
    text = [
        f"{line},{'kind' if i == 0 else 'pq'[i % 2]}"
        for i, line in enumerate(p.read_text().splitlines())
    ]
    if late is not None:
        text[-3] = late + "," + text[-3].split(",", 1)[1]
    p.write_text("\n".join(text) + "\n")
    monkeypatch.setattr(table, "_WHOLE_BYTES", 0)
    started = []
    real = table._Prefault

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args):
            super().__init__(*args)
            started.append(self)

    def read(prefault):
        monkeypatch.setattr(table, "_PREFAULT_BYTES", 1 << 20 if prefault else 1 << 62)
        monkeypatch.setattr(table, "_Prefault", Spy)
        try:
            return read_data_file(p, target="label")
        except DataFileError as exc:
            return str(exc)

    plain = read(False)
    assert not started
    faulted = read(True)
    assert started and all(not s.thread.is_alive() for s in started)
    assert started[0].stop_row <= len(y)  # only rows the file fills
    assert not _prefault_threads()
    if isinstance(plain, str):
        assert late == "oops" and faulted == plain and "'oops'" in plain
    else:
        assert np.array_equal(faulted.X, plain.X, equal_nan=True)
        assert np.array_equal(faulted.y, plain.y)
        assert faulted.lines.tolist() == plain.lines.tolist()
        if late is None:
            np.testing.assert_array_equal(faulted.X[:, :2], X)
            assert faulted.text[2].tolist()[:3] == ["q", "p", "q"]


@pytest.mark.skipif(
    not __import__("sys").platform.startswith("linux"), reason="the thread works on Linux"
)
def test_the_prefault_thread_commits_only_the_rows_it_is_given():
    """It faults in the matrix up to ``stop_row`` and no further, and writes nothing."""
    from types import SimpleNamespace

    from chainrule.data import table

    def resident() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    data = np.empty((1 << 20, 16))  # 128 MiB, none of it touched
    before = resident()
    blocks = SimpleNamespace(n=len(data))  # written "up to the end": no waiting
    fault = table._Prefault(data, 1 << 17, blocks)  # type: ignore[arg-type]
    fault.thread.join(timeout=60)
    grown = resident() - before
    fault.stop()
    if grown < 8 << 20:
        pytest.skip("no MADV_POPULATE_WRITE here (Linux < 5.14): the thread does nothing")
    assert grown < 40 << 20  # 16 MiB asked for, not 128
    blocks.n = 0  # nothing written yet: the thread stays near the start
    data2 = np.empty((1 << 20, 16))
    before = resident()
    fault = table._Prefault(data2, len(data2), blocks)  # type: ignore[arg-type]
    import time

    time.sleep(0.3)
    fault.stop()
    assert resident() - before < (table._PREFAULT_AHEAD + (8 << 20))


def test_a_float32_run_makes_no_copy_of_the_matrix():
    """In place, a float32 run narrows the scaled float64 rows into their own memory (the
    values of ``astype``): no matrix is allocated beside them, only blocks of rows, and
    the half the float32 rows do not use goes back to the operating system."""
    import sys
    import tracemalloc

    rng = np.random.default_rng(2)
    X = rng.normal(size=(400_000, 8))  # 25.6 MB
    want = X.astype(np.float32)
    tracemalloc.start()
    try:
        got = data_options._narrow_in_place(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 16  # blocks of rows; a copy would be half of X
    assert got.dtype == np.float32 and got.flags.c_contiguous and np.shares_memory(got, X)
    np.testing.assert_array_equal(got, want)
    if sys.platform.startswith("linux"):

        def resident() -> int:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096

        X = rng.normal(size=(400_000, 8))
        before = resident()
        data_options._narrow_in_place(X)
        assert before - resident() > X.nbytes / 4  # ~12.8 MB given back


def test_a_big_table_of_numbers_is_parsed_whole_and_drained_as_it_fills(tmp_path, monkeypatch):
    """Over ``_WHOLE_BYTES`` a table of numbers alone is parsed by ``read_csv`` on every
    core, not by the one-core streaming reader (whose only use is the first block's
    types), and the same as the line reader reads it."""
    import pyarrow.csv as pacsv

    from chainrule.data import table

    monkeypatch.setattr(table, "_WHOLE_BYTES", 0)
    monkeypatch.setattr(table, "_BLOCK_BYTES", 1 << 16)
    p = _numbers_csv(tmp_path / "t.csv", {})
    opened, whole = [], []
    real_open, real_read = pacsv.open_csv, pacsv.read_csv
    monkeypatch.setattr(pacsv, "open_csv", lambda *a, **k: opened.append(1) or real_open(*a, **k))
    monkeypatch.setattr(pacsv, "read_csv", lambda *a, **k: whole.append(1) or real_read(*a, **k))
    fast = read_data_file(p, target="label")
    assert (len(opened), len(whole)) == (1, 1)
    slow = _slow_read(monkeypatch, p, target="label")
    np.testing.assert_array_equal(fast.X, slow.X)
    assert fast.y.tolist() == slow.y.tolist() and fast.lines.tolist() == slow.lines.tolist()
    assert fast.X.flags.c_contiguous


def test_a_table_drained_frees_its_blocks_as_they_go(tmp_path, monkeypatch):
    """:func:`_drained` yields a table's batches in order and keeps none it has handed
    out: partway through, Arrow holds less than the whole table; the freed memory is
    handed back every ``_RELEASE_EVERY`` batches."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from chainrule.data import table

    p = _numbers_csv(tmp_path / "t.csv", {})
    expected = np.loadtxt(p, delimiter=",", skiprows=1)[:, 0]
    released = []

    class Pool:
        def release_unused(self):
            released.append(1)

    monkeypatch.setattr(pa, "default_memory_pool", Pool)
    before = pa.total_allocated_bytes()
    options = pacsv.ReadOptions(block_size=1 << 15)
    batches = table._drained(pacsv.read_csv(p, read_options=options))  # held nowhere else
    whole = pa.total_allocated_bytes() - before
    values, seen = [], 0
    for batch in batches:
        values.append(batch.column(0).to_numpy().copy())
        seen += 1
        if seen == 30:
            assert pa.total_allocated_bytes() - before < 0.75 * whole
        del batch
    assert seen > 35
    np.testing.assert_array_equal(np.concatenate(values), expected)
    assert len(released) == seen // table._RELEASE_EVERY
