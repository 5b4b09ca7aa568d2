"""The data commands end to end: train on a file, save, evaluate, predict, info — and
every bad input of issue 5 as a one-line error with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.data import write_idx
from chainrule.io import METADATA_KEY

CLASSES = np.array(["cat", "dog", "emu"])
FAST = ["--epochs", "15", "--hidden", "8", "--batch-size", "8", "--quiet"]


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(scale=0.3, size=(n, 3)) + np.eye(3)[y] * 3 + 10
    return X, y


def write_csv(path, X, labels=None, header=True, target_name="animal"):
    lines = []
    if header:
        lines.append(
            ",".join(
                [
                    *[f"f{j}" for j in range(X.shape[1])],
                    *([target_name] if labels is not None else []),
                ]
            )
        )
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row]
        if labels is not None:
            cells.append(str(labels[i]))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, y = blobs()
    write_csv(d / "train.csv", X, CLASSES[y])
    Xn, yn = blobs(30, seed=1)
    write_csv(d / "new.csv", Xn, CLASSES[yn])
    write_csv(d / "features.csv", Xn)
    assert (
        main(
            [
                "train",
                "--data",
                str(d / "train.csv"),
                "--target",
                "animal",
                "--save",
                str(d / "model.npz"),
                *FAST,
            ]
        )
        == 0
    )
    return d


def run_error(capsys, argv):
    """Run a command that must fail; return its single stderr line."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 2, captured
    err = captured.err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------- what works


