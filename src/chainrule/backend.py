"""Array namespaces: where a network's arrays live, and the engine's in-place kernels there.

chainrule's maths is written against the Python array API standard, so the same
code runs on NumPy (the default), PyTorch tensors (CPU or CUDA), CuPy, or any
other conforming library (array-api-strict checks that in CI).  A namespace is
resolved once — for a network's ``backend=``, or once per array *type* by
:func:`ops_of` — never by inspecting arrays on every call.

:class:`Ops` is the small set of kernels the engine and :mod:`chainrule.functions`
call on the hot path, each with an ``out=`` buffer: NumPy writes into it (the
speed of the NumPy engine comes from reused buffers), PyTorch does too
(``torch.matmul(x, y, out=…)``), and any other namespace computes the
functional expression and copies it in with ``out[...] = value`` (in-place
assignment is in the standard for mutable arrays).  Everything else uses the
namespace's own functions (``ops.xp``).

Nothing here imports PyTorch or CuPy unless a network asks for them.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
from array_api_compat import (
    array_namespace,
    is_numpy_namespace,
    is_torch_array,
    is_torch_namespace,
    to_device,
)
from array_api_compat import (
    device as array_device,
)

__all__ = ["Ops", "ops_for", "ops_of", "resolve_backend", "to_numpy"]

BACKENDS = ("numpy", "torch", "cupy")


class Ops:
    """The engine's kernels for one namespace ``xp``: the generic, functional form.

    Every kernel returns its result; where ``out`` is given the result is also
    written into it (here by assignment, a copy; :class:`NumpyOps` and
    :class:`TorchOps` write directly).
    """

    name = "array-api"
    #: True when slices are views that share memory (blocked updates in place)
    views = False
    #: True when :meth:`descend_product` is one kernel (BLAS's ``C ← αAB + βC``), so
    #: plain gradient descent is faster folded into eq. 13 than after it.
    fuses_descent = False

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    @staticmethod
    def _put(out: Any, value: Any) -> Any:
        if out is None:
            return value
        out[...] = value
        return out

    # --- products and reductions
    def dot(self, x: Any, y: Any, out: Any = None) -> Any:
        """``x @ y`` for 2-D arrays."""
        return self._put(out, self.xp.matmul(x, y))

    def affine(self, x: Any, WT: Any, b: Any, out: Any = None) -> Any:
        """``x @ WT + b`` for 2-D ``x``, ``WT`` and 1-D ``b`` (eq. 1 for a batch)."""
        z = self.dot(x, WT, out=out)
        z += b
        return z

    def bias_kernel(self, b: Any, z: Any) -> Callable[[Any], Any] | None:
        """``add(x)``: ``x += b`` in one call for C-ordered arrays ``x`` shaped like ``z``.

        ``z`` is a layer's ``(n, N_l)`` buffer and ``b`` its ``(N_l,)`` bias; None where
        the namespace has nothing faster than :meth:`affine`'s own ``z += b``
        (:meth:`NumpyOps.bias_kernel` has).
        """
        return None

    def sum_rows(self, x: Any, out: Any = None) -> Any:
        """The sum over axis 0 (eq. 15's batch sum)."""
        return self._put(out, self.xp.sum(x, axis=0))

    def sqnorm(self, x: Any) -> float:
        """``Σ x²`` as a Python float."""
        return float(self.xp.sum(x * x))

    def sqnorm_term(self, x: Any) -> Any:
        """``Σ x²`` as a 0-d array of the namespace, for :meth:`total` to add up later.

        Converting to a Python float would make the host wait for a GPU at every
        step; the training loop keeps the terms on the device until the epoch ends.
        """
        return self.xp.sum(x * x)

    def total(self, terms: list[Any]) -> float:
        """The sum of 0-d arrays (from :meth:`sqnorm_term`) as a Python float."""
        return float(self.xp.sum(self.xp.stack(terms))) if terms else 0.0

    # --- elementwise
    def multiply(self, x: Any, y: Any, out: Any = None) -> Any:
        return self._put(out, x * y)

    def subtract(self, x: Any, y: Any, out: Any = None) -> Any:
        return self._put(out, x - y)

    def maximum(self, x: Any, y: Any, out: Any = None) -> Any:
        xp = self.xp
        if not hasattr(y, "shape"):
            y = xp.asarray(y, dtype=x.dtype, device=array_device(x))
        return self._put(out, xp.maximum(x, y))

    def tanh(self, z: Any, out: Any = None) -> Any:
        return self._put(out, self.xp.tanh(z))

    def exp(self, z: Any, out: Any = None) -> Any:
        return self._put(out, self.xp.exp(z))

    def expit(self, z: Any, out: Any = None) -> Any:
        """``1 / (1 + e^{-z})`` without overflow: ``e = e^{-|z|}`` is at most 1, and
        ``σ(z) = 1/(1+e)`` for ``z ≥ 0``, ``e/(1+e)`` otherwise (exact to round-off)."""
        xp = self.xp
        e = xp.exp(-xp.abs(z))
        r = 1 / (1 + e)
        return self._put(out, xp.where(z >= 0, r, e * r))

    def softmax(self, z: Any, out: Any = None) -> Any:
        """Softmax of each row of ``z`` (n, N): ``e^{z − max z} / Σ e^{z − max z}``.

        Subtracting the row maximum leaves the value unchanged and keeps ``e^x ≤ 1``
        (no overflow).  (NumPy's own path is in :class:`~chainrule.functions.Softmax`.)
        """
        xp = self.xp
        e = self.exp(self.subtract(z, xp.max(z, axis=-1, keepdims=True), out=out), out=out)
        total = xp.sum(e, axis=-1, keepdims=True)
        return e / total if out is None else self.copy(out, e / total)

    def one_hot(self, labels: Any, out: Any) -> Any:
        """Write the one-hot rows of integer ``labels`` (m,) into ``out`` (m, K); return it."""
        xp = self.xp
        K = out.shape[1]
        hot = xp.reshape(labels, (-1, 1)) == xp.reshape(
            xp.arange(K, dtype=labels.dtype, device=array_device(labels)), (1, K)
        )
        out[...] = xp.astype(hot, out.dtype)
        return out

    def positive(self, a: Any) -> Any:
        """``a > 0`` as something ``d *= …`` accepts (1.0 / 0.0 in ``a``'s dtype)."""
        return self.xp.astype(a > 0, a.dtype)

    def copy(self, out: Any, x: Any) -> Any:
        """Write ``x`` into ``out``; return ``out``."""
        out[...] = x
        return out

    def descend(self, p: Any, g: Any, eta: float, scratch: Any = None) -> None:
        """``p ← p − η g`` in place."""
        p -= g * eta

    def descend_product(self, W: Any, dT: Any, a: Any, eta: float, shrink: float = 1.0) -> None:
        """``W ← shrink · W − η dT @ a`` in place: eq. 13's product and the step at once.

        ``shrink = 1 − ηλ/n`` is Nielsen's weight decay (eq. 93); 1 without L2.
        """
        if shrink != 1.0:
            W *= shrink
        W -= self.dot(dT, a) * eta

    def descent_kernel(self, W: Any, b: Any, grad_b: Any, grad_W: Any) -> Callable[..., None]:
        """Layer ``l``'s plain gradient-descent step from ``δ^l`` and ``a^{l-1}``, in place.

        The returned ``step(d, a, eta, shrink)``, with ``d`` of shape (n, N_l) (``δ^l``
        scaled by the row weights) and ``a`` of shape (n, N_{l-1}), does
        ``W ← shrink · W − η dᵀ a`` (eq. 13 inside the step, :meth:`descend_product`)
        and ``b ← b − η Σ_rows d`` (eq. 15), leaving ``grad_b`` = eq. 15 where the
        namespace computes it.  ``grad_W`` is the layer's gradient buffer (a namespace
        whose fused product cannot take some arrays computes the step through it).
        """
        sum_rows, descend_product, descend = self.sum_rows, self.descend_product, self.descend

        def step(d: Any, a: Any, eta: float, shrink: float) -> None:
            sum_rows(d, out=grad_b)
            descend_product(W, d.T, a, eta, shrink)
            descend(b, grad_b, eta)

        return step

    def momentum_kernel(self, W: Any, b: Any, grad_b: Any, grad_W: Any) -> Callable[..., None]:
        """Layer ``l``'s momentum step from ``δ^l`` and ``a^{l-1}`` (Nielsen ch. 3), in place.

        ``step(d, a, eta, mu, nesterov, vW, vb)`` does ``v ← μ v − η dᵀa`` for ``W`` (eq. 13
        inside the velocity update) and ``v_b ← μ v_b − η Σ_rows d`` (eq. 15), then
        ``θ ← θ + v``, or with ``nesterov`` ``θ ← θ + μ v − η ∇ = θ − μ v_old + (1 + μ) v``
        (the same update written with the velocities, so ``∇`` need not be kept).
        """
        sum_rows, dot = self.sum_rows, self.dot

        def step(d: Any, a: Any, eta: float, mu: float, nesterov: bool, vW: Any, vb: Any) -> None:
            for p, v, g in ((W, vW, dot(d.T, a, out=grad_W)), (b, vb, sum_rows(d, out=grad_b))):
                if nesterov:
                    p -= v * mu
                v *= mu
                v -= g * eta
                p += v * (1.0 + mu) if nesterov else v

        return step

    # --- making and moving arrays
    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        """An uninitialised array of ``like``'s dtype and device."""
        return self.xp.empty(shape, dtype=like.dtype, device=array_device(like))

    def flat(self, x: Any) -> Any:
        """A 1-D view of ``x`` when the namespace has one, else ``x`` (for :meth:`sqnorm`)."""
        return x

    def take_rows(self, x: Any, idx: npt.NDArray[np.intp], out: Any = None) -> Any:
        """Rows ``idx`` (NumPy integers) of ``x``."""
        xp = self.xp
        return self._put(out, xp.take(x, xp.asarray(idx, device=array_device(x)), axis=0))

    def place(self, x: Any, like: Any) -> Any:
        """``x`` (of this namespace) on the device of the array ``like``; itself if there."""
        device = array_device(like)
        return x if array_device(x) == device else to_device(x, device)

    def asarray(self, a: np.ndarray, like: Any) -> Any:
        """The NumPy array ``a`` in this namespace, on ``like``'s device (a device or array)."""
        device = like if not hasattr(like, "shape") else array_device(like)
        return self.xp.asarray(a, device=device)

    def numpy_dtype(self, dtype: Any) -> np.dtype:
        """The NumPy float dtype of the same width as this namespace's ``dtype``."""
        return np.dtype(np.float32 if self.xp.finfo(dtype).bits == 32 else np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self.xp, '__name__', self.xp)!r})"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Pickled by the namespace's module name (a network or estimator pickles its
        # ops); unpickling finds the one Ops of that namespace again.
        return _ops_named, (self.xp.__name__,)


