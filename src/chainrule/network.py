"""``Network``: the seed's fully connected network, its cost, gradient and training.

The vocabulary is the seed's (§2.2): layers ``l = 1..L`` with ``N_l`` units,
``z^l = W^l σ(z^{l-1}) + b^l`` (eq. 1), ``f = σ ∘ φ^L ∘ … ∘ φ^2`` (eq. 2), a
per-example cost ``C`` and its gradient by backpropagation (§4).  The batched
arithmetic lives in :mod:`chainrule.engine`; this module holds the parameters
and the user-facing methods.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from . import blocks, checks
from .backend import NUMPY_OPS, Ops, _ops_named, ops_of, resolve_backend, to_numpy
from .engine import Engine, Forward, Layers
from .functions import (
    INITIALISATIONS,
    Activation,
    Cost,
    classes_of,
    get_activation,
    get_cost,
)
from .training.callbacks import Callback
from .training.config import TrainingConfig
from .training.history import History
from .training.optimizers import Optimizer
from .training.targets import OneHotLabels, keeps_labels
from .training.trainer import Trainer, normalised_weights

Array = npt.NDArray[np.floating]
ActivationSpec = str | Activation

__all__ = ["INITS", "Network", "register_model_writer"]

#: Writes model files for :meth:`Network.save`: :func:`chainrule.io.save_model`, which
#: the io layer (above this module, importing it) registers when it is imported, so
#: the network never imports upwards (``import chainrule`` imports both).
_model_writer: Callable[..., Path] | None = None


def register_model_writer(writer: Callable[..., Path]) -> None:
    """Make ``writer(path, network, **kwargs)`` the one :meth:`Network.save` calls."""
    global _model_writer
    _model_writer = writer


#: Weight initialisations by name (see :class:`Network`): the registry's names.
INITS = tuple(INITIALISATIONS)


def _data_parallel(fit: Callable[..., History]) -> Callable[..., History]:
    """Run ``fit(..., comm=...)`` inside a data-parallel session (docs/distributed.md).

    The session starts before ``fit`` validates anything, so a rank whose
    arguments are refused still tells the other ranks instead of leaving them
    waiting; mpi4py is imported only here, only when ``comm`` is given.
    """

    @functools.wraps(fit)
    def wrapper(self: Network, *args: Any, comm: Any = None, **kwargs: Any) -> History:
        if comm is None:
            return fit(self, *args, **kwargs)
        from .parallel.mpi import data_parallel

        par = data_parallel(comm)
        with par.session(self):
            return fit(self, *args, comm=par, **kwargs)

    return wrapper


class Network:
    """A fully connected feed-forward network (seed §2).

    Parameters
    ----------
    sizes : sequence of int
        ``[N_1, ..., N_L]``: the input size, the hidden layer sizes and the
        output size.  At least two layers.
    activation : str, Activation, or sequence of them, default "sigmoid"
        σ for the hidden layers: one for all, or one per hidden layer
        (``L - 2`` of them).  Names: ``sigmoid``, ``tanh``, ``relu``,
        ``leaky_relu``, ``identity``.
    output_activation : str or Activation, optional
        σ for the output layer ``L``; also ``softmax``.  ``None`` means the same
        as ``activation`` (the seed uses one σ everywhere).
    cost : str or Cost, default "quadratic"
        ``quadratic`` (the seed's ``‖a − λ‖²``, §4.1), ``cross_entropy``
        (needs a sigmoid or softmax output) or ``log_likelihood`` (needs softmax).
        The seed's quadratic cost is twice Nielsen's ``½‖a − λ‖²``, so Nielsen's
        learning rate η = 3.0 corresponds to our η = 1.5.
    input_activation : str or Activation, default "identity"
        σ applied to the input layer.  The seed's network computes
        ``a^1 = σ(z^1)`` (§5, step 2): pass ``input_activation="sigmoid"`` to
        build exactly that network.  The usual convention, and our default,
        feeds the inputs in unchanged.
    init : str, optional
        How to draw the initial weights: ``"normal"`` is N(0, 1) for weights
        and biases (Nielsen's ``network.py``); ``"scaled_normal"`` is
        N(0, 1/N_{l-1}) weights and N(0, 1) biases (his ``network2.py``);
        ``"xavier"`` is Glorot's uniform U(±√(6/(N_{l-1}+N_l))) and ``"he"`` is
        N(0, 2/N_{l-1}), both with zero biases (the registry
        :data:`chainrule.functions.INITIALISATIONS`).  The default is each layer's
        activation's ``init``: ``"he"`` for a ReLU or leaky ReLU, ``"xavier"`` otherwise.
    seed : int or numpy.random.Generator, optional
        Seeds initialisation and, unless ``fit`` is given its own seed, the
        shuffling and dropout of training.  Same seed, same weights.
    dtype : numpy dtype, default numpy.float64
        ``float32`` or ``float64``; parameters, activations and gradients all
        use it, and inputs are converted to it.
    backend : str or module, optional
        Where the parameters live and the maths runs: ``"numpy"`` (the default),
        ``"torch"``, ``"cupy"``, or any array-API namespace (``"array_api_strict"``
        or the module itself).  See :meth:`to` and ``docs/gpu.md``.
    device : optional
        The backend's device, e.g. ``"cuda"`` or ``"cpu"`` for PyTorch (default: the
        backend's default device).  Initial weights are drawn by NumPy's generator
        either way, so a seeded network is the same network on every backend.

    Attributes
    ----------
    weights : list of arrays
        ``weights[l-2]`` is the seed's ``W^l``, shape ``(N_l, N_{l-1})``, in the
        backend's namespace and on its device.
    biases : list of ndarray
        ``biases[l-2]`` is ``b^l``, shape ``(N_l,)``.
    activations : tuple of Activation
        ``activations[l-2]`` is σ for layer ``l = 2..L``.
    history : History
        Every epoch trained so far, across ``fit`` calls.
    optimizer : Optimizer or None
        The optimizer of the last ``fit`` call, with its state.

    Examples
    --------
    >>> import numpy as np, chainrule
    >>> net = chainrule.Network([3, 4, 2], seed=0)
    >>> net.feedforward(np.zeros(3)).shape
    (2,)
    >>> [w.shape for w in net.weights]
    [(4, 3), (2, 4)]
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: ActivationSpec | Sequence[ActivationSpec] = "sigmoid",
        output_activation: ActivationSpec | None = None,
        cost: str | Cost = "quadratic",
        input_activation: ActivationSpec = "identity",
        init: str | None = None,
        seed: int | np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
        backend: str | ModuleType | None = None,
        device: Any = None,
    ) -> None:
        self.sizes = _check_sizes(sizes)
        L = len(self.sizes)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")

        hidden = _hidden_activations(activation, L - 2)
        if output_activation is None:
            if isinstance(activation, (str, Activation)):
                output_activation = activation
            elif hidden:
                output_activation = hidden[-1]
            else:
                raise ValueError(
                    "output_activation is required when activation is a list "
                    "and the network has no hidden layer"
                )
        out_act = get_activation(output_activation)
        self.input_activation = get_activation(input_activation)
        for where, act in [("input", self.input_activation)] + [
            (f"hidden layer {i + 2}", h) for i, h in enumerate(hidden)
        ]:
            if not act.elementwise:
                raise ValueError(
                    f"{act.name} is only allowed as the output activation, not for the {where}"
                )
        if out_act.name == "softmax" and self.sizes[-1] < 2:
            raise ValueError("a softmax output needs at least 2 output units, got 1")
        self.activations: tuple[Activation, ...] = (*hidden, out_act)
        self.cost = get_cost(cost)
        self.cost.check_output(out_act)

        if init is not None and init not in INITIALISATIONS:
            raise INITIALISATIONS.unknown(init)
        self.init = init
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.seed = None if isinstance(seed, np.random.Generator) else seed
        self.weights: list[Array] = []
        self.biases: list[Array] = []
        for l in range(2, L + 1):
            W, b = _initial_parameters(
                self.rng, self.sizes[l - 2], self.sizes[l - 1], init, self.activations[l - 2]
            )
            self.weights.append(W.astype(self.dtype))
            self.biases.append(b.astype(self.dtype))

        self.ops: Ops = NUMPY_OPS
        self.device: Any = None
        if backend is not None or device is not None:
            self.to(backend, device=device)
        self.engine = Engine([self.input_activation, *self.activations], self.cost)
        self.history = History()
        self.optimizer: Optimizer | None = None
        self.stop_training = False
        self.interrupted = False
        # What a model file carries besides the parameters (see chainrule.io):
        # set by chainrule.load, used as defaults by save.
        self.preprocessing: Any = None
        self.class_names: list[str] | None = None
        self.metadata: dict[str, Any] = {}
        #: "classification" or "regression" when known (set by the CLI and model
        #: files); None: decided by the output layer (see ``is_classifier``).
        self.task: str | None = None

    # ------------------------------------------------------------------ description

    @property
    def output_activation(self) -> Activation:
        """σ of the output layer ``L``."""
        return self.activations[-1]

    @property
    def is_classifier(self) -> bool:
        """True when outputs are class scores: ``task`` says so, or (task unset) the
        output layer is sigmoid or softmax.  A classifier's class is the arg-max."""
        if self.task is not None:
            return self.task == "classification"
        return self.output_activation.bounded01

    @property
    def n_parameters(self) -> int:
        """The number of weights and biases."""
        return sum(W.size + b.size for W, b in zip(self.weights, self.biases, strict=True))

    def config(self) -> dict[str, Any]:
        """The architecture as plain values (for model files and reports)."""
        return {
            "sizes": list(self.sizes),
            "activations": [a.name for a in self.activations],
            "input_activation": self.input_activation.name,
            "cost": self.cost.name,
            "init": self.init,
            "dtype": self.dtype.name,
        }

    def save(self, path: str | os.PathLike[str], **kwargs: Any) -> Path:
        """Save to a model file (``.npz`` + JSON, no pickle), atomically.

        Keyword arguments (``preprocessing``, ``class_names``, ``feature_names``,
        ``target_name``, ``training``, ``data``) are those of
        :func:`chainrule.io.save_model`; ``chainrule.load(path)`` reads it back
        bit-exact.
        """
        if _model_writer is None:  # only when chainrule.io was never imported
            raise RuntimeError("Network.save needs chainrule.io: import chainrule first")
        return _model_writer(path, self, **kwargs)

    def __repr__(self) -> str:
        acts = [a.name for a in self.activations]
        hidden = acts[:-1]
        act = hidden[0] if hidden and len(set(hidden)) == 1 else hidden
        extra = ""
        if self.input_activation.name != "identity":
            extra = f", input_activation={self.input_activation.name!r}"
        return (
            f"Network({list(self.sizes)}, activation={act!r}, output_activation={acts[-1]!r}, "
            f"cost={self.cost.name!r}{extra}, dtype={self.dtype.name})"
        )

    # ------------------------------------------------------------------ backend

    @property
    def xp(self) -> Any:
        """The array namespace of the parameters (NumPy unless :meth:`to` moved them)."""
        return self.ops.xp

    def to(self, backend: str | ModuleType | None = None, *, device: Any = None) -> Network:
        """Move the parameters (and the optimizer's state) to ``backend`` on ``device``.

        Like ``torch.nn.Module.to``: returns the network itself, so
        ``net = chainrule.Network([784, 30, 10]).to("torch", device="cuda")`` reads
        naturally.  ``backend`` is ``"numpy"``, ``"torch"``, ``"cupy"``, an array-API
        module or None (keep the current one and change only the device).  Inputs
        given to ``fit``/``predict`` afterwards may be NumPy arrays or arrays of this
        backend; outputs are arrays of this backend.
        """
        ops = self.ops if backend is None else resolve_backend(backend)
        if ops is NUMPY_OPS and device not in (None, "cpu"):
            raise ValueError(
                f"the numpy backend has no device {device!r}: use "
                "backend='torch' or 'cupy' for a GPU"
            )
        before = self.ops, self.device
        self.ops, self.device = ops, device
        opt = getattr(self, "optimizer", None)
        try:
            weights = [self.place(W) for W in self.weights]
            biases = [self.place(b) for b in self.biases]
            # The optimizer's state (moments, velocities) follows the parameters.
            state = {
                key: [self.place(v) for v in value]
                for key, value in (opt.state_arrays().items() if opt is not None else ())
            }
        except (AssertionError, RuntimeError, TypeError, ValueError) as exc:
            # e.g. PyTorch without CUDA ("Torch not compiled with CUDA enabled"), a GPU
            # that is not there, a device name it cannot parse: nothing has moved.
            self.ops, self.device = before
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"the {ops.name} backend cannot use device {device!r} here: {first}"
            ) from None
        self.weights, self.biases = weights, biases
        if opt is not None:
            opt.load_state_dict({**opt.state_dict(), **state})
        return self

    def place(self, a: Any) -> Any:
        """``a`` (any namespace) as an array of this network's backend, dtype and device."""
        host = np.asarray(to_numpy(a), dtype=self.dtype)
        if self.ops is NUMPY_OPS:
            return host
        return self.ops.asarray(np.array(host, copy=True), self.device)

    # ------------------------------------------------------------------ inputs

    def check_inputs(
        self, X: npt.ArrayLike, name: str = "X", *, place: bool = True
    ) -> tuple[Array, bool]:
        """``X`` checked (on the host) and, with ``place``, in the network's backend.

        Parameters
        ----------
        X : array-like of shape (n, N_1) or (N_1,)
        name : str
            What the one-line error calls ``X`` (e.g. ``"validation X"``).
        place : bool
            Return it in the network's backend and device (else a NumPy array).

        Returns
        -------
        X2 : array of shape (n, N_1) in the network's dtype
        was_1d : bool
            ``X`` was one example ``(N_1,)``.

        An array already of the network's namespace (a CUDA tensor, say) is checked
        where it lives (:meth:`_checked_in_place`) instead of travelling to the host
        and back; anything those quick checks do not pass goes the host way, whose
        errors name what is wrong.
        """
        self._check_parameters()
        if place:
            checked = self._checked_in_place(X)
            if checked is not None:
                return checked
        X2, was_1d = checks.as_inputs(to_numpy(X), self.sizes[0], self.dtype, name=name)
        return (self.on_backend(X2) if place else X2), was_1d

    def _checked_in_place(self, X: Any) -> tuple[Array, bool] | None:
        """``X`` (n, N_1) or (N_1,) of this network's namespace, as the engine's input:
        its dtype made the network's and moved to the parameters' device, checked with
        one reduction for NaN/inf.  None when ``X`` is of another kind, or when a check
        fails (then the host checks run and raise the one-line error)."""
        if not self.is_native(X):
            return None
        xp = self.ops.xp
        if X.ndim not in (1, 2) or not xp.isdtype(X.dtype, "real floating"):
            return None
        was_1d = X.ndim == 1
        X2 = xp.reshape(X, (1, X.shape[0])) if was_1d else X
        if X2.shape[0] == 0 or X2.shape[1] != self.sizes[0]:
            return None
        want = xp.float32 if self.dtype == np.float32 else xp.float64
        X2 = self.ops.place(xp.astype(X2, want, copy=False), like=self.weights[0])
        with np.errstate(over="ignore", invalid="ignore"):
            if not math.isfinite(float(xp.sum(X2))):  # a NaN/inf (or an overflowing sum)
                return None
        return X2, was_1d

    def check_targets(
        self, Y: npt.ArrayLike, n: int, *, place: bool = True, labels_ok: bool = False
    ) -> Array:
        """Targets checked on the host: an ``(n, N_L)`` array, or — with ``labels_ok``,
        for a classifier given labels whose one-hot matrix would be big
        (:func:`~chainrule.training.targets.keeps_labels`) — :class:`OneHotLabels`.

        Parameters
        ----------
        Y : array-like of shape (n, N_L), or (n,) class labels
        n : int
            The rows ``Y`` must have (those of the checked inputs).
        place : bool
            Return it in the network's backend and device (else NumPy).
        labels_ok : bool
            Many classes may stay labels (:class:`OneHotLabels`) instead of one-hot rows.
        """
        keep = labels_ok and self.is_classifier and keeps_labels(n, self.sizes[-1])
        checked = checks.as_targets(to_numpy(Y), n, self.sizes[-1], self.dtype, keep_labels=keep)
        Y2: Any = (
            OneHotLabels(checked, self.sizes[-1], np.empty(0, self.dtype))
            if checked.ndim == 1
            else checked
        )  # 1-D: the class labels, kept
        return self.on_backend(Y2) if place else Y2

    def on_backend(self, a: Any) -> Any:
        """A checked NumPy array in the network's backend (itself on NumPy, or when it is
        an array of that backend already)."""
        if isinstance(a, OneHotLabels):
            return a if self.ops is NUMPY_OPS else a.to(self.ops, self.weights[0])
        if self.ops is NUMPY_OPS or a is None or type(a) is not np.ndarray:
            return a
        return self.ops.asarray(a, self.device)

    def is_native(self, X: Any) -> bool:
        """True when ``X`` is an array of this network's (non-NumPy) namespace."""
        if self.ops is NUMPY_OPS or type(X) is np.ndarray or not hasattr(X, "shape"):
            return False
        try:
            return ops_of(X) is self.ops
        except TypeError:
            return False

    def _check_parameters(self) -> None:
        # Weights are plain, assignable arrays; catch a wrong assignment early
        # with a message instead of a BLAS shape error deep in the engine.
        for l in range(2, len(self.sizes) + 1):
            W, b = self.weights[l - 2], self.biases[l - 2]
            want_w, want_b = (self.sizes[l - 1], self.sizes[l - 2]), (self.sizes[l - 1],)
            if not hasattr(W, "shape") or tuple(W.shape) != want_w:
                raise ValueError(
                    f"weights[{l - 2}] (W^{l}) must have shape {want_w}, got {_shape(W)}"
                )
            if not hasattr(b, "shape") or tuple(b.shape) != want_b:
                raise ValueError(
                    f"biases[{l - 2}] (b^{l}) must have shape {want_b}, got {_shape(b)}"
                )
            if self.ops is NUMPY_OPS:
                if not isinstance(W, np.ndarray) or W.dtype != self.dtype:
                    self.weights[l - 2] = self.place(W)
                if not isinstance(b, np.ndarray) or b.dtype != self.dtype:
                    self.biases[l - 2] = self.place(b)
                continue
            for params, p in ((self.weights, W), (self.biases, b)):
                if ops_of(p) is not self.ops or self.ops.numpy_dtype(p.dtype) != self.dtype:
                    params[l - 2] = self.place(p)

    # ------------------------------------------------------------------ the function f

    def forward(self, X: npt.ArrayLike) -> Forward:
        """Feed ``X`` forward and keep every ``z^l`` and ``a^l`` (seed §5, step 2).

        Parameters
        ----------
        X : array-like of shape (n, N_1)

        Returns
        -------
        Forward
            ``z[l]``, ``a[l]`` of shape ``(n, N_l)`` for ``l = 1..L``.
        """
        X2, _ = self.check_inputs(X)
        return self._forward(X2)[1].forward_result()

    def feedforward(self, X: npt.ArrayLike) -> Array:
        """The network function ``f`` (eq. 2): output activations ``a^L``.

        Parameters
        ----------
        X : array-like of shape (n, N_1) or (N_1,)

        Returns
        -------
        ndarray of shape (n, N_L), or (N_L,) for a single example
        """
        X2, was_1d = self.check_inputs(X)
        blocks = self._row_blocks(X2.shape[0])
        if len(blocks) == 1:
            out = self._forward(X2)[0]
        else:
            out = self.ops.empty((X2.shape[0], self.sizes[-1]), X2)
            for (lo, hi), (aL, _) in zip(blocks, self._forward_blocks(X2, blocks), strict=True):
                out[lo:hi, ...] = aL
        return out[0, ...] if was_1d else out

    def loss(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> float:
        """The mean over rows of the per-example cost ``C(f(x_i), λ_i)``.

        Parameters
        ----------
        X : array-like of shape (n, N_1)
        Y : array-like of shape (n, N_L), or (n,) integer class labels
        """
        X2, _ = self.check_inputs(X)
        Y2 = self.check_targets(Y, X2.shape[0], labels_ok=True)
        return self.evaluate_arrays(X2, Y2, accuracy=False)[0]

    def backprop(
        self, X: npt.ArrayLike, Y: npt.ArrayLike, *, sample_weight: npt.ArrayLike | None = None
    ) -> tuple[list[Array], list[Array]]:
        """The exact gradient of :meth:`loss` by backpropagation, for a whole batch at once.

        The batch is processed as matrices (one example per row), following the
        seed: eq. 5 for ``δ^L``, eq. 9 for ``δ^l``, eq. 13 for the weights and
        eq. 15 for the biases (see :mod:`chainrule.engine`).

        Parameters
        ----------
        X : array-like of shape (n, N_1)
        Y : array-like of shape (n, N_L), or (n,) integer class labels
        sample_weight : array-like of shape (n,), optional
            Weights of the examples; the loss becomes ``Σ w_i C_i / Σ w_i``.

        Returns
        -------
        grad_weights : list of arrays (of the network's backend)
            ``grad_weights[l-2]`` has the shape ``(N_l, N_{l-1})`` of ``W^l``.
            The seed's ``[δC/δW^l] = a^{l-1} ⊗ δ^l`` (eq. 13) has the shape of
            the *transpose* of ``W^l``, ``N_{l-1} × N_l``, because the seed
            defines the derivative of a scalar by a matrix so that the product
            of eq. 3 contracts against ``ΔW`` (§3.4).  We return its transpose,
            ``δ^lᵀ a^{l-1}``, so that a gradient step is simply ``W − η·grad``:
            entry ``[j, i]`` is ``∂E/∂w_{ji}`` in both layouts.
        grad_biases : list of ndarray
            ``grad_biases[l-2]`` of shape ``(N_l,)``: ``δ^l`` (eq. 15),
            averaged over the batch.
        """
        X2, _ = self.check_inputs(X)
        n = X2.shape[0]
        Y2 = self.check_targets(Y, n)
        row_weights = None
        if sample_weight is not None:
            row_weights = self.on_backend(normalised_weights(to_numpy(sample_weight), n))
        _, layers = self._forward(X2)
        bwd = self.engine.gradients(layers, Y2, row_weights=row_weights)
        return bwd.grad_weights, bwd.grad_biases

    def _forward(self, X: Array) -> tuple[Array, Layers]:
        """``a^L`` for validated inputs, and the layers holding the whole pass."""
        layers = self.engine.layers(self.weights, self.biases, X.shape[0])
        return self.engine.forward(layers, X), layers

    def _row_blocks(self, n: int) -> list[tuple[int, int]]:
        """``(lo, hi)`` row ranges whose forward passes hold at most
        :data:`~chainrule.blocks.FORWARD_BLOCK_VALUES` values of ``z`` and ``a`` (one range
        when ``n`` fits)."""
        rows = blocks.forward_block_rows(self.sizes)
        return [(lo, min(lo + rows, n)) for lo in range(0, n, rows)] or [(0, 0)]

    def _forward_blocks(
        self, X: Array, blocks: list[tuple[int, int]]
    ) -> Iterator[tuple[Array, Layers]]:
        """``(a^L, layers)`` of each block of rows of ``X``, reusing the buffers."""
        made: dict[int, Layers] = {}
        for lo, hi in blocks:
            layers = made.get(hi - lo)
            if layers is None:
                layers = made[hi - lo] = self.engine.layers(self.weights, self.biases, hi - lo)
            yield self.engine.forward(layers, X[lo:hi, ...]), layers

    # ------------------------------------------------------------------ training

    @_data_parallel
    def fit(
        self,
        X: npt.ArrayLike,
        Y: npt.ArrayLike,
        config: TrainingConfig | None = None,
        *,
        validation_data: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
        sample_weight: npt.ArrayLike | None = None,
        seed: int | None = None,
        callbacks: Sequence[Callback] = (),
        verbose: bool | str = False,
        comm: Any = None,
        **settings: Any,
    ) -> History:
        """Train by mini-batch stochastic gradient descent (seed §5; Nielsen ch. 1).

        Calling ``fit`` again continues from the current weights and optimizer
        state; ``history`` keeps counting epochs.

        Parameters
        ----------
        X : array-like of shape (n, N_1)
        Y : array-like of shape (n, N_L), or (n,) integer class labels
        config : TrainingConfig, optional
            The hyper-parameters; keyword ``settings`` override its fields.
        validation_data : (X_val, Y_val), optional
            Evaluated after every epoch; loss and accuracy go into the history.
        sample_weight : array-like of shape (n,), optional
            Per-example weights: the loss becomes ``Σ w_i C_i / Σ w_i``.
        seed : int, optional
            Re-seeds the network's generator, which draws the shuffling, dropout
            and ``validation_fraction`` split.  Without it the generator (from
            the network's ``seed``) continues, so ``fit(epochs=2)`` then
            ``fit(epochs=3)`` gives bitwise the weights of ``fit(epochs=5)``.
        callbacks : sequence of Callback
            Called per batch and per epoch; see :mod:`chainrule.training.callbacks`.
        **settings
            Fields of :class:`~chainrule.training.config.TrainingConfig`, each
            checked once there:

            ``epochs`` (default 30); ``batch_size`` (default 10: rows per
            mini-batch, the last batch of an epoch may be smaller);
            ``learning_rate`` (default 0.1: η, the gradient is that of the *mean*
            cost over the batch); ``optimizer`` (``"sgd"`` by default,
            ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"`` or an
            :class:`~chainrule.training.Optimizer`; omitted, or the same name as
            the current one, keeps the existing optimizer and its state;
            ``"lbfgs"`` or :class:`~chainrule.training.lbfgs.LBFGS` trains on the
            whole set at once by SciPy's L-BFGS-B with the backpropagated gradient:
            ``epochs`` is then the most L-BFGS iterations, one history entry each,
            ``batch_size``, ``learning_rate`` and ``shuffle`` do not apply, and
            ``dropout``, ``input_dropout``, ``l1``, ``clip_norm`` and ``schedule``
            are refused);
            ``shuffle`` (default True: shuffle the rows before each epoch).

            ``dropout``: inverted dropout probability for the hidden layers (one
            for all, or one per hidden layer), off at prediction time;
            ``input_dropout`` (default 0): the same for the inputs.
            ``l2``: L2 regularization λ in Nielsen's form (ch. 3): the cost gains
            ``(λ / 2n) Σ ‖W^l‖²`` with ``n`` the training-set size, so plain SGD
            updates ``W ← (1 − ηλ/n) W − η ∇``.  Biases are not decayed.  (This is
            also scikit-learn's ``alpha``.)  The recorded training loss excludes
            the penalty.  ``l1``: L1 regularization λ in Nielsen's form: the cost
            gains ``(λ / n) Σ |w|``, so plain SGD updates
            ``w ← w − (ηλ/n) sgn(w) − η ∂C₀/∂w``.  ``clip_norm``: rescale each
            batch's whole gradient (all layers, weights and biases, penalties
            included) so its global norm is at most this; ``history.grad_norms``
            records the norms before clipping.  ``max_norm``: after every step,
            scale each unit's incoming weights (a row of ``W^l``) longer than this
            back to this 2-norm.  ``average_decay`` (e.g. 0.999): keep an
            exponential moving average of the parameters and end the run with it
            (docs/training.md, "Weight averaging").

            ``schedule``: the learning rate per epoch, starting from
            ``learning_rate``: ``"constant"`` (default), ``"step"``,
            ``"invscaling"``, ``"cosine"``, ``"plateau"`` (Nielsen's halve-η
            rule), or a :class:`~chainrule.training.schedules.Schedule`;
            ``history.learning_rate`` records the rate of each epoch.

            ``early_stopping`` (``"val_loss"``, ``"val_accuracy"`` or an
            :class:`~chainrule.training.EarlyStopping`): stop when the validation
            metric has not improved for ``patience`` (default 10) epochs, and
            restore the weights of the best epoch.  ``validation_fraction``: hold
            out this fraction of ``(X, Y)`` (chosen with the seed, stratified by
            class for classifiers) as the validation data instead of giving
            ``validation_data``.
        comm : mpi4py.MPI.Comm or DataParallel, optional
            Train data-parallel across the ranks of this MPI communicator (run
            under ``mpiexec``; every rank calls ``fit`` with the same arguments and
            seed).  ``batch_size`` is the global batch: each rank backpropagates
            its rows of it and one ``Allreduce`` per step sums the gradients, so the
            weights equal a single process's to rounding.  A communicator means
            every rank holds all of ``X``; a
            :class:`~chainrule.parallel.DataParallel` with ``rows``
            says ``X`` is this rank's shard.  See ``docs/distributed.md``.
        verbose : bool or str, default False
            ``True`` prints one line per epoch, as ``chainrule train`` does; a
            string picks the display (``"bar"``, ``"lines"``, ``"auto"``), see
            :func:`chainrule.training.progress.with_progress`.

        Returns
        -------
        History
            The epochs of this call.  ``network.history`` holds all of them.

        Examples
        --------
        >>> import numpy as np, chainrule
        >>> net = chainrule.Network([2, 3, 2], output_activation="softmax",
        ...                         cost="log_likelihood", seed=0)
        >>> X, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0, 1])
        >>> len(net.fit(X, y, epochs=3, batch_size=2, learning_rate=0.5))
        3
        """
        return Trainer(
            self,
            X,
            Y,
            config,
            validation_data=validation_data,
            sample_weight=sample_weight,
            seed=seed,
            callbacks=callbacks,
            verbose=verbose,
            parallel=comm,
            **settings,
        ).run()

    def evaluate_arrays(self, X: Array, Y: Array, *, accuracy: bool = True) -> tuple[float, float]:
        """Mean loss and accuracy on checked arrays, as training records them.

        Summed block by block of rows (:data:`~chainrule.blocks.FORWARD_BLOCK_VALUES`).
        :meth:`evaluate` is this with the checks.

        Parameters
        ----------
        X : array of shape (n, N_1)
            From :meth:`check_inputs`: the network's dtype and backend.
        Y : array of shape (n, N_L), or OneHotLabels
            From :meth:`check_targets` (one-hot blocks made as they are needed).
        accuracy : bool, default True
            Also count the correct rows (classifiers only).

        Returns
        -------
        loss : float
            The mean per-example cost ``C`` (no penalty).
        accuracy : float
            The fraction of rows whose class is right; nan for regression or
            ``accuracy=False``.
        """
        xp, n = self.xp, X.shape[0]
        scored = accuracy and self.is_classifier
        total, correct = 0.0, 0
        blocks = self._row_blocks(n)
        for (lo, hi), (_, layers) in zip(blocks, self._forward_blocks(X, blocks), strict=True):
            fwd, Yb = layers.forward_result(), Y[lo:hi, ...]
            total += float(xp.sum(self.engine.per_example_cost(fwd, Yb)))
            if scored:
                same = classes_of(fwd.output) == classes_of(Yb)
                correct += int(xp.sum(xp.astype(same, xp.int64)))
        return total / n, (correct / n if scored else math.nan)

    # ------------------------------------------------------------------ prediction

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Predictions: class indices for a classifier, output values otherwise.

        A classifier (sigmoid or softmax output) returns the index of the largest
        output, or ``a > 0.5`` as 0/1 with a single output.

        Parameters
        ----------
        X : array-like of shape (n, N_1) or (N_1,)

        Returns
        -------
        ndarray of shape (n,) (int64) for classifiers, (n, N_L) otherwise;
        one example gives a scalar or (N_L,).
        """
        if not self.is_classifier:
            return self.feedforward(X)
        X2, was_1d = self.check_inputs(X)
        blocks = self._row_blocks(X2.shape[0])
        if len(blocks) == 1:
            labels = classes_of(self._forward(X2)[0])
        else:  # the classes of each block: never all n × N_L outputs at once
            cat = np.concatenate if self.ops is NUMPY_OPS else self.xp.concat  # (NumPy 1.x)
            labels = cat([classes_of(aL) for aL, _ in self._forward_blocks(X2, blocks)])
        return labels[0] if was_1d else labels

    def evaluate(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> dict[str, float]:
        """Mean loss and (for classifiers) accuracy on ``(X, Y)``."""
        X2, _ = self.check_inputs(X)
        Y2 = self.check_targets(Y, X2.shape[0], labels_ok=True)
        loss, acc = self.evaluate_arrays(X2, Y2)
        return {"loss": loss, "accuracy": acc}

    def accuracy(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> float:
        """Fraction of rows whose predicted class is the target class.

        ``Y`` may be integer labels ``(n,)`` or one-hot targets ``(n, N_L)``.
        """
        if not self.is_classifier:
            raise ValueError(
                "accuracy needs a classifier (sigmoid or softmax output); "
                f"this network's output is {self.output_activation.name}"
            )
        return self.evaluate(X, Y)["accuracy"]

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        """The state pickle, joblib and ``skops.io`` save: the array namespace by its
        module's name (a module cannot be pickled), resolved again by :meth:`__setstate__`."""
        state = self.__dict__.copy()
        state["ops"] = self.ops.xp.__name__
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if isinstance(state.get("ops"), str):
            state["ops"] = _ops_named(state["ops"])
        self.__dict__.update(state)

    # ------------------------------------------------------------------ export (chainrule.export)

    def to_onnx(
        self, path: str | os.PathLike[str] | None = None, *, dtype: npt.DTypeLike | None = None
    ) -> Any:
        """The network as an ONNX model (opset 17), written to ``path`` if given.

        Input ``X`` ``(n, N_1)``; outputs ``label`` ``(n,)`` and ``probabilities``
        ``(n, classes)`` for a classifier, ``predictions`` ``(n, N_L)`` otherwise.  No
        preprocessing: :meth:`chainrule.io.Model.to_onnx` adds a saved model's.  See
        :func:`chainrule.export.onnx.network_to_onnx` (extra ``[onnx]``).
        """
        from .export.onnx import network_to_onnx, save_onnx

        proto = network_to_onnx(self, dtype=dtype)
        if path is not None:
            save_onnx(proto, path)
        return proto

    def to_torch(self) -> Any:
        """A ``torch.nn.Sequential`` with the same weights (outputs equal to round-off).

        See :func:`chainrule.export.torch.to_torch` (extra ``[torch]``).
        """
        from .export.torch import to_torch

        return to_torch(self)

    @classmethod
    def from_torch(cls, module: Any, **kwargs: Any) -> Network:
        """A network with the weights of a PyTorch stack of ``Linear`` layers and activations.

        See :func:`chainrule.export.torch.from_torch` (``cost=``, ``backend=``, the
        supported modules and the errors).
        """
        from .export.torch import from_torch

        return from_torch(cls, module, **kwargs)

    def _repr_html_(self) -> str:
        """Jupyter's view: a one-line summary and the network diagram as inline SVG."""
        from .export.html import network_html

        return network_html(self)


# ---------------------------------------------------------------------- helpers


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or any(isinstance(s, (bool, np.bool_)) for s in sizes):
        # True == 1, but a flag is not a layer size.
        raise ValueError(f"sizes must be a list of positive integers, got {sizes!r}")
    try:
        values = [int(s) for s in sizes]
    except (TypeError, ValueError):
        raise ValueError(f"sizes must be a list of positive integers, got {sizes!r}") from None
    if len(values) < 2:
        raise ValueError(f"sizes needs at least 2 layers (input and output), got {values}")
    if any(s < 1 for s in values) or any(v != s for v, s in zip(values, sizes, strict=True)):
        raise ValueError(f"sizes must be positive integers, got {list(sizes)}")
    return tuple(values)


def _hidden_activations(
    spec: ActivationSpec | Sequence[ActivationSpec], n_hidden: int
) -> list[Activation]:
    if isinstance(spec, (str, Activation)):
        return [get_activation(spec) for _ in range(n_hidden)]
    specs = list(spec)
    if len(specs) != n_hidden:
        raise ValueError(
            f"activation lists one per hidden layer: expected {n_hidden}, got {len(specs)}"
        )
    return [get_activation(s) for s in specs]


def _initial_parameters(
    rng: np.random.Generator, fan_in: int, fan_out: int, init: str | None, act: Activation
) -> tuple[np.ndarray, np.ndarray]:
    """``W^l``, ``b^l`` drawn by ``init``, or by the default of the activation they feed."""
    return INITIALISATIONS[init or act.init]().draw(rng, fan_in, fan_out)
