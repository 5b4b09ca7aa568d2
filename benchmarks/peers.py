"""The implementations being compared. Each ``fit_*`` trains for one epoch and returns seconds.

Only the training call is timed; building the data set is not. Each function imports its
library lazily so that a trial process loads only what it measures.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np

from workloads import Workload

__all__ = ["IMPLEMENTATIONS", "LABELS", "OPTIONAL_MODULES"]

FitFunction = Callable[[Workload, np.ndarray, np.ndarray, int], float]


def device() -> str:
    """The device of the PyTorch/CuPy rows (``run.py --device``; default the CPU)."""
    return os.environ.get("CHAINRULE_BENCH_DEVICE", "cpu")


def _sync(dev: str) -> None:
    """Wait for a GPU's queued work, so the clock sees all of it."""
    if dev.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def fit_chainrule(
    w: Workload, X: np.ndarray, y: np.ndarray, threads: int, backend: str | None = None
) -> float:
    """chainrule's public path: ``Network(...).fit(X, y)`` with plain SGD."""
    import chainrule

    # CuPy works on its current device (cupy.cuda.Device(n).use()); PyTorch takes a name.
    extra = (
        {}
        if backend is None
        else {"backend": backend, "device": device() if backend == "torch" else None}
    )

    def network() -> chainrule.Network:
        return chainrule.Network(
            list(w.sizes),
            activation=w.activation,
            output_activation=None if w.output == w.activation else w.output,
            cost=w.cost,
            seed=0,
            dtype=X.dtype,
            **extra,
        )

    # chainrule imports SciPy and finds NumPy's BLAS on first use (`import chainrule` stays
    # light); a one-batch fit of a throwaway network pays that before the clock, as the
    # PyTorch peers pay `import torch` before theirs.
    network().fit(
        X[: w.batch_size],
        y[: w.batch_size],
        epochs=1,
        batch_size=w.batch_size,
        learning_rate=w.learning_rate,
    )
    net = network()
    start = time.perf_counter()
    net.fit(
        X, y, epochs=1, batch_size=w.batch_size, learning_rate=w.learning_rate, shuffle=True, seed=0
    )
    if backend == "torch":
        _sync(device())
    elif backend == "cupy":
        import cupy

        cupy.cuda.Device().synchronize()
    return time.perf_counter() - start


def fit_chainrule_torch(w: Workload, X: np.ndarray, y: np.ndarray, threads: int) -> float:
    """chainrule on PyTorch tensors: ``Network(..., backend="torch", device=...)``."""
    _torch_setup(threads)
    return fit_chainrule(w, X, y, threads, backend="torch")


def fit_chainrule_cupy(w: Workload, X: np.ndarray, y: np.ndarray, threads: int) -> float:
    """chainrule on CuPy arrays (a GPU): ``Network(..., backend="cupy")``."""
    return fit_chainrule(w, X, y, threads, backend="cupy")


def fit_chainrule_baseline(w: Workload, X: np.ndarray, y: np.ndarray, threads: int) -> float:
    """``fit_chainrule`` on the chainrule in ``$CHAINRULE_BASELINE_SRC`` (another ``src/``).

    For before/after comparisons in one interleaved run, e.g. with
    ``git archive OLD src | tar -x -C /tmp/base`` and ``CHAINRULE_BASELINE_SRC=/tmp/base/src``.
    """
    sys.path.insert(0, os.environ["CHAINRULE_BASELINE_SRC"])
    return fit_chainrule(w, X, y, threads)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit_numpy(w: Workload, X: np.ndarray, y: np.ndarray, threads: int) -> float:
    """Straightforward NumPy: the seed's equations written plainly, fresh arrays every step."""
    rng = np.random.default_rng(0)
    dtype = X.dtype
    weights = [
        (rng.standard_normal((b, a)) / np.sqrt(a)).astype(dtype)
        for a, b in zip(w.sizes[:-1], w.sizes[1:], strict=False)
    ]
    biases = [np.zeros(b, dtype=dtype) for b in w.sizes[1:]]
    eta = dtype.type(w.learning_rate)
    hidden = _sigmoid if w.activation == "sigmoid" else (lambda z: np.maximum(z, 0))
    output = _sigmoid if w.output == "sigmoid" else _softmax
    start = time.perf_counter()
    Y = np.eye(w.sizes[-1], dtype=dtype)[y]
    order = rng.permutation(len(X))
    for first in range(0, len(X), w.batch_size):
        rows = order[first : first + w.batch_size]
        a = [X[rows]]
        for layer, (W, b) in enumerate(zip(weights, biases, strict=False)):
            z = a[-1] @ W.T + b  # eq. 1
            a.append(output(z) if layer == len(weights) - 1 else hidden(z))
        delta = a[-1] - Y[rows]  # eq. 5 (softmax + log-likelihood)
        if w.cost == "quadratic":
            delta *= a[-1] * (1 - a[-1])  # eq. 2 with a sigmoid output
        n = dtype.type(len(rows))
        for layer in reversed(range(len(weights))):
            grad_W = delta.T @ a[layer] / n  # eq. 13
            grad_b = delta.mean(axis=0)  # eq. 15
            if layer:
                prev = a[layer]
                d = prev * (1 - prev) if w.activation == "sigmoid" else (prev > 0)
                delta = (delta @ weights[layer]) * d  # eq. 9
            weights[layer] -= eta * grad_W
            biases[layer] -= eta * grad_b
    return time.perf_counter() - start


