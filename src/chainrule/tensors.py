"""The derivation's own objects: row gradients, Jacobians and 3-tensors (seed §3–4).

The fast path (:mod:`chainrule.engine`) never forms a Jacobian: it multiplies by
``σ'`` elementwise and writes eq. 13 as one outer product per layer.  This module
does the opposite, for ONE example ``(x, λ)``: every chain-rule factor of the
seed is built as a full NumPy array in the seed's own shape convention, and the
gradient is obtained only by the products the seed defines between them.

It is the independent second path that proves the fast one right, and the
material ``chainrule explain`` prints.  It deliberately does not import
:mod:`chainrule.engine`: it uses only the activations and costs of
:mod:`chainrule.functions` and the network's parameters.

Shapes (the seed's convention, §3)
----------------------------------
Vectors ``z^l``, ``a^l`` are columns; gradients of a scalar are row vectors.

===================================  ==================================  ===========
object                               array shape (axis order)            seed
===================================  ==================================  ===========
``∂C/∂a^L``                          ``(1, N_L)``: [1, j]                §4.1
``∂a^l/∂z^l = diag σ'(z^l)``         ``(N_l, N_l)``: [j, m]              eq. 8
``∂z^{l+1}/∂z^l = W^{l+1} diag σ'``  ``(N_{l+1}, N_l)``: [k, j]          eq. 7
``δ^l = ∂C/∂z^l``                    ``(1, N_l)``: [1, j]                eqs. 5, 6
``∂z^l/∂W^l``                        ``(N_l, N_{l-1}, N_l)``: [k, i, j]  eq. 12
``∂z^l/∂b^l = I``                    ``(N_l, N_l)``: [k, j]              eq. 15
``[δC/δW^l] = a^{l-1} ⊗ δ^l``        ``(N_{l-1}, N_l)``: [i, j]          eqs. 12, 13
``[δC/δb^l] = δ^l``                  ``(1, N_l)``: [1, j]                eqs. 14, 15
===================================  ==================================  ===========

``[δC/δW^l]`` has the shape of the *transpose* of ``W^l`` (§3.4): entry
``[i, j]`` is ``∂C/∂w^l_{ji}``.  :func:`explicit_gradients` returns its
transpose, so that it has ``W^l``'s shape, exactly like :meth:`Network.backprop`.

Cost
----
The 3-tensor of layer ``l`` has ``N_l² N_{l-1}`` entries (100 × 784 × 100 is
7.8 million): this path is for understanding and checking small networks, not
for training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import numpy.typing as npt

from . import checks
from .functions import Activation, Cost

if TYPE_CHECKING:  # only for annotations: the network is read, never called, here
    from .network import Network

Array = npt.NDArray[np.floating]

__all__ = [
    "Agreement",
    "DerivationTrace",
    "Step",
    "activation_jacobian",
    "bias_jacobian",
    "compare_with_backprop",
    "contract_row_tensor",
    "cost_gradient",
    "explain_trace",
    "explicit_gradients",
    "layer_jacobian",
    "matrix_product",
    "relative_difference",
    "row_times_matrix",
    "tensor_matrix_product",
    "weight_tensor",
]


# --------------------------------------------------------------------------- the objects


def cost_gradient(cost: Cost, a_L: Array, y: Array) -> Array:
    """``∂C/∂a^L``: the gradient of the scalar cost, a row vector (seed §3.2, §4.1).

    Parameters
    ----------
    cost : Cost
    a_L : array of shape (N_L,)
        The output activations ``a^L``.
    y : array of shape (N_L,)
        The target ``λ``.

    Returns
    -------
    ndarray of shape (1, N_L)
        Axis order ``[1, j]``: entry ``j`` is ``∂C/∂a^L_j``.
    """
    return cost.derivative(a_L[None, :], y[None, :])


def activation_jacobian(activation: Activation, z: Array, a: Array) -> Array:
    """``∂a^l/∂z^l``: the Jacobian of the activation (seed eq. 8).

    ``diag σ'(z^l)`` for an elementwise σ; for softmax the full matrix
    ``diag(a) − a aᵀ``, which eq. 8 does not describe.

    Parameters
    ----------
    activation : Activation
    z, a : arrays of shape (N_l,)
        ``z^l`` and ``a^l = σ(z^l)``.

    Returns
    -------
    ndarray of shape (N_l, N_l)
        Axis order ``[j, m]``: entry ``[j, m]`` is ``∂a_j/∂z_m`` (§3.3).
    """
    return activation.jacobian(z[None, :], a[None, :])[0]


def layer_jacobian(W_next: Array, da_dz: Array) -> Array:
    """``∂z^{l+1}/∂z^l = W^{l+1} · [∂a^l/∂z^l]`` (seed eq. 7).

    Parameters
    ----------
    W_next : array of shape (N_{l+1}, N_l)
        ``W^{l+1}``.
    da_dz : array of shape (N_l, N_l)
        ``[∂a^l/∂z^l]`` from :func:`activation_jacobian`.

    Returns
    -------
    ndarray of shape (N_{l+1}, N_l)
        Axis order ``[k, j]``: entry ``[k, j]`` is ``∂z^{l+1}_k/∂z^l_j``.
    """
    if W_next.shape[1] != da_dz.shape[0]:
        raise ValueError(
            f"eq. 7: W^(l+1) has {W_next.shape[1]} columns but [∂a^l/∂z^l] "
            f"has {da_dz.shape[0]} rows"
        )
    return W_next @ da_dz


def weight_tensor(a_prev: Array, n_out: int) -> Array:
    """``∂z^l/∂W^l``: the 3-tensor of seed eq. 12 (§3.5, §4.3).

    Entry ``[k, i, j] = I_{j=k} · a^{l-1}_i``: the slice ``[k, ·, ·]`` is
    ``∂z^l_k/∂W^l`` in the seed's layout for a derivative by a matrix, the
    transpose of ``W^l``'s (entry ``[k, i, j]`` is ``∂z_k/∂w_{ji}``).

    Parameters
    ----------
    a_prev : array of shape (N_{l-1},)
        ``a^{l-1}``, the activations that ``W^l`` multiplies.
    n_out : int
        ``N_l``.

    Returns
    -------
    ndarray of shape (N_l, N_{l-1}, N_l)
        Axis order ``[k, i, j]``.
    """
    n_in = a_prev.shape[0]
    T = np.zeros((n_out, n_in, n_out), dtype=a_prev.dtype)
    k = np.arange(n_out)
    # Only the "diagonal" k = j is non-zero, and there it is the column a^{l-1}.
    T[k, :, k] = a_prev
    return T


def bias_jacobian(n: int, dtype: npt.DTypeLike = np.float64) -> Array:
    """``∂z^l/∂b^l = I``, the ``N_l × N_l`` identity (seed eq. 15).

    Returns
    -------
    ndarray of shape (N_l, N_l)
        Axis order ``[k, j]``: ``∂z_k/∂b_j``.
    """
    return np.eye(n, dtype=dtype)


def row_times_matrix(row: Array, matrix: Array) -> Array:
    """The product of a row gradient with a Jacobian (seed eqs. 5, 6, 14).

    ``(1 × m) · (m × n) → (1 × n)``: the chain rule for a scalar function of a
    vector function (§3.2, §3.3).

    Parameters
    ----------
    row : array of shape (1, m)
    matrix : array of shape (m, n)

    Returns
    -------
    ndarray of shape (1, n)
    """
    if row.ndim != 2 or row.shape[0] != 1:
        raise ValueError(f"a row gradient must have shape (1, m), got {row.shape}")
    if matrix.ndim != 2 or matrix.shape[0] != row.shape[1]:
        raise ValueError(
            f"cannot multiply a row of shape {row.shape} by a matrix of shape {matrix.shape}"
        )
    return row @ matrix


def contract_row_tensor(row: Array, tensor: Array) -> Array:
    """The product of a row gradient with a 3-tensor (seed eq. 3 with eq. 12).

    ``[δC/δW]_{(i,j)} = Σ_k row_k · tensor_{(k,i,j)}``: the first axis of the
    tensor (the component ``z_k`` being differentiated) is summed against the
    row gradient, leaving a matrix.

    Parameters
    ----------
    row : array of shape (1, N_l)
        ``δ^l = ∂C/∂z^l``.
    tensor : array of shape (N_l, N_{l-1}, N_l)
        ``∂z^l/∂W^l`` from :func:`weight_tensor`, axis order ``[k, i, j]``.

    Returns
    -------
    ndarray of shape (N_{l-1}, N_l)
        ``[δC/δW^l]``, axis order ``[i, j]``, the transpose of ``W^l``'s shape.
    """
    if row.ndim != 2 or row.shape[0] != 1:
        raise ValueError(f"a row gradient must have shape (1, m), got {row.shape}")
    if tensor.ndim != 3 or tensor.shape[0] != row.shape[1]:
        raise ValueError(
            f"cannot contract a row of shape {row.shape} with a 3-tensor of shape {tensor.shape}"
        )
    return np.einsum("k,kij->ij", row[0], tensor)


def matrix_product(grad: Array, delta_W: Array) -> Array:
    """The product of eq. 3: ``[δf/δW] · ΔW = Σ_ij ∂f/∂w_ij · Δw_ij`` (seed §3.4).

    ``[δf/δW]`` has the shape of the transpose of ``W`` (entry ``[j, i]`` is
    ``∂f/∂w_ij``), so the product contracts both of its axes against
    ``ΔW``'s, transposed: it is the first-order change ``f(W + ΔW) − f(W)``.

    Parameters
    ----------
    grad : array of shape (N_{l-1}, N_l)
        ``[δf/δW^l]`` in the seed's layout, e.g. ``[δC/δW^l]``.
    delta_W : array of shape (N_l, N_{l-1})
        ``ΔW^l``, shaped like ``W^l``.

    Returns
    -------
    ndarray of shape ()
        A scalar.
    """
    if grad.shape != delta_W.T.shape:
        raise ValueError(
            f"eq. 3: [δf/δW] of shape {grad.shape} needs ΔW of shape "
            f"{grad.shape[::-1]}, got {delta_W.shape}"
        )
    return np.einsum("ji,ij->", grad, delta_W)


def tensor_matrix_product(tensor: Array, delta_W: Array) -> Array:
    """A 3-tensor times ``ΔW`` (seed §3.5): component ``k`` is ``[δf_k/δW] · ΔW`` (eq. 3).

    With ``tensor = ∂z^l/∂W^l`` this is the change of ``z^l`` when ``W^l``
    moves by ``ΔW`` (exact, as ``z^l`` is linear in ``W^l``).

    Parameters
    ----------
    tensor : array of shape (M, N_{l-1}, N_l)
        Axis order ``[k, i, j]``; slice ``k`` is ``[δf_k/δW]`` (transpose of W's shape).
    delta_W : array of shape (N_l, N_{l-1})

    Returns
    -------
    ndarray of shape (M,)
        A column vector, like ``f``.
    """
    if tensor.ndim != 3 or tensor.shape[1:] != delta_W.T.shape:
        raise ValueError(
            f"§3.5: a 3-tensor of shape {tensor.shape} needs ΔW of shape "
            f"{tensor.shape[:0:-1]}, got {delta_W.shape}"
        )
    return np.einsum("kij,ji->k", tensor, delta_W)


# --------------------------------------------------------------------------- the trace


@dataclass
class Step:
    """One object of the derivation, as ``chainrule explain`` prints it.

    Attributes
    ----------
    key : str
        An ASCII identifier, unique in the trace, e.g. ``"delta[3]"`` or ``"dz_dW[2]"``.
    name : str
        The object in the seed's notation, e.g. ``"δ^3"`` or ``"∂z^2/∂W^2"``.
    formula : str
        How it is computed, in the seed's notation.
    equation : str
        Where the seed defines it, e.g. ``"eq. 5"`` or ``"§5 step 2"``.
    phase : str
        ``"forward"``, ``"step 3"`` … ``"step 6"`` (the seed's §5 summary).
    axes : str
        The shape in symbols, e.g. ``"1 × N_3"``.
    value : ndarray
        The object itself.
    """

    key: str
    name: str
    formula: str
    equation: str
    phase: str
    axes: str
    value: Array

    @property
    def shape(self) -> tuple[int, ...]:
        """The value's shape."""
        return tuple(self.value.shape)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (nested lists) for JSON."""
        return {
            "key": self.key,
            "name": self.name,
            "formula": self.formula,
            "equation": self.equation,
            "phase": self.phase,
            "axes": self.axes,
            "shape": list(self.shape),
            "values": self.value.tolist(),
        }


@dataclass
class DerivationTrace:
    """Every object of the derivation for one example, by layer (seed §4–5).

    Dictionaries are keyed by the seed's layer number ``l``.

    Attributes
    ----------
    sizes : tuple of int
        ``(N_1, …, N_L)``.
    x : ndarray of shape (N_1,)
        The input ``z^1``.
    y : ndarray of shape (N_L,)
        The target ``λ`` (a class label is one-hot encoded).
    z, a : dict of int to ndarray of shape (N_l,)
        ``z^l`` and ``a^l = σ(z^l)`` for ``l = 1..L`` (§5 step 2).
    cost : float
        ``C(a^L, λ)``.
    dC_da : ndarray of shape (1, N_L)
        ``∂C/∂a^L`` (§4.1).
    da_dz : dict of int to ndarray of shape (N_l, N_l)
        ``∂a^l/∂z^l`` (eq. 8; softmax's full Jacobian), ``l = 1..L``.
    dz_dz : dict of int to ndarray of shape (N_{l+1}, N_l)
        ``∂z^{l+1}/∂z^l`` (eq. 7), keyed by ``l = 1..L-1``.
    delta : dict of int to ndarray of shape (1, N_l)
        ``δ^l`` (eqs. 5, 6), ``l = 1..L`` (``δ^1`` is the gradient with respect to
        the input; no parameter needs it).
    dz_dW : dict of int to ndarray of shape (N_l, N_{l-1}, N_l)
        ``∂z^l/∂W^l`` (eq. 12), ``l = 2..L``.
    dz_db : dict of int to ndarray of shape (N_l, N_l)
        ``∂z^l/∂b^l = I`` (eq. 15), ``l = 2..L``.
    dC_dW : dict of int to ndarray of shape (N_{l-1}, N_l)
        ``[δC/δW^l]`` in the seed's layout (eqs. 10–13), ``l = 2..L``.
    dC_db : dict of int to ndarray of shape (1, N_l)
        ``[δC/δb^l]`` (eqs. 14–15), ``l = 2..L``.
    steps : list of Step
        All of the above, plus ``W^l`` and ``b^l``, in the order of the derivation.
    """

    sizes: tuple[int, ...]
    x: Array
    y: Array
    z: dict[int, Array] = field(default_factory=dict)
    a: dict[int, Array] = field(default_factory=dict)
    cost: float = float("nan")
    dC_da: Array | None = None
    da_dz: dict[int, Array] = field(default_factory=dict)
    dz_dz: dict[int, Array] = field(default_factory=dict)
    delta: dict[int, Array] = field(default_factory=dict)
    dz_dW: dict[int, Array] = field(default_factory=dict)
    dz_db: dict[int, Array] = field(default_factory=dict)
    dC_dW: dict[int, Array] = field(default_factory=dict)
    dC_db: dict[int, Array] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    @property
    def L(self) -> int:
        """The number of layers."""
        return len(self.sizes)

    @property
    def grad_weights(self) -> list[Array]:
        """``[δC/δW^l]ᵀ`` for ``l = 2..L``, each of ``W^l``'s shape ``(N_l, N_{l-1})``."""
        return [self.dC_dW[l].T for l in range(2, self.L + 1)]

    @property
    def grad_biases(self) -> list[Array]:
        """``[δC/δb^l]`` for ``l = 2..L`` as 1-D arrays of shape ``(N_l,)``."""
        return [self.dC_db[l][0] for l in range(2, self.L + 1)]

    def __getitem__(self, key: str) -> Step:
        """The step with this ``key`` (``"delta[2]"``) or seed ``name`` (``"δ^2"``)."""
        for step in self.steps:
            if key in (step.key, step.name):
                return step
        raise KeyError(
            f"no step {key!r} in the trace; keys: {', '.join(s.key for s in self.steps)}"
        )

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def _add(
        self, key: str, name: str, formula: str, equation: str, phase: str, axes: str, value: Array
    ) -> Array:
        self.steps.append(Step(key, name, formula, equation, phase, axes, value))
        return value


def _one_example(net: Network, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Array, Array]:
    """Validate one input row and one target (row or class label)."""
    X2, _ = checks.as_inputs(x, net.sizes[0], net.dtype, name="x")
    if X2.shape[0] != 1:
        raise ValueError(f"x must be one example of {net.sizes[0]} values, got {X2.shape[0]} rows")
    n_out = net.sizes[-1]
    arr = np.asarray(y)
    if arr.ndim == 0:
        # A scalar is a class label, or the target value of a single output.
        Y2 = checks.as_targets(arr.reshape(1), 1, n_out, net.dtype)
    elif arr.ndim == 1 and arr.shape[0] == n_out:
        Y2 = checks.as_targets(arr[None, :], 1, n_out, net.dtype)
    elif arr.ndim == 2 and arr.shape[0] == 1:
        Y2 = checks.as_targets(arr, 1, n_out, net.dtype)
    else:
        raise ValueError(
            f"y must be a target row of {n_out} values or one integer class label, "
            f"got shape {arr.shape}"
        )
    return X2[0], Y2[0]


def explain_trace(net: Network, x: npt.ArrayLike, y: npt.ArrayLike) -> DerivationTrace:
    """Build every object of the derivation for one example ``(x, λ)`` (seed §4–5).

    Feed-forward (§5 step 2, eqs. 1–2), then ``δ^L`` by eq. 5, every ``δ^l``
    by the explicit chain of eq. 6 with the Jacobians of eqs. 7–8, and
    ``[δC/δW^l]``, ``[δC/δb^l]`` by the explicit contractions of eqs. 10–15.
    Computed in the network's dtype.

    Parameters
    ----------
    net : Network
        Read only: its sizes, parameters, activations (including
        ``input_activation``: ``a^1 = σ(z^1)``) and cost.
    x : array-like of shape (N_1,)
        One input ``z^1``.
    y : array-like of shape (N_L,), or int
        The target ``λ``, or an integer class label (one-hot encoded).

    Returns
    -------
    DerivationTrace
        Every factor by name; ``trace.steps`` in the order of the derivation.

    Examples
    --------
    >>> import chainrule
    >>> net = chainrule.Network([3, 4, 2], input_activation="sigmoid", seed=0)
    >>> trace = chainrule.explain_trace(net, [0.5, -1.0, 2.0], [0.0, 1.0])
    >>> trace.dz_dW[3].shape, trace.dC_dW[3].shape, trace["δ^2"].shape
    ((2, 4, 2), (4, 2), (1, 4))
    """
    x1, lam = _one_example(net, x, y)
    L = len(net.sizes)
    sigma: list[Activation | None] = [None, net.input_activation, *net.activations]
    W: list[Array | None] = [None, None, *net.weights]
    b: list[Array | None] = [None, None, *net.biases]
    t = DerivationTrace(sizes=tuple(net.sizes), x=x1, y=lam)

    # ---- §5 step 2: feed forward, saving z^l and a^l.
    t.z[1] = t._add("z[1]", "z^1", "the input", "§5 step 1", "forward", "N_1", x1)
    for l in range(1, L + 1):
        s = sigma[l]
        assert s is not None
        if l > 1:
            Wl, bl = W[l], b[l]
            assert Wl is not None and bl is not None
            # Copies: the trace must not change if the network trains afterwards.
            t._add(
                f"W[{l}]", f"W^{l}", "parameter", "§2.2", "forward", f"N_{l} × N_{l - 1}", Wl.copy()
            )
            t._add(f"b[{l}]", f"b^{l}", "parameter", "§2.2", "forward", f"N_{l}", bl.copy())
            # eq. 1, W^l · a^{l-1} + b^l, evaluated as the row (a^{l-1})ᵀ (W^l)ᵀ: the same
            # sums in the same order as the batched engine, so both paths see the same z^l
            # to the last bit and the agreement check measures the backward pass alone
            # (a saturated softmax would magnify 1e-16 forward round-off to ~1e-12 in δ^L).
            t.z[l] = t._add(
                f"z[{l}]",
                f"z^{l}",
                f"W^{l} · a^{l - 1} + b^{l}",
                "eq. 1",
                "forward",
                f"N_{l}",
                (t.a[l - 1][None, :] @ Wl.T + bl)[0],
            )
        t.a[l] = t._add(
            f"a[{l}]",
            f"a^{l}",
            f"σ(z^{l})  [{s.name}]",
            "eq. 2" if l == L else "§5 step 2",
            "forward",
            f"N_{l}",
            s.forward(t.z[l][None, :])[0],
        )
    sL = sigma[L]
    assert sL is not None
    cost = net.cost.value(t.z[L][None, :], t.a[L][None, :], lam[None, :], sL)
    t.cost = float(cost[0])
    t._add("C", "C", f"C(a^{L}, λ)  [{net.cost.name}]", "§2", "forward", "scalar", cost[0:1])

    # ---- §5 step 3, eq. 5: δ^L = [∂C/∂a^L] · [∂a^L/∂z^L].
    t.dC_da = t._add(
        f"dC_da[{L}]",
        f"∂C/∂a^{L}",
        f"gradient of {net.cost.name}",
        "§4.1",
        "step 3",
        f"1 × N_{L}",
        cost_gradient(net.cost, t.a[L], lam),
    )
    eq8 = "eq. 8" if sL.elementwise else "eq. 8 (softmax: full Jacobian)"
    t.da_dz[L] = t._add(
        f"da_dz[{L}]",
        f"∂a^{L}/∂z^{L}",
        f"diag σ'(z^{L})" if sL.elementwise else f"diag(a^{L}) − a^{L} a^{L}ᵀ",
        eq8,
        "step 3",
        f"N_{L} × N_{L}",
        activation_jacobian(sL, t.z[L], t.a[L]),
    )
    t.delta[L] = t._add(
        f"delta[{L}]",
        f"δ^{L}",
        f"[∂C/∂a^{L}] · [∂a^{L}/∂z^{L}]",
        "eq. 5",
        "step 3",
        f"1 × N_{L}",
        row_times_matrix(t.dC_da, t.da_dz[L]),
    )

    # ---- §5 step 4, eqs. 6–9: δ^l = δ^{l+1} · [∂z^{l+1}/∂z^l], l = L-1 .. 1.
    for l in range(L - 1, 0, -1):
        s, Wn = sigma[l], W[l + 1]
        assert s is not None and Wn is not None
        t.da_dz[l] = t._add(
            f"da_dz[{l}]",
            f"∂a^{l}/∂z^{l}",
            f"diag σ'(z^{l})",
            "eq. 8",
            "step 4",
            f"N_{l} × N_{l}",
            activation_jacobian(s, t.z[l], t.a[l]),
        )
        t.dz_dz[l] = t._add(
            f"dz_dz[{l}]",
            f"∂z^{l + 1}/∂z^{l}",
            f"W^{l + 1} · [∂a^{l}/∂z^{l}]",
            "eq. 7",
            "step 4",
            f"N_{l + 1} × N_{l}",
            layer_jacobian(Wn, t.da_dz[l]),
        )
        t.delta[l] = t._add(
            f"delta[{l}]",
            f"δ^{l}",
            f"δ^{l + 1} · [∂z^{l + 1}/∂z^{l}]",
            "eq. 6 (= eq. 9)",
            "step 4",
            f"1 × N_{l}",
            row_times_matrix(t.delta[l + 1], t.dz_dz[l]),
        )

    # ---- §5 step 5, eqs. 10–13: [δC/δW^l] = δ^l · [∂z^l/∂W^l], l = L .. 2.
    for l in range(L, 1, -1):
        t.dz_dW[l] = t._add(
            f"dz_dW[{l}]",
            f"∂z^{l}/∂W^{l}",
            f"I_(j=k) · a^{l - 1}_i at [k, i, j]",
            "eq. 12",
            "step 5",
            f"N_{l} × N_{l - 1} × N_{l}",
            weight_tensor(t.a[l - 1], net.sizes[l - 1]),
        )
        t.dC_dW[l] = t._add(
            f"dC_dW[{l}]",
            f"[δC/δW^{l}]",
            f"δ^{l} · [∂z^{l}/∂W^{l}] = a^{l - 1} ⊗ δ^{l}",
            "eqs. 10–13",
            "step 5",
            f"N_{l - 1} × N_{l}",
            contract_row_tensor(t.delta[l], t.dz_dW[l]),
        )

    # ---- §5 step 6, eqs. 14–15: [δC/δb^l] = δ^l · I.
    for l in range(L, 1, -1):
        t.dz_db[l] = t._add(
            f"dz_db[{l}]",
            f"∂z^{l}/∂b^{l}",
            "I",
            "eq. 15",
            "step 6",
            f"N_{l} × N_{l}",
            bias_jacobian(net.sizes[l - 1], net.dtype),
        )
        t.dC_db[l] = t._add(
            f"dC_db[{l}]",
            f"[δC/δb^{l}]",
            f"δ^{l} · [∂z^{l}/∂b^{l}] = δ^{l}",
            "eqs. 14–15",
            "step 6",
            f"1 × N_{l}",
            row_times_matrix(t.delta[l], t.dz_db[l]),
        )
    return t


@overload
def explicit_gradients(
    net: Network, x: npt.ArrayLike, y: npt.ArrayLike, *, return_trace: Literal[False] = False
) -> tuple[list[Array], list[Array]]: ...


@overload
def explicit_gradients(
    net: Network, x: npt.ArrayLike, y: npt.ArrayLike, *, return_trace: Literal[True]
) -> tuple[list[Array], list[Array], DerivationTrace]: ...


def explicit_gradients(
    net: Network, x: npt.ArrayLike, y: npt.ArrayLike, *, return_trace: bool = False
) -> tuple[list[Array], list[Array]] | tuple[list[Array], list[Array], DerivationTrace]:
    """The gradient of ``C(f(x), λ)`` for one example, by the seed's explicit objects.

    The independent second path beside :meth:`Network.backprop`: the same
    numbers, obtained from full Jacobians and 3-tensors (see
    :func:`explain_trace`) instead of the engine's fused products.

    Parameters
    ----------
    net : Network
    x : array-like of shape (N_1,)
    y : array-like of shape (N_L,), or int class label
    return_trace : bool, default False
        Also return the :class:`DerivationTrace` holding every factor.

    Returns
    -------
    grad_weights : list of ndarray
        ``grad_weights[l-2]`` of shape ``(N_l, N_{l-1})``, the layout of
        ``net.backprop``: the transpose of the seed's ``[δC/δW^l]`` (eq. 13).
    grad_biases : list of ndarray
        ``grad_biases[l-2]`` of shape ``(N_l,)``: ``δ^l`` (eq. 15).
    trace : DerivationTrace
        Only with ``return_trace=True``.

    Examples
    --------
    >>> import numpy as np, chainrule
    >>> net = chainrule.Network([3, 4, 2], seed=0)
    >>> x, y = np.array([0.5, -1.0, 2.0]), np.array([0.0, 1.0])
    >>> gw, gb = chainrule.explicit_gradients(net, x, y)
    >>> fw, fb = net.backprop(x[None, :], y[None, :])
    >>> all(np.allclose(e, f, rtol=1e-12) for e, f in zip(gw + gb, fw + fb))
    True
    """
    trace = explain_trace(net, x, y)
    if return_trace:
        return trace.grad_weights, trace.grad_biases, trace
    return trace.grad_weights, trace.grad_biases


# --------------------------------------------------------------------------- agreement


@dataclass
class Agreement:
    """How closely the explicit path agrees with :meth:`Network.backprop`.

    Attributes
    ----------
    names : list of str
        ``W^l`` and ``b^l``.
    rel_diffs : list of float
        Per array, ``max |explicit − fast| / max(max |fast|, max |explicit|, tiny)``:
        the norm-wise relative difference (entries near zero are judged on the
        array's scale, where round-off would otherwise dominate).
    tolerance : float

    Notes
    -----
    Both paths are exact up to round-off, but they round differently in the
    backward pass.  Away from saturation they agree to ~1e-15.  Near saturation
    (a softmax output within ~1e-5 of 1, a sigmoid output that rounds to 1 under
    cross-entropy, where ``σ'`` underflows while the fast path uses the closed
    form ``δ^L = a − λ``) the gradient is dominated by round-off in either path
    and they can disagree beyond 1e-12 without a bug; central differences
    (:func:`chainrule.gradcheck`) then arbitrate.
    """

    names: list[str]
    rel_diffs: list[float]
    tolerance: float

    @property
    def max_rel_diff(self) -> float:
        """The largest relative difference over all arrays."""
        return max(self.rel_diffs, default=0.0)

    @property
    def passed(self) -> bool:
        """True when every array agrees within the tolerance."""
        return self.max_rel_diff <= self.tolerance

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "arrays": dict(zip(self.names, self.rel_diffs, strict=True)),
            "max_rel_diff": self.max_rel_diff,
            "tolerance": self.tolerance,
            "passed": self.passed,
        }


def relative_difference(got: Array, want: Array) -> float:
    """``max |got − want| / max(max |got|, max |want|, tiny)`` (norm-wise)."""
    scale = max(
        float(np.abs(got).max(initial=0.0)),
        float(np.abs(want).max(initial=0.0)),
        float(np.finfo(np.float64).tiny),
    )
    return float(np.abs(got - want).max(initial=0.0)) / scale


def compare_with_backprop(
    net: Network,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    tolerance: float | None = None,
    trace: DerivationTrace | None = None,
) -> Agreement:
    """Compare the explicit path with ``net.backprop`` on the batch ``[x]``.

    The fast path is reached only through the network's public ``backprop``.

    Parameters
    ----------
    net : Network
    x, y : one example, as for :func:`explain_trace`
    tolerance : float, optional
        Default ``1e-12`` in float64 and ``1e-4`` in float32.
    trace : DerivationTrace, optional
        A trace already computed for this example (saves recomputing it).

    Returns
    -------
    Agreement
    """
    if trace is None:
        trace = explain_trace(net, x, y)
    if tolerance is None:
        tolerance = 1e-12 if net.dtype == np.float64 else 1e-4
    fast_w, fast_b = net.backprop(trace.x[None, :], trace.y[None, :])
    L = len(net.sizes)
    names = [f"W^{l}" for l in range(2, L + 1)] + [f"b^{l}" for l in range(2, L + 1)]
    diffs = [
        relative_difference(e, f)
        for e, f in zip(trace.grad_weights + trace.grad_biases, fast_w + fast_b, strict=True)
    ]
    return Agreement(names, diffs, tolerance)
