"""Hostile inputs, the last ones: every path through one opener, models that mean nothing,
exit codes and argument errors (issue 23).

Each case goes through the command line and checks the exit status, one line on
standard error without a traceback, and (where files exist) that they are intact.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.input_files import (
    InputFileError,
    json_depth,
    parse_json,
    read_input_bytes,
    read_input_text,
)
from chainrule.io import METADATA_KEY, ModelFileError, load_model
from hostile_helpers import (
    assert_fails,
    assert_intact,
    assert_one_line,
    cli,
    run_main,
    snapshot,
    train_model,
)

# ---------------------------------------------------------------------- the opener


@pytest.fixture
def specials(tmp_path):
    """Paths that are not regular files: a FIFO nobody writes to, a device, a directory."""
    fifo = tmp_path / "p.fifo"
    os.mkfifo(fifo)
    return {"fifo": fifo, "device": Path("/dev/zero"), "directory": tmp_path}


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("fifo", "not a regular file"),
        ("device", "not a regular file"),
        ("directory", "is a directory"),
    ],
)
def test_the_opener_refuses_what_is_not_a_regular_file(specials, kind, needle):
    with pytest.raises(InputFileError, match=needle):
        read_input_bytes(specials[kind], "model file")


def test_the_opener_bounds_size_and_decodes_with_a_clear_error(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"1,2,3\n" * 1000)
    with pytest.raises(InputFileError, match="more than the 100 that can be read"):
        read_input_bytes(big, max_bytes=100)
    assert read_input_bytes(big, max_bytes=6000) == big.read_bytes()
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,b\nné,2\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"not UTF-8 text \(byte 0xe9 at offset 5, line 2\)"):
        read_input_text(latin)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(InputFileError, match="the file is empty"):
        read_input_bytes(tmp_path / "empty")
    with pytest.raises(InputFileError, match="no such file"):
        read_input_bytes(tmp_path / "missing")


def test_json_depth_is_counted_without_recursion():
    assert json_depth('{"x": [[1, 2], [3]], "y": "[[[[{{"}') == 3
    assert json_depth("[" * 200_000 + "]" * 200_000) == 200_000
    with pytest.raises(InputFileError, match="nested 100000 levels deep"):
        parse_json("[" * 100_000 + "]" * 100_000, "doc.json")
    assert parse_json('{"a": [1, {"b": 2}]}', "doc.json") == {"a": [1, {"b": 2}]}
    with pytest.raises(InputFileError, match=r"not valid JSON .* line 1, column 6"):
        parse_json('{"a" 1}', "doc.json")


def _examples_cases(folder: Path) -> dict[str, tuple[Path, str]]:
    rand = folder / "random.bin"
    rand.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    deep = folder / "deep.json"
    deep.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + ', "y": [1]}')
    fifo = folder / "p.fifo"
    os.mkfifo(fifo)
    return {
        "fifo": (fifo, "not a regular file"),
        "device": (Path("/dev/zero"), "not a regular file"),
        "directory": (folder, "is a directory"),
        "random bytes": (rand, "not UTF-8"),
        "deep JSON": (deep, "nested 100001 levels deep"),
    }


@pytest.mark.parametrize("case", ["fifo", "device", "directory", "random bytes", "deep JSON"])
@pytest.mark.parametrize("command", ["explain --example", "gradcheck --data"])
def test_explain_and_gradcheck_read_examples_through_the_opener(tmp_path, command, case):
    path, needle = _examples_cases(tmp_path)[case]
    before = snapshot(tmp_path)
    proc = cli([*command.split(), str(path)], tmp_path, timeout=60, memory_mb=2048)
    assert_fails(proc, 2, str(path), needle)
    assert_intact(before, tmp_path)


@pytest.mark.parametrize("case", ["fifo", "device", "directory"])
def test_a_model_path_that_is_not_a_regular_file_is_refused(tmp_path, case):
    path, needle = _examples_cases(tmp_path)[case]
    proc = cli(["info", str(path)], tmp_path, timeout=60)
    assert_fails(proc, 2, needle)


# ---------------------------------------------------------------------- loader meaning


def _model_parts(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != METADATA_KEY}
        meta = json.loads(z[METADATA_KEY].tobytes())
    return meta, arrays


def _rewrite(path: Path, meta: dict, arrays: dict[str, np.ndarray], *, flag_bits: int = 0) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in {
            METADATA_KEY: np.frombuffer(json.dumps(meta).encode(), np.uint8),
            **arrays,
        }.items():
            buf = io.BytesIO()
            np.save(buf, arr)
            info = zipfile.ZipInfo(f"{name}.npy")
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
            info.flag_bits |= flag_bits  # after writestr: the zip directory says so


def _scale(value: float):
    def edit(meta, arrays):
        arrays["preprocessing.scale"] = arrays["preprocessing.scale"].copy()
        arrays["preprocessing.scale"][1] = value

    return edit


def _names(names):
    def edit(meta, arrays):
        meta["feature_names"] = names

    return edit


@pytest.mark.parametrize(
    "edit, needle",
    [
        (_scale(0.0), "preprocessing.scale[1] is 0.0, expected a positive, finite number"),
        (_scale(5e-324), "preprocessing.scale[1] is 5e-324"),
        (_scale(-1.0), "preprocessing.scale[1] is -1.0"),
        (_scale(float("nan")), "scale"),
        (_scale(float("inf")), "scale"),
        (_names(["a", "a", "a"]), "name 'a' more than once"),
        (_names(["a", "b"]), "2 feature_names for the 3 input columns"),
    ],
    ids=["scale 0", "subnormal", "negative", "NaN", "inf", "duplicate names", "names short"],
)
@pytest.mark.parametrize("command", ["info", "predict"])
def test_a_model_that_means_nothing_is_refused_on_loading(tmp_path, capsys, edit, needle, command):
    data, model = train_model(tmp_path, capsys)
    meta, arrays = _model_parts(model)
    edit(meta, arrays)
    _rewrite(model, meta, arrays)
    before = snapshot(tmp_path)
    args = (
        ["info", str(model)]
        if command == "info"
        else ["predict", str(model), "--data", str(data), "-o", str(tmp_path / "out.csv")]
    )
    code, _, err = run_main(capsys, args)
    assert_one_line(err, 2, code, f"{model}: corrupted model file", needle)
    assert_intact(before, tmp_path)


def test_a_nan_fill_value_is_refused(tmp_path, capsys):
    data = tmp_path / "data.csv"
    rows = ["a,b,label"] + [
        f"{i % 7},{'' if i == 3 else i % 5},{'yes' if i % 2 else 'no'}" for i in range(40)
    ]
    data.write_text("\n".join(rows) + "\n")
    model = tmp_path / "m.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--missing",
                "impute",
                "--epochs",
                "1",
                "--hidden",
                "3",
                "--quiet",
                "--save",
                str(model),
            ]
        )
        == 0
    )
    capsys.readouterr()
    load_model(model)  # as saved: fine
    meta, arrays = _model_parts(model)
    meta["preprocessing"]["encoding"]["columns"][1]["fill"] = float("nan")
    _rewrite(model, meta, arrays)
    with pytest.raises(ModelFileError, match="the fill value of column 'b' is nan"):
        load_model(model)


def test_an_encrypted_zip_member_is_a_model_file_error(tmp_path, capsys):
    _data, model = train_model(tmp_path, capsys)
    meta, arrays = _model_parts(model)
    _rewrite(model, meta, arrays, flag_bits=0x1)
    code, _, err = run_main(capsys, ["info", str(model)])
    assert_one_line(err, 2, code, "corrupted or truncated model file", "is encrypted")


# ---------------------------------------------------------------------- memory first


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["train", "--data", "data.csv", "--hidden", "100000000"],
            "GB (a 3-100000000-2 network, 48 rows x 2 outputs in float64",
        ),
        (
            ["train", "--data", "moons", "--n-samples", "2000000000"],
            "moons with 2000000000 samples",
        ),
        (["explain", "--sizes", "3,100000000,2"], "explaining a 3-100000000-2 network"),
        (["gradcheck", "--sizes", "3,100000000,2"], "a 3-100000000-2 network in float64"),
    ],
    ids=["hidden", "n-samples", "explain", "gradcheck"],
)
def test_memory_is_estimated_before_anything_is_allocated(tmp_path, capsys, args, needle):
    from hostile_helpers import write_csv

    write_csv(tmp_path / "data.csv")
    before = snapshot(tmp_path)
    # 3 GB of address space: the refusal must come before the gigabytes are asked for.
    proc = cli(args, tmp_path, memory_mb=3072, timeout=120)
    line = assert_fails(proc, 1, needle, "needs about", "GB of memory available")
    assert "Unable to allocate" not in line
    assert_intact(before, tmp_path)


# ---------------------------------------------------------------------- exit codes, arguments


def test_an_idx_file_with_no_images_is_bad_input(tmp_path):
    import struct

    (tmp_path / "images.idx").write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, 0, 28, 28))
    (tmp_path / "labels.idx").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 0))
    proc = cli(["train", "--data", "images.idx", "--labels", "labels.idx"], tmp_path, timeout=120)
    assert_fails(proc, 2, "images.idx", "holds no images")


def test_predict_with_stdout_closed_refuses_instead_of_losing_the_predictions(tmp_path, capsys):
    import subprocess
    import sys

    from hostile_helpers import env

    data, model = train_model(tmp_path, capsys)
    before = snapshot(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", "predict", str(model), "--data", str(data)],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )  # as `>&-` does
    assert_fails(proc, 2, "standard output is closed", "--output FILE")
    assert_intact(before, tmp_path)
    # Other commands go on (their output is only for reading): like `| head`.
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", "info", str(model)],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 0 and not proc.stderr


@pytest.mark.parametrize("target", ["/dev/stdout", "-"])
def test_predict_to_dev_stdout_into_a_pipe_prints_them(tmp_path, capsys, target):
    data, model = train_model(tmp_path, capsys)
    before = snapshot(tmp_path)
    proc = cli(["predict", str(model), "--data", str(data), "-o", target], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "prediction" and len(lines) == 61 and set(lines[1:]) <= {"yes", "no"}
    assert_intact(before, tmp_path)


def test_save_into_a_folder_writes_model_npz_there(tmp_path, capsys):
    from hostile_helpers import write_csv

    data = write_csv(tmp_path / "data.csv")
    (tmp_path / "out").mkdir()
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--epochs",
                "1",
                "--quiet",
                "--save",
                str(tmp_path / "out") + "/",
            ]
        )
        == 0
    )
    assert load_model(tmp_path / "out" / "model.npz").n_features == 3
    (tmp_path / "out" / "model.npz").unlink()
    before = snapshot(tmp_path)
    code, _, err = run_main(
        capsys,
        ["train", "--data", str(data), "--epochs", "1", "--save", str(tmp_path / "newdir") + "/"],
    )
    assert_one_line(err, 2, code, "--save", "newdir/: the folder", "does not exist")
    assert_intact(before, tmp_path)
    assert not (tmp_path / "newdir").exists()


@pytest.mark.parametrize("option", ["--log-json", "--report"])
def test_other_outputs_ending_in_a_slash_are_refused(tmp_path, capsys, option):
    from hostile_helpers import write_csv

    data = write_csv(tmp_path / "data.csv")
    before = snapshot(tmp_path)
    code, _, err = run_main(
        capsys,
        ["train", "--data", str(data), "--epochs", "1", option, str(tmp_path / "logs") + "/"],
    )
    assert_one_line(err, 2, code, option, "names a folder")
    assert_intact(before, tmp_path)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--seed=-1"], "argument --seed: expected a non-negative integer, got -1"),
        (["explain", "--seed=-1"], "argument --seed: expected a non-negative integer, got -1"),
        (["train", "--epochs", "abc"], "argument --epochs: expected a positive integer"),
        (["train", "--optimizer", "sgdd"], "argument --optimizer: invalid choice: 'sgdd'"),
        (["predict"], "the following arguments are required"),
        (["train", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_an_argument_error_is_one_line_pointing_at_help(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    line = assert_one_line(err, 2, exc.value.code, needle)
    assert line.startswith(f"chainrule {argv[0]}: error: ")
    assert line.endswith(f"see `chainrule {argv[0]} --help`")


def test_a_solver_warning_is_one_chainrule_line(tmp_path, capsys):
    from hostile_helpers import write_csv

    data = write_csv(tmp_path / "data.csv")
    code, _, err = run_main(
        capsys, ["train", "--data", str(data), "--optimizer", "lbfgs", "--epochs", "2", "--quiet"]
    )
    assert code == 0
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("chainrule train: warning: L-BFGS stopped after 2 iteration(s)")


# ---------------------------------------------------------------------- --data paths


@pytest.mark.parametrize("case", ["fifo", "directory"])
def test_a_data_path_that_is_not_a_regular_file_is_refused_by_every_command(tmp_path, capsys, case):
    """``--data`` goes through the opener (chainrule.input_files) in every command: the
    table reader's pyarrow path too, so a FIFO nobody writes to cannot hang it."""
    _, model = train_model(tmp_path, capsys)
    path = {"fifo": tmp_path / "d.fifo", "directory": tmp_path / "dir"}[case]
    needle = {"fifo": "not a regular file", "directory": "is a directory"}[case]
    if case == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    commands = {
        "train": ["train", "--data", str(path), "--epochs", "1"],
        "predict": ["predict", str(model), "--data", str(path)],
        "evaluate": ["evaluate", str(model), "--data", str(path)],
        "gradcheck": ["gradcheck", "--data", str(path)],
        "explain": ["explain", "--model", str(model), "--data", str(path), "--row", "1"],
    }
    for name, args in commands.items():
        proc = cli(args, tmp_path, timeout=60)
        text = assert_fails(proc, 2, str(path), needle)
        assert name and "expected a" in text


