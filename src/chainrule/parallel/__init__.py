"""MPI in one place: the world, the data-parallel reduce and the sharded readers.

* :mod:`.mpi` — :class:`World` (ranks agreeing on errors), :class:`DataParallel`
  (a rank's rows of each global batch and one ``Allreduce`` of the gradient per
  step), :func:`launched_world`.
* :mod:`.shard` — a rank's rows of a ``.npy`` or CSV file and scalers fitted
  across ranks.

``mpi4py`` is imported only when a communicator is used (extra ``mpi``); see
``docs/distributed.md``.
"""

from .mpi import DataParallel, PeerFailed, World, data_parallel, launched_size, launched_world
from .shard import Shard, block, fit_scaler, read_csv_shard, read_npy_shard

__all__ = [
    "DataParallel",
    "PeerFailed",
    "Shard",
    "World",
    "block",
    "data_parallel",
    "fit_scaler",
    "launched_size",
    "launched_world",
    "read_csv_shard",
    "read_npy_shard",
]
