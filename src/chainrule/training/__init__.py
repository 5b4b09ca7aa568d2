"""Training: the loop, optimizers, callbacks and the history they record."""

from .callbacks import BatchInfo, Callback, PrintProgress
from .history import History
from .optimizers import SGD, Adam, Momentum, Optimizer, get_optimizer

__all__ = [
    "SGD",
    "Adam",
    "BatchInfo",
    "Callback",
    "History",
    "Momentum",
    "Optimizer",
    "PrintProgress",
    "get_optimizer",
]
