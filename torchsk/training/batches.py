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

    Each epoch visits the blocks in a new shuffled order (with the settings'
    ``shuffle``, unless the source orders them itself), shuffles the rows within each
    block, and loads the next block while the current one trains.

    Parameters
    ----------
    load : callable
        ``load(k)`` → block ``k`` as ``Data`` (encoded, on the device).
    n_blocks : int
    n_samples : int
        Rows over all blocks.
    shuffle : bool, default=True
        Whether an epoch may visit the blocks in any order; if not, ``load`` is
        called with ``0, 1, ...`` in turn (an iterable source reads them so).
    """

    load: Callable[[int], Data]
    n_blocks: int
    n_samples: int
    shuffle: bool = True


def n_rows(data: Data | Blocks) -> int:
    """Training rows of resident data or of all blocks."""
    return data.n_samples if isinstance(data, Blocks) else len(data.X)


def weight_of(w: torch.Tensor | None, n: int) -> float:
    """The total weight of ``n`` rows weighted by ``w`` (None: 1 each)."""
    return float(n) if w is None else float(row_weights(w).sum())


def row_weights(w: torch.Tensor) -> torch.Tensor:
    """One weight per row: ``w``, or the members' mean where each member has its own
    column (``training.members``): what a batch's loss and the penalty are scaled by."""
    return w if w.ndim == 1 else w.mean(dim=1)


def step_rows(t, rows: slice | torch.Tensor):
    """A training step's rows of ``t``: ``take_rows``, or sparse rows' ``batch``
    (raw ``FoldedRows`` where the objective folds the scaling into its first layer)."""
    return t.batch(rows) if hasattr(t, "batch") else take_rows(t, rows)


def take_rows(t, rows: slice | torch.Tensor) -> torch.Tensor:
    """``t[rows]``; an index gathers through ``index_select``, which copied 100k shuffled
    rows 4x faster than ``t[index]`` (and a batch of 256 rows 2x faster). Sparse rows
    (``training.sparse.SparseRows``) are densified and encoded here, a batch at a time."""
    if not isinstance(t, torch.Tensor):
        return t.gather(rows)
    return t[rows] if isinstance(rows, slice) else t.index_select(0, rows)


def joined(rest: Data | None, block: Data) -> Data:
    """The rows an earlier block left over, then ``block``'s."""
    if rest is None or not len(rest.X):
        return block
    w = None
    if rest.w is not None or block.w is not None:
        w = torch.cat([_ones_or_weights(rest), _ones_or_weights(block)])
    return Data(torch.cat([rest.X, block.X]), torch.cat([rest.y, block.y]), w)


def _ones_or_weights(data: Data) -> torch.Tensor:
    if data.w is not None:
        return data.w
    return torch.ones(len(data.X), dtype=data.X.dtype, device=data.X.device)


def full_batches(data: Data, settings, generator, last: bool) -> tuple[Data, Data | None]:
    """``data`` shuffled (``settings.shuffle``), split into whole batches and the rows
    left over for the next block (none after the last block)."""
    n = len(data.X)
    if settings.shuffle and n > 1:
        order = torch.randperm(n, generator=generator).to(data.X.device)
        w = None if data.w is None else data.w.index_select(0, order)
        data = Data(data.X.index_select(0, order), data.y.index_select(0, order), w)
    cut = n if last else n - n % settings.batch_size
    if cut == n:
        return data, None
    head, tail, w = slice(0, cut), slice(cut, n), data.w
    return (
        Data(data.X[head], data.y[head], None if w is None else w[head]),
        # copied: a view would hold this whole block until the next one joins it
        Data(data.X[tail].clone(), data.y[tail].clone(), None if w is None else w[tail].clone()),
    )


def idle_members(w: torch.Tensor | None, batches: list) -> list[torch.Tensor | None]:
    """For each batch, which members that train this epoch have no row of weight in it
    (a bool per member), or None where each has some. Such a member's separate fit
    would take no step there; its gradient is 0, but Adam's moments or sgd's momentum
    would still move it (``Step``). A member without rows (retired by
    ``members.MemberGuard``, its state cleared) is not idle. Read once an epoch."""
    if w is None or w.ndim != 2:
        return [None] * len(batches)
    sums = torch.stack([take_rows(w, b).sum(0) for b in batches])
    empty = ((sums == 0) & (sums > 0).any(0)).cpu()
    return [e.to(w.device) if e.any() else None for e in empty]
