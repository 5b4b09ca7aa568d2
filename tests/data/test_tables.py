"""The table layer (chainrule.data): the fast reader, column roles, the pipeline, and a
model used by column name from Python as from the CLI.

Tables are made here, small; ``tests/data/penguins.csv`` is the Palmer penguins table
(CC0, see ``tests/data/README.md``).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.data import DataFileError, read_data_file
from chainrule.data import files as files_module

PENGUINS = Path(__file__).resolve().parents[1] / "data" / "penguins.csv"
FAST = ["--epochs", "15", "--progress", "none"]


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def write_rows(path, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n", delimiter=delimiter).writerows(rows)
    return path


def slow_read(monkeypatch, *args, **kwargs):
    """The line-by-line reader only (the fast path switched off)."""
    with monkeypatch.context() as m:
        m.setattr(files_module, "_read_fast", lambda *a, **k: None)
        return read_data_file(*args, **kwargs)


def same(a, b):
    assert np.array_equal(a.X, b.X, equal_nan=True)
    assert sorted(a.text) == sorted(b.text)
    for j in a.text:
        assert a.text[j].tolist() == b.text[j].tolist()
    assert a.y.tolist() == b.y.tolist() and a.class_names == b.class_names
    assert a.feature_names == b.feature_names and a.lines.tolist() == b.lines.tolist()


# ---------------------------------------------------------------------- the reader


def test_the_fast_reader_gives_what_the_line_by_line_reader_gives(tmp_path, monkeypatch):
    same(
        read_data_file(PENGUINS, target="species"),
        slow_read(monkeypatch, PENGUINS, target="species"),
    )
    rng = np.random.default_rng(0)
    rows = [["num", "word", "flag", "mixed", "y"]]
    for i in range(3000):
        rows.append(
            [
                f"{rng.normal():.4f}" if i % 17 else "NA",
                rng.choice(["a", "b", ""]),
                rng.choice(["true", "False"]),
                rng.choice(["1", "2.5", "x", "y"]),
                str(rng.integers(3)),
            ]
        )
    path = write_rows(tmp_path / "t.csv", rows)
    fast = read_data_file(path)
    assert (
        files_module._read_fast(path, None, True, None, None, None, None, "error", ".") is not None
    )  # the fast path took it
    same(fast, slow_read(monkeypatch, path))


def test_a_file_the_fast_reader_cannot_place_goes_to_the_line_by_line_reader(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,0\n\n3,4,1\n5,6\n")
    with pytest.raises(DataFileError, match=r"t.csv: line 5 has 2 fields, expected 3"):
        read_data_file(path)
    path.write_text("a,b,y\n1,2,0\n3,inf,1\n")
    with pytest.raises(DataFileError, match=r"line 3, column 2 \('b'\): inf is not a finite"):
        read_data_file(path)


def test_parquet_feather_and_in_memory_tables_read_like_the_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    table = pacsv.read_csv(
        PENGUINS, convert_options=pacsv.ConvertOptions(null_values=["NA"], strings_can_be_null=True)
    )
    pq.write_table(table, tmp_path / "p.parquet")
    feather.write_feather(table, tmp_path / "p.feather")
    csv_data = read_data_file(PENGUINS, target="species")
    for name in ("p.parquet", "p.feather"):
        data = read_data_file(tmp_path / name, target="species")
        assert np.array_equal(data.X, csv_data.X, equal_nan=True)
        assert data.y.tolist() == csv_data.y.tolist()
        assert data.where(3) == "row 4"
    assert isinstance(pa.Table, type)


def test_duplicate_column_names_are_refused_naming_them(tmp_path, capsys):
    path = write_rows(
        tmp_path / "d.csv",
        [["label", "b", "c", "label"], ["1", "2", "3", "4"], ["5", "6", "7", "8"]],
    )
    code, _, err = run(capsys, ["train", "--data", path, "--target", "label", *FAST])
    assert code == 2
    assert "d.csv: the header names column 'label' more than once" in err


# ---------------------------------------------------------------------- roles


def messy_table(path, n=120, seed=0):
    """ID, name, constant, date, thousands, a category and a number; target y."""
    rng = np.random.default_rng(seed)
    rows = [["", "passenger_id", "name", "const", "day", "fare", "colour", "x", "y"]]
    for i in range(n):
        colour = rng.choice(["red", "green", "blue"])
        x = rng.normal()
        fare = rng.uniform(100, 5000)
        y = "yes" if (colour == "red") ^ (x > 0) else "no"
        rows.append(
            [
                str(i),
                str(1000 + 7 * i),
                f"Person {i} {rng.integers(1e6)}",
                "k",
                f"2020-{1 + i % 12:02d}-{1 + i % 28:02d}",
                f"{fare:,.2f}",
                colour,
                f"{x:.3f}",
                y,
            ]
        )
    return write_rows(path, rows)


def test_train_prints_one_roles_block_and_info_repeats_it(tmp_path, capsys):
    path = messy_table(tmp_path / "m.csv")
    code, out, err = run(
        capsys, ["train", "--data", path, "--target", "y", "--save", tmp_path / "m.npz", *FAST]
    )
    assert code == 0, err
    block = out.split("data:")[0]
    assert "target:      y" in block
    assert "numeric:     fare (numbers with thousands separators), x" in block
    assert "categorical: colour" in block and "date:        day" in block
    assert "excluded:    '' — an unnamed index column" in block
    assert "excluded:    passenger_id — an ID (by its name" in block
    assert "excluded:    name — unique per row (an ID or key)" in block
    assert "excluded:    const — constant" in block
    # fare 2 numbers? no: 1 number; day → 7 date features; colour → 3 one-hot; x → 1
    assert "4 columns (1 text, one-hot, 1 date) → 12 inputs" in out
    code, info, _ = run(capsys, ["info", tmp_path / "m.npz"])
    assert "excluded:    name — unique per row" in info
    assert "day: date → year, month_sin" in info


def test_options_override_the_roles(tmp_path, capsys):
    path = messy_table(tmp_path / "m.csv")
    code, out, err = run(
        capsys,
        [
            "train",
            "--data",
            path,
            "--target",
            "y",
            "--exclude",
            "x",
            "--categorical",
            "const",
            "--id-column",
            "passenger_id",
            "--save",
            tmp_path / "m.npz",
            *FAST,
        ],
    )
    assert code == 0, err
    assert "excluded:    x — --exclude" in out
    assert "excluded:    passenger_id — --id-column" in out
    assert "categorical: const (--categorical), colour" in out
    code, out, err = run(capsys, ["predict", tmp_path / "m.npz", "--data", path])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "passenger_id,prediction" and lines[1].startswith("1000,")
    code, _, err = run(
        capsys, ["train", "--data", path, "--target", "y", "--date", "colour", *FAST]
    )
    assert code == 2 and "--date 'colour': line 2: 'blue' is not an ISO 8601 date" in err
    code, _, err = run(
        capsys, ["train", "--data", path, "--target", "y", "--exclude", "nope", *FAST]
    )
    assert code == 2 and "--exclude 'nope': not a column of the table" in err


def test_a_column_that_looks_numeric_but_is_not_is_named(tmp_path, capsys):
    rows = [["a", "b", "y"]] + [[str(i), f"{i * 1.5}", str(i % 2)] for i in range(40)]
    rows[7][1] = "12,5kg"
    path = write_rows(tmp_path / "n.csv", rows)
    code, _, err = run(capsys, ["train", "--data", path, *FAST])
    assert code == 2
    assert "n.csv: line 8, column 2 ('b'): '12,5kg' is not a number" in err


def test_decimal_commas(tmp_path, capsys):
    rng = np.random.default_rng(1)
    rows = [["a", "b", "y"]]
    for _ in range(60):
        a, b = rng.normal(size=2)
        rows.append(
            [f"{a:.3f}".replace(".", ","), f"{b:.3f}".replace(".", ","), "p" if a + b > 0 else "q"]
        )
    path = write_rows(tmp_path / "c.csv", rows, delimiter=";")
    data = read_data_file(path, decimal=",")
    assert not data.text and abs(data.X[0, 0] - float(rows[1][0].replace(",", "."))) < 1e-12
    code, out, err = run(capsys, ["train", "--data", path, "--decimal", ",", *FAST])
    assert code == 0, err
    assert "numeric:     a, b" in out


def test_one_hot_inputs_are_zero_or_one_and_numbers_standardised(tmp_path, capsys):
    from chainrule.io import load_model

    path = messy_table(tmp_path / "m.csv")
    assert (
        run(
            capsys, ["train", "--data", path, "--target", "y", "--save", tmp_path / "m.npz", *FAST]
        )[0]
        == 0
    )
    model = load_model(tmp_path / "m.npz")
    steps = {s["name"]: s for s in model.pipeline()}
    assert steps["colour"]["categories"] == ["blue", "green", "red"]
    assert steps["x"]["kind"] == "number" and steps["x"]["scale"] > 0
    assert steps["fare"]["parse"] == "thousands"
    assert len(steps["day"]["derived"]) == 7
    inputs = model.transform(path)
    colour = inputs[:, steps["colour"]["inputs"]]
    assert set(np.unique(colour).tolist()) == {0.0, 1.0}
    assert np.all(colour.sum(axis=1) == 1)
    x = inputs[:, steps["x"]["inputs"][0]]
    assert abs(x.mean()) < 0.3 and 0.7 < x.std() < 1.3


# ---------------------------------------------------------------------- Python by name


@pytest.fixture(scope="module")
def penguins_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("pm")
    assert (
        main(
            [
                "train",
                "--data",
                str(PENGUINS),
                "--target",
                "species",
                "--missing",
                "impute",
                "--save",
                str(d / "m.npz"),
                *FAST,
            ]
        )
        == 0
    )
    return d / "m.npz"


def test_predict_on_a_dataframe_with_reversed_columns_equals_the_cli(penguins_model, capsys):
    pd = pytest.importorskip("pandas")
    from chainrule.io import load_model

    assert main(["predict", str(penguins_model), "--data", str(PENGUINS)]) == 0
    cli = capsys.readouterr().out.split()[1:]
    model = load_model(penguins_model)
    df = pd.read_csv(PENGUINS)
    reversed_df = df[df.columns[::-1]]
    assert model.predict(reversed_df).tolist() == cli
    assert model.predict(str(PENGUINS)).tolist() == cli
    np.testing.assert_array_equal(model.predict_proba(reversed_df), model.predict_proba(df))
    score = model.evaluate(reversed_df)
    assert score["n"] == 344 and score["accuracy"] > 0.9


def test_a_missing_column_is_named_and_an_extra_one_noted(penguins_model):
    pd = pytest.importorskip("pandas")
    from chainrule.io import load_model

    model = load_model(penguins_model)
    df = pd.read_csv(PENGUINS)
    with pytest.raises(DataFileError, match="no column named 'island'"):
        model.predict(df.drop(columns=["island"]))
    with pytest.warns(UserWarning, match="ignoring 1 column.*'extra'"):
        model.predict(df.assign(extra=1.0))
    with pytest.raises(ValueError, match=r"X has shape \(2, 3\), expected \(n, 7\)"):
        model.predict(np.zeros((2, 3)))


def test_polars_and_arrow_tables_predict_by_name(penguins_model):
    pa = pytest.importorskip("pyarrow")
    from chainrule.io import load_model

    model = load_model(penguins_model)
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        PENGUINS, convert_options=pacsv.ConvertOptions(null_values=["NA"], strings_can_be_null=True)
    )
    expected = model.predict(str(PENGUINS))
    assert model.predict(table.select(table.column_names[::-1])).tolist() == expected.tolist()
    pl = pytest.importorskip("polars")
    assert model.predict(pl.from_arrow(table)).tolist() == expected.tolist()
    assert isinstance(pa.Table, type)


# ---------------------------------------------------------------------- splits


def test_test_data_file_and_no_test_split(tmp_path, capsys):
    rows = [r for r in csv.reader(open(PENGUINS, newline=""))]
    train = write_rows(tmp_path / "train.csv", [rows[0], *rows[1:280]])
    test = write_rows(tmp_path / "test.csv", [rows[0], *rows[280:]])
    code, out, err = run(
        capsys,
        [
            "train",
            "--data",
            train,
            "--target",
            "species",
            "--test-data",
            test,
            "--missing",
            "impute",
            *FAST,
        ],
    )
    assert code == 0, err
    assert "279 training and 65 test rows" in out
    assert out.count("test accuracy") == 1
    code, out, err = run(
        capsys,
        [
            "train",
            "--data",
            train,
            "--target",
            "species",
            "--test-fraction",
            "0",
            "--missing",
            "impute",
            *FAST,
        ],
    )
    assert code == 0, err
    assert "279 training and 0 test rows" in out and "no test score" in out


def test_the_test_rows_are_never_validation(capsys):
    code, out, _ = run(capsys, ["train", "--epochs", "2", "--hidden", "8"])
    assert code == 0
    assert "val_" not in out.split("monitoring:")[1].split("\n", 1)[1]
    code, out, _ = run(capsys, ["train", "--epochs", "2", "--hidden", "8", "--val-fraction", "0.1"])
    assert "validation split (carved from the training rows)" in out
    assert "1259 training, 179 validation and 359 test rows" in out


def test_class_weight_balanced_weights_rows_by_class(tmp_path):
    import argparse

    from chainrule.cli.data_options import _class_weights

    args = argparse.Namespace(class_weight="balanced")
    y = np.array([0, 0, 0, 1])
    w = _class_weights(args, y, 2)
    np.testing.assert_allclose(w, [4 / 6, 4 / 6, 4 / 6, 2.0])
    assert _class_weights(argparse.Namespace(class_weight=None), y, 2) is None


def test_class_weight_balanced_changes_training(tmp_path, capsys):
    from chainrule.io import load_model

    rows = [["a", "b", "y"]]
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = rng.normal(size=2)
        rows.append([f"{a:.3f}", f"{b:.3f}", "rare" if a > 1.2 else "common"])
    path = write_rows(tmp_path / "w.csv", rows)
    for name, extra in (("plain", []), ("balanced", ["--class-weight", "balanced"])):
        assert (
            run(
                capsys, ["train", "--data", path, "--save", tmp_path / f"{name}.npz", *extra, *FAST]
            )[0]
            == 0
        )
    a = load_model(tmp_path / "plain.npz").network.weights[0]
    b = load_model(tmp_path / "balanced.npz").network.weights[0]
    assert not np.allclose(a, b)


def test_older_model_files_still_load(penguins_model, tmp_path):
    """A model without roles (as written before them) loads and predicts."""
    from chainrule.data.tables import TableEncoding

    enc = TableEncoding.from_json(
        {
            "missing": "impute",
            "columns": [
                {"name": "a", "kind": "category", "categories": ["x", "y"], "fill": "x"},
                {"name": "b", "kind": "number", "categories": [], "fill": 1.0},
            ],
        }
    )
    assert enc.roles == [] and enc.id_column is None and enc.n_inputs == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.to_json()


def test_evaluate_on_the_training_file_scores_exactly_its_test_rows(
    penguins_model, tmp_path, capsys
):
    code, out, err = run(capsys, ["evaluate", penguins_model, "--data", PENGUINS, "--rows", "test"])
    assert code == 0, err
    assert "the 69 held-out test rows of 344 (as chosen at train: seed 0" in out
    assert "(classification, 7 columns → 10 inputs)" in out
    code, out, err = run(capsys, ["evaluate", penguins_model, "--data", PENGUINS])
    assert "penguins.csv, 344 rows" in out
    assert "is the model's training file" in err and "--rows test scores the 69" in err
    # Another file (one changed byte) is scored whole; --rows test then refuses.
    other = tmp_path / "other.csv"
    other.write_text(PENGUINS.read_text().replace("Torgersen", "Torgersen", 1) + "\n")
    code, out, err = run(capsys, ["evaluate", penguins_model, "--data", other])
    assert code == 0 and "other.csv, 344 rows" in out and "training file" not in err
    code, _, err = run(capsys, ["evaluate", penguins_model, "--data", other, "--rows", "test"])
    assert code == 2 and "not the file the model was trained on" in err


def test_a_class_never_predicted_gets_a_note(tmp_path, capsys):
    rows = [["a", "y"]] + [[str(i % 7), "common"] for i in range(60)] + [["3", "rare"]] * 3
    path = write_rows(tmp_path / "r.csv", rows)
    assert (
        run(
            capsys,
            [
                "train",
                "--data",
                path,
                "--save",
                tmp_path / "m.npz",
                "--epochs",
                "1",
                "--progress",
                "none",
            ],
        )[0]
        == 0
    )
    code, out, _ = run(capsys, ["evaluate", tmp_path / "m.npz", "--data", path, "--rows", "all"])
    assert code == 0
    rare = next(line for line in out.splitlines() if line.startswith("rare"))
    assert "(never predicted: precision undefined, shown as 0)" in rare


def test_early_stopping_says_which_epoch_it_kept(capsys):
    code, out, _ = run(
        capsys,
        [
            "train",
            "--epochs",
            "40",
            "--hidden",
            "8",
            "--early-stopping",
            "val_loss",
            "--patience",
            "2",
            "--progress",
            "none",
        ],
    )
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("early stopping:"))
    import re

    m = re.search(
        r"stopped after epoch (\d+) \(2 without improvement\); kept the weights of "
        r"epoch (\d+) \(val_loss [\d.]+\)",
        line,
    )
    assert m and int(m.group(2)) == int(m.group(1)) - 2


def test_one_output_is_singular(tmp_path, capsys):
    rows = [["a", "b", "y"]] + [[str(i), str(i * i % 7), str(i * 0.5)] for i in range(30)]
    path = write_rows(tmp_path / "r.csv", rows)
    code, out, err = run(capsys, ["train", "--data", path, "--task", "regression", *FAST])
    assert code == 0, err
    assert ", 1 output\n" in out


def test_plot_curves_reads_no_data(penguins_model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    broken = tmp_path / "broken.csv"
    broken.write_text("not,a\n1\n")  # ragged: reading it would be an error
    code, _, err = run(
        capsys,
        ["plot", penguins_model, "--what", "curves", "--data", broken, "-o", tmp_path / "c.svg"],
    )
    assert code == 0, err
    assert (tmp_path / "c.svg").exists()


def test_report_scores_exactly_the_test_rows_of_the_training_file(penguins_model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, _, err = run(
        capsys,
        ["report", penguins_model, "--data", PENGUINS, "--rows", "test", "-o", tmp_path / "r.html"],
    )
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    assert "held-out test rows of" in html
    code, _, err = run(capsys, ["report", penguins_model, "-o", tmp_path / "r2.html"])
    assert code == 2 and "--rows test" in err


def test_mpi_ranks_that_read_different_data_are_refused(tmp_path):
    """Each rank reads its own copy of t.csv: 60 rows on one, 53 on the other."""
    import os
    import shutil
    import subprocess
    import sys

    pytest.importorskip("mpi4py")
    if shutil.which("mpiexec") is None:
        pytest.skip("no mpiexec")
    rng = np.random.default_rng(0)
    for rank, n in ((0, 60), (1, 53)):
        (tmp_path / f"r{rank}").mkdir()
        write_rows(
            tmp_path / f"r{rank}" / "t.csv",
            [["a", "b", "y"]]
            + [[f"{rng.normal():.3f}", f"{rng.normal():.3f}", str(i % 2)] for i in range(n)],
        )
    code = (
        "import os, sys\n"
        "rank = os.environ.get('PMI_RANK') or os.environ.get('OMPI_COMM_WORLD_RANK')\n"
        "os.chdir(f'r{rank}')\n"
        "from chainrule.cli import main\n"
        "sys.exit(main(['train', '--data', 't.csv', '--epochs', '1', '--quiet']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run(
        ["mpiexec", "-n", "2", sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    # Each rank reads its share of t.csv: the files are compared first (docs/distributed.md).
    assert "the MPI ranks read different data: rank 0 has 60 rows" in proc.stderr
    assert "rank 1 53 (digest" in proc.stderr


def test_table_stats_equal_each_column_s_own_statistics():
    """Columns summarised together (fractions among the first rows) get exactly the
    statistics each column gets alone: counts, smallest and largest, NaN ignored."""
    from chainrule.data.datasets import Dataset
    from chainrule.data.roles import column_stats, table_stats

    rng = np.random.default_rng(3)
    n = 3000
    X = np.column_stack(
        [
            rng.normal(size=n),  # fractions from the first row
            rng.integers(0, 5, n).astype(float),  # whole numbers
            np.r_[np.full(1500, 2.0), rng.normal(size=1500)],  # a fraction only late
            np.full(n, np.nan),  # empty
            np.r_[np.nan, 0.5, np.full(n - 2, np.nan)],  # one fraction, NaN around it
            np.full(n, np.nan),  # a text column's place in X
        ]
    )
    X[rng.choice(n, 200, replace=False), 0] = np.nan
    X[-1, 0] = -99.5  # the extremes last, past the first rows
    X[-2, 0] = 99.25
    text = {5: np.array(["a", "b", ""] * (n // 3))}
    data = Dataset(X=X, y=np.zeros(n), task="classification", name="t", text=text)
    together = table_stats(data)
    for j, s in enumerate(together):
        alone = column_stats(data, j)
        assert (s.text, s.n_present, s.integral) == (alone.text, alone.n_present, alone.integral)
        np.testing.assert_array_equal(s.values, alone.values)
        np.testing.assert_array_equal(s.counts, alone.counts)
        np.testing.assert_equal((s.low, s.high), (alone.low, alone.high))
    assert together[0].low == -99.5 and together[0].high == 99.25
    assert together[0].n_present == n - 200 and not together[0].integral


def test_a_date_column_with_an_impossible_date_is_named(tmp_path, capsys):
    """Cells shaped like ISO dates that are not dates (2020-02-30) are named by line and
    column in one line — from the whole file and from parts' merged statistics alike."""
    from chainrule.data.roles import ColumnStats, RolesError, TableStats, column_stats, decide_roles
    from chainrule.data.tables import subset

    rows = [["d", "x", "y"]] + [
        [f"2020-0{1 + i % 9}-1{i % 9}", f"{i * 0.37 % 1:.3f}", str(i % 2)] for i in range(60)
    ]
    rows[41][0] = "2020-02-30"  # line 42; valid dates sort after it
    path = write_rows(tmp_path / "d.csv", rows)
    code, _, err = run(capsys, ["train", "--data", path, *FAST])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "d.csv: line 42, column 'd': '2020-02-30' is not an ISO 8601 date or time" in err
    code, _, err = run(capsys, ["train", "--data", path, "--exclude", "d", *FAST])
    assert code == 0, err

    data = read_data_file(path)
    a, b = subset(data, np.arange(30)), subset(data, np.arange(30, 60))
    merged = [ColumnStats.merge([column_stats(a, j), column_stats(b, j)]) for j in range(2)]
    with pytest.raises(RolesError, match="line 42, column 'd': '2020-02-30'"):
        decide_roles(a, stats=TableStats(merged, 60, lambda j, values: ("line 42", "2020-02-30")))
