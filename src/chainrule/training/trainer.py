"""``Trainer``: trains a network — begin, one epoch at a time, end (seed §5; Nielsen ch. 1).

:meth:`chainrule.Network.fit` is ``Trainer(net, X, Y, ...).run()``.  The Trainer
holds everything that belongs to a training run rather than to the model: the
checked (and held-out) data, the sample weights, the callbacks and early
stopping, the learning-rate schedule, the epoch machinery of
:mod:`chainrule.training.loop` (the mini-batches, the one epoch body) and the
full-batch L-BFGS branch.  The network it trains is used through its public API
only (``check_inputs``, ``check_targets``, ``on_backend``, ``evaluate_arrays``,
``engine``, ``weights``, ``biases``, ``history``, ``optimizer``, ``stop_training``).

Driving it by hand, one epoch at a time (as ``chainrule.sklearn`` does)::

    trainer = Trainer(net, X, Y, epochs=100, batch_size=32)
    with trainer:                       # begin() ... end()
        while not trainer.stopped:
            stats = trainer.run_epoch() # an EpochStats: losses, accuracies, η, time
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..backend import NUMPY_OPS, to_numpy
from ..functions import classes_of
from .averaging import ExponentialAverage
from .callbacks import Callback
from .config import TrainingConfig
from .constraints import MaxNorm
from .divergence import check_divergence
from .early_stopping import EarlyStopping, holdout_split
from .history import History
from .lbfgs import LBFGS, fit_lbfgs
from .loop import (
    Batches,
    _epoch_metrics,
    _Epochs,
    _resolve_optimizer,
    _stop_on_interrupt,
)
from .progress import with_progress
from .schedules import Schedule, get_schedule
from .targets import OneHotLabels

if TYPE_CHECKING:
    from ..network import Network
    from ..parallel.mpi import DataParallel

Array = npt.NDArray[np.floating]

__all__ = ["EpochStats", "Trainer", "TrainingRun", "normalised_weights"]


@dataclass(frozen=True)
class EpochStats:
    """One epoch's statistics, as :meth:`Trainer.run_epoch` returns them.

    The fields are those of one :class:`~chainrule.training.history.History` entry.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    learning_rate: float
    grad_norms: list[float]
    seconds: float


@dataclass
class TrainingRun:
    """One training run described whole: the network, the data and the configuration.

    What ``chainrule train`` builds from its options and hands to the library;
    :meth:`run` is ``network.fit(X, Y, config, ...)``.

    Attributes
    ----------
    network : Network
    X : array-like of shape (n, N_1)
    Y : array-like of shape (n, N_L), or (n,) class labels
    config : TrainingConfig
        Every hyper-parameter, ``validation_fraction`` included.
    validation_data : (X_val, Y_val), optional
    seed : int, optional
        Re-seeds the network's generator (shuffling, dropout, the held-out rows).
    callbacks : list of Callback
    comm : optional
        An MPI communicator: train data-parallel (:mod:`chainrule.parallel`).
    sample_weight : array-like of shape (n,), optional
        One weight per training row (e.g. ``--class-weight balanced``).
    """

    network: Network
    X: Any
    Y: Any
    config: TrainingConfig
    validation_data: tuple[Any, Any] | None = None
    seed: int | None = None
    callbacks: list[Callback] = field(default_factory=list)
    comm: Any = None
    sample_weight: Any = None

    @property
    def validation_rows(self) -> int:
        """Rows evaluated after each epoch (given, or held out of ``X``)."""
        if self.validation_data is not None:
            return len(self.validation_data[0])
        return int(len(self.X) * float(self.config.validation_fraction or 0.0))

    def run(self) -> History:
        """Train; the run's history (``network.history`` holds every run's)."""
        extra: dict[str, Any] = {} if self.comm is None else {"comm": self.comm}
        if self.sample_weight is not None:
            extra["sample_weight"] = self.sample_weight
        return self.network.fit(
            self.X,
            self.Y,
            self.config,
            validation_data=self.validation_data,
            seed=self.seed,
            callbacks=self.callbacks,
            **extra,
        )


