"""Activations σ, costs C and weight initialisations: the registries of the network's parts.

Every activation holds σ and σ′ side by side; every cost holds C and ∂C/∂a side by
side (seed §2.1 and §4.1).  These are the only nonlinear pieces of the network; the
engine composes them with matrix products.

Registries: :data:`ACTIVATIONS`, :data:`COSTS` and :data:`INITIALISATIONS` are the
one list of each (:class:`chainrule.registry.Registry`).  Adding an activation is one
class here, decorated ``@ACTIVATIONS.register``, with its ``name`` and its default
``init``; the CLI, the estimators, the docs' tables and the gradient tests read it.

Conventions
-----------
Arrays are batches: one row per example, so ``z`` and ``a`` have shape
``(n, N_l)``.  Derivatives are returned in the same layout: ``σ'(z)`` is the
diagonal of the seed's ``diag σ'(z^l)`` (eq. 8), one diagonal per row.

Namespaces: every function takes arrays of any array-API namespace (NumPy,
PyTorch, CuPy, array-api-strict) and returns arrays of the same one; the hot
kernels go through :func:`chainrule.backend.ops_of` (NumPy's ufuncs with
``out=`` on NumPy, so nothing is slower there), the rest through the
namespace's own functions.

Numerical safety: sigmoid uses SciPy's ``expit`` on NumPy (a stable
``e^{-|z|}`` formula elsewhere; no ``exp`` overflow), softmax
subtracts the row maximum (log-sum-exp), and the costs take logarithms from ``z``
where the output activation allows it (``ln σ(z) = -log(1 + e^{-z})``), otherwise
from ``a`` clipped away from zero.  Nothing here warns or returns inf/NaN for
|z| up to 1e4 or more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt
from array_api_compat import device as array_device

from .backend import Ops, ops_of
from .registry import Registry

Array = npt.NDArray[np.floating]

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "INITIALISATIONS",
    "Activation",
    "Cost",
    "CustomActivation",
    "CustomCost",
    "Initialisation",
    "get_activation",
    "get_cost",
]


# --------------------------------------------------------------------------- activations

#: Every named activation: ``ACTIVATIONS[name]()`` makes one (:func:`get_activation`).
ACTIVATIONS: Registry[type[Activation]] = Registry("activation")


class Activation:
    """An activation function σ with its derivative σ′.

    Subclasses implement :meth:`forward` and :meth:`derivative`.  Elementwise
    activations have a diagonal Jacobian ``∂a/∂z = diag σ'(z)`` (seed eq. 8);
    softmax does not, and overrides :meth:`vjp` and :meth:`jacobian`.

    Attributes
    ----------
    name : str
        The name used in constructors, model files and messages.
    elementwise : bool
        True when ``a_j`` depends on ``z_j`` only, so eq. 8 holds.
    bounded01 : bool
        True when every output lies in (0, 1) (needed by the cross-entropy cost).
    init : str
        The weight initialisation (:data:`INITIALISATIONS`) of a layer feeding this
        activation when the network is given none: ``"xavier"`` (Glorot), ``"he"``
        for the ReLU family.
    saturated_outside : (float, float) or None
        Outputs ``a`` outside this interval count as saturated in the report's unit
        statistics (σ′ small there, learning slow: Nielsen ch. 3, 5); None: never.
    dies : bool
        A unit whose ``z ≤ 0`` on every row passes back no gradient (a "dead" ReLU).
    """

    name: str = "activation"
    elementwise: bool = True
    bounded01: bool = False
    init: str = "xavier"
    saturated_outside: tuple[float, float] | None = None
    dies: bool = False

    def forward(self, z: Array, out: Array | None = None) -> Array:
        """Return ``a = σ(z)``; ``z`` of shape ``(n, N)`` gives ``(n, N)``."""
        raise NotImplementedError

    def derivative(self, z: Array, a: Array) -> Array:
        """Return ``σ'(z)`` elementwise, shape ``(n, N)``.

        Both ``z`` and ``a = σ(z)`` are passed, so that derivatives which are
        exact functions of the output (sigmoid: ``a(1 - a)``) need no second
        transcendental evaluation.
        """
        raise NotImplementedError

    def times_derivative(self, d: Array, z: Array, a: Array) -> Array:
        """``d *= σ'(z)`` in place and return ``d``: eq. 9's ``diag σ'(z^l)`` as a product.

        The engine's backward pass calls this for every hidden layer; the common
        activations override it to work on ``d`` with one temporary at most.  The
        values are those of ``d * self.derivative(z, a)``.

        Examples
        --------
        >>> import numpy as np
        >>> Sigmoid().times_derivative(np.ones((1, 2)), None, np.array([[0.5, 0.25]]))
        array([[0.25  , 0.1875]])
        """
        d *= self.derivative(z, a)
        return d

    def kernels(self, ops: Ops) -> tuple[Callable[..., Array], Callable[..., Array]]:
        """``(forward, times_derivative)`` for arrays of ``ops``' namespace, bound once.

        The engine looks these up once per :class:`~chainrule.engine.Layers`, so a
        batch calls them without finding the namespace again (NumPy's own ufuncs
        for sigmoid and tanh; PyTorch's fused σ′ products).  The values are those
        of :meth:`forward` and :meth:`times_derivative`.
        """
        return self.forward, self.times_derivative

    def vjp(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Row-vector × Jacobian: ``grad_a · [∂a/∂z]`` for each row (seed eqs. 5 and 6).

        For an elementwise σ this is ``grad_a * σ'(z)`` (eq. 5 with eq. 8).
        """
        return grad_a * self.derivative(z, a)

    def jacobian(self, z: Array, a: Array) -> Array:
        """The full Jacobian ``∂a/∂z`` per row: shape ``(n, N, N)`` (eq. 8)."""
        d = self.derivative(z, a)
        return d[:, :, None] * _eye_like(d)

    def log(self, z: Array, a: Array) -> Array:
        """``ln a`` computed stably (used by the logarithmic costs)."""
        xp = ops_of(a).xp
        return xp.log(xp.maximum(a, _tiny(a)))

    def log1m(self, z: Array, a: Array) -> Array:
        """``ln(1 - a)`` computed stably (used by the cross-entropy cost)."""
        xp = ops_of(a).xp
        return xp.log(xp.maximum(1 - a, _tiny(a)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@ACTIVATIONS.register
class Sigmoid(Activation):
    """The logistic function ``σ(z) = 1 / (1 + e^{-z})``, ``σ' = σ(1 - σ)``."""

    name = "sigmoid"
    #: σ'(z) = a(1 − a) < 0.0475 outside: under a fifth of the gradient at z = 0.
    saturated_outside = (0.05, 0.95)
    bounded01 = True

    def forward(self, z: Array, out: Array | None = None) -> Array:
        # SciPy's expit on NumPy (no exp overflow), torch.sigmoid, or a stable formula.
        return ops_of(z).expit(z, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return a * (1 - a)

    def times_derivative(self, d: Array, z: Array, a: Array) -> Array:
        ops = ops_of(d)
        return _sigmoid_prime_times(ops.subtract, ops.multiply, d, z, a)

    def kernels(self, ops: Ops) -> tuple[Callable[..., Array], Callable[..., Array]]:
        fused = getattr(ops, "sigmoid_prime_times", None)  # PyTorch's one-kernel σ′ product
        return ops.expit, fused or partial(_sigmoid_prime_times, ops.subtract, ops.multiply)

    def log(self, z: Array, a: Array) -> Array:
        # ln σ(z) = -ln(1 + e^{-z}); logaddexp never overflows.
        xp = ops_of(z).xp
        return -xp.logaddexp(xp.zeros_like(z), -z)

    def log1m(self, z: Array, a: Array) -> Array:
        # ln(1 - σ(z)) = ln σ(-z) = -ln(1 + e^{z}).
        xp = ops_of(z).xp
        return -xp.logaddexp(xp.zeros_like(z), z)


@ACTIVATIONS.register
class Tanh(Activation):
    """``σ(z) = tanh z``, ``σ' = 1 - tanh² z``."""

    name = "tanh"
    saturated_outside = (-0.9, 0.9)  # tanh = 2σ(2z) − 1: sigmoid's tails

    def forward(self, z: Array, out: Array | None = None) -> Array:
        return ops_of(z).tanh(z, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return 1 - a * a

    def times_derivative(self, d: Array, z: Array, a: Array) -> Array:
        ops = ops_of(d)
        return _tanh_prime_times(ops.subtract, ops.multiply, d, z, a)

    def kernels(self, ops: Ops) -> tuple[Callable[..., Array], Callable[..., Array]]:
        return ops.tanh, partial(_tanh_prime_times, ops.subtract, ops.multiply)


def _sigmoid_prime_times(
    subtract: Callable[..., Array], multiply: Callable[..., Array], d: Array, z: Array, a: Array
) -> Array:
    """``d *= a(1 − a)`` with one temporary: sigmoid's σ′ from its output."""
    s = subtract(1, a)
    d *= multiply(a, s, out=s)
    return d


def _tanh_prime_times(
    subtract: Callable[..., Array], multiply: Callable[..., Array], d: Array, z: Array, a: Array
) -> Array:
    """``d *= 1 − a²`` with one temporary: tanh's σ′ from its output."""
    s = multiply(a, a)
    d *= subtract(1, s, out=s)
    return d


@ACTIVATIONS.register
class ReLU(Activation):
    """``σ(z) = max(0, z)``, ``σ' = 1 if z > 0 else 0`` (0 at z = 0 by convention)."""

    name = "relu"
    init = "he"
    dies = True

    def forward(self, z: Array, out: Array | None = None) -> Array:
        return ops_of(z).maximum(z, 0.0, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        # a > 0 exactly when z > 0, so the stored output suffices.
        return ops_of(a).xp.astype(a > 0, a.dtype)

    def times_derivative(self, d: Array, z: Array, a: Array) -> Array:
        # Multiplying by the booleans a > 0 (NumPy, PyTorch) is multiplying by
        # 1.0/0.0, with a quarter of the memory traffic of a float mask.
        d *= ops_of(a).positive(a)
        return d


@ACTIVATIONS.register
@dataclass(repr=False)
class LeakyReLU(Activation):
    """``σ(z) = z if z > 0 else slope·z``, ``σ' = 1 or slope``.

    Parameters
    ----------
    slope : float, default 0.01
        The gradient for negative inputs.
    """

    slope: float = 0.01
    name = "leaky_relu"
    init = "he"
    dies = True

    def __post_init__(self) -> None:
        if not 0 <= self.slope < 1:
            raise ValueError(f"leaky_relu slope must be in [0, 1), got {self.slope}")

    def forward(self, z: Array, out: Array | None = None) -> Array:
        # For 0 ≤ slope < 1, max(z, slope·z) is z when z > 0 and slope·z otherwise.
        # A Python float keeps z's dtype (a "weak" scalar in NumPy 2 and the standard).
        return ops_of(z).maximum(z, z * self.slope, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        # a > 0 exactly when z > 0 (slope ≥ 0), so the stored output suffices.
        xp = ops_of(a).xp
        return xp.where(a > 0, xp.ones_like(a), xp.full_like(a, self.slope))

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"


@ACTIVATIONS.register
class Identity(Activation):
    """``σ(z) = z``, ``σ' = 1``: the usual input layer and regression output."""

    name = "identity"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        if out is None:
            return z
        return ops_of(z).copy(out, z)

    def derivative(self, z: Array, a: Array) -> Array:
        return ops_of(a).xp.ones_like(a)

    def times_derivative(self, d: Array, z: Array, a: Array) -> Array:
        return d  # σ' = 1


def classes_of(A: Array) -> Array:
    """The class of each row of outputs or targets ``A`` (n, N_L), int64 of shape ``(n,)``:
    the arg-max of the row, or for a single output whether it is above 0.5."""
    if type(A) is not np.ndarray:  # any array-API namespace
        xp = ops_of(A).xp
        return xp.astype(A[:, 0] > 0.5 if A.shape[1] == 1 else xp.argmax(A, axis=1), xp.int64)
    return (A[:, 0] > 0.5).astype(np.int64) if A.shape[1] == 1 else A.argmax(axis=1)


def _row_sum(x: Array) -> Array:
    """``x.sum(axis=-1)`` of a 2-D array, shape ``(n,)``; for NumPy a product with ones.

    NumPy reduces a short last axis row by row (~20 ns a row for 10 columns); the
    matrix-vector product ``x @ 1`` is one BLAS call (~10× faster for an epoch's
    60,000 × 10 outputs).  Both add each row's few terms in float precision.
    """
    if type(x) is not np.ndarray:
        return ops_of(x).xp.sum(x, axis=-1)
    if x.ndim == 2 and x.shape[0] > 16:
        return np.matmul(x, np.ones(x.shape[1], x.dtype))
    return np.add.reduce(x, axis=-1)


def _row_max(z: Array) -> Array:
    """``z.max(axis=-1, keepdims=True)``, the same values, faster for many short rows.

    NumPy reduces a short last axis row by row (~60 ns a row for 10 columns); the
    maximum of a transposed copy along axis 0 is vectorised across rows (4–6×
    faster for a batch of softmax outputs).  A maximum is exact in any order.
    """
    if type(z) is not np.ndarray:
        return ops_of(z).xp.max(z, axis=-1, keepdims=True)
    if z.ndim == 2 and z.shape[0] > 16 and z.shape[1] <= 64:
        return np.ascontiguousarray(z.T).max(axis=0)[:, None]
    # The ufunc's own reduce: what z.max calls, without its Python-level wrapper.
    return np.maximum.reduce(z, axis=-1, keepdims=True)


@ACTIVATIONS.register
class Softmax(Activation):
    """``a_j = e^{z_j} / Σ_k e^{z_k}`` per row: an output activation only.

    Its Jacobian is not diagonal, so eq. 8 does not apply:
    ``∂a_i/∂z_j = a_i (I_{i=j} − a_j)``, i.e. ``diag(a) − a aᵀ``.  The product
    of a row gradient ``g`` with it (eq. 5) is ``a ⊙ (g − (g·a))``, computed here
    without forming the ``N × N`` matrix.
    """

    name = "softmax"
    saturated_outside = (0.05, 0.95)
    elementwise = False
    bounded01 = True

    def forward(self, z: Array, out: Array | None = None) -> Array:
        # Subtracting the row maximum leaves softmax unchanged and keeps exp ≤ 1.
        if type(z) is not np.ndarray:  # (a type test: the NumPy path finds no namespace)
            return ops_of(z).softmax(z, out=out)
        zmax = (
            np.maximum.reduce(z, axis=-1, keepdims=True)
            if z.shape[0] <= 16 or z.ndim != 2
            else _row_max(z)
        )  # _row_max's small case
        shifted = np.subtract(z, zmax, out=out)
        np.exp(shifted, out=shifted)
        shifted /= np.add.reduce(shifted, axis=-1, keepdims=True)  # what .sum() calls
        return shifted

    def derivative(self, z: Array, a: Array) -> Array:
        raise TypeError(
            "softmax has no elementwise derivative: its Jacobian is not diagonal "
            "(use vjp or jacobian)"
        )

    def vjp(self, z: Array, a: Array, grad_a: Array) -> Array:
        xp = ops_of(a).xp
        return a * (grad_a - xp.sum(grad_a * a, axis=-1, keepdims=True))

    def jacobian(self, z: Array, a: Array) -> Array:
        # diag(a) − a aᵀ: −a_i a_j off the diagonal (plus an exact 0), a_i − a_i² on it.
        return -a[:, :, None] * a[:, None, :] + a[:, :, None] * _eye_like(a)

    def log(self, z: Array, a: Array) -> Array:
        # ln a_j = z_j − logsumexp(z): exact, no overflow, no log(0).
        zmax = _row_max(z)
        xp = ops_of(z).xp
        return z - zmax - xp.log(_row_sum(xp.exp(z - zmax)))[:, None]


@dataclass(repr=False)
class CustomActivation(Activation):
    """An elementwise activation from two functions of ``z``.

    Parameters
    ----------
    function : callable
        ``σ(z)``, elementwise on an array.
    derivative_function : callable
        ``σ'(z)``, elementwise on an array.
    name : str
        Shown in messages and model files (custom functions cannot be saved).
    """

    function: Callable[[Array], Array]
    derivative_function: Callable[[Array], Array]
    name: str = "custom"  # type: ignore[assignment]

    def forward(self, z: Array, out: Array | None = None) -> Array:
        ops = ops_of(z)
        a = ops.xp.asarray(self.function(z), dtype=z.dtype)
        if out is None:
            return a
        return ops.copy(out, a)

    def derivative(self, z: Array, a: Array) -> Array:
        return ops_of(z).xp.asarray(self.derivative_function(z), dtype=z.dtype)

    def __repr__(self) -> str:
        return f"CustomActivation(name={self.name!r})"


def _minus(a: Array, y: Array, out: Array | None) -> Array:
    """``a − λ``, into ``out`` if given (NumPy's ufunc directly for NumPy arrays)."""
    if type(a) is np.ndarray:
        return np.subtract(a, y, out=out)
    return ops_of(a).subtract(a, y, out=out)


def _tiny(a: Array) -> Array:
    """The smallest normal number of ``a``'s dtype, as a 0-d array of ``a``'s namespace."""
    xp = ops_of(a).xp
    return xp.asarray(xp.finfo(a.dtype).smallest_normal, dtype=a.dtype)


def _eye_like(d: Array) -> Array:
    """The identity ``(N, N)`` in ``d``'s namespace, dtype and device, for ``d`` ``(n, N)``."""
    if type(d) is np.ndarray:
        return np.eye(d.shape[1], dtype=d.dtype)
    return ops_of(d).xp.eye(d.shape[1], dtype=d.dtype, device=array_device(d))


def get_activation(spec: str | Activation) -> Activation:
    """Return the activation named by ``spec`` (or ``spec`` itself if it is one).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and spec in ACTIVATIONS:
        return ACTIVATIONS[spec]()
    raise ACTIVATIONS.unknown(spec)


# --------------------------------------------------------------------------- costs

#: Every named cost: ``COSTS[name]()`` makes one (:func:`get_cost`).
COSTS: Registry[type[Cost]] = Registry("cost")


class Cost:
    """A per-example cost ``C(a, λ)`` with its row gradient ``∂C/∂a`` (seed §3.2, §4.1).

    ``value`` returns one number per row, shape ``(n,)``; ``derivative`` returns
    the row vectors ``∂C/∂a`` stacked, shape ``(n, N_L)``.  :meth:`delta` is
    eq. 5, ``δ^L``, the one place the backward pass starts from; a cost whose eq. 5
    simplifies exactly (and more stably) for some output activation overrides it.
    """

    name: str = "cost"
    #: output activation names this cost accepts (None: any)
    allowed_outputs: frozenset[str] | None = None

    def value(self, z: Array, a: Array, y: Array, activation: Activation) -> Array:
        """Per-example cost ``C(a, λ)``, shape ``(n,)``."""
        raise NotImplementedError

    def derivative(self, a: Array, y: Array) -> Array:
        """``∂C/∂a``, one row gradient per example, shape ``(n, N_L)``."""
        raise NotImplementedError

    def delta(
        self, z: Array, a: Array, y: Array, activation: Activation, out: Array | None = None
    ) -> Array:
        """Eq. 5: ``δ^L = [∂C/∂a^L] · [∂a^L/∂z^L]``, one row per example, shape ``(n, N_L)``.

        The row gradient times the Jacobian, diagonal by eq. 8 (an elementwise σ)
        or softmax's full Jacobian applied without forming it.  Costs whose eq. 5
        has a closed form for their output activation override this.  ``out``, if
        given, may receive the result (the training path's buffer).
        """
        if activation.elementwise:
            return activation.times_derivative(self.derivative(a, y), z, a)
        return activation.vjp(z, a, self.derivative(a, y))

    def check_output(self, activation: Activation) -> None:
        """Raise ``ValueError`` if this cost makes no sense on ``activation``'s outputs."""
        if self.allowed_outputs is not None and activation.name not in self.allowed_outputs:
            raise ValueError(
                f"cost {self.name!r} needs an output activation in "
                f"{{{', '.join(sorted(self.allowed_outputs))}}}, got {activation.name!r}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@COSTS.register
class Quadratic(Cost):
    """The seed's squared error ``C = ‖a − λ‖²``, ``∂C/∂a = 2(a − λ)ᵀ`` (seed §4.1).

    Nielsen's book uses ``½‖a − λ‖²``, whose gradient is half of ours: his
    learning rate η = 3.0 trains exactly like our η = 1.5.
    """

    name = "quadratic"

    def value(self, z: Array, a: Array, y: Array, activation: Activation) -> Array:
        diff = a - y
        if type(diff) is not np.ndarray:
            return ops_of(diff).xp.sum(diff * diff, axis=1)
        return np.einsum("ij,ij->i", diff, diff)

    def derivative(self, a: Array, y: Array) -> Array:
        return 2 * (a - y)

    def delta(
        self, z: Array, a: Array, y: Array, activation: Activation, out: Array | None = None
    ) -> Array:
        if not activation.elementwise or type(self).derivative is not _QUADRATIC_DERIVATIVE:
            return super().delta(z, a, y, activation, out)  # softmax, or a changed ∂C/∂a
        d = ops_of(a).subtract(a, y, out=out)
        d *= 2  # ∂C/∂a = 2(a − λ) written into δ^L's buffer, then eq. 8's diagonal
        return activation.times_derivative(d, z, a)


_QUADRATIC_DERIVATIVE = Quadratic.derivative


@COSTS.register
class CrossEntropy(Cost):
    """Per-output binary cross-entropy ``C = −Σ_j [λ_j ln a_j + (1 − λ_j) ln(1 − a_j)]``.

    Nielsen ch. 3.  With a sigmoid output, eq. 5 collapses to ``δ^L = a − λ``
    (the σ′ factor cancels), which is used directly.
    """

    name = "cross_entropy"
    # Per-output binary cross-entropy needs each output in (0, 1) on its own;
    # for a softmax output the matching cost is the log-likelihood.
    allowed_outputs = frozenset({"sigmoid"})

    def value(self, z: Array, a: Array, y: Array, activation: Activation) -> Array:
        log_a = activation.log(z, a)
        log_1ma = activation.log1m(z, a)
        return -_row_sum(y * log_a + (1 - y) * log_1ma)

    def derivative(self, a: Array, y: Array) -> Array:
        xp = ops_of(a).xp
        eps = float(xp.finfo(a.dtype).eps)
        clipped = xp.clip(a, eps, 1 - eps)
        return (clipped - y) / (clipped * (1 - clipped))

    def delta(
        self, z: Array, a: Array, y: Array, activation: Activation, out: Array | None = None
    ) -> Array:
        if activation.name == "sigmoid":
            return _minus(a, y, out)  # δ^L = a − λ: σ' cancels
        return super().delta(z, a, y, activation, out)


@COSTS.register
class LogLikelihood(Cost):
    """The log-likelihood ``C = −ln a_y = −Σ_j λ_j ln a_j`` on a softmax output.

    Nielsen ch. 3.  With softmax, eq. 5 collapses to ``δ^L = a − λ``.
    """

    name = "log_likelihood"
    allowed_outputs = frozenset({"softmax"})

    def value(self, z: Array, a: Array, y: Array, activation: Activation) -> Array:
        return -_row_sum(y * activation.log(z, a))

    def derivative(self, a: Array, y: Array) -> Array:
        return -y / ops_of(a).xp.maximum(a, _tiny(a))

    def delta(
        self, z: Array, a: Array, y: Array, activation: Activation, out: Array | None = None
    ) -> Array:
        if activation.name == "softmax":
            return _minus(a, y, out)  # δ^L = a − λ: the Jacobian cancels
        return super().delta(z, a, y, activation, out)


@dataclass(repr=False)
class CustomCost(Cost):
    """A per-example cost from two functions of the output ``a`` and the target ``λ``.

    Parameters
    ----------
    function : callable
        ``function(a, y)`` with ``a``, ``y`` of shape ``(n, N_L)``: the cost of
        each example, shape ``(n,)``, or elementwise terms of shape ``(n, N_L)``
        that are summed over each row.
    derivative_function : callable
        ``derivative_function(a, y)``: ``∂C/∂a``, one row gradient per example,
        shape ``(n, N_L)`` (the derivative of *one example's* cost: the batch
        mean is taken by the engine).
    name : str
        Shown in messages and model files (custom functions cannot be saved).

    Examples
    --------
    >>> import numpy as np
    >>> half_sq = CustomCost(lambda a, y: 0.5 * (a - y) ** 2, lambda a, y: a - y, "half_sq")
    >>> half_sq.value(None, np.array([[1.0, 2.0]]), np.zeros((1, 2)), None)
    array([2.5])
    """

    function: Callable[[Array, Array], Array]
    derivative_function: Callable[[Array, Array], Array]
    name: str = "custom"  # type: ignore[assignment]

    def value(self, z: Array, a: Array, y: Array, activation: Activation) -> Array:
        xp = ops_of(a).xp
        c = xp.asarray(self.function(a, y), dtype=a.dtype)
        if c.ndim == 2 and c.shape == a.shape:
            c = xp.sum(c, axis=1)
        if c.shape != (a.shape[0],):
            raise ValueError(
                f"custom cost {self.name!r} returned shape {c.shape}: expected "
                f"({a.shape[0]},) or {a.shape}"
            )
        return c

    def derivative(self, a: Array, y: Array) -> Array:
        d = ops_of(a).xp.asarray(self.derivative_function(a, y), dtype=a.dtype)
        if d.shape != a.shape:
            raise ValueError(
                f"custom cost {self.name!r}: its derivative has shape {d.shape}, expected {a.shape}"
            )
        return d

    def __repr__(self) -> str:
        return f"CustomCost(name={self.name!r})"


def get_cost(spec: str | Cost) -> Cost:
    """Return the cost named by ``spec`` (or ``spec`` itself if it is one)."""
    if isinstance(spec, Cost):
        return spec
    if isinstance(spec, str) and spec in COSTS:
        return COSTS[spec]()
    raise COSTS.unknown(spec)


# --------------------------------------------------------------------------- initialisations

#: Every named weight initialisation: ``INITIALISATIONS[name]().draw(rng, fan_in, fan_out)``.
INITIALISATIONS: Registry[type[Initialisation]] = Registry("init")


class Initialisation:
    """How to draw a layer's initial ``W^l`` and ``b^l``.

    Subclasses set ``name`` and implement :meth:`draw` with NumPy's generator, so a
    seeded network is the same network on every backend.
    """

    name: str = "initialisation"

    def draw(
        self, rng: np.random.Generator, fan_in: int, fan_out: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``W`` of shape ``(fan_out, fan_in)`` (``N_l × N_{l-1}``) and ``b`` ``(fan_out,)``."""
        raise NotImplementedError


@INITIALISATIONS.register
class Normal(Initialisation):
    """N(0, 1) weights and biases (Nielsen's ``network.py``)."""

    name = "normal"

    def draw(
        self, rng: np.random.Generator, fan_in: int, fan_out: int
    ) -> tuple[np.ndarray, np.ndarray]:
        return rng.standard_normal((fan_out, fan_in)), rng.standard_normal(fan_out)


@INITIALISATIONS.register
class ScaledNormal(Initialisation):
    """N(0, 1/N_{l-1}) weights and N(0, 1) biases (Nielsen's ``network2.py``)."""

    name = "scaled_normal"

    def draw(
        self, rng: np.random.Generator, fan_in: int, fan_out: int
    ) -> tuple[np.ndarray, np.ndarray]:
        W = rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)
        return W, rng.standard_normal(fan_out)


@INITIALISATIONS.register
class Xavier(Initialisation):
    """Glorot's uniform U(±√(6/(N_{l-1}+N_l))) weights, zero biases."""

    name = "xavier"

    def draw(
        self, rng: np.random.Generator, fan_in: int, fan_out: int
    ) -> tuple[np.ndarray, np.ndarray]:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_out, fan_in)), np.zeros(fan_out)


@INITIALISATIONS.register
class He(Initialisation):
    """He's N(0, 2/N_{l-1}) weights, zero biases (for the ReLU family)."""

    name = "he"

    def draw(
        self, rng: np.random.Generator, fan_in: int, fan_out: int
    ) -> tuple[np.ndarray, np.ndarray]:
        return rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in), np.zeros(fan_out)
