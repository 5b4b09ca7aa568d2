"""Shared by the hostile-input tests: running the CLI, and checking that nothing was lost.

Every hostile case asserts the same promise: an exit status that says what happened,
one line on standard error without a traceback, and every file that existed before
byte-identical afterwards.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chainrule.cli import main

ROOT = Path(__file__).resolve().parents[1]


def env() -> dict[str, str]:
    """The environment for a ``python -m chainrule`` subprocess (this checkout's source)."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), path) if p)}


def cli(
    args: Sequence[str],
    cwd: Path,
    *,
    memory_mb: int | None = None,
    file_size: int | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m chainrule ARGS`` in ``cwd``, optionally under resource limits.

    ``memory_mb`` caps the address space (RLIMIT_AS), ``file_size`` the bytes any
    file may grow to (RLIMIT_FSIZE: writes beyond fail like a full disk).
    """

    def limits() -> None:
        if memory_mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return subprocess.run(
        [sys.executable, "-m", "chainrule", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limits,
    )


def cli_patched(
    prelude: str, args: Sequence[str], cwd: Path, *, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``chainrule ARGS`` in a subprocess after executing ``prelude`` (fault injection)."""
    code = f"import sys\n{prelude}\nfrom chainrule.cli import main\nsys.exit(main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line(stderr: str, status: int, got: int, *needles: str) -> str:
    """Exit ``status``, exactly one stderr line, no traceback, containing ``needles``."""
    text = stderr.strip()
    assert got == status, f"exit {got}, expected {status}; stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    assert text and len(text.splitlines()) == 1, f"expected one line:\n{stderr}"
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    return text


def assert_fails(proc: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    """A subprocess's result: see :func:`assert_one_line`."""
    return assert_one_line(proc.stderr, status, proc.returncode, *needles)


def run_main(capsys, args: Sequence[str]) -> tuple[int, str, str]:
    """``chainrule ARGS`` in this process: (exit status, stdout, stderr)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` and its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def assert_intact(before: dict[str, bytes], folder: Path, *, new: Sequence[str] = ()) -> None:
    """Every file of ``before`` is byte-identical; nothing else appeared but ``new``."""
    after = snapshot(folder)
    for name, content in before.items():
        assert name in after, f"{name} was deleted"
        assert after[name] == content, f"{name} was changed"
    extra = set(after) - set(before) - set(new)
    assert not extra, f"unexpected files left behind: {sorted(extra)}"


def write_csv(path: Path, n: int = 60, seed: int = 0) -> Path:
    """A small, easy two-class CSV: three features, a ``label`` column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    lines = ["a,b,c,label"] + [
        f"{a:.6f},{b:.6f},{c:.6f},{t}" for (a, b, c), t in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def train_model(folder: Path, capsys, name: str = "model.npz") -> tuple[Path, Path]:
    """A data file and a model trained on it by the CLI (in this process)."""
    data = write_csv(folder / "data.csv")
    model = folder / name
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--epochs",
                "2",
                "--hidden",
                "4",
                "--quiet",
                "--save",
                str(model),
            ]
        )
        == 0
    )
    capsys.readouterr()
    return data, model
