"""The core never imports the optional distributed extras (mpi4py, dask)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.slow
def test_import_fit_and_cli_train_do_not_import_mpi4py_or_dask(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import chainrule
        import chainrule.sklearn
        from chainrule.cli import main
        net = chainrule.Network([3, 4, 2], seed=0)
        net.fit(np.zeros((8, 3)), np.zeros(8, dtype=int), epochs=1, batch_size=4)
        assert main(["train", "--epochs", "1", "--quiet", "--save", "m.npz"]) == 0
        loaded = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("mpi4py", "dask", "distributed"))
        print(loaded)
    """)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    }
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_mpiexec_without_mpi4py_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Started as one of several MPI processes but unable to talk to the others: refuse,
    rather than let every process train alone and write the same files."""
    code = textwrap.dedent("""
        import sys
        sys.modules["mpi4py"] = None  # as if not installed
        from chainrule.cli import main
        sys.exit(main(["train", "--epochs", "1", "--save", "m.npz"]))
    """)
    env = dict(os.environ, PMI_SIZE="2", PMI_RANK="0")
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "chainrule train: error: started by mpiexec as 2 processes, "
        "but data-parallel training needs mpi4py: "
        "pip install 'chainrule[mpi]'"
    )
    assert not (tmp_path / "m.npz").exists()
