"""The training loop: mini-batch stochastic gradient descent (seed §5; Nielsen ch. 1).

For each epoch: shuffle, cut into mini-batches, and for each batch compute the
gradient by backpropagation and hand it to the optimizer.  Everything that varies
between training recipes (the optimizer, callbacks) is a parameter, so the loop
itself stays short.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .callbacks import BatchInfo, Callback
from .divergence import check_divergence
from .history import History
from .optimizers import SGD, Optimizer, get_optimizer
from .regularization import add_l1, add_l2, clip_global_norm
from .schedules import Schedule, get_schedule

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..network import Network
    from .distributed import DataParallel

Array = npt.NDArray[np.floating]

__all__ = ["train"]


@contextmanager
def _stop_on_interrupt(net: Network) -> Iterator[None]:
    """Turn Ctrl-C into ``net.stop_training = True`` for the duration of training.

    The loop checks the flag after every batch, so an interrupt never leaves the
    weights half-updated.  A second Ctrl-C raises KeyboardInterrupt as usual.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if net.stop_training:
            raise KeyboardInterrupt
        net.stop_training = True
        net.interrupted = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _correct(output: Array, Y: Array) -> int:
    """Number of rows whose predicted class matches the target's."""
    if output.shape[1] == 1:
        return int(np.count_nonzero((output[:, 0] > 0.5) == (Y[:, 0] > 0.5)))
    return int(np.count_nonzero(output.argmax(axis=1) == Y.argmax(axis=1)))


def _overrides(cb: Callback, name: str) -> bool:
    return getattr(type(cb), name) is not getattr(Callback, name)