def test_train_save_evaluate_predict_info(files, tmp_path, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(files / "model.npz"), "--data", str(files / "new.csv")]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("accuracy: ")[1].split("%")[0])
    assert accuracy >= 90.0
    assert "precision" in out and "confusion matrix" in out
    for name in CLASSES:
        assert name in out

    out_path = tmp_path / "preds.csv"
    assert (
        main(
            [
                "predict",
                str(files / "model.npz"),
                "--data",
                str(files / "features.csv"),
                "--output",
                str(out_path),
                "--proba",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == f"wrote 30 predictions to {out_path}\n"
    rows = out_path.read_text().splitlines()
    assert rows[0] == "prediction,p(cat),p(dog),p(emu)" and len(rows) == 31
    _, yn = blobs(30, seed=1)
    predicted = [r.split(",")[0] for r in rows[1:]]
    assert np.mean(np.array(predicted) == CLASSES[yn]) >= 0.9
    probs = np.array([[float(c) for c in r.split(",")[1:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)

    # With the target column present, predict ignores it and says the same.
    assert main(["predict", str(files / "model.npz"), "--data", str(files / "new.csv")]) == 0
    stdout = capsys.readouterr().out.splitlines()
    assert stdout[0] == "prediction" and stdout[1:] == predicted

    assert main(["info", str(files / "model.npz")]) == 0
    out = capsys.readouterr().out
    assert "classes: cat, dog, emu" in out and "features: 3 (f0, f1, f2)" in out
    assert "target: animal" in out and "standard scaling" in out and "15 epochs" in out
    assert main(["info", str(files / "model.npz"), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert len(meta["history"]["epoch"]) == 15 and meta["training"]["epochs"] == 15


def test_preprocessing_travels_with_the_model(files, tmp_path, capsys):
    # Features far from zero: without the saved scaling, predictions would collapse.
    import chainrule
    from chainrule.io import load_model

    model = load_model(files / "model.npz")
    X, _ = blobs()
    np.testing.assert_allclose(
        model.preprocessing.features.mean,
        X[np.sort(np.concatenate([np.flatnonzero(np.arange(60) % 3 == k) for k in range(3)]))].mean(
            axis=0
        ),
        atol=2,
    )
    net = chainrule.load(files / "model.npz")
    assert net.class_names == list(CLASSES) and net.preprocessing is not None


def test_train_minmax_val_split_and_npz(tmp_path, capsys):
    X, y = blobs()
    np.savez(tmp_path / "d.npz", X=X, y=y)
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "d.npz"),
                "--scale",
                "minmax",
                "--val-fraction",
                "0.2",
                "--save",
                str(tmp_path / "m.npz"),
                *FAST,
            ]
        )
        == 0
    )
    from chainrule.io import load_model

    model = load_model(tmp_path / "m.npz")
    assert model.preprocessing.features.kind == "minmax"
    assert model.class_names == ["0", "1", "2"]
    assert model.metadata["data"]["n_val"] == 12 and model.metadata["data"]["n_test"] == 12


def test_regression_file_evaluates_with_mse_mae_r2(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = 50 + 20 * X[:, 0] - 10 * X[:, 1]
    write_csv(tmp_path / "r.csv", X, y, target_name="price")
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "r.csv"),
                "--task",
                "regression",
                "--hidden",
                "8",
                "--epochs",
                "60",
                "--learning-rate",
                "0.02",
                "--quiet",
                "--save",
                str(tmp_path / "r.npz"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "r.npz"), "--data", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    r2 = float(out.split("R²: ")[1].split()[0])
    assert "MSE:" in out and "MAE:" in out and r2 > 0.9
    assert main(["predict", str(tmp_path / "r.npz"), "--data", str(tmp_path / "r.csv")]) == 0
    values = np.array(capsys.readouterr().out.splitlines()[1:], dtype=float)
    assert np.abs(values - y).mean() < 5  # in the target's units, not standardised


def test_train_on_small_mnist_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for stem, n in (("train", 40), ("t10k", 10)):
        write_idx(
            tmp_path / f"{stem}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    err = run_error(capsys, ["train", "--data", "mnist", "--data-dir", tmp_path])
    assert "n_validation must be in [0, 40), got 10000" in err and "--val-fraction" in err
    assert (
        main(
            [
                "train",
                "--data",
                "mnist",
                "--data-dir",
                str(tmp_path),
                "--epochs",
                "1",
                "--val-fraction",
                "0.25",
                "--hidden",
                "5",
                "--quiet",
                "--save",
                str(tmp_path / "m.npz"),
            ]
        )
        == 0
    )
    from chainrule.io import load_model

    trained = capsys.readouterr().out.split("test accuracy: ")[1].split("%")[0]
    # The saved preprocessing takes raw pixels (0-255, as in the IDX files): the model
    # scores the same on the raw test files as on load_mnist's scaled test split.
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "m.npz"),
                "--data",
                str(tmp_path / "t10k-images-idx3-ubyte.gz"),
                "--labels",
                str(tmp_path / "t10k-labels-idx1-ubyte.gz"),
            ]
        )
        == 0
    )
    assert f"accuracy: {trained}%" in capsys.readouterr().out
    model = load_model(tmp_path / "m.npz")
    assert model.n_features == 784 and len(model.class_names) == 10
    assert model.metadata["data"]["n_train"] == 30
    err = run_error(capsys, ["train", "--data", tmp_path / "t10k-images-idx3-ubyte.gz"])
    assert "no target to train on (an IDX image file needs --labels FILE)" in err
    err = run_error(capsys, ["train", "--data", "mnist"])
    assert "--data mnist needs --data-dir" in err
    # An IDX image file is also a data file for predict.
    assert (
        main(
            [
                "predict",
                str(tmp_path / "m.npz"),
                "--data",
                str(tmp_path / "t10k-images-idx3-ubyte.gz"),
            ]
        )
        == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 11


def test_datasets_lists_names_shapes_and_tasks(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in (
        "digits",
        "iris",
        "wine",
        "breast_cancer",
        "diabetes",
        "xor",
        "spirals",
        "moons",
        "circles",
    ):
        assert name in out
    assert "1797" in out and "regression" in out


@pytest.mark.parametrize("name", ["xor", "moons", "diabetes"])
def test_train_on_bundled_sets(name, capsys):
    extra = ["--n-samples", "60"] if name != "diabetes" else []
    assert main(["train", "--data", name, *extra, *FAST]) == 0


# ---------------------------------------------------------------------- every bad input


def test_missing_files(files, tmp_path, capsys):
    err = run_error(capsys, ["train", "--data", tmp_path / "none.csv"])
    assert "none.csv: no such file" in err
    err = run_error(capsys, ["evaluate", files / "model.npz", "--data", tmp_path / "none.csv"])
    assert "none.csv: no such file" in err
    err = run_error(capsys, ["predict", tmp_path / "none.npz", "--data", files / "new.csv"])
    assert "none.npz: no such file" in err
    assert "unknown data set 'nonesuch'" in run_error(capsys, ["train", "--data", "nonesuch"])


def test_empty_files(files, tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "empty.npz").write_bytes(b"")
    err = run_error(capsys, ["train", "--data", tmp_path / "empty.csv"])
    assert "empty.csv: the file is empty" in err
    err = run_error(capsys, ["predict", files / "model.npz", "--data", tmp_path / "empty.csv"])
    assert "empty.csv: the file is empty" in err
    err = run_error(capsys, ["info", tmp_path / "empty.npz"])
    assert "empty.npz: the file is empty" in err


def test_ragged_rows(files, tmp_path, capsys):
    path = tmp_path / "ragged.csv"
    path.write_text("f0,f1,f2,animal\n1,2,3,cat\n1,2,cat\n")
    for argv in (["train", "--data", path], ["evaluate", files / "model.npz", "--data", path]):
        err = run_error(capsys, argv)
        assert "ragged.csv: line 3 has 3 fields, expected 4" in err


def test_non_numeric_cells(files, tmp_path, capsys):
    path = tmp_path / "text.csv"
    path.write_text("f0,f1,f2,animal\n1,2,3,cat\n1,two,3,dog\n")
    for argv in (
        ["train", "--data", path],
        ["evaluate", files / "model.npz", "--data", path],
        ["predict", files / "model.npz", "--data", path],
    ):
        err = run_error(capsys, argv)
        assert "text.csv: line 3, column 2 ('f1'): 'two' is not a number" in err


@pytest.mark.parametrize("bad", ["inf", "-inf"])
def test_nan_and_inf(files, tmp_path, capsys, bad):
    path = tmp_path / "nan.csv"
    path.write_text(f"f0,f1,f2,animal\n1,2,3,cat\n1,2,{bad},dog\n")
    for argv in (["train", "--data", path], ["predict", files / "model.npz", "--data", path]):
        err = run_error(capsys, argv)
        assert f"nan.csv: line 3, column 3 ('f2'): {bad} is not a finite number" in err


def test_target_column_that_does_not_exist(files, capsys):
    err = run_error(capsys, ["train", "--data", files / "train.csv", "--target", "species"])
    assert "train.csv: no column named 'species' (columns: 'f0', 'f1', 'f2', 'animal')" in err
    err = run_error(
        capsys, ["evaluate", files / "model.npz", "--data", files / "new.csv", "--target", "7"]
    )
    assert "new.csv: target column 7 does not exist (the file has 4 columns" in err


def test_class_the_model_never_saw(files, tmp_path, capsys):
    X, _ = blobs(3)
    write_csv(tmp_path / "gnu.csv", X, ["cat", "gnu", "dog"])
    err = run_error(capsys, ["evaluate", files / "model.npz", "--data", tmp_path / "gnu.csv"])
    assert "gnu.csv: line 3, target 'animal': class 'gnu' was never seen in training" in err
    assert "'cat', 'dog', 'emu'" in err


def test_feature_count_mismatch(files, tmp_path, capsys):
    X, y = blobs(6)
    # Without a header the columns are taken by position, so their count must fit.
    write_csv(tmp_path / "wide.csv", np.hstack([X, X]), CLASSES[y], header=False)
    err = run_error(capsys, ["evaluate", files / "model.npz", "--data", tmp_path / "wide.csv"])
    assert "wide.csv: has 7 columns, expected 4: the model's input size 3 and a target" in err
    err = run_error(capsys, ["predict", files / "model.npz", "--data", tmp_path / "wide.csv"])
    assert "wide.csv: has 7 columns, expected 3 features (the model's input size), or 4" in err
    write_csv(tmp_path / "narrow.csv", X, header=False)
    err = run_error(capsys, ["evaluate", files / "model.npz", "--data", tmp_path / "narrow.csv"])
    assert "narrow.csv: has 3 columns, expected 4" in err and "(no target column?)" in err
    # With a header they are taken by name: evaluate on features only lacks the target.
    err = run_error(capsys, ["evaluate", files / "model.npz", "--data", files / "features.csv"])
    assert "features.csv: no column named 'animal' (the target in training)" in err
    np.savez(tmp_path / "wide.npz", X=np.hstack([X, X]), y=y)
    err = run_error(capsys, ["predict", files / "model.npz", "--data", tmp_path / "wide.npz"])
    assert "wide.npz: has 6 feature columns, expected 3 (the model's input size)" in err


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_truncated_or_corrupted_model(files, tmp_path, capsys, damage):
    raw = bytearray((files / "model.npz").read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "garbage":
        raw = bytearray(b"this is not a model")
    else:
        raw[len(raw) // 3] ^= 0xFF
    path = tmp_path / "bad.npz"
    path.write_bytes(bytes(raw))
    for argv in (
        ["info", path],
        ["predict", path, "--data", files / "new.csv"],
        ["evaluate", path, "--data", files / "new.csv"],
    ):
        err = run_error(capsys, argv)
        assert "bad.npz: " in err
        assert "corrupted" in err or "not a chainrule model file" in err


def test_model_from_a_newer_format_version(files, tmp_path, capsys):
    import io

    with np.load(files / "model.npz", allow_pickle=False) as z:
        content = {k: z[k] for k in z.files}
    meta = json.loads(content[METADATA_KEY].tobytes())
    meta["format_version"] = 99
    content[METADATA_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **content)
    (tmp_path / "future.npz").write_bytes(buf.getvalue())
    err = run_error(capsys, ["predict", tmp_path / "future.npz", "--data", files / "new.csv"])
    assert "future.npz: written in model format version 99" in err and "upgrade" in err


def test_paths_that_are_directories(files, tmp_path, capsys):
    err = run_error(capsys, ["train", "--data", tmp_path])
    assert f"{tmp_path}: is a directory" in err
    err = run_error(capsys, ["info", tmp_path])
    assert f"{tmp_path}: is a directory, expected a model file" in err
    err = run_error(capsys, ["train", "--data", files / "train.csv", "--save", tmp_path])
    assert f"{tmp_path}: is a directory, expected a file name" in err
    err = run_error(
        capsys, ["predict", files / "model.npz", "--data", files / "new.csv", "--output", tmp_path]
    )
    assert f"{tmp_path}: is a directory, expected a file name" in err


def test_output_folder_that_does_not_exist(files, tmp_path, capsys):
    missing = tmp_path / "no" / "such"
    err = run_error(capsys, ["train", "--data", files / "train.csv", "--save", missing / "m.npz"])
    assert f"the folder '{missing}' does not exist" in err
    err = run_error(
        capsys,
        [
            "predict",
            files / "model.npz",
            "--data",
            files / "new.csv",
            "--output",
            missing / "p.csv",
        ],
    )
    assert f"the folder '{missing}' does not exist" in err


def test_nothing_the_user_had_is_lost(files, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("f0,f1,f2\n1,2,x\n")
    preds = tmp_path / "preds.csv"
    preds.write_text("my old predictions\n")
    run_error(capsys, ["predict", files / "model.npz", "--data", bad, "--output", preds])
    assert preds.read_text() == "my old predictions\n"
    model = tmp_path / "model.npz"
    model.write_bytes(b"my old model")
    run_error(capsys, ["train", "--data", bad, "--save", model])
    assert model.read_bytes() == b"my old model"
    # predict never writes over its own inputs.
    err = run_error(
        capsys,
        [
            "predict",
            files / "model.npz",
            "--data",
            files / "new.csv",
            "--output",
            files / "new.csv",
        ],
    )
    assert "is the data file" in err
    err = run_error(
        capsys,
        [
            "predict",
            files / "model.npz",
            "--data",
            files / "new.csv",
            "--output",
            files / "model.npz",
        ],
    )
    assert "is the model file" in err
    assert list(tmp_path.iterdir()) and not [
        p for p in tmp_path.iterdir() if p.name.endswith(".tmp")
    ]
