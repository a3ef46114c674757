"""Training data on the device: resident tensors (``Data``; its X may be sparse rows
encoded per batch, ``training.sparse``) or streamed blocks (``Blocks``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Data:
    """Resident training tensors: inputs, targets and per-sample weights.

    ``w`` is None when every weight is 1, which saves a few operations per step.
    """

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor | None = None


@dataclass
class Blocks:
    """Training data visited block by block, for data too large to hold at once.

    Each epoch visits the blocks in a new shuffled order (``shuffle``), shuffles the
    rows within each block, and loads the next block while the current one trains.

    Parameters
    ----------
    load : callable
        ``load(k)`` → block ``k`` as ``Data`` (encoded, on the device).
    n_blocks : int
    n_samples : int
        Rows over all blocks.
    """

    load: Callable[[int], Data]
    n_blocks: int
    n_samples: int


def _n_rows(data: Data | Blocks) -> int:
    return data.n_samples if isinstance(data, Blocks) else len(data.X)


def _total(w: torch.Tensor | None, n: int) -> float:
    return float(n) if w is None else float(w.sum())


def _rows(t, rows: slice | torch.Tensor) -> torch.Tensor:
    """``t[rows]``; an index gathers through ``index_select``, which copied 100k shuffled
    rows 4x faster than ``t[index]`` (and a batch of 256 rows 2x faster). Sparse rows
    (``training.sparse.SparseRows``) are densified and encoded here, a batch at a time."""
    if not isinstance(t, torch.Tensor):
        return t.gather(rows)
    return t[rows] if isinstance(rows, slice) else t.index_select(0, rows)