class NumpyOps(Ops):
    """NumPy: the ufuncs themselves, each writing into ``out=`` (no copies)."""

    name = "numpy"
    views = True
    # ndarray's own method: np.dot's __array_function__ dispatch costs a tiny product
    # about as much again (eq. 9's product of every step).
    dot = staticmethod(np.ndarray.dot)  # type: ignore[assignment]
    multiply = np.multiply  # type: ignore[assignment]  # ufuncs do not bind to instances
    subtract = np.subtract  # type: ignore[assignment]
    maximum = np.maximum  # type: ignore[assignment]
    tanh = np.tanh  # type: ignore[assignment]
    exp = np.exp  # type: ignore[assignment]

    @functools.cached_property
    def expit(self) -> Any:  # type: ignore[override]
        """SciPy's ``expit`` ufunc (no overflow), imported on first use so that
        ``import chainrule`` does not import SciPy; afterwards an attribute look-up."""
        from scipy.special import expit

        return expit

    def __init__(self) -> None:
        super().__init__(np)

    # eq. 15's sum over the batch: the ufunc's reduce itself, with no Python frame
    # of our own around it (a partial does not bind to instances either).
    sum_rows = functools.partial(np.add.reduce, axis=0)  # type: ignore[assignment]

    def sqnorm(self, x: Any) -> float:
        return float(x.dot(x))

    def positive(self, a: Any) -> Any:
        # Booleans multiply as 1.0/0.0 with a quarter of a float mask's traffic.
        return np.greater(a, 0)

    def copy(self, out: Any, x: Any) -> Any:
        np.copyto(out, x)
        return out

    def descend(self, p: Any, g: Any, eta: float, scratch: Any = None) -> None:
        p -= np.multiply(g, p.dtype.type(eta), out=scratch)

    @property
    def fuses_descent(self) -> bool:  # type: ignore[override]
        """True where BLAS's ``?gemm`` with β = 1 updates ``W`` in place (:func:`blas_kernels`)."""
        return blas_kernels() is not None

    def descend_product(self, W: Any, dT: Any, a: Any, eta: float, shrink: float = 1.0) -> None:
        kernels = blas_kernels()
        if kernels is not None and kernels.ready(W):
            kernels.gemm_into(W, dT.T, a, eta, shrink)
            return
        super().descend_product(W, dT, a, eta, shrink)

    def bias_kernel(self, b: Any, z: Any) -> Callable[[Any], Any] | None:
        # z += b broadcasts b over the rows: NumPy's general iterator, ~1 µs on a 10 × 8
        # array (a same-shape ufunc call is ~0.3 µs).  As BLAS's rank-one update
        # zᵀ ← b 1ᵀ + zᵀ (?ger, α = 1, in place on the Fortran view z.T) it is ~0.35 µs,
        # and exact: each element is z + 1·b·1, one rounding, as NumPy's addition.
        kernels = blas_kernels()
        if (
            kernels is None
            or not (kernels.ready(z) and kernels.ready(b))
            or z.dtype != b.dtype
            or z.ndim != 2
            or z.size == 0  # (an MPI rank's empty share of a batch: ?ger refuses it)
            or z.size >= SINGLE_THREAD_GEMV  # else SciPy's threads (see BlasKernels)
        ):
            return None
        return kernels.bias_adder(b, z.shape[0])

    def descent_kernel(self, W: Any, b: Any, grad_b: Any, grad_W: Any) -> Callable[..., None]:
        kernels = blas_kernels()
        if kernels is None or not (kernels.ready(W) and kernels.ready(b)):
            return _numpy_step(W, b, grad_b, grad_W)
        return kernels.step(W, b, grad_W)

    def momentum_kernel(self, W: Any, b: Any, grad_b: Any, grad_W: Any) -> Callable[..., None]:
        kernels = blas_kernels()
        if kernels is None or not (kernels.ready(W) and kernels.ready(b)):
            return super().momentum_kernel(W, b, grad_b, grad_W)
        return kernels.momentum(W, b, grad_W)

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        return np.empty(shape, like.dtype)

    def one_hot(self, labels: Any, out: Any) -> Any:
        out.fill(0)
        out[np.arange(len(labels)), labels] = 1
        return out

    def flat(self, x: Any) -> Any:
        return x.reshape(-1)

    def take_rows(self, x: Any, idx: npt.NDArray[np.intp], out: Any = None) -> Any:
        # mode="clip": the indices are in range, and NumPy's default mode="raise"
        # with out= gathers through a temporary.
        return np.take(x, idx, axis=0, out=out, mode="clip" if out is not None else "raise")

    def asarray(self, a: np.ndarray, like: Any) -> Any:
        return a

    def numpy_dtype(self, dtype: Any) -> np.dtype:
        return np.dtype(dtype)


