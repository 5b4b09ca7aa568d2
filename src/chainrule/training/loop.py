"""The epoch machinery: mini-batch stochastic gradient descent (seed §5; Nielsen ch. 1).

For each epoch: cut the (shuffled) rows into mini-batches (:class:`Batches`), and for
each batch compute the gradient by backpropagation and hand it to the optimizer
(``_Epochs.run``, the one epoch body).  :class:`~chainrule.training.trainer.Trainer`
drives it epoch by epoch; everything that varies between training recipes (the
optimizer, callbacks) is a parameter, so the body itself stays short.
"""

from __future__ import annotations

import math
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..backend import NUMPY_OPS, ops_of
from ..engine import fold_parameters, unfold_parameters
from ..functions import classes_of
from ..interruption import on_signal
from .callbacks import BatchInfo, Callback
from .config import TrainingConfig
from .optimizers import SGD, Momentum, Optimizer, get_optimizer
from .regularization import clip_global_norm, penalise
from .targets import OneHotLabels

if TYPE_CHECKING:
    from ..engine import Layer, Layers
    from ..network import Network

Array = npt.NDArray[np.floating]

__all__ = ["GRAD_NORM_BATCHES", "Batches"]


@contextmanager
def _stop_on_interrupt(net: Network) -> Iterator[None]:
    """Turn Ctrl-C into ``net.stop_training = True`` for the duration of training.

    The loop checks the flag after every batch, so an interrupt never leaves the
    weights half-updated.  A second Ctrl-C raises KeyboardInterrupt
    (:func:`chainrule.interruption.on_signal`: held back while a file is put in place).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if net.stop_training:  # raised now, or held back through a file's final rename
            on_signal(signum, frame)
            return
        net.stop_training = True
        net.interrupted = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: How many batches of an epoch (evenly spaced, the first included) the history's
#: gradient norms are measured on; every batch when an epoch has no more.
GRAD_NORM_BATCHES = 32

#: Rows of the epoch's outputs scored at a time for its training loss and accuracy
#: (at most; fewer for wide outputs, :func:`_metric_rows`).
_METRIC_ROWS = 1 << 16
#: Bytes of one column of a block's temporaries (a float64 or int64 per row) times its
#: outputs: blocks of ~128 KiB temporaries reuse memory the process already touched,
#: where a whole-epoch block would fault in fresh pages every epoch (~3 µs a page here).
_METRIC_BYTES = 1 << 17
#: The gather buffer of a shuffled epoch holds at most this many bytes ...
_GATHER_BYTES = 1 << 20
#: ... and this many batches: each batch slot is a view made when the epoch's batches are
#: (a tiny network's 3,000 batches would otherwise cost 6,000 views and ~1 MiB of fresh
#: pages per fit, ~1 µs a step; a smaller buffer also stays in cache).
_GATHER_BATCHES = 256


def _correct(output: Array, labels: Array) -> int:
    """Number of rows whose predicted class (``output``, (n, N_L)) is ``labels`` (n,)."""
    same = classes_of(output) == labels
    if type(same) is not np.ndarray:
        xp = ops_of(output).xp
        return int(xp.sum(xp.astype(same, xp.int64)))
    return int(np.count_nonzero(same))


def _overrides(cb: Callback, name: str) -> bool:
    return getattr(type(cb), name) is not getattr(Callback, name)


class _Bounds(Sequence[tuple[int, int]]):
    """``(lo, hi)`` of each batch of ``b`` rows out of ``n``, made when asked for."""

    def __init__(self, n: int, b: int) -> None:
        self.n, self.b, self.batches = n, b, -(-n // b)

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, k: int) -> tuple[int, int]:  # type: ignore[override]
        if k < 0:
            k += self.batches
        if not 0 <= k < self.batches:
            raise IndexError(k)
        lo = k * self.b
        return lo, min(lo + self.b, self.n)


class Batches:
    """The mini-batches of an epoch: batch ``k`` holds rows ``order[k·b : (k+1)·b]``.

    Without an order (no shuffling) a batch is a view of ``X`` and ``Y``.  With one,
    the rows of several batches are gathered at once into a reused buffer (at most
    1 MiB and 256 batches at a time, so the training set is never copied whole): one
    ``np.take`` instead of one per batch.

    Parameters
    ----------
    X, Y : arrays of shape (n, N_1), (n, N_L)
    batch_size : int
        ``b``, at most ``n``; the last batch holds the ``n − (k−1)·b`` rows left.
    """

    def __init__(self, X: Array, Y: Array, batch_size: int) -> None:
        n = X.shape[0]
        self.X, self.Y, self.size, self.n = X, Y, batch_size, n
        # A sequence of (lo, hi) made on demand: a one-epoch fit of a tiny network has
        # thousands of batches, and thousands of tuples held through the epoch would
        # wake Python's full garbage collection (tens of ms) in a fresh process.
        self.bounds: Sequence[tuple[int, int]] = _Bounds(n, batch_size)
        self.count = len(self.bounds)
        self.last_size = n - (self.count - 1) * batch_size
        self.ops = ops = ops_of(X)  # X, Y in the network's namespace
        itemsize = ops.numpy_dtype(X.dtype).itemsize
        row_bytes = (X.shape[1] + Y.shape[1]) * itemsize
        self.per_chunk = max(
            1, min(self.count, _GATHER_BATCHES, _GATHER_BYTES // (batch_size * row_bytes))
        )
        rows = self.per_chunk * batch_size
        self.xchunk = ops.empty((rows, X.shape[1]), X)
        self.ychunk = ops.empty((rows, Y.shape[1]), X)  # Y's dtype is X's (the network's)
        # Batch k of a shuffled epoch sits at slot k % per_chunk of the gather buffer
        # (two lists of views, not a list of pairs: see ``bounds``).
        self.x_slots, self.y_slots = _row_blocks(
            (self.xchunk, self.ychunk), batch_size, self.per_chunk, ops is NUMPY_OPS
        )
        j = (self.count - 1) % self.per_chunk
        self.slots_last = (
            self.xchunk[j * batch_size : j * batch_size + self.last_size, ...],
            self.ychunk[j * batch_size : j * batch_size + self.last_size, ...],
        )
        self.views: tuple[list[Array], list[Array]] | None = None  # the first unshuffled epoch's
        #: With :meth:`carry_ones`: ``id(X_k)`` of each gather slot's view → ``[X_k | 1]``.
        self.with_ones: dict[int, Array] = {}
        self.xgather = self.xchunk  # where a shuffled epoch's rows of X go
        self.xscratch: Array | None = None  # with carry_ones: the rows gathered first
        #: The rows of each batch (``sizes``) and where its ``z^L``, ``a^L`` go in the
        #: epoch's buffers of ``rows_held`` rows (``spans``).  Data-parallel batches
        #: (:class:`~chainrule.parallel.mpi.ParallelBatches`) hold a rank's
        #: rows of each global batch instead, and sum the ranks' gradients (``reduce``).
        self.sizes = [batch_size] * (self.count - 1) + [self.last_size]
        self.spans: Sequence[tuple[int, int]] = self.bounds
        self.rows_held = n
        self.reduce: Callable[[list[Layer]], list[Layer]] | None = None
        #: The epoch's loss and correct rows summed batch by batch (no epoch-sized
        #: ``z^L``, ``a^L`` buffers): data-parallel batches say so.
        self.sums_by_batch = False

    def carry_ones(self) -> None:
        """Gather ``X``'s rows next to a column of ones, for the engine's folded layers.

        The gather buffer becomes ``(rows, N_1 + 1)``, its last column ones (written
        once); each batch ``X_k`` of a shuffled epoch is a view of its first ``N_1``
        columns, and ``with_ones[id(X_k)]`` the whole ``[X_k | 1]``, which eq. 1 and
        eq. 13 of folded parameters read in one product (``Engine.forward``'s ``ones``).
        NumPy only.
        """
        if self.with_ones or self.ops is not NUMPY_OPS:
            return
        rows, cols = self.xchunk.shape
        # (NumPy's take into the strided first columns is ~3× slower than into a C-ordered
        # array and a copy: the rows are gathered into the old buffer, then copied.)
        self.xscratch = self.xchunk
        self.xchunk = np.ones((rows, cols + 1), self.xchunk.dtype)
        self.xgather = self.xchunk[:, :-1]
        full, _ = _row_blocks((self.xchunk, self.ychunk), self.size, self.per_chunk, True)
        self.x_slots = [x[:, :-1] for x in full]
        j = (self.count - 1) % self.per_chunk
        last = self.xchunk[j * self.size : j * self.size + self.last_size, ...]
        self.slots_last = (last[:, :-1], self.slots_last[1])
        self.with_ones = {id(x): f for x, f in zip(self.x_slots, full, strict=True)}
        self.with_ones[id(self.slots_last[0])] = last

    def plan(self, order: npt.NDArray[np.intp] | None) -> None:
        """Prepare an epoch in this ``order``: nothing to do, every epoch has ``sizes``."""

    def random(self, rng: np.random.Generator) -> Any:
        """The generator the engine draws this batch's dropout masks from."""
        return rng

    def row_weights(
        self, rows: slice | npt.NDArray[np.intp] | None, sample_weight: Array | None, m: int
    ) -> Array | None:
        """The weight of each row's cost in the batch loss: None is the plain mean ``1/m``."""
        if sample_weight is None:
            return None
        if rows is None or isinstance(rows, slice) or self.ops.name == "numpy":
            return sample_weight[rows] / m
        return self.ops.take_rows(sample_weight, rows) / m

    def epoch(self, order: npt.NDArray[np.intp] | None) -> Iterator[tuple[int, Array, Array]]:
        """``(k, X_k, Y_k)`` for every batch of the epoch; valid until the next batch."""
        labels = self.Y if isinstance(self.Y, OneHotLabels) else None
        if order is None and labels is not None:
            # Class labels: each batch's one-hot rows are made in the gather buffer.
            for k, (lo, hi) in enumerate(self.bounds):
                yield (
                    k,
                    self.X[lo:hi, ...],
                    labels.rows_into(slice(lo, hi), self.ychunk[: hi - lo, ...]),
                )
            return
        if order is None:
            if self.views is None:
                X, Y = self.X, self.Y
                self.views = (
                    [X[lo:hi, ...] for lo, hi in self.bounds],
                    [Y[lo:hi, ...] for lo, hi in self.bounds],
                )
            for k, Xb in enumerate(self.views[0]):
                yield k, Xb, self.views[1][k]
            return
        per_chunk, last, bs, n = self.per_chunk, self.count - 1, self.size, self.n
        x_slots, y_slots = self.x_slots, self.y_slots
        for k in range(self.count):
            j = k % per_chunk
            if j == 0:
                lo = k * bs
                hi = min(lo + per_chunk * bs, n)
                idx = order[lo:hi]
                if self.xscratch is None:
                    self.ops.take_rows(self.X, idx, out=self.xchunk[: hi - lo, ...])
                else:  # [X_k | 1]: gathered, then copied next to the column of ones
                    got = self.ops.take_rows(self.X, idx, out=self.xscratch[: hi - lo, ...])
                    np.copyto(self.xgather[: hi - lo, ...], got)
                if labels is not None:
                    labels.rows_into(idx, self.ychunk[: hi - lo, ...])
                else:
                    self.ops.take_rows(self.Y, idx, out=self.ychunk[: hi - lo, ...])
            if k == last:
                yield k, self.slots_last[0], self.slots_last[1]
            else:
                yield k, x_slots[j], y_slots[j]

    def rows(self, k: int, order: npt.NDArray[np.intp] | None) -> slice | npt.NDArray[np.intp]:
        """The training rows of batch ``k``: indices into ``X`` (a slice without an order)."""
        lo, hi = self.bounds[k]
        return slice(lo, hi) if order is None else order[lo:hi]

    def end(self, k: int) -> int:
        """How many rows an epoch has trained once batch ``k`` is done."""
        return self.bounds[k][1]


class _Epochs:
    """The one epoch body: per batch forward, backward, penalties, hooks, update.

    The engine's backward pass yields each layer as soon as its gradients are known.
    An optimizer that updates layer by layer (plain SGD) updates it right then, while
    its arrays are in cache; when something must see the whole gradient first
    (clipping, a callback's :meth:`~Callback.on_gradients`) or the optimizer works on
    all parameters at once, the loop collects the layers and :meth:`_step` follows.
    """

    def __init__(
        self,
        net: Network,
        opt: Optimizer,
        config: TrainingConfig,
        batches: Batches,
        callbacks: Sequence[Callback],
        dropout: list[float] | None,
        rng: np.random.Generator,
        sample_weight: Array | None,
    ) -> None:
        self.net, self.opt, self.batches = net, opt, batches
        self.dropout, self.rng, self.sample_weight = dropout, rng, sample_weight
        n = batches.n
        self.l2 = config.l2 / n if config.l2 else 0.0  # Nielsen's λ/n, n the training rows
        self.l1 = config.l1 / n if config.l1 else 0.0
        self.clip_norm = config.clip_norm
        self.gradient_hooks = [cb for cb in callbacks if _overrides(cb, "on_gradients")]
        self.batch_hooks = [cb for cb in callbacks if _overrides(cb, "on_batch_end")]
        self.per_layer = opt.per_layer and self.clip_norm is None and not self.gradient_hooks
        # Plain SGD whose gradient nothing else reads (no hook, clipping, L1 or MPI sum) is
        # folded into eq. 13 where that is one kernel (PyTorch's addmm_): the engine then
        # updates each layer in place and never stores ∇W (Engine.backward's ``step``).
        self.fuse = (
            self.per_layer
            and isinstance(opt, SGD)
            and type(opt).step_layer is SGD.step_layer
            and not self.batch_hooks
            and not self.l1
            and batches.reduce is None
            and ops_of(net.weights[0]).fuses_descent
        )
        # Momentum (Nesterov too) the same way, v ← μv − ηδᵀa in one product, where its
        # gradient is the loss's alone (no L2 or L1) and nothing else reads it.
        self.fuse_momentum = (
            type(opt).step is Momentum.step
            and isinstance(opt, Momentum)
            and self.clip_norm is None
            and not self.gradient_hooks
            and not self.batch_hooks
            and not self.l1
            and not self.l2
            and batches.reduce is None
            and ops_of(net.weights[0]).fuses_descent
        )
        # Plain SGD of a small network on NumPy without dropout: each layer's W^l, b^l become
        # views of one P^l = [W^l | b^l] and the batches carry a column of ones, so eq. 1's
        # bias and eq. 15 enter the products (the engine's "Folded parameters").
        self.fold = (
            self.fuse
            and not self.fuse_momentum
            and dropout is None
            and batches.count > GRAD_NORM_BATCHES  # else every step is measured, none fused
            and net.engine.foldable(net.weights, batches.size)
        )
        if self.fold:
            fold_parameters(net.weights, net.biases)
            batches.carry_ones()
        elif ops_of(net.weights[0]) is NUMPY_OPS:
            unfold_parameters(net.weights, net.biases)  # (a folded earlier fit's views)
        #: Called after every optimizer step (the trainer's max-norm and weight average).
        self.after_step: Callable[[], None] | None = None
        self.sq_norms: list[float] = []
        self.measured = 0  # batches whose gradient norms the epoch measured
        self._layers: dict[int, Layers] = {}
        # z^L and a^L of every trained row, in the order trained: the history's loss and
        # accuracy are computed from them once per epoch (the mini-batches as trained,
        # no second pass over the data, no per-batch bookkeeping).
        shape = (batches.rows_held, net.sizes[-1])  # [distributed] a rank's rows only
        W = net.weights[0]  # the epoch's buffers in the parameters' namespace and device
        self.ops = ops_of(W)
        # Class labels (many classes, training.targets) and data-parallel batches (an
        # MPI rank's peak): no epoch-sized buffers; the loss and the correct rows are
        # summed batch by batch (``batch_sums``) instead.
        self.by_batch = isinstance(batches.Y, OneHotLabels) or batches.sums_by_batch
        self.z_epoch: Any = None if self.by_batch else self.ops.empty(shape, W)
        self.a_epoch: Any = None if self.by_batch else self.ops.empty(shape, W)
        self.batch_sums = (0.0, 0.0)  # (Σ weighted cost, correct rows) with by_batch
        self._spans: Sequence[tuple[int, int]] | None = None
        self.outputs: tuple[list[Any], list[Any]] = ([], [])

    def _layers_per_batch(self) -> list[Layers | None]:
        """The engine's layers for each batch of the epoch (one set per batch size).

        Plain batches come in one or two sizes.  A data-parallel shard's batches vary
        in size from step to step, so past a few sizes a batch gets fresh layers
        (None here) rather than a cache of buffers that grows with every new size.
        """
        net, engine, cache = self.net, self.net.engine, self._layers
        if any(not layers.holds(net.weights, net.biases) for layers in cache.values()):
            # A callback replaced a parameter array between epochs.
            cache.clear()
        b = self.batches
        plain = b.spans is b.bounds  # plain batches: b.size rows each, the last b.last_size
        sizes = (b.size, b.last_size) if plain else b.sizes
        for size in dict.fromkeys(sizes):  # each size once, in order
            if size not in cache and len(cache) < 4:
                cache[size] = engine.layers(net.weights, net.biases, size, self.fold)
        if plain:  # (no walk over thousands of batches: a tiny network's fit has 3,000)
            return [cache.get(b.size)] * (b.count - 1) + [cache.get(b.last_size)]
        return list(map(cache.get, sizes))

    def _outputs(self) -> tuple[list[Any], list[Any]]:
        """Each batch's rows of the epoch's ``z^L`` and ``a^L`` buffers (views, made once)."""
        spans = self.batches.spans
        if self.by_batch:  # no epoch buffers: z^L, a^L stay in the layers' own
            return [], []
        if spans is not self._spans:
            self._spans = spans
            b = self.batches
            if spans is b.bounds:  # consecutive batches of b.size rows, the last shorter
                full = (self.z_epoch, self.a_epoch)
                self.outputs = _row_blocks(full, b.size, b.count - 1, self.ops is NUMPY_OPS)
                lo, hi = spans[-1]
                self.outputs[0].append(self.z_epoch[lo:hi, ...])
                self.outputs[1].append(self.a_epoch[lo:hi, ...])
            else:
                self.outputs = (
                    [self.z_epoch[lo:hi, ...] for lo, hi in spans],
                    [self.a_epoch[lo:hi, ...] for lo, hi in spans],
                )
        return self.outputs

    def run(self, epoch: int, lr: float, order: npt.NDArray[np.intp] | None) -> int:
        """Train one epoch (or until ``net.stop_training``); return the last batch's index.

        ``z^L``, ``a^L`` of batch ``k`` are written to its rows of ``z_epoch``, ``a_epoch``.
        """
        net, engine, batches, sw = self.net, self.net.engine, self.batches, self.sample_weight
        dropout, rng, l2, l1 = self.dropout, self.rng, self.l2, self.l1
        update = self.opt.step_layer if self.per_layer else None
        collect = update is None or bool(self.batch_hooks)
        needs_rows = sw is not None or bool(self.gradient_hooks or self.batch_hooks)
        batches.plan(order)
        all_layers, (z_out, a_out) = self._layers_per_batch(), self._outputs()
        sq_norms = self.sq_norms = [0.0] * len(net.weights)
        # ‖∇W‖² per layer and step: a Python float on NumPy (the array's own dot);
        # elsewhere a 0-d array left on the device and added up when the epoch ends,
        # so that a GPU never waits for the host within an epoch.
        host = self.ops is NUMPY_OPS
        sq_terms: list[list[Array]] = [[] for _ in net.weights]
        sqnorm = self.ops.sqnorm_term
        # The norms are measured on batches 0, s, 2s, … (about GRAD_NORM_BATCHES of them):
        # the other steps need no ∇W of their own (plain SGD folds it into the update).
        stride = -(-batches.count // GRAD_NORM_BATCHES)
        fuse, step = self.fuse, (lr, 1.0 - lr * l2)
        if self.fuse_momentum:
            fuse, step = True, (lr, 1.0, self._velocities())  # type: ignore[assignment]
        # The batches' per-batch answers, looked up once per epoch rather than per step.
        random, weights_of, reduce = batches.random, batches.row_weights, batches.reduce
        # Plain batches: the generator is rng itself, and without sample weights the row
        # weights are None (the batch mean) — no call per step for either.
        own_rng = type(batches).random is Batches.random
        no_weights = sw is None and type(batches).row_weights is Batches.row_weights
        by_batch, cost_terms, correct_terms = self.by_batch, [], []  # type: ignore[var-annotated]
        after_step = self.after_step
        with_ones = batches.with_ones if self.fold else {}  # [X_k | 1] of the gather slots
        consume: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend  # a generator, to its end
        k = -1
        for k, Xb, Yb in batches.epoch(order):
            layers = all_layers[k] or engine.layers(net.weights, net.biases, Xb.shape[0], self.fold)
            # Seed §5: feed forward, then backpropagate (steps 2–6).
            output = None if by_batch else (z_out[k], a_out[k])  # where z^L, a^L go
            ones = with_ones.get(id(Xb))  # [X_k | 1] for folded layers, else None
            engine.forward(layers, Xb, dropout, rng if own_rng else random(rng), output, ones)
            rows = row_weights = None
            if needs_rows or not no_weights:
                rows = batches.rows(k, order) if needs_rows else None
                row_weights = None if no_weights else weights_of(rows, sw, Xb.shape[0])
            if by_batch:
                cost_terms.append(self._batch_cost(layers, Yb, row_weights, k))
                if net.is_classifier:
                    correct_terms.append(_correct(layers.a[layers.L], classes_of(Yb)))
            measure = k % stride == 0
            if fuse and not measure:
                # Eq. 13 and the SGD step in one product per layer (weight decay included);
                # the layers it yields, updated already, are passed over in C.
                consume(engine.backward(layers, Yb, row_weights, step))
            else:
                finished: Iterable[Layer] = engine.backward(layers, Yb, row_weights)
                if reduce is not None:
                    # [distributed] all layers' gradients; one Allreduce sums the ranks'.
                    finished = reduce(list(finished))
                for layer in finished:
                    if l2 or l1:
                        penalise(layer, l2, l1)  # Nielsen's (λ/n) W and (λ/n) sgn W
                    if measure:
                        g = layer.grad_W_flat
                        if host:
                            sq_norms[layer.l - 2] += float(g.dot(g))
                        else:
                            sq_terms[layer.l - 2].append(sqnorm(g))
                    if update is not None:
                        # Gradient descent on this layer, now that eq. 9 is done with its W^l.
                        update(layer, lr)
                if collect:
                    self._step(epoch, k, lr, layers, Yb, rows, row_weights, update is None)
            if after_step is not None:
                after_step()
            if net.stop_training:
                break
        if not host:
            self.sq_norms = [self.ops.total(terms) for terms in sq_terms]
        self.measured = k // stride + 1
        if by_batch:
            self.batch_sums = (
                self.ops.total(cost_terms) if not host else sum(cost_terms),
                float(sum(correct_terms)),
            )
        return k

    def _velocities(self) -> Any:
        """Momentum's state for the engine's fused step: μ, Nesterov, ``vW[l]``, ``vb[l]``."""
        opt, net = self.opt, self.net
        assert isinstance(opt, Momentum)
        v = opt.velocities([*net.weights, *net.biases])
        k = len(net.weights)
        return SimpleNamespace(
            mu=opt.momentum, nesterov=opt.nesterov, vW=[None, None, *v[:k]], vb=[None, None, *v[k:]]
        )

    def _batch_cost(self, layers: Layers, Yb: Array, row_weights: Array | None, k: int) -> Any:
        """Batch ``k``'s summed cost, each row weighted as in the epoch's mean loss."""
        L = layers.L
        costs = self.net.cost.value(layers.z[L], layers.a[L], Yb, layers.σ[L])
        if row_weights is not None:
            lo, hi = self.batches.bounds[k]  # (all ranks' rows: the weights are w_i / m)
            costs = costs * row_weights * (hi - lo)  # the sample weights (mean 1)
        if self.ops is NUMPY_OPS:
            return float(costs.sum(dtype=np.float64))
        return self.ops.xp.sum(costs)

    def _step(
        self,
        epoch: int,
        k: int,
        lr: float,
        layers: Layers,
        Yb: Array,
        rows: slice | npt.NDArray[np.intp] | None,
        row_weights: Array | None,
        step: bool,
    ) -> None:
        """After the backward pass: the callbacks' hooks and the whole-gradient step."""
        net = self.net
        info = None
        if rows is not None and (self.gradient_hooks or self.batch_hooks):
            info = self._info(epoch, k, layers, Yb, rows, row_weights)
            for cb in self.gradient_hooks:
                cb.on_gradients(net, info)
        if step:
            grad_w, grad_b = layers.grad_W[2:], layers.grad_b[2:]
            if self.clip_norm is not None:
                # After the norms are recorded, so the history shows what was clipped.
                clip_global_norm([*grad_w, *grad_b], self.clip_norm)
            # The optimizer turns the whole gradient into an update, in place.
            self.opt.step([*net.weights, *net.biases], [*grad_w, *grad_b], lr)
        if info is not None:
            for cb in self.batch_hooks:
                cb.on_batch_end(net, info)

    def _info(
        self,
        epoch: int,
        k: int,
        layers: Layers,
        Yb: Array,
        rows: slice | npt.NDArray[np.intp],
        row_weights: Array | None,
    ) -> BatchInfo:
        size = Yb.shape[0]
        costs = self.net.cost.value(layers.z[layers.L], layers.a[layers.L], Yb, layers.σ[layers.L])
        if row_weights is not None:
            costs = costs * row_weights * size
        total = float(costs.sum() if self.ops.name == "numpy" else self.ops.xp.sum(costs))
        return BatchInfo(
            epoch,
            k,
            self.batches.count,
            size,
            total / size,
            layers.grad_W[2:],
            layers.grad_b[2:],
            rows=rows,
        )


def _row_blocks(
    arrays: tuple[Any, Any], size: int, count: int, numpy: bool
) -> tuple[list[Any], list[Any]]:
    """Views of rows ``[j·size, (j+1)·size)`` of both arrays, for ``j < count``: two lists.

    On NumPy, one reshape to ``(count, size, columns)`` and iteration over it
    (about half the time of slicing ``count`` times, for the thousands of batches of
    a small network); elsewhere slices (the array API defines no iteration).
    """
    X, Y = arrays
    if numpy:  # (the buffers are C-contiguous: the reshapes are views, never copies)
        rows = count * size
        return (
            list(X[:rows].reshape(count, size, X.shape[1])),
            list(Y[:rows].reshape(count, size, Y.shape[1])),
        )
    return (
        [X[j * size : (j + 1) * size, ...] for j in range(count)],
        [Y[j * size : (j + 1) * size, ...] for j in range(count)],
    )


def _epoch_metrics(
    net: Network,
    zL: Array,
    aL: Array,
    Y: Array,
    order: npt.NDArray[np.intp] | None,
    sample_weight: Array | None,
    labels: Array | None = None,
) -> tuple[float, float]:
    """The epoch's training loss and accuracy from the ``z^L``, ``a^L`` rows as trained.

    ``zL``, ``aL`` (m, N_L) hold the first ``m`` rows of the epoch in training order
    (``order``, or the data order when not shuffled); one vectorised pass here
    replaces a per-batch cost and accuracy.  ``labels`` (n,), the classes of all
    rows of ``Y`` (:func:`~chainrule.functions.classes_of`), saves finding them again
    every epoch.
    """
    m = zL.shape[0]
    ops = ops_of(zL)
    total = 0.0
    correct = 0
    # In blocks of rows: the cost's temporaries (a log of a^L, the targets in training
    # order) stay ~128 KiB, not several copies of the epoch's (m, N_L) outputs.
    block = _metric_rows(zL.shape[1])
    for lo in range(0, m, block):
        hi = min(lo + block, m)
        if order is None:
            Yt = Y[lo:hi, ...]
            weights = None if sample_weight is None else sample_weight[lo:hi]
            labels_t = None if labels is None else labels[lo:hi]
        else:
            idx = order[lo:hi]
            Yt = ops.take_rows(Y, idx)
            weights = None if sample_weight is None else ops.take_rows(sample_weight, idx)
            labels_t = None if labels is None else ops.take_rows(labels, idx)
        z, a = zL[lo:hi, ...], aL[lo:hi, ...]
        costs = net.cost.value(z, a, Yt, net.output_activation)
        if weights is not None:
            costs = costs * weights
        total += float(costs.sum(dtype=np.float64) if ops.name == "numpy" else ops.xp.sum(costs))
        if net.is_classifier:
            correct += _correct(a, classes_of(Yt) if labels_t is None else labels_t)
    loss = total / m
    if not net.is_classifier:
        return loss, math.nan
    return loss, correct / m


def _metric_rows(outputs: int) -> int:
    """Rows per block of :func:`_epoch_metrics` for ``outputs`` columns (at least 1,024)."""
    return min(_METRIC_ROWS, max(1024, _METRIC_BYTES // (8 * max(outputs, 1))))


def _resolve_optimizer(net: Network, spec: str | Optimizer | None) -> Optimizer:
    """Reuse the network's optimizer (and its state) unless a different one is asked for."""
    current: Optimizer | None = net.optimizer
    if spec is None:
        opt = current if current is not None else get_optimizer("sgd")
    elif isinstance(spec, str) and current is not None and _same_kind(current, spec):
        opt = current
    else:
        opt = get_optimizer(spec)
    net.optimizer = opt
    return opt


def _same_kind(opt: Optimizer, name: str) -> bool:
    if name == "nesterov":
        return opt.name == "momentum" and bool(getattr(opt, "nesterov", False))
    if name == "momentum":
        return opt.name == "momentum" and not getattr(opt, "nesterov", False)
    return opt.name == name