class Trainer:
    """Train ``net`` on ``(X, Y)``: :meth:`begin`, :meth:`run_epoch` …, :meth:`end`.

    The parameters are those of :meth:`chainrule.Network.fit` (which see): the
    inputs are checked, the validation rows held out and the settings resolved
    here, once, so a refused argument changes nothing.

    Parameters
    ----------
    net : Network
        Trained in place; its ``history`` gains one entry per epoch.
    X : array-like of shape (n, N_1)
    Y : array-like of shape (n, N_L), or (n,) integer class labels
    config : TrainingConfig, optional
        The hyper-parameters; keyword ``settings`` override its fields.
    validation_data : (X_val, Y_val), optional
    sample_weight : array-like of shape (n,), optional
    seed : int, optional
        Re-seeds the network's generator (shuffling, dropout, the held-out split).
    callbacks : sequence of Callback
    verbose : bool or str
        The progress display (:func:`~chainrule.training.progress.with_progress`).
    parallel : DataParallel, optional
        Data-parallel training over MPI (:mod:`chainrule.parallel`), inside its
        session; :meth:`chainrule.Network.fit` makes it from a communicator.
    **settings
        Fields of :class:`~chainrule.training.config.TrainingConfig`.
    """

    def __init__(
        self,
        net: Network,
        X: npt.ArrayLike,
        Y: npt.ArrayLike,
        config: TrainingConfig | None = None,
        *,
        validation_data: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
        sample_weight: npt.ArrayLike | None = None,
        seed: int | None = None,
        callbacks: Sequence[Callback] = (),
        verbose: bool | str = False,
        parallel: DataParallel | None = None,
        **settings: Any,
    ) -> None:
        unknown = sorted(set(settings) - set(TrainingConfig.__dataclass_fields__))
        if unknown:
            raise TypeError(f"fit() got an unexpected keyword argument {unknown[0]!r}")
        config = (
            (config or TrainingConfig()).replace(**settings)
            if settings
            else (config or TrainingConfig())
        )
        par = parallel
        self.net, self.parallel = net, par
        self.lbfgs = config.optimizer == "lbfgs" or isinstance(config.optimizer, LBFGS)
        # Checked and split on the host (NumPy) and placed on the backend just before
        # training; an array already of the network's namespace stays where it is.
        X2, _ = net.check_inputs(X, place=net.is_native(X))
        # Many classes: labels, not an n × classes matrix (not for L-BFGS or MPI).
        labels_ok = par is None and not self.lbfgs
        Y2 = net.check_targets(Y, X2.shape[0], place=False, labels_ok=labels_ok)
        if seed is not None:
            net.rng = np.random.default_rng(seed)
        rng = self.rng = net.rng
        val = None
        if validation_data is not None and config.validation_fraction is not None:
            raise ValueError("give either validation_data or validation_fraction, not both")
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, Y_val)")
            Xv, _ = net.check_inputs(
                validation_data[0], name="validation X", place=net.is_native(validation_data[0])
            )
            val = (
                Xv,
                net.check_targets(
                    validation_data[1], Xv.shape[0], place=False, labels_ok=labels_ok
                ),
            )
        sw = None
        if sample_weight is not None:
            sw = normalised_weights(to_numpy(sample_weight), X2.shape[0])
        if par is not None and par.rows is not None and config.validation_fraction is not None:
            raise ValueError(
                "validation_fraction cannot hold rows out of a shard: give each "
                "rank its shard of the validation data as validation_data"
            )
        if config.validation_fraction is not None:
            X2, Y2, Xv, Yv, sw = holdout_split(
                X2,
                Y2,
                config.validation_fraction,
                rng,
                stratify=net.is_classifier,
                sample_weight=sw,
            )
            val = (Xv, Yv)
        weights = None
        if sw is not None:
            # Normalised so the weights average 1: a batch's loss stays a mean.
            weights = sw / sw.sum() * X2.shape[0]
            if par is not None and par.rows is not None:  # [distributed] mean 1 over all ranks
                assert sample_weight is not None
                weights = par.average_one(sample_weight)
        config.dropout_rates(len(net.sizes) - 2)  # one rate per hidden layer
        callbacks = with_progress(callbacks, verbose, len(net.history) + config.epochs)
        if config.early_stopping is not None:
            stopper = (
                config.early_stopping
                if isinstance(config.early_stopping, EarlyStopping)
                else EarlyStopping(monitor=config.early_stopping, patience=config.patience)
            )
            callbacks.append(stopper)
        sched: Schedule = get_schedule(config.schedule)
        config = config.replace(schedule=sched)
        monitors = [getattr(sched, "monitor", "")]
        monitors += [cb.monitor for cb in callbacks if isinstance(cb, EarlyStopping)]
        if val is None and any(m.startswith("val_") for m in monitors):
            raise ValueError(
                "early stopping and the plateau schedule watch validation "
                "metrics: give validation_data or validation_fraction"
            )
        if not net.is_classifier and "val_accuracy" in monitors:
            raise ValueError(
                "val_accuracy needs a classifier (sigmoid or softmax output); "
                "monitor val_loss for this network"
            )
        if self.lbfgs:
            # Full-batch L-BFGS has its own driver (SciPy's L-BFGS-B); see training/lbfgs.py.
            if par is not None:
                raise ValueError(
                    "optimizer='lbfgs' does not train data-parallel (comm); use a "
                    "stochastic optimizer"
                )
            if net.ops is not NUMPY_OPS:
                raise ValueError(
                    "optimizer='lbfgs' (SciPy's L-BFGS-B) trains NumPy networks "
                    "only: call net.to('numpy') first, or use a stochastic "
                    "optimizer"
                )
            _check_lbfgs_options(
                dropout=config.dropout,
                input_dropout=config.input_dropout,
                l1=config.l1,
                clip_norm=config.clip_norm,
                max_norm=config.max_norm,
                average_decay=config.average_decay,
                schedule=getattr(config.schedule, "name", config.schedule),
            )
        elif net.ops is not NUMPY_OPS:
            X2, Y2, weights = (net.on_backend(a) for a in (X2, Y2, weights))
            if val is not None:
                val = (net.on_backend(val[0]), net.on_backend(val[1]))
        self.config, self.schedule, self.callbacks = config, sched, callbacks
        self.X, self.Y, self.sample_weight, self.validation_data = X2, Y2, weights, val
        #: This run's epochs (``net.history`` holds every run's).
        self.history = History()
        self._stack: ExitStack | None = None
        self._epochs: _Epochs | None = None
        self._ended = False
        self.average: ExponentialAverage | None = None  # average_decay's, made by begin()

    # ------------------------------------------------------------------ the run

    def run(self) -> History:
        """Train every epoch of the configuration (or until stopped); the run's history."""
        if self.lbfgs:
            return self._run_lbfgs()
        with self:
            while not self.stopped:
                self.run_epoch()
        return self.history

    def __enter__(self) -> Trainer:
        self.begin()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.end()
        else:
            self._close()  # an error: the SIGINT handler goes, the callbacks are not told

    def begin(self) -> None:
        """Start the run: the optimizer, the mini-batches, ``on_train_begin``, Ctrl-C."""
        if self.lbfgs:
            raise ValueError(
                "optimizer='lbfgs' trains on the whole set at once, not epoch by epoch: call run()"
            )
        if self._stack is not None:
            raise RuntimeError("this Trainer has begun already")
        net, config, par, X, Y = self.net, self.config, self.parallel, self.X, self.Y
        assert not isinstance(config.optimizer, LBFGS)  # self.lbfgs, refused above
        opt = _resolve_optimizer(net, config.optimizer)
        dropout = config.dropout_rates(len(net.sizes) - 2)
        n = X.shape[0] if par is None else par.n_rows(X)  # [distributed] all ranks' rows
        self.n = n
        self.batches: Batches = (
            Batches(X, Y, min(config.batch_size, n))
            if par is None
            else par.batches(X, Y, min(config.batch_size, n), self.sample_weight, self.rng)
        )
        self.first_epoch = len(net.history) + 1
        self._epochs = _Epochs(
            net, opt, config, self.batches, self.callbacks, dropout, self.rng, self.sample_weight
        )
        self._epochs.after_step, self.average = _after_step(net, config)
        self._labels = (
            None
            if isinstance(Y, OneHotLabels) or not net.is_classifier or par is not None
            else classes_of(Y)
        )  # once, not every epoch (data-parallel epochs sum batch by batch: none)
        self._stop = False
        net.stop_training = False
        net.interrupted = False
        self.schedule.begin(config.learning_rate, config.epochs)
        for cb in self.callbacks:
            cb.on_train_begin(net, self.history)
        self._stack = ExitStack()
        # [distributed] Ctrl-C ends an MPI job (mpiexec); a per-rank stop flag could desync.
        self._stack.enter_context(_stop_on_interrupt(net) if par is None else nullcontext())
        # Small products: one BLAS thread for the run (the engine decides; a no-op else).
        self._stack.enter_context(net.engine.blas_threads(net.weights, self.batches.size))

    @property
    def epoch(self) -> int:
        """The number the next epoch will have (counting across runs, from 1)."""
        return self.first_epoch + len(self.history)

    @property
    def stopped(self) -> bool:
        """True once every configured epoch ran, or a callback, the schedule or Ctrl-C
        stopped the run."""
        return self._stop or self.net.stop_training or len(self.history) >= self.config.epochs

    def run_epoch(
        self, order: npt.NDArray[np.intp] | None = None, *, learning_rate: float | None = None
    ) -> EpochStats | None:
        """Train one epoch; its statistics, also appended to the histories.

        Parameters
        ----------
        order : array of int of shape (n,), optional
            The rows in the order to train them (batch ``k`` is
            ``order[k·b:(k+1)·b]``).  Default: a permutation drawn from the
            network's generator when ``shuffle`` is set, the data order otherwise.
        learning_rate : float, optional
            η for this epoch instead of the schedule's.

        Returns
        -------
        EpochStats or None
            None when no batch was trained (stopped before the first one).
        """
        epochs, net = self._epochs, self.net
        if epochs is None:
            raise RuntimeError("call begin() before run_epoch()")
        par, config, sched = self.parallel, self.config, self.schedule
        epoch = self.epoch
        for cb in self.callbacks:
            cb.on_epoch_begin(net, epoch)
        start = time.perf_counter()
        lr = (
            float(sched.rate(epoch - self.first_epoch))
            if learning_rate is None
            else float(learning_rate)
        )
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"the {sched.name} schedule gave learning rate {lr} for epoch {epoch}")
        if order is None and config.shuffle:
            order = self.rng.permutation(self.n)
            if par is not None and self.n < 2**31:  # [distributed] held all epoch: 4 bytes a row
                order = order.astype(np.int32)
        # Seed §5 steps 2–6 and the optimizer's update, batch by batch.
        k = epochs.run(epoch, lr, order)
        if k < 0:
            self._stop = True
            return None
        Y, sw, val = self.Y, self.sample_weight, self.validation_data
        if par is not None:  # [distributed] sums over all ranks' rows
            train_loss, train_acc, val_loss, val_acc = par.epoch_metrics(
                net, epochs.batch_sums, val
            )
        else:
            seen = self.batches.end(k)
            if epochs.by_batch:  # class labels: the sums of the batches as trained
                total, correct = epochs.batch_sums
                train_loss, train_acc = total / seen, correct / seen
            else:
                train_loss, train_acc = _epoch_metrics(
                    net,
                    epochs.z_epoch[:seen, ...],
                    epochs.a_epoch[:seen, ...],
                    Y,
                    order,
                    sw,
                    self._labels,
                )
            val_loss = val_acc = math.nan
            if val is not None:
                val_loss, val_acc = net.evaluate_arrays(*val)
        stats = EpochStats(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_loss=val_loss,
            val_accuracy=val_acc,
            learning_rate=lr,
            grad_norms=[math.sqrt(s / epochs.measured) for s in epochs.sq_norms],
            seconds=time.perf_counter() - start,
        )
        entry = asdict(stats)
        self.history.append(**entry)
        net.history.append(**entry)
        # The epoch is finished and its loss known: schedules and callbacks look at it.
        sched.observe(self.history)
        if sched.stop:
            net.stop_training = True
        for cb in self.callbacks:
            cb.on_epoch_end(net, self.history)
        # A NaN or exploding run raises TrainingDiverged (naming an overshooting L2 step).
        check_divergence(net, lr * epochs.l2 if epochs.l2 else None)
        return stats

    def end(self) -> History:
        """End the run: ``on_train_end`` (early stopping restores its best weights here)."""
        if self._ended:
            return self.history
        self._close()
        self._ended = True
        if self.average is not None:
            self.average.finish()  # the run ends with the averaged parameters
        for cb in self.callbacks:
            cb.on_train_end(self.net, self.history)
        return self.history

    def _close(self) -> None:
        if self._stack is not None:
            self._stack.close()

    def _run_lbfgs(self) -> History:
        config = self.config
        self.history = fit_lbfgs(
            self.net,
            self.X,
            self.Y,
            max_iter=config.epochs,
            settings=config.optimizer if isinstance(config.optimizer, LBFGS) else LBFGS(),
            validation_data=self.validation_data,
            callbacks=self.callbacks,
            l2=config.l2,
            sample_weight=self.sample_weight,
        )
        return self.history


