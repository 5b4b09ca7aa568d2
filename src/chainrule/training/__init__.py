"""Training: the Trainer, the epoch machinery, optimizers, schedules, regularization
(max-norm among it), weight averaging, callbacks and the history."""

from .averaging import ExponentialAverage
from .callbacks import BatchInfo, Callback, PrintProgress
from .config import TrainingConfig
from .constraints import MaxNorm, max_norm
from .divergence import TrainingDiverged
from .early_stopping import EarlyStopping, holdout_split
from .history import History
from .lbfgs import LBFGS
from .optimizers import SGD, Adam, AdamW, Momentum, Optimizer, get_optimizer
from .progress import JSONLinesLogger, ProgressBar, progress_callback
from .schedules import (
    Constant,
    Cosine,
    InverseScaling,
    ReduceOnPlateau,
    Schedule,
    StepDecay,
    get_schedule,
)
from .trainer import EpochStats, Trainer, TrainingRun

__all__ = [
    "LBFGS",
    "SGD",
    "Adam",
    "AdamW",
    "BatchInfo",
    "Callback",
    "Constant",
    "Cosine",
    "EarlyStopping",
    "EpochStats",
    "ExponentialAverage",
    "History",
    "InverseScaling",
    "JSONLinesLogger",
    "MaxNorm",
    "Momentum",
    "Optimizer",
    "PrintProgress",
    "ProgressBar",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "Trainer",
    "TrainingConfig",
    "TrainingDiverged",
    "TrainingRun",
    "get_optimizer",
    "get_schedule",
    "holdout_split",
    "max_norm",
    "progress_callback",
]
