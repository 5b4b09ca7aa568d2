"""Parameter checks beyond scikit-learn's ``_parameter_constraints``.

Activations (by name, object or pair), custom losses, layer sizes, dropout.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from ..functions import (
    Activation,
    Cost,
    CustomActivation,
    CustomCost,
    get_activation,
)

Array = npt.NDArray[np.floating]

#: scikit-learn's activation names → chainrule's
_SK_NAMES = {"logistic": "sigmoid"}

# --------------------------------------------------------------------------- parameters


def _is_pair(spec: Any) -> bool:
    """True for a (function, derivative) pair of callables."""
    return (
        isinstance(spec, (tuple, list))
        and len(spec) == 2
        and all(callable(f) and not isinstance(f, (str, Activation)) for f in spec)
    )


def _one_activation(spec: Any, where: str) -> Activation:
    if isinstance(spec, Activation):
        return spec
    if _is_pair(spec):
        return CustomActivation(spec[0], spec[1], getattr(spec[0], "__name__", "custom"))
    if isinstance(spec, str):
        name = _SK_NAMES.get(spec, spec)
        if name == "softmax":
            raise ValueError(f"activation {where}: softmax is only allowed as an output")
        try:
            return get_activation(name)
        except ValueError:
            raise ValueError(
                f"activation {where}: unknown {spec!r}; expected 'identity', 'logistic', "
                "'tanh', 'relu', 'sigmoid', 'leaky_relu', an Activation or a "
                "(function, derivative) pair"
            ) from None
    raise ValueError(
        f"activation {where}: expected a name, an Activation or a "
        f"(function, derivative) pair, got {spec!r}"
    )


def _hidden_activations(spec: Any, n_hidden: int) -> list[Activation]:
    if isinstance(spec, (str, Activation)) or _is_pair(spec):
        return [_one_activation(spec, "") for _ in range(n_hidden)]
    if isinstance(spec, (list, tuple)):
        if len(spec) != n_hidden:
            raise ValueError(
                f"activation lists one per hidden layer: expected {n_hidden} "
                f"(from hidden_layer_sizes), got {len(spec)}"
            )
        return [_one_activation(s, f"[{i}]") for i, s in enumerate(spec)]
    raise ValueError(
        f"activation: expected a name, a list of names, an Activation or a "
        f"(function, derivative) pair, got {spec!r}"
    )


def _custom_cost(spec: Any) -> Cost | None:
    if isinstance(spec, Cost):
        return spec
    if _is_pair(spec):
        return CustomCost(spec[0], spec[1], getattr(spec[0], "__name__", "custom"))
    return None


def _check_number(
    name: str,
    value: Any,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {what} in {lo}{low}, {high}{hi}, got {value!r}")


def _hidden_sizes(spec: Any) -> list[int]:
    sizes = [spec] if not hasattr(spec, "__iter__") else list(spec)
    for s in sizes:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {spec!r}")
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")  # scikit-learn's
    return [int(s) for s in sizes]


def _dropout_arg(dropout: Any) -> float | tuple[float, ...] | None:
    if dropout is None:
        return None
    scalar = bool(np.isscalar(dropout))
    rates: list[Any] = [dropout] if scalar else list(dropout)
    for p in rates:
        _check_number("dropout", p, low=0.0, high=1.0, high_open=True)
    return float(rates[0]) if scalar else tuple(float(p) for p in rates)
