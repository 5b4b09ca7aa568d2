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

PENGUINS = Path(__file__).resolve().parents[1] / "data" / "penguins.csv"
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
    code = main(
        [
            "train",
            "--data",
            str(PENGUINS),
            "--target",
            "species",
            "--missing",
            "impute",
            "--save",
            str(d / "model.npz"),
            *FAST,
        ]
    )
    assert code == 0
    return d


def test_real_table_trains_and_reversed_columns_predict_byte_identically(
    penguins, tmp_path, capsys
):
    code, out, _ = run(
        capsys, ["train", "--data", PENGUINS, "--target", "species", "--missing", "impute", *FAST]
    )
    assert code == 0
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", out).group(1))
    assert accuracy >= 90.0  # 100 % at the time of writing; chance is 44 %
    rows = read_rows(PENGUINS)
    reversed_csv = write_rows(tmp_path / "reversed.csv", [r[::-1] for r in rows])
    for name, data in (("a.csv", PENGUINS), ("b.csv", reversed_csv)):
        code, _, err = run(
            capsys,
            ["predict", penguins / "model.npz", "--data", data, "--proba", "-o", tmp_path / name],
        )
        assert code == 0 and err == ""
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    predicted = [r[0] for r in read_rows(tmp_path / "a.csv")[1:]]
    truth = [r[0] for r in rows[1:]]
    assert len(predicted) == 344 and np.mean(np.array(predicted) == truth) >= 0.9
    # evaluate matches by name too.
    code, out, _ = run(capsys, ["evaluate", penguins / "model.npz", "--data", reversed_csv])
    assert (
        code == 0
        and "data: " in out
        and float(re.search(r"accuracy: ([\d.]+)%", out).group(1)) >= 90.0
    )


def test_extra_columns_are_ignored_with_one_note_and_missing_ones_named(penguins, tmp_path, capsys):
    rows = read_rows(PENGUINS)
    extra = write_rows(
        tmp_path / "extra.csv",
        [["comment", *r, "id"] if i == 0 else ["x", *r, str(i)] for i, r in enumerate(rows)],
    )
    code, out, err = run(capsys, ["predict", penguins / "model.npz", "--data", extra])
    assert code == 0 and len(out.splitlines()) == 345
    assert (
        err.count("\n") == 1
        and "ignoring 2 column(s) the model does not use: 'comment', 'id'" in err
    )
    no_sex = write_rows(tmp_path / "no_sex.csv", [r[:6] + r[7:] for r in rows])
    for command in ("predict", "evaluate"):
        err = run_error(capsys, [command, penguins / "model.npz", "--data", no_sex])
        assert "no_sex.csv: no column named 'sex', which the model needs" in err


