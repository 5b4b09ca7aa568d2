"""The model file: bit-exact round trips, atomic writes, and loading that never unpickles."""

from __future__ import annotations

import io
import json
import os
import signal
import tempfile
import threading
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule
from chainrule import CustomActivation, Network
from chainrule.data import MinMaxScaler, Standardizer
from chainrule.data.preprocessing import Preprocessing
from chainrule.io import (
    FORMAT_VERSION,
    METADATA_KEY,
    ModelFileError,
    OutputPathError,
    atomic_write,
    load_model,
    save_model,
)


def trained(dtype=np.float64, **kwargs):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    net = Network(
        [4, 6, 5, 3],
        activation=["tanh", "leaky_relu"],
        output_activation="softmax",
        cost="log_likelihood",
        seed=1,
        dtype=dtype,
        **kwargs,
    )
    net.fit(X, y, epochs=3, batch_size=8, validation_data=(X[:10], y[:10]), optimizer="adam")
    return net, X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_exact(tmp_path, dtype):
    net, X, _ = trained(dtype)
    net.activations[1].slope = 0.2  # a parameter of an activation travels too
    path = net.save(tmp_path / "m.npz", class_names=["a", "b", "c"])
    back = chainrule.load(path)
    assert back.sizes == net.sizes and back.dtype == np.dtype(dtype)
    assert back.config() == net.config()
    assert back.activations[1].slope == 0.2
    for a, b in zip(net.weights + net.biases, back.weights + back.biases, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(back.feedforward(X), net.feedforward(X))
    assert back.class_names == ["a", "b", "c"]
    assert back.history.to_dict() == net.history.to_dict()
    assert back.metadata["training"]["optimizer"]["name"] == "adam"
    assert back.metadata["format_version"] == FORMAT_VERSION
    assert back.metadata["chainrule_version"] == chainrule.__version__


def test_saved_again_after_loading_is_the_same(tmp_path):
    net, X, _ = trained()
    net.save(
        tmp_path / "a.npz",
        preprocessing=Standardizer().fit(X),
        feature_names=list("pqrs"),
        target_name="t",
    )
    first = chainrule.load(tmp_path / "a.npz")
    first.save(tmp_path / "b.npz")
    second = load_model(tmp_path / "b.npz")
    assert second.feature_names == list("pqrs") and second.target_name == "t"
    np.testing.assert_array_equal(second.preprocessing.features.mean, X.mean(axis=0))


def test_model_bundle_applies_preprocessing_and_class_names(tmp_path):
    net, X, _ = trained()
    scaler = MinMaxScaler().fit(X)
    save_model(tmp_path / "m.npz", net, preprocessing=scaler, class_names=["lo", "mid", "hi"])
    model = load_model(tmp_path / "m.npz")
    expected = np.array(["lo", "mid", "hi"])[net.predict(scaler.transform(X))]
    np.testing.assert_array_equal(model.predict(X), expected)
    np.testing.assert_array_equal(model.predict_proba(X), net.feedforward(scaler.transform(X)))
    assert model.task == "classification" and model.n_features == 4
    assert model.network.preprocessing is model.preprocessing


def test_regression_target_scaling_is_undone(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = 100 + 10 * X[:, :1]
    target, features = Standardizer().fit(y), Standardizer().fit(X)
    net = Network([2, 1], activation="identity", seed=0)
    net.fit(features.transform(X), target.transform(y), epochs=50, batch_size=5, learning_rate=0.05)
    net.save(tmp_path / "r.npz", preprocessing=Preprocessing(features, target))
    model = load_model(tmp_path / "r.npz")
    assert model.task == "regression" and model.class_names is None
    pred = model.predict(X)
    expected = net.feedforward(features.transform(X)) * target.scale + target.mean
    np.testing.assert_array_equal(pred, expected)
    np.testing.assert_allclose(pred, y, atol=0.5)  # a linear target, learnt


def test_custom_functions_cannot_be_saved(tmp_path):
    custom = CustomActivation(np.tanh, lambda z: 1 - np.tanh(z) ** 2, name="mytanh")
    net = Network([2, 3, 1], activation=custom, output_activation="sigmoid", seed=0)
    with pytest.raises(ValueError, match="cannot save the custom activation 'mytanh'"):
        net.save(tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_custom_cost_cannot_be_saved(tmp_path):
    from chainrule.functions import Quadratic

    class Halved(Quadratic):
        name = "halved"

    net = Network([2, 1], activation="identity", cost=Halved(), seed=0)
    with pytest.raises(ValueError, match="cannot save the custom cost 'halved'"):
        net.save(tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_mismatched_class_names_and_preprocessing_are_refused(tmp_path):
    net, X, _ = trained()
    with pytest.raises(ValueError, match="class_names has 2 names"):
        net.save(tmp_path / "m.npz", class_names=["a", "b"])
    with pytest.raises(ValueError, match="fitted on 3 features"):
        net.save(tmp_path / "m.npz", preprocessing=Standardizer().fit(X[:, :3]))
    with pytest.raises(ValueError, match="not fitted"):
        net.save(tmp_path / "m.npz", preprocessing=Standardizer())


def test_output_path_problems(tmp_path):
    net, _, _ = trained()
    with pytest.raises(OutputPathError, match="is a directory"):
        net.save(tmp_path)
    with pytest.raises(OutputPathError, match="does not exist"):
        net.save(tmp_path / "no" / "m.npz")


def test_interrupted_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"precious")

    def failing(f):
        f.write(b"half a model")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, failing)
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp file left


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_just_after_the_temporary_file_is_made_leaves_none_behind(tmp_path, monkeypatch):
    # A Ctrl-C arriving between mkstemp and the file's registration once left a
    # temporary file that nothing removed (seen under two SIGINTs 13 ms apart).
    from chainrule import atomic

    real = tempfile.mkstemp

    def mkstemp_then_ctrl_c(*args, **kwargs):
        made = real(*args, **kwargs)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return made

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_then_ctrl_c)
    target = tmp_path / "m.npz"
    target.write_bytes(b"precious")
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, lambda f: f.write(b"new"))
        time.sleep(0.5)  # (the held-back signal may be delivered only here)
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert all(str(p) in atomic._UNFINISHED for p in left)  # removed at exit, at the latest
    atomic._remove_unfinished()
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_failed_save_keeps_the_previous_model(tmp_path, monkeypatch):
    net, _, _ = trained()
    path = net.save(tmp_path / "m.npz")
    before = path.read_bytes()

    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("chainrule.io.np.savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        net.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_save_replaces_an_existing_model_completely(tmp_path):
    net, _, _ = trained()
    path = tmp_path / "m.npz"
    path.write_bytes(b"old" * 10_000)
    net.save(path)
    assert chainrule.load(path).sizes == net.sizes
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def _rewrite(path, meta=None, **arrays):
    """A copy of a model file with metadata or arrays replaced."""
    with np.load(path, allow_pickle=False) as z:
        content = {k: z[k] for k in z.files}
    if meta is not None:
        content[METADATA_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    content.update(arrays)
    buf = io.BytesIO()
    np.savez(buf, **content)
    path.write_bytes(buf.getvalue())


def test_newer_format_version_is_refused_clearly(tmp_path):
    net, _, _ = trained()
    path = net.save(tmp_path / "m.npz")
    meta = chainrule.load(path).metadata
    _rewrite(path, {**meta, "format_version": FORMAT_VERSION + 1, "chainrule_version": "9.0"})
    with pytest.raises(ModelFileError, match=r"format version 2 \(by chainrule 9.0\).*upgrade"):
        load_model(path)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path, cut):
    net, _, _ = trained()
    path = net.save(tmp_path / "m.npz")
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(ModelFileError, match="corrupted or truncated"):
        load_model(path)


def test_missing_empty_directory_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "none.npz")
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model(tmp_path)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ModelFileError, match="is empty"):
        load_model(tmp_path / "empty.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match="not a chainrule model file"):
        load_model(tmp_path / "text.npz")
    np.savez(tmp_path / "plain.npz", W2=np.ones((2, 2)))
    with pytest.raises(ModelFileError, match="no __chainrule__ metadata"):
        load_model(tmp_path / "plain.npz")


def test_wrong_arrays_are_reported(tmp_path):
    net, _, _ = trained(np.float32)
    path = net.save(tmp_path / "m.npz")
    _rewrite(path, W2=np.ones((6, 4)))  # float64 where float32 belongs
    with pytest.raises(ModelFileError, match=r"W2 has shape \(6, 4\) and dtype float64"):
        load_model(path)


class _Exploit:
    def __reduce__(self):
        return (os.mkdir, ("PWNED_DIR_CREATED",))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net, _, _ = trained()
    path = net.save(tmp_path / "m.npz")
    # Replace a weight by a pickled object array whose unpickling would run code.
    with np.load(path, allow_pickle=False) as z:
        content = {k: z[k] for k in z.files}
    content["W2"] = np.array([_Exploit()], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **content)
    path.write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError, match="pickled object array, which chainrule never"):
        load_model(path)
    assert not (tmp_path / "PWNED_DIR_CREATED").exists()
    # The same for a pickled metadata entry.
    content["W2"] = np.ones((6, 4))
    content[METADATA_KEY] = np.array([_Exploit()], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **content)
    path.write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError):
        load_model(path)
    assert not (tmp_path / "PWNED_DIR_CREATED").exists()


