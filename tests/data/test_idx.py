"""The IDX reader on small files the tests write themselves."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from chainrule.data.idx import IDXError, read_idx, write_idx


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_uint8_images(tmp_path, name):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / name, arr)
    if name.endswith(".gz"):
        assert (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"
    out = read_idx(tmp_path / name)
    assert out.shape == (2, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, arr)


def test_header_matches_the_mnist_layout(tmp_path):
    labels = np.array([5, 0, 4], dtype=np.uint8)
    write_idx(tmp_path / "labels", labels)
    raw = (tmp_path / "labels").read_bytes()
    assert raw[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 3])
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), labels)


def test_round_trip_big_endian_floats(tmp_path):
    arr = np.linspace(-1, 1, 6).reshape(2, 3)
    write_idx(tmp_path / "f.idx", arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), arr)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x01\x02\x08\x01", "bad magic number"),
        (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]), "unknown IDX data type code 0x42"),
        (bytes([0, 0, 8, 2, 0, 0]), "truncated header"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), r"data size 2 bytes does not match"),
        (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02")[:-6], "corrupt gzip"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, content, match):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(IDXError, match=match) as exc:
        read_idx(path)
    assert str(path) in str(exc.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(IDXError, match="no such file"):
        read_idx(tmp_path / "nope")
    with pytest.raises(IDXError, match="is a directory"):
        read_idx(tmp_path)


def test_load_mnist_from_small_files(tmp_path):
    from chainrule.data.mnist import load_mnist

    rng = np.random.default_rng(0)
    for stem, n in (("train", 30), ("t10k", 10)):
        write_idx(
            tmp_path / f"{stem}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    m = load_mnist(tmp_path, n_validation=5, dtype=np.float32)
    assert m.X_train.shape == (25, 784) and m.X_val.shape == (5, 784)
    assert m.X_test.shape == (10, 784) and m.X_train.dtype == np.float32
    assert 0.0 <= m.X_train.min() and m.X_train.max() <= 1.0
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(IDXError, match=r"missing t10k-labels-idx1-ubyte\.gz"):
        load_mnist(tmp_path)