def train(
    net: Network,
    X: Array,
    Y: Array,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    optimizer: str | Optimizer | None = None,
    validation_data: tuple[Array, Array] | None = None,
    shuffle: bool = True,
    rng: np.random.Generator,
    callbacks: Sequence[Callback] = (),
    dropout: Sequence[float] | None = None,
    l2: float = 0.0,
    sample_weight: Array | None = None,
    l1: float = 0.0,
    clip_norm: float | None = None,
    schedule: str | Schedule | None = None,
    parallel: DataParallel | None = None,
) -> History:
    """Train ``net`` in place; see :meth:`chainrule.Network.fit` for the parameters.

    ``X`` (n, N_1) and ``Y`` (n, N_L) are validated arrays in the network's dtype;
    ``sample_weight`` (n,), if given, averages 1 over the training set.
    ``parallel`` trains data-parallel over MPI (:mod:`.distributed`); the lines
    marked ``[distributed]`` are all it changes.
    """
    par = parallel
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate}")

    if clip_norm is not None and not (clip_norm > 0 and math.isfinite(clip_norm)):
        raise ValueError(f"clip_norm must be a positive number, got {clip_norm}")
    sched = get_schedule(schedule)
    opt = _resolve_optimizer(net, optimizer)
    engine = net.engine
    n = X.shape[0] if par is None else par.n_rows(X)  # [distributed] all ranks' rows
    batch_size = min(batch_size, n)
    n_batches = math.ceil(n / batch_size)
    n_layers = len(net.weights)
    classifier = net.is_classifier
    history = History()
    first_epoch = len(net.history) + 1
    batch_cbs = [cb for cb in callbacks if _overrides(cb, "on_batch_end")]
    net.stop_training = False
    net.interrupted = False

    # Gathering a shuffled batch copies just that batch into a reused buffer.
    xbuf = np.empty((batch_size, X.shape[1]), dtype=X.dtype)
    ybuf = np.empty((batch_size, Y.shape[1]), dtype=Y.dtype)
    # z^L and a^L of every trained row, in the order trained: the history's loss and
    # accuracy are computed from them once per epoch (the mini-batches as trained,
    # no second pass over the data, no per-batch bookkeeping).
    n_out = Y.shape[1]
    # [distributed] X.shape[0]: a shard's rows are all this rank trains in an epoch.
    z_epoch = np.empty((X.shape[0], n_out), dtype=X.dtype)
    a_epoch = np.empty((X.shape[0], n_out), dtype=X.dtype)
    # Plain SGD without per-batch hooks takes the engine's fused step (bitwise the
    # same arithmetic as forward + backward + SGD.step); everything else the general one.
    fused = (par is None and type(opt) is SGD and not l1 and clip_norm is None and not batch_cbs
             and not (dropout is not None and any(p > 0 for p in dropout)))
    runner = (_FusedEpochs(net, X, Y, batch_size, z_epoch, a_epoch, shuffle)
              if fused else None)
    l2_scale = l2 / n if l2 else 0.0

    sched.begin(learning_rate, epochs)
    for cb in callbacks:
        cb.on_train_begin(net, history)
    # [distributed] Ctrl-C ends an MPI job (mpiexec); a per-rank stop flag could desync.
    with _stop_on_interrupt(net) if par is None else nullcontext():
        for epoch in range(first_epoch, first_epoch + epochs):
            for cb in callbacks:
                cb.on_epoch_begin(net, epoch)
            start = time.perf_counter()
            order = rng.permutation(n) if shuffle else None
            seen = 0
            sq_norms = [0.0] * n_layers
            lr = float(sched.rate(epoch - first_epoch))
            if not (lr > 0 and math.isfinite(lr)):
                raise ValueError(f"the {sched.name} schedule gave learning rate {lr} "
                                 f"for epoch {epoch}")
            if runner is not None:
                # Seed §5 steps 2–6 and the update, one engine call per mini-batch.
                k = runner.epoch(order, lr, sq_norms, sample_weight, l2_scale)
                seen = min((k + 1) * batch_size, n)
            else:
                for k in range(n_batches):
                    lo, hi = k * batch_size, min((k + 1) * batch_size, n)
                    zlo, zhi, batch_rng, reuse = lo, hi, rng, True
                    row_weights = None
                    if par is not None:  # [distributed] this rank's rows of the global batch
                        Xb, Yb, row_weights, batch_rng, (zlo, zhi) = par.batch(
                            X, Y, order, lo, hi, sample_weight, rng)
                        reuse = par.reuse
                    elif order is None:
                        Xb, Yb = X[lo:hi], Y[lo:hi]
                    else:
                        idx = order[lo:hi]
                        # mode="clip": the indices are a permutation, always in range, and
                        # NumPy's default mode="raise" with out= gathers through a temporary.
                        Xb = np.take(X, idx, axis=0, out=xbuf[: hi - lo], mode="clip")
                        Yb = np.take(Y, idx, axis=0, out=ybuf[: hi - lo], mode="clip")
                    if sample_weight is not None and par is None:
                        sw = sample_weight[lo:hi] if order is None else sample_weight[order[lo:hi]]
                        row_weights = sw / (hi - lo)
                    seen = hi
                    # Seed §5: feed forward, then backpropagate (steps 2–6).
                    fwd = engine.forward(net.weights, net.biases, Xb, dropout=dropout,
                                         rng=batch_rng, reuse=reuse)
                    z_epoch[zlo:zhi] = fwd.z[-1]
                    a_epoch[zlo:zhi] = fwd.output
                    bwd = engine.backward(net.weights, fwd, Yb, row_weights=row_weights,
                                          reuse=reuse)
                    if par is not None:  # [distributed] one Allreduce: Σ_ranks = batch mean
                        par.reduce(bwd.grad_weights, bwd.grad_biases)
                    # Nielsen's penalties, with n the training-set size: (λ/n) W, (λ/n) sgn W.
                    if l2:
                        add_l2(bwd.grad_weights, net.weights, l2, n)
                    if l1:
                        add_l1(bwd.grad_weights, net.weights, l1, n)
                    for i, gw in enumerate(bwd.grad_weights):
                        flat = gw.reshape(-1)
                        sq_norms[i] += float(np.dot(flat, flat))
                    if clip_norm is not None:
                        # After the norms are recorded, so the history shows what was clipped.
                        clip_global_norm([*bwd.grad_weights, *bwd.grad_biases], clip_norm)
                    # Gradient descent: the optimizer turns ∇E into an update, in place.
                    opt.step([*net.weights, *net.biases], [*bwd.grad_weights, *bwd.grad_biases], lr)
                    if batch_cbs:
                        costs = engine.per_example_cost(fwd, Yb)
                        if row_weights is not None:
                            costs = costs * row_weights * (hi - lo)
                        info = BatchInfo(epoch, k, n_batches, hi - lo,
                                         float(costs.sum()) / (hi - lo),
                                         bwd.grad_weights, bwd.grad_biases)
                        for cb in batch_cbs:
                            cb.on_batch_end(net, info)
                    if net.stop_training:
                        break
            if seen == 0:
                break
            if par is not None:  # [distributed] sums over all ranks' rows
                train_loss, train_acc, val_loss, val_acc = par.epoch_metrics(
                    net, z_epoch, a_epoch, Y, sample_weight, validation_data)
            else:
                train_loss, train_acc = _epoch_metrics(engine, z_epoch[:seen], a_epoch[:seen],
                                                       Y, order, sample_weight, classifier)
                val_loss = val_acc = math.nan
                if validation_data is not None:
                    val_loss, val_acc = net._evaluate_arrays(*validation_data)
            history.append(
                epoch=epoch,
                train_loss=train_loss,
                train_accuracy=train_acc,
                val_loss=val_loss,
                val_accuracy=val_acc,
                learning_rate=lr,
                grad_norms=[math.sqrt(s / (k + 1)) for s in sq_norms],
                seconds=time.perf_counter() - start,
            )
            net.history.extend(_last(history))
            sched.observe(history)
            if sched.stop:
                net.stop_training = True
            for cb in callbacks:
                cb.on_epoch_end(net, history)
            check_divergence(net)  # a NaN or exploding run raises TrainingDiverged
            if net.stop_training:
                break
    for cb in callbacks:
        cb.on_train_end(net, history)
    return history


