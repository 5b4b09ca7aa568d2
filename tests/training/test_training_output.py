"""Progress display, JSON-lines log, the training options of ``chainrule train``,
and the quick variant of the Nielsen benchmark on small IDX files."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule import Network
from chainrule.cli import main
from chainrule.data.idx import write_idx
from chainrule.training import JSONLinesLogger, PrintProgress, ProgressBar, progress_callback

ROOT = Path(__file__).resolve().parents[2]


def _xor(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_auto_is_a_bar_on_a_terminal_and_lines_otherwise():
    assert isinstance(progress_callback("auto", stream=_Terminal()), ProgressBar)
    assert isinstance(progress_callback("auto", stream=io.StringIO()), PrintProgress)
    assert progress_callback("none") is None
    with pytest.raises(ValueError, match="progress mode"):
        progress_callback("fancy")


def test_progress_bar_shows_batches_and_epoch_metrics():
    X, y = _xor()
    out = _Terminal()
    net = Network([2, 4, 2], seed=0)
    net.fit(
        X,
        y,
        epochs=2,
        batch_size=10,
        learning_rate=0.1,
        validation_data=(X, y),
        callbacks=[ProgressBar(stream=out, total_epochs=2)],
    )
    text = out.getvalue()
    assert "epoch 1/2:" in text and "/12 [" in text  # the bar over 12 batches
    # Each finished epoch leaves one summary line after the bar is cleared.
    summaries = [
        part
        for part in text.replace("\r", "\n").splitlines()
        if part.startswith("epoch") and "val_acc" in part
    ]
    assert len(summaries) == 2 and summaries[1].startswith("epoch 2/2  loss")
    assert "lr 0.1" in summaries[0]


def test_print_progress_is_one_clean_line_per_epoch():
    X, y = _xor()
    out = io.StringIO()
    net = Network([2, 4, 2], seed=0)
    net.fit(
        X,
        y,
        epochs=3,
        batch_size=10,
        learning_rate=0.1,
        schedule="step",
        callbacks=[progress_callback("auto", total_epochs=3, stream=out)],
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in out.getvalue()
    assert lines[2].startswith("epoch 3/3") and "lr 0.1" in lines[2]


def test_json_lines_log_has_one_object_per_epoch(tmp_path):
    X, y = _xor()
    path = tmp_path / "log.jsonl"
    net = Network([2, 4, 2], seed=0)
    logger = JSONLinesLogger(path)
    net.fit(X, y, epochs=3, batch_size=10, learning_rate=0.2, schedule="cosine", callbacks=[logger])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[0]["val_loss"] is None  # not measured: null, not NaN
    assert records[1]["learning_rate"] == pytest.approx(0.15)
    assert len(records[0]["grad_norms"]) == 2
    assert records[2]["train_loss"] == net.history.train_loss[2]
    net.fit(X, y, epochs=1, batch_size=10, learning_rate=0.2, callbacks=[logger])
    assert len(path.read_text().splitlines()) == 4  # a resumed fit appends


def test_cli_training_options_reach_fit(tmp_path, capsys):
    log = tmp_path / "train.jsonl"
    code = main(
        [
            "train",
            "--epochs",
            "4",
            "--hidden",
            "20",
            "--optimizer",
            "adamw",
            "--learning-rate",
            "0.003",
            "--weight-decay",
            "0.001",
            "--l1",
            "0.01",
            "--l2",
            "0.1",
            "--dropout",
            "0.2",
            "--clip-norm",
            "5",
            "--schedule",
            "step",
            "--lr-step",
            "2",
            "--lr-factor",
            "0.5",
            "--early-stopping",
            "val_loss",
            "--patience",
            "3",
            "--val-fraction",
            "0.2",
            "--progress",
            "lines",
            "--log-json",
            str(log),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "optimizer adamw" in out and "early stopping on val_loss" in out
    assert "test accuracy:" in out
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["learning_rate"] for r in records] == pytest.approx([0.003, 0.003, 0.0015, 0.0015])
    assert all(r["val_accuracy"] is not None for r in records)


def test_cli_never_steers_training_by_the_test_split():
    import argparse
    from types import SimpleNamespace

    from chainrule.cli.training_options import validation_kwargs

    test = (np.zeros((3, 2)), np.zeros(3))
    no_split = SimpleNamespace(X_val=None, y_val=None, validation=test)
    split = SimpleNamespace(
        X_val=np.ones((2, 2)), y_val=np.ones(2), validation=(np.ones((2, 2)), np.ones(2))
    )
    plain = argparse.Namespace(early_stopping=None, schedule="constant")
    stopping = argparse.Namespace(early_stopping="val_loss", schedule="constant")
    plateau = argparse.Namespace(early_stopping=None, schedule="plateau")
    # Not even shown: the test rows are never the per-epoch "validation".
    assert validation_kwargs(plain, no_split) == {}
    # Deciding: held out of the training rows instead.
    assert validation_kwargs(stopping, no_split) == {"validation_fraction": 0.1}
    assert validation_kwargs(plateau, no_split) == {"validation_fraction": 0.1}
    assert validation_kwargs(stopping, split)["validation_data"] is split.validation


def test_cli_quiet_keeps_the_json_log(tmp_path, capsys):
    log = tmp_path / "q.jsonl"
    assert (
        main(
            [
                "train",
                "--epochs",
                "2",
                "--hidden",
                "10",
                "--quiet",
                "--schedule",
                "plateau",
                "--log-json",
                str(log),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("test accuracy:")
    assert len(log.read_text().splitlines()) == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--log-json", "/nonexistent-dir/x.jsonl"], "--log-json"),
        (["--dropout", "0.1,0.2"], "dropout"),
        (["--optimizer", "momentum", "--momentum", "1.5"], "--momentum"),
    ],
)
def test_cli_bad_training_options_are_one_line_errors(capsys, argv, message):
    assert main(["train", "--epochs", "1", "--hidden", "10", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


def test_cli_rejects_bad_option_values(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dropout", "1.2"])
    assert exc.value.code == 2
    assert "drop probabilities" in capsys.readouterr().err


def _write_small_mnist(folder: Path, n_train=240, n_test=60):
    """Tiny IDX files in the MNIST layout: each class is a bright 28x28 band."""
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 * c : 2 * c + 4, :] = 250
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels)


def _reproduce_nielsen(monkeypatch):
    """benchmarks/reproduce_nielsen.py, imported as a module for this test."""
    spec = importlib.util.spec_from_file_location(
        "reproduce_nielsen", ROOT / "benchmarks" / "reproduce_nielsen.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_reproduce_nielsen_quick_runs_every_row(tmp_path, capsys, monkeypatch):
    _write_small_mnist(tmp_path)
    module = _reproduce_nielsen(monkeypatch)
    out_json = tmp_path / "rows.jsonl"
    assert module.main(["--quick", "--data-dir", str(tmp_path), "--json", str(out_json)]) == 0
    rows = [json.loads(line) for line in out_json.read_text().splitlines()]
    assert [r["row"] for r in rows] == [r.key for r in module.ROWS]
    for r in rows:
        assert r["quick"] and 0 <= r["accuracy"] <= 100
    # The easy bands are learnt: the data path (IDX → [0, 1] pixels → labels) works.
    assert max(r["accuracy"] for r in rows) > 50
    out = capsys.readouterr().out
    assert "book" in out and "95.42" in out
    assert module.main(["--quick", "--data-dir", str(tmp_path / "missing")]) == 2


def test_reproduce_nielsen_validate_screens_the_mlp_row_on_held_out_images(tmp_path, monkeypatch):
    _write_small_mnist(tmp_path)
    module = _reproduce_nielsen(monkeypatch)
    data = module.load_data(tmp_path, quick=True)
    row = next(r for r in module.ROWS if r.key == "mlp")
    seen = []
    real_fit = module.Network.fit

    def spy(self, X, y, *args, **kw):
        seen.append(len(X))
        return real_fit(self, X, y, *args, **kw)

    monkeypatch.setattr(module.Network, "fit", spy)
    screened = module.run_row(row, data, quick=True, seed=0, validate=True)
    tested = module.run_row(row, data, quick=True, seed=0)
    assert screened["evaluated_on"] == "validation" and tested["evaluated_on"] == "test"
    assert seen == [len(data.X_train), len(data.X_train) + len(data.X_val)]
    assert "train_accuracy" in tested and "train_accuracy" not in screened


def test_reproduce_nielsen_deskew_row_deskews_training_and_test_images(tmp_path, monkeypatch):
    _write_small_mnist(tmp_path)
    module = _reproduce_nielsen(monkeypatch)
    from chainrule.data.images import deskew

    data = module.load_data(tmp_path, quick=True)
    row = next(r for r in module.ROWS if r.key == "mlp-deskew")
    assert row.deskew and not row.shift  # preprocessing, not augmentation
    fitted, scored = [], []
    real_fit, real_accuracy = module.Network.fit, module.Network.accuracy

    def spy_fit(self, X, y, *args, **kw):
        fitted.append(X)
        return real_fit(self, X, y, *args, **kw)

    def spy_accuracy(self, X, y):
        scored.append(X)
        return real_accuracy(self, X, y)

    monkeypatch.setattr(module.Network, "fit", spy_fit)
    monkeypatch.setattr(module.Network, "accuracy", spy_accuracy)
    module.run_row(row, data, quick=True, seed=0)
    train = np.concatenate([data.X_train, data.X_val])
    np.testing.assert_allclose(fitted[0], deskew(train), atol=1e-6)
    assert not np.allclose(fitted[0], train)
    np.testing.assert_allclose(scored[-1], deskew(data.X_test), atol=1e-6)
