"""The batched kernels: feed-forward (seed eqs. 1–2) and backpropagation (eqs. 5, 9, 13, 15).

This is the only module that issues matrix products.  Everything else in
chainrule (the network, training, data, CLI, estimators, plots) calls
:class:`Engine` and never touches BLAS details.

Namespaces
----------
The arrays may belong to any array-API namespace (NumPy, PyTorch, CuPy,
array-api-strict): :meth:`Engine.layers` looks up the parameters' namespace once
(:func:`chainrule.backend.ops_of`) and every kernel below goes through that
:class:`~chainrule.backend.Ops` — NumPy's ufuncs and BLAS calls with ``out=``
buffers on NumPy (exactly the NumPy engine), ``torch.matmul(…, out=…)`` on
PyTorch, the standard's functions elsewhere.

Layout
------
A batch of ``n`` examples is processed at once, one example per row.  The
seed's column vectors ``z^l``, ``a^l`` become the rows of ``z[l]``, ``a[l]``
of shape ``(n, N_l)``, and its row-vector gradients ``δ^l`` become the rows of
``delta[l]``.  Lists are indexed with the seed's layer numbers: ``z[1]`` is the
input ``z^1`` and ``W[l]`` is ``W^l`` (``W[0]``, ``W[1]`` are unused).

With rows as examples, ``z^l = W^l a^{l-1} + b^l`` (eq. 1) is
``a[l-1] @ W[l].T + b[l]``, and ``δ^l = δ^{l+1} W^{l+1} diag σ'(z^l)``
(eq. 9) is one line of :meth:`Engine.backward`,
``delta[l] = σ[l].times_derivative(dot(delta[l + 1], W[l + 1], out=delta[l]), z[l], a[l])``
(``dot(x, y, out=buffer)`` is ``x @ y`` written into a reused array, and
``times_derivative`` multiplies it by ``σ'(z^l)`` in place): the seed's row
vectors need no transposes at all.

Layers and passes
-----------------
A :class:`Layer` is layer ``l`` of the seed: ``W^l``, ``b^l`` (the network's
own arrays), its ``σ`` and the arrays one pass writes (``z^l``, ``a^l``,
``δ^l``, the gradients).  :class:`Layers` holds them for batches of ``n`` rows,
with the seed-numbered lists above.  There is one :meth:`Engine.forward` and one
:meth:`Engine.backward`: the backward pass *yields* each layer as soon as its
gradients are known and eq. 9 no longer needs its ``W^l``, so plain SGD can
update it while it is still in cache, and any other optimizer simply waits for
the last one.

Folded parameters
-----------------
A tiny network's step is a dozen NumPy calls, so each call counts.  When the
training loop fuses plain SGD into the backward pass (NumPy, no dropout, every
product small enough for one BLAS thread: :meth:`Engine.foldable`), it stores
each layer's parameters as one C-ordered array ``P^l = [W^l | b^l]`` of shape
``(N_l, N_{l-1} + 1)`` and makes the network's ``W^l``, ``b^l`` its views
``P[:, :-1]`` and ``P[:, -1]`` (:func:`fold_parameters`; everything that reads
or writes them in place is unchanged).  Each layer's input then carries a column
of ones, ``[a^{l-1} | 1]`` (written once per buffer; for ``a^1`` the loop's gather
buffer), and

* eq. 1 is one product, ``z^l = [a^{l-1} | 1] P^lᵀ`` (no ``z += b``);
* eqs. 13 and 15 are one product, ``[∇W^l | ∇b^l] = δ^lᵀ [a^{l-1} | 1]``, and
  with the SGD step one ``?gemm`` updating ``P^l`` in place
  (:meth:`~chainrule.backend.BlasKernels.folded_step`);
* eq. 9 reads ``P^{l+1}`` too: ``δ^{l+1} P^{l+1} = [δ^{l+1} W^{l+1} | δ^{l+1} b^{l+1}]``,
  whose first ``N_l`` columns are ``δ^{l+1} W^{l+1}``, then times ``σ'(z^l)``.

A hidden layer's ``z^l``, ``a^l`` and ``δ^l`` are Fortran-ordered: then ``a^l``
is a contiguous block of ``[a^l | 1]`` (and ``δ^l`` of the ``(n, N_l + 1)`` product
of eq. 9), so σ and σ′ run on contiguous arrays and no product copies an
operand.  The results are those of the unfolded passes to round-off (the bias
is summed inside the product).  Other namespaces, dropout, momentum and big
layers keep the passes above (``Layers.folded`` is False).

The batch mean
--------------
The loss is the mean of the per-example cost over the batch.  Rather than
dividing each gradient by ``n`` (one pass over every weight matrix), the engine
scales ``δ^L`` by the row weights ``1/n`` once; the recursion carries that
factor through every layer.  Hence ``delta[l]`` holds ``δ^l / n``, and custom
row weights (sample weights) slot in at the same place.

Examples
--------
>>> import numpy as np
>>> from chainrule.functions import Sigmoid, Identity, Quadratic
>>> engine = Engine([Identity(), Sigmoid(), Sigmoid()], Quadratic())
>>> W = [np.ones((3, 2)), np.ones((1, 3))]
>>> b = [np.zeros(3), np.zeros(1)]
>>> layers = engine.layers(W, b, n=1)
>>> engine.forward(layers, np.zeros((1, 2)))  # σ(3 · σ(0)) = σ(1.5)
array([[0.81757448]])
>>> [layer.l for layer in engine.backward(layers, np.ones((1, 1)))]  # from L down to 2
[3, 2]
>>> layers.grad_W[2].shape  # the shape of W^2
(3, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .backend import NUMPY_OPS, SINGLE_THREAD_GEMM, BlasKernels, Ops, blas_kernels, ops_of
from .functions import (
    Activation,
    Cost,
    CrossEntropy,
    LogLikelihood,
    Sigmoid,
    Softmax,
    _row_max,
)

Array = npt.NDArray[np.floating]

__all__ = [
    "Backward",
    "Engine",
    "Forward",
    "Layer",
    "Layers",
    "fold_parameters",
    "folded",
    "unfold_parameters",
]


@dataclass(eq=False)
class Layer:
    """Layer ``l`` of the seed (``2 ≤ l ≤ L``): ``W^l``, ``b^l``, ``σ`` and its buffers.

    ``W`` and ``b`` are the network's own arrays (an optimizer updates them in
    place); the buffers, of shape ``(n, N_l)`` or the parameters' shapes, are
    written by every pass through the layer, so a pass's values are valid until
    the next pass.

    Attributes
    ----------
    l : int
        The seed's layer number.
    W : array of shape (N_l, N_{l-1})
        ``W^l``.
    b : array of shape (N_l,)
        ``b^l``.
    sigma : Activation
        σ of this layer.
    z, a, delta : arrays of shape (n, N_l)
        ``z^l``, ``a^l = σ(z^l)`` and ``δ^l`` (scaled by the row weights).
    grad_W : array of shape (N_l, N_{l-1})
        The transpose of the seed's ``[δC/δW^l]`` (eq. 13), shaped like ``W^l``.
    grad_b : array of shape (N_l,)
        ``[δC/δb^l]`` (eq. 15).
    ops : Ops
        The kernels of the arrays' namespace.
    P : array of shape (N_l, N_{l-1} + 1), optional
        The folded parameters ``[W^l | b^l]`` whose views ``W`` and ``b`` are (see
        "Folded parameters" in the module's docstring); None otherwise.
    a1, d1 : arrays of shape (n, N_l + 1), optional
        With ``P``, below the output layer: Fortran-ordered ``[a^l | 1]`` and
        ``[δ^l | ·]``, whose first ``N_l`` columns are ``a`` and ``delta``.
    """

    l: int
    W: Array
    b: Array
    sigma: Activation
    z: Array
    a: Array
    delta: Array
    grad_W: Array
    grad_b: Array
    ops: Ops = NUMPY_OPS
    P: Array | None = None
    a1: Array | None = None
    d1: Array | None = None
    WT: Array = field(init=False, repr=False)
    grad_W_flat: Array = field(init=False, repr=False)
    product: Callable[..., Any] = field(init=False, repr=False)
    descend_step: Callable[..., None] = field(init=False, repr=False)
    momentum_step: Callable[..., None] = field(init=False, repr=False)
    _blocks: tuple[tuple[Array, Array, Array], ...] | None = field(
        init=False, repr=False, default=None
    )
    _scaled_b: Array | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.WT = self.W.T
        self.grad_W_flat = self.ops.flat(self.grad_W)
        self.product = (
            _weight_product(self.z.shape[0], *self.W.shape)
            if self.ops is NUMPY_OPS
            else self.ops.dot
        )
        # Plain SGD inside eq. 13's product (Engine.backward's ``step``), bound once.
        self.descend_step = self.ops.descent_kernel(self.W, self.b, self.grad_b, self.grad_W)
        if self.P is not None:  # eqs. 13 and 15 as one product: [∇W | ∇b] = δᵀ [a | 1]
            kernels = blas_kernels()
            assert kernels is not None
            # [a^{l-1} | 1] is Fortran-ordered below layer l (the layers' own buffer), C-ordered
            # for l = 2 (the batch's); δ^l is Fortran-ordered below the output layer.
            self.descend_step = kernels.folded_step(self.P, self.l > 2, self.d1 is not None)
        self.momentum_step = self.ops.momentum_kernel(self.W, self.b, self.grad_b, self.grad_W)

    def descend(self, eta: float) -> None:
        """Gradient descent on this layer, ``θ ← θ − η ∇``, in place.

        ``W^l`` is updated in row blocks of about 64k values: ``η∇`` of a block is
        still in cache when it is subtracted (half the time of whole-matrix passes
        for a 1024 × 1024 layer; the same values).  ``eta`` (a Python float) is cast
        to the parameters' dtype by NumPy, exactly as ``dtype.type(eta)`` would.
        Other namespaces update the whole arrays (PyTorch in one fused pass).
        """
        if self.ops is not NUMPY_OPS:
            self.ops.descend(self.W, self.grad_W, eta)
            self.ops.descend(self.b, self.grad_b, eta)
            return
        if self._blocks is None:
            self._make_blocks()
        for W_rows, gw_rows, scaled_rows in self._blocks:  # type: ignore[union-attr]
            W_rows -= np.multiply(gw_rows, eta, out=scaled_rows)
        b = self.b
        b -= np.multiply(self.grad_b, eta, out=self._scaled_b)

    def _make_blocks(self) -> None:
        W, gw = self.W, self.grad_W
        rows = max(1, (1 << 16) // W.shape[1])
        scaled = np.empty((min(rows, W.shape[0]), W.shape[1]), W.dtype)
        self._blocks = tuple(
            (W[r : r + rows], gw[r : r + rows], scaled[: min(rows, W.shape[0] - r)])
            for r in range(0, W.shape[0], rows)
        )
        self._scaled_b = np.empty_like(self.b)


class Layers:
    """The layers ``2..L`` of a network for batches of ``n`` rows, with seed-numbered lists.

    ``layer[l]``, ``W[l]``, ``b[l]``, ``σ[l]``, ``z[l]``, ``a[l]``, ``delta[l]``,
    ``grad_W[l]``, ``grad_b[l]`` are those of layer ``l``; index 1 holds the
    input layer's ``z^1``, ``a^1`` after a forward pass, index 0 nothing.
    ``inputs[l]`` is what layer ``l + 1`` consumes (``a[l]``, after dropout
    while training) and ``masks[l]`` the dropout mask of ``a[l]`` or None.

    With folded parameters (``folded``; the module docstring) also ``P[l]``
    (``[W^l | b^l]``), ``PT[l]``, ``zT[l]`` (the transposes the products write),
    ``ones_inputs[l]`` (``[a^l | 1]``, Fortran-ordered below the output layer;
    ``ones_inputs[1]`` is C-ordered ``[X | 1]`` for a batch given without one),
    ``feed[l]`` (what eq. 13 of layer ``l + 1`` reads) and ``ones_deltaT[l]``
    (the transpose of ``[δ^l | ·]``, eq. 9's product).

    Made by :meth:`Engine.layers`; valid while the network's parameter arrays
    are the same objects (:meth:`holds`).
    """

    def __init__(self, layers: Sequence[Layer], input_sigma: Activation) -> None:
        self.layer: list[Layer | None] = [None, None, *layers]
        self.n = layers[0].z.shape[0]
        # The batch mean's row weight.  (A data-parallel rank may hold no row of a
        # batch: its gradient is then zero, and it still takes part in the sum.)
        self.ops = ops = layers[0].ops
        self.numpy_dtype = ops.numpy_dtype(layers[0].W.dtype)  # dropout masks: NumPy's
        inv_n = 1.0 / self.n if self.n else 0.0  # (a Python float keeps the dtype elsewhere)
        self.inv_n = self.numpy_dtype.type(inv_n) if ops is NUMPY_OPS else inv_n
        self.L = len(layers) + 1
        none: list[Any] = [None, None]
        self.W: list[Array] = none + [ly.W for ly in layers]
        self.WT: list[Array] = none + [ly.WT for ly in layers]
        self.b: list[Array] = none + [ly.b for ly in layers]
        self.σ: list[Activation] = [input_sigma, input_sigma, *(ly.sigma for ly in layers)]
        self.z: list[Array] = none + [ly.z for ly in layers]
        self.a: list[Array] = none + [ly.a for ly in layers]
        self.delta: list[Array] = none + [ly.delta for ly in layers]
        self.grad_W: list[Array] = none + [ly.grad_W for ly in layers]
        self.grad_b: list[Array] = none + [ly.grad_b for ly in layers]
        self.inputs: list[Array] = [None] * (self.L + 1)  # type: ignore[list-item]
        self.masks: list[Array | None] = [None] * (self.L + 1)
        self.dropout = False
        self.minus_delta = False  # set by Engine.layers: δ^L is a^L − λ on NumPy
        self.identity_input = input_sigma.name == "identity"
        # σ and eq. 9's σ′ product of every layer, bound to the namespace once (the
        # passes call these; ``σ`` keeps the activations themselves).
        self.kernels: list[Any] = [None, None, *(_kernels(ly, ops) for ly in layers)]
        # eq. 1's ``z^l += b^l`` in one call where the namespace has one (Ops.bias_kernel).
        self.bias_add: list[Any] = [None, None, *(ops.bias_kernel(ly.b, ly.z) for ly in layers)]
        # Folded parameters (Engine.layers with fold=True): P^l = [W^l | b^l], and each
        # layer's input with a column of ones, [a^{l-1} | 1] (``ones_inputs[l - 1]``).
        self.folded = layers[0].P is not None
        if self.folded:
            first = layers[0].W
            x1 = np.ones((self.n, first.shape[1] + 1), first.dtype)  # [X | 1] when not given
            self.P: list[Array] = none + [ly.P for ly in layers]
            self.PT: list[Array] = none + [ly.P.T for ly in layers]  # type: ignore[union-attr]
            self.zT: list[Array] = none + [ly.z.T for ly in layers]
            self.ones_inputs: list[Array] = [None, x1, *(ly.a1 for ly in layers)]  # type: ignore[list-item]
            self.feed: list[Array] = list(self.ones_inputs)  # feed[1]: the last pass's [a^1 | 1]
            self.ones_deltaT: list[Array] = none + [
                None if ly.d1 is None else ly.d1.T for ly in layers
            ]

    def __iter__(self) -> Iterator[Layer]:
        """The layers ``2..L`` in order."""
        return iter(self.layer[2:])  # type: ignore[arg-type]

    def holds(self, weights: Sequence[Array], biases: Sequence[Array]) -> bool:
        """True while ``weights``, ``biases`` are the very arrays these layers update."""
        return all(
            p is q for p, q in zip(self.W[2:] + self.b[2:], [*weights, *biases], strict=True)
        )

    def forward_result(self) -> Forward:
        """The last forward pass as a :class:`Forward` (seed-numbered lists)."""
        masks = self.masks if self.dropout else []
        return Forward(z=list(self.z), a=list(self.a), inputs=list(self.inputs), masks=list(masks))


@dataclass
class Forward:
    """The values saved by one feed-forward pass (seed §5, step 2).

    Attributes
    ----------
    z : list of arrays
        ``z[l]`` of shape ``(n, N_l)`` for ``l = 1..L``; ``z[0]`` is None.
    a : list of arrays
        ``a[l] = σ(z[l])``, shape ``(n, N_l)``; ``a[0]`` is None.
    inputs : list of arrays
        ``inputs[l]`` is what layer ``l + 1`` consumes: ``a[l]``, or ``a[l]``
        with inverted dropout applied during training.
    masks : list
        ``masks[l]`` is the dropout mask (already divided by the keep
        probability) applied to ``a[l]``, or None.
    """

    # Index 0 holds None (the seed numbers layers from 1); typed as arrays for readers.
    z: list[Array]
    a: list[Array]
    inputs: list[Array]
    masks: list[Array | None] = field(default_factory=list)

    @property
    def output(self) -> Array:
        """The network's output ``a^L``, shape ``(n, N_L)``."""
        return self.a[-1]


@dataclass
class Backward:
    """The helper gradients and parameter gradients of one backward pass.

    Attributes
    ----------
    delta : list of arrays
        ``delta[l]`` of shape ``(n, N_l)``, ``l = 2..L``: the rows are the
        seed's ``δ^l`` scaled by the row weight (``1/n`` for the batch mean).
    grad_weights : list of arrays
        ``grad_weights[l-2]`` of shape ``(N_l, N_{l-1})``, the transpose of the
        seed's ``[δC/δW^l]`` (eq. 13), so that it matches ``W^l``.
    grad_biases : list of arrays
        ``grad_biases[l-2]`` of shape ``(N_l,)``: eq. 15.
    """

    delta: list[Array | None]
    grad_weights: list[Array]
    grad_biases: list[Array]


class Engine:
    """Feed-forward and backpropagation for a fully connected network, batched.

    Parameters
    ----------
    activations : sequence of Activation
        ``activations[l-1]`` is σ for layer ``l = 1..L`` (the first is the input
        activation, ``a^1 = σ(z^1)``).
    cost : Cost
        The per-example cost ``C``.
    """

    def __init__(self, activations: Sequence[Activation], cost: Cost) -> None:
        self.sigma: list[Activation | None] = [None, *activations]
        self.cost = cost

    def layers(
        self, weights: Sequence[Array], biases: Sequence[Array], n: int, fold: bool = False
    ) -> Layers:
        """Layers ``2..L`` over the network's ``weights``, ``biases``, for batches of ``n`` rows.

        Parameters
        ----------
        weights, biases : sequences of arrays
            ``weights[l-2]`` is ``W^l`` of shape ``(N_l, N_{l-1})``,
            ``biases[l-2]`` is ``b^l`` of shape ``(N_l,)``.
        n : int
            The batch size; the buffers are ``(n, N_l)``.
        fold : bool
            Use the folded parameters (module docstring) when every ``W^l``, ``b^l``
            are views of one ``P^l`` (:func:`fold_parameters`) and :meth:`foldable`;
            otherwise ignored.
        """
        ops = ops_of(weights[0])  # the namespace, once for these layers
        Ps = [folded(W, b) for W, b in zip(weights, biases, strict=True)] if fold else []
        fold = fold and self.foldable(weights, n) and all(P is not None for P in Ps)
        made = []
        L = len(self.sigma) - 1
        for l in range(2, L + 1):
            W, b, sigma = weights[l - 2], biases[l - 2], self.sigma[l]
            assert sigma is not None
            N = W.shape[0]
            z, a, delta = ops.empty((n, N), W), ops.empty((n, N), W), ops.empty((n, N), W)
            a1 = d1 = None
            if fold and l < L:
                # Fortran order: a^l is the first N_l columns of [a^l | 1], a contiguous
                # block, and z^l, a^l, δ^l are alike, so σ and σ′ run on contiguous arrays.
                a1 = np.ones((n, N + 1), W.dtype, order="F")
                d1 = np.empty((n, N + 1), W.dtype, order="F")
                z, a, delta = np.empty((n, N), W.dtype, order="F"), a1[:, :-1], d1[:, :-1]
            made.append(
                Layer(
                    l,
                    W,
                    b,
                    sigma,
                    z=z,
                    a=a,
                    delta=delta,
                    grad_W=ops.empty(tuple(W.shape), W),
                    grad_b=ops.empty((N,), W),
                    ops=ops,
                    P=Ps[l - 2] if fold else None,
                    a1=a1,
                    d1=d1,
                )
            )
        sigma1 = self.sigma[1]
        assert sigma1 is not None
        layers = Layers(made, sigma1)
        # δ^L = a^L − λ (eq. 5 with the Jacobian cancelled: softmax with the log-likelihood,
        # sigmoid with cross-entropy): on NumPy one ufunc call, no cost method in between.
        cost, sigma_L = type(self.cost), made[-1].sigma.name
        layers.minus_delta = ops is NUMPY_OPS and (
            (cost.delta is LogLikelihood.delta and sigma_L == "softmax")
            or (cost.delta is CrossEntropy.delta and sigma_L == "sigmoid")
        )
        return layers

    def blas_threads(self, weights: Sequence[Array], n: int) -> Any:
        """The BLAS threads for a fit of ``weights`` on batches of ``n`` rows: a context
        that keeps NumPy's BLAS on one thread when every product (eqs. 1, 9, 13:
        ``n · N_{l-1} · N_l`` multiply-adds) is above OpenBLAS's own threading threshold
        (:data:`~chainrule.backend.SINGLE_THREAD_GEMM`) but at most
        :data:`~chainrule.backend.ONE_THREAD_FIT`, where a second thread gains nothing and
        costs much on a busy machine; else a no-op context."""
        from contextlib import nullcontext

        from .backend import ONE_THREAD_FIT, SINGLE_THREAD_GEMM, one_blas_thread

        if not weights or ops_of(weights[0]) is not NUMPY_OPS:
            return nullcontext()
        largest = max(n * W.shape[0] * W.shape[1] for W in weights)
        if not SINGLE_THREAD_GEMM < largest <= ONE_THREAD_FIT:
            return nullcontext()
        return one_blas_thread()

    def foldable(self, weights: Sequence[Array], n: int) -> bool:
        """True when layers of ``weights`` for batches of ``n`` rows may take the folded path.

        NumPy float32/float64 arrays with SciPy's BLAS, every product small enough to
        run on one thread (``n · (N_{l-1} + 1) · N_l`` ≤ :data:`SINGLE_THREAD_GEMM`: the
        tiny networks whose steps are counted in calls), and the hidden layers' σ the
        library's own elementwise ones (the passes write them into Fortran-ordered
        views).  The arrays need not be folded yet (:func:`fold_parameters`).
        """
        if not weights or ops_of(weights[0]) is not NUMPY_OPS or blas_kernels() is None:
            return False
        if any(W.dtype.type not in (np.float32, np.float64) for W in weights):
            return False
        if any(n * (W.shape[1] + 1) * W.shape[0] > SINGLE_THREAD_GEMM for W in weights):
            return False
        return all(
            type(s).__module__ == Activation.__module__ and not isinstance(s, Softmax)
            for s in self.sigma[2:-1]
        )

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        layers: Layers,
        X: Array,
        dropout: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
        output: tuple[Array, Array] | None = None,
        ones: Array | None = None,
    ) -> Array:
        """Feed ``X`` of shape ``(n, N_1)`` forward (seed §5 step 2; eqs. 1, 2); return ``a^L``.

        Every ``z^l``, ``a^l`` stays in ``layers`` for :meth:`backward`.

        Parameters
        ----------
        layers : Layers
            From :meth:`layers` for ``n = X.shape[0]``.
        X : array of shape (n, N_1)
            The inputs ``z^1``, one example per row, already in the network's dtype.
        dropout : sequence of float, optional
            ``dropout[l-1]`` is the drop probability for the activations of layer
            ``l`` (inverted dropout: kept units are scaled by ``1/(1-p)``);
            ``dropout[0]`` drops inputs, ``dropout[L-1]`` is ignored.
        rng : numpy.random.Generator, optional
            Needed when ``dropout`` is given.
        output : (array, array) of shape (n, N_L), optional
            Where ``z^L`` and ``a^L`` are written, from this pass on, instead of the
            layer's own buffers (the training loop's epoch buffers, so the history's
            loss and accuracy need no copy per batch).
        ones : array of shape (n, N_1 + 1), optional
            ``[X | 1]``: ``X`` with a column of ones after it, whose first ``N_1``
            columns ``X`` is (the training loop's gather buffer), for folded layers;
            without it they copy ``X`` into a buffer of their own.
        """
        if layers.folded:  # P^l = [W^l | b^l] (module docstring): its own loop, no dropout
            if dropout is not None:
                raise ValueError("folded layers (Engine.layers(fold=True)) take no dropout")
            L, z, a, inputs, σ = layers.L, layers.z, layers.a, layers.inputs, layers.kernels
            if output is not None:
                z[L], a[L] = output
            z[1] = X
            a[1] = inputs[1] = X if layers.identity_input else layers.σ[1].forward(X)
            # [a^1 | 1]: the batch's own (the gather buffer's), else a copy into the layers'.
            P, zT, ones_inputs = layers.P, layers.zT, layers.ones_inputs
            if ones is None or inputs[1] is not X:
                ones = ones_inputs[1]
                np.copyto(ones[:, :-1], inputs[1])
            layers.feed[1] = ones  # what eq. 13 of layer 2 reads
            for l in range(2, L):
                # eq. 1 with P^l = [W^l | b^l]: z^l = [a^{l-1} | 1] P^lᵀ, one product (z^l is
                # Fortran-ordered: the product P^l [a^{l-1} | 1]ᵀ goes into its transpose).
                P[l].dot(ones.T, zT[l])
                # a^l = σ(z^l), into the first N_l columns of [a^l | 1].
                inputs[l] = σ[l].forward(z[l], out=a[l])
                ones = ones_inputs[l]
            ones.dot(layers.PT[L], z[L])  # eq. 1 of the output layer: z^L C-ordered
            inputs[L] = σ[L].forward(z[L], out=a[L])
            return a[L]
        L, z, a, WT, b, σ = layers.L, layers.z, layers.a, layers.WT, layers.b, layers.kernels
        inputs, masks, affine = layers.inputs, layers.masks, layers.ops.affine
        numpy, add, bias_add = layers.ops is NUMPY_OPS, np.add, layers.bias_add
        if output is not None:
            z[L], a[L] = output  # (C-ordered, as ndarray.dot's out= and bias_add need)
        # Seed §5 step 2: a^1 = σ(z^1), with z^1 the input itself.
        z[1] = X
        a[1] = inputs[1] = X if layers.identity_input else layers.σ[1].forward(X)
        if dropout is None and layers.dropout:
            masks[:] = [None] * (L + 1)  # no masks left over from a pass with dropout
        layers.dropout = dropout is not None
        if dropout is not None and dropout[0] > 0.0:
            # Input dropout (Hinton et al. 2012): a^1 as layer 2 consumes it; no δ^1
            # flows back, so the mask only enters eq. 13 through a^1.
            inputs[1] = a[1] * self._mask(layers, tuple(a[1].shape), dropout[0], rng, a[1])
        for l in range(2, L + 1):
            # eq. 1 (rows as examples): z^l = W^l a^{l-1} + b^l, i.e. a^{l-1} W^lᵀ + b^l.
            if numpy:  # Ops.affine without its frame: a tiny network's step counts calls
                zl = inputs[l - 1].dot(WT[l], z[l])  # (ndarray.dot: no dispatch; out= by position)
                if bias_add[l] is None:
                    add(zl, b[l], zl)
                else:
                    bias_add[l](zl)  # zl += b^l, one BLAS call instead of a broadcast
            else:
                zl = affine(inputs[l - 1], WT[l], b[l], out=z[l])
            # a^l = σ(z^l); eq. 2 is this loop's composition.
            inputs[l] = σ[l].forward(zl, out=a[l])
            if dropout is not None and l < L and dropout[l - 1] > 0.0:
                masks[l] = mask = self._mask(layers, tuple(zl.shape), dropout[l - 1], rng, zl)
                inputs[l] = a[l] * mask
        return a[L]

    @staticmethod
    def _mask(
        layers: Layers,
        shape: tuple[int, ...],
        p: float,
        rng: np.random.Generator | None,
        like: Array,
    ) -> Array:
        """An inverted-dropout mask of ``shape``: 0 with probability ``p``, else ``1/(1-p)``."""
        if rng is None:
            raise ValueError("dropout needs a random generator (rng)")
        keep = 1.0 - p
        # Drawn by NumPy's generator in every namespace, so a seeded run is
        # the same run on NumPy and on PyTorch (to rounding).
        dtype = layers.numpy_dtype
        mask = (rng.random(shape) < keep).astype(dtype)
        mask /= dtype.type(keep)
        return layers.ops.asarray(mask, like)

    # ------------------------------------------------------------------ cost

    def per_example_cost(self, fwd: Forward, Y: Array) -> Array:
        """The per-example cost ``C(a^L, λ)``, shape ``(n,)``."""
        sigma_L = self.sigma[-1]
        assert sigma_L is not None
        return self.cost.value(fwd.z[-1], fwd.output, Y, sigma_L)

    # ------------------------------------------------------------------ backward

    def backward(
        self,
        layers: Layers,
        Y: Array,
        row_weights: Array | None = None,
        step: tuple[float, float] | tuple[float, float, Any] | None = None,
    ) -> Iterator[Layer]:
        """Backpropagate the last :meth:`forward` pass (seed §4, §5 steps 3–6).

        A generator: it yields layer ``l`` (from ``L`` down to 2) as soon as its
        gradients ``grad_W``, ``grad_b`` are computed and eq. 9 has used its
        ``W^l`` for ``δ^{l-1}``, so the caller may update that layer in place
        before the pass goes on.

        Parameters
        ----------
        layers : Layers
            The layers of the forward pass, for the same batch.
        Y : array of shape (n, N_L)
            The targets ``λ``, one row per example.
        row_weights : array of shape (n,), optional
            The weight of each example's cost in the loss; the default ``1/n``
            makes the loss the batch mean.
        step : (float, float), optional
            ``(η, shrink)``: plain gradient descent folded into eq. 13 — each layer
            is updated in place, ``W^l ← shrink · W^l − η δ^lᵀ a^{l-1}`` in one
            product and ``b^l ← b^l − η δ^lᵀ 1`` (:meth:`Ops.descent_kernel`: BLAS's
            ``?gemm`` and ``?gemv`` with β = 1 on NumPy, ``addmm_`` on PyTorch),
            before it is yielded; ``grad_W`` (and on NumPy ``grad_b``) is then not
            computed.  ``shrink`` is ``1 − ηλ/n`` with L2 weight decay (Nielsen
            eq. 93), else 1.  Without ``row_weights``, ``delta`` then holds the
            unscaled ``δ^l`` and the step is taken with ``η/n``.  ``(η, 1, velocities)``
            takes a momentum step instead (:meth:`Ops.momentum_kernel`), with
            ``velocities.mu``, ``.nesterov`` and the velocity arrays ``.vW[l]``,
            ``.vb[l]`` of layer ``l``.  On folded layers (module docstring) the SGD step
            is one ``?gemm`` on ``P^l``, with weight decay shrinking ``W^l`` alone first.
        """
        L, z, a, W, delta = layers.L, layers.z, layers.a, layers.W, layers.delta
        σ = layers.kernels  # σ[l].times_derivative: eq. 9's product, bound to the namespace
        if step is not None and layers.folded and row_weights is None and len(step) == 2:
            # Plain SGD on folded parameters (module docstring), the loop below in fewer
            # lines: eq. 5; per layer eq. 9 through P^{l+1} and eqs. 13, 15 with the step
            # in one ?gemm; the batch mean's 1/n rides in η (see below).
            PT, ones_deltaT, feed, layer = layers.PT, layers.ones_deltaT, layers.feed, layers.layer
            if layers.minus_delta:
                np.subtract(a[L], Y, delta[L])
            else:
                delta[L] = self.cost.delta(z[L], a[L], Y, layers.σ[L], out=delta[L])
            eta, shrink = step[0] / layers.n, step[1]
            for l in range(L - 1, 0, -1):
                if l > 1:
                    PT[l + 1].dot(delta[l + 1].T, ones_deltaT[l])  # eq. 9, as below
                    σ[l].times_derivative(delta[l], z[l], a[l])
                done = layer[l + 1]
                done.descend_step(delta[l + 1], feed[l], eta, shrink)  # type: ignore[union-attr]
                yield done  # type: ignore[misc]
            return
        ops = layers.ops
        inputs, masks, dot, sum_rows = layers.inputs, layers.masks, ops.dot, ops.sum_rows
        # Step 3, eq. 5: δ^L = [∂C/∂a^L] · [∂a^L/∂z^L], the cost's own form.
        if layers.minus_delta:  # a^L − λ: the cost's own delta, one ufunc call sooner
            dL = np.subtract(a[L], Y, delta[L])
        else:
            dL = self.cost.delta(z[L], a[L], Y, layers.σ[L], out=delta[L])
        if row_weights is None and step is not None:
            # The batch mean's 1/n rides in the step size instead: eqs. 9, 13 and 15 are
            # linear in δ, so the unscaled δ^l with η/n give the same update, one pass fewer.
            step = (step[0] / layers.n if layers.n else 0.0, *step[1:])
        elif row_weights is None:
            dL *= layers.inv_n
        elif ops is NUMPY_OPS:
            dL *= row_weights.astype(dL.dtype, copy=False)[:, None]
        else:
            dL *= ops.xp.astype(row_weights, dL.dtype)[:, None]  # in the network's namespace
        delta[L] = dL
        layer = layers.layer
        sgd = step is not None and len(step) == 2  # else momentum (a third entry)
        folded = layers.folded  # P^l = [W^l | b^l] and inputs [a^{l-1} | 1] (module docstring)
        feed = layers.feed if folded else inputs  # what eq. 13 of layer l + 1 reads
        PT, ones_deltaT = (layers.PT, layers.ones_deltaT) if folded else (W, W)
        for l in range(L - 1, 0, -1):
            if l > 1:  # δ^1 is never needed: layer 1 has no parameters
                if folded:
                    # Eq. 9 through P^{l+1}: δ^{l+1} P^{l+1} = [δ^{l+1} W^{l+1} | δ^{l+1} b^{l+1}],
                    # whose first N_l columns are δ^l's buffer (written transposed,
                    # P^{l+1}ᵀ δ^{l+1}ᵀ), then times σ'(z^l) in place.
                    PT[l + 1].dot(delta[l + 1].T, ones_deltaT[l])
                    σ[l].times_derivative(delta[l], z[l], a[l])
                else:
                    # Step 4: δ^l = δ^{l+1} W^{l+1} diag σ'(z^l), before W^{l+1} changes.
                    delta[l] = σ[l].times_derivative(dot(delta[l + 1], W[l + 1], out=delta[l]), z[l], a[l])  # eq. 9  # noqa: E501  # fmt: skip
                mask = masks[l] if layers.dropout else None
                if mask is not None:
                    delta[l] *= mask  # dropout: a dropped unit passes no gradient back
            done = layer[l + 1]
            assert done is not None
            if step is None:
                # Step 6, eq. 15: [δC/δb^{l+1}] = δ^{l+1} · I (summed over the weighted batch).
                sum_rows(delta[l + 1], out=done.grad_b)
                # Step 5, eq. 13: [δC/δW^{l+1}] = a^l ⊗ δ^{l+1}; summed over the batch that
                # is a^lᵀ δ^{l+1}, stored transposed, δ^{l+1}ᵀ a^l (grad_W has W^{l+1}'s shape).
                done.product(delta[l + 1].T, inputs[l], out=done.grad_W)
            elif sgd:
                # Eqs. 13 and 15 inside the gradient-descent step (Ops.descent_kernel):
                # W^{l+1} ← shrink · W^{l+1} − η δ^{l+1}ᵀ a^l, b^{l+1} ← b^{l+1} − η δ^{l+1}ᵀ 1.
                done.descend_step(delta[l + 1], feed[l], *step)
            else:
                # ... or inside the momentum step: v ← μ v − η δ^{l+1}ᵀ a^l, W^{l+1} ← W^{l+1} + v.
                m = step[2]  # type: ignore[misc]  # (η, 1, velocities): not sgd
                done.momentum_step(
                    delta[l + 1], inputs[l], step[0], m.mu, m.nesterov, m.vW[l + 1], m.vb[l + 1]
                )
            yield done  # eq. 9 is done with W^{l+1}: the caller may update this layer now

    def gradients(self, layers: Layers, Y: Array, *, row_weights: Array | None = None) -> Backward:
        """All of :meth:`backward` at once, as a :class:`Backward`."""
        for _ in self.backward(layers, Y, row_weights=row_weights):
            pass
        return Backward(
            delta=[None, *layers.delta[1:]],
            grad_weights=layers.grad_W[2:],
            grad_biases=layers.grad_b[2:],
        )


class _Kernels:
    """One layer's σ and σ′ product for one namespace (``Activation.kernels``)."""

    __slots__ = ("forward", "times_derivative")

    def __init__(self, forward: Callable[..., Any], times_derivative: Callable[..., Any]) -> None:
        self.forward = forward
        self.times_derivative = times_derivative


def _kernels(layer: Layer, ops: Ops) -> _Kernels:
    """``layer``'s σ and σ′ product; on NumPy, sigmoid's and softmax's with buffers of their own.

    ``δ ⊙ a(1 − a)`` is the activation's own three ufunc calls, into a buffer made
    once instead of a new ``1 − a`` every step (the same values, bit for bit).
    A softmax over a few columns sums its rows by one product with a matrix of
    ones (:func:`_softmax_kernel`).  Only the layer's own shapes take these paths;
    any other arrays go to the activation's own methods.
    """
    forward, times = layer.sigma.kernels(ops)
    if ops is not NUMPY_OPS:
        return _Kernels(forward, times)
    if type(layer.sigma).kernels is Sigmoid.kernels:
        own = layer.a
        s = np.empty_like(own)
        one = np.ones_like(own)  # 1 − a as a same-shape subtraction: no scalar to convert
        subtract, multiply = np.subtract, np.multiply

        def times(d: Array, z: Array, a: Array) -> Array:
            if a is not own:  # not this layer's buffers: the activation's own path
                d *= np.multiply(a, np.subtract(1, a))
                return d
            # (out= by position: a keyword costs each ufunc call a little more.)
            multiply(a, subtract(one, a, s), s)
            return multiply(d, s, d)

    elif type(layer.sigma) is Softmax and layer.a.shape[1] <= _SOFTMAX_SUM_BY_PRODUCT:
        forward = _softmax_kernel(layer.sigma, layer.a)
    return _Kernels(forward, times)


#: Softmax outputs of at most this many classes sum their rows by a product with a
#: square matrix of ones: ``N_L²`` multiplications a row, cheaper than a reduction
#: along a short last axis and a broadcast division until ``N_L`` is large.
_SOFTMAX_SUM_BY_PRODUCT = 16


#: ``Σ z²`` below which every ``|z| < 60``: ``e^z`` then lies in [1e-26, 1e26], far from
#: overflow and from float32's subnormals, so softmax needs no shift by the row maximum.
_SOFTMAX_UNSHIFTED_SQ = 60.0**2


def _softmax_kernel(sigma: Activation, like: Array) -> Callable[..., Array]:
    """Softmax into ``out`` of ``like``'s shape ``(n, N_L)``, its row sums by one product.

    ``e = exp(z − c)``; ``e @ 1`` (``1`` the ``N_L × N_L`` matrix of ones)
    holds every row's sum in each of its columns, so the division is elementwise
    (no broadcast) and the sum a BLAS call rather than NumPy's reduction of many
    short rows.  The shift ``c`` only keeps ``exp`` in range (softmax is the same for
    any ``c``): when ``Σ z² < 60²`` (one dot product, checked every call), every
    ``|z| < 60`` and ``c = 0``, which saves the row maximum and its broadcast
    subtraction (two of a tiny step's ~20 NumPy calls); otherwise ``c = max_j z``, as in
    :meth:`Softmax.forward`.  The same values as :meth:`Softmax.forward` to round-off
    (the sum of ``N_L`` terms in BLAS's order; without the shift ``exp`` is taken of
    ``z`` itself, not of the rounded ``z − c``).  Other shapes, or no ``out``, take
    :meth:`Softmax.forward` itself.
    """
    n, N = like.shape
    ones = np.ones((N, N), like.dtype)
    sums = np.empty_like(like)
    zmax = np.empty((n, 1), like.dtype)
    maximum, subtract, exp, divide = np.maximum.reduce, np.subtract, np.exp, np.divide
    few_rows = n <= 16  # else the maximum of a transposed copy (functions._row_max)
    ravel = np.ndarray.ravel

    def forward(z: Array, out: Array | None = None) -> Array:
        if out is None or z.shape != like.shape or out.dtype != like.dtype:
            return sigma.forward(z, out=out)
        flat = ravel(z)
        if flat.dot(flat) < _SOFTMAX_UNSHIFTED_SQ:  # (False for a NaN or an inf too)
            e = exp(z, out)
        else:
            # Subtracting the row maximum leaves softmax unchanged and keeps exp ≤ 1.
            zm = maximum(z, axis=-1, out=zmax, keepdims=True) if few_rows else _row_max(z)
            e = subtract(z, zm, out)
            exp(e, e)
        return divide(e, e.dot(ones, sums), e)

    return forward


def _weight_product(n: int, rows: int, cols: int) -> Callable[..., Any]:
    """The NumPy product for eq. 13's ``δᵀ a``: ``np.matmul`` for big, ``ndarray.dot`` for small.

    Both end in the same BLAS GEMM (the same values); with a transposed first
    operand and ``out=``, ``np.matmul`` is ~10 % faster on big products (a W3 layer)
    but costs microseconds of set-up that ``ndarray.dot`` (``np.dot`` without its
    ``__array_function__`` dispatch) does not on tiny ones.
    """
    return np.matmul if n * rows * cols >= 1 << 22 else np.ndarray.dot


def folded(W: Any, b: Any) -> Array | None:
    """The folded parameters ``P = [W | b]`` of which ``W``, ``b`` are the views, or None.

    ``P`` is a C-ordered ``(N_l, N_{l-1} + 1)`` NumPy array that BLAS updates in place
    (:meth:`~chainrule.backend.BlasKernels.ready`), ``W = P[:, :-1]`` and ``b = P[:, -1]``
    (the very memory, not copies).
    """
    base = getattr(W, "base", None)
    if type(W) is not np.ndarray or type(base) is not np.ndarray:
        return None
    P: Array = base  # type: ignore[assignment]
    if getattr(b, "base", None) is not P:
        return None
    if P.ndim != 2 or not BlasKernels.ready(P) or P.shape[1] < 2:
        return None
    N, M = P.shape[0], P.shape[1] - 1
    item = P.itemsize
    if W.shape != (N, M) or b.shape != (N,) or W.strides != P.strides:
        return None
    if b.strides != (P.strides[0],) or W.ctypes.data != P.ctypes.data:
        return None
    return P if b.ctypes.data == P.ctypes.data + M * item else None


def fold_parameters(weights: list[Array], biases: list[Array]) -> None:
    """Store each layer's ``W^l``, ``b^l`` as views of one array ``P^l = [W^l | b^l]``, in place.

    ``weights[i]``, ``biases[i]`` that are not such views yet (:func:`folded`) are
    copied into a new C-ordered ``P`` of shape ``(N_l, N_{l-1} + 1)`` and the lists'
    entries replaced by its views ``P[:, :-1]`` and ``P[:, -1]`` (the same values and
    dtype; different array objects).  Anything that reads or writes ``W^l``, ``b^l``
    in place (optimizers, max-norm, averaging, saving) works on the views unchanged.
    NumPy arrays only.
    """
    for i, (W, b) in enumerate(zip(weights, biases, strict=True)):
        if folded(W, b) is not None:
            continue
        P = np.empty((W.shape[0], W.shape[1] + 1), W.dtype)
        P[:, :-1] = W
        P[:, -1] = b
        weights[i], biases[i] = P[:, :-1], P[:, -1]


def unfold_parameters(weights: list[Array], biases: list[Array]) -> None:
    """Undo :func:`fold_parameters`: folded ``W^l``, ``b^l`` become C-ordered arrays of their own.

    For training that does not take the folded path (momentum, dropout, …): its BLAS
    kernels update only C-ordered arrays in place.  The same values; new objects.
    """
    for i, (W, b) in enumerate(zip(weights, biases, strict=True)):
        if folded(W, b) is not None:
            weights[i], biases[i] = W.copy(), b.copy()
