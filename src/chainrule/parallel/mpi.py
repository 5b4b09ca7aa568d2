"""Data-parallel training over MPI: every rank trains on its rows of each global batch.

Synchronous data parallelism, as in seed §5 with the mini-batch cut across ``N``
processes (ranks).  For each global mini-batch of ``m`` rows, rank ``r`` feeds
forward and backpropagates only *its* rows, with the row weights ``1/m`` of the
whole batch, so its gradient is its rows' share of the batch mean::

    ∇E = Σ_r Σ_{i ∈ rows(r)} (1/m) ∇C_i

One ``MPI_Allreduce`` per step sums those shares — all layers' weights and biases
packed into one flat buffer — and every rank then applies the same update to the
same weights.  Nothing but the gradient, a failed flag and a tag (and, once per
epoch, the metric sums) crosses the network.

Equal to one process
--------------------
Every rank draws from the same seeded ``numpy.random.Generator`` in the same
order: the epoch's permutation of all ``n`` training rows, and each batch's
dropout masks *for the whole batch* (``m × N_l``), of which a rank keeps its
rows.  So the batches, masks and sample weights are exactly those of a single
process, and the only difference is the order in which the ``m`` per-row terms
of the gradient are added (rounding, ~1e-16 relative per step).

Where the rows live
-------------------
* **Replicated** (``DataParallel(comm)``): every rank holds all of ``X``; rank
  ``r`` computes a contiguous ``1/N`` block of each batch.  This is what
  ``mpiexec -n N chainrule train`` does.
* **Sharded** (``DataParallel(comm, rows=(start, stop, n))``): rank ``r`` holds
  only the global rows ``start:stop`` of an ``n``-row training set (see
  :mod:`chainrule.parallel.shard`), and computes the rows of each batch that fall in
  its range.  The permutation is still over all ``n`` rows, so the batches are
  the single process's; a rank's share of a batch varies around ``m/N``.

Errors without hangs
--------------------
Every collective of a fit exchanges the same flat buffer, which carries a
*failed* flag and a tag naming the collective.  A rank whose fit raises sends one
last buffer with the flag set, which completes whatever collective the other
ranks are waiting in; they raise :class:`PeerFailed`.  Each rank's last
collective therefore either carries or sees the flag, so all ranks leave ``fit``
together and nobody waits forever.  The tag catches ranks that fall out of step
(it would be a bug) instead of summing unlike buffers silently.

``mpi4py`` is imported only when a communicator is actually used; the rest of
chainrule never imports it (install with ``pip install chainrule[mpi]``).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..training.loop import Batches

if TYPE_CHECKING:
    from ..engine import Layer
    from ..network import Network

Array = npt.NDArray[np.floating]

__all__ = [
    "DataParallel",
    "PeerFailed",
    "World",
    "data_parallel",
    "launched_size",
    "launched_world",
]

#: Environment variables through which MPI launchers tell a process the job's size
#: (MPICH/Hydra and Intel MPI, Open MPI, MVAPICH).
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")

# Tags of the collectives of a fit (see the module docstring): a rank that sees
# a sum other than N × its tag knows the ranks are out of step.  Powers of 64: with
# fewer than 64 ranks the sum of N tags is N × t only if every tag is t (base-64
# digits), and every sum is an integer that float32 holds exactly.
_STEP, _EPOCH, _END, _WEIGHTS = 1.0, 64.0, 4096.0, 262144.0
_TAG_NAMES = {
    _STEP: "gradient sum of a step",
    _EPOCH: "metrics of an epoch",
    _END: "end of fit",
    _WEIGHTS: "sample-weight sum",
}


class PeerFailed(Exception):
    """Another rank failed; it reports its own error, this rank only stops."""


def launched_size() -> int:
    """The number of processes ``mpiexec`` started, or 1 when not started by MPI."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            "data-parallel training needs mpi4py: pip install 'chainrule[mpi]'"
        ) from None
    return MPI


class World:
    """A communicator with the two things a command line needs: ranks and agreement.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Usually ``MPI.COMM_WORLD``.
    """

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())

    @property
    def root(self) -> bool:
        """True on rank 0, the rank that prints, saves and writes reports."""
        return self.rank == 0

    @contextmanager
    def agree(self) -> Iterator[None]:
        """Run a block on every rank and fail on all of them if it fails on any.

        One small ``Allreduce`` at the end of the block: the lowest rank whose
        block raised re-raises its exception (so exactly one rank reports it);
        every other rank raises :class:`PeerFailed`.  A rank that only saw
        another rank fail (``PeerFailed`` inside the block) never reports.
        """
        failure: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            failure = exc
        mpi = _mpi()
        own = failure is not None and not isinstance(failure, PeerFailed)
        # [lowest rank with its own failure, −(did any rank fail at all)]
        state = np.array([self.rank if own else self.size, -int(failure is not None)])
        self.comm.Allreduce(mpi.IN_PLACE, state, op=mpi.MIN)
        first, any_failed = int(state[0]), bool(state[1])
        if not any_failed:
            return
        if own and first == self.rank:
            assert failure is not None
            raise failure
        raise PeerFailed(f"rank {first} failed") from None


