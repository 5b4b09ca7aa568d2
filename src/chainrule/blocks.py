"""How many rows one forward pass holds at a time.

``feedforward``, ``predict``, ``loss``, ``evaluate``, the per-epoch validation, the
report's unit statistics and the memory estimate all go forward in blocks of rows
of this size, so predicting a million rows needs the memory of a few thousand.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["FORWARD_BLOCK_VALUES", "forward_block_rows"]

#: At most this many ``z`` and ``a`` values are held by one forward pass (64 MiB in
#: float64): bigger inputs go through in blocks of rows.
FORWARD_BLOCK_VALUES = 1 << 23


def forward_block_rows(sizes: Sequence[int]) -> int:
    """Rows per forward block for layer sizes ``sizes`` ``[N_1, ..., N_L]``.

    At least 256; otherwise as many as keep ``2 · rows · Σ N_l`` within
    :data:`FORWARD_BLOCK_VALUES`.
    """
    return max(256, FORWARD_BLOCK_VALUES // (2 * sum(sizes)))
