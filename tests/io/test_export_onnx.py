"""ONNX export: onnxruntime's outputs equal ``chainrule predict --proba`` (issue 22)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import main
from chainrule.data import read_data_file
from chainrule.functions import CustomActivation
from chainrule.io import load_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from chainrule.export.onnx import ML_OPSET, OPSET, OnnxExportError, feeds  # noqa: E402

PENGUINS = Path(__file__).resolve().parents[1] / "data" / "penguins.csv"
FAST = ["--epochs", "12", "--progress", "none", "--seed", "0"]


def _run(proto_or_path, inputs):
    source = proto_or_path if isinstance(proto_or_path, str) else proto_or_path.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs), strict=True))


def _cli_proba(capsys, model, data, tmp_path):
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), "--data", str(data), "--proba", "-o", str(out)]) == 0
    capsys.readouterr()
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return (
        header,
        np.array([r[0] for r in body]),
        np.array([[float(v) for v in r[1:]] for r in body]),
    )


def _numeric_csv(path: Path, seed: int = 0, missing: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(150, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -2.0]
    y = np.array(["low", "mid", "high"])[np.digitize(X[:, 0] + X[:, 2] * 5, [-11.0, -9.0])]
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["a", "b", "c", "label"])
        for i, (row, label) in enumerate(zip(X, y, strict=True)):
            cells = [f"{v:.6g}" for v in row]
            if missing and i % 17 == 3:
                cells[1] = ""
            w.writerow([*cells, label])
    return path


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("table", ["numeric", "numeric-missing", "penguins"])
def test_exported_model_equals_predict_proba(table, dtype, tmp_path, capsys) -> None:
    if table == "penguins":
        data, target, extra = PENGUINS, "species", ["--missing", "impute"]
    else:
        data = _numeric_csv(tmp_path / "t.csv", missing=table == "numeric-missing")
        target, extra = (
            "label",
            (["--missing", "impute", "--scale", "minmax"] if table == "numeric-missing" else []),
        )
    model_path, onnx_path = tmp_path / "m.npz", tmp_path / "m.onnx"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                target,
                "--save",
                str(model_path),
                "--dtype",
                dtype,
                *extra,
                *FAST,
            ]
        )
        == 0
    )
    assert main(["export", str(model_path), "-o", str(onnx_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    header, labels, proba = _cli_proba(capsys, model_path, data, tmp_path)

    model = load_model(model_path)
    rows = read_data_file(
        data, target=target, columns=model.feature_names, class_names=model.class_names
    )
    inputs = feeds(model, rows)
    if table == "penguins":  # text columns: one input per column
        assert set(inputs) == set(model.feature_names)
        assert inputs["island"].dtype == object
    else:
        assert list(inputs) == ["X"]
    out = _run(str(onnx_path), inputs)
    assert out["probabilities"].shape == (len(labels), len(model.class_names))
    assert out["probabilities"].dtype == np.dtype(dtype)
    np.testing.assert_allclose(out["probabilities"], proba, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(out["label"], labels)
    assert header[1:] == [f"p({c})" for c in model.class_names]

    proto = onnx.load(str(onnx_path))
    opsets = {o.domain: o.version for o in proto.opset_import}
    assert opsets[""] == OPSET
    assert opsets["ai.onnx.ml"] == ML_OPSET  # class names (LabelEncoder), text columns


def test_text_columns_missing_and_unseen_categories(tmp_path, capsys) -> None:
    model_path = tmp_path / "m.npz"
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
                str(model_path),
                *FAST,
            ]
        )
        == 0
    )
    capsys.readouterr()
    model = load_model(model_path)
    rows = read_data_file(PENGUINS, target="species", columns=model.feature_names)
    inputs = {k: v[[0, 0, 0, 3]].copy() for k, v in feeds(model, rows).items()}
    island = next(c for c in model.encoding.columns if c.name == "island")
    inputs["island"][:, 0] = ["", island.fill, "Atlantis", "Dream"]
    inputs["bill_length_mm"][2, 0] = np.nan  # row 3 (line 5 of the file) is all NA
    got = _run(model.to_onnx(), inputs)["probabilities"]
    # Against the model's own transform: "" takes the fill category, an unseen one is
    # all zeros (no --strict), NaN takes the column's median.
    enc = model.encoding
    cells = {j: inputs[c.name][:, 0] for j, c in enumerate(enc.columns)}
    from chainrule.data.datasets import Dataset

    X = np.full((4, len(enc.columns)), np.nan)
    text = {}
    for j, c in enumerate(enc.columns):
        if c.kind == "category":
            text[j] = np.array(cells[j], dtype=str)
        else:
            X[:, j] = cells[j].astype(float)
    data = Dataset(
        X=X,
        y=np.empty(0),
        task="classification",
        name="rows",
        feature_names=[c.name for c in enc.columns],
        text=text,
    )
    want = model.network.feedforward(model.inputs(data)[0])
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_array_equal(got[0], got[1])  # "" is the fill category


def test_regression_predictions_in_target_units(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    y = 100 + 20 * X[:, 0] - 5 * X[:, 1]
    path = tmp_path / "r.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments="")
    model_path = tmp_path / "r.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(path),
                "--target",
                "y",
                "--task",
                "regression",
                "--save",
                str(model_path),
                *FAST,
            ]
        )
        == 0
    )
    capsys.readouterr()
    model = load_model(model_path)
    out = _run(model.to_onnx(), {"X": X})
    assert list(out) == ["predictions"]
    np.testing.assert_allclose(
        out["predictions"], model.predict(X).reshape(len(X), -1), rtol=1e-10, atol=1e-9
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_to_onnx_and_binary_sigmoid(dtype, tmp_path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 4)).astype(dtype)
    net = chainrule.Network(
        [4, 6, 5, 1],
        activation=["relu", "leaky_relu"],
        output_activation="sigmoid",
        input_activation="tanh",
        cost="cross_entropy",
        dtype=dtype,
        seed=2,
    )
    path = tmp_path / "net.onnx"
    proto = net.to_onnx(path)
    assert path.read_bytes() == proto.SerializeToString()
    out = _run(str(path), {"X": X})
    p = net.feedforward(X)[:, 0]
    np.testing.assert_allclose(out["probabilities"], np.column_stack([1 - p, p]), atol=1e-6)
    np.testing.assert_array_equal(out["label"], (p > 0.5).astype(np.int64))
    # float32 graph from a float64 network
    out32 = _run(net.to_onnx(dtype=np.float32), {"X": X.astype(np.float32)})
    assert out32["probabilities"].dtype == np.float32


def test_custom_activation_is_refused_naming_the_layer() -> None:
    cube = CustomActivation(lambda z: z**3, lambda z: 3 * z**2, name="cube")
    net = chainrule.Network(
        [2, 3, 2], activation=cube, output_activation="softmax", cost="log_likelihood", seed=0
    )
    with pytest.raises(OnnxExportError, match="layer2 activation 'cube'"):
        net.to_onnx()


def test_cli_export_errors_are_one_line(tmp_path, capsys) -> None:
    assert main(["export", str(tmp_path / "none.npz"), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "none.npz" in err
    assert not (tmp_path / "m.onnx").exists()


def _mixed_csv(
    path: Path, *, date: bool = False, thousands: bool = False, words: bool = False
) -> Path:
    """ID column, numbers with missing cells, a text column with a missing cell."""
    rng = np.random.default_rng(3)
    header = ["id", "size", "colour", "weight", "label"]
    header += ["when"] if date else []
    header += ["price"] if thousands else []
    header += ["note"] if words else []
    lines = [",".join(header)]
    for i in range(90):
        size = "" if i % 13 == 4 else f"{rng.normal(5, 2):.3f}"
        colour = "" if i % 17 == 6 else ["red", "green", "blue"][i % 3]
        weight = f"{rng.normal(70, 10):.2f}"
        label = ["cat", "dog", "fox"][(i + (i % 3 == 0)) % 3]
        row = [f"ID{i:04d}", size, colour, weight, label]
        row += [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"] if date else []
        row += [f'"{1000 + 37 * i:,}"'] if thousands else []
        row += [f"{['big', 'small'][i % 2]} item {i}"] if words else []  # free text
        lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_mixed_table_with_an_id_column_equals_predict_proba(tmp_path, capsys) -> None:
    data = _mixed_csv(tmp_path / "mixed.csv")
    model_path = tmp_path / "m.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "label",
                "--id-column",
                "id",
                "--missing",
                "impute",
                "--save",
                str(model_path),
                *FAST,
            ]
        )
        == 0
    )
    capsys.readouterr()
    model = load_model(model_path)
    assert "id" not in model.feature_names  # excluded: not a graph input
    one_hot = model.encoding.one_hot_inputs()
    X = model.transform(str(data))
    assert set(np.unique(X[:, one_hot])) == {0.0, 1.0}  # one-hot inputs 0/1, unscaled
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(model_path), "-o", str(onnx_path)]) == 0
    capsys.readouterr()
    rows = read_data_file(data, target="label", columns=model.feature_names)
    inputs = feeds(model, rows)
    assert set(inputs) == {"size", "colour", "weight"}
    got = _run(str(onnx_path), inputs)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model_path), "--data", str(data), "--proba", "-o", str(out)]) == 0
    capsys.readouterr()
    with open(out, newline="") as f:
        header, *body = list(csv.reader(f))
    assert header[:2] == ["id", "prediction"]  # predict carries the ID; the graph never sees it
    assert body[0][0] == "ID0000"
    proba = np.array([[float(v) for v in r[2:]] for r in body])
    np.testing.assert_allclose(got["probabilities"], proba, atol=1e-5)
    assert list(got["label"]) == [model.class_names[i] for i in proba.argmax(axis=1)]


@pytest.mark.parametrize(
    "kind, column, needle",
    [
        ("date", "when", "is a date column"),
        ("thousands", "price", "thousands separators"),
        ("words", "note", "is free text read as 2 words"),
    ],
)
def test_steps_onnx_cannot_express_are_refused_naming_the_column(
    tmp_path, capsys, kind, column, needle
) -> None:
    data = _mixed_csv(
        tmp_path / "t.csv",
        date=kind == "date",
        thousands=kind == "thousands",
        words=kind == "words",
    )
    model_path = tmp_path / "m.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "label",
                "--id-column",
                "id",
                "--missing",
                "impute",
                "--save",
                str(model_path),
                *FAST,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["export", str(model_path), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"column {column!r}" in err and needle in err, err
    assert not (tmp_path / "m.onnx").exists()
    with pytest.raises(OnnxExportError, match=needle):
        load_model(model_path).to_onnx()
