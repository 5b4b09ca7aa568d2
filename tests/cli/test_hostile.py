"""Hostile and careless use of the command line: one line, a telling exit status, nothing lost.

Exit statuses: 0 success, 1 the system failed (disk full, out of memory), 2 bad
input, 3 training diverged, 130 interrupted (docs/guarantees.md).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import chainrule
from chainrule import Network, TrainingDiverged
from hostile_helpers import (
    assert_fails,
    assert_intact,
    assert_one_line,
    cli,
    cli_patched,
    run_main,
    snapshot,
    train_model,
    write_csv,
)

# ---------------------------------------------------------------------- diverging training


def test_diverging_cli_run_stops_with_exit_3_and_keeps_the_old_model(tmp_path, capsys):
    data, model = train_model(tmp_path, capsys)
    log = tmp_path / "log.jsonl"
    log.write_text('{"old": "log"}\n')
    before = snapshot(tmp_path)
    code, out, err = run_main(
        capsys,
        [
            "train",
            "--data",
            str(data),
            "--epochs",
            "20",
            "--learning-rate",
            "1e6",
            "--hidden",
            "8",
            "--save",
            str(model),
            "--log-json",
            str(log),
        ],
    )
    assert_one_line(
        err, 3, code, "training diverged at epoch", "loss = ", "try a smaller --learning-rate"
    )
    assert "saved" not in out
    assert_intact(before, tmp_path)


@pytest.mark.parametrize(
    "args",
    [
        ["--data", "iris", "--learning-rate", "1e6"],  # loss explodes
        ["--data", "digits", "--activation", "relu", "--learning-rate", "1e3"],  # NaN
        ["--data", "diabetes", "--learning-rate", "50"],  # regression: inf/NaN
    ],
)
def test_diverging_runs_never_report_a_result(tmp_path, capsys, args):
    code, out, err = run_main(
        capsys,
        ["train", *args, "--epochs", "5", "--progress", "none", "--save", str(tmp_path / "m.npz")],
    )
    assert_one_line(err, 3, code, "training diverged")
    assert "test accuracy" not in out and "test loss" not in out
    assert not list(tmp_path.iterdir())


def test_a_run_diverging_from_its_l2_step_is_told_to_lower_l2(tmp_path, capsys):
    # digits: 1,437 training rows; 0.1 × 50,000 / 1,437 ≈ 3.5 > 1: the decay flips the weights.
    code, out, err = run_main(
        capsys, ["train", "--l2", "50000", "--epochs", "3", "--progress", "none"]
    )
    assert "test accuracy" not in out
    assert_one_line(
        err,
        3,
        code,
        "training diverged at epoch 1",
        "the L2 step alone overshoots (learning rate × l2 / training rows = 3.48",
        "try a smaller --l2 or --learning-rate",
    )
    net = Network([3, 4, 2], output_activation="softmax", cost="log_likelihood", seed=0)
    X = np.random.default_rng(0).normal(size=(40, 3))
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="smaller l2 or"):
        net.fit(X, (X[:, 0] > 0).astype(int), epochs=10, learning_rate=1.0, l2=400.0)


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


# ------------------------------------------------------------- outputs never clobber inputs


@pytest.mark.parametrize("option", ["--save", "--log-json", "--report"])
@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_train_outputs_never_overwrite_the_data(tmp_path, capsys, option, how):
    pytest.importorskip("matplotlib")
    data = write_csv(tmp_path / "data.csv")
    target = {"same": data, "symlink": tmp_path / "link.csv", "hardlink": tmp_path / "hard.csv"}[
        how
    ]
    if how == "symlink":
        target.symlink_to(data)
    elif how == "hardlink":
        os.link(data, target)
    before = snapshot(tmp_path)
    code, out, err = run_main(
        capsys, ["train", "--data", str(data), "--epochs", "1", option, str(target)]
    )
    assert_one_line(err, 2, code, "is the data file", f"choose another {option}")
    assert out == ""  # refused before any work
    assert_intact(before, tmp_path)


def test_train_outputs_must_differ_from_each_other(tmp_path, capsys):
    code, _, err = run_main(
        capsys,
        [
            "train",
            "--data",
            "iris",
            "--epochs",
            "1",
            "--save",
            str(tmp_path / "x"),
            "--log-json",
            str(tmp_path / "x"),
        ],
    )
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
    code, _, err = run_main(
        capsys, [command, str(model), "--data", str(data), *extra, "-o", str(link)]
    )
    assert_one_line(err, 2, code, f"is the {victim} file", "choose another --output")
    assert_intact(before, tmp_path)


# ---------------------------------------------------------------------- the JSON log


def test_a_failed_run_leaves_the_old_log_alone(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text('{"epoch": 1}\n')
    before = snapshot(tmp_path)
    # Fails while loading the data: the log must not even be opened.
    code, _, err = run_main(
        capsys, ["train", "--data", str(tmp_path / "missing.csv"), "--log-json", str(log)]
    )
    assert_one_line(err, 2, code, "no such file")
    assert_intact(before, tmp_path)
    # Fails when training starts (a regressor cannot watch accuracy).
    code, _, err = run_main(
        capsys,
        ["train", "--data", "diabetes", "--early-stopping", "val_accuracy", "--log-json", str(log)],
    )
    assert_one_line(err, 2, code, "val_accuracy needs a classifier")
    assert_intact(before, tmp_path)
    # Fails after some epochs (diverges): the old log stays, no temporary file is left.
    code, _, err = run_main(
        capsys,
        [
            "train",
            "--data",
            "diabetes",
            "--learning-rate",
            "50",
            "--epochs",
            "9",
            "--log-json",
            str(log),
        ],
    )
    assert_one_line(err, 3, code, "diverged")
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
    code, _, _ = run_main(
        capsys, ["train", "--data", "iris", "--epochs", "2", "--quiet", "--log-json", str(log)]
    )
    assert code == 0 and len(log.read_text().splitlines()) == 2
    assert log.stat().st_mode & 0o777 == 0o640


@pytest.mark.slow
def test_cli_subprocess_diverges_with_status_3(tmp_path):
    proc = cli(["train", "--data", "iris", "--epochs", "3", "--learning-rate", "1e6"], tmp_path)
    assert_fails(proc, 3, "training diverged at epoch 1")


# ---------------------------------------------------------------------- faults: disk full


def _writer_cases(folder):
    """(command line, the file it writes) for every writer, each over an existing file."""
    return {
        "save": (
            ["train", "--data", "data.csv", "--epochs", "2", "--save", "model.npz"],
            "model.npz",
        ),
        "log": (
            ["train", "--data", "data.csv", "--epochs", "40", "--log-json", "log.jsonl"],
            "log.jsonl",
        ),
        "report": (
            ["report", "model.npz", "--data", "data.csv", "--rows", "all", "-o", "report.html"],
            "report.html",
        ),
        "plot": (
            ["plot", "model.npz", "--data", "data.csv", "--what", "curves", "-o", "curves.svg"],
            "curves.svg",
        ),
        "predict": (
            ["predict", "model.npz", "--data", "data.csv", "--proba", "-o", "p.csv"],
            "p.csv",
        ),
    }


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["save", "log", "report", "plot", "predict"])
def test_a_full_disk_gives_one_line_and_keeps_the_old_file(tmp_path, capsys, writer):
    if writer in ("report", "plot"):
        pytest.importorskip("matplotlib")
        # Build matplotlib's font cache now: under the file-size limit it could not be
        # written, and matplotlib would say so on stderr.
        pytest.importorskip("matplotlib.font_manager")
    train_model(tmp_path, capsys)
    args, target = _writer_cases(tmp_path)[writer]
    if target != "model.npz":
        (tmp_path / target).write_bytes(b"the old file\n")
    before = snapshot(tmp_path)
    # RLIMIT_FSIZE: the kernel refuses to grow any file past 1 KiB (EFBIG), as a full
    # disk would (ENOSPC); the files already there are larger and stay readable.
    proc = cli(args, tmp_path, file_size=1024)
    assert_fails(proc, 1, target, "could not write", "previous file is intact")
    assert_intact(before, tmp_path)


def test_enospc_while_saving_is_one_line(tmp_path, capsys, monkeypatch):
    data, model = train_model(tmp_path, capsys)
    before = snapshot(tmp_path)

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    code, _, err = run_main(
        capsys, ["train", "--data", str(data), "--epochs", "1", "--save", str(model)]
    )
    assert_one_line(err, 1, code, "No space left on device", str(model))
    assert_intact(before, tmp_path)


# ---------------------------------------------------------------------- faults: Ctrl-C

_INTERRUPT_DURING = """
import os, signal, threading, time
import {module} as target
original = target.{name}