def launched_world() -> World | None:
    """The MPI world when ``mpiexec`` started several processes, else None.

    Raises
    ------
    ImportError
        When ``mpiexec`` started several processes but mpi4py is missing: without
        it every process would train alone and write the same files.
    """
    if launched_size() <= 1:
        return None
    return World(_mpi().COMM_WORLD)


def data_parallel(comm: Any) -> DataParallel:
    """``comm`` as a :class:`DataParallel` (a communicator means replicated data)."""
    return comm if isinstance(comm, DataParallel) else DataParallel(comm)


class _BatchRandom:
    """The generator as the engine sees it on one rank: whole-batch draws, this rank's rows.

    The engine draws a dropout mask with ``rng.random(z.shape)`` for the rank's
    rows; this draws the mask of the whole ``m``-row batch from the shared
    generator (the same numbers as one process) and returns the rank's rows.
    """

    def __init__(self, rng: np.random.Generator, m: int, positions: Any) -> None:
        self.rng, self.m, self.positions = rng, m, positions

    def random(self, shape: tuple[int, int]) -> np.ndarray:
        pos = self.positions() if callable(self.positions) else self.positions
        return self.rng.random((self.m, shape[1]))[pos]


class ParallelBatches(Batches):
    """A rank's rows of each global mini-batch, as :class:`~chainrule.training.loop.Batches`.

    The batches follow the global epoch: ``order`` permutes all ``n`` rows (every
    rank draws the same permutation), global batch ``k`` is ``order[k·b : (k+1)·b]``
    of ``m`` rows, and this rank trains the part of it that it holds — a block of
    the ``m`` rows for replicated data, or the rows of its shard.  Each row's cost
    is weighted ``1/m`` (``w_i/m`` with sample weights), so the ranks' gradients
    sum (``reduce``, one ``Allreduce``) to exactly one process's batch mean, and
    dropout masks are drawn for the whole batch, the rank keeping its rows.
    """

    def __init__(
        self,
        par: DataParallel,
        X: Array,
        Y: Array,
        batch_size: int,
        sample_weight: Array | None,
        rng: np.random.Generator,
    ) -> None:
        n = par.n_rows(X)
        self.par, self.X, self.Y, self.size, self.n = par, X, Y, batch_size, n
        self.sample_weight, self.rng = sample_weight, rng
        self.bounds = [(lo, min(lo + batch_size, n)) for lo in range(0, n, batch_size)]
        self.count = len(self.bounds)
        self.last_size = self.bounds[-1][1] - self.bounds[-1][0]
        self.rows_held = int(X.shape[0])
        self.reduce = par.reduce
        # The epoch's loss and correct rows summed batch by batch (``epoch_metrics``):
        # no epoch-sized z^L, a^L buffers of the rank's rows (18 MiB of a rank's peak
        # for 400,000 rows and 3 outputs in float64).
        self.sums_by_batch = True
        self._local: list[npt.NDArray[Any]]  # intp or int32 (plan) = []
        self._positions: list[Any] = []
        self._weights: Array | None = None
        self._random: Any = rng
        self._order: Any = False  # no epoch planned yet
        self.plan(None)

    def plan(self, order: npt.NDArray[np.intp] | None) -> None:
        """Which of each global batch's rows this rank trains, and where they go."""
        if order is self._order:
            return
        self._order = order
        par = self.par
        local: list[npt.NDArray[Any]] = []
        positions: list[Any] = []
        # A shard's rows of each batch, as indices of the smallest type that holds them
        # (int32 below 2**31 rows: the epoch's plan costs 4 bytes a row, not 16).
        small = np.int32 if len(self.X) < 2**31 - 1 and self.n < 2**31 - 1 else np.intp
        for lo, hi in self.bounds:
            m = hi - lo
            idx = np.arange(lo, hi) if order is None else order[lo:hi]
            if par.rows is None:
                b0, b1 = m * par.rank // par.size, m * (par.rank + 1) // par.size
                positions.append(slice(b0, b1))
                local.append(idx[b0:b1])
            else:  # (where the rows sit in the batch: found again if dropout asks)
                start, stop, _ = par.rows
                pos = np.flatnonzero((idx >= start) & (idx < stop))
                local.append((idx[pos] - start).astype(small))
        self._local, self._positions = local, positions
        self.sizes = [len(rows) for rows in local]
        ends = np.cumsum([0, *self.sizes]).tolist()
        self.spans = list(itertools.pairwise(ends))

    def epoch(self, order: npt.NDArray[np.intp] | None) -> Iterator[tuple[int, Array, Array]]:
        """``(k, X_k, Y_k)``: this rank's rows of every global batch of the epoch."""
        self.plan(order)
        par, sw = self.par, self.sample_weight
        par._trained = []
        for k, (lo, hi) in enumerate(self.bounds):
            m, local = hi - lo, self._local[k]
            self._weights = np.full(len(local), 1.0 / m) if sw is None else sw[local] / m
            rows = self._positions[k] if par.rows is None else partial(self._shard_rows, k)
            self._random = _BatchRandom(self.rng, m, rows)
            par._trained.append(local)
            yield k, np.take(self.X, local, axis=0), np.take(self.Y, local, axis=0)

    def _shard_rows(self, k: int) -> npt.NDArray[np.intp]:
        """Where this rank's rows of global batch ``k`` sit in the batch (sharded data):
        for dropout's masks only, so not kept for every batch of the epoch."""
        assert self.par.rows is not None
        start, stop, _ = self.par.rows
        lo, hi = self.bounds[k]
        idx = np.arange(lo, hi) if self._order is None else self._order[lo:hi]
        return np.flatnonzero((idx >= start) & (idx < stop))

    def random(self, rng: np.random.Generator) -> Any:
        """Draws the whole batch's dropout masks (as one process would) for this rank's rows."""
        return self._random

    def row_weights(self, rows: Any, sample_weight: Array | None, m: int) -> Array | None:
        """``1/M`` (or ``w_i/M``) per row, ``M`` the *global* batch size."""
        return self._weights

    def rows(self, k: int, order: npt.NDArray[np.intp] | None) -> npt.NDArray[np.intp]:
        """This rank's rows of batch ``k``: indices into its ``X``."""
        return self._local[k]

    def end(self, k: int) -> int:
        """How many of this rank's rows an epoch has trained once batch ``k`` is done."""
        return int(self.spans[k][1])


