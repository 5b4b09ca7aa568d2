"""Benchmark workloads: network shapes, hyper-parameters, synthetic data and FLOP counts.

Every workload is one epoch of plain mini-batch SGD on synthetic MNIST-shaped data
(uniform pixels in [0, 1), integer labels), so no download is needed and every
implementation sees exactly the same arrays.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_WORKLOADS", "WORKLOADS", "Workload", "flops_per_epoch", "make_data"]


@dataclass(frozen=True)
class Workload:
    """One benchmark setting.

    Attributes
    ----------
    name : str
        Short key used on the command line (``W1``, ``W2``, ``W3``, ``tiny``).
    sizes : tuple of int
        Layer sizes ``N_1, ..., N_L`` in the seed's notation.
    activation : str
        Hidden-layer activation, ``"sigmoid"`` or ``"relu"``.
    output : str
        Output activation, ``"sigmoid"`` or ``"softmax"``.
    cost : str
        ``"quadratic"`` or ``"log_likelihood"``.
    batch_size : int
        Mini-batch size ``n``.
    learning_rate : float
        SGD step ``eta``.
    samples : int
        Number of training rows in the full run.
    quick_samples : int
        Number of training rows in a ``--quick`` smoke run.
    per_step : bool
        Report the time of one SGD step in microseconds (the overhead probe).
    """

    name: str
    sizes: tuple[int, ...]
    activation: str
    output: str
    cost: str
    batch_size: int
    learning_rate: float
    samples: int
    quick_samples: int
    per_step: bool = False

    @property
    def label(self) -> str:
        """A one-line description for tables."""
        out = self.output if self.output == "softmax" else f"{self.output} out"
        return (
            f"{list(self.sizes)} {self.activation}, {out}, {self.cost.replace('_', '-')}, "
            f"batch {self.batch_size}"
        )

    def n_samples(self, quick: bool) -> int:
        """Rows of training data for a full or a quick run."""
        return self.quick_samples if quick else self.samples

    def steps(self, samples: int) -> int:
        """Number of SGD steps in one epoch over ``samples`` rows."""
        return -(-samples // self.batch_size)


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("W1", (784, 30, 10), "sigmoid", "sigmoid", "quadratic", 10, 3.0, 60_000, 6_000),
        Workload(
            "W2", (784, 100, 10), "sigmoid", "softmax", "log_likelihood", 128, 0.1, 60_000, 6_000
        ),
        Workload(
            "W3",
            (784, 1024, 1024, 10),
            "relu",
            "softmax",
            "log_likelihood",
            256,
            0.01,
            60_000,
            6_000,
        ),
        Workload(
            "tiny",
            (4, 8, 3),
            "sigmoid",
            "softmax",
            "log_likelihood",
            10,
            0.1,
            30_000,
            3_000,
            per_step=True,
        ),
        # The GPU probe (issue 14): big GEMMs, where a device pays off.  Not in the
        # default CPU run (`DEFAULT_WORKLOADS`); ask for it with --workloads wide.
        Workload(
            "wide",
            (784, 4096, 4096, 10),
            "relu",
            "softmax",
            "log_likelihood",
            1024,
            0.01,
            60_000,
            6_000,
        ),
    )
}

#: What ``benchmarks/run.py`` measures without ``--workloads``.
DEFAULT_WORKLOADS = ("W1", "W2", "W3", "tiny")


def make_data(
    workload: Workload, samples: int, dtype: np.dtype, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic MNIST-shaped data for ``workload``.

    Returns
    -------
    X : ndarray of shape (samples, N_1), dtype ``dtype``
        Uniform "pixels" in [0, 1).
    y : ndarray of shape (samples,), dtype int64
        Class labels in ``range(N_L)``.
    """
    rng = np.random.default_rng(seed)
    X = rng.random((samples, workload.sizes[0]), dtype=np.dtype(dtype).type)
    y = rng.integers(0, workload.sizes[-1], size=samples, dtype=np.int64)
    return X, y


def flops_per_epoch(sizes: tuple[int, ...], samples: int) -> float:
    """Floating-point operations of one epoch's GEMMs (the work no implementation can skip).

    Per example and layer ``l``: ``2 N_l N_{l-1}`` for the forward product (seed eq. 1),
    the same for the weight gradient (eq. 13) and, except for the first layer, the same
    again for propagating ``delta`` backwards (eq. 9). That is about 6 x params x samples.
    """
    pairs = list(itertools.pairwise(sizes))
    per_example = sum(4 * a * b for a, b in pairs) + sum(2 * a * b for a, b in pairs[1:])
    return float(per_example) * samples
