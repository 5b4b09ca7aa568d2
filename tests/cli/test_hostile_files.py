"""Hostile files: model files that lie about their size, and data files that are not files.

Loading is bounded before allocating (peak memory measured in a subprocess with
``wait4``'s ``ru_maxrss``, never by timing); reading refuses what is not a regular
file; numeric trouble is a one-line error naming the column.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format
import pytest

from chainrule import Network
from chainrule import load as chainrule_load
from chainrule.io import METADATA_KEY
from hostile_helpers import (
    assert_fails,
    assert_intact,
    assert_one_line,
    cli,
    env,
    run_main,
    snapshot,
    write_csv,
)

MB = 1 << 20


_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def cli_peak(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``chainrule ARGS``; return its result and its peak resident memory in MB.

    Linux carries a process's peak RSS across fork and exec, so the command is
    started by a small intermediate Python, not by this (large) test process.
    """
    peak_file = cwd.parent / f"{cwd.name}.peak"
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(peak_file), sys.executable, "-m", "chainrule", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    peak = int(peak_file.read_text()) / 1024  # kB on Linux
    peak_file.unlink()
    return proc, peak


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _small_model_meta(tmp_path: Path) -> dict:
    net = Network([2, 3], output_activation="softmax", cost="log_likelihood", seed=0)
    with np.load(net.save(tmp_path / "small.npz")) as z:
        meta = json.loads(z[METADATA_KEY].tobytes())
    (tmp_path / "small.npz").unlink()
    return meta


