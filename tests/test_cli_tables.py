"""Real tables through the CLI: columns by name, text columns, missing cells.

``tests/data/penguins.csv`` is the Palmer penguins table exactly as shipped in the
``palmerpenguins`` package (0.1.6; data CC0, see ``tests/data/README.md``): 344 rows,
text columns (species, island, sex) and ``NA`` cells.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main

PENGUINS = Path(__file__).parent / "data" / "penguins.csv"
FAST = ["--epochs", "15", "--progress", "none"]


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_error(capsys, argv):
    """Run a command that must fail; return its single stderr line."""
    code, out, err = run(capsys, argv)
    assert code == 2, (out, err)
    err = err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def write_rows(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return path


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    """A model trained on the real penguins table with --missing impute, and its output."""
    d = tmp_path_factory.mktemp("penguins")
    code = main(["train", "--data", str(PENGUINS), "--target", "species", "--missing",
                 "impute", "--save", str(d / "model.npz"), *FAST])
    assert code == 0
    return d


def test_real_table_trains_and_reversed_columns_predict_byte_identically(penguins, tmp_path,
                                                                         capsys):
    code, out, _ = run(capsys, ["train", "--data", PENGUINS, "--target", "species",
                                "--missing", "impute", *FAST])
    assert code == 0
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", out).group(1))
    assert accuracy >= 90.0  # 100 % at the time of writing; chance is 44 %
    rows = read_rows(PENGUINS)
    reversed_csv = write_rows(tmp_path / "reversed.csv", [r[::-1] for r in rows])
    for name, data in (("a.csv", PENGUINS), ("b.csv", reversed_csv)):
        code, _, err = run(capsys, ["predict", penguins / "model.npz", "--data", data,
                                    "--proba", "-o", tmp_path / name])
        assert code == 0 and err == ""
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    predicted = [r[0] for r in read_rows(tmp_path / "a.csv")[1:]]
    truth = [r[0] for r in rows[1:]]
    assert len(predicted) == 344 and np.mean(np.array(predicted) == truth) >= 0.9
    # evaluate matches by name too.
    code, out, _ = run(capsys, ["evaluate", penguins / "model.npz", "--data", reversed_csv])
    assert code == 0 and "data: " in out and float(
        re.search(r"accuracy: ([\d.]+)%", out).group(1)) >= 90.0


def test_extra_columns_are_ignored_with_one_note_and_missing_ones_named(penguins, tmp_path,
                                                                        capsys):
    rows = read_rows(PENGUINS)
    extra = write_rows(tmp_path / "extra.csv",
                       [["comment", *r, "id"] if i == 0 else ["x", *r, str(i)]
                        for i, r in enumerate(rows)])
    code, out, err = run(capsys, ["predict", penguins / "model.npz", "--data", extra])
    assert code == 0 and len(out.splitlines()) == 345
    assert err.count("\n") == 1 and "ignoring 2 column(s) the model does not use: " \
        "'comment', 'id'" in err
    no_sex = write_rows(tmp_path / "no_sex.csv", [r[:6] + r[7:] for r in rows])
    for command in ("predict", "evaluate"):
        err = run_error(capsys, [command, penguins / "model.npz", "--data", no_sex])
        assert "no_sex.csv: no column named 'sex', which the model needs" in err


def test_npy_and_headerless_files_are_read_by_position(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    table = [["a", "b", "c", "y"],
             *[[*(repr(float(v)) for v in x), str(t)] for x, t in zip(X, y, strict=True)]]
    write_rows(tmp_path / "t.csv", table)
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--save",
                 str(tmp_path / "m.npz"), *FAST]) == 0
    np.save(tmp_path / "x.npy", X)
    write_rows(tmp_path / "plain.csv", [r[:3] for r in table[1:]])
    capsys.readouterr()
    outputs = []
    for data in ("x.npy", "plain.csv", "t.csv"):
        code, out, _ = run(capsys, ["predict", tmp_path / "m.npz", "--data", tmp_path / data])
        assert code == 0
        outputs.append(out)
    assert outputs[0] == outputs[1] == outputs[2]


def _animals(path, rows=60, seed=0, colour_of=None):
    """Two numeric columns, a text column 'colour' and a boolean column 'tame'."""
    rng = np.random.default_rng(seed)
    colours = np.array(["red", "green", "blue"])
    out = [["size", "colour", "weight", "tame", "kind"]]
    for i in range(rows):
        c = int(rng.integers(3))
        tame = bool(rng.integers(2))
        size = rng.normal() + c
        kind = "cat" if c == 0 else ("dog" if tame else "emu")
        colour = colour_of(i) if colour_of else colours[c]
        out.append([f"{size:.3f}", colour, f"{rng.normal():.3f}", str(tame), kind])
    return write_rows(path, out)


def test_text_columns_are_one_hot_encoded_and_listed_by_info(tmp_path, capsys):
    train = _animals(tmp_path / "a.csv")
    assert main(["train", "--data", str(train), "--save", str(tmp_path / "m.npz"),
                 "--epochs", "40", "--progress", "none"]) == 0
    code, out, _ = run(capsys, ["info", tmp_path / "m.npz"])
    assert code == 0
    assert "features: 4 columns (size, colour, weight, tame) → 6 inputs" in out
    assert "colour: one-hot over 3 categories (blue, green, red)" in out
    assert "tame:" not in out  # True/False is read as the number 1/0, not as categories
    # tame as true/false, True/False or 1/0: the same predictions.
    rows = read_rows(train)
    outputs = []
    for spelling in ({"True": "true", "False": "false"}, {"True": "1", "False": "0"}, {}):
        data = write_rows(tmp_path / "b.csv", [[*r[:3], spelling.get(r[3], r[3]), *r[4:]]
                                               for r in rows])
        code, out, err = run(capsys, ["predict", tmp_path / "m.npz", "--data", data])
        assert code == 0 and err == ""
        outputs.append(out)
    assert outputs[0] == outputs[1] == outputs[2]


def test_unseen_category_is_all_zeros_with_a_warning_or_an_error_when_strict(tmp_path,
                                                                              capsys):
    _animals(tmp_path / "a.csv")
    assert main(["train", "--data", str(tmp_path / "a.csv"), "--save", str(tmp_path / "m.npz"),
                 *FAST]) == 0
    capsys.readouterr()
    new = _animals(tmp_path / "new.csv", rows=5, seed=1,
                   colour_of=lambda i: "purple" if i == 2 else "red")
    code, out, err = run(capsys, ["predict", tmp_path / "m.npz", "--data", new])
    assert code == 0 and len(out.splitlines()) == 6
    assert err.count("\n") == 1 and err.startswith("warning: ")
    assert "column 'colour': 1 rows have categories never seen in training ('purple'; " \
        "first at line 4): encoded as all zeros" in err
    err = run_error(capsys, ["predict", tmp_path / "m.npz", "--data", new, "--strict"])
    assert "'purple'" in err and "without --strict they encode as all zeros" in err
    # The all-zeros encoding is what the network sees: check it against a one-hot row.
    from chainrule.data import read_data_file
    from chainrule.io import load_model

    model = load_model(tmp_path / "m.npz")
    data = read_data_file(new, columns=model.feature_names, has_target=None,
                          target_hint=model.target_name)
    X, warnings = model.encoding.transform(data)
    assert len(warnings) == 1
    np.testing.assert_array_equal(X[2, 1:4], [0, 0, 0])
    np.testing.assert_array_equal(X[0, 1:4], [0, 0, 1])  # red: the last of blue, green, red


def test_missing_cells_error_by_default_naming_columns_and_options(tmp_path, capsys):
    err = run_error(capsys, ["train", "--data", PENGUINS, "--target", "species"])
    assert "11 of 344 rows have missing cells" in err
    assert "'bill_length_mm' (2)" in err and "'sex' (11)" in err
    assert "--missing drop" in err and "--missing impute" in err


def test_missing_drop_trains_on_complete_rows_and_predict_refuses_missing_rows(tmp_path,
                                                                                capsys):
    code, out, err = run(capsys, ["train", "--data", PENGUINS, "--target", "species",
                                  "--missing", "drop", "--save", tmp_path / "m.npz", *FAST])
    assert code == 0
    assert "left out 11 of 344 rows with missing cells" in err
    assert "data: penguins.csv, 266 training and 67 test rows" in out  # 333 rows kept
    err = run_error(capsys, ["predict", tmp_path / "m.npz", "--data", PENGUINS])
    assert "11 rows have missing values (line 5, line 10, line 11, line 12, line 13 and 6 " \
        "more; columns" in err and "trained with --missing drop" in err
    complete = [r for r in read_rows(PENGUINS) if "NA" not in r]
    write_rows(tmp_path / "complete.csv", complete)
    code, out, _ = run(capsys, ["predict", tmp_path / "m.npz", "--data", tmp_path / "complete.csv"])
    assert code == 0 and len(out.splitlines()) == 334


def test_missing_impute_is_stored_and_applied_by_predict(penguins, tmp_path, capsys):
    code, out, _ = run(capsys, ["info", penguins / "model.npz"])
    assert "encoding (missing cells: impute):" in out
    fills = dict(re.findall(r"  (\w+): .*missing → '?([\w.]+)", out))
    assert fills["sex"] == "male" and float(fills["bill_length_mm"]) == 44.9
    # A row with NA cells predicts exactly as the same row with the fill values written in.
    rows = read_rows(PENGUINS)
    header = rows[0]
    gap = rows[4]  # Adelie,Torgersen,NA,NA,NA,NA,NA,2007
    filled = [fills.get(name, cell) if cell == "NA" else cell for name, cell in
              zip(header, gap, strict=True)]
    write_rows(tmp_path / "two.csv", [header, gap, filled])
    code, out, _ = run(capsys, ["predict", penguins / "model.npz", "--data",
                                tmp_path / "two.csv", "--proba"])
    assert code == 0
    first, second = out.splitlines()[1:]
    assert first == second


def test_empty_target_cell_is_an_error(tmp_path, capsys):
    path = write_rows(tmp_path / "t.csv", [["a", "y"], ["1", "x"], ["2", ""], ["3", "x"]])
    err = run_error(capsys, ["train", "--data", path])
    assert "t.csv: line 3, target 'y': the cell is empty" in err
