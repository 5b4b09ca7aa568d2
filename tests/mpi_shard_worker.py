"""Run under ``mpiexec -n N`` by tests/parallel/test_distributed.py: sharded reading and training.

``python mpi_shard_worker.py DATA.csv DATA.npy OUT.npz``: each rank reads its
rows of both files, fits the scaling across ranks and trains on its CSV shard;
rank 0 writes what the test compares with one process.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import chainrule
from chainrule.parallel import DataParallel, PeerFailed, fit_scaler, read_csv_shard, read_npy_shard

FIT = {"epochs": 3, "batch_size": 16, "learning_rate": 0.1, "dropout": 0.2, "seed": 5}


def network(n_features: int, n_classes: int) -> chainrule.Network:
    return chainrule.Network(
        [n_features, 10, n_classes],
        activation="tanh",
        output_activation="softmax",
        cost="log_likelihood",
        seed=2,
    )


def main() -> int:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    csv_path, npy_path, out = sys.argv[1:4]
    try:
        part = read_csv_shard(csv_path, comm, task="classification")
        npy = read_npy_shard(npy_path, comm, task="regression")
    except PeerFailed:
        return 3
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scaler = fit_scaler("standard", part.X, comm)
    net = network(part.X.shape[1], len(part.class_names))
    net.fit(scaler.transform(part.X), part.y, comm=DataParallel(comm, rows=part.rows), **FIT)
    minmax = fit_scaler("minmax", npy.X, comm)
    standard = fit_scaler("standard", npy.X, comm)
    counts = comm.gather((part.rows, npy.rows, len(part.X), len(npy.X)))
    y_all = comm.gather(npy.y)
    if comm.Get_rank() == 0:
        np.savez(
            out,
            *net.weights,
            *net.biases,
            mean=scaler.mean,
            scale=scaler.scale,
            low=minmax.low,
            range=minmax.range,
            npy_mean=standard.mean,
            npy_scale=standard.scale,
            npy_y=np.concatenate(y_all),
            class_names=json.dumps(part.class_names),
            counts=json.dumps(counts),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
