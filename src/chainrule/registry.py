"""``Registry``: the one list of the names of one kind of building block.

Activations, costs and initialisations (:mod:`chainrule.functions`), optimizers
(:mod:`chainrule.training.optimizers`) and schedules
(:mod:`chainrule.training.schedules`) each live in one registry.  A class joins its
registry where it is defined, with the registry's decorator::

    @ACTIVATIONS.register
    class Swish(Activation):
        name = "swish"
        ...

and from then on the CLI's choices, the scikit-learn estimators' parameter
constraints, the docs' tables (checked by a test) and the tests' parametrisations
(the gradient checks among them) know it.  Nothing else lists names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(dict[str, T]):
    """Names → classes (or factories) of one kind, in the order they were registered.

    A ``dict``, so ``name in REGISTRY``, ``REGISTRY[name]`` and ``sorted(REGISTRY)``
    read it.

    Parameters
    ----------
    kind : str
        What one entry is, for messages (``"activation"``, ``"optimizer"``).
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, cls: T) -> T:
        """Add ``cls`` under its ``name`` attribute; returns it (a class decorator)."""
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a registered {self.kind} needs a class attribute 'name'")
        if name in self and self[name] is not cls:
            raise ValueError(f"two {self.kind}s are named {name!r}")
        self[name] = cls
        return cls

    def add(self, name: str, entry: T) -> None:
        """Register ``entry`` (a factory, e.g. a configured class) under ``name``."""
        if name in self:
            raise ValueError(f"two {self.kind}s are named {name!r}")
        self[name] = entry

    def names(self, where: Callable[[Any], bool] | None = None) -> list[str]:
        """The registered names, sorted; only those whose entry satisfies ``where``."""
        return sorted(name for name, cls in self.items() if where is None or where(cls))

    def unknown(self, spec: Any, *extra: str) -> ValueError:
        """The one-line error for a name not registered (``extra``: other accepted names)."""
        names = ", ".join(sorted([*self, *extra]))
        return ValueError(f"unknown {self.kind} {spec!r}: expected one of {names}")
