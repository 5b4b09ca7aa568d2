"""Reading data files: CSV, .npz, .npy and IDX, and their one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.data import DataFileError, read_data_file, write_idx


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_header_and_text_labels(tmp_path):
    path = write(tmp_path, "a,b,species\n1,2,setosa\n3,4.5,virginica\n\n5,6,setosa\n")
    d = read_data_file(path)
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4.5], [5, 6]])
    np.testing.assert_array_equal(d.y, [0, 1, 0])
    assert d.class_names == ["setosa", "virginica"] and d.task == "classification"
    assert d.feature_names == ["a", "b"] and d.target_name == "species"
    np.testing.assert_array_equal(d.lines, [2, 3, 5])  # the blank line is skipped


def test_csv_without_header_target_by_index(tmp_path):
    path = write(tmp_path, "0,1.5,2\n1,2.5,3\n0,3.5,4\n1,4.5,5\n")
    d = read_data_file(path, target=0)
    assert d.target_name == "column 1" and d.feature_names == ["x0", "x1"]
    np.testing.assert_array_equal(d.X[:, 0], [1.5, 2.5, 3.5, 4.5])
    np.testing.assert_array_equal(d.y, [0, 1, 0, 1])
    d = read_data_file(path, target=-1, task="regression")
    np.testing.assert_array_equal(d.y, [2, 3, 4, 5])
    assert d.y.dtype == np.float64


def test_csv_target_by_name_and_forced_header(tmp_path):
    path = write(tmp_path, "y,x1,x2\n1.5,1,2\n2.5,3,4\n")
    d = read_data_file(path, target="y", task="regression")
    np.testing.assert_array_equal(d.y, [1.5, 2.5])
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    # A numeric first line read as a header when asked to.
    path = write(tmp_path, "10,20,30\n1,2,0\n3,4,1\n", "numbers.csv")
    assert len(read_data_file(path, header=True).X) == 2
    assert len(read_data_file(path, header=False, task="regression").X) == 3


def test_numeric_labels_sort_by_value_and_lose_their_point(tmp_path):
    path = write(tmp_path, "x,label\n1,10\n2,2.0\n3,10\n4,2\n")
    d = read_data_file(path)
    assert d.class_names == ["2", "10"]
    np.testing.assert_array_equal(d.y, [1, 0, 1, 0])


def test_many_distinct_numbers_are_a_regression_target(tmp_path):
    rows = "\n".join(f"{i},{i * 7}" for i in range(60))
    d = read_data_file(write(tmp_path, "x,y\n" + rows))
    assert d.task == "regression"


def test_known_class_names_map_labels_and_reject_new_ones(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,cat\n3,4,dog\n5,6,emu\n")
    with pytest.raises(DataFileError, match=r"line 4, target 'c': class 'emu' was never seen"):
        read_data_file(path, class_names=["dog", "cat"])
    d = read_data_file(path, class_names=["dog", "cat", "emu"])
    np.testing.assert_array_equal(d.y, [1, 0, 2])


def test_prediction_data_with_or_without_target(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,4\n")
    d = read_data_file(path, has_target=None, n_features=2)
    assert d.X.shape == (2, 2) and d.y.size == 0
    d = read_data_file(path, has_target=None, n_features=1)
    assert d.X.shape == (2, 1)
    with pytest.raises(DataFileError, match="has 2 columns, expected 3 features"):
        read_data_file(path, has_target=None, n_features=3)


def test_semicolon_and_tab_separated(tmp_path):
    d = read_data_file(write(tmp_path, "a;b;y\n1;2;0\n3;4;1\n"))
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    d = read_data_file(write(tmp_path, "a\tb\ty\n1\t2\t0\n3\t4\t1\n", "t.tsv"))
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("", {}, "the file is empty"),
        ("\n\n", {}, r"the file is empty \(no rows"),
        ("a,b,y\n", {}, "has a header line but no rows of data"),
        ("a,b,y\n1,2,0\n3,4\n", {}, "line 3 has 2 fields, expected 3"),
        ("a,b,y\n1,2,0\n3,x,1\n", {}, r"line 3, column 2 \('b'\): 'x' is not a number"),
        ("a,b,y\n1,2,0\n3,4,\n", {}, r"line 3, target 'y': the cell is empty"),
        ("a,b,y\n1,2,0\n3,4,NA\n", {}, r"line 3, target 'y': the cell is missing \('NA'\)"),
        ('a,b,y\n1,2,0\n"3,4,1\n5,6,0\n', {}, r"line 3: a quote \(\"\) opens a cell that is never"),
        (
            "y,a,b\n0,1,2\n1,inf,1\n",
            {"target": "y"},
            r"line 3, column 2 \('a'\): inf is not a finite number",
        ),
        ("a,b,y\n1,2,0\n3,4,1\n", {"target": "z"}, r"no column named 'z' \(columns: 'a'"),
        ("1,2,0\n3,4,1\n", {"target": "z"}, "has no header line, so the target must be"),
        ("a,b,y\n1,2,0\n3,4,1\n", {"target": "5"}, "target column 5 does not exist"),
        (
            "a,b,y\n1,2,0.5\n3,4,nan\n",
            {"task": "regression"},
            r"line 3, target 'y': the cell is missing \('nan'\)",
        ),
        (
            "a,b,y\n1,2,0.5\n3,4,inf\n",
            {"task": "regression"},
            r"line 3, target 'y': inf is not a finite number",
        ),
        ("a,b,y\n1,2,x\n3,4,z\n", {"task": "regression"}, "line 2, target 'y': 'x' is not"),
        ("a\n1\n2\n", {"header": True}, "has 1 column"),
        ('a,b\n"1,2\n', {}, "line"),
    ],
)
def test_bad_csv_gives_a_one_line_error_naming_file_and_place(tmp_path, text, kwargs, match):
    path = write(tmp_path, text)
    with pytest.raises(DataFileError, match=match) as exc:
        read_data_file(path, **kwargs)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_missing_file_directory_and_binary(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_data_file(tmp_path / "nope.csv")
    with pytest.raises(DataFileError, match="is a directory"):
        read_data_file(tmp_path)
    (tmp_path / "bin.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(DataFileError, match="line 2: not UTF-8"):
        read_data_file(tmp_path / "bin.csv")


def test_npz_default_and_named_keys(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["b", "a", "b", "a"]))
    d = read_data_file(tmp_path / "d.npz")
    np.testing.assert_array_equal(d.X, X)
    assert d.class_names == ["a", "b"] and d.y.tolist() == [1, 0, 1, 0]
    np.savez(tmp_path / "e.npz", feats=X.astype(np.float32), target=np.array([0.5, 1, 2, 3]))
    d = read_data_file(tmp_path / "e.npz", x_key="feats", y_key="target", task="regression")
    assert d.X.dtype == np.float64 and d.y.tolist() == [0.5, 1, 2, 3]
    with pytest.raises(DataFileError, match=r"no array named 'X' \(it holds 'feats', 'target'"):
        read_data_file(tmp_path / "e.npz")
    d = read_data_file(tmp_path / "e.npz", x_key="feats", has_target=False)
    assert d.y.size == 0
    with pytest.raises(DataFileError, match=r"no array named 'y' \(it holds 'feats', 'target'"):
        read_data_file(tmp_path / "e.npz", x_key="feats")


def test_npz_problems(tmp_path):
    np.savez(tmp_path / "short.npz", X=np.ones((3, 2)), y=np.ones(2))
    with pytest.raises(DataFileError, match="'y' has 2 rows but the features have 3"):
        read_data_file(tmp_path / "short.npz")
    np.savez(tmp_path / "nan.npz", X=np.array([[1.0, np.nan]]), y=np.ones(1))
    with pytest.raises(DataFileError, match=r"row 1, column 2: nan is not a finite"):
        read_data_file(tmp_path / "nan.npz")
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}], dtype=object), y=np.ones(1))
    with pytest.raises(DataFileError, match=r"a corrupt array \(Object arrays cannot be loaded"):
        read_data_file(tmp_path / "obj.npz")
    raw = (tmp_path / "short.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match=r"cut\.npz: not a readable NumPy file"):
        read_data_file(tmp_path / "cut.npz")


def test_npy_last_column_is_the_target(tmp_path):
    arr = np.array([[1.0, 2.0, 0], [3.0, 4.0, 1]])
    np.save(tmp_path / "d.npy", arr)
    d = read_data_file(tmp_path / "d.npy")
    np.testing.assert_array_equal(d.X, arr[:, :2])
    np.testing.assert_array_equal(d.y, [0, 1])
    d = read_data_file(tmp_path / "d.npy", has_target=None, n_features=3)
    assert d.X.shape == (2, 3)
    np.save(tmp_path / "flat.npy", np.ones(3))
    with pytest.raises(DataFileError, match="2-D array"):
        read_data_file(tmp_path / "flat.npy")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_images_with_labels(tmp_path, suffix):
    images = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    write_idx(tmp_path / f"img{suffix}", images)
    write_idx(tmp_path / f"lab{suffix}", np.array([2, 0, 2], dtype=np.uint8))
    d = read_data_file(tmp_path / f"img{suffix}", labels=tmp_path / f"lab{suffix}")
    assert d.X.shape == (3, 16) and d.X[1, 0] == 16
    assert d.class_names == ["0", "2"] and d.y.tolist() == [1, 0, 1]
    assert read_data_file(tmp_path / f"img{suffix}", has_target=False).y.size == 0
    write_idx(tmp_path / "lab2", np.array([1, 2], dtype=np.uint8))
    with pytest.raises(DataFileError, match="has 2 rows but the features have 3"):
        read_data_file(tmp_path / f"img{suffix}", labels=tmp_path / "lab2")


def test_idx_truncated(tmp_path):
    write_idx(tmp_path / "img", np.ones((2, 3, 3), dtype=np.uint8))
    raw = (tmp_path / "img").read_bytes()
    (tmp_path / "img").write_bytes(raw[:-2])
    with pytest.raises(DataFileError, match="does not match the header"):
        read_data_file(tmp_path / "img")


def test_reads_each_file_once(tmp_path, monkeypatch):
    from pathlib import Path

    import chainrule.input_files as input_files

    calls = []
    real = input_files.read_input_bytes

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    # Every whole-file read goes through the opener (regular files only, bounded).
    monkeypatch.setattr(input_files, "read_input_bytes", counting)
    path = write(tmp_path, "a,b,y\n1,2,0\n3,4,1\n")
    # A plain CSV file streams through pyarrow: never held whole in memory.
    read_data_file(path)
    assert calls == []
    # One the line-by-line reader takes (a blank line) is read from disk exactly once.
    path = write(tmp_path, "a,b,y\n1,2,0\n\n3,4,1\n")
    data = read_data_file(path)
    assert calls == ["data.csv"] and data.lines.tolist() == [2, 4]


# ---------------------------------------------------------------------- fuzzing

CELLS = st.sampled_from(
    [
        "1",
        "2.5",
        "-3e2",
        "",
        "x",
        "nan",
        "inf",
        " 4 ",
        '"5"',
        "a,b",
        "\n",
        "\r",
        "\t",
        ";",
        '"',
        "1e999",
        "\x00",
        "é",
    ]
)


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.lists(st.lists(CELLS, min_size=1, max_size=4), max_size=6).map(
            lambda rows: "\n".join(",".join(r) for r in rows).encode()
        ),
    ),
    st.sampled_from(
        [
            {},
            {"target": "0"},
            {"header": True},
            {"task": "regression"},
            {"has_target": False},
            {"class_names": ["1", "x"]},
        ]
    ),
)
def test_fuzz_csv_reader_raises_only_its_error(tmp_path, content, kwargs):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    try:
        d = read_data_file(path, **kwargs)
    except DataFileError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        # NaN marks a missing cell or a text column (whose cells are in d.text); never inf.
        assert d.X.ndim == 2 and not np.isinf(d.X).any() and d.X.dtype == np.float64
        for j, cells in d.text.items():
            assert np.isnan(d.X[:, j]).all() and cells.shape == (len(d.X),)


def test_csv_read_in_blocks_keeps_rows_and_places(tmp_path, monkeypatch):
    from chainrule.data import files

    monkeypatch.setattr(files, "CSV_BLOCK_CELLS", 6)  # two rows of three per block
    rows = [f"{i},{i * 2},{i % 2}" for i in range(9)]
    path = write(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n\n")
    d = read_data_file(path)
    np.testing.assert_array_equal(d.X[:, 1], np.arange(9) * 2)
    np.testing.assert_array_equal(d.y, np.arange(9) % 2)
    np.testing.assert_array_equal(d.lines, np.arange(2, 11))
    rows[7] = "7,x,1"
    path = write(tmp_path, "a,b,y\n" + "\n".join(rows))
    with pytest.raises(DataFileError, match=r"line 9, column 2 \('b'\): 'x' is not a number"):
        read_data_file(path)
    rows[7] = "7,1"
    path = write(tmp_path, "a,b,y\n" + "\n".join(rows))
    with pytest.raises(DataFileError, match="line 9 has 2 fields, expected 3"):
        read_data_file(path)


def _npz_bytes(**arrays):
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.slow
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_binary_formats_raise_only_their_error(tmp_path, data):
    kind = data.draw(st.sampled_from(["npz", "npy", "idx", "gzip"]))
    if kind == "npz":
        base = _npz_bytes(X=np.arange(6.0).reshape(3, 2), y=np.array([0, 1, 0]))
    elif kind == "npy":
        import io

        buf = io.BytesIO()
        np.save(buf, np.arange(6.0).reshape(3, 2))
        base = buf.getvalue()
    else:
        import gzip

        base = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4])
        base = gzip.compress(base) if kind == "gzip" else base
    raw = bytearray(base)
    for i in data.draw(st.lists(st.integers(0, len(raw) - 1), max_size=6)):
        raw[i] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(1, len(raw)))]
    path = tmp_path / "fuzz.bin"
    path.write_bytes(bytes(raw))
    try:
        read_data_file(
            path,
            has_target=data.draw(st.sampled_from([True, False, None])),
            n_features=data.draw(st.sampled_from([None, 1, 2, 4])),
        )
    except DataFileError as exc:
        assert "\n" not in str(exc)