def _torch_setup(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def fit_torch(w: Workload, X: np.ndarray, y: np.ndarray, threads: int) -> float:
    """PyTorch ``nn.Sequential`` + autograd + ``optim.SGD``: the way most people write it."""
    import torch
    from torch import nn

    _torch_setup(threads)
    torch.manual_seed(0)
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    act: type[nn.Module] = nn.Sigmoid if w.activation == "sigmoid" else nn.ReLU
    layers: list[nn.Module] = []
    pairs = list(zip(w.sizes[:-1], w.sizes[1:], strict=False))
    for i, (a, b) in enumerate(pairs):
        layers.append(nn.Linear(a, b))
        if i < len(pairs) - 1:
            layers.append(act())
    if w.output == "sigmoid":
        layers.append(nn.Sigmoid())
    dev = device()
    model = nn.Sequential(*layers).to(dtype).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=w.learning_rate)
    start = time.perf_counter()
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
    Yt = nn.functional.one_hot(yt, w.sizes[-1]).to(dtype) if w.cost == "quadratic" else None
    order = torch.randperm(len(X), device=dev)
    for first in range(0, len(X), w.batch_size):
        rows = order[first : first + w.batch_size]
        out = model(Xt[rows])
        if Yt is not None:
            loss = 0.5 * ((out - Yt[rows]) ** 2).sum(dim=1).mean()
        else:
            loss = nn.functional.cross_entropy(out, yt[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
    _sync(dev)
    return time.perf_counter() - start


def fit_torch_manual(w: Workload, X: np.ndarray, y: np.ndarray, threads: int) -> float:
    """PyTorch without autograd: hand-written backprop with fused ``addmm_`` updates."""
    import torch

    _torch_setup(threads)
    torch.manual_seed(0)
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    pairs = list(zip(w.sizes[:-1], w.sizes[1:], strict=False))
    dev = device()
    weights = [(torch.randn(b, a, dtype=dtype) / a**0.5).to(dev) for a, b in pairs]
    biases = [torch.zeros(b, dtype=dtype, device=dev) for _, b in pairs]
    eta = w.learning_rate
    with torch.no_grad():
        start = time.perf_counter()
        Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
        Yt = torch.nn.functional.one_hot(yt, w.sizes[-1]).to(dtype)
        order = torch.randperm(len(X), device=dev)
        for first in range(0, len(X), w.batch_size):
            rows = order[first : first + w.batch_size]
            a = [Xt[rows]]
            for layer, (W, b) in enumerate(zip(weights, biases, strict=False)):
                z = torch.addmm(b, a[-1], W.T)  # eq. 1
                if layer == len(weights) - 1:
                    a.append(torch.sigmoid(z) if w.output == "sigmoid" else torch.softmax(z, dim=1))
                else:
                    a.append(torch.sigmoid(z) if w.activation == "sigmoid" else torch.relu(z))
            delta = a[-1] - Yt[rows]  # eq. 5
            if w.cost == "quadratic":
                delta *= a[-1] * (1 - a[-1])  # eq. 2
            n = len(rows)
            for layer in reversed(range(len(weights))):
                new_delta = None
                if layer:
                    prev = a[layer]
                    d = prev * (1 - prev) if w.activation == "sigmoid" else (prev > 0).to(dtype)
                    new_delta = (delta @ weights[layer]) * d  # eq. 9
                weights[layer].addmm_(delta.T, a[layer], alpha=-eta / n)  # eq. 13, fused update
                biases[layer].add_(delta.sum(dim=0), alpha=-eta / n)  # eq. 15
                delta = new_delta
        _sync(dev)
        return time.perf_counter() - start


def fit_sklearn(w: Workload, X: np.ndarray, y: np.ndarray, threads: int) -> float:
    """scikit-learn ``MLPClassifier(solver="sgd")`` with momentum and regularization off.

    MLPClassifier always uses softmax + log-loss at the output (there is no quadratic cost),
    so on W1 it does slightly different (cheaper) output work than the others.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=w.sizes[1:-1],
        activation="logistic" if w.activation == "sigmoid" else "relu",
        solver="sgd",
        alpha=0.0,
        batch_size=w.batch_size,
        learning_rate="constant",
        learning_rate_init=w.learning_rate,
        max_iter=1,
        shuffle=True,
        random_state=0,
        tol=0.0,
        momentum=0.0,
        nesterovs_momentum=False,
        early_stopping=False,
        n_iter_no_change=10**9,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
        return time.perf_counter() - start


IMPLEMENTATIONS: dict[str, FitFunction] = {
    "chainrule": fit_chainrule,
    "chainrule-baseline": fit_chainrule_baseline,
    "chainrule-torch": fit_chainrule_torch,
    "chainrule-cupy": fit_chainrule_cupy,
    "numpy": fit_numpy,
    "torch": fit_torch,
    "torch-manual": fit_torch_manual,
    "sklearn": fit_sklearn,
}

LABELS: dict[str, str] = {
    "chainrule": "chainrule `Network.fit`",
    "chainrule-baseline": "chainrule baseline (`$CHAINRULE_BASELINE_SRC`)",
    "chainrule-torch": 'chainrule `Network(backend="torch")`',
    "chainrule-cupy": 'chainrule `Network(backend="cupy")`',
    "numpy": "straightforward NumPy",
    "torch": "PyTorch `nn.Sequential` + `optim.SGD`",
    "torch-manual": "PyTorch hand-written backprop",
    "sklearn": "scikit-learn `MLPClassifier`",
}

OPTIONAL_MODULES: dict[str, str] = {
    "chainrule": "chainrule",
    "chainrule-torch": "torch",
    "chainrule-cupy": "cupy",
    "torch": "torch",
    "torch-manual": "torch",
    "sklearn": "sklearn",
}
