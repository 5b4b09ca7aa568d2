"""Preprocessing of grey-level images held as rows of pixels: deskewing.

Deskewing (LeCun et al. 1998, "Gradient-based learning applied to document
recognition", whose MNIST table lists it as *preprocessing*, apart from the
*distortions* that augment the training set) shears each image so that its ink
stands upright and moves the ink's centre of mass to the image's centre.  It is a
fixed function of each image alone: no image is added, nothing is learnt from the
training set, and the same function is applied to every image a model sees, at
training and at prediction time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["deskew"]

#: Images deskewed per block: bounds the temporaries (a few float64 copies of a block).
_BLOCK = 8192


def deskew(images: npt.ArrayLike, shape: tuple[int, int] | None = None) -> npt.NDArray[np.floating]:
    """Shear each image upright and centre its ink, by its own second moments.

    For an image with pixel values ``p(r, c)`` (``r`` the row, ``c`` the column), let
    ``(m_r, m_c)`` be the centre of mass of ``p`` and ``α = cov(r, c) / var(r)`` the
    slope of its ink.  The output pixel ``(i, j)`` takes the input, by bilinear
    interpolation (zero outside the image), at

        ``r = i + m_r − h/2``,  ``c = j + α (i − h/2) + m_c − w/2``,

    the affine map ``[[1, 0], [α, 1]]`` about the centre ``(h/2, w/2)``: each row is
    shifted sideways by an amount that grows with its height, which undoes a slant,
    and the whole image is shifted so its centre of mass lands at ``(h/2, w/2)``.
    Because the shear moves whole rows, the bilinear interpolation is separable: one
    shift of the rows, then one sideways shift per row.

    Parameters
    ----------
    images : array_like, shape (n, h·w) or (n, h, w)
        Non-negative pixel values, one image per row (MNIST's flattened 28 × 28
        images are ``(n, 784)``).
    shape : (h, w), optional
        The image size of flattened rows; by default square, ``h = w = √(h·w)``.

    Returns
    -------
    ndarray, the shape of ``images``
        The deskewed images, in the input's floating dtype (float32 stays float32;
        integers become float64).  An image without ink (all zeros) is returned
        unchanged.  Pixel values stay within the input's range: each output pixel
        is a weighted mean of at most four input pixels and zero.

    Raises
    ------
    ValueError
        If ``images`` is not 2-D or 3-D, flattened rows are not ``h·w`` long,
        or a pixel is negative or not finite.
    """
    X = np.asarray(images)
    if X.dtype.kind not in "fiub":
        raise ValueError(f"deskew: images must be numbers, got dtype {X.dtype}")
    out_dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
    if X.ndim == 3:
        h, w = X.shape[1:]
        if shape is not None and tuple(shape) != (h, w):
            raise ValueError(f"deskew: shape {tuple(shape)} does not match images {X.shape}")
    elif X.ndim == 2:
        if shape is None:
            side = round(float(np.sqrt(X.shape[1])))
            if side * side != X.shape[1]:
                raise ValueError(
                    f"deskew: rows of {X.shape[1]} pixels are not square images; give shape=(h, w)"
                )
            shape = (side, side)
        h, w = (int(s) for s in shape)
        if h * w != X.shape[1]:
            raise ValueError(
                f"deskew: shape {(h, w)} needs rows of {h * w} pixels, got {X.shape[1]}"
            )
    else:
        raise ValueError(f"deskew: images must be (n, h*w) or (n, h, w), got shape {X.shape}")
    flat = X.reshape(len(X), h, w)
    if flat.size and (not np.all(np.isfinite(flat)) or flat.min() < 0):
        raise ValueError("deskew: pixel values must be finite and non-negative")
    out = np.empty(flat.shape, dtype=out_dtype)
    for start in range(0, len(flat), _BLOCK):
        out[start : start + _BLOCK] = _deskew_block(flat[start : start + _BLOCK])
    return out.reshape(X.shape)


def _deskew_block(img: np.ndarray) -> np.ndarray:
    """:func:`deskew` of ``img``, shape (n, h, w), computed in float64."""
    _, h, w = img.shape
    p = img.astype(np.float64)
    rows, cols = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    row_mass, col_mass = p.sum(axis=2), p.sum(axis=1)  # (n, h), (n, w)
    mass = row_mass.sum(axis=1)
    ink = mass > 0
    safe = np.where(ink, mass, 1.0)
    m_r, m_c = row_mass @ rows / safe, col_mass @ cols / safe
    var_r = row_mass @ (rows * rows) / safe - m_r * m_r
    cov_rc = np.einsum("nij,i,j->n", p, rows, cols) / safe - m_r * m_c
    alpha = np.where(ink & (var_r > 0), cov_rc / np.where(var_r > 0, var_r, 1.0), 0.0)
    c_r, c_c = h / 2.0, w / 2.0
    # A blank image keeps its place: no shift, no shear.
    shift_r = np.where(ink, m_r - c_r, 0.0)  # (n,)
    shift_c = alpha[:, None] * (rows - c_r) + np.where(ink, m_c - c_c, 0.0)[:, None]  # (n, h)
    return _shift_columns(_shift_rows(p, shift_r), shift_c)


def _shift_rows(p: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``out[k, i, :] = p[k, i + shift[k], :]`` by linear interpolation, zero outside."""
    n, h, _ = p.shape
    base = np.floor(shift)
    frac = (shift - base)[:, None, None]
    base = np.clip(base, -h - 1, h).astype(np.int64)  # beyond that every source row is outside
    padded = np.pad(p, ((0, 0), (h + 1, h + 2), (0, 0)))
    src = np.arange(h)[None, :] + base[:, None] + (h + 1)  # (n, h) rows of `padded`
    k = np.arange(n)[:, None]
    return (1.0 - frac) * padded[k, src] + frac * padded[k, src + 1]


def _shift_columns(p: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``out[k, i, j] = p[k, i, j + shift[k, i]]`` by linear interpolation, zero outside."""
    n, h, w = p.shape
    base = np.floor(shift)
    frac = (shift - base)[:, :, None]
    base = np.clip(base, -w - 1, w).astype(np.int64)
    padded = np.pad(p, ((0, 0), (0, 0), (w + 1, w + 2)))
    src = np.arange(w)[None, None, :] + base[:, :, None] + (w + 1)  # (n, h, w) columns
    k, i = np.arange(n)[:, None, None], np.arange(h)[None, :, None]
    return (1.0 - frac) * padded[k, i, src] + frac * padded[k, i, src + 1]
