"""Bundled and generated data sets, the three-way split and the scalers."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import (
    DATASETS,
    MinMaxScaler,
    NoScaling,
    Standardizer,
    load_dataset,
    make_scaler,
    one_hot,
    split_indices,
)
from chainrule.data.preprocessing import Preprocessing

SHAPES = {
    "digits": (1797, 64, "classification", 10),
    "iris": (150, 4, "classification", 3),
    "wine": (178, 13, "classification", 3),
    "breast_cancer": (569, 30, "classification", 2),
    "diabetes": (442, 10, "regression", 0),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_bundled_sets_have_their_shapes(name):
    n, d, task, k = SHAPES[name]
    data = load_dataset(name)
    assert data.X.shape == (n, d) and data.X.dtype == np.float64
    assert data.task == task and data.n_classes == k and len(data.feature_names) == d
    if task == "classification":
        assert data.y.dtype == np.int64 and set(np.unique(data.y)) == set(range(k))
    else:
        assert data.y.dtype == np.float64


@pytest.mark.parametrize("name", ["xor", "spirals", "moons", "circles"])
def test_generated_sets_are_seeded_and_sized(name):
    a = load_dataset(name, n_samples=101, seed=3)
    b = load_dataset(name, n_samples=101, seed=3)
    c = load_dataset(name, n_samples=101, seed=4)
    assert a.X.shape == (101, 2) and a.y.shape == (101,)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert set(np.unique(a.y)) == {0, 1} and abs(a.y.sum() - 50) <= 1  # balanced
    clean = load_dataset(name, n_samples=50, noise=0.0)
    assert np.isfinite(clean.X).all()


def test_generated_sets_have_their_geometry():
    circles = load_dataset("circles", n_samples=200, noise=0.0)
    radius = np.hypot(*circles.X.T)
    np.testing.assert_allclose(radius, np.where(circles.y == 0, 1.0, 0.5))
    xor = load_dataset("xor", n_samples=200, noise=0.0)
    np.testing.assert_array_equal(xor.y, (np.prod(xor.X, axis=1) < 0).astype(int))
    spirals = load_dataset("spirals", n_samples=200, noise=0.0)
    # The second spiral is the first rotated by π: the same radii, opposite sides.
    assert np.abs(spirals.X).max() <= 1.0


def test_unknown_and_misused_names():
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="fixed data set"):
        load_dataset("iris", n_samples=10)
    with pytest.raises(ValueError, match="at least 2"):
        load_dataset("moons", n_samples=1)
    assert set(DATASETS) >= {
        "digits",
        "iris",
        "wine",
        "breast_cancer",
        "diabetes",
        "xor",
        "spirals",
        "moons",
        "circles",
    }


def test_split_indices_are_disjoint_stratified_and_seeded():
    y = np.repeat(np.arange(3), [60, 30, 10])
    train, val, test = split_indices(y, val_fraction=0.2, test_fraction=0.3, seed=1)
    assert len(np.intersect1d(train, test)) == 0 and len(np.intersect1d(val, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(100))
    np.testing.assert_array_equal(np.bincount(y[test]), [18, 9, 3])
    np.testing.assert_array_equal(np.bincount(y[val]), [12, 6, 2])
    again = split_indices(y, val_fraction=0.2, test_fraction=0.3, seed=1)
    np.testing.assert_array_equal(again[2], test)
    _, _, other = split_indices(y, val_fraction=0.2, test_fraction=0.3, seed=2)
    assert not np.array_equal(other, test)
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(y, val_fraction=0.5, test_fraction=0.5)


def test_scalers_fit_on_training_data_only():
    X_train = np.array([[0.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
    X_new = np.array([[8.0, 6.0]])
    s = Standardizer().fit(X_train)
    np.testing.assert_allclose(s.transform(X_new), [[(8 - 2) / np.std([0, 2, 4]), 1.0]])
    m = MinMaxScaler().fit(X_train)
    np.testing.assert_allclose(m.transform(X_train), [[0, 0], [0.5, 0], [1, 0]])
    np.testing.assert_allclose(m.transform(X_new), [[2.0, 1.0]])  # not clipped
    assert NoScaling().fit(X_train).transform(X_new.astype(np.float32)).dtype == np.float32
    assert s.transform(X_new.astype(np.float32)).dtype == np.float32
    rebuilt = make_scaler("minmax", m.params())
    np.testing.assert_array_equal(rebuilt.transform(X_new), m.transform(X_new))
    with pytest.raises(ValueError, match="not fitted"):
        MinMaxScaler().transform(X_new)
    with pytest.raises(ValueError, match="unknown scaling"):
        make_scaler("robust")


def test_target_scaling_inverts():
    y = np.array([10.0, 20.0, 40.0])
    pre = Preprocessing(NoScaling(), Standardizer().fit(y[:, None]))
    z = pre.transform_target(y)
    assert abs(z.mean()) < 1e-12
    np.testing.assert_allclose(pre.inverse_target(z), y[:, None])


def test_one_hot():
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"0\.\.2"):
        one_hot([3], 3)


def test_the_seeded_split_is_pinned():
    # A model records its split as (seed, fractions) and `evaluate`/`report` draw it
    # again: the same seed must choose the same rows in every release.
    from chainrule.data.split import split_indices, split_parts

    y = np.array([0, 1, 0, 1, 2, 2, 0, 1, 2, 0, 1, 2])
    parts = split_indices(y, val_fraction=0.25, test_fraction=0.25, seed=7)
    assert [p.tolist() for p in parts] == [[1, 2, 5, 7, 8, 9], [3, 6, 11], [0, 4, 10]]
    assert split_parts(y, val_fraction=0.25, test_fraction=0.25, seed=7).tolist() == [
        2,
        0,
        0,
        1,
        2,
        0,
        1,
        0,
        0,
        0,
        2,
        1,
    ]
