"""Optimizers: how a gradient becomes a parameter update.

Each optimizer updates the parameter arrays in place (so references a user
holds to ``net.weights[i]`` stay valid) and keeps its own state (velocities,
moment estimates) so that calling ``fit`` again resumes where training stopped.

``params`` and ``grads`` are matching lists of arrays: the network passes
``[W^2, …, W^L, b^2, …, b^L]`` and the gradients in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from ..backend import ops_of
from ..engine import Layer
from ..registry import Registry

Array = npt.NDArray[np.floating]

__all__ = ["SGD", "Adam", "AdamW", "Momentum", "Optimizer", "get_optimizer"]


#: Every named optimizer: ``OPTIMIZERS[name]()`` makes a fresh one (:func:`get_optimizer`).
OPTIMIZERS: Registry[Callable[[], Optimizer]] = Registry("optimizer")


class Optimizer:
    """Base class: ``step(params, grads, lr)`` updates ``params`` in place.

    An optimizer whose update of a layer needs nothing from the other layers sets
    ``per_layer = True`` and implements :meth:`step_layer`: the training loop then
    updates each layer as soon as the backward pass has finished with it.

    Its state (velocities, moments, step counts) is what :meth:`state_dict` returns
    and :meth:`load_state_dict` takes, as in ``torch.optim``: a subclass names its
    state attributes in ``state_names``.  ``Network.to`` moves the state's arrays to
    the parameters' backend through this pair; nothing else reads the attributes.
    """

    name = "optimizer"
    per_layer = False
    #: The attributes that make up the state: lists of arrays (one per parameter,
    #: in ``[*weights, *biases]`` order) or numbers.
    state_names: tuple[str, ...] = ()

    def step(self, params: Sequence[Array], grads: Sequence[Array], lr: float) -> None:
        """Apply one update with learning rate ``lr``."""
        raise NotImplementedError

    def step_layer(self, layer: Layer, lr: float) -> None:
        """Update one finished layer (``layer.W``, ``layer.b`` from ``grad_W``, ``grad_b``)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all state (called when the network's parameter shapes change)."""

    def state_dict(self) -> dict[str, Any]:
        """The state: ``{name: list of arrays (one per parameter) or number}``.

        The lists are the optimizer's own (not copies); empty before the first step.
        """
        return {name: getattr(self, name) for name in self.state_names}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace the state by ``state`` (as :meth:`state_dict` gives it).

        Scratch buffers are dropped; an unknown name is refused.
        """
        unknown = sorted(set(state) - set(self.state_names))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no state {unknown[0]!r}: expected "
                f"{', '.join(self.state_names) or 'none'}"
            )
        self.reset()
        for name, value in state.items():
            setattr(self, name, list(value) if isinstance(value, (list, tuple)) else value)

    def state_arrays(self) -> dict[str, list[Array]]:
        """The state's arrays only: ``{name: [array per parameter]}`` (non-empty lists)."""
        return {
            name: value
            for name, value in self.state_dict().items()
            if isinstance(value, list) and value
        }

    def config(self) -> dict[str, Any]:
        """The hyper-parameters, for model files and reports."""
        return {"name": self.name}

    @staticmethod
    def _matches(state: list[Array], params: Sequence[Array]) -> bool:
        # State is positional; if the parameters were replaced by arrays of other
        # shapes or dtypes, the state must start over rather than be misapplied.
        return len(state) == len(params) and all(
            s.shape == p.shape and s.dtype == p.dtype for s, p in zip(state, params, strict=True)
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


@OPTIMIZERS.register
class SGD(Optimizer):
    """Plain gradient descent, ``θ ← θ − η ∇`` (the seed; Nielsen ch. 1)."""

    name = "sgd"
    per_layer = True

    def __init__(self) -> None:
        # η∇ is written here rather than into a fresh temporary every step: for
        # big layers a fresh array means fresh pages (page faults) on every batch.
        self._scaled: list[Array] = []

    def reset(self) -> None:
        self._scaled = []

    def step(self, params: Sequence[Array], grads: Sequence[Array], lr: float) -> None:
        if not self._matches(self._scaled, params):
            self._scaled = [ops_of(p).xp.empty_like(p) for p in params]
        for p, g, t in zip(params, grads, self._scaled, strict=True):
            ops_of(p).descend(p, g, lr, t)

    # θ ← θ − η ∇ for one layer is the layer's own descend(η): no frame in between.
    step_layer = staticmethod(Layer.descend)  # type: ignore[assignment]


@OPTIMIZERS.register
class Momentum(Optimizer):
    """Momentum ``v ← μ v − η ∇; θ ← θ + v`` (Nielsen ch. 3), optionally Nesterov.

    Parameters
    ----------
    momentum : float, default 0.9
        μ in [0, 1], the fraction of the previous velocity kept (1 keeps all of
        it, undamped; scikit-learn accepts it too).
    nesterov : bool, default False
        Use Nesterov's look-ahead form ``θ ← θ + μ v − η ∇`` (as in scikit-learn).
    """

    name = "momentum"
    state_names = ("velocity",)

    def __init__(self, momentum: float = 0.9, nesterov: bool = False) -> None:
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocity: list[Array] = []

    def reset(self) -> None:
        self.velocity = []

    def velocities(self, params: Sequence[Array]) -> list[Array]:
        """The velocity of each of ``params`` (zeros the first time), as :meth:`step` uses them.

        The training loop's fused step (eq. 13 inside ``v ← μv − η∇``) updates these
        same arrays, so fused and unfused steps share one state.
        """
        if not self._matches(self.velocity, params):
            self.velocity = [ops_of(p).xp.zeros_like(p) for p in params]
        return self.velocity

    def step(self, params: Sequence[Array], grads: Sequence[Array], lr: float) -> None:
        for p, g, v in zip(params, grads, self.velocities(params), strict=True):
            mu, eta = _scalar(p, self.momentum), _scalar(p, lr)
            v *= mu
            v -= eta * g
            if self.nesterov:
                p += mu * v - eta * g
            else:
                p += v

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "momentum": self.momentum, "nesterov": self.nesterov}


@OPTIMIZERS.register
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias-corrected moment estimates.

    Parameters
    ----------
    beta1, beta2 : float
        Decay rates of the first and second moment estimates.
    epsilon : float
        Added to the root of the second moment for stability.
    """

    name = "adam"
    state_names = ("m", "v", "t")

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        for label, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"adam {label} must be in [0, 1), got {value}")
        if epsilon <= 0:
            raise ValueError(f"adam epsilon must be positive, got {epsilon}")
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.m: list[Array] = []
        self.v: list[Array] = []
        self.t = 0

    def reset(self) -> None:
        self.m, self.v, self.t = [], [], 0

    def step(self, params: Sequence[Array], grads: Sequence[Array], lr: float) -> None:
        self._update_moments(params, grads)
        self._apply(params, lr)

    def _update_moments(self, params: Sequence[Array], grads: Sequence[Array]) -> None:
        """``m ← β₁m + (1 − β₁)g``, ``v ← β₂v + (1 − β₂)g²`` and ``t ← t + 1``."""
        if not self._matches(self.m, params):
            self.m = [ops_of(p).xp.zeros_like(p) for p in params]
            self.v = [ops_of(p).xp.zeros_like(p) for p in params]
            self.t = 0
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            t = _scalar_type(p)
            m *= t(b1)
            m += t(1 - b1) * g
            v *= t(b2)
            v += t(1 - b2) * (g * g)

    def _apply(self, params: Sequence[Array], lr: float) -> None:
        # Algorithm 1 of the paper: θ ← θ − η m̂ / (√v̂ + ε), with ε added to the
        # bias-corrected √v̂ (as PyTorch does), m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ).
        step = lr / (1 - self.beta1**self.t)
        root_c2 = float(np.sqrt(1 - self.beta2**self.t))
        for p, m, v in zip(params, self.m, self.v, strict=True):
            t = _scalar_type(p)
            denom = ops_of(v).xp.sqrt(v)
            denom /= t(root_c2)
            denom += t(self.epsilon)
            p -= t(step) * m / denom

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
        }


@OPTIMIZERS.register
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    Each step first shrinks every weight matrix, ``W ← W − η·wd·W``, and then
    takes the Adam step of the loss gradient alone.  Unlike L2 added to the
    gradient, the decay is not rescaled by Adam's per-parameter step sizes, so
    every weight decays at the same relative rate.  Only parameters with two or
    more dimensions (the ``W^l``) decay; biases (``b^l``, 1-D) do not.

    Parameters
    ----------
    weight_decay : float, default 0.01
        wd, the decay per unit of learning rate.
    beta1, beta2, epsilon : float
        As for :class:`Adam`.
    """

    name = "adamw"

    def __init__(
        self,
        weight_decay: float = 0.01,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(beta1=beta1, beta2=beta2, epsilon=epsilon)
        if not weight_decay >= 0:
            raise ValueError(f"adamw weight_decay must be >= 0, got {weight_decay}")
        self.weight_decay = weight_decay

    def step(self, params: Sequence[Array], grads: Sequence[Array], lr: float) -> None:
        if self.weight_decay:
            for p in params:
                if p.ndim >= 2:
                    p *= _scalar(p, 1.0 - lr * self.weight_decay)
        super().step(params, grads, lr)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "weight_decay": self.weight_decay}


def _scalar_type(p: Array) -> Any:
    """NumPy's scalar type of ``p``'s dtype; elsewhere ``float`` (a Python float keeps an
    array's dtype in arithmetic under the array API standard, as NumPy's scalar does)."""
    return p.dtype.type if type(p) is np.ndarray else float


def _scalar(p: Array, value: float) -> Any:
    """``value`` as a scalar of ``p``'s dtype (see :func:`_scalar_type`)."""
    return _scalar_type(p)(value)


#: Nesterov's momentum is :class:`Momentum` with ``nesterov=True``.
OPTIMIZERS.add("nesterov", partial(Momentum, nesterov=True))


def get_optimizer(spec: str | Optimizer) -> Optimizer:
    """Return a fresh optimizer named by ``spec`` (or ``spec`` itself)."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, str) and spec in OPTIMIZERS:
        return OPTIMIZERS[spec]()
    raise OPTIMIZERS.unknown(spec)
