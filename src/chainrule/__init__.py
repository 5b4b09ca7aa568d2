"""chainrule: feed-forward neural networks trained by backpropagation.

The package follows Carolyn Johnston's derivation of backpropagation (the
"seed"): ``Network`` holds ``W^l`` and ``b^l``, :mod:`chainrule.engine`
computes eqs. 1–2 forward and eqs. 5, 9, 13, 15 backward over whole batches,
and :func:`gradcheck` checks the result against central differences;
:mod:`chainrule.tensors` rebuilds it from the seed's explicit Jacobians and
3-tensors (:func:`explicit_gradients`, :func:`explain_trace`).
"""

from ._version import __version__
from .answers import CheckResult, check
from .functions import Activation, Cost, CustomActivation, CustomCost
from .gradcheck import GradcheckReport, gradcheck
from .io import load
from .lesson import LESSON_DEFAULTS, lesson_network
from .network import Network
from .tensors import DerivationTrace, explain_trace, explicit_gradients
from .training import Callback, History, TrainingConfig, TrainingDiverged

__all__ = [
    "LESSON_DEFAULTS",
    "Activation",
    "Callback",
    "CheckResult",
    "Cost",
    "CustomActivation",
    "CustomCost",
    "DerivationTrace",
    "GradcheckReport",
    "History",
    "Network",
    "TrainingConfig",
    "TrainingDiverged",
    "__version__",
    "check",
    "explain_trace",
    "explicit_gradients",
    "gradcheck",
    "lesson_network",
    "load",
]
