"""The record of a training run: one entry per epoch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch metrics of a training run, returned by :meth:`chainrule.Network.fit`.

    Every list has one entry per completed epoch (``len(history)`` of them).
    Training loss and accuracy are accumulated over the epoch's mini-batches as
    they were trained (no second pass over the data), so they lag the end-of-epoch
    weights slightly; validation metrics are computed on the end-of-epoch weights.
    Validation entries are ``nan`` when no validation data were given; accuracy
    entries are ``nan`` for regression networks.

    Attributes
    ----------
    epoch : list of int
        Epoch numbers, counting from 1 across resumed ``fit`` calls.
    train_loss, train_accuracy, val_loss, val_accuracy : list of float
    learning_rate : list of float
        The learning rate used during each epoch.
    grad_norms : list of list of float
        ``grad_norms[e][l-2]``: the root-mean-square of the Frobenius norm of
        ``∂E/∂W^l`` over the epoch's batches ``0, s, 2s, …`` with
        ``s = ⌈batches / 32⌉`` (every batch when there are at most 32, else 32
        evenly spaced ones) — the per-layer picture of vanishing gradients
        (Nielsen ch. 5).
    seconds : list of float
        Wall-clock time of each epoch.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, **values: Any) -> None:
        """Add one epoch's values (every field must be given)."""
        for name, value in values.items():
            getattr(self, name).append(value)

    def extend(self, other: History) -> None:
        """Append another run's epochs (used when ``fit`` resumes)."""
        for name, value in asdict(other).items():
            getattr(self, name).extend(value)

    @property
    def has_validation(self) -> bool:
        """True when validation metrics were recorded."""
        return any(not math.isnan(v) for v in self.val_loss)

    def to_dict(self) -> dict[str, list[Any]]:
        """The history as plain lists (JSON-ready; NaN becomes None)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and math.isnan(v):
                return None
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return {k: clean(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, list[Any]]) -> History:
        """Rebuild a history from :meth:`to_dict` output."""

        def unclean(v: Any) -> Any:
            if v is None:
                return math.nan
            if isinstance(v, list):
                return [unclean(x) for x in v]
            return v

        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: unclean(v) for k, v in data.items() if k in names})