class TorchOps(Ops):
    """PyTorch: its ``out=`` and in-place (``sub_``) forms, so buffers are reused."""

    name = "torch"
    views = True

    def __init__(self, xp: Any) -> None:
        super().__init__(xp)
        import torch  # only when a network lives on PyTorch

        self.torch = torch
        t = torch
        self.dot = lambda x, y, out=None: t.matmul(x, y, out=out)  # type: ignore[method-assign]
        self.tanh = lambda z, out=None: t.tanh(z, out=out)  # type: ignore[method-assign]
        self.exp = lambda z, out=None: t.exp(z, out=out)  # type: ignore[method-assign]
        self.expit = lambda z, out=None: t.sigmoid(z, out=out)  # type: ignore[method-assign]

    def sum_rows(self, x: Any, out: Any = None) -> Any:
        return self.torch.sum(x, 0, out=out)

    def affine(self, x: Any, WT: Any, b: Any, out: Any = None) -> Any:
        # One BLAS call: the GEMM starts from b in every row (beta = 1).
        return self.torch.addmm(b, x, WT, out=out)

    def sigmoid_prime_times(self, d: Any, z: Any, a: Any) -> Any:
        """``d *= a(1 − a)`` in one kernel (what autograd's sigmoid backward runs)."""
        return self.torch.ops.aten.sigmoid_backward.grad_input(d, a, grad_input=d)

    def sqnorm(self, x: Any) -> float:
        return float(self.torch.dot(x, x))

    def sqnorm_term(self, x: Any) -> Any:
        return self.torch.dot(x, x)  # 1-D x (Ops.flat): a 0-d tensor on x's device

    def softmax(self, z: Any, out: Any = None) -> Any:
        # PyTorch's own kernel: max, exp, sum and divide in one pass over each row
        # (the same formula; one call instead of five).
        if out is None:
            return self.torch.softmax(z, -1)
        return self.torch.ops.aten._softmax.out(z, -1, False, out=out)

    def multiply(self, x: Any, y: Any, out: Any = None) -> Any:
        return self.torch.mul(x, y, out=out)

    def subtract(self, x: Any, y: Any, out: Any = None) -> Any:
        if not hasattr(x, "shape"):  # a scalar minus an array: −y + x
            r = self.torch.neg(y, out=out)
            return r.add_(x)
        return self.torch.sub(x, y, out=out)

    def maximum(self, x: Any, y: Any, out: Any = None) -> Any:
        if not hasattr(y, "shape"):
            return self.torch.clamp_min(x, y, out=out)
        return self.torch.maximum(x, y, out=out)

    def positive(self, a: Any) -> Any:
        return a > 0

    def copy(self, out: Any, x: Any) -> Any:
        return out.copy_(x)

    def descend(self, p: Any, g: Any, eta: float, scratch: Any = None) -> None:
        p.sub_(g, alpha=eta)  # one fused pass: p − η g

    fuses_descent = True

    def descend_product(self, W: Any, dT: Any, a: Any, eta: float, shrink: float = 1.0) -> None:
        # One GEMM, W ← β W + α dT a, reading and writing W once; no ∇W is stored.
        # (A GEMM with β = 0 into a gradient buffer, then W −= η∇, takes ~30 % longer
        # for a 100 × 784 layer on a CPU.)
        W.addmm_(dT, a, beta=shrink, alpha=-eta)

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        return self.torch.empty(shape, dtype=like.dtype, device=like.device)

    def one_hot(self, labels: Any, out: Any) -> Any:
        out.zero_()
        return out.scatter_(1, labels.reshape(-1, 1), 1.0)

    def flat(self, x: Any) -> Any:
        return x.view(-1)

    def take_rows(self, x: Any, idx: npt.NDArray[np.intp], out: Any = None) -> Any:
        index = self.torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(x.device)
        return self.torch.index_select(x, 0, index, out=out)

    def place(self, x: Any, like: Any) -> Any:
        # Detached (a view: the engine writes with out=, which autograd refuses), moved
        # (.to() returns x itself when it is there already), contiguous as a host copy is.
        return x.detach().to(like.device).contiguous()

    def asarray(self, a: np.ndarray, like: Any) -> Any:
        device = like if not hasattr(like, "shape") else like.device
        t = self.torch.from_numpy(np.ascontiguousarray(a))
        return t if device is None else t.to(device)

    def numpy_dtype(self, dtype: Any) -> np.dtype:
        return np.dtype(np.float32 if dtype == self.torch.float32 else np.float64)


