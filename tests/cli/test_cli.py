"""The command line: the main job, help, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chainrule.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "backpropagation" in out


def test_train_help_reads_well(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for option in (
        "--hidden",
        "--activation",
        "--cost",
        "--epochs",
        "--batch-size",
        "--learning-rate",
        "--seed",
    ):
        assert option in out


def test_train_short_run_prints_epochs_and_accuracy(capsys):
    assert main(["train", "--epochs", "3", "--hidden", "30"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/3" in out and "epoch 3/3" in out
    assert "test accuracy:" in out


def test_train_quiet_prints_only_result(capsys):
    assert main(["train", "--epochs", "2", "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("test accuracy:")


def test_bad_combination_is_a_one_line_error(capsys):
    code = main(["train", "--output-activation", "tanh", "--cost", "cross_entropy"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "cross_entropy" in err and "tanh" in err


def test_bad_number_is_rejected(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "zero"])
    assert exc.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_console_script_main_job_reaches_96_percent():
    """The README's main job, as a user runs it (defaults, full length)."""
    out = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    accuracy = float(out.split("test accuracy:")[1].split("%")[0])
    assert accuracy >= 96.0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            [],
            "monitoring: no validation split (--val-fraction 0); the test rows are scored "
            "once, at the end",
        ),
        (["--val-fraction", "0.1"], "monitoring: val_* on the 179-row validation split"),
        (["--early-stopping", "val_loss"], "monitoring: val_* on 10% of the training rows"),
    ],
)
def test_train_says_what_the_validation_columns_measure(capsys, extra, expected):
    assert main(["train", "--epochs", "1", "--hidden", "8", *extra]) == 0
    assert expected in capsys.readouterr().out