def slow(*args, **kwargs):
    {before}
    # Ctrl-C, and a second one a moment later, wherever the first has got to.
    def twice():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.002)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=twice).start()
    for _ in range(5000):
        time.sleep(0.001)
    return original(*args, **kwargs)

target.{name} = slow
"""


@pytest.mark.slow
@pytest.mark.parametrize("during", ["save", "load"])
def test_ctrl_c_twice_during_save_or_load_is_one_line_and_exit_130(tmp_path, capsys, during):
    _data, _model = train_model(tmp_path, capsys)
    before = snapshot(tmp_path)
    if during == "save":
        prelude = _INTERRUPT_DURING.format(
            module="numpy", name="savez", before="args[0].write(b'half a model')"
        )
        args = ["train", "--data", "data.csv", "--epochs", "1", "--save", "model.npz"]
    else:
        # The data file's opening: every reader checks it through the one opener first.
        prelude = _INTERRUPT_DURING.format(
            module="chainrule.input_files", name="check_input_file", before="pass"
        )
        args = ["predict", "model.npz", "--data", "data.csv", "-o", "out.csv"]
    proc = cli_patched(prelude, args, tmp_path)
    assert_fails(proc, 130, "interrupted")
    assert_intact(before, tmp_path)


def _train_until_first_epoch(tmp_path, args, signals):
    import signal
    import subprocess
    import sys

    from hostile_helpers import env

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--data",
            "data.csv",
            "--hidden",
            "50",
            "--epochs",
            "100000",
            "--batch-size",
            "1",
            "--progress",
            "lines",
            *args,
        ],
        cwd=tmp_path,
        env={**env(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("epoch 1/"):
            break
    for _ in range(signals):
        proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.slow
def test_one_ctrl_c_in_training_keeps_the_partial_model_only_with_save(tmp_path, capsys):
    _data, model = train_model(tmp_path, capsys)
    model.unlink()
    code, err = _train_until_first_epoch(tmp_path, ["--save", "model.npz"], 1)
    assert_one_line(
        err, 130, code, "interrupted after epoch", "saved the partial model to model.npz"
    )
    assert chainrule.load(model).history.epoch[0] == 1
    model.unlink()
    before = snapshot(tmp_path)
    code, err = _train_until_first_epoch(tmp_path, [], 1)
    assert_one_line(
        err,
        130,
        code,
        "interrupted after epoch",
        "no file was changed",
        "give --save PATH to keep a partial model",
    )
    assert_intact(before, tmp_path)


@pytest.mark.slow
def test_two_ctrl_c_in_training_never_break_the_model_file(tmp_path, capsys):
    _data, model = train_model(tmp_path, capsys)
    old = model.read_bytes()
    code, err = _train_until_first_epoch(tmp_path, ["--save", "model.npz"], 2)
    assert_one_line(err, 130, code, "interrupted")
    # Either the second Ctrl-C came before the save (the old file) or after it.
    assert model.read_bytes() == old or len(chainrule.load(model).history) >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "model.npz"]


@pytest.mark.slow
def test_a_closed_stdout_never_skips_the_save(tmp_path):
    import subprocess
    import sys

    from hostile_helpers import env

    write_csv(tmp_path / "data.csv")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--data",
            "data.csv",
            "--epochs",
            "200",
            "--progress",
            "lines",
            "--save",
            "m.npz",
        ],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and err == ""
    assert len(chainrule.load(tmp_path / "m.npz").history) == 200


# ---------------------------------------------------------------------- the atomic write


def test_temp_files_of_a_killed_save_are_removed_by_the_next(tmp_path, capsys):
    import subprocess
    import sys

    data, model = train_model(tmp_path, capsys)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".model.npz.chainrule-{dead.pid}-x1y2.tmp"
    stale.write_bytes(b"half a model from a killed save")
    live = tmp_path / f".model.npz.chainrule-{os.getppid()}-a1b2.tmp"  # a running process's
    live.write_bytes(b"being written")
    code, _, _ = run_main(
        capsys, ["train", "--data", str(data), "--epochs", "1", "--quiet", "--save", str(model)]
    )
    assert code == 0
    assert not stale.exists() and live.exists()


def test_atomic_write_keeps_the_mode_and_writes_through_a_symlink(tmp_path, capsys):
    data, model = train_model(tmp_path, capsys)
    model.chmod(0o600)
    link = tmp_path / "latest.npz"
    link.symlink_to(model.name)
    code, _, _ = run_main(
        capsys, ["train", "--data", str(data), "--epochs", "3", "--quiet", "--save", str(link)]
    )
    assert code == 0
    assert link.is_symlink() and os.readlink(link) == model.name
    assert len(chainrule.load(model).history) == 3
    assert model.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_outputs_never_replace_a_fifo_or_a_device(tmp_path, capsys, kind):
    if kind == "fifo":
        target = tmp_path / "pipe"
        os.mkfifo(target)
    else:
        target = tmp_path / "null"
        target.symlink_to(os.devnull)
    code, out, err = run_main(
        capsys, ["train", "--data", "iris", "--epochs", "1", "--save", str(target)]
    )
    assert_one_line(err, 2, code, "not a regular file")
    assert out == ""
    assert (tmp_path / target.name).is_fifo() if kind == "fifo" else os.path.exists(os.devnull)


def test_a_diverged_fit_leaves_no_temporary_log_behind(tmp_path):
    import subprocess
    import sys

    from hostile_helpers import env

    log = tmp_path / "log.jsonl"
    log.write_text("old\n")
    code = f"""
import numpy as np
from chainrule import Network, TrainingDiverged
from chainrule.training import JSONLinesLogger
X = np.random.default_rng(0).normal(size=(50, 3))
net = Network([3, 8, 1], activation="relu", output_activation="identity", seed=0)
try:
    with np.errstate(all="ignore"):
        net.fit(X, X.sum(axis=1) * 100, epochs=20, learning_rate=10.0,
                callbacks=[JSONLinesLogger({str(log)!r})])
except TrainingDiverged:
    print("diverged")
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.strip() == "diverged", proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"]
    assert log.read_text() == "old\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_a_read_only_folder_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    code, out, err = run_main(
        capsys, ["train", "--data", "iris", "--epochs", "1", "--save", str(folder / "m.npz")]
    )
    assert_one_line(err, 2, code, "--save", "permission denied")
    assert out == ""
