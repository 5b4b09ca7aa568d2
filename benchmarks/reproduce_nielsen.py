"""Reproduce the MNIST results of Nielsen's *Neural Networks and Deep Learning*.

Each row trains a network with the book's settings on the real MNIST files and
prints our accuracy beside the book's.  Usage (from the project root)::

    python benchmarks/reproduce_nielsen.py                      # every row
    python benchmarks/reproduce_nielsen.py --rows ch1-30 ch3-l2  # some rows
    python benchmarks/reproduce_nielsen.py --quick               # a slice, a few epochs

The data split is Nielsen's: the first 50,000 training images train, the last
10,000 validate, and the 10,000 test images test (:func:`chainrule.data.mnist.load_mnist`).
Like the book, each row evaluates after every epoch on the set the book reported
(test data for chapter 1 and the first chapter-3 runs, validation data for the
regularized run) and reports the *best* epoch ("95.42 percent at its peak") as
well as the last.  Our quadratic cost is ``‖a − y‖²``, twice Nielsen's ``½‖a − y‖²``,
so the book's η = 3.0 is our η = 1.5.

``--quick`` runs each row on a 2,000-image slice for 2 epochs: a smoke test that the
script and its rows work (it runs in CI on small IDX files), not a measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    # Run from a checkout without installing: the checkout's package wins.
    sys.path.insert(0, str(ROOT / "src"))

from chainrule import Network  # noqa: E402
from chainrule.data.images import deskew  # noqa: E402
from chainrule.data.mnist import MNISTSplits, load_mnist  # noqa: E402
from chainrule.training import Callback, get_schedule  # noqa: E402

DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data" / "mnist"


@dataclass
class Row:
    """One experiment: the book's settings and figure, and how we run it."""

    key: str
    description: str
    book: float | None  # the book's accuracy in percent (None: our own row)
    evaluate_on: str  # "test" or "validation": the set the book reported
    network: dict[str, Any]
    fit: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    quick_epochs: int = 2
    shift: int = 0  # augmentation: shift each image by up to this many pixels per epoch
    # Preprocessing, not augmentation: every image (training, validation and test)
    # deskewed once by chainrule.data.images.deskew, inside the timed run.
    deskew: bool = False
    # Train on all 60,000 training images (the validation images too) for a fixed
    # number of epochs: nothing is chosen on held-out data, the last epoch is tested.
    full_train: bool = False


SIGMOID_QUADRATIC = {"activation": "sigmoid", "cost": "quadratic", "init": "normal"}
SIGMOID_XENT = {"activation": "sigmoid", "cost": "cross_entropy", "init": "normal"}
RELU_SOFTMAX = {
    "activation": "relu",
    "output_activation": "softmax",
    "cost": "log_likelihood",
    "dtype": "float32",
}

# The issue-25 network and training, shared by the mlp rows.
MLP_NETWORK = {"sizes": [784, 1024, 1024, 10], **RELU_SOFTMAX}
MLP_FIT = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 128,
    "dropout": 0.5,
    "input_dropout": 0.2,
    "schedule": "cosine",
}

