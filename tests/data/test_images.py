"""Deskewing (chainrule.data.images): an independent oracle, the geometry it promises, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from chainrule.data import images
from chainrule.data.images import deskew


def _ink(rng: np.random.Generator, n: int, side: int = 28) -> np.ndarray:
    """n images of slanted strokes with a little noise, flattened, in [0, 1]."""
    out = np.zeros((n, side, side))
    for k in range(n):
        slope = rng.uniform(-0.4, 0.4)
        col0 = rng.uniform(side // 2 - 3, side // 2 + 3)
        for r in range(4, side - 4):
            c = col0 + slope * (r - side / 2)
            lo = int(np.floor(c))
            out[k, r, lo : lo + 3] = 1.0
        inner = (side - 12, side - 12)  # specks, away from the edges
        out[k, 6:-6, 6:-6] += 0.1 * rng.random(inner) * (rng.random(inner) < 0.05)
    return np.clip(out, 0, 1).reshape(n, side * side)


def _scipy_deskew(image: np.ndarray) -> np.ndarray:
    """The same map written as one affine transform for scipy.ndimage (bilinear, zero outside)."""
    h, w = image.shape
    r, c = np.mgrid[:h, :w]
    m = image.sum()
    mr, mc = (image * r).sum() / m, (image * c).sum() / m
    var_r = (image * (r - mr) ** 2).sum() / m
    cov = (image * (r - mr) * (c - mc)).sum() / m
    A = np.array([[1.0, 0.0], [cov / var_r, 1.0]])
    offset = np.array([mr, mc]) - A @ np.array([h / 2, w / 2])
    return ndimage.affine_transform(
        image, A, offset=offset, order=1, mode="grid-constant", cval=0.0
    )


def _moments(img: np.ndarray) -> tuple[float, float, float]:
    h, w = img.shape
    r, c = np.mgrid[:h, :w]
    m = img.sum()
    mr, mc = (img * r).sum() / m, (img * c).sum() / m
    return mr, mc, (img * (r - mr) * (c - mc)).sum() / m


def test_deskew_equals_scipys_affine_transform():
    X = _ink(np.random.default_rng(0), 12)
    got = deskew(X)
    for k in range(len(X)):
        want = _scipy_deskew(X[k].reshape(28, 28))
        np.testing.assert_allclose(got[k].reshape(28, 28), want, atol=1e-9)


def test_deskew_stands_strokes_upright_centres_them_and_keeps_their_ink():
    X = _ink(np.random.default_rng(1), 20)
    out = deskew(X)
    for before, after in zip(X.reshape(-1, 28, 28), out.reshape(-1, 28, 28), strict=True):
        _, _, cov_before = _moments(before)
        mr, mc, cov_after = _moments(after)
        assert abs(cov_after) < 0.1 * abs(cov_before) + 0.05
        # The centre of mass moves to (h/2, w/2), up to what the shear's rounding moves.
        assert abs(mr - 14) < 0.5 and abs(mc - 14) < 0.5
        # Rows only slide (and nothing here slides off the edge): the ink is kept.
        assert after.sum() == pytest.approx(before.sum(), rel=1e-9)
    assert out.min() >= 0 and out.max() <= 1 + 1e-12


def test_an_upright_centred_image_is_unchanged_and_a_blank_one_stays_blank():
    img = np.zeros((28, 28))
    img[10:19, 13:16] = 1.0  # rows 10..18 (mean 14), columns 13..15 (mean 14), no slant
    blank = np.zeros((28, 28))
    out = deskew(np.stack([img, blank]))
    np.testing.assert_array_equal(out[0], img)
    np.testing.assert_array_equal(out[1], blank)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deskew_keeps_the_dtype_and_the_layout(dtype):
    X = _ink(np.random.default_rng(2), 5).astype(dtype)
    flat = deskew(X)
    cube = deskew(X.reshape(5, 28, 28))
    assert flat.dtype == dtype and flat.shape == (5, 784)
    assert cube.dtype == dtype and cube.shape == (5, 28, 28)
    np.testing.assert_array_equal(flat.reshape(5, 28, 28), cube)
    assert deskew((X * 255).astype(np.uint8)).dtype == np.float64


def test_rectangular_images_and_blocks(monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.random((7, 12 * 20)) * (rng.random((7, 12 * 20)) < 0.3)
    one_go = deskew(X, shape=(12, 20))
    monkeypatch.setattr(images, "_BLOCK", 3)  # blocks of 3, 3 and 1 images
    # (The moments' sums may round differently in another block shape.)
    np.testing.assert_allclose(deskew(X, shape=(12, 20)), one_go, rtol=0, atol=1e-12)
    for k in range(7):
        want = _scipy_deskew(X[k].reshape(12, 20))
        np.testing.assert_allclose(one_go[k].reshape(12, 20), want, atol=1e-9)


@pytest.mark.parametrize(
    ("images_", "kwargs", "match"),
    [
        (np.zeros((2, 783)), {}, "not square"),
        (np.zeros((2, 784)), {"shape": (20, 20)}, "needs rows of 400"),
        (np.zeros((2, 28, 28)), {"shape": (14, 56)}, "does not match"),
        (np.zeros(784), {}, "must be"),
        (np.full((1, 784), -1.0), {}, "non-negative"),
        (np.full((1, 784), np.nan), {}, "finite"),
        (np.array([["a"] * 4]), {}, "numbers"),
    ],
)
def test_deskew_refuses_bad_images_in_one_line(images_, kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        deskew(images_, **kwargs)
    assert "\n" not in str(info.value)
