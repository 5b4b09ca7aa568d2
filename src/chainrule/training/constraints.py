"""Max-norm: a bound on the length of each unit's incoming weight vector.

Srivastava et al. (2014, "Dropout", §5.1) train dropout networks with the
constraint ``‖w_j^l‖₂ ≤ c`` on every row ``j`` of every ``W^l`` (the weights into
unit ``j`` of layer ``l``; the seed's ``W^l`` has shape ``(N_l, N_{l-1})``), with
``c`` between 3 and 4: after each optimizer step a row longer than ``c`` is scaled
back onto the sphere of radius ``c`` (a projection; shorter rows are left alone).
It lets a large learning rate and dropout's noise run without the weights
growing without bound.  Biases are not constrained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..backend import ops_of

Array = npt.NDArray[np.floating]

__all__ = ["MaxNorm", "max_norm"]


def max_norm(weights: Sequence[Array], c: float) -> None:
    """Scale every row of every ``W^l`` whose 2-norm exceeds ``c`` down to ``c``, in place.

    Parameters
    ----------
    weights : sequence of arrays of shape (N_l, N_{l-1})
        The weight matrices ``W^l`` (row ``j``: the weights into unit ``j``).
    c : float
        The largest allowed norm of a row, ``c > 0``.

    Notes
    -----
    ``w_j ← w_j · min(1, c / ‖w_j‖₂)``; the dtype of each array is kept.
    """
    for W in weights:
        if type(W) is np.ndarray:
            norms = np.sqrt(np.einsum("ij,ij->i", W, W))
            too_long = norms > c
            if too_long.any():
                rows = np.flatnonzero(too_long)
                W[rows] *= (c / norms[rows]).astype(W.dtype)[:, None]
        else:  # another backend (the array API): one scale for every row
            xp = ops_of(W).xp
            norms = xp.sqrt(xp.sum(W * W, axis=1))
            scale = xp.where(norms > c, c / norms, xp.ones_like(norms))
            W *= xp.reshape(scale, (-1, 1))


class MaxNorm:
    """The max-norm constraint of a training run, applied after every optimizer step.

    Parameters
    ----------
    weights : list of arrays
        The network's ``W^l`` (held, not copied: the constraint acts on them in place).
    c : float
        The bound on each row's 2-norm (:func:`max_norm`).
    """

    def __init__(self, weights: Sequence[Any], c: float) -> None:
        self.weights, self.c = list(weights), float(c)

    def __call__(self) -> None:
        """Project the weights once (after a step)."""
        max_norm(self.weights, self.c)
