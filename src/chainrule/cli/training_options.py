"""How ``chainrule train`` trains: optimizer, regularization, schedule, stopping, output."""

from __future__ import annotations

import argparse
from typing import Any

from ..training import (
    AdamW,
    Callback,
    Cosine,
    InverseScaling,
    JSONLinesLogger,
    Momentum,
    ReduceOnPlateau,
    StepDecay,
    get_optimizer,
    progress_callback,
)
from ..training.config import OPTIMIZER_NAMES, TrainingConfig
from ..training.optimizers import Optimizer
from ..training.schedules import SCHEDULES, Schedule
from .common import CLIError, check_output_file, positive_float, positive_int

__all__ = [
    "TRAINING_DEFAULTS",
    "add_training_arguments",
    "describe",
    "fit_kwargs",
    "make_callbacks",
    "validation_kwargs",
]

# Defaults for the main job: digits to >= 96 % test accuracy in a few seconds.
TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 50,
    "batch_size": 10,
    "learning_rate": 0.1,
    "optimizer": "sgd",
}

#: Held out for validation when early stopping or the plateau schedule needs it.
DEFAULT_VALIDATION_FRACTION = 0.1


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value}")
    return value


def _input_dropout(text: str) -> float:
    values = _dropout(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"expected one drop probability like 0.2, got {text!r}")
    return values[0]


def _dropout(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a drop probability like 0.5, or one per hidden layer like 0.2,0.5; "
            f"got {text!r}"
        ) from None
    if any(not 0.0 <= v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"drop probabilities must be in [0, 1), got {text!r}")
    return values


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Options for the training loop."""
    d = TRAINING_DEFAULTS
    g = p.add_argument_group("training")
    g.add_argument(
        "--epochs", type=positive_int, default=d["epochs"], help="passes over the training split"
    )
    g.add_argument(
        "--batch-size",
        type=positive_int,
        default=d["batch_size"],
        help="rows per mini-batch (one gradient step each)",
    )
    g.add_argument(
        "--learning-rate",
        "--eta",
        type=positive_float,
        default=d["learning_rate"],
        help="learning rate η (for the gradient of the mean cost)",
    )
    g.add_argument(
        "--optimizer",
        choices=list(OPTIMIZER_NAMES),
        default=d["optimizer"],
        help="lbfgs: full-batch L-BFGS (SciPy's L-BFGS-B on the backpropagated "
        "gradient); --epochs is then the most iterations, --batch-size and "
        "--learning-rate do not apply, and --l1, --dropout, --clip-norm and "
        "--schedule are refused",
    )
    g.add_argument(
        "--momentum",
        type=_non_negative_float,
        default=0.9,
        help="μ for --optimizer momentum or nesterov",
    )
    g.add_argument(
        "--weight-decay",
        type=_non_negative_float,
        default=0.01,
        help="decoupled weight decay for --optimizer adamw",
    )

    r = p.add_argument_group("regularization")
    r.add_argument(
        "--l2",
        type=_non_negative_float,
        default=0.0,
        metavar="λ",
        help="L2 in Nielsen's form: W ← (1 − ηλ/n) W − η∇ (n = training rows)",
    )
    r.add_argument(
        "--l1",
        type=_non_negative_float,
        default=0.0,
        metavar="λ",
        help="L1 in Nielsen's form: w ← w − (ηλ/n) sgn(w) − η∇",
    )
    r.add_argument(
        "--dropout",
        type=_dropout,
        default=None,
        metavar="P[,P...]",
        help="inverted dropout probability for the hidden layers "
        "(one for all, or one per hidden layer)",
    )
    r.add_argument(
        "--input-dropout",
        type=_input_dropout,
        default=0.0,
        metavar="P",
        help="inverted dropout probability for the inputs (e.g. 0.2)",
    )
    r.add_argument(
        "--clip-norm",
        type=positive_float,
        default=None,
        metavar="MAX",
        help="clip each batch's gradient to this global norm",
    )
    r.add_argument(
        "--max-norm",
        type=positive_float,
        default=None,
        metavar="C",
        help="after every step, scale each unit's incoming weights back to 2-norm C "
        "where longer (max-norm; 3-4 with dropout)",
    )
    r.add_argument(
        "--average-decay",
        type=_fraction,
        default=None,
        metavar="D",
        help="end with an exponential moving average of the weights over the steps, "
        "decay D in (0, 1), e.g. 0.999 (Polyak averaging)",
    )

    s = p.add_argument_group("learning-rate schedule")
    s.add_argument(
        "--schedule",
        choices=list(SCHEDULES),
        default="constant",
        help="step: ×FACTOR every STEP epochs; invscaling: η/(e+1)^0.5; "
        "cosine: anneal to 0 over the epochs; plateau: ×FACTOR after PATIENCE "
        "epochs without validation-accuracy gain (Nielsen's rule)",
    )
    s.add_argument(
        "--lr-step",
        type=positive_int,
        default=10,
        metavar="STEP",
        help="epochs between drops of --schedule step",
    )
    s.add_argument(
        "--lr-factor",
        type=_fraction,
        default=0.5,
        metavar="FACTOR",
        help="rate multiplier of --schedule step and plateau",
    )
    s.add_argument(
        "--lr-patience",
        type=positive_int,
        default=10,
        metavar="PATIENCE",
        help="epochs without gain before --schedule plateau lowers the rate",
    )

    e = p.add_argument_group("validation and early stopping")
    e.add_argument(
        "--early-stopping",
        choices=["val_loss", "val_accuracy"],
        default=None,
        help="stop when this stops improving and restore the best epoch's weights",
    )
    e.add_argument(
        "--patience",
        type=positive_int,
        default=10,
        help="epochs without improvement before early stopping; it watches the "
        "validation split (--val-fraction, or mnist's 10,000), else "
        f"{DEFAULT_VALIDATION_FRACTION:g} of the training rows held out "
        "(never the test split)",
    )

    o = p.add_argument_group("output")
    o.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "none"],
        default="auto",
        help="a progress bar on a terminal, one line per epoch otherwise",
    )
    o.add_argument("--quiet", action="store_true", help="print only the final result")
    o.add_argument(
        "--log-json",
        metavar="FILE",
        default=None,
        help="write one JSON object per epoch (metrics, learning rate, "
        "gradient norms, seconds) to FILE",
    )


def _optimizer(args: argparse.Namespace) -> Optimizer | str:
    name = args.optimizer
    if name in ("momentum", "nesterov"):
        try:  # the range is Momentum's own
            return Momentum(momentum=args.momentum, nesterov=name == "nesterov")
        except ValueError as exc:
            raise CLIError(f"--momentum: {exc}") from None
    if name == "adamw":
        return AdamW(weight_decay=args.weight_decay)
    if name == "lbfgs":
        return name  # Network.fit's full-batch L-BFGS (training/lbfgs.py)
    return get_optimizer(name)


def _schedule(args: argparse.Namespace) -> Schedule | str:
    name = args.schedule
    if name == "step":
        return StepDecay(every=args.lr_step, factor=args.lr_factor)
    if name == "plateau":
        return ReduceOnPlateau(patience=args.lr_patience, factor=args.lr_factor)
    if name == "invscaling":
        return InverseScaling()
    if name == "cosine":
        return Cosine()
    return name


def _decides_on_validation(args: argparse.Namespace) -> bool:
    return bool(args.early_stopping) or args.schedule == "plateau"


def validation_kwargs(args: argparse.Namespace, data: Any) -> dict[str, Any]:
    """``validation_data`` or ``validation_fraction`` for ``Network.fit``.

    ``data`` is the loaded :class:`~chainrule.cli.data_options.TrainingData`.
    Its validation split (carved from the training rows) is used when it has one.
    Without one, there is no per-epoch validation, except when early stopping or the
    plateau schedule watch validation metrics: then a seeded, stratified fraction of
    the training rows is held out.  The test rows are never validation.
    """
    has_split = data.X_val is not None and data.y_val is not None and len(data.X_val) > 0
    if _decides_on_validation(args) and not has_split:
        return {"validation_fraction": DEFAULT_VALIDATION_FRACTION}
    return {"validation_data": data.validation} if has_split else {}


def fit_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``Network.fit`` from the training options.

    The hyper-parameters go into one :class:`~chainrule.training.config.TrainingConfig`
    (``"config"``), checked there; the validation data come from
    :func:`validation_kwargs`.
    """
    settings: dict[str, Any] = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "optimizer": _optimizer(args),
        "l1": args.l1,
        "l2": args.l2,
        "clip_norm": args.clip_norm,
        "schedule": _schedule(args),
        "input_dropout": args.input_dropout,
        "max_norm": args.max_norm,
        "average_decay": args.average_decay,
    }
    if args.dropout is not None:
        settings["dropout"] = args.dropout[0] if len(args.dropout) == 1 else args.dropout
    if args.early_stopping:
        settings["early_stopping"] = args.early_stopping
        settings["patience"] = args.patience
    try:
        config = TrainingConfig(**settings)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return {"config": config, "seed": args.seed}


