"""Data-parallel training over MPI equals one process (issue 15).

Each test launches ``mpiexec -n 2`` in a subprocess with a timeout, so a hang
fails the test instead of CI; all skip where mpi4py or ``mpiexec`` is missing
(``pip install 'chainrule[mpi]'`` brings both).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (chainrule[mpi])"),
]

import chainrule  # noqa: E402
from mpi_worker import fit_kwargs, problem  # noqa: E402

WORKER = Path(__file__).resolve().parents[1] / "mpi_worker.py"
TIMEOUT = 120


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    # Two ranks on a small machine: one BLAS thread each.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        env.pop(name, None)  # the single-process runs must not think they are ranks
    return env


def _launcher_flags() -> list[str]:
    """MPICH's mpiexec (the mpich wheel) needs none; Open MPI's refuses root without one."""
    assert MPIEXEC is not None
    version = subprocess.run(
        [MPIEXEC, "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        return ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    return []


def mpiexec(n: int, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert MPIEXEC is not None
    return subprocess.run(
        [MPIEXEC, *_launcher_flags(), "-n", str(n), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def run_worker(cfg: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg), encoding="utf-8")
    return mpiexec(
        2, sys.executable, str(WORKER), str(config), str(tmp_path / "out.npz"), cwd=tmp_path
    )


def single_process(cfg: dict) -> tuple[chainrule.Network, chainrule.training.History]:
    net, X, y, Xv, yv, w = problem(cfg)
    kwargs = fit_kwargs(cfg)
    if cfg.get("weights"):
        kwargs["sample_weight"] = w
    history = net.fit(X, y, validation_data=(Xv, yv), **kwargs)
    return net, history


def test_cli_two_ranks_save_the_weights_of_one_process(tmp_path: Path) -> None:
    """The issue's acceptance test: digits, 5 epochs, batch 32, seed 0, float64."""
    common = [
        "-m",
        "chainrule",
        "train",
        "--data",
        "digits",
        "--epochs",
        "5",
        "--batch-size",
        "32",
        "--seed",
        "0",
    ]
    one = subprocess.run(
        [sys.executable, *common, "--save", "one.npz"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert one.returncode == 0, one.stderr
    two = mpiexec(
        2, sys.executable, *common, "--save", "two.npz", "--log-json", "log.jsonl", cwd=tmp_path
    )
    assert two.returncode == 0, two.stderr
    # Rank 0 alone writes the log: one line per epoch, not one per epoch and rank.
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [entry["epoch"] for entry in log] == [1, 2, 3, 4, 5]
    a, b = chainrule.load(tmp_path / "one.npz"), chainrule.load(tmp_path / "two.npz")
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert p.dtype == q.dtype == np.float64
        np.testing.assert_allclose(q, p, rtol=0, atol=1e-10)
    # Rank 0 alone speaks: the single process's lines (but the seconds), once.
    assert two.stdout.count("test accuracy:") == 1
    assert two.stdout.count("saved the model") == 1
    assert "data-parallel: 2 MPI ranks" in two.stdout

    def accuracy(out: str) -> str:
        return next(line for line in out.splitlines() if line.startswith("test accuracy"))

    assert accuracy(one.stdout).split("(")[0] == accuracy(two.stdout).split("(")[0]


@pytest.mark.parametrize("sharded", [False, True], ids=["replicated", "sharded"])
def test_dropout_momentum_and_sample_weights_match_one_process(
    tmp_path: Path, sharded: bool
) -> None:
    """Shuffling, dropout masks and sample weights are drawn as one process draws them."""
    cfg = {
        "fit": {
            "batch_size": 16,
            "learning_rate": 0.05,
            "dropout": 0.3,
            "optimizer": "momentum",
            "l2": 0.5,
            "clip_norm": 5.0,
        },
        "weights": True,
        "sharded": sharded,
        "epochs": 3,
    }
    out = run_worker(cfg, tmp_path)
    assert out.returncode == 0, out.stderr
    net, history = single_process(cfg)
    got = np.load(tmp_path / "out.npz")
    for i, p in enumerate(net.weights + net.biases):
        np.testing.assert_allclose(got[f"arr_{i}"], p, rtol=0, atol=1e-10)
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got[name], getattr(history, name), rtol=1e-12)


def test_sharded_unshuffled_float32(tmp_path: Path) -> None:
    """float32 stays float32; unshuffled batches are the data order across shards."""
    cfg = {
        "fit": {"batch_size": 20, "learning_rate": 0.1, "shuffle": False},
        "sharded": True,
        "dtype": "float32",
        "epochs": 2,
    }
    out = run_worker(cfg, tmp_path)
    assert out.returncode == 0, out.stderr
    net, _ = single_process(cfg)
    got = np.load(tmp_path / "out.npz")
    for i, p in enumerate(net.weights + net.biases):
        assert got[f"arr_{i}"].dtype == np.float32
        np.testing.assert_allclose(got[f"arr_{i}"], p, rtol=0, atol=1e-5)


@pytest.mark.parametrize("agree", [False, True], ids=["fit", "fit-in-agree"])
@pytest.mark.parametrize("fail_rank", [0, 1])
def test_a_failure_on_one_rank_ends_every_rank(tmp_path: Path, fail_rank: int, agree: bool) -> None:
    """The failing rank reports; the others stop with PeerFailed instead of waiting.

    Wrapped in ``World.agree`` (as the command line wraps ``fit``), the rank that
    only saw the failure must not take over the report from the rank that failed.
    """
    out = run_worker(
        {"fit": {"batch_size": 16}, "fail_rank": fail_rank, "epochs": 5, "agree": agree}, tmp_path
    )
    assert out.returncode != 0
    assert out.stderr.count("injected failure") == 1
    assert f"injected failure on rank {fail_rank}" in out.stderr
    assert not (tmp_path / "out.npz").exists()


def test_ranks_that_disagree_are_stopped_not_left_waiting(tmp_path: Path) -> None:
    """Rank 1 trains one epoch more: both ranks learn it at the next collective."""
    out = run_worker({"fit": {"batch_size": 16}, "epochs": 2, "skew": True}, tmp_path)
    assert out.returncode == 4
    assert out.stderr.count("the ranks are out of step") == 2, out.stderr
    assert "rank 0: the ranks are out of step (this rank is at the end of fit" in out.stderr


def test_cli_error_on_rank_zero_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Only rank 0 checks the output path; every rank stops, one line is printed."""
    out = mpiexec(
        2,
        sys.executable,
        "-m",
        "chainrule",
        "train",
        "--epochs",
        "1",
        "--save",
        str(tmp_path / "missing" / "m.npz"),
        cwd=tmp_path,
    )
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("chainrule train: error:"), out.stderr
    assert "does not exist" in lines[0]
    assert out.stdout == ""


def test_cli_error_on_every_rank_is_reported_once(tmp_path: Path) -> None:
    out = mpiexec(
        2, sys.executable, "-m", "chainrule", "train", "--data", "nosuch.csv", cwd=tmp_path
    )
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines == ["chainrule train: error: nosuch.csv: no such file"], out.stderr


# ---------------------------------------------------------------------- sharded files

SHARD_WORKER = Path(__file__).resolve().parents[1] / "mpi_shard_worker.py"


def _write_files(tmp_path: Path, bad_line: int | None = None) -> tuple[Path, Path]:
    rng = np.random.default_rng(4)
    n = 157
    X = rng.normal(size=(n, 4)) * [1, 10, 0.1, 3] + [0, 5, -2, 1]
    labels = np.array(["eel", "cat", "dog"])[(X[:, 0] > 0).astype(int) + (X[:, 3] > 2)]
    lines = ["a,b,c,d,animal"]
    for i in range(n):
        lines.append(",".join(f"{v:.17g}" for v in X[i]) + f",{labels[i]}")
        if i % 50 == 7:
            lines.append("")  # blank lines carry no data
    if bad_line is not None:
        lines[bad_line - 1] = "oops" + lines[bad_line - 1][lines[bad_line - 1].index(",") :]
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    npy_path = tmp_path / "data.npy"
    np.save(npy_path, np.column_stack([X, X @ [1.0, -0.5, 2.0, 0.25]]))
    return csv_path, npy_path


def test_sharded_files_give_one_process_statistics_and_weights(tmp_path: Path) -> None:
    from chainrule.data import Standardizer, read_data_file
    from chainrule.data.preprocessing import MinMaxScaler
    from mpi_shard_worker import FIT, network

    csv_path, npy_path = _write_files(tmp_path)
    out = mpiexec(
        2,
        sys.executable,
        str(SHARD_WORKER),
        str(csv_path),
        str(npy_path),
        str(tmp_path / "out.npz"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    got = np.load(tmp_path / "out.npz")

    data = read_data_file(csv_path, task="classification")
    assert json.loads(str(got["class_names"])) == data.class_names == ["cat", "dog", "eel"]
    scaler = Standardizer().fit(data.X)
    np.testing.assert_allclose(got["mean"], scaler.mean, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got["scale"], scaler.scale, rtol=1e-13)
    net = network(data.X.shape[1], len(data.class_names))
    net.fit(scaler.transform(data.X), data.y, **FIT)
    for i, p in enumerate(net.weights + net.biases):
        np.testing.assert_allclose(got[f"arr_{i}"], p, rtol=0, atol=1e-10)

    arrays = read_data_file(npy_path, task="regression")
    minmax = MinMaxScaler().fit(arrays.X)
    np.testing.assert_array_equal(got["low"], minmax.low)
    np.testing.assert_array_equal(got["range"], minmax.range)
    standard = Standardizer().fit(arrays.X)
    np.testing.assert_allclose(got["npy_mean"], standard.mean, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got["npy_scale"], standard.scale, rtol=1e-13)
    np.testing.assert_array_equal(got["npy_y"], arrays.y)
    # Each rank read only its block: the blocks tile the rows, none is empty.
    (csv0, npy0, k0, m0), (csv1, npy1, k1, m1) = json.loads(str(got["counts"]))
    assert csv0 == [0, k0, 157] and csv1 == [k0, 157, 157] and k0 > 0 and k1 > 0
    assert npy0 == [0, 78, 157] and npy1 == [78, 157, 157] and (m0, m1) == (78, 79)


def test_a_bad_cell_in_one_shard_is_one_error_with_the_file_line(tmp_path: Path) -> None:
    csv_path, npy_path = _write_files(tmp_path, bad_line=150)  # in rank 1's half
    out = mpiexec(
        2,
        sys.executable,
        str(SHARD_WORKER),
        str(csv_path),
        str(npy_path),
        str(tmp_path / "out.npz"),
        cwd=tmp_path,
    )
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    message = "line 150, column 1 ('a'): 'oops' is not a number"
    assert lines[0].endswith(f"data.csv: {message}"), lines
    # One process names the same line.
    from chainrule.data import DataFileError, read_data_file

    with pytest.raises(DataFileError, match=re.escape(message)):
        read_data_file(csv_path, task="classification")