ROWS = [
    Row(
        "ch1-30",
        "ch. 1: [784,30,10] sigmoid, quadratic cost, η 3.0 (ours 1.5), mini-batch 10, N(0,1) init",
        95.42,
        "test",
        {"sizes": [784, 30, 10], **SIGMOID_QUADRATIC},
        {"learning_rate": 1.5, "batch_size": 10},
    ),
    Row(
        "ch1-100",
        "ch. 1: [784,100,10], same settings",
        96.59,
        "test",
        {"sizes": [784, 100, 10], **SIGMOID_QUADRATIC},
        {"learning_rate": 1.5, "batch_size": 10},
    ),
    Row(
        "ch3-30",
        "ch. 3: [784,30,10] sigmoid, cross-entropy, η 0.5, mini-batch 10, N(0,1) init",
        95.49,
        "test",
        {"sizes": [784, 30, 10], **SIGMOID_XENT},
        {"learning_rate": 0.5, "batch_size": 10},
    ),
    Row(
        "ch3-100",
        "ch. 3: [784,100,10], same settings",
        96.82,
        "test",
        {"sizes": [784, 100, 10], **SIGMOID_XENT},
        {"learning_rate": 0.5, "batch_size": 10},
    ),
    Row(
        "ch3-l2",
        "ch. 3: [784,100,10] cross-entropy, L2 λ 5.0, η 0.5, mini-batch 10, "
        "N(0,1) init (book: on validation data)",
        97.92,
        "validation",
        {"sizes": [784, 100, 10], **SIGMOID_XENT},
        {"learning_rate": 0.5, "batch_size": 10, "l2": 5.0},
    ),
    Row(
        "best",
        "ours: [784,800,800,10] ReLU, softmax + log-likelihood, Adam η 0.001, "
        "dropout 0.2, cosine schedule over 16 epochs, mini-batch 128, float32, early "
        "stopping on validation accuracy (patience 4)",
        None,
        "test",
        {"sizes": [784, 800, 800, 10], **RELU_SOFTMAX},
        {
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "batch_size": 128,
            "dropout": 0.2,
            "schedule": "cosine",
            "early_stopping": "val_accuracy",
            "patience": 4,
        },
        epochs=16,
    ),
    Row(
        "best-shift",
        "ours: the same network and training, plus each epoch every "
        "training image shifted by a random -1..1 pixels in x and y (no early stopping: "
        "the 16 cosine epochs run out)",
        None,
        "test",
        {"sizes": [784, 800, 800, 10], **RELU_SOFTMAX},
        {
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "batch_size": 128,
            "dropout": 0.2,
            "schedule": "cosine",
        },
        epochs=16,
        shift=1,
    ),
    Row(
        "mlp",
        "ours, issue 25: a plain MLP without augmentation or convolution, "
        "[784,1024,1024,10] ReLU, softmax + log-likelihood, Adam η 0.001, dropout 0.2 on "
        "the inputs and 0.5 on the hidden layers, cosine schedule over 45 epochs, "
        "mini-batch 128, float32, all 60,000 training images, the last epoch tested",
        None,
        "test",
        MLP_NETWORK,
        MLP_FIT,
        epochs=45,
        full_train=True,
    ),
    Row(
        "mlp-deskew",
        "ours, issue 25: the mlp row's network and training on deskewed images "
        "(each image sheared upright and centred by its own second moments, training and "
        "test images alike: preprocessing, not augmentation), cosine schedule over 30 epochs",
        None,
        "test",
        MLP_NETWORK,
        MLP_FIT,
        epochs=30,
        full_train=True,
        deskew=True,
    ),
]


class _Tracker(Callback):
    """Accuracy on the book's evaluation set after every epoch.

    Without ``X`` it is the epoch's training accuracy from the history (the
    mini-batches as trained, dropout on: no second pass over the data).
    """

    def __init__(self, X: np.ndarray | None, y: np.ndarray | None, label: str) -> None:
        self.X, self.y, self.label = X, y, label
        self.accuracies: list[float] = []

    def on_epoch_end(self, network: Network, history: Any) -> None:
        if self.X is None:
            acc = history.train_accuracy[-1] * 100
        else:
            acc = network.accuracy(self.X, self.y) * 100
        self.accuracies.append(acc)
        h = history
        print(
            f"  epoch {h.epoch[-1]:3d}: {self.label} {acc:6.2f}%  "
            f"train loss {h.train_loss[-1]:.4f}  lr {h.learning_rate[-1]:.4g}  "
            f"{h.seconds[-1]:.1f}s",
            flush=True,
        )