def test_npy_and_headerless_files_are_read_by_position(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    table = [
        ["a", "b", "c", "y"],
        *[[*(repr(float(v)) for v in x), str(t)] for x, t in zip(X, y, strict=True)],
    ]
    write_rows(tmp_path / "t.csv", table)
    assert (
        main(["train", "--data", str(tmp_path / "t.csv"), "--save", str(tmp_path / "m.npz"), *FAST])
        == 0
    )
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
    assert (
        main(
            [
                "train",
                "--data",
                str(train),
                "--save",
                str(tmp_path / "m.npz"),
                "--epochs",
                "40",
                "--progress",
                "none",
            ]
        )
        == 0
    )
    code, out, _ = run(capsys, ["info", tmp_path / "m.npz"])
    assert code == 0
    assert "features: 4 columns (size, colour, weight, tame) → 6 inputs" in out
    assert "colour: one-hot over 3 categories (blue, green, red)" in out
    assert "tame:" not in out  # True/False is read as the number 1/0, not as categories
    # tame as true/false, True/False or 1/0: the same predictions.
    rows = read_rows(train)
    outputs = []
    for spelling in ({"True": "true", "False": "false"}, {"True": "1", "False": "0"}, {}):
        data = write_rows(
            tmp_path / "b.csv", [[*r[:3], spelling.get(r[3], r[3]), *r[4:]] for r in rows]
        )
        code, out, err = run(capsys, ["predict", tmp_path / "m.npz", "--data", data])
        assert code == 0 and err == ""
        outputs.append(out)
    assert outputs[0] == outputs[1] == outputs[2]


def test_unseen_category_is_all_zeros_with_a_warning_or_an_error_when_strict(tmp_path, capsys):
    _animals(tmp_path / "a.csv")
    assert (
        main(["train", "--data", str(tmp_path / "a.csv"), "--save", str(tmp_path / "m.npz"), *FAST])
        == 0
    )
    capsys.readouterr()
    new = _animals(
        tmp_path / "new.csv", rows=5, seed=1, colour_of=lambda i: "purple" if i == 2 else "red"
    )
    code, out, err = run(capsys, ["predict", tmp_path / "m.npz", "--data", new])
    assert code == 0 and len(out.splitlines()) == 6
    assert err.count("\n") == 1 and err.startswith("warning: ")
    assert (
        "column 'colour': 1 rows have categories never seen in training ('purple'; "
        "first at line 4): encoded as all zeros" in err
    )
    # Several unseen categories: still one warning line.
    rows = read_rows(new)
    two = write_rows(
        tmp_path / "two.csv",
        [rows[0]] + [[r[0], "pink", *r[2:]] if i == 0 else r for i, r in enumerate(rows[1:])],
    )
    code, out, err = run(capsys, ["predict", tmp_path / "m.npz", "--data", two])
    assert code == 0 and err.count("\n") == 1
    assert (
        "2 rows have categories never seen in training ('pink', 'purple'; first at line 2)" in err
    )
    err = run_error(capsys, ["predict", tmp_path / "m.npz", "--data", new, "--strict"])
    assert "'purple'" in err and "without --strict they encode as all zeros" in err
    # The all-zeros encoding is what the network sees: check it against a one-hot row.
    from chainrule.data import read_data_file
    from chainrule.io import load_model

    model = load_model(tmp_path / "m.npz")
    data = read_data_file(
        new, columns=model.feature_names, has_target=None, target_hint=model.target_name
    )
    X, warnings = model.encoding.transform(data)
    assert len(warnings) == 1
    np.testing.assert_array_equal(X[2, 1:4], [0, 0, 0])
    np.testing.assert_array_equal(X[0, 1:4], [0, 0, 1])  # red: the last of blue, green, red


def test_missing_cells_error_by_default_naming_columns_and_options(tmp_path, capsys):
    err = run_error(capsys, ["train", "--data", PENGUINS, "--target", "species"])
    assert "11 of 344 rows have missing cells" in err
    assert "'bill_length_mm' (2)" in err and "'sex' (11)" in err
    assert "--missing drop" in err and "--missing impute" in err


def test_missing_drop_trains_on_complete_rows_and_predict_refuses_missing_rows(tmp_path, capsys):
    code, out, err = run(
        capsys,
        [
            "train",
            "--data",
            PENGUINS,
            "--target",
            "species",
            "--missing",
            "drop",
            "--save",
            tmp_path / "m.npz",
            *FAST,
        ],
    )
    assert code == 0
    assert "left out 11 of 344 rows with missing cells" in err
    assert (
        "data: penguins.csv, 266 training and 67 test rows, 7 columns (2 text, one-hot) "
        "→ 10 inputs, 3 outputs" in out
    )  # 333 rows kept
    err = run_error(capsys, ["predict", tmp_path / "m.npz", "--data", PENGUINS])
    assert (
        "11 rows have missing values (line 5, line 10, line 11, line 12, line 13 and 6 "
        "more; columns"
        in err
        and "trained with --missing drop" in err
    )
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
    filled = [
        fills.get(name, cell) if cell == "NA" else cell
        for name, cell in zip(header, gap, strict=True)
    ]
    write_rows(tmp_path / "two.csv", [header, gap, filled])
    code, out, _ = run(
        capsys, ["predict", penguins / "model.npz", "--data", tmp_path / "two.csv", "--proba"]
    )
    assert code == 0
    first, second = out.splitlines()[1:]
    assert first == second


def test_rows_with_a_missing_target_are_dropped_at_train_with_one_line(tmp_path, capsys):
    rows = [["a", "y"]] + [[str(i), "x" if i % 2 else "z"] for i in range(40)]
    for i in (3, 8, 9, 20, 30, 31, 33):
        rows[i][1] = "" if i % 2 else "NA"
    path = write_rows(tmp_path / "t.csv", rows)
    code, out, err = run(capsys, ["train", "--data", path, "--save", tmp_path / "m.npz", *FAST])
    assert code == 0, err
    notes = [line for line in err.splitlines() if "target" in line]
    assert notes == [
        "note: t.csv: left out 7 rows whose target 'y' is missing (lines 4, 9, "
        "10, 21, 31 and 2 more)"
    ]
    assert "27 training and 6 test rows" in out
    # evaluate skips them with a count
    code, out, err = run(capsys, ["evaluate", tmp_path / "m.npz", "--data", path])
    assert code == 0, err
    assert "skipped 7 rows whose target is missing" in err


def test_the_reader_names_a_missing_target_cell_unless_asked_to_drop(tmp_path):
    from chainrule.data import DataFileError, read_data_file

    path = write_rows(tmp_path / "t.csv", [["a", "y"], ["1", "x"], ["2", ""], ["3", "x"]])
    with pytest.raises(DataFileError, match=r"t.csv: line 3, target 'y': the cell is empty"):
        read_data_file(path)
    data = read_data_file(path, missing_target="drop")
    assert data.dropped.tolist() == [3] and data.lines.tolist() == [2, 4]


# ---------------------------------------------------------------------- classifiers, any output


def _iris_csv(path):
    from sklearn.datasets import load_iris

    d = load_iris()
    rows = [[*d.feature_names, "species"]]
    rows += [[*map(str, x), str(d.target_names[t])] for x, t in zip(d.data, d.target, strict=True)]
    return write_rows(path, rows)


@pytest.mark.slow
@pytest.mark.parametrize("output", ["identity", "tanh", "relu", "sigmoid"])
def test_classifier_with_any_output_layer_and_quadratic_cost(tmp_path, capsys, output):
    data = _iris_csv(tmp_path / "iris.csv")
    code, out, err = run(
        capsys,
        [
            "train",
            "--data",
            data,
            "--output-activation",
            output,
            "--cost",
            "quadratic",
            "--learning-rate",
            "0.05",
            "--epochs",
            "20",
            "--progress",
            "lines",
            "--save",
            tmp_path / "m.npz",
        ],
    )
    assert code == 0, err
    assert re.search(r"epoch 20/20  loss [\d.]+  acc [\d.]+%", out)
    assert float(re.search(r"test accuracy: ([\d.]+)%", out).group(1)) > 50
    code, out, err = run(capsys, ["evaluate", tmp_path / "m.npz", "--data", data])
    assert code == 0 and float(re.search(r"accuracy: ([\d.]+)%", out).group(1)) > 50
    code, out, err = run(capsys, ["predict", tmp_path / "m.npz", "--data", data, "--proba"])
    assert code == 0 and err == ""
    lines = out.splitlines()
    want = "p" if output == "softmax" else "a"
    assert lines[0] == f"prediction,{want}(setosa),{want}(versicolor),{want}(virginica)"
    # The class is the arg-max of the outputs.
    names = ["setosa", "versicolor", "virginica"]
    for line in lines[1:]:
        cells = line.split(",")
        assert cells[0] == names[int(np.argmax([float(c) for c in cells[1:]]))]
    pytest.importorskip("matplotlib")
    code, out, err = run(
        capsys, ["report", tmp_path / "m.npz", "--data", data, "-o", tmp_path / "r.html"]
    )
    assert code == 0, err
    assert "accuracy on rows of" in (tmp_path / "r.html").read_text()


# ---------------------------------------------------------------------- regression units


@pytest.fixture(scope="module")
def prices(tmp_path_factory):
    """A regressor whose target is in large units (thousands), trained from a CSV."""
    d = tmp_path_factory.mktemp("prices")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 2))
    y = 5000 + 1500 * X[:, 0] - 800 * X[:, 1] + rng.normal(scale=50, size=120)
    rows = [
        ["rooms", "age", "price"],
        *[[f"{a:.4f}", f"{b:.4f}", f"{t:.2f}"] for (a, b), t in zip(X, y, strict=True)],
    ]
    write_rows(d / "prices.csv", rows)
    return d


