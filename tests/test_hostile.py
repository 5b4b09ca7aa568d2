"""Hostile and careless use of the command line: one line, a telling exit status, nothing lost.

Exit statuses: 0 success, 1 the system failed (disk full, out of memory), 2 bad
input, 3 training diverged, 130 interrupted (docs/guarantees.md).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hostile_helpers import (
    assert_fails,
    assert_intact,
    assert_one_line,
    cli,
    run_main,
    snapshot,
    train_model,
    write_csv,
)

import chainrule
from chainrule import Network, TrainingDiverged

# ---------------------------------------------------------------------- diverging training


def test_diverging_cli_run_stops_with_exit_3_and_keeps_the_old_model(tmp_path, capsys):
    data, model = train_model(tmp_path, capsys)
    log = tmp_path / "log.jsonl"
    log.write_text('{"old": "log"}\n')
    before = snapshot(tmp_path)
    code, out, err = run_main(capsys, ["train", "--data", str(data), "--epochs", "20",
                                       "--learning-rate", "1e6", "--hidden", "8",
                                       "--save", str(model), "--log-json", str(log)])
    assert_one_line(err, 3, code, "training diverged at epoch", "loss = ",
                    "try a smaller --learning-rate")
    assert "saved" not in out
    assert_intact(before, tmp_path)


@pytest.mark.parametrize("args", [
    ["--data", "iris", "--learning-rate", "1e6"],                       # loss explodes
    ["--data", "digits", "--activation", "relu", "--learning-rate", "1e3"],  # NaN
    ["--data", "diabetes", "--learning-rate", "50"],                    # regression: inf/NaN
])
def test_diverging_runs_never_report_a_result(tmp_path, capsys, args):
    code, out, err = run_main(capsys, ["train", *args, "--epochs", "5", "--progress", "none",
                                       "--save", str(tmp_path / "m.npz")])
    assert_one_line(err, 3, code, "training diverged")
    assert "test accuracy" not in out and "test loss" not in out
    assert not list(tmp_path.iterdir())


def test_fit_raises_a_floating_point_error_instead_of_returning_nan():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) * 100
    net = Network([3, 8, 1], activation="relu", output_activation="identity", seed=0)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as info:
        net.fit(X, y, epochs=20, learning_rate=10.0)
    assert isinstance(info.value, FloatingPointError)
    assert info.value.epoch == len(net.history)
    assert "diverged at epoch" in str(info.value) and "smaller learning rate" in str(info.value)


def test_a_model_with_nan_weights_is_never_written(tmp_path):
    net = Network([2, 3, 2], output_activation="softmax", cost="log_likelihood", seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    before = path.read_bytes()
    net.weights[1][0, 0] = np.nan
    with pytest.raises(ValueError, match="W3 holds NaN or inf"):
        net.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


# ---------------------------------------------------------------------- outputs never clobber inputs


@pytest.mark.parametrize("option", ["--save", "--log-json", "--report"])
@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_train_outputs_never_overwrite_the_data(tmp_path, capsys, option, how):
    pytest.importorskip("matplotlib")
    data = write_csv(tmp_path / "data.csv")
    target = {"same": data, "symlink": tmp_path / "link.csv",
              "hardlink": tmp_path / "hard.csv"}[how]
    if how == "symlink":
        target.symlink_to(data)
    elif how == "hardlink":
        os.link(data, target)
    before = snapshot(tmp_path)
    code, out, err = run_main(capsys, ["train", "--data", str(data), "--epochs", "1",
                                       option, str(target)])
    assert_one_line(err, 2, code, "is the data file", f"choose another {option}")
    assert out == ""  # refused before any work
    assert_intact(before, tmp_path)


def test_train_outputs_must_differ_from_each_other(tmp_path, capsys):
    code, _, err = run_main(capsys, ["train", "--data", "iris", "--epochs", "1",
                                     "--save", str(tmp_path / "x"), "--log-json",
                                     str(tmp_path / "x")])
    assert_one_line(err, 2, code, "is also the")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["report", "plot", "predict"])
@pytest.mark.parametrize("victim", ["model", "data"])
def test_model_commands_never_overwrite_what_they_read(tmp_path, capsys, command, victim):
    if command != "predict":
        pytest.importorskip("matplotlib")
    data, model = train_model(tmp_path, capsys)
    # A link named like the output the command makes, pointing at what it reads.
    link = tmp_path / {"report": "r.html", "plot": "f.svg", "predict": "p.csv"}[command]
    link.symlink_to(model if victim == "model" else data)
    before = snapshot(tmp_path)
    extra = ["--what", "curves"] if command == "plot" else []
    code, _, err = run_main(capsys, [command, str(model), "--data", str(data), *extra,
                                     "-o", str(link)])
    assert_one_line(err, 2, code, f"is the {victim} file", "choose another --output")
    assert_intact(before, tmp_path)


# ---------------------------------------------------------------------- the JSON log


def test_a_failed_run_leaves_the_old_log_alone(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text('{"epoch": 1}\n')
    before = snapshot(tmp_path)
    # Fails while loading the data: the log must not even be opened.
    code, _, err = run_main(capsys, ["train", "--data", str(tmp_path / "missing.csv"),
                                     "--log-json", str(log)])
    assert_one_line(err, 2, code, "no such file")
    assert_intact(before, tmp_path)


def test_the_log_is_replaced_in_one_step_when_training_ends(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text("old\n")
    seen: list[str] = []

    class Spy(chainrule.Callback):
        def on_epoch_end(self, network, history):
            seen.append(log.read_text())

    from chainrule.training import JSONLinesLogger

    net = Network([2, 3, 2], output_activation="softmax", cost="log_likelihood", seed=0)
    X = np.random.default_rng(0).normal(size=(20, 2))
    net.fit(X, (X[:, 0] > 0).astype(int), epochs=3, callbacks=[JSONLinesLogger(log), Spy()])
    assert seen == ["old\n"] * 3  # untouched while training
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"]  # no temporary file left


def test_log_json_keeps_the_files_mode(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text("old\n")
    log.chmod(0o640)
    code, _, _ = run_main(capsys, ["train", "--data", "iris", "--epochs", "2", "--quiet",
                                   "--log-json", str(log)])
    assert code == 0 and len(log.read_text().splitlines()) == 2
    assert log.stat().st_mode & 0o777 == 0o640


def test_cli_subprocess_diverges_with_status_3(tmp_path):
    proc = cli(["train", "--data", "iris", "--epochs", "3", "--learning-rate", "1e6"], tmp_path)
    assert_fails(proc, 3, "training diverged at epoch 1")
