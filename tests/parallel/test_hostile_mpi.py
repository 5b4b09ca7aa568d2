"""MPI ranks that disagree on options or data: every rank ends, one line, exit 2 (issue 23).

Each rank is started with its own command line (``mpiexec -n 1 A : -n 1 B``), as a
mistyped job script would; without the check they exchanged gradients of different
shapes (an MPI abort, 13 lines) or a different number of steps (exit 3).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_helpers import write_csv

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (chainrule[mpi])")
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        env.pop(name, None)
    return env


def _ranks(cwd: Path, *commands: list[str]) -> subprocess.CompletedProcess[str]:
    """One rank per command, each ``chainrule ARGS`` run in its own folder."""
    assert MPIEXEC is not None
    version = subprocess.run(
        [MPIEXEC, "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    flags = (
        ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
        if "Open MPI" in version or "OpenRTE" in version
        else []
    )
    argv: list[str] = [MPIEXEC, *flags]
    for i, (folder, *args) in enumerate(commands):
        script = f"cd {folder!s} && exec {sys.executable} -m chainrule " + " ".join(args)
        argv += ([":"] if i else []) + ["-n", "1", "sh", "-c", script]
    return subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("option, one, other", [("--hidden", "10", "20"), ("--epochs", "3", "2")])
def test_ranks_started_with_different_options_end_with_one_line(tmp_path, option, one, other):
    write_csv(tmp_path / "data.csv")
    base = ["train", "--data", "data.csv", "--epochs", "2", "--save", "m.npz"]
    out = _ranks(
        tmp_path, [str(tmp_path), *base, option, one], [str(tmp_path), *base, option, other]
    )
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(
        f"chainrule train: error: the MPI ranks were started with different options: {option} is"
    )
    assert not (tmp_path / "m.npz").exists()


def test_ranks_that_read_different_data_end_with_one_line(tmp_path):
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / name).mkdir()
        write_csv(tmp_path / name / "data.csv", seed=seed)
    args = ["train", "--data", "data.csv", "--epochs", "2"]
    out = _ranks(tmp_path, [str(tmp_path / "a"), *args], [str(tmp_path / "b"), *args])
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "the MPI ranks read different data" in lines[0], out.stderr
    assert "give every rank the same --data" in lines[0]
