"""Text columns as dictionary codes (chainrule.data.TextColumn): the type, and the fast
reader's text columns against the line reader's cells, lines and messages."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import DataFileError, Dataset, TextColumn, read_data_file
from chainrule.data import files as files_module
from chainrule.data.roles import parse_dates, parse_numbers
from chainrule.data.tables import TableEncoding, word_inputs

CELLS = np.array(["b", "a", "", "b", "c a", "", "b"])


def test_a_text_column_reads_as_its_cells():
    col = TextColumn.from_cells(CELLS)
    assert col.tolist() == CELLS.tolist() and np.asarray(col).tolist() == CELLS.tolist()
    assert len(col) == col.size == 7 and col.shape == (7,) and col[3] == "b"
    assert (col == "").tolist() == (CELLS == "").tolist()
    assert (col != "b").tolist() == (CELLS != "b").tolist()
    assert col.missing().tolist() == (CELLS == "").tolist()
    assert col[np.array([4, 0])].tolist() == ["c a", "b"]
    assert col[CELLS != ""].tolist() == CELLS[CELLS != ""].tolist()
    values, counts = col.present()
    want_values, want_counts = np.unique(CELLS[CELLS != ""], return_counts=True)
    assert values.tolist() == want_values.tolist() and counts.tolist() == want_counts.tolist()
    assert col.first_row(col.values == "c a") == 4 and col.first_row(col.values == "z") is None
    assert col.filled("b").tolist() == np.where(CELLS == "", "b", CELLS).tolist()
    both = TextColumn.concatenate([col, TextColumn.from_cells(["z", "a"])])
    assert both.tolist() == [*CELLS.tolist(), "z", "a"]


def test_codes_with_values_out_of_order_or_repeated():
    # Values need not be sorted; two spellings of one value are merged.
    col = TextColumn.from_codes(np.array([2, 0, 1, 2, 3]), ["z", "a", "", ""])
    assert col.tolist() == ["", "z", "a", "", ""]
    assert len(col.values) == 3 and col.present()[0].tolist() == ["a", "z"]
    assert col.present()[1].tolist() == [1, 1]
    # Values no row takes are not counted as present.
    part = col.take(np.array([0, 1]))
    assert part.present()[0].tolist() == ["z"]


def test_a_dataset_turns_arrays_of_cells_into_text_columns():
    d = Dataset(X=np.full((7, 1), np.nan), y=np.zeros(7), task="", name="t", text={0: CELLS})
    assert isinstance(d.text[0], TextColumn) and d.text[0].tolist() == CELLS.tolist()


def test_parsing_is_per_value_and_names_the_first_bad_row():
    col = TextColumn.from_cells(["2020-01-02", "", "2020-01-02", "2021-13-01", "2021-13-01"])
    with pytest.raises(ValueError) as exc:
        parse_dates(col)
    assert exc.value.args[1] == 3 and "2021-13-01" in exc.value.args[0]
    good = col.take(np.array([0, 1, 2]))  # the bad value is taken by no row: not parsed
    stamps = parse_dates(good)
    np.testing.assert_array_equal(stamps, parse_dates(np.array(good.tolist())))
    numbers = TextColumn.from_cells(["1,037.25", "", "12", "1,037.25"])
    np.testing.assert_array_equal(
        parse_numbers(numbers, "thousands"), [1037.25, np.nan, 12.0, 1037.25]
    )
    assert (
        word_inputs(TextColumn.from_cells(CELLS), ["a", "b"]).tolist()
        == word_inputs(CELLS, ["a", "b"]).tolist()
    )


def _slow(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(files_module, "_read_fast", lambda *a, **k: None)
        return read_data_file(*args, **kwargs)


def _mixed(n=400, gap=None, late=False):
    rng = np.random.default_rng(3)
    lines = ["num,kind,day,note,label"]
    for i in range(n):
        kind = ["red", " blue ", "NA", "", "green", " na ", " ? "][int(rng.integers(0, 7))]
        day = f"2020-{1 + i % 12:02d}-{1 + i % 28:02d}" if i % 9 else ""
        day = "soon" if late and i == n - 5 else day  # a word after many days
        lines.append(f"{rng.normal():.4f},{kind},{day},w{i % 7},{'abc'[i % 3]}")
    if gap is not None:
        lines.insert(gap, "")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("late", [False, True])
@pytest.mark.parametrize("mode", ["whole", "whole in blocks", "stream"])
@pytest.mark.parametrize("gap", [None, 200])
def test_the_fast_readers_text_columns_are_the_line_readers(tmp_path, monkeypatch, gap, mode, late):
    from chainrule.data import table

    if mode == "stream":  # as a file over _WHOLE_BYTES is read: blocks of ~2 KB
        monkeypatch.setattr(table, "_WHOLE_BYTES", 0)
    if mode != "whole":  # read whole in blocks: a dictionary a block, unified after
        monkeypatch.setattr(table, "_BLOCK_BYTES", 2048)
    p = tmp_path / "m.csv"
    p.write_text(_mixed(gap=gap, late=late))
    took = files_module._read_fast(p, None, True, None, None, None, None, "error", ".")
    # A blank line: the line reader's numbers.  Streamed, a word after the first block's
    # dates (a column pyarrow inferred as dates) also hands the file on.
    assert (took is not None) == (gap is None and not (late and mode == "stream"))
    fast, slow = read_data_file(p), _slow(monkeypatch, p)
    assert sorted(fast.text) == sorted(slow.text) == [1, 2, 3]
    for j in fast.text:
        assert isinstance(fast.text[j], TextColumn)
        assert fast.text[j].tolist() == slow.text[j].tolist()
        assert len(set(fast.text[j].values.tolist())) == len(fast.text[j].values)
    assert fast.lines.tolist() == slow.lines.tolist()
    # The same encoded inputs from either reader's columns.
    rows = np.arange(len(fast.X))
    a = TableEncoding.fit(fast, rows, "impute").transform(fast)[0]
    b = TableEncoding.fit(slow, rows, "impute").transform(slow)[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "body",
    [
        'a,b,y\n1,"x\ny",p\n2,y,q\n3,z,p\n4,z,q\n',  # a quoted cell spanning lines
        "a,b,y\n1,x,p\n,,\n2,y,q\n3,z,p\n",  # a row of empty cells
    ],
)
def test_rows_that_are_not_one_line_go_to_the_line_reader(tmp_path, monkeypatch, body):
    p = tmp_path / "t.csv"
    p.write_text(body)
    assert files_module._read_fast(p, None, True, None, None, None, None, "drop", ".") is None
    fast, slow = (
        read_data_file(p, missing_target="drop"),
        _slow(monkeypatch, p, missing_target="drop"),
    )
    assert fast.lines.tolist() == slow.lines.tolist()
    assert fast.text[1].tolist() == slow.text[1].tolist()


def test_a_numeric_column_with_a_typo_is_named_as_the_line_reader_names_it(tmp_path, monkeypatch):
    p = tmp_path / "t.csv"
    p.write_text("a,b,y\n" + "".join(f"{i},{i}.5,p\n" for i in range(20)) + "7,oops,q\n")
    with pytest.raises(DataFileError) as fast:
        read_data_file(p)
    with pytest.raises(DataFileError) as slow:
        _slow(monkeypatch, p)
    assert str(fast.value) == str(slow.value) and "line 22" in str(fast.value)


def test_the_encoding_written_in_row_blocks_is_the_same(tmp_path, monkeypatch):
    from chainrule.data import tables
    from chainrule.data.roles import decide_roles

    p = tmp_path / "m.csv"
    p.write_text(_mixed(n=300))
    data = read_data_file(p)
    roles = decide_roles(data, text=["note"])
    assert [r.role for r in roles] == ["numeric", "categorical", "date", "text"]
    encoding = TableEncoding.fit(data, np.arange(200), "impute", roles)
    whole = encoding.transform(data)[0]
    monkeypatch.setattr(tables, "_ROW_BLOCK", 7)  # blocks of 7 rows, the last short
    np.testing.assert_array_equal(encoding.transform(data)[0], whole)
    assert whole.shape == (300, encoding.n_inputs)
    assert np.unique(whole[:, encoding.one_hot_inputs()]).tolist() == [0.0, 1.0]


def test_text_the_csv_reader_encoded_block_by_block_gets_one_dictionary_in_order():
    """A text column read whole arrives as dictionaries, one a block, each in its own
    order: the codes are those of encoding the whole column, in order of first
    appearance, nulls −1, cells trimmed and merged."""
    import pyarrow as pa

    from chainrule.data.table import _codes

    blocks = [["b", "a", None, "b"], ["c", " a", "a", None], ["d", "c"]]
    chunked = pa.chunked_array([pa.array(b).dictionary_encode() for b in blocks])
    assert chunked.chunk(1).dictionary.to_pylist() == ["c", " a", "a"]  # its own
    codes, distinct = _codes(chunked)
    assert distinct == ["b", "a", "c", "d"]
    assert codes.tolist() == [0, 1, -1, 0, 2, 1, 1, -1, 3, 2]
    plain = _codes(pa.chunked_array([pa.array(b, type=pa.string()) for b in blocks]))
    assert plain[0].tolist() == codes.tolist() and plain[1] == distinct
