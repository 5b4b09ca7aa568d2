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


def test_declared_types_widen_a_column_that_turns_to_decimals(tmp_path):
    p = tmp_path / "t.csv"
    X, y = _big_csv(p)
    assert p.stat().st_size > 1 << 20
    d = read_data_file(p, target="label")
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.y, y)
    assert d.X.flags.c_contiguous  # rows contiguous, as training gathers batches
    assert d.lines is not None and d.lines[-1] == len(y) + 1


def test_a_late_word_in_a_number_column_still_names_its_line(tmp_path):
    p = tmp_path / "t.csv"
    _big_csv(p)
    text = p.read_text().splitlines()
    text[-3] = "oops," + text[-3].split(",", 1)[1]
    p.write_text("\n".join(text) + "\n")
    from chainrule.data.files import DataFileError

    line = len(text) - 2
    with pytest.raises(DataFileError, match=rf"line {line}, column 1 \('a'\): 'oops' is not"):
        read_data_file(p, target="label")


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
    if dtype == np.float64:  # views of the one matrix read: no second copy of the data
        assert np.shares_memory(placed.X_train, data.X)
        assert np.shares_memory(placed.X_test, data.X)
    a, b = copied.preprocessing.params(), placed.preprocessing.params()
    assert a.keys() == b.keys()
    for k in a:  # the same fitted values, bit for bit
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