def _numpy_step(W: Any, b: Any, grad_b: Any, grad_W: Any) -> Callable[..., None]:
    """Today's two-step path on NumPy: ``∇W`` into ``grad_W``, then the update."""
    dot, sum_rows, multiply = np.dot, NumpyOps.sum_rows, np.multiply
    scaled_b, t = np.empty_like(b), W.dtype.type

    def step(d: Any, a: Any, eta: float, shrink: float) -> None:
        sum_rows(d, out=grad_b)  # eq. 15
        g = multiply(dot(d.T, a, out=grad_W), t(eta), out=grad_W)  # eq. 13
        if shrink != 1.0:
            multiply(W, t(shrink), out=W)
        np.subtract(W, g, out=W)
        np.subtract(b, multiply(grad_b, t(eta), out=scaled_b), out=b)

    return step


# --------------------------------------------------------------------------- BLAS
#
# Plain gradient descent folded into eq. 13 on NumPy: BLAS's ``?gemm`` computes
# ``C ← α op(A) op(B) + β C`` in place, so ``W ← shrink · W − η δᵀa`` is one product
# that reads and writes ``W`` once, with no ``∇W`` stored and no second pass.
#
# SciPy's wrappers (``scipy.linalg.blas``) reach a BLAS, but a NumPy and a SciPy
# installed from wheels each bring their own OpenBLAS, with their own thread pools.
# After a call, OpenBLAS's worker threads spin for a while waiting for more work, so
# a multi-threaded SciPy product right after NumPy's products runs against NumPy's
# spinning workers: on 2 cores the fused product had the better minimum but the
# worse median (issue 25).  Products below OpenBLAS's threading threshold run on the
# calling thread alone and have no such contention, so those go through SciPy's
# wrappers (about 1 µs a call); bigger ones call the ``cblas_?gemm`` of the library
# NumPy itself loaded (found with threadpoolctl), through ctypes (about 5 µs a call).
# Where SciPy and NumPy share one BLAS, SciPy's wrappers take every size; where
# NumPy's library cannot be called, big products keep the two-step path.