# ---------------------------------------------------------------------- the table pipeline


def _mixed_model(folder: Path, capsys) -> tuple[Path, Path]:
    """A model trained by the CLI on an ID column, a number with a missing cell, a text
    column, a date column and numbers with thousands separators."""
    lines = ["id,size,colour,when,price,label"]
    for i in range(40):
        size = "" if i % 11 == 5 else f"{5 + (i * 7) % 13 / 3:.2f}"
        lines.append(
            f"ID{i:03d},{size},{['red', 'green', 'blue'][i % 3]},"
            f'2024-{1 + i % 12:02d}-{1 + i % 28:02d},"{1000 + 37 * i:,}",'
            f"{'yes' if i % 3 == 0 or i % 5 == 0 else 'no'}"
        )
    data = folder / "mixed.csv"
    data.write_text("\n".join(lines) + "\n")
    model = folder / "mixed.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "label",
                "--id-column",
                "id",
                "--missing",
                "impute",
                "--epochs",
                "1",
                "--hidden",
                "3",
                "--quiet",
                "--save",
                str(model),
            ]
        )
        == 0
    )
    capsys.readouterr()
    return data, model


def _column(meta, name):
    return next(c for c in meta["preprocessing"]["encoding"]["columns"] if c["name"] == name)


def _role(meta, name):
    return next(r for r in meta["preprocessing"]["encoding"]["roles"] if r["name"] == name)


