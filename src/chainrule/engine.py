"""The batched kernels: feed-forward (seed eqs. 1–2) and backpropagation (eqs. 5, 9, 13, 15).

This is the only module that issues matrix products.  Everything else in
chainrule (the network, training, data, CLI, estimators, plots) calls
:class:`Engine` and never touches BLAS details, so that a different array
backend is a change to this file alone.

Layout
------
A batch of ``n`` examples is processed at once, one example per row.  The
seed's column vectors ``z^l``, ``a^l`` become the rows of ``z[l]``, ``a[l]``
of shape ``(n, N_l)``, and its row-vector gradients ``δ^l`` become the rows of
``delta[l]``.  Lists are indexed with the seed's layer numbers: ``z[1]`` is the
input ``z^1`` and ``W[l]`` is ``W^l`` (``W[0]``, ``W[1]`` are unused).

With rows as examples, ``z^l = W^l a^{l-1} + b^l`` (eq. 1) reads
``z[l] = a[l-1] @ W[l].T + b[l]``, and ``δ^l = δ^{l+1} W^{l+1} diag σ'(z^l)``
(eq. 9) reads ``delta[l] = (delta[l+1] @ W[l+1]) * σ'(z[l])`` — the seed's row
vectors need no transposes at all.

The batch mean
--------------
The loss is the mean of the per-example cost over the batch.  Rather than
dividing each gradient by ``n`` (one pass over every weight matrix), the engine
scales ``δ^L`` by the row weights ``1/n`` once; the recursion carries that
factor through every layer.  Hence ``Backward.delta[l]`` holds ``δ^l / n``, and
custom row weights (sample weights) slot in at the same place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from .functions import Activation, Cost, CrossEntropy, LogLikelihood, Quadratic, ReLU, Sigmoid, Tanh

Array = npt.NDArray[np.floating]

__all__ = ["Backward", "Engine", "Forward", "SGDPlan"]


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

    z: list[Array | None]
    a: list[Array | None]
    inputs: list[Array | None]
    masks: list[Array | None] = field(default_factory=list)

    @property
    def output(self) -> Array:
        """The network's output ``a^L``, shape ``(n, N_L)``."""
        out = self.a[-1]
        assert out is not None
        return out


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
        # Per-(n, dtype) buffers for the training path; see `_buffers`.
        self._cache: dict[tuple[int, np.dtype], dict[str, list[Array | None]]] = {}

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        weights: Sequence[Array],
        biases: Sequence[Array],
        X: Array,
        *,
        dropout: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
        reuse: bool = False,
    ) -> Forward:
        """Feed ``X`` of shape ``(n, N_1)`` forward through the network (eqs. 1, 2).

        Parameters
        ----------
        weights, biases : sequences of arrays
            ``weights[l-2]`` is ``W^l`` of shape ``(N_l, N_{l-1})``,
            ``biases[l-2]`` is ``b^l`` of shape ``(N_l,)``.
        X : array of shape (n, N_1)
            The inputs ``z^1``, one example per row, already in the network's dtype.
        dropout : sequence of float, optional
            ``dropout[l-1]`` is the drop probability for the activations of layer
            ``l`` (inverted dropout: kept units are scaled by ``1/(1-p)``).
        rng : numpy.random.Generator, optional
            Needed when ``dropout`` is given.
        reuse : bool, default False
            Write into persistent per-batch-size buffers instead of fresh arrays
            (the training path).  The result is then only valid until the next
            call with the same batch size.
        """
        L = len(self.sigma) - 1
        n = X.shape[0]
        buf = self._buffers(n, X.dtype, weights) if reuse else None
        z: list[Array | None] = [None] * (L + 1)
        a: list[Array | None] = [None] * (L + 1)
        inputs: list[Array | None] = [None] * (L + 1)
        masks: list[Array | None] = [None] * (L + 1)

        # Seed §5 step 2: a^1 = σ(z^1), with z^1 the input itself.
        z[1] = X
        sigma1 = self.sigma[1]
        assert sigma1 is not None
        a[1] = X if sigma1.name == "identity" else sigma1.forward(X)
        inputs[1] = a[1]
        for l in range(2, L + 1):
            W, b, sigma = weights[l - 2], biases[l - 2], self.sigma[l]
            assert sigma is not None
            prev = inputs[l - 1]
            assert prev is not None
            # eq. 1 (rows as examples): z^l = W^l a^{l-1} + b^l.
            if buf is None:
                zl = prev @ W.T
            else:
                zl = np.dot(prev, W.T, out=buf["z"][l])
            zl += b
            z[l] = zl
            # a^l = σ(z^l); eq. 2 is this loop's composition.
            a[l] = sigma.forward(zl, out=None if buf is None else buf["a"][l])
            inputs[l] = a[l]
            p = 0.0 if dropout is None or l == L else dropout[l - 1]
            if p > 0.0:
                if rng is None:
                    raise ValueError("dropout needs a random generator (rng)")
                keep = 1.0 - p
                mask = (rng.random(zl.shape) < keep).astype(zl.dtype)
                mask /= zl.dtype.type(keep)
                masks[l] = mask
                inputs[l] = a[l] * mask
        return Forward(z=z, a=a, inputs=inputs, masks=masks)

    # ------------------------------------------------------------------ cost

    def per_example_cost(self, fwd: Forward, Y: Array) -> Array:
        """The per-example cost ``C(a^L, λ)``, shape ``(n,)``."""
        sigma_L = self.sigma[-1]
        assert sigma_L is not None
        zL = fwd.z[-1]
        assert zL is not None
        return self.cost.value(zL, fwd.output, Y, sigma_L)

    # ------------------------------------------------------------------ backward

    def backward(
        self,
        weights: Sequence[Array],
        fwd: Forward,
        Y: Array,
        *,
        row_weights: Array | None = None,
        reuse: bool = False,
    ) -> Backward:
        """Backpropagate from the cost to every weight and bias (seed §4, §5 steps 3–6).

        Parameters
        ----------
        weights : sequence of arrays
            ``weights[l-2]`` is ``W^l``, as used in :meth:`forward`.
        fwd : Forward
            The saved pass for the same batch.
        Y : array of shape (n, N_L)
            The targets ``λ``, one row per example.
        row_weights : array of shape (n,), optional
            The weight of each example's cost in the loss; the default ``1/n``
            makes the loss the batch mean.
        reuse : bool, default False
            Write gradients into persistent buffers (the training path).

        Returns
        -------
        Backward
            ``grad_weights[l-2]`` of shape ``(N_l, N_{l-1})`` is the transpose of
            the seed's ``[δC/δW^l]`` (eq. 13), summed with the row weights.
        """
        L = len(self.sigma) - 1
        n = fwd.output.shape[0]
        buf = self._buffers(n, fwd.output.dtype, weights) if reuse else None
        delta: list[Array | None] = [None] * (L + 1)
        sigma_L = self.sigma[L]
        zL = fwd.z[L]
        assert sigma_L is not None and zL is not None

        # Step 3, eq. 5: δ^L = [∂C/∂a^L] · [∂a^L/∂z^L].
        dL = self.cost.output_delta(zL, fwd.output, Y, sigma_L)
        if dL is None:
            # General case: row gradient times the Jacobian (diagonal by eq. 8,
            # or softmax's full Jacobian, applied without forming it).
            dL = self.cost.derivative(fwd.output, Y)
            if buf is not None and type(sigma_L) in _FAST_DERIVATIVES:
                _times_derivative(dL, sigma_L, zL, fwd.output, buf["scratch"][L])
            else:
                dL = sigma_L.vjp(zL, fwd.output, dL)
        if row_weights is None:
            dL *= dL.dtype.type(1.0 / n)
        else:
            dL *= row_weights.astype(dL.dtype, copy=False)[:, None]
        delta[L] = dL

        # Step 4, eq. 9: δ^l = δ^{l+1} W^{l+1} diag σ'(z^l), for l = L-1 .. 2.
        # (δ^1 is never needed: layer 1 has no parameters.)
        for l in range(L - 1, 1, -1):
            sigma = self.sigma[l]
            zl, al = fwd.z[l], fwd.a[l]
            d_next = delta[l + 1]
            assert sigma is not None and zl is not None and al is not None and d_next is not None
            if buf is None:
                dl = d_next @ weights[l - 1]
            else:
                dl = np.dot(d_next, weights[l - 1], out=buf["delta"][l])
            # the diagonal matrix of eq. 8, as a product
            _times_derivative(dl, sigma, zl, al, None if buf is None else buf["scratch"][l])
            mask = fwd.masks[l] if fwd.masks else None
            if mask is not None:
                dl *= mask  # dropout: a dropped unit passes no gradient back
            delta[l] = dl

        # Steps 5 and 6, eqs. 13 and 15, for l = L .. 2.
        grad_w: list[Array] = []
        grad_b: list[Array] = []
        for l in range(2, L + 1):
            dl, prev = delta[l], fwd.inputs[l - 1]
            assert dl is not None and prev is not None
            # eq. 13: [δC/δW^l] = a^{l-1} ⊗ δ^l (shape N_{l-1} × N_l); summed over
            # the batch that is a^{l-1}ᵀ δ^l.  We store its transpose, δ^lᵀ a^{l-1},
            # so that grad_weights[l-2] has the shape of W^l.
            if buf is None:
                gw = dl.T @ prev
                gb = dl.sum(axis=0)
            else:
                product = _weight_product(n, dl.shape[1], prev.shape[1])
                gw = product(dl.T, prev, out=buf["grad_w"][l])
                gb = np.add.reduce(dl, axis=0, out=buf["grad_b"][l])
            # eq. 15: [δC/δb^l] = δ^l · I = δ^l (summed over the weighted batch).
            grad_w.append(gw)
            grad_b.append(gb)
        return Backward(delta=delta, grad_weights=grad_w, grad_biases=grad_b)

    # ------------------------------------------------------------------ fused SGD step

    def sgd_plan(
        self, weights: Sequence[Array], biases: Sequence[Array], n: int
    ) -> SGDPlan:
        """Precompute everything :meth:`train_step` needs for batches of ``n`` rows.

        The plan holds, per layer, ``W^l``, ``b^l`` (the network's own arrays,
        updated in place) and the persistent buffers of :meth:`_buffers`, as flat
        tuples, so that a step is a run of NumPy calls with no lookups, no list
        building and no allocation.  It stays valid while the network's parameter
        arrays are the same objects.
        """
        dtype = weights[0].dtype
        buf = self._buffers(n, dtype, weights)
        L = len(self.sigma) - 1
        sig = self.sigma

        def forward_fn(sigma: Activation) -> Any:
            # The ufunc itself where Activation.forward is exactly that call.
            return {Sigmoid: expit, Tanh: np.tanh}.get(type(sigma), sigma.forward)

        def derivative_of(l: int) -> tuple:
            # (δ buffer, σ-or-its-type, z, a, scratch) for eq. 9 at layer l.
            s = sig[l]
            assert s is not None
            kind = type(s) if type(s) in _FAST_DERIVATIVES else s
            return (buf["delta"][l], kind, buf["z"][l], buf["a"][l], buf["scratch"][l])

        hidden = []
        for l in range(2, L):
            s = sig[l]
            assert s is not None
            hidden.append((weights[l - 2].T, biases[l - 2], buf["z"][l], buf["a"][l],
                           forward_fn(s)))
        sigma_L = sig[L]
        assert sigma_L is not None
        backward = []
        for l in range(L, 1, -1):
            W, b, gw = weights[l - 2], biases[l - 2], buf["grad_w"][l]
            # The update W ← W − η∇ in row blocks of about 64k values: η∇ of a block
            # is still in cache when it is subtracted (half the time of whole-matrix
            # passes for a 1024 × 1024 layer; the same values).
            rows = max(1, (1 << 16) // W.shape[1])
            scaled = np.empty((min(rows, W.shape[0]), W.shape[1]), dtype)
            blocks = tuple((W[r:r + rows], gw[r:r + rows], scaled[: min(rows, W.shape[0] - r)])
                           for r in range(0, W.shape[0], rows))
            backward.append((
                W, b, None if l == 2 else buf["a"][l - 1],
                gw, buf["grad_b"][l], gw.reshape(-1), blocks, np.empty_like(b),
                None if l == 2 else derivative_of(l - 1), _weight_product(n, *W.shape),
            ))
        # Which form of eq. 5 applies, decided once: δ^L = a − λ (softmax with
        # log-likelihood, sigmoid with cross-entropy), quadratic's 2(a − λ) σ'(z),
        # or the general row gradient times the Jacobian, as in `backward`.
        ctype = type(self.cost)
        probe = np.zeros((1, 2), dtype)
        if ctype in (LogLikelihood, CrossEntropy) and self.cost.output_delta(
                probe, probe, probe, sigma_L) is not None:
            delta_kind = 0
        elif ctype is Quadratic and type(sigma_L) in _FAST_DERIVATIVES:
            delta_kind = 1
        else:
            delta_kind = 2
        sigma1 = sig[1]
        assert sigma1 is not None
        return SGDPlan(
            n=n, hidden=tuple(hidden),
            output=(weights[-1].T, biases[-1], forward_fn(sigma_L)),
            backward=tuple(backward), delta_L=buf["delta"][L], scratch_L=buf["scratch"][L],
            delta_kind=delta_kind, sigma_L=sigma_L,
            input_forward=None if sigma1.name == "identity" else sigma1.forward,
            inv_n=dtype.type(1.0 / n), dtype=dtype.type,
        )

    def train_step(
        self,
        plan: SGDPlan,
        X: Array,
        Y: Array,
        zL: Array,
        aL: Array,
        lr: float,
        sq_norms: list[float],
        row_weights: Array | None = None,
        l2: float = 0.0,
    ) -> None:
        """One plain-SGD step on a batch: forward, backward and update, fused.

        Bitwise the same arithmetic as :meth:`forward`, :meth:`backward` and
        :class:`~chainrule.training.optimizers.SGD` (``θ ← θ − η ∇``) in sequence,
        with fewer Python calls: the update of ``W^l`` follows as soon as eq. 9
        has used it.

        Parameters
        ----------
        plan : SGDPlan
            From :meth:`sgd_plan` for ``n = X.shape[0]``.
        X, Y : arrays of shape (n, N_1), (n, N_L)
            The batch's inputs ``z^1`` and targets ``λ``.
        zL, aL : arrays of shape (n, N_L)
            Where ``z^L`` and ``a^L`` are written (the loop's epoch buffers, so the
            history's loss and accuracy are computed once per epoch).
        lr : float
            η.
        sq_norms : list of float
            ``sq_norms[l-2] += ‖∇_{W^l}‖²`` (the history's gradient norms).
        row_weights : array of shape (n,), optional
            Per-example weights of the loss (default ``1/n``).
        l2 : float
            ``λ/n_train`` of Nielsen's L2 penalty, added as ``(λ/n) W^l``.
        """
        t = plan.dtype
        eta = t(lr)
        # Seed §5 step 2: a^1 = σ(z^1).
        prev = X if plan.input_forward is None else plan.input_forward(X)
        x_in = prev
        for WT, b, z, a, forward in plan.hidden:
            # eq. 1: z^l = W^l a^{l-1} + b^l (rows as examples); a^l = σ(z^l), and
            # eq. 2 is this loop's composition.
            np.dot(prev, WT, out=z)
            z += b
            prev = forward(z, out=a)
        WT, b, forward = plan.output
        np.dot(prev, WT, out=zL)
        zL += b
        forward(zL, out=aL)

        # Step 3, eq. 5: δ^L = [∂C/∂a^L] · [∂a^L/∂z^L].
        kind = plan.delta_kind
        if kind == 0:
            d = np.subtract(aL, Y, out=plan.delta_L)  # the simplified δ^L = a − λ
        elif kind == 1:
            d = np.subtract(aL, Y, out=plan.delta_L)
            d *= 2  # quadratic: ∂C/∂a = 2(a − λ), times eq. 8's diagonal
            _times_derivative(d, plan.sigma_L, zL, aL, plan.scratch_L)
        else:
            d = self.cost.output_delta(zL, aL, Y, plan.sigma_L)
            if d is None:
                d = plan.sigma_L.vjp(zL, aL, self.cost.derivative(aL, Y))
        if row_weights is None:
            d *= plan.inv_n
        else:
            d *= row_weights.astype(d.dtype, copy=False)[:, None]

        i = len(plan.backward)
        for W, b, a_prev, gw, gb, gw_flat, blocks, tb, below, product in plan.backward:
            i -= 1
            if below is not None:
                # Step 4, eq. 9: δ^{l-1} = δ^l W^l diag σ'(z^{l-1}), W^l not yet updated.
                d_prev, skind, z, a, s = below
                np.dot(d, W, out=d_prev)
                if skind is Sigmoid:
                    np.subtract(1, a, out=s)
                    d_prev *= np.multiply(a, s, out=s)
                else:
                    _times_derivative(d_prev, skind, z, a, s)
            else:
                a_prev = x_in
            # eq. 13: the weight gradient δ^lᵀ a^{l-1} (the transpose of a^{l-1} ⊗ δ^l).
            product(d.T, a_prev, out=gw)
            # eq. 15: δC/δb^l = δ^l, summed over the (weighted) batch.
            np.add.reduce(d, axis=0, out=gb)
            if l2:
                gw += t(l2) * W
            sq_norms[i] += float(gw_flat.dot(gw_flat))
            # Gradient descent, θ ← θ − η ∇, in place.
            for W_rows, gw_rows, scaled in blocks:
                W_rows -= np.multiply(gw_rows, eta, out=scaled)
            b -= np.multiply(gb, eta, out=tb)
            if below is not None:
                d = d_prev

    # ------------------------------------------------------------------ buffers

    def _buffers(
        self, n: int, dtype: np.dtype, weights: Sequence[Array]
    ) -> dict[str, list[Array | None]]:
        """Persistent arrays for a batch of ``n`` rows, reused across training steps.

        Fresh temporaries every step cost page faults; keeping one set per batch
        size (the last batch of an epoch may be smaller) avoids them.
        """
        key = (n, np.dtype(dtype))
        buf = self._cache.get(key)
        if buf is None:
            L = len(self.sigma) - 1
            sizes = [0, weights[0].shape[1]] + [W.shape[0] for W in weights]
            buf = {
                "z": [None, None] + [np.empty((n, sizes[l]), dtype) for l in range(2, L + 1)],
                "a": [None, None] + [np.empty((n, sizes[l]), dtype) for l in range(2, L + 1)],
                "delta": [None, None] + [np.empty((n, sizes[l]), dtype) for l in range(2, L + 1)],
                "grad_w": [None, None] + [np.empty(W.shape, dtype) for W in weights],
                "grad_b": [None, None] + [np.empty(W.shape[0], dtype) for W in weights],
                "scratch": [None, None] + [np.empty((n, sizes[l]), dtype) for l in range(2, L + 1)],
            }
            if len(self._cache) > 4:  # keep memory bounded across odd batch sizes
                self._cache.clear()
            self._cache[key] = buf
        return buf

    def clear_buffers(self) -> None:
        """Release the persistent training buffers."""
        self._cache.clear()


_FAST_DERIVATIVES = (Sigmoid, Tanh, ReLU)


@dataclass(frozen=True)
class SGDPlan:
    """What :meth:`Engine.train_step` needs for one batch size, computed once.

    ``hidden`` holds ``(W^lᵀ, b^l, z, a, σ)`` for the hidden layers, ``output``
    ``(W^Lᵀ, b^L, σ)``; ``backward`` holds, from ``l = L`` down to 2, ``(W^l, b^l,
    a^{l-1} buffer or None for the input, ∇W, ∇b, ∇W flat, the update's row blocks
    (W rows, ∇W rows, η∇W scratch), η∇b scratch, eq. 9's (δ^{l-1}, σ or its type,
    z^{l-1}, a^{l-1}, scratch) or None, and eq. 13's product function)``.
    """

    n: int
    hidden: tuple[tuple, ...]
    output: tuple
    backward: tuple[tuple, ...]
    delta_L: Array
    scratch_L: Array
    delta_kind: int
    sigma_L: Activation
    input_forward: Any
    inv_n: np.floating
    dtype: type


def _weight_product(n: int, rows: int, cols: int) -> Any:
    """The NumPy product for eq. 13's ``δᵀ a``: ``np.matmul`` for big, ``np.dot`` for small.

    Both end in the same BLAS GEMM (the same values); with a transposed first
    operand and ``out=``, ``np.matmul`` is ~10 % faster on big products (a W3 layer)
    but costs microseconds of set-up that ``np.dot`` does not on tiny ones.
    """
    return np.matmul if n * rows * cols >= 1 << 22 else np.dot


def _times_derivative(
    dl: Array, sigma: Activation, z: Array, a: Array, scratch: Array | None
) -> None:
    """``dl *= σ'(z)`` in place (eq. 9's diagonal), from the stored output where exact.

    With a ``scratch`` buffer of ``dl``'s shape the common activations allocate
    nothing: sigmoid ``σ' = a(1 − a)``, tanh ``σ' = 1 − a²``, ReLU ``σ' = [a > 0]``.
    The values are bitwise those of ``sigma.derivative(z, a)``.
    """
    kind = sigma if isinstance(sigma, type) else type(sigma)
    if scratch is None or kind not in _FAST_DERIVATIVES:
        dl *= sigma.derivative(z, a)
    elif kind is Sigmoid:
        np.subtract(1, a, out=scratch)
        dl *= np.multiply(a, scratch, out=scratch)
    elif kind is Tanh:
        np.multiply(a, a, out=scratch)
        dl *= np.subtract(1, scratch, out=scratch)
    else:
        # ReLU: a > 0 exactly when z > 0.  The comparison goes into the scratch
        # buffer's first bytes as booleans (a quarter of the memory traffic of
        # 1.0/0.0 floats); multiplying by True/False is multiplying by 1.0/0.0.
        mask = scratch.reshape(-1).view(np.bool_)[: dl.size].reshape(dl.shape)
        dl *= np.greater(a, 0, out=mask)