def test_regression_is_reported_in_the_target_units(prices, capsys):
    d = prices
    code, out, err = run(
        capsys,
        [
            "train",
            "--data",
            d / "prices.csv",
            "--epochs",
            "40",
            "--learning-rate",
            "0.02",
            "--progress",
            "lines",
            "--save",
            d / "m.npz",
        ],
    )
    assert code == 0, err
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 40 and not any("acc" in line for line in epochs)
    assert all("standardised_loss" in line for line in epochs)
    assert "the final metrics are in the units of 'price'" in out
    assert "test standardised loss:" in out
    assert "test split (24 rows), in the units of 'price' (not standardised):" in out
    mse_train = float(re.search(r"^MSE: ([\d.e+]+)$", out, re.M).group(1))
    assert mse_train > 100  # the units of price (thousands), not standardised ones
    code, out, _ = run(capsys, ["evaluate", d / "m.npz", "--data", d / "prices.csv"])
    assert code == 0
    assert f"rows of {d / 'prices.csv'}, in the units of 'price' (not standardised):" in out
    mse = float(re.search(r"^MSE: ([\d.e+]+)$", out, re.M).group(1))
    mae = float(re.search(r"^MAE: ([\d.e+]+)$", out, re.M).group(1))
    code, out, _ = run(capsys, ["predict", d / "m.npz", "--data", d / "prices.csv"])
    pred = np.array([float(v) for v in out.split()[1:]])
    truth = np.array([float(r[2]) for r in read_rows(d / "prices.csv")[1:]])
    assert mse == pytest.approx(np.mean((pred - truth) ** 2), rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(pred - truth)), rel=1e-5)
    err = run_error(capsys, ["predict", d / "m.npz", "--data", d / "prices.csv", "--proba"])
    assert "--proba gives class probabilities, but this model is a regressor" in err
    code, out, _ = run(capsys, ["info", d / "m.npz"])
    assert "last: train loss (standardised) " in out