class _FusedEpochs:
    """Plain SGD epochs through :meth:`Engine.train_step`, one call per mini-batch.

    Everything a step needs is prepared once per ``fit``: the engine's plans (one per
    batch size), views of the epoch's ``z^L``/``a^L`` buffers, and a gather buffer
    that collects the shuffled rows of several batches with one ``np.take`` (about
    1 MiB at a time, so the training set is never copied whole).
    """

    def __init__(self, net: Network, X: Array, Y: Array, batch_size: int,
                 z_epoch: Array, a_epoch: Array, shuffle: bool) -> None:
        n = X.shape[0]
        self.net, self.X, self.Y, self.bs, self.n = net, X, Y, batch_size, n
        bounds = [(lo, min(lo + batch_size, n)) for lo in range(0, n, batch_size)]
        self.n_batches = len(bounds)
        self.step = net.engine.train_step
        self._plan()
        m_last = bounds[-1][1] - bounds[-1][0]
        self.z_views = [z_epoch[lo:hi] for lo, hi in bounds]
        self.a_views = [a_epoch[lo:hi] for lo, hi in bounds]
        row_bytes = X.shape[1] * X.itemsize + Y.shape[1] * Y.itemsize
        self.per_chunk = max(1, min(self.n_batches, (1 << 20) // (batch_size * row_bytes)))
        rows = self.per_chunk * batch_size
        self.xchunk = np.empty((rows, X.shape[1]), X.dtype)
        self.ychunk = np.empty((rows, Y.shape[1]), Y.dtype)
        if shuffle:
            # Batch k of the epoch sits at slot k % per_chunk of the gather buffer.
            slots = [(j * batch_size, (j + 1) * batch_size) for j in range(self.per_chunk)]
            self.x_views = [self.xchunk[lo:hi] for lo, hi in slots]
            self.y_views = [self.ychunk[lo:hi] for lo, hi in slots]
            j = (self.n_batches - 1) % self.per_chunk
            self.x_last = self.xchunk[j * batch_size: j * batch_size + m_last]
            self.y_last = self.ychunk[j * batch_size: j * batch_size + m_last]
        else:
            self.x_views = [X[lo:hi] for lo, hi in bounds]
            self.y_views = [Y[lo:hi] for lo, hi in bounds]

    def _plan(self) -> None:
        """The engine's plans, holding the network's current parameter arrays."""
        net, bs, n = self.net, self.bs, self.n
        full = net.engine.sgd_plan(net.weights, net.biases, bs)
        m_last = n - (self.n_batches - 1) * bs
        last = full if m_last == bs else net.engine.sgd_plan(net.weights, net.biases, m_last)
        self.plans = [full] * (self.n_batches - 1) + [last]
        self.params = [*net.weights, *net.biases]

    def epoch(self, order: npt.NDArray[np.intp] | None, lr: float, sq_norms: list[float],
              sample_weight: Array | None, l2: float) -> int:
        """Train one epoch (or until ``net.stop_training``); return the last batch index."""
        if any(p is not q for p, q in zip(self.params, [*self.net.weights, *self.net.biases],
                                          strict=True)):
            self._plan()  # a callback replaced a parameter array between epochs
        net, step, n, bs = self.net, self.step, self.n, self.bs
        plans, zv, av = self.plans, self.z_views, self.a_views
        per_chunk, last = self.per_chunk, self.n_batches - 1
        rw = None
        k = 0
        for k in range(self.n_batches):
            if order is None:
                Xb, Yb = self.x_views[k], self.y_views[k]
            else:
                j = k % per_chunk
                if j == 0:
                    lo = k * bs
                    hi = min(lo + per_chunk * bs, n)
                    idx = order[lo:hi]
                    # mode="clip": the indices are a permutation, always in range, and
                    # NumPy's default mode="raise" with out= gathers through a temporary.
                    np.take(self.X, idx, axis=0, out=self.xchunk[: hi - lo], mode="clip")
                    np.take(self.Y, idx, axis=0, out=self.ychunk[: hi - lo], mode="clip")
                if k == last:
                    Xb, Yb = self.x_last, self.y_last
                else:
                    Xb, Yb = self.x_views[j], self.y_views[j]
            if sample_weight is not None:
                lo, hi = k * bs, min((k + 1) * bs, n)
                sw = sample_weight[lo:hi] if order is None else sample_weight[order[lo:hi]]
                rw = sw / (hi - lo)
            step(plans[k], Xb, Yb, zv[k], av[k], lr, sq_norms, rw, l2)
            if net.stop_training:
                break
        return k


def _epoch_metrics(
    engine: Any, zL: Array, aL: Array, Y: Array, order: npt.NDArray[np.intp] | None,
    sample_weight: Array | None, classifier: bool,
) -> tuple[float, float]:
    """The epoch's training loss and accuracy from the ``z^L``, ``a^L`` rows as trained.

    ``zL``, ``aL`` (m, N_L) hold the first ``m`` rows of the epoch in training order
    (``order``, or the data order when not shuffled); one vectorised pass here
    replaces a per-batch cost and accuracy.
    """
    m = zL.shape[0]
    rows = order[:m] if order is not None else slice(0, m)
    Yt = Y[rows] if order is None else np.take(Y, rows, axis=0)
    sigma_L = engine.sigma[-1]
    costs = engine.cost.value(zL, aL, Yt, sigma_L)
    if sample_weight is not None:
        costs = costs * sample_weight[rows]
    loss = float(costs.sum(dtype=np.float64)) / m
    acc = _correct(aL, Yt) / m if classifier else math.nan
    return loss, acc


def _last(history: History) -> History:
    """A one-epoch history holding the last entry of ``history``."""
    return History(**{name: [getattr(history, name)[-1]]
                      for name in History.__dataclass_fields__})


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

