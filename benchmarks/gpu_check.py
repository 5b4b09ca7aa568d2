"""Correctness of chainrule on a GPU, before its speed is measured (``benchmarks/gpu.sh``).

For PyTorch on CUDA (and CuPy where it imports), against the NumPy network made
with the same seed, in float64:

* ``backprop`` gradients (eqs. 5, 9, 13, 15) agree to 1e-10;
* three epochs of seeded training agree to 1e-8: plain SGD (folded into eq. 13 on
  PyTorch), with dropout, L2 and sample weights, and Adam;
* an input array already on the GPU is used where it lives;
* float32 stays float32.

Prints one line per check and exits 1 if any fails.  Usage::

    python benchmarks/gpu_check.py            # the repository's src/ is used
    python benchmarks/gpu_check.py --cpu      # the same checks with PyTorch on the CPU
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import chainrule
from chainrule.backend import to_numpy

FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILED.append(name)


def max_diff(a: list[Any], b: list[Any]) -> float:
    return max(
        float(np.max(np.abs(np.asarray(to_numpy(x)) - y))) for x, y in zip(a, b, strict=True)
    )


def backends() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    try:
        import torch

        if "--cpu" in sys.argv:
            found.append(("torch", "cpu"))
            print(f"torch {torch.__version__} on the CPU (--cpu)")
        elif torch.cuda.is_available():
            found.append(("torch", "cuda"))
            print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
        else:
            print("torch: no CUDA device")
    except ImportError:
        print("torch: not installed")
    try:
        import cupy

        cupy.zeros(1)  # fails here without a usable device
        found.append(("cupy", None))  # CuPy's current device
        print(f"cupy {cupy.__version__}")
    except Exception as exc:
        print(f"cupy: not usable ({type(exc).__name__}: {exc})")
    return found


def main() -> int:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 20)), rng.integers(0, 4, 300)
    sw = rng.uniform(0.5, 2.0, 300)
    kw = dict(activation="tanh", output_activation="softmax", cost="log_likelihood", seed=3)
    found = backends()
    if not found:
        check("a GPU backend", False, "neither torch with CUDA nor cupy is usable")
    for backend, device in found:
        tag = f"{backend}" + (f" ({device})" if device else "")
        twin = chainrule.Network([20, 32, 16, 4], **kw)
        net = chainrule.Network([20, 32, 16, 4], backend=backend, device=device, **kw)
        gw0, gb0 = twin.backprop(X[:50], np.eye(4)[y[:50]])
        gw1, gb1 = net.backprop(X[:50], np.eye(4)[y[:50]])
        d = max_diff(gw1 + gb1, gw0 + gb0)
        check(f"{tag}: backprop matches NumPy", d < 1e-10, f"max |diff| {d:.2e}")
        for opt, extra in [("sgd", dict(dropout=0.2, l2=0.5, sample_weight=sw)), ("adam", {})]:
            twin = chainrule.Network([20, 32, 16, 4], **kw)
            net = chainrule.Network([20, 32, 16, 4], backend=backend, device=device, **kw)
            start = time.perf_counter()
            args = dict(epochs=3, batch_size=4, learning_rate=0.05, optimizer=opt, **extra)
            h1 = net.fit(X, y, **args)
            seconds = time.perf_counter() - start
            h0 = twin.fit(X, y, **args)
            d = max_diff(net.weights + net.biases, twin.weights + twin.biases)
            same_loss = np.allclose(h1.train_loss, h0.train_loss, rtol=1e-9)
            check(
                f"{tag}: {opt} training follows NumPy",
                d < 1e-8 and same_loss,
                f"max |diff| {d:.2e}, {seconds:.2f} s",
            )
        Xd = net.ops.asarray(X, net.weights[0])
        kept = net.check_inputs(Xd)[0]
        check(
            f"{tag}: inputs on the device stay there",
            str(getattr(kept, "device", "")) == str(getattr(Xd, "device", "")),
        )
        n32 = chainrule.Network(
            [20, 8, 4],
            backend=backend,
            device=device,
            dtype=np.float32,
            **{k: v for k, v in kw.items() if k != "seed"},
        )
        n32.fit(X, y, epochs=1, batch_size=16)
        check(
            f"{tag}: float32 stays float32", n32.ops.numpy_dtype(n32.weights[0].dtype) == np.float32
        )
    print("all checks passed" if not FAILED else f"{len(FAILED)} check(s) failed: {FAILED}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
