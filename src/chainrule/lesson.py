"""The one set of defaults behind ``chainrule explain``, ``gradcheck`` and the docs.

:data:`LESSON_DEFAULTS` is the seed's network — sigmoid everywhere, σ on the
input too (``a^1 = σ(z^1)``, seed §5 step 2), the quadratic cost
``C = ‖a^L − λ‖²`` — with Nielsen's ``scaled_normal`` initialisation (weights
``N(0, 1/N_{l-1})``, biases ``N(0, 1)``: ``b^l`` is visible in every trace and the
outputs stay away from saturation) and seed 0.  Both commands take their option
defaults from it, and :func:`lesson_network` builds the same network from
Python, so ``chainrule.lesson_network([2, 3, 2])`` holds exactly the weights of
``chainrule explain --sizes 2,3,2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .network import Network

__all__ = ["LESSON_DEFAULTS", "LESSON_EXAMPLES", "lesson_example", "lesson_network"]

#: The defaults of ``explain``, ``gradcheck`` and the docs' snippets, stated once.
LESSON_DEFAULTS: dict[str, Any] = {
    "sizes": "3,4,2",
    "activation": "sigmoid",
    "cost": "quadratic",
    "input_activation": "sigmoid",
    "init": "scaled_normal",
    "seed": 0,
}

#: The example ``(x, λ)`` ``explain`` shows for these sizes when none is given: the
#: seed's Figure 1 network (3-4-2) and the docs' worked example (2-3-2).
LESSON_EXAMPLES: dict[tuple[int, ...], tuple[list[float], list[float]]] = {
    (3, 4, 2): ([0.5, -1.0, 2.0], [0.0, 1.0]),
    (2, 3, 2): ([1.0, -0.5], [1.0, 0.0]),
}


def lesson_example(sizes: Sequence[int]) -> tuple[list[float], list[float]] | None:
    """The fixed example for these sizes (see :data:`LESSON_EXAMPLES`), or None."""
    return LESSON_EXAMPLES.get(tuple(sizes))


def lesson_network(sizes: Sequence[int] | None = None, **overrides: Any) -> Network:
    """The network ``chainrule explain`` and ``chainrule gradcheck`` build by default.

    Parameters
    ----------
    sizes : sequence of int, optional
        ``(N_1, …, N_L)``; default ``LESSON_DEFAULTS["sizes"]`` (3-4-2, seed Figure 1).
    **overrides
        Any :class:`~chainrule.Network` keyword (``activation``, ``cost``, ``seed``…).

    Returns
    -------
    Network

    Examples
    --------
    >>> import chainrule
    >>> net = chainrule.lesson_network([2, 3, 2])
    >>> net.sizes, net.input_activation.name
    ((2, 3, 2), 'sigmoid')
    """
    d = LESSON_DEFAULTS
    kwargs: dict[str, Any] = {
        "activation": d["activation"],
        "cost": d["cost"],
        "input_activation": d["input_activation"],
        "init": d["init"],
        "seed": d["seed"],
        **overrides,
    }
    if sizes is None:
        sizes = [int(n) for n in str(d["sizes"]).split(",")]
    return Network(list(sizes), **kwargs)