def make_callbacks(args: argparse.Namespace, loss_name: str = "loss") -> list[Callback]:
    """Progress display and logging callbacks the options ask for."""
    callbacks: list[Callback] = []
    if not args.quiet:
        progress = progress_callback(args.progress, total_epochs=args.epochs, loss_name=loss_name)
        if progress is not None:
            callbacks.append(progress)
    if args.log_json:
        # Checked without opening: the file is first touched when an epoch has ended,
        # and replaced in one step when training ends (never truncated by a failure).
        check_output_file(args.log_json, "--log-json", {})
        callbacks.append(JSONLinesLogger(args.log_json))
    return callbacks


def describe(args: argparse.Namespace) -> str:
    """One line summarising the training settings."""
    parts = [
        f"training: {args.epochs} epochs, batch size {args.batch_size}, "
        f"learning rate {args.learning_rate}, optimizer {args.optimizer}"
    ]
    if args.schedule != "constant":
        parts.append(f"schedule {args.schedule}")
    for name in ("l1", "l2"):
        if getattr(args, name):
            parts.append(f"{name} {getattr(args, name)}")
    if args.dropout is not None:
        parts.append(f"dropout {','.join(str(p) for p in args.dropout)}")
    if args.input_dropout:
        parts.append(f"input dropout {args.input_dropout}")
    if args.clip_norm is not None:
        parts.append(f"clip norm {args.clip_norm}")
    if args.max_norm is not None:
        parts.append(f"max-norm {args.max_norm}")
    if args.average_decay is not None:
        parts.append(f"weight average (decay {args.average_decay})")
    if args.early_stopping:
        parts.append(f"early stopping on {args.early_stopping} (patience {args.patience})")
    return ", ".join(parts)