class DataParallel:
    """Synchronous data-parallel SGD across the ranks of an MPI communicator.

    Pass it (or just the communicator) as ``Network.fit(..., comm=...)``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The ranks that train together; each calls ``fit`` with the same settings.
    rows : (start, stop, n), optional
        The rows ``X`` holds when it is this rank's shard of an ``n``-row training
        set: global rows ``start:stop`` (from :mod:`chainrule.parallel.shard`).
        Without it every rank holds all rows.  With it, ``validation_data`` is
        this rank's shard of the validation set too.

    Attributes
    ----------
    allreduce_seconds : float
        Time spent in the gradient ``Allreduce`` so far (the benchmarks' probe).
    steps : int
        Gradient reductions so far.
    """

    def __init__(self, comm: Any, *, rows: tuple[int, int, int] | None = None) -> None:
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        if rows is not None:
            start, stop, total = (int(v) for v in rows)
            if not 0 <= start <= stop <= total:
                raise ValueError(
                    f"rows must be (start, stop, n) with 0 <= start <= stop <= n, got {tuple(rows)}"
                )
            rows = (start, stop, total)
        self.rows = rows
        self.allreduce_seconds = 0.0
        self.steps = 0
        self._buffer: np.ndarray | None = None
        self._trained: list[np.ndarray] = []
        self._done = False

    # ------------------------------------------------------------------ set-up

    def n_rows(self, X: Array) -> int:
        """The number of training rows across all ranks."""
        if self.rows is None:
            return int(X.shape[0])
        start, stop, total = self.rows
        if X.shape[0] != stop - start:
            raise ValueError(
                f"rank {self.rank} holds rows {start}:{stop} ({stop - start} rows) "
                f"but X has {X.shape[0]}"
            )
        return total

    def average_one(self, sample_weight: npt.ArrayLike) -> np.ndarray:
        """Sample weights scaled to average 1 over all ranks' rows (sharded data).

        ``sample_weight`` holds this rank's rows; the scale is ``n / Σ w`` with the
        sum over every rank (one small ``Allreduce``).
        """
        w = np.asarray(sample_weight, dtype=np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite and non-negative")
        buf = self._flat()  # inside fit every collective uses this one buffer
        buf[:] = 0.0
        buf[-6] = w.sum()
        self._exchange(_WEIGHTS)
        total = float(buf[-6])
        if not total > 0:
            raise ValueError("sample_weight is zero on every rank")
        assert self.rows is not None
        return w / total * self.rows[2]

    @contextmanager
    def session(self, net: Network) -> Iterator[DataParallel]:
        """Bracket one ``fit`` of ``net``: leave it together on every rank, failed or not.

        The flat buffer is sized here, from the network, so that even a rank that
        fails before its first step exchanges a buffer of the right size.
        """
        self._done = False
        self._buffer = np.zeros(net.n_parameters + 8, dtype=net.dtype)
        try:
            yield self
        except BaseException:
            if not self._done:
                # Complete the collective the other ranks wait in, flagged.
                self._done = True
                self._collective(_END, failed=True)
            raise
        if not self._done:
            self._collective(_END)

    # ------------------------------------------------------------------ per step

    def batches(
        self,
        X: Array,
        Y: Array,
        batch_size: int,
        sample_weight: Array | None,
        rng: np.random.Generator,
    ) -> ParallelBatches:
        """This rank's mini-batches for ``training.loop`` (one per global batch)."""
        return ParallelBatches(self, X, Y, batch_size, sample_weight, rng)

    def reduce(self, layers: list[Layer]) -> list[Layer]:
        """Sum the ranks' gradients in the layers' buffers: one ``Allreduce`` of one flat buffer.

        The gradients are copied into the buffer, summed across ranks in place, and
        copied back, so every rank continues with the whole batch's gradient.
        """
        buf = self._flat()
        grads = [g for layer in layers for g in (layer.grad_W, layer.grad_b)]
        pos = 0
        for g in grads:
            buf[pos : pos + g.size] = g.reshape(-1)
            pos += g.size
        start = time.perf_counter()
        self._exchange(_STEP)
        self.allreduce_seconds += time.perf_counter() - start
        self.steps += 1
        pos = 0
        for g in grads:
            g[...] = buf[pos : pos + g.size].reshape(g.shape)
            pos += g.size
        return layers

    # ------------------------------------------------------------------ per epoch

    def epoch_metrics(
        self,
        net: Network,
        batch_sums: tuple[float, float],
        validation_data: tuple[Array, Array] | None,
    ) -> tuple[float, float, float, float]:
        """The epoch's training and validation loss and accuracy over all ranks.

        ``batch_sums`` is this rank's (Σ weighted cost, correct rows) over the rows it
        trained, summed batch by batch as it trained (:class:`ParallelBatches`: no
        epoch-sized ``z^L``, ``a^L`` buffers); each rank adds its validation rows' and
        one ``Allreduce`` adds the ranks' sums.  Accuracy is nan for a regression
        network, the validation pair nan without validation data.
        """
        sums = np.zeros(6)
        m = sum(len(rows) for rows in self._trained)
        if m:
            sums[:3] = float(batch_sums[0]), float(batch_sums[1]), m
        if validation_data is not None:
            Xv, Yv = validation_data
            if self.rows is None:  # replicated: each rank evaluates a block
                n_val = Xv.shape[0]
                b0, b1 = n_val * self.rank // self.size, n_val * (self.rank + 1) // self.size
                Xv, Yv = Xv[b0:b1], Yv[b0:b1]
            k = Xv.shape[0]
            if k:
                loss, acc = net.evaluate_arrays(Xv, Yv)
                sums[3:] = loss * k, (0.0 if np.isnan(acc) else round(acc * k)), k
        buf = self._flat()
        buf[:-8] = 0.0
        buf[-6:] = sums
        self._exchange(_EPOCH)
        total = buf[-6:].astype(np.float64)
        nan = float("nan")
        train_loss = total[0] / total[2] if total[2] else nan
        train_acc = total[1] / total[2] if total[2] and net.is_classifier else nan
        val_loss = val_acc = nan
        if validation_data is not None and total[5]:
            val_loss = total[3] / total[5]
            val_acc = total[4] / total[5] if net.is_classifier else nan
        return float(train_loss), float(train_acc), float(val_loss), float(val_acc)

    # ------------------------------------------------------------------ the collective

    def _flat(self) -> np.ndarray:
        """The flat buffer: all gradients, then the failed flag, the tag and six epoch sums.

        Every collective of a fit exchanges this same buffer, so a failing rank's
        last message completes whichever collective the others are in.
        """
        if self._buffer is None:
            raise RuntimeError("DataParallel is used outside its session (Network.fit)")
        return self._buffer

    def _collective(self, tag: float, *, failed: bool = False) -> None:
        self._flat()[:] = 0.0
        self._exchange(tag, failed=failed)

    def _exchange(self, tag: float, *, failed: bool = False) -> None:
        mpi = _mpi()
        buf = self._buffer
        assert buf is not None
        buf[-8] = 1.0 if failed else 0.0
        buf[-7] = tag
        self.comm.Allreduce(mpi.IN_PLACE, buf, op=mpi.SUM)
        if failed:
            return
        if buf[-8] > 0:
            self._done = True
            raise PeerFailed("another rank failed; it reports the error")
        if buf[-7] != tag * self.size:
            self._done = True
            raise RuntimeError(
                f"rank {self.rank}: the ranks are out of step (this rank is at "
                f"the {_TAG_NAMES[tag]}, another is not); every rank must call "
                "fit with the same settings and number of rows"
            )