#: Products of at most this many multiply-adds (``n · N_l · N_{l-1}``) run on one
#: thread in OpenBLAS (its ``GEMM_MULTITHREAD_THRESHOLD · SMP_THRESHOLD_MIN``).
SINGLE_THREAD_GEMM = 4 * 65536
#: Matrix-vector products below this many multiply-adds (``n · N_l``) run on one thread
#: in OpenBLAS (``2304 · GEMM_MULTITHREAD_THRESHOLD``); bigger bias updates use NumPy.
SINGLE_THREAD_GEMV = 2304 * 4

_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS, _CBLAS_TRANS = 101, 111, 112


class BlasKernels:
    """``?gemm``/``?gemv`` with β = 1 into NumPy arrays, for the fused SGD step.

    Parameters
    ----------
    fblas : module
        ``scipy.linalg.blas`` (SciPy's f2py wrappers).
    cblas : dict or None
        ``{np.float32: sgemm, np.float64: dgemm}``: ctypes functions of the
        ``cblas_?gemm`` (64-bit integers) of NumPy's own BLAS, or None.
    shared : bool
        True when SciPy's wrappers call the same library as NumPy (one BLAS loaded).
    """

    def __init__(self, fblas: Any, cblas: dict[type, Any] | None, shared: bool) -> None:
        self.fblas, self.cblas, self.shared = fblas, cblas, shared
        self.gemm = {np.float32: fblas.sgemm, np.float64: fblas.dgemm}
        self.gemv = {np.float32: fblas.sgemv, np.float64: fblas.dgemv}
        self.ger = {np.float32: fblas.sger, np.float64: fblas.dger}

    @staticmethod
    def ready(x: Any) -> bool:
        """True when ``x`` is a C-ordered, aligned, writeable float32/float64 ndarray.

        Only then does the Fortran view ``x.T`` that SciPy's wrappers overwrite (or
        the pointer ctypes passes) *are* ``x``'s memory; anything else is updated
        through NumPy's own path.
        """
        return (
            type(x) is np.ndarray
            and x.dtype.type in (np.float32, np.float64)
            and x.flags.c_contiguous
            and x.flags.aligned
            and x.flags.writeable
            and x.dtype.isnative
        )

    def bias_adder(self, b: Any, n: int) -> Callable[[Any], Any]:
        """``add(z)``: ``z += b`` for a C-ordered ``z`` of shape ``(n, N)`` and a ready ``b``
        of shape ``(N,)``, as the rank-one update ``zᵀ ← b 1ᵀ + zᵀ`` (``?ger``) in place on
        the Fortran view ``z.T``.  A ``z`` of another layout must not be passed: SciPy
        would update a copy."""
        t = b.dtype.type
        ger, ones = self.ger[t], np.ones(n, t)

        def add(z: Any) -> Any:
            # (α, x, y, incx, incy, a, overwrite_x, overwrite_y, overwrite_a), by position;
            # ?ger only reads x and y, and overwrite_x = overwrite_y = 0 would copy them.
            return ger(1.0, b, ones, 1, 1, z.T, 1, 1, 1)

        return add

    def big(self, m: int, n: int, k: int) -> bool:
        """True when a product of this size must call NumPy's own library (threads)."""
        return not self.shared and m * n * k > SINGLE_THREAD_GEMM

    def gemm_into(self, W: Any, d: Any, a: Any, eta: float, shrink: float) -> None:
        """``W ← shrink · W − η dᵀ a`` in place for ready ``W`` (any ``d``, ``a``)."""
        t = W.dtype.type
        d, a = np.asarray(d, dtype=t), np.asarray(a, dtype=t)
        if self.big(d.shape[0], *W.shape):
            if self.cblas is not None and _cblas_ready(a, t) and _cblas_ready(d, t):
                _cblas_call(self.cblas[t], W, d, a, eta, shrink)
            else:
                W *= t(shrink)
                W -= np.dot(d.T, a) * t(eta)
            return
        # C = Wᵀ (Fortran order: the same memory) ← shrink · C − η aᵀ d.
        self.gemm[t](-eta, a.T, d.T, shrink, W.T, 0, 1, 1)  # β, C, trans_a, trans_b, overwrite_c

    def step(self, W: Any, b: Any, grad_W: Any, shrink_b: bool = False) -> Callable[..., None]:
        """Layer ``l``'s fused step (:meth:`Ops.descent_kernel`) for ready ``W``, ``b``.

        ``b ← b − η dᵀ 1`` is one ``?gemv`` (eq. 15 inside the step: ``grad_b`` is
        not written).  For a batch size other than the first call's the row of ones
        is made again.  With ``shrink_b`` (a momentum velocity) ``b`` is shrunk too:
        ``b ← shrink · b − η dᵀ 1``.
        """
        t = W.dtype.type
        gemm, gemv, cblas = self.gemm[t], self.gemv[t], self.cblas
        C = W.T  # Fortran-ordered view of W: what SciPy's wrappers overwrite
        M, N = W.shape
        ones = np.ones(0, t)
        big_from = SINGLE_THREAD_GEMM // (M * N) + 1 if not self.shared else 1 << 62
        gemv_below = SINGLE_THREAD_GEMV // M + 1 if not self.shared else 1 << 62
        scaled_b = np.empty_like(b)

        def step(d: Any, a: Any, eta: float, shrink: float) -> None:
            nonlocal ones
            n = d.shape[0]
            if n != ones.shape[0]:
                ones = np.ones(n, t)
            # (SciPy's wrappers take every argument by position here: keywords cost them
            # about 1 µs a call, as much as a tiny product itself.)
            # eq. 15 inside the step: b ← b − η δᵀ1  (α, A, x, β, y, offx, incx, offy, incy,
            # trans, overwrite_y).
            beta_b = shrink if shrink_b else 1.0
            if n < gemv_below:
                gemv(-eta, d.T, ones, beta_b, b, 0, 1, 0, 1, 0, 1)
            else:  # (SciPy's multi-threaded gemv would meet NumPy's spinning threads)
                g = np.add.reduce(d, axis=0, out=scaled_b)
                if beta_b != 1.0:
                    np.multiply(b, t(beta_b), out=b)
                np.subtract(b, np.multiply(g, t(eta), out=g), out=b)
            # eq. 13 inside the step: Wᵀ ← shrink · Wᵀ − η aᵀ δ  (α, A, B, β, C, trans_a,
            # trans_b, overwrite_c).
            if n < big_from:
                gemm(-eta, a.T, d.T, shrink, C, 0, 1, 1)
            elif cblas is not None and _cblas_ready(a, t) and _cblas_ready(d, t):
                _cblas_call(cblas[t], W, d, a, eta, shrink)
            else:  # a^{l-1} that cblas cannot read in place: the two-step path
                g = np.dot(d.T, np.asarray(a, dtype=t), out=grad_W)
                np.multiply(g, t(eta), out=g)
                if shrink != 1.0:
                    np.multiply(W, t(shrink), out=W)
                np.subtract(W, g, out=W)

        return step

    def folded_step(self, P: Any, a_fortran: bool, d_fortran: bool) -> Callable[..., None]:
        """Layer ``l``'s fused step on its folded parameters ``P = [W | b]`` (``Engine.layers``).

        ``P`` is a ready ``(N_l, N_{l-1} + 1)`` array whose views are ``W = P[:, :-1]`` and
        ``b = P[:, -1]``.  ``step(d, a1, η, shrink)`` takes ``a1 = [a | 1]`` of shape
        ``(n, N_{l-1} + 1)`` (a column of ones after ``a^{l-1}``), so that eqs. 13 and 15
        are one product, ``[∇W | ∇b] = dᵀ [a | 1]``, and the step one ``?gemm``:
        ``Pᵀ ← Pᵀ − η [a | 1]ᵀ d``.  With weight decay (``shrink ≠ 1``) ``W`` alone is
        shrunk first (one ufunc call; ``b`` is not decayed).  ``a1`` and ``d`` are
        Fortran-ordered where ``a_fortran``, ``d_fortran`` say so, else C-ordered: each
        is passed as the Fortran array SciPy reads without a copy (another layout is
        copied by SciPy: the same values, slower).
        """
        t = P.dtype.type
        gemm, C, W = self.gemm[t], P.T, P[:, :-1]
        multiply = np.multiply
        ta, tb = int(a_fortran), int(not d_fortran)

        def step(d: Any, a1: Any, eta: float, shrink: float) -> None:
            if shrink != 1.0:
                multiply(W, t(shrink), W)
            # (α, A, B, β, C, trans_a, trans_b, overwrite_c), by position (see ``step``).
            gemm(-eta, a1 if a_fortran else a1.T, d if d_fortran else d.T, 1.0, C, ta, tb, 1)

        return step

    def momentum(self, W: Any, b: Any, grad_W: Any) -> Callable[..., None]:
        """Layer ``l``'s fused momentum step (:meth:`Ops.momentum_kernel`) for ready ``W``, ``b``.

        The velocities' products go into them in place through :meth:`step`'s kernel: a
        ``?gemm``/``?gemv`` with β = μ on the velocity arrays (``shrink`` is β).
        """
        t = W.dtype.type
        scratch_b = np.empty_like(b)
        # v ← μ v − η dᵀa is the fused SGD step on v with shrink = μ: its kernel, made
        # for the optimizer's velocity arrays (again only if it replaces them).
        held: list[Any] = [None, None]

        def velocity_step(vW: Any, vb: Any) -> Callable[..., None]:
            if held[0] is not vW or held[1] is not vb:
                if not (
                    self.ready(vW)
                    and self.ready(vb)
                    and vW.shape == W.shape
                    and vW.dtype == W.dtype
                    and vb.shape == b.shape
                ):
                    raise ValueError(
                        "momentum velocities must be C-ordered arrays of the "
                        "parameters' shapes and dtype"
                    )
                held[:] = [vW, vb, self.step(vW, vb, grad_W, shrink_b=True)]
            return held[2]  # type: ignore[no-any-return]

        def step(d: Any, a: Any, eta: float, mu: float, nesterov: bool, vW: Any, vb: Any) -> None:
            if nesterov:  # θ − μ v_old, before v changes
                np.subtract(W, np.multiply(vW, t(mu), out=grad_W), out=W)
                np.subtract(b, np.multiply(vb, t(mu), out=scratch_b), out=b)
            velocity_step(vW, vb)(d, a, eta, mu)  # v ← μ v − η dᵀa, v_b ← μ v_b − η dᵀ1
            if nesterov:  # + (1 + μ) v
                np.add(W, np.multiply(vW, t(1.0 + mu), out=grad_W), out=W)
                np.add(b, np.multiply(vb, t(1.0 + mu), out=scratch_b), out=b)
            else:
                np.add(W, vW, out=W)
                np.add(b, vb, out=b)

        return step