def _set(where, key, value):
    def edit(meta, arrays):
        where(meta)[key] = value

    return edit


def _centre_nan(meta, arrays):
    arrays["preprocessing.mean"] = arrays["preprocessing.mean"].copy()
    arrays["preprocessing.mean"][4] = np.nan


def _role_twice(meta, arrays):
    roles = meta["preprocessing"]["encoding"]["roles"]
    roles.append(dict(roles[1]))


@pytest.mark.parametrize(
    "edit, needle",
    [
        (_centre_nan, "'mean' must be a 1-D array of finite floats"),
        (
            _set(lambda m: _column(m, "colour"), "fill", "purple"),
            "the fill value of column 'colour' is 'purple', which is not one of its categories",
        ),
        (
            _set(lambda m: _column(m, "colour"), "categories", ["blue", "red", "red"]),
            "column 'colour' lists the category 'red' more than once",
        ),
        (
            _set(
                lambda m: _column(m, "when"),
                "derived",
                ["year", "month_sin", "month_cos", "yday_sin", "yday_cos", "wday_cos", "wday_sin"],
            ),
            "column 'when' derives the date features year, month_sin, month_cos, yday_sin, "
            "yday_cos, wday_cos, wday_sin, expected",
        ),
        (
            _set(lambda m: _column(m, "when"), "fill", "midsummer"),
            "the fill value of date column 'when' is 'midsummer', expected an ISO 8601 date",
        ),
        (
            _set(lambda m: _column(m, "price"), "parse", "decimal"),
            "column 'price' is a number column of the encoding but has the role 'numeric' "
            "(parse 'thousands')",
        ),
        (
            _set(lambda m: _role(m, "when"), "role", "excluded"),
            "the network reads column 'when', which has the role 'excluded'",
        ),
        (
            _set(lambda m: _role(m, "colour"), "role", "date"),
            "column 'colour' is a category column of the encoding but has the role 'date'",
        ),
        (_role_twice, "the column roles names 'size' more than once"),
        (
            _set(lambda m: m["preprocessing"]["encoding"], "id_column", "size"),
            "the id column 'size' is not an excluded column",
        ),
    ],
    ids=[
        "centre NaN",
        "fill category",
        "categories twice",
        "derived",
        "date fill",
        "parse",
        "read but excluded",
        "role kind",
        "role twice",
        "id column",
    ],
)
def test_a_pipeline_that_contradicts_itself_is_refused_on_loading(tmp_path, capsys, edit, needle):
    data, model = _mixed_model(tmp_path, capsys)
    load_model(model)  # as saved: fine
    meta, arrays = _model_parts(model)
    edit(meta, arrays)
    _rewrite(model, meta, arrays)
    with pytest.raises(ModelFileError, match="corrupted model file") as info:
        load_model(model)
    assert needle in str(info.value)
    code, _, err = run_main(capsys, ["predict", str(model), "--data", str(data)])
    assert_one_line(err, 2, code, f"{model}: corrupted model file", needle)
