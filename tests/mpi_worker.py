"""Run under ``mpiexec -n N`` by tests/parallel/test_distributed.py: one data-parallel fit.

``python mpi_worker.py CONFIG.json OUT.npz``: every rank builds the same network
and data (:func:`problem`), trains with ``comm=`` (replicated rows, or each rank
its contiguous shard with ``--sharded``), and rank 0 writes the weights and the
history to OUT.npz for the test to compare with a single process.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import numpy as np

import chainrule
from chainrule.training import Callback


def problem(
    cfg: dict[str, Any],
) -> tuple[chainrule.Network, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The network, training data, validation data and sample weights of a test."""
    rng = np.random.default_rng(cfg.get("data_seed", 7))
    n, d = cfg.get("n", 203), 6
    X = rng.normal(size=(n + 40, d))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    net = chainrule.Network(
        [d, 12, 9, 3],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=3,
        dtype=cfg.get("dtype", "float64"),
    )
    w = rng.uniform(0.2, 3.0, n)
    return net, X[:n], y[:n], X[n:], y[n:], w


def fit_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    return dict(cfg.get("fit", {}), epochs=cfg.get("epochs", 3), seed=11)


class FailOn(Callback):
    """Raises on one rank after an epoch (the error-agreement test)."""

    def __init__(self, rank: int, fail_rank: int) -> None:
        self.rank, self.fail_rank = rank, fail_rank

    def on_epoch_end(self, network: Any, history: Any) -> None:
        if self.rank == self.fail_rank and len(history) == 2:
            raise RuntimeError(f"injected failure on rank {self.rank}")


def main() -> int:
    from mpi4py import MPI

    from chainrule.parallel import DataParallel, PeerFailed, World

    cfg = json.loads(open(sys.argv[1], encoding="utf-8").read())
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    net, X, y, Xv, yv, w = problem(cfg)
    kwargs = fit_kwargs(cfg)
    if cfg.get("skew"):
        kwargs["epochs"] += rank  # a bug in the caller: the ranks disagree
    if cfg.get("weights"):
        kwargs["sample_weight"] = w
    kwargs["validation_data"] = (Xv, yv)
    par: Any = comm
    if cfg.get("sharded"):
        n, nv = len(X), len(Xv)
        s, e = n * rank // size, n * (rank + 1) // size
        sv, ev = nv * rank // size, nv * (rank + 1) // size
        X, y = X[s:e], y[s:e]
        kwargs["validation_data"] = (Xv[sv:ev], yv[sv:ev])
        if cfg.get("weights"):
            kwargs["sample_weight"] = w[s:e]
        par = DataParallel(comm, rows=(s, e, n))
    if "fail_rank" in cfg:
        kwargs["callbacks"] = [FailOn(rank, cfg["fail_rank"])]
    agree = World(comm).agree() if cfg.get("agree") else contextlib.nullcontext()
    try:
        with agree:  # as the command line wraps fit
            history = net.fit(X, y, comm=par, **kwargs)
    except PeerFailed:
        return 3
    except RuntimeError as exc:
        print(f"rank {rank}: {exc}", file=sys.stderr)
        return 4
    if rank == 0:
        np.savez(
            sys.argv[2],
            *net.weights,
            *net.biases,
            train_loss=history.train_loss,
            train_accuracy=history.train_accuracy,
            val_loss=history.val_loss,
            val_accuracy=history.val_accuracy,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