def _cblas_ready(x: Any, t: type) -> bool:
    """True when ``x`` is a row-major 2-D ``t`` array that cblas can read in place."""
    item = np.dtype(t).itemsize
    s0, s1 = x.strides
    return (
        x.dtype.type is t
        and x.flags.aligned
        and s1 == item
        and s0 % item == 0
        and s0 >= x.shape[1] * item
    )


def _cblas_call(fn: Any, W: Any, d: Any, a: Any, eta: float, shrink: float) -> None:
    """``W ← shrink · W − η dᵀ a`` through row-major ``cblas_?gemm`` (C = W is M × N)."""
    item = W.itemsize
    n, M = d.shape
    N = a.shape[1]
    fn(
        _CBLAS_ROW_MAJOR,
        _CBLAS_TRANS,
        _CBLAS_NO_TRANS,
        M,
        N,
        n,
        -eta,
        d.ctypes.data,
        d.strides[0] // item,
        a.ctypes.data,
        a.strides[0] // item,
        shrink,
        W.ctypes.data,
        N,
    )


_BLAS: list[BlasKernels | None] = []


#: A fit whose every product is at most this many multiply-adds (``n · N_{l-1} · N_l``)
#: runs its BLAS on one thread (:func:`one_blas_thread`).  Between OpenBLAS's own
#: threading threshold (:data:`SINGLE_THREAD_GEMM`) and this size a second thread buys
#: nothing on an idle machine (``train`` on the 1,000,000 × 20 table, ``[19, 30, 3]`` at
#: batch 1000: the epoch 0.54–0.56 s on one thread, 0.53–0.77 s on two), and on a busy
#: one the two threads wait on each other's spinning (the same epoch 0.9 s against 7.3 s
#: at load 3.5, docs/performance.md).
ONE_THREAD_FIT = 1 << 20