# ---------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    net, X, _ = trained()
    path = tmp_path_factory.mktemp("m") / "m.npz"
    net.save(path, preprocessing=Standardizer().fit(X))
    return path.read_bytes()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_damaged_files_raise_only_model_file_error(tmp_path, model_bytes, data):
    raw = bytearray(model_bytes)
    kind = data.draw(st.sampled_from(["flip", "cut", "random", "splice"]))
    if kind == "flip":
        for i in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8)):
            raw[i] ^= data.draw(st.integers(1, 255))
    elif kind == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "random":
        raw = bytearray(b"PK\x03\x04" * data.draw(st.booleans()) + data.draw(st.binary()))
    else:
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=50))
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(raw))
    try:
        model = load_model(path)
    except ModelFileError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:  # a harmless change (e.g. in the zip comment): still a working model
        assert model.network.sizes == (4, 6, 5, 3)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["tanh", "softmax", "float32", "standard"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "architecture",
        "sizes",
        "activations",
        "input_activation",
        "cost",
        "dtype",
        "task",
        "class_names",
        "preprocessing",
        "history",
        "format_version",
        "kind",
        "name",
        "slope",
        "target",
        "init",
    ]
)


@pytest.mark.slow
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(st.tuples(st.lists(KEYS, min_size=1, max_size=3), JSON), max_size=4))
def test_fuzz_metadata_raises_only_model_file_error(tmp_path, model_bytes, edits):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(model_bytes)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z[METADATA_KEY].tobytes())
    for keys, value in edits:
        node = meta
        for key in keys[:-1]:
            if not isinstance(node, dict):
                break
            node = node.setdefault(key, {})
        if isinstance(node, dict):
            node[keys[-1]] = value
    _rewrite(path, meta)
    try:
        load_model(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)


def test_metadata_is_standard_json(tmp_path):
    net, _, _ = trained()
    net.history.train_loss[0] = float("inf")
    path = net.save(tmp_path / "m.npz")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert f"{METADATA_KEY}.npy" in names and "W2.npy" in names and "b4.npy" in names
    with np.load(path, allow_pickle=False) as z:
        text = z[METADATA_KEY].tobytes().decode()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