def load_data(data_dir: Path, *, quick: bool) -> MNISTSplits:
    """Nielsen's split (50,000 / 10,000 / 10,000), or with ``quick`` a small slice.

    The quick slice takes the first 2,000 training images (at most 5/6 of the
    file), the last 500 (at most 1/6) for validation and 500 test images, so
    the script also runs on the small IDX files the tests write.
    """
    d = load_mnist(data_dir, n_validation=0)
    n = len(d.X_train)
    n_val = min(10_000, n // 6)
    if quick:
        n_val = min(500, n_val)
    if n_val < 1:
        raise ValueError(f"{data_dir}: {n} training images are too few to split")
    X_val, y_val = d.X_train[n - n_val :], d.y_train[n - n_val :]
    X_train, y_train = d.X_train[: n - n_val], d.y_train[: n - n_val]
    X_test, y_test = d.X_test, d.y_test
    if quick:
        X_train, y_train = X_train[:2000], y_train[:2000]
        X_test, y_test = X_test[:500], y_test[:500]
    return MNISTSplits(X_train, y_train, X_val, y_val, X_test, y_test)


def shifted(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each 28x28 image moved by a random whole number of pixels in ``-max_shift..max_shift``.

    ``images`` has shape (n, 784); pixels shifted in from outside are 0 (the
    background of MNIST).
    """
    imgs = images.reshape(-1, 28, 28)
    out = np.zeros_like(imgs)
    dx = rng.integers(-max_shift, max_shift + 1, len(imgs))
    dy = rng.integers(-max_shift, max_shift + 1, len(imgs))
    for sx in range(-max_shift, max_shift + 1):
        for sy in range(-max_shift, max_shift + 1):
            rows = np.flatnonzero((dx == sx) & (dy == sy))
            src = imgs[rows]
            # Zero-filled shift: slice instead of np.roll, which would wrap around.
            ys, yd = (
                (slice(0, 28 - sy), slice(sy, 28))
                if sy >= 0
                else (slice(-sy, 28), slice(0, 28 + sy))
            )
            xs, xd = (
                (slice(0, 28 - sx), slice(sx, 28))
                if sx >= 0
                else (slice(-sx, 28), slice(0, 28 + sx))
            )
            out[
                rows[:, None, None],
                np.arange(28)[yd][None, :, None],
                np.arange(28)[xd][None, None, :],
            ] = src[:, ys, xs]
    return out.reshape(len(imgs), -1)


def _fit_shifted(
    net: Network,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    shift: int,
    seed: int,
    callbacks: list[Callback],
    fit: dict[str, Any],
    validation_data: tuple[np.ndarray, np.ndarray],
) -> None:
    """Train one epoch at a time on freshly shifted images, following the schedule.

    One ``fit`` call per epoch: the network's generator and the optimizer's
    state carry over between calls (see docs/training.md), so this is one run.
    """
    fit = dict(fit)
    schedule = get_schedule(fit.pop("schedule", None))
    base_lr = fit.pop("learning_rate")
    schedule.begin(base_lr, epochs)
    rng = np.random.default_rng([seed, 1])  # the shifts' own stream
    for e in range(epochs):
        net.fit(
            shifted(X, shift, rng),
            y,
            epochs=1,
            learning_rate=schedule.rate(e),
            validation_data=validation_data,
            seed=seed if e == 0 else None,
            callbacks=callbacks,
            **fit,
        )
        if net.interrupted:
            break


def run_row(
    row: Row, data: Any, *, quick: bool, seed: int, validate: bool = False
) -> dict[str, Any]:
    """Train one row and return its measurements.

    With ``validate`` a row that trains on all 60,000 images (``full_train``) trains
    on the first 50,000 only and reports the accuracy on the last 10,000: how its
    recipe was screened, without a look at the test set.
    """
    X_train, y_train = data.X_train, data.y_train
    X_val, y_val, X_test, y_test = data.X_val, data.y_val, data.X_test, data.y_test
    epochs = row.quick_epochs if quick else row.epochs
    net_kwargs = dict(row.network)
    sizes = net_kwargs.pop("sizes")
    net = Network(sizes, seed=seed, **net_kwargs)
    if row.evaluate_on == "validation":
        tracker = _Tracker(X_val, y_val, "validation")
    else:
        tracker = _Tracker(X_test, y_test, "test")
    fit = dict(row.fit)
    if row.book is None:
        # Our rows selects on validation data only; the test set is looked at once.
        tracker = _Tracker(X_val, y_val, "validation")
    full_train = row.full_train and not validate
    if full_train:
        # Nothing held out to select on: train on every training image for the fixed
        # epochs; the per-epoch line shows the training accuracy as trained.
        X_train = np.concatenate([X_train, X_val])
        y_train = np.concatenate([y_train, y_val])
        tracker = _Tracker(None, None, "train")
    dtype = np.dtype(net_kwargs.get("dtype", np.float64))
    print(f"[{row.key}] {row.description}", flush=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    if row.deskew:
        X_train, X_val, X_test = (deskew(X) for X in (X_train, X_val, X_test))
    val = (X_val.astype(dtype, copy=False), y_val)
    if row.full_train:
        net.fit(  # (with validate, the tracker reports the validation images per epoch)
            X_train.astype(dtype, copy=False),
            y_train,
            epochs=epochs,
            seed=seed,
            callbacks=[tracker],
            **fit,
        )
    elif row.shift:
        _fit_shifted(
            net,
            X_train.astype(dtype, copy=False),
            y_train,
            epochs,
            row.shift,
            seed,
            [tracker],
            fit,
            val,
        )
    else:
        net.fit(
            X_train.astype(dtype, copy=False),
            y_train,
            epochs=epochs,
            validation_data=val,
            seed=seed,
            callbacks=[tracker],
            **fit,
        )
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    result: dict[str, Any] = {
        "row": row.key,
        "seed": seed,
        "description": row.description,
        "book": row.book,
        "evaluated_on": "validation" if row.full_train and validate else row.evaluate_on,
        "epochs_run": len(net.history),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "quick": quick,
    }
    if row.full_train and validate:
        result["accuracy"] = round(net.accuracy(X_val, y_val) * 100, 2)  # the held-out 10,000
    elif row.full_train:
        result["accuracy"] = round(net.accuracy(X_test, y_test) * 100, 2)
        result["train_accuracy"] = round(tracker.accuracies[-1], 2)
    elif row.book is None:
        result["accuracy"] = round(net.accuracy(X_test, y_test) * 100, 2)
        result["best_validation"] = round(max(tracker.accuracies), 2)
    else:
        result["best"] = round(max(tracker.accuracies), 2)
        result["best_epoch"] = int(np.argmax(tracker.accuracies)) + 1
        result["last"] = round(tracker.accuracies[-1], 2)
        result["accuracy"] = result["best"]
    book = f"  (book {row.book:.2f}%)" if row.book is not None else ""
    print(
        f"[{row.key}] {result['accuracy']:.2f}%{book}  {seconds:.0f}s wall, {cpu_seconds:.0f}s CPU",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder with the four MNIST IDX files (default: %(default)s)",
    )
    p.add_argument(
        "--rows",
        nargs="+",
        choices=[r.key for r in ROWS],
        default=[r.key for r in ROWS],
        help="rows to run (default: all)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a 2,000-image slice and 2 epochs per row (a smoke test)",
    )
    p.add_argument(
        "--validate",
        action="store_true",
        help="rows trained on all 60,000 images (mlp) train on the first 50,000 and "
        "report the last 10,000 instead of the test set (to screen a recipe)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="append one JSON line per row to this file")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1: on a shared machine, multi-threaded "
        "BLAS waits on busy cores and runs several times slower)",
    )
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    with threadpool_limits(args.threads):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        data = load_data(args.data_dir, quick=args.quick)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = []
    for row in ROWS:
        if row.key not in args.rows:
            continue
        result = run_row(row, data, quick=args.quick, seed=args.seed, validate=args.validate)
        results.append(result)
        if args.json:
            with args.json.open("a") as f:
                f.write(json.dumps(result) + "\n")
    print()
    print(f"{'row':10s} {'ours':>8s} {'book':>8s} {'seconds':>8s}")
    for r in results:
        book = f"{r['book']:.2f}" if r["book"] is not None else "-"
        print(f"{r['row']:10s} {r['accuracy']:8.2f} {book:>8s} {r['seconds']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
