"""``chainrule explain`` and ``chainrule gradcheck`` on the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule import Network
from chainrule.cli import main
from chainrule.cli.explain_render import format_array
from chainrule.tensors import explain_trace

FIGURE1_ORDER = [
    "z^1 =",
    "a^1 =",
    "W^2 =",
    "b^2 =",
    "z^2 =",
    "a^2 =",
    "W^3 =",
    "b^3 =",
    "z^3 =",
    "a^3 =",
    "C =",
    "∂C/∂a^3 =",
    "∂a^3/∂z^3 =",
    "δ^3 =",
    "∂a^2/∂z^2 =",
    "∂z^3/∂z^2 =",
    "δ^2 =",
    "∂a^1/∂z^1 =",
    "∂z^2/∂z^1 =",
    "δ^1 =",
    "∂z^3/∂W^3 =",
    "[δC/δW^3] =",
    "∂z^2/∂W^2 =",
    "[δC/δW^2] =",
    "∂z^3/∂b^3 =",
    "[δC/δb^3] =",
    "∂z^2/∂b^2 =",
    "[δC/δb^2] =",
    "max relative difference",
]


def _run(capsys, *argv):
    code = main(["explain", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_default_is_the_seed_figure1_network_in_derivation_order(capsys):
    code, out, _ = _run(capsys)
    assert code == 0
    assert "sizes 3-4-2" in out and "input sigmoid, hidden sigmoid, output sigmoid" in out
    assert "cost quadratic" in out
    lines = out.splitlines()
    positions = [
        next(i for i, line in enumerate(lines) if line.startswith(head)) for head in FIGURE1_ORDER
    ]
    assert positions == sorted(positions)
    for eq in (
        "eq. 1",
        "eq. 2",
        "eq. 5",
        "eq. 6",
        "eq. 7",
        "eq. 8",
        "eq. 12",
        "eqs. 10–13",
        "eqs. 14–15",
        "eq. 15",
    ):
        assert eq in out
    for shape in (
        "shape 1 × 2 (1 × N_3)",
        "shape 2 × 4 (N_3 × N_2)",
        "shape 4 × 3 × 4 (N_2 × N_1 × N_2)",
        "shape 4 × 2 (N_2 × N_3)",
    ):
        assert shape in out
    assert lines[-1].endswith("≤ 1e-12: PASS")


def test_default_values_are_the_trace_of_the_seed_network(capsys):
    _, out, _ = _run(capsys)
    net = Network(
        [3, 4, 2], activation="sigmoid", input_activation="sigmoid", init="scaled_normal", seed=0
    )
    t = explain_trace(net, [0.5, -1.0, 2.0], [0.0, 1.0])
    for value in (t.delta[3], t.delta[2], t.dC_dW[2], t.dz_dz[2]):
        block = "\n".join(format_array(value))
        assert block in out
    assert f"{t.delta[3][0, 0]:.4g}" in out


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--activation", "relu", "--output-activation", "softmax", "--cost", "log_likelihood"],
        [
            "--activation",
            "tanh",
            "--output-activation",
            "identity",
            "--input-activation",
            "identity",
            "--seed",
            "3",
        ],
    ],
)
def test_text_fits_80_columns_for_big_networks(capsys, extra):
    code, out, _ = _run(capsys, "--sizes", "20,30,10", *extra)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Summarised, but shapes are always printed in full.
    assert "shape 30 × 20 × 30 (N_2 × N_1 × N_2)" in out
    assert "shape 30 × 20 (N_2 × N_1)" in out
    assert "⋮" in out and "…" in out
    assert lines[-1].endswith("PASS")


def test_json_holds_every_factor_with_full_values(capsys):
    code, out, _ = _run(capsys, "--format", "json", "--sizes", "3,5,4,2")
    assert code == 0
    doc = json.loads(out)
    keys = [s["key"] for s in doc["steps"]]
    for key in (
        "dC_da[4]",
        "da_dz[4]",
        "delta[4]",
        "delta[1]",
        "dz_dz[3]",
        "dz_dW[2]",
        "dz_db[4]",
        "dC_dW[3]",
        "dC_db[2]",
        "W[3]",
        "b[2]",
        "z[4]",
        "a[1]",
    ):
        assert key in keys
    for step in doc["steps"]:
        assert list(np.shape(step["values"])) == step["shape"]
    tensor = np.array(next(s for s in doc["steps"] if s["key"] == "dz_dW[3]")["values"])
    a2 = np.array(next(s for s in doc["steps"] if s["key"] == "a[2]")["values"])
    assert tensor.shape == (4, 5, 4)
    np.testing.assert_array_equal(tensor[1, :, 1], a2)
    assert doc["agreement"]["passed"] is True
    assert doc["network"]["sizes"] == [3, 5, 4, 2]
    assert doc["example"]["x"] and len(doc["example"]["y"]) == 2


def test_markdown_has_sections_and_closed_code_blocks(capsys):
    code, out, _ = _run(capsys, "--format", "markdown")
    assert code == 0
    assert out.startswith("# chainrule explain")
    assert "## Step 5: the weight gradients" in out
    assert "### $\\delta ^{3} = \\left[\\frac{\\partial C}{\\partial a^{3}}\\right] \\cdot" in out
    assert out.count("$$") == 2 * 28  # one display-math block per object
    assert "**PASS**" in out


def test_example_on_the_command_line(capsys):
    code, out, _ = _run(capsys, "--x=-0.5,1,2", "--y", "1,0")
    assert code == 0
    assert "x = -0.5, 1, 2" in out and "λ = 1, 0" in out
    code, out, _ = _run(
        capsys,
        "--x",
        "0.1,0.2,0.3",
        "--y",
        "1",
        "--output-activation",
        "softmax",
        "--cost",
        "log_likelihood",
    )
    assert code == 0 and "λ = 0, 1" in out  # a class label, one-hot encoded


def test_example_from_csv_and_json_files(capsys, tmp_path):
    csv = tmp_path / "ex.csv"
    csv.write_text("# x1, x2, x3, y1, y2\n0.5, -1, 2, 0, 1\n")
    code, out_csv, _ = _run(capsys, "--example", str(csv))
    assert code == 0
    code, out_default, _ = _run(capsys)
    assert out_csv == out_default
    js = tmp_path / "ex.json"
    js.write_text(json.dumps({"x": [0.5, -1, 2], "y": [0, 1]}))
    code, out_json, _ = _run(capsys, "--example", str(js))
    assert code == 0 and out_json == out_default
    ws = tmp_path / "ex.txt"
    ws.write_text("0.5 -1 2 1\n")  # whitespace, class label 1
    code, out_ws, _ = _run(capsys, "--example", str(ws))
    assert code == 0 and out_ws == out_default


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--x", "1,2", "--y", "0,1"], "--x has 2 values, expected 3"),
        (["--x", "1,2,3"], "--x and --y go together"),
        (["--x", "1,a,3", "--y", "0,1"], "--x: value 2 is 'a'"),
        (["--x", "1,2,3", "--y", "0,1,1"], "expected 5 or 4 values"),
        (["--x", "1,2,3", "--y", "7"], "class label 0..1"),
        (["--example", "/nonexistent/ex.csv"], "/nonexistent/ex.csv: no such file"),
        (["--sizes", "3", "--x", "1,2,3", "--y", "1"], "--sizes needs at least 2 layers"),
        (["--cost", "cross_entropy", "--output-activation", "identity"], "cross_entropy"),
    ],
)
def test_bad_input_is_a_one_line_error(capsys, argv, message):
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert message in err


def test_bad_file_names_row_and_column(capsys, tmp_path):
    f = tmp_path / "ex.csv"
    f.write_text("\n0.5, -1, x, 0, 1\n")
    code, _, err = _run(capsys, "--example", str(f))
    assert code == 2 and f"{f}, row 2, column 3: 'x' is not a number" in err
    f.write_text("0.5, -1, 2, 0, 1\n1, 2, 3, 1, 0\n")
    code, _, err = _run(capsys, "--example", str(f))
    assert code == 2 and "holds 2 examples" in err
    f.write_text('{"x": [1, 2], "y": [0, 1]}')
    code, _, err = _run(capsys, "--example", str(f))
    assert code == 2 and "x has 2 values, expected 3" in err


def test_explain_fails_when_the_fast_path_is_wrong(capsys, monkeypatch):
    from chainrule.functions import Softmax

    monkeypatch.setattr(Softmax, "vjp", lambda self, z, a, g: a * g)
    code, out, _ = _run(capsys, "--output-activation", "softmax")
    assert code == 1
    assert ": FAIL" in out and "The paths disagree" in out


# --------------------------------------------------------------------------- gradcheck


def test_gradcheck_passes_and_prints_the_report(capsys):
    code = main(
        [
            "gradcheck",
            "--samples",
            "3",
            "--activation",
            "tanh",
            "--output-activation",
            "softmax",
            "--cost",
            "log_likelihood",
            "--input-activation",
            "sigmoid",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    for name in ("W^2", "W^3", "b^2", "b^3"):
        assert name in out
    assert "gradcheck passed" in out and "3 random examples" in out


def test_gradcheck_catches_the_sklearn_8349_bug(capsys, monkeypatch):
    """∂C/∂a off by the number of outputs (scikit-learn#8349): exit status 1."""
    from chainrule.functions import Quadratic

    assert main(["gradcheck", "--output-activation", "identity"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(Quadratic, "derivative", lambda self, a, y: 2 * (a - y) / a.shape[1])
    code = main(["gradcheck", "--output-activation", "identity"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "gradcheck FAILED" in out


def test_gradcheck_reads_data_from_a_file(capsys, tmp_path):
    f = tmp_path / "data.csv"
    f.write_text("0.1 0.2 0.3 0.4 1\n0.5 0.6 0.7 0.8 2\n")  # 4 inputs, class labels
    code = main(
        [
            "gradcheck",
            "--sizes",
            "4,5,3",
            "--data",
            str(f),
            "--output-activation",
            "softmax",
            "--cost",
            "log_likelihood",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and f"2 examples from {f}" in out
    f.write_text("0.1 0.2 0.3\n")
    code = main(["gradcheck", "--sizes", "4,5,3", "--data", str(f)])
    err = capsys.readouterr().err
    assert code == 2 and f"{f}, row 1: expected 7 or 5 values" in err


def test_help_lists_the_new_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "explain" in out and "gradcheck" in out
    for cmd, options in [
        (
            "explain",
            (
                "--sizes",
                "--x",
                "--y",
                "--example",
                "--format",
                "--input-activation",
                "--seed",
                "--cost",
            ),
        ),
        ("gradcheck", ("--samples", "--data", "--eps", "--tolerance")),
    ]:
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = capsys.readouterr().out
        assert all(o in text for o in options)


def test_explain_in_float32(capsys):
    code, out, _ = _run(capsys, "--dtype", "float32")
    assert code == 0 and "float32" in out and "≤ 0.0001: PASS" in out


def test_json_example_must_hold_lists(capsys, tmp_path):
    f = tmp_path / "ex.json"
    for doc, message in [
        ({"x": 5, "y": 1}, '"x" must be a list'),
        ({"x": [1, 2, 3]}, 'expected a JSON object {"x"'),
        ({"x": [1, "a", 3], "y": [0, 1]}, "must hold numbers"),
    ]:
        f.write_text(json.dumps(doc))
        code, _, err = _run(capsys, "--example", str(f))
        assert code == 2 and message in err, err
    f.write_text("{not json")
    code, _, err = _run(capsys, "--example", str(f))
    assert code == 2 and "not valid JSON" in err


def test_gradcheck_model_option_checks_the_loaded_network(capsys, monkeypatch, tmp_path):
    """--model PATH uses chainrule.load; here a stand-in loader (see the round trip below)."""
    import chainrule.cli.gradcheck_command as cli_gradcheck

    saved = Network(
        [2, 3, 2],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        dtype=np.float32,
        seed=5,
    )
    calls = []

    def fake_load(path):
        calls.append(path)
        if path.endswith("bad.npz"):
            raise ValueError(f"{path}: corrupted model file")
        return saved

    monkeypatch.setattr(cli_gradcheck, "_load", fake_load)
    code = main(["gradcheck", "--model", "net.npz", "--samples", "2"])
    out = capsys.readouterr().out
    assert code == 0 and calls == ["net.npz"]
    assert "model: net.npz" in out and "sizes 2-3-2" in out and "float64" in out
    assert "gradcheck passed" in out
    code = main(["gradcheck", "--model", "bad.npz"])
    err = capsys.readouterr().err
    assert code == 2 and "bad.npz: corrupted model file" in err and err.count("\n") == 1


@pytest.mark.skipif(
    not hasattr(__import__("chainrule"), "load"),
    reason="chainrule.load (the model file format) is not merged yet",
)
def test_gradcheck_model_round_trip(capsys, tmp_path):
    net = Network([3, 4, 2], activation="sigmoid", input_activation="sigmoid", seed=0)
    path = tmp_path / "net.npz"
    net.save(path)
    code = main(["gradcheck", "--model", str(path)])
    out = capsys.readouterr().out
    assert code == 0 and "sizes 3-4-2" in out and "input sigmoid" in out


def _mixed_table(path, *, order=None):
    """A table with an ID column, a missing number, thousands separators, text and dates."""
    header = ["id", "size", "colour", "when", "price", "label"]
    rows = []
    for i in range(40):
        size = "" if i % 11 == 5 else f"{5 + ((i * 7) % 13) / 3:.2f}"
        rows.append(
            [
                f"ID{i:04d}",
                size,
                ["red", "green", "blue"][i % 3],
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                f"{1000 + i * 37:,}",
                "yes" if i % 3 == 0 or i % 5 == 0 else "no",
            ]
        )
    cols = order or header
    index = [header.index(c) for c in cols]
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join(f'"{r[j]}"' if "," in r[j] else r[j] for j in index) + "\n")
    return path


def test_model_row_is_the_input_predict_uses(capsys, tmp_path):
    """explain --model --data goes through the model's table pipeline, by column name:
    the ID column left out, the missing cell filled, separators parsed, text one-hot and
    the date turned into features, exactly as `predict` (Model.transform) does."""
    from chainrule.io import load_model

    train = _mixed_table(tmp_path / "train.csv")
    model = tmp_path / "m.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(train),
                "--target",
                "label",
                "--id-column",
                "id",
                "--missing",
                "impute",
                "--epochs",
                "2",
                "--hidden",
                "4",
                "--progress",
                "none",
                "--save",
                str(model),
            ]
        )
        == 0
    )
    capsys.readouterr()
    # The same rows, columns in another order and one column the model never saw.
    other = _mixed_table(
        tmp_path / "other.csv", order=["price", "label", "when", "colour", "id", "size"]
    )
    for row in (6, 7):  # row 6 has the missing size cell
        code, out, err = _run(
            capsys,
            "--model",
            str(model),
            "--data",
            str(other),
            "--row",
            str(row),
            "--format",
            "json",
        )
        assert code == 0, err
        x = np.array(json.loads(out)["example"]["x"])
        loaded = load_model(model)
        expected = loaded.transform(str(other))[row - 1]
        assert x.shape == (loaded.n_features,) and loaded.n_features > 5
        np.testing.assert_array_equal(x, expected)
        assert np.isfinite(x).all()
        assert (
            main(
                [
                    "predict",
                    str(model),
                    "--data",
                    str(other),
                    "--proba",
                    "-o",
                    str(tmp_path / "p.csv"),
                ]
            )
            == 0
        )
        capsys.readouterr()
        lines = (tmp_path / "p.csv").read_text().splitlines()
        proba = np.array([float(v) for v in lines[row].split(",")[2:]])
        np.testing.assert_allclose(loaded.network.feedforward(x[None, :])[0], proba, rtol=1e-12)