def write_archive(
    path: Path,
    meta: dict,
    arrays: dict[str, np.ndarray],
    bombs: dict[str, tuple[tuple[int, ...], int]] | None = None,
) -> Path:
    """A model-like archive, deflated; ``bombs`` maps a member to (shape, MB of zeros),
    which deflate about 200 times."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(f"{METADATA_KEY}.npy", _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8)))
        for name, arr in arrays.items():
            zf.writestr(f"{name}.npy", _npy(arr))
        for name, (shape, megabytes) in (bombs or {}).items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                f.write(_npy_header(shape, "<f8"))
                chunk = bytes(16 * MB)
                for _ in range(megabytes // 16):
                    f.write(chunk)
    return path


# ---------------------------------------------------------------------- bounded loading


@pytest.mark.slow
def test_a_zip_bomb_model_is_refused_without_inflating_it(tmp_path):
    # A consistent model: 10,000 inputs, 5,000 classes, W2 400 MB of zeros in ~2 MB.
    n_in, n_out = 10_000, 5_000
    meta = _small_model_meta(tmp_path)
    meta["architecture"]["sizes"] = [n_in, n_out]
    meta["class_names"] = [str(i) for i in range(n_out)]
    path = write_archive(
        tmp_path / "bomb.npz", meta, {"b2": np.zeros(n_out)}, {"W2": ((n_out, n_in), 400)}
    )
    assert path.stat().st_size < 4 * MB
    before = snapshot(tmp_path)
    proc, peak = cli_peak(["info", "bomb.npz"], tmp_path)
    assert_fails(proc, 2, "bomb.npz", "corrupted", "zip bomb")
    assert peak < 200, f"peak memory {peak:.0f} MB"
    assert_intact(before, tmp_path)


@pytest.mark.slow
def test_unknown_members_are_refused_without_inflating_them(tmp_path):
    meta = _small_model_meta(tmp_path)
    net = Network([2, 3], output_activation="softmax", cost="log_likelihood", seed=0)
    # 100 MB that deflate about 30 times: no zip bomb, just a member chainrule never wrote.
    payload = np.zeros(100 * MB, np.uint8)
    payload[::64] = np.random.default_rng(0).integers(0, 256, len(payload[::64]))
    write_archive(
        tmp_path / "extra.npz",
        meta,
        {"W2": net.weights[0], "b2": net.biases[0], "payload": payload},
    )
    assert (tmp_path / "extra.npz").stat().st_size < 10 * MB
    proc, peak = cli_peak(["info", "extra.npz"], tmp_path)
    assert_fails(proc, 2, "unexpected member 'payload'")
    assert peak < 150, f"peak memory {peak:.0f} MB"


def test_shapes_are_checked_against_the_metadata_before_reading(tmp_path, capsys):
    meta = _small_model_meta(tmp_path)
    meta["architecture"]["sizes"] = [100_000, 100_000]  # 80 GB if ever allocated
    meta["class_names"] = [str(i) for i in range(100_000)]
    path = write_archive(tmp_path / "lies.npz", meta, {"W2": np.zeros((3, 2)), "b2": np.zeros(3)})
    code, _, err = run_main(capsys, ["info", str(path)])
    assert_one_line(
        err, 2, code, "corrupted model file", "W2 has shape (3, 2)", "expected (100000, 100000)"
    )
    path = write_archive(tmp_path / "missing.npz", meta, {})
    code, _, err = run_main(capsys, ["info", str(path)])
    assert_one_line(err, 2, code, "corrupted model file", "'W2' is missing")


def _saved_model(tmp_path: Path) -> tuple[Path, dict, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    net = Network([2, 3, 2], output_activation="softmax", cost="log_likelihood", seed=0)
    net.fit(X, (X[:, 0] > 0).astype(int), epochs=2)
    path = net.save(tmp_path / "m.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != METADATA_KEY}
        meta = json.loads(z[METADATA_KEY].tobytes())
    return path, meta, arrays


@pytest.mark.parametrize(
    "edit, needle",
    [
        ({"history": {"epoch": [1, 2], "train_loss": ["low", "lower"]}}, "history 'train_loss'"),
        ({"history": {"epoch": [1, 2], "train_loss": [0.5]}}, "history 'train_loss'"),
        ({"history": {"epoch": 7}}, "history 'epoch'"),
        ({"history": {"epoch": [1, 2], "grad_norms": [[1.0], [2.0]]}}, "history 'grad_norms'"),
        ({"data": ["iris"]}, "metadata 'data' must be a JSON object"),
        ({"data": {"name": "iris", "test_fraction": "0.2"}}, "data.test_fraction"),
        ({"training": "fast"}, "metadata 'training' must be a JSON object"),
        ({"training": {"seed": [0]}}, "training.seed"),
    ],
)
@pytest.mark.parametrize("command", ["info", "report"])
def test_malformed_metadata_is_a_corrupted_model_line(tmp_path, capsys, edit, needle, command):
    if command == "report":
        pytest.importorskip("matplotlib")
    path, meta, arrays = _saved_model(tmp_path)
    write_archive(path, {**meta, **edit}, arrays)
    args = [command, str(path)] + (["-o", str(tmp_path / "r.html")] if command == "report" else [])
    code, _, err = run_main(capsys, args)
    assert_one_line(err, 2, code, "corrupted model file", needle)


# ---------------------------------------------------------------------- reading


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "predict"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_fifos_and_devices_are_refused_without_reading(tmp_path, command, kind):
    data = write_csv(tmp_path / "data.csv")
    if kind == "fifo":
        special = tmp_path / "pipe"
        os.mkfifo(special)  # nobody writes to it: reading would block for ever
    else:
        special = Path("/dev/zero")  # reading would never end
    if command == "train":
        args = ["train", "--data", str(special)]
    else:
        args = ["predict", str(special), "--data", str(data)]
    proc = cli(args, tmp_path, timeout=60)
    assert_fails(proc, 2, str(special), "not a regular file")


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint8, np.int32, np.int64, np.uint64])
def test_boolean_and_integer_labels_in_npz_work(tmp_path, capsys, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(dtype)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    code, out, err = run_main(
        capsys,
        [
            "train",
            "--data",
            str(tmp_path / "d.npz"),
            "--epochs",
            "20",
            "--quiet",
            "--save",
            str(tmp_path / "m.npz"),
        ],
    )
    assert code == 0, err
    accuracy = float(out.split("test accuracy: ")[1].split("%")[0])
    assert accuracy >= 80
    code, out, err = run_main(
        capsys, ["predict", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.npz")]
    )
    assert code == 0, err
    assert set(out.split()[1:]) <= {"0", "1"}


@pytest.mark.parametrize("where", ["feature", "target"])
def test_overflow_in_standardisation_names_the_column(tmp_path, capsys, where):
    rng = np.random.default_rng(0)
    lines = ["a,b,c,label"]
    for _ in range(60):
        a, b, c = rng.normal(size=3)
        big = 1e200 * rng.normal()
        label = f"{big:.6g}" if where == "target" else str(int(a > 0))
        lines.append(f"{a:.6f},{big if where == 'feature' else b:.6g},{c:.6f},{label}")
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    task = ["--task", "regression"] if where == "target" else []
    code, out, err = run_main(
        capsys, ["train", "--data", str(tmp_path / "d.csv"), *task, "--epochs", "2"]
    )
    needle = "column 2 ('b')" if where == "feature" else "target column 1"
    assert_one_line(err, 2, code, needle, "too large to scale")
    assert "accuracy" not in out


@pytest.mark.slow
def test_ten_thousand_classes_train_from_labels_in_little_memory(tmp_path):
    rng = np.random.default_rng(0)
    n = 30_000
    np.savez(
        tmp_path / "k.npz", X=rng.normal(size=(n, 8)).astype(np.float32), y=np.arange(n) % 10_000
    )
    # Dense targets and epoch outputs would take ~8 GB; kept as labels (training.targets)
    # the run fits in a process allowed 3 GB of address space (~300 MB resident here).
    proc = cli(
        [
            "train",
            "--data",
            "k.npz",
            "--task",
            "classification",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--save",
            "m.npz",
        ],
        tmp_path,
        memory_mb=3072,
    )
    assert proc.returncode == 0, proc.stderr
    assert "10000 outputs" in proc.stdout and "test accuracy" in proc.stdout
    assert chainrule_load(tmp_path / "m.npz").sizes[-1] == 10_000
    before = snapshot(tmp_path)
    # Full-batch L-BFGS needs the dense targets: refused before allocating, with the estimate.
    proc = cli(
        [
            "train",
            "--data",
            "k.npz",
            "--task",
            "classification",
            "--epochs",
            "1",
            "--optimizer",
            "lbfgs",
            "--save",
            "m.npz",
        ],
        tmp_path,
        memory_mb=3072,
    )
    assert_fails(proc, 1, "training needs about", "GB", "10000 outputs", "available")
    assert_intact(before, tmp_path)


@pytest.mark.slow
def test_a_gzip_bomb_idx_file_is_refused_without_inflating_it(tmp_path):
    import gzip
    import struct

    from chainrule.data.idx import write_idx

    n = 20_000  # 20,000 images of 100 x 100 zero pixels: 200 MB in about 1 MB
    with gzip.open(tmp_path / "images.gz", "wb", compresslevel=1) as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">3I", n, 100, 100))
        chunk = bytes(16 * MB)
        for _ in range(n * 100 * 100 // len(chunk)):
            f.write(chunk)
        f.write(bytes(n * 100 * 100 % len(chunk)))
    write_idx(tmp_path / "labels.idx", np.zeros(n, np.uint8))
    assert (tmp_path / "images.gz").stat().st_size < 4 * MB
    proc, peak = cli_peak(["train", "--data", "images.gz", "--labels", "labels.idx"], tmp_path)
    assert_fails(proc, 2, "images.gz", "gzip bomb")
    assert peak < 150, f"peak memory {peak:.0f} MB"