def _after_step(
    net: Network, config: TrainingConfig
) -> tuple[Callable[[], None] | None, ExponentialAverage | None]:
    """What runs after every optimizer step: max-norm, then the weight average."""
    steps: list[Callable[[], None]] = []
    if config.max_norm is not None:
        steps.append(MaxNorm(net.weights, config.max_norm))
    average = None
    if config.average_decay is not None:
        average = ExponentialAverage([*net.weights, *net.biases], config.average_decay)
        steps.append(average)
    if len(steps) < 2:
        return (steps[0] if steps else None), average

    def both() -> None:
        for step in steps:
            step()

    return both, average


def _check_lbfgs_options(**options: Any) -> None:
    """L-BFGS trains on the whole set with a smooth loss: refuse what does not apply."""
    for name, value in options.items():
        if value not in (None, 0.0, "constant"):
            raise ValueError(
                f"{name} does not apply to optimizer='lbfgs' (full-batch "
                f"L-BFGS on a smooth loss), got {name}={value!r}"
            )


def normalised_weights(sample_weight: npt.ArrayLike, n: int) -> np.ndarray:
    """``sample_weight`` (n,) checked (finite, ≥ 0, not all 0) and divided by its sum."""
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("sample_weight must be finite, non-negative and not all zero")
    return w / w.sum()