_CONTROLLER: list[Any] = []


def _controller() -> Any:
    """threadpoolctl's view of the process's thread pools, looked up once (the look-up
    walks every loaded library); None where threadpoolctl is missing or fails."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController  # installed with scikit-learn

            _CONTROLLER.append(ThreadpoolController())
        except Exception:  # no threadpoolctl, or it failed to look
            _CONTROLLER.append(None)
    return _CONTROLLER[0]


def one_blas_thread() -> Any:
    """A context in which every BLAS library of the process (NumPy's, SciPy's) runs on
    one thread, restored on exit; a no-op context where threadpoolctl cannot tell.  The
    limit takes effect when the context is made: enter it at once."""
    from contextlib import nullcontext

    blas_kernels()  # SciPy's BLAS loaded first, so that the look-up sees (and limits) it
    controller = _controller()
    if controller is None:
        return nullcontext()
    return controller.limit(limits=1, user_api="blas")


def blas_kernels() -> BlasKernels | None:
    """The fused-step BLAS kernels of this process (found once), or None without SciPy's BLAS."""
    if not _BLAS:
        _BLAS.append(_find_blas())
    return _BLAS[0]


def _find_blas() -> BlasKernels | None:
    fblas = _scipy_fblas()
    if fblas is None:  # pragma: no cover - SciPy is a dependency
        return None
    controller = _controller()  # (one look-up for this and for one_blas_thread)
    try:
        libs = [i for i in controller.info() if i.get("user_api") == "blas"] if controller else []
    except Exception:  # threadpoolctl failed: no way to tell which BLAS is which
        libs = []
    if len(libs) == 1:
        return BlasKernels(fblas, None, shared=True)
    return BlasKernels(fblas, _numpy_cblas(libs), shared=False)


