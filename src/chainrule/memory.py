"""How much memory a training run will take, estimated before it starts.

The training loop keeps arrays of one row per training example and one column per
output unit: the one-hot targets and the epoch's ``z^L`` and ``a^L`` (from which the
history's loss and accuracy are computed).  With many classes these dominate —
30,000 rows × 10,000 classes is 2.4 GB each in float64 — so a run that cannot fit
is refused with the estimate, instead of failing half-way with MemoryError or
being killed by the system.
"""

from __future__ import annotations

import contextlib
import os

from .blocks import forward_block_rows

__all__ = ["available_memory", "check_fits", "network_memory", "training_memory"]


def training_memory(
    sizes: tuple[int, ...] | list[int],
    n_train: int,
    n_val: int,
    itemsize: int,
    *,
    labels: bool = False,
) -> int:
    """Bytes the arrays of ``fit`` take beyond the data: an estimate from above.

    Parameters
    ----------
    sizes : the network's ``[N_1, ..., N_L]``
    n_train : training rows; each holds a target row and the epoch's ``z^L``, ``a^L``
        — or, with ``labels`` (many classes, :mod:`chainrule.training.targets`), a label
    n_val : rows evaluated after every epoch (targets, then every layer's ``z``, ``a``
        for one block of rows at a time, ``blocks.FORWARD_BLOCK_VALUES``)
    itemsize : bytes per number (8 for float64, 4 for float32)
    labels : bool
        Class labels are kept instead of one-hot rows (``keeps_labels``).
    """
    n_out = sizes[-1]
    units = sum(sizes[1:])
    parameters = sum(a * b + a for a, b in zip(sizes[1:], sizes[:-1], strict=False))
    per_row = n_out if not labels else 1
    train = n_train * (per_row if labels else 3 * n_out)
    block = min(n_val, forward_block_rows(sizes))
    # targets, then one block's z and a of every layer and its softmax temporaries
    validation = n_val * per_row + 2 * block * units + 2 * block * n_out
    return itemsize * (train + validation + 6 * parameters)


def available_memory() -> int | None:
    """Bytes this process may still allocate: free physical memory, and the address-space
    limit (``ulimit -v``) less what is mapped already.  None when unknown."""
    limits: list[int] = []
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    if not limits:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    try:
        import resource
    except ImportError:  # not on Windows
        return min(limits, default=None)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        mapped = 0
        with contextlib.suppress(OSError, ValueError):
            with open("/proc/self/statm", encoding="ascii") as f:
                mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limits.append(max(0, soft - mapped))
    return min(limits, default=None)


def network_memory(sizes: tuple[int, ...] | list[int], itemsize: int) -> int:
    """Bytes a network of ``sizes`` takes: its weights ``W^l`` (N_l, N_{l-1}) and biases ``b^l``
    (N_l,), and as much again for its initialisation's temporaries."""
    parameters = sum(a * b + a for a, b in zip(sizes[1:], sizes[:-1], strict=False))
    return 2 * itemsize * parameters


def check_fits(need: int, what: str, advice: str = "", detail: str = "") -> None:
    """Refuse, before allocating, what needs more than the memory available.

    Raises
    ------
    MemoryError
        ``"WHAT needs about X GB (DETAIL), more than the Y GB of memory available; ADVICE"``.
    """
    have = available_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"{what} needs about {_gb(need)}"
            + (f" ({detail})" if detail else "")
            + f", more than the {_gb(have)} of memory available"
            + (f"; {advice}" if advice else "")
        )


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"