@pytest.mark.slow
def test_regression_report_and_residuals_in_target_units(prices, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    d = prices
    if not (d / "m.npz").exists():
        assert (
            main(["train", "--data", str(d / "prices.csv"), "--quiet", "--save", str(d / "m.npz")])
            == 0
        )
    code, _, err = run(
        capsys, ["report", d / "m.npz", "--data", d / "prices.csv", "-o", tmp_path / "r.html"]
    )
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    assert f"MSE on rows of {d / 'prices.csv'}, in the units of &#x27;price&#x27;" in html
    assert "loss (standardised) on rows of" in html
    assert "test split" not in html and "test loss" not in html
    code, out, err = run(
        capsys,
        [
            "plot",
            d / "m.npz",
            "--what",
            "residuals",
            "--data",
            d / "prices.csv",
            "-o",
            tmp_path / "res.svg",
        ],
    )
    assert code == 0, err
    svg = (tmp_path / "res.svg").read_text()
    assert "price" in svg  # the axes name the target's units
    # The residuals drawn are in price units: their RMSE in the title matches evaluate's.
    code, out, _ = run(capsys, ["evaluate", d / "m.npz", "--data", d / "prices.csv"])
    rmse = np.sqrt(float(re.search(r"^MSE: ([\d.e+]+)$", out, re.M).group(1)))
    from chainrule.cli import build_parser
    from chainrule.cli.report_command import open_model_and_data
    from chainrule.plots import figure_for

    args = build_parser().parse_args(
        [
            "plot",
            str(d / "m.npz"),
            "--what",
            "residuals",
            "--data",
            str(d / "prices.csv"),
            "-o",
            "x.png",
        ]
    )
    md = open_model_and_data(args)
    fig = figure_for(
        "residuals", md.model.network, md.X, md.y, to_units=md.to_units(), units=md.units
    )
    title = fig.axes[0].get_title()
    assert title == f"Residuals (RMSE {rmse:.3g})"


def test_report_without_data_for_a_csv_model_says_what_to_pass(penguins, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    err = run_error(capsys, ["report", penguins / "model.npz", "-o", tmp_path / "r.html"])
    assert "not a bundled data set" in err and "pass labelled rows with --data FILE" in err
    assert "the target 'species'" in err


# ---------------------------------------------------------------------- CSV edge cases


def test_unterminated_quote_is_an_error_naming_its_line(tmp_path, capsys):
    path = tmp_path / "q.csv"
    path.write_text('a,b,y\n1,2,x\n"3,4,y\n5,6,x\n7,8,y\n')
    err = run_error(capsys, ["train", "--data", path])
    assert 'q.csv: line 3: a quote (") opens a cell that is never closed' in err


def test_a_local_file_named_like_a_bundled_data_set_wins_with_a_note(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    rows = [["u", "v", "label"]] + [
        [f"{a:.3f}", f"{b:.3f}", "yes" if a > b else "no"] for a, b in rng.normal(size=(40, 2))
    ]
    write_rows(tmp_path / "iris", rows)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, ["train", "--data", "iris", "--save", "m.npz", *FAST])
    assert code == 0
    assert (
        err.count("\n") == 1
        and "reading the local file ./iris, not the bundled data set 'iris'" in err
    )
    assert "data: iris, 32 training and 8 test rows, 2 features, 2 outputs" in out
    pytest.importorskip("matplotlib")
    # The model knows it came from a file: report does not rebuild the bundled iris split.
    err = run_error(capsys, ["report", "m.npz", "-o", "r.html"])
    assert "pass labelled rows with --data FILE" in err


@pytest.mark.slow
def test_blank_lines_do_not_allocate_memory_for_rows(tmp_path, capsys):
    """5,000,000 blank lines before 20 rows of 50 columns: memory follows the rows read.

    Sizing the float buffer from the line count would take 5e6 × 49 × 8 bytes ≈ 2 GB;
    NumPy reports its allocations to tracemalloc, so the peak shows it.
    """
    import tracemalloc

    header = ",".join(f"c{j}" for j in range(49)) + ",y\n"
    rows = "".join(",".join(str(i + j) for j in range(49)) + f",{i % 2}\n" for i in range(20))
    path = tmp_path / "blank.csv"
    path.write_text(header + "\n" * 5_000_000 + rows)
    tracemalloc.start()
    try:
        code = main(["train", "--data", str(path), "--epochs", "1", "--quiet"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    # The file's text (5 MB, twice: bytes and str) dominates; nothing near gigabytes.
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


# ---------------------------------------------------------------------- gradcheck


@pytest.mark.slow
def test_gradcheck_reads_csv_with_the_model_preprocessing(penguins, capsys):
    code, out, err = run(
        capsys, ["gradcheck", "--model", penguins / "model.npz", "--data", PENGUINS]
    )
    assert code == 0, out + err
    assert "5 examples from" in out and "with the model's preprocessing" in out
    assert "(the first 5 of 344 rows; --samples)" in out
    assert "gradcheck passed" in out
    code, out, err = run(
        capsys,
        ["gradcheck", "--model", penguins / "model.npz", "--data", PENGUINS, "--samples", "12"],
    )
    assert code == 0 and "12 examples from" in out, out + err
    with pytest.raises(SystemExit):
        main(["gradcheck", "--help"])
    assert "the model's preprocessing" in capsys.readouterr().out


def test_gradcheck_round_off_small_gradients_are_not_failed(tmp_path, capsys):
    # Saturated sigmoids: the first layer's gradients are ~1e-10, all round-off.
    rows = [["a", "b", "c", "y"], *[["40", "40", "40", str(k % 2)] for k in range(4)]]
    data = write_rows(tmp_path / "sat.csv", rows)
    code, out, err = run(
        capsys,
        [
            "gradcheck",
            "--sizes",
            "3,4,2",
            "--activation",
            "sigmoid",
            "--output-activation",
            "sigmoid",
            "--cost",
            "quadratic",
            "--input-activation",
            "identity",
            "--init",
            "xavier",
            "--data",
            data,
        ],
    )
    assert code == 0, out + err
    assert "ok (round-off)" in out and "gradcheck passed" in out
    assert "or absolute error below the round-off floor 2.2e-09" in out
    assert "4 examples from" in out


# ---------------------------------------------------------------------- --help


def _subcommands():
    import argparse

    from chainrule.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_option_has_one_line_of_help_and_shows_its_default(command, capsys):
    import argparse

    parser = _subcommands()[command]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and "\n" not in action.help, f"{command} {name}: no help"
        text = formatter._expand_help(action)
        assert re.search(r"\bdefault\b|\(required\)", text), f"{command} {name}: {text}"
        assert "(default: None)" not in text and "(default: False)" not in text, text
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "(default: None)" not in out and "(default: False)" not in out


# ---------------------------------------------------------------------- Python API


def test_fit_verbose_prints_the_cli_epoch_lines(capsys):
    import chainrule
    from chainrule.data import load_dataset

    data = load_dataset("iris")
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    net = chainrule.Network(
        [4, 8, 3], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    net.fit(X, data.y, epochs=3, verbose=True, validation_data=(X, data.y))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(
        r"epoch 3/3  loss [\d.]+  acc [\d.]+%  val_loss [\d.]+  "
        r"val_acc [\d.]+%  lr 0\.1  [\d.]+s",
        lines[-1],
    )
    net.fit(X, data.y, epochs=2)  # quiet by default
    assert capsys.readouterr().out == ""
    net.fit(X, data.y, epochs=1, verbose=True)  # a resumed fit keeps counting
    assert capsys.readouterr().out.startswith("epoch 6/6  ")
    # A regressor's lines show no accuracy.
    reg = chainrule.Network([4, 3, 1], output_activation="identity", cost="quadratic", seed=0)
    reg.fit(X, X[:, 0], epochs=1, verbose=True)
    line = capsys.readouterr().out
    assert line.startswith("epoch 1/1  loss ") and "acc" not in line


def test_fit_with_string_labels_points_at_the_helpers():
    import chainrule
    from chainrule.data import encode_labels

    net = chainrule.Network([2, 3, 2], seed=0)
    X = np.zeros((3, 2))
    with pytest.raises(
        ValueError,
        match=r"text labels \(e\.g\. 'cat'\).*"
        r"chainrule\.data\.encode_labels\(y\).*chainrule\.sklearn\.MLPClassifier",
    ):
        net.fit(X, ["cat", "dog", "cat"], epochs=1)
    y, names = encode_labels(["cat", "dog", "cat"])
    assert y.tolist() == [0, 1, 0] and names == ["cat", "dog"]
    net.fit(X, y, epochs=1)


def test_a_loaded_model_applies_its_fill_values_to_raw_arrays(tmp_path, capsys):
    from chainrule.io import load_model

    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    Xm = X.copy()
    Xm[::7, 1] = np.nan
    rows = [["a", "b", "c", "y"]] + [
        ["" if np.isnan(v) else repr(float(v)) for v in x] + [str(t)]
        for x, t in zip(Xm, y, strict=True)
    ]
    data = write_rows(tmp_path / "gaps.csv", rows)
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--missing",
                "impute",
                "--quiet",
                "--save",
                str(tmp_path / "m.npz"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    code, out, _ = run(capsys, ["predict", tmp_path / "m.npz", "--data", data])
    assert code == 0
    model = load_model(tmp_path / "m.npz")
    from_array = model.predict(Xm)  # NaN cells are filled with the saved medians
    assert out.splitlines()[1:] == [str(v) for v in from_array]
    fill = model.encoding.columns[1].fill
    filled = np.where(np.isnan(Xm), fill, Xm)
    np.testing.assert_array_equal(model.predict_proba(filled), model.predict_proba(Xm))


def test_predict_ignores_the_target_column_even_when_empty(penguins, tmp_path, capsys):
    rows = read_rows(PENGUINS)
    blank = write_rows(tmp_path / "unlabelled.csv", [rows[0]] + [["", *r[1:]] for r in rows[1:6]])
    code, out, err = run(capsys, ["predict", penguins / "model.npz", "--data", blank])
    assert code == 0 and err == "" and out.splitlines()[1:] == ["Adelie"] * 5


def test_model_files_with_a_damaged_encoding_are_refused_in_one_line(penguins, tmp_path, capsys):
    import json
    import zipfile

    from chainrule.io import METADATA_KEY

    with zipfile.ZipFile(penguins / "model.npz") as z:
        entries = {name: z.read(name) for name in z.namelist()}
    meta_name = f"{METADATA_KEY}.npy"
    arr = np.load(__import__("io").BytesIO(entries[meta_name]))
    meta = json.loads(arr.tobytes().decode())
    for damage, message in (
        (lambda e: e["columns"][0].update(categories=["Biscoe"]), "inputs, but the network"),
        (lambda e: e["columns"][0].update(kind="word"), "bad column"),
        (lambda e: e.update(missing="guess"), "unknown missing policy"),
    ):
        broken = json.loads(json.dumps(meta))
        damage(broken["preprocessing"]["encoding"])
        buf = __import__("io").BytesIO()
        np.save(buf, np.frombuffer(json.dumps(broken).encode(), dtype=np.uint8))
        path = tmp_path / "broken.npz"
        with zipfile.ZipFile(path, "w") as z:
            for name, raw in entries.items():
                z.writestr(name, buf.getvalue() if name == meta_name else raw)
        err = run_error(capsys, ["info", path])
        assert "corrupted model file" in err and message in err, err


def test_gradcheck_without_a_model_reads_a_csv_header_and_says_what_targets_it_takes(
    tmp_path, capsys
):
    data = write_rows(
        tmp_path / "g.csv",
        [["a", "b", "c", "d", "y"], ["1", "2", "3", "4", "2"], ["5", "6", "7", "8", "0"]],
    )
    code, out, err = run(capsys, ["gradcheck", "--sizes", "4,5,3", "--data", data])
    assert code == 0 and "2 examples from" in out, err
    write_rows(data, [["a", "b", "c", "d", "y"], ["1", "2", "3", "4", "cat"]])
    err = run_error(capsys, ["gradcheck", "--sizes", "4,5,3", "--data", data])
    assert (
        "line 2, target 'y': 'cat' is not a number (without --model, targets are "
        "numbers: class indices 0..2 or values)" in err
    )


def test_a_table_of_text_only_has_its_header_detected(tmp_path, capsys):
    rng = np.random.default_rng(0)
    colours, sizes = ["red", "green", "blue"], ["big", "small"]
    rows = [["colour", "size", "label"]]
    for _ in range(60):
        c, z = colours[rng.integers(3)], sizes[rng.integers(2)]
        rows.append([c, z, "yes" if c == "red" or z == "big" else "no"])
    data = write_rows(tmp_path / "words.csv", rows)
    code, out, err = run(capsys, ["train", "--data", data, "--save", tmp_path / "m.npz", *FAST])
    assert code == 0, err
    assert "3 columns" not in out and "2 columns (2 text, one-hot) → 5 inputs" in out
    code, out, _ = run(capsys, ["info", tmp_path / "m.npz"])
    assert "features: 2 columns (colour, size)" in out and "target: label" in out


def test_a_header_naming_a_column_twice_is_refused_by_name(penguins, tmp_path, capsys):
    rows = read_rows(PENGUINS)
    twice = write_rows(tmp_path / "twice.csv", [[*r, r[1]] for r in rows])
    err = run_error(capsys, ["predict", penguins / "model.npz", "--data", twice])
    assert "twice.csv: the header names column 'island' more than once" in err


def test_a_target_with_one_class_is_refused_naming_it(capsys, tmp_path):
    path = write_rows(
        tmp_path / "one.csv", [["a", "b", "label"], *[[i, 2 * i, "x"] for i in range(8)]]
    )
    err = run_error(capsys, ["train", "--data", path, "--target", "label", *FAST])
    assert "target column 'label' holds one class ('x') in all 8 rows" in err
    assert "--task regression" in err


def test_space_separated_files_are_read_and_one_column_headers_with_spaces_stay_whole(
    capsys, tmp_path
):
    # As scikit-learn ships linnerud_exercise.csv: runs of spaces, no commas.
    rng = np.random.default_rng(0)
    lines = ["Chins Situps  Jumps"] + [
        f"{a}  {b} {c} " for a, b, c in rng.integers(1, 200, size=(40, 3))
    ]
    path = tmp_path / "spaced.csv"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(
        capsys, ["train", "--data", path, "--target", "Jumps", "--task", "regression", *FAST]
    )
    assert code == 0, err
    assert "2 features" in out and "units of 'Jumps'" in out
    # One column whose name has a space is not split into two.
    one = tmp_path / "one.csv"
    one.write_text("petal length\n1.4\n4.7\n")
    err = run_error(capsys, ["train", "--data", one])
    assert "has 1 column" in err


def test_a_column_of_unique_values_shows_no_most_frequent_fill(tmp_path, capsys):
    """Every training value of `code` is seen once: no value is the most frequent, so a
    missing cell is all zeros (said so in `info`), not the first value in sorted order."""
    rows = [["a", "code", "colour", "label"]]
    rows += [
        [
            str((i * 7) % 11),
            "" if i == 7 else f"c{i:02d}",
            ["red", "blue", "red"][i % 3],
            "yes" if i % 2 else "no",
        ]
        for i in range(30)
    ]
    write_rows(tmp_path / "u.csv", rows)
    model = tmp_path / "u.npz"
    code, _, err = run(
        capsys,
        [
            "train",
            "--data",
            tmp_path / "u.csv",
            "--target",
            "label",
            "--categorical",
            "code",
            "--missing",
            "impute",
            "--save",
            model,
            *FAST,
        ],
    )
    assert code == 0, err
    code, out, _ = run(capsys, ["info", model])
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("code:"))
    assert "most frequent" not in line
    assert line.endswith("missing → all zeros (no value is more frequent than another)")
    colour = next(x for x in out.splitlines() if x.strip().startswith("colour:"))
    assert colour.endswith("missing → 'red' (most frequent)")
    from chainrule.io import load_model

    loaded = load_model(model)
    step = next(s for s in loaded.pipeline() if s["name"] == "code")
    with pytest.warns(UserWarning, match="categories never seen in training"):
        X = loaded.transform(tmp_path / "u.csv")  # (the test rows' codes: unseen)
    assert not X[7, step["inputs"]].any()  # the missing cell (line 9): all zeros
    # ... and quietly: predicting the training rows warns only of the test rows' codes.
    code, _, err = run(capsys, ["predict", model, "--data", tmp_path / "u.csv"])
    assert code == 0 and "''" not in err and "line 9" not in err, err


# ------------------------------------------------------- the split of an encoded table


@pytest.mark.parametrize("extra", [[], ["--val-fraction", "0.2"], ["--scale", "minmax"]])
def test_a_table_is_encoded_once_and_its_parts_are_views(monkeypatch, extra):
    """``train`` on a table with text, missing cells and a date encodes every row once
    and splits and scales it in place: the parts are views of one matrix, with exactly
    the values and scaler of ``TablePipeline.fit`` on the training rows followed by
    ``pipe.transform`` of every row (the way it was done before, two encodings and
    a copy per part)."""
    from chainrule.cli import build_parser
    from chainrule.cli import data_options as do
    from chainrule.data.pipeline import TablePipeline

    seen: dict[str, object] = {}
    real = do._table_splits

    def spy(args, dtype, data, roles, all_roles, train, val, test, test_set):
        seen.update(data=data, roles=roles, parts=(train.copy(), val.copy(), test.copy()))
        return real(args, dtype, data, roles, all_roles, train, val, test, test_set)

    monkeypatch.setattr(do, "_table_splits", spy)
    d = Path(__file__).resolve().parents[1] / "data"
    argv = ["train", "--data", str(d / "penguins.csv"), "--target", "species"]
    args = build_parser().parse_args(
        [*argv, "--missing", "impute", "--quiet", "--seed", "3", *extra]
    )
    got = do.load_training_data(args, np.dtype("float64"))
    assert set(seen) == {"data", "roles", "parts"}
    train, val, test = seen["parts"]
    pipe = TablePipeline.fit(
        seen["data"], train, missing="impute", scale=args.scale or "standard", roles=seen["roles"]
    )
    X, _ = pipe.transform(seen["data"])
    assert got.preprocessing.kind == pipe.scaler.kind
    got_params, want = got.preprocessing.params(), pipe.scaler.params()
    for a, b in zip(got_params.values(), want.values(), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(got.X_train, X[train]) and np.array_equal(got.X_test, X[test])
    if len(val):
        assert np.array_equal(got.X_val, X[val]) and got.X_val.base is got.X_train.base
    # One matrix, not a copy per part: the parts are views of the same array.
    assert got.X_train.base is not None and got.X_train.base is got.X_test.base
