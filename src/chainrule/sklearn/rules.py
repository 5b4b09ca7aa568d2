"""scikit-learn's update rules.

Its Adam variant and its per-iteration learning-rate and stopping rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..network import Network
from ..training.callbacks import BatchInfo, Callback
from ..training.optimizers import Adam, Optimizer

Array = npt.NDArray[np.floating]

# --------------------------------------------------------------------------- optimizers


class _SklearnAdam(Adam):
    """Adam in scikit-learn's form (Kingma & Ba §2, the "efficient version").

    ``η_t = η √(1 − β₂ᵗ) / (1 − β₁ᵗ)`` and ``θ ← θ − η_t m / (√v + ε)``: ε is added to
    the uncorrected ``√v``.  Algorithm 1 of the paper adds ε to the bias-corrected
    ``√v̂`` instead; the two differ slightly, so the estimators keep scikit-learn's
    form here rather than depend on which one chainrule's :class:`Adam` uses.
    """

    def _apply(self, params: Sequence[Array], lr: float) -> None:
        # The moments are chainrule's Adam's; only where ε enters differs.
        lr_t = lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for p, m, v in zip(params, self.m, self.v, strict=True):
            t = p.dtype.type
            p -= t(lr_t) * m / (np.sqrt(v) + t(self.epsilon))


class _SklearnRules(Callback):
    """scikit-learn's per-batch rules, through the training loop's ``on_gradients`` hook.

    Between a mini-batch's gradients and the optimizer's step this turns the
    network's gradient into exactly the one scikit-learn's MLP uses for that batch:

    * with sample weights, the batch mean becomes ``Σ_b w_i ∇C_i / Σ_b w_i``
      (the network averages with weights normalised over the whole training
      set, so each batch's gradient is rescaled by a known factor);
    * scikit-learn's L2 term ``α W / Σ_b w_i`` (``Σ_b w_i`` is the batch size
      without weights) is added to the weight gradients, and its penalty
      ``½ α Σ ‖W‖² / Σ_b w_i`` is accumulated as scikit-learn accumulates it
      into ``loss_``.

    It also accumulates scikit-learn's ``loss_``: per batch, the (weighted) batch
    mean cost times the batch size.  The step size (scikit-learn's schedule) is the
    ``learning_rate`` of each epoch the Trainer runs, and the optimizer a real one.
    """

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.sample_weight: np.ndarray | None = None
        self.penalty_sum = 0.0
        self.loss_sum = 0.0

    def begin_epoch(self, sample_weight: np.ndarray | None) -> None:
        """Start an epoch whose rows carry ``sample_weight`` (in the order trained)."""
        self.sample_weight = sample_weight
        self._mean_w = 0.0 if sample_weight is None else float(sample_weight.mean())
        self.penalty_sum = 0.0
        self.loss_sum = 0.0

    def on_gradients(self, network: Network, info: BatchInfo) -> None:
        size = info.size
        if self.sample_weight is None:
            scale, l2_coef = 1.0, self.alpha / size
        else:
            batch_sum = float(self.sample_weight[info.rows].sum())
            # The network weights rows by w_i / mean(w) / size; scikit-learn by
            # w_i / Σ_b w.  The ratio is size · mean(w) / Σ_b w.
            scale, l2_coef = (
                (size * self._mean_w / batch_sum, self.alpha / batch_sum)
                if batch_sum > 0
                else (0.0, 0.0)
            )
        # info.loss is Σ_b w̃_i C_i / size with weights normalised over the training
        # set; scikit-learn's batch loss is Σ_b w_i C_i / Σ_b w_i: the same factor.
        self.loss_sum += info.loss * size * scale
        if scale != 1.0:
            for g in (*info.grad_weights, *info.grad_biases):
                g *= g.dtype.type(scale)
        if l2_coef:
            sq = 0.0
            for g, W in zip(info.grad_weights, network.weights, strict=True):
                flat = W.reshape(-1)
                sq += float(np.dot(flat, flat))
                g += W.dtype.type(l2_coef) * W
            # scikit-learn adds ½α‖W‖²/Σ_b w to the batch loss, weighted by the
            # batch size when it accumulates loss_.
            self.penalty_sum += 0.5 * l2_coef * sq * size


class _Stepper:
    """scikit-learn's ``_optimizer``: its current step size and the update rule.

    scikit-learn keeps η on its optimizer object (its tests read
    ``_optimizer.learning_rate``); the estimators keep it here, beside chainrule's
    :class:`~chainrule.training.optimizers.Optimizer` (``rule``), rather than as an
    attribute set on chainrule's optimizer.
    """

    def __init__(self, rule: Optimizer, learning_rate: float) -> None:
        self.rule = rule
        self.learning_rate = float(learning_rate)