def _scipy_fblas() -> Any:
    """SciPy's f2py BLAS wrappers: the module ``scipy.linalg.blas`` re-exports.

    ``scipy.linalg``'s package ``__init__`` imports most of SciPy's linear algebra
    (0.2–0.4 s), none of which the fused step needs, so the extension module
    ``scipy.linalg._fblas`` is loaded from its file without running that package:
    its ``?gemm``/``?gemv``/``?ger`` are the very objects ``scipy.linalg.blas``
    exports (one extension module in a process), so the computation is the same.
    Where ``scipy.linalg`` is already imported, or the file cannot be loaded
    that way, the ordinary import is used.
    """
    import sys

    if "scipy.linalg" not in sys.modules:
        try:
            import importlib.machinery as machinery
            import os

            import scipy

            where = [os.path.join(os.path.dirname(scipy.__file__), "linalg")]
            spec = machinery.PathFinder.find_spec("scipy.linalg._fblas", where)
            loader = spec.loader if spec is not None else None
            if spec is not None and isinstance(loader, machinery.ExtensionFileLoader):
                module = loader.create_module(spec)
                loader.exec_module(module)
                if all(hasattr(module, f"{t}{k}") for t in "sd" for k in ("gemm", "gemv", "ger")):
                    return module
        except Exception:  # any surprise: the ordinary import below
            pass
    try:
        from scipy.linalg import blas
    except ImportError:  # pragma: no cover - SciPy is a dependency
        return None
    return blas


def _numpy_cblas(libs: list[dict[str, Any]]) -> dict[type, Any] | None:
    """ctypes ``cblas_sgemm``/``cblas_dgemm`` of the BLAS library NumPy's wheel ships."""
    import ctypes
    import os

    home = os.path.dirname(os.path.realpath(np.__file__))
    places = (home + os.sep, os.path.join(os.path.dirname(home), "numpy.libs") + os.sep)
    for info in libs:
        path = os.path.realpath(info.get("filepath") or "")
        if not path.startswith(places):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        found: dict[type, Any] = {}
        for t, name in ((np.float32, "sgemm"), (np.float64, "dgemm")):
            real = ctypes.c_float if t is np.float32 else ctypes.c_double
            # Only the 64-bit-integer symbols (NumPy's ILP64 builds): their argument
            # types are certain.
            for symbol in (f"scipy_cblas_{name}64_", f"cblas_{name}64_"):
                fn = getattr(lib, symbol, None)
                if fn is not None:
                    i64, ptr, enum = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
                    fn.argtypes = [
                        enum,
                        enum,
                        enum,
                        i64,
                        i64,
                        i64,
                        real,
                        ptr,
                        i64,
                        ptr,
                        i64,
                        real,
                        ptr,
                        i64,
                    ]
                    fn.restype = None
                    found[t] = fn
                    break
        if len(found) == 2:
            return found
    return None


NUMPY_OPS = NumpyOps()
_BY_TYPE: dict[type, Ops] = {np.ndarray: NUMPY_OPS}
_BY_NAMESPACE: dict[int, Ops] = {}


def ops_for(xp: Any) -> Ops:
    """The :class:`Ops` of namespace ``xp`` (made once per namespace)."""
    if xp is np or is_numpy_namespace(xp):
        return NUMPY_OPS
    ops = _BY_NAMESPACE.get(id(xp))
    if ops is None:
        ops = _BY_NAMESPACE[id(xp)] = TorchOps(xp) if is_torch_namespace(xp) else Ops(xp)
    return ops


def _ops_named(name: str) -> Ops:
    """The :class:`Ops` of the namespace module ``name`` (for unpickling)."""
    return ops_for(importlib.import_module(name))


def ops_of(x: Any) -> Ops:
    """The :class:`Ops` for arrays of ``x``'s type: one dictionary look-up after the first."""
    ops = _BY_TYPE.get(type(x))
    if ops is None:
        ops = _BY_TYPE[type(x)] = ops_for(array_namespace(x))
    return ops


def resolve_backend(backend: str | ModuleType | None) -> Ops:
    """The :class:`Ops` of ``backend``: ``None``/``"numpy"``, ``"torch"``, ``"cupy"``,
    any importable array-API module name (``"array_api_strict"``) or such a module.

    Raises
    ------
    ValueError
        For a name that cannot be imported, or a module that is no array namespace.
    """
    if backend is None or backend == "numpy" or backend is np:
        return NUMPY_OPS
    module = backend
    if isinstance(backend, str):
        try:
            module = importlib.import_module(backend)
        except ImportError as exc:
            extra = f" (pip install 'chainrule[{backend}]')" if backend in BACKENDS else ""
            raise ValueError(f"backend {backend!r} is not installed{extra}: {exc}") from None
    try:
        xp = array_namespace(module.asarray(0.0))  # type: ignore[union-attr]
    except (AttributeError, TypeError) as exc:
        raise ValueError(
            f"backend {backend!r} is not an array namespace "
            f"(expected 'numpy', 'torch', 'cupy' or an array-API module)"
        ) from exc
    return ops_for(xp)


def to_numpy(x: Any) -> Any:
    """``x`` as a NumPy array if it is an array of another namespace; else ``x`` unchanged.

    PyTorch tensors are detached and copied to host memory; others go through
    DLPack (on the CPU) or their namespace's ``to_device(…, "cpu")``.
    """
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray) or not hasattr(x, "__array_namespace__"):
        return x
    try:
        return np.from_dlpack(x)  # host memory: shared, no copy
    except (BufferError, RuntimeError, TypeError, AttributeError, ValueError):
        if hasattr(x, "get"):  # CuPy: device → host
            return np.asarray(x.get())
        return np.asarray(x.to_device("cpu") if hasattr(x, "to_device") else x)
