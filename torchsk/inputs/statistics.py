"""Column statistics of the input stage, accumulated block by block: one route for every source.

A source hands its rows to ``column_statistics`` as ``Blocks``: row chunks of an array
in memory, chunks of a tensor on its device (torch's reductions; a CUDA tensor sends
only per-column results to the host), a Dask collection as one lazy block (Dask
reduces over its partitions), or the batches of an iterable. Every block gives the
same sums (``inputs.reductions``, per kind of block), added over the blocks:

- first pass: per column, the weight and the weighted sum of its present values,
  its minimum and maximum, whether a row misses it; the weighted level counts of
  each categorical column; any extra sums an encoder declares (``block_sums``);
- second pass (standard scaling only): the weighted squares about the imputed mean
  (in units of a column's range where they would overflow float64).

All in float64, weights counted as repeated rows (a weight of 0 removes a row).
What needs a column sorted — robust scaling, bin edges (``inputs.quantiles``) — is
taken only from a source that holds its rows (``Blocks.column``). Each encoder is
then built ``from_statistics`` (``inputs.stage``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from torchsk.inputs.quantiles import bin_edges, robust_constants
from torchsk.inputs.reductions import ArrayOps, TorchOps, to_numpy
from torchsk.inputs.scaling import (
    auto_constants,
    explicit_constants,
    refuse_overflow,
    usable_spread,
)

# ---------------------------------------------------------------- sources of blocks
#: Rows per block of a narrow X, and values per block of a wide one (16 MB in float64)
BLOCK_ROWS = 16384
BLOCK_VALUES = BLOCK_ROWS * 128


class Blocks:
    """Rows held in memory — a numpy array or a tensor — read in row chunks.

    The protocol ``column_statistics`` reads (a Dask collection and an iterable of
    batches provide it too, in ``data``): iterating gives ``(X_block, w_block)``
    pairs and may be repeated (one pass per iteration); ``compute(*values)`` turns
    a block's results into numpy arrays; ``ops``, if given, reduces the blocks (a
    class with ``first_pass`` and ``squares``: sparse X's); ``column(j)`` is column
    ``j`` over the rows of positive weight and their weights, as float64 tensors, or
    None where the source cannot hold a column (then nothing that sorts is computed).

    Parameters
    ----------
    X : ndarray or Tensor of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,)
        Sample weights.
    rows : int, optional
        Rows per block: float64 temporaries of a block, not of X (which may be most
        of the memory). By default ``BLOCK_ROWS``, fewer for X wider than
        ``BLOCK_VALUES / BLOCK_ROWS`` columns (a block of 10,000 columns had been all
        of X: temporaries 3x its size, most of a one-epoch fit's time).
    """

    def __init__(self, X, w: np.ndarray, rows: int | None = None) -> None:
        width = max(1, X.shape[1] if X.ndim == 2 else 1)
        self.X, self.rows = X, rows or max(1, min(BLOCK_ROWS, BLOCK_VALUES // width))
        self.w = np.asarray(w, dtype=np.float64)
        if isinstance(X, torch.Tensor):
            self.w = torch.as_tensor(self.w, device=X.device)
        self.compute = to_numpy

    def __iter__(self) -> Iterator:
        for i in range(0, len(self.X), self.rows):
            yield self.X[i : i + self.rows], self.w[i : i + self.rows]

    def column(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Column ``j`` over the rows of positive weight, and their weights."""
        w = torch.as_tensor(self.w)
        kept = w > 0
        if isinstance(self.X, torch.Tensor):
            x = self.X[:, j].to(torch.float64)
        else:  # one column copied (X may be read-only, strided, memory-mapped)
            x = torch.from_numpy(np.array(self.X[:, j], dtype=np.float64))
        return x[kept], w[kept]


# ---------------------------------------------------------------- the statistics
@dataclass
class Layout:
    """Which columns are categorical, and the training categories of each."""

    is_categorical: np.ndarray
    n_categories: list[int] = field(default_factory=list)

    @property
    def numeric(self) -> np.ndarray:
        return ~np.asarray(self.is_categorical, dtype=bool)


@dataclass
class ColumnStatistics:
    """What the input stage is fitted on, computed over all rows.

    Attributes
    ----------
    layout : Layout
    fill : ndarray of shape (n_features,)
        The imputer's values: each numeric column's weighted mean where present (0
        where never present, and for categorical columns).
    indicator_columns : ndarray of int
        Numeric columns that miss values in rows of positive weight.
    empty_columns : ndarray of int
        Numeric columns never present.
    center, scale : ndarray of shape (n_features + len(indicator_columns),)
        The input scaling of the imputed columns, then of the indicators (0 and 1).
    counts : list of ndarray
        Per categorical column, the weight of each training category.
    has_missing : list of bool
        Per categorical column, whether a row of positive weight misses it.
    edges : dict of int to ndarray
        The bin edges of each numeric column that has at least two bins (with
        ``numeric_bins``; in raw units).
    sums : dict of str to tuple
        The extra sums each encoder declared, added over the blocks.
    """

    layout: Layout
    fill: np.ndarray
    indicator_columns: np.ndarray
    empty_columns: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    counts: list
    has_missing: list
    edges: dict = field(default_factory=dict)
    sums: dict = field(default_factory=dict)


#: How the first pass's results of two blocks combine, in the order ``DenseOps.first_pass``
#: returns them: weights, weighted sums, total weight, minima, maxima, missing, inf.
_COMBINE = (np.add, np.add, np.add, np.minimum, np.maximum, np.logical_or, np.logical_or)


def column_statistics(blocks: Iterable, layout: Layout, method=None, *, numeric_bins=None,
                      block_sums: dict | None = None,
                      name: str = "X") -> ColumnStatistics:  # fmt: skip
    """The input stage's statistics over all blocks of a source.

    Parameters
    ----------
    blocks : Blocks or a source with its protocol
    layout : Layout
    method : {"auto", "standard", "minmax", "robust"}, (center, scale) or None
        The input scaling of the numeric columns ("robust" needs ``blocks.column``).
    numeric_bins : int or None, default=None
        Bins per numeric column (edges at its weighted quantiles; needs ``blocks.column``).
    block_sums : dict of str to callable, default=None
        Extra additive sums per encoder: ``f(X_block, w_block, ops)`` returns a tuple
        of arrays, added over the blocks into ``ColumnStatistics.sums``.
    name : str, default="X"
        What the columns are columns of, in the error for values too large.

    Returns
    -------
    ColumnStatistics

    Raises
    ------
    ValueError
        X holds infinity; or the scaling or bins need the data sorted and the source
        cannot sort it.
    """
    block_sums = block_sums or {}
    cat = np.asarray(layout.is_categorical, dtype=bool)
    # sums of values near float64's limit overflow: said below, column by column,
    # rather than as numpy's warnings and a fit that diverges on NaN constants
    with np.errstate(over="ignore", invalid="ignore"):
        first, counts, sums = _accumulate(blocks, layout, block_sums)
        weight, total, rows, lo, hi, missing, _ = first
        # the imputer's fill value; the imputed columns' weighted mean and range
        fill = np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)
        # a column of one value wherever present: that value exactly, not a mean off by
        # an ulp, whose range with the value would pass for a spread (a scale of 1e-16)
        fill = np.where(lo == hi, lo, fill)
        fill[cat] = 0.0
        empty = (weight == 0) & ~cat  # never present: held at the fill value (Imputer)
        mean = (total + fill * (rows - weight)) / rows
        lo = np.where(missing, np.minimum(lo, fill), lo)
        hi = np.where(missing, np.maximum(hi, fill), hi)
        center, scale = _scaling(blocks, method, layout, fill, mean, lo, hi, rows)
    refuse_overflow(np.where(missing, fill, 0.0), center, scale, cat, name)
    indicators = np.flatnonzero(missing & ~cat & ~empty)
    n_ind = len(indicators)
    return ColumnStatistics(
        layout=layout,
        fill=fill,
        indicator_columns=indicators,
        empty_columns=np.flatnonzero(empty),
        # np.concatenate, not np.r_: its index tricks cost ~30 µs a call, twice a small fit
        center=np.concatenate([np.where(cat, 0.0, center), np.zeros(n_ind)]),
        scale=np.concatenate([np.where(cat, 1.0, scale), np.ones(n_ind)]),
        counts=[c[:n] for c, n in zip(counts, layout.n_categories, strict=True)],
        has_missing=list(missing[cat]),
        edges=_edges(blocks, numeric_bins, layout, fill),
        sums=sums,
    )


def _accumulate(blocks, layout: Layout, block_sums: dict):
    """The first pass's results, the level counts and the encoders' sums, over all blocks."""
    first = counts = sums = None
    n_codes = len(layout.n_categories)
    for X, w in blocks:
        ops = _ops(blocks, X)
        extra = {name: f(X, w, ops) for name, f in block_sums.items()}
        lengths = [len(v) for v in extra.values()]
        values = blocks.compute(*ops.first_pass(X, w, layout), *_flat(extra))
        block, codes, rest = values[:7], values[7 : 7 + n_codes], values[7 + n_codes :]
        if first is None:
            first, counts, sums = list(block), list(codes), list(rest)
            continue
        first = [f(a, b) for f, a, b in zip(_COMBINE, first, block, strict=True)]
        counts = [a + b for a, b in zip(counts, codes, strict=True)]
        sums = [a + b for a, b in zip(sums, rest, strict=True)]
    if first[6]:
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    return first, counts, _unflat(block_sums, lengths, sums)


def _flat(extra: dict) -> list:
    return [v for values in extra.values() for v in values]


def _unflat(block_sums: dict, lengths: list[int], values: list) -> dict:
    out, i = {}, 0
    for name, n in zip(block_sums, lengths, strict=True):
        out[name], i = tuple(values[i : i + n]), i + n
    return out


def _ops(blocks, X):
    """The reductions for a block: the source's own (``blocks.ops``: sparse X's), or
    torch's on a tensor, numpy's (dispatched to Dask) otherwise."""
    ops = getattr(blocks, "ops", None)
    return ops or (TorchOps if isinstance(X, torch.Tensor) else ArrayOps)


def _scaling(blocks, method, layout: Layout, fill, mean, lo, hi, rows):
    """``(center, scale)`` of the imputed columns (a second pass for ``"standard"``)."""
    n = len(mean)
    if method is None:
        return np.zeros(n), np.ones(n)
    if isinstance(method, tuple):  # given: one value per numeric column
        center, scale = np.zeros(n), np.ones(n)
        numeric = layout.numeric
        center[numeric], scale[numeric] = explicit_constants(method, int(numeric.sum()))
        return center, scale
    if method == "minmax":
        span = hi - lo  # inf where it overflows: refused (refuse_overflow)
        return lo, np.where(np.isfinite(span), usable_spread(lo, hi, span), np.inf)
    if method in ("standard", "auto"):
        scale = usable_spread(lo, hi, _standard_deviation(blocks, fill, mean, lo, hi, rows))
        return (mean, scale) if method == "standard" else auto_constants(mean, scale, lo, hi)
    if method == "robust":
        return _robust(blocks, layout, fill, lo, hi)
    raise ValueError(f"Unknown scaling method {method!r}.")


def _standard_deviation(blocks, fill, mean, lo, hi, rows) -> np.ndarray:
    """Per column, the weighted standard deviation of the imputed values. Values past
    ~1e154 (or below ~1e-154), whose squares overflow (underflow) float64 where their
    range does not, are measured in units of that range (usable_spread had taken the
    range, ~5x the deviation, for the scale, in silence)."""
    spread = np.sqrt(_second_pass(blocks, fill, mean) / rows)
    with np.errstate(over="ignore"):
        span = hi - lo
    # not finite (sparse X: 0 * inf, NaN), or 0 where the values differ
    over = (~np.isfinite(spread) | (spread == 0)) & np.isfinite(span) & (span > 0)
    if over.any():
        unit = np.where(over, span, 1.0)
        in_units = np.sqrt(_second_pass(blocks, fill, mean, unit) / rows)
        spread = np.where(over, unit * in_units, spread)
    return spread


def _second_pass(blocks, fill: np.ndarray, mean: np.ndarray, unit=None) -> np.ndarray:
    """Per column, the weighted squares of the imputed values about ``mean`` (in
    ``unit``s where given)."""
    squares = 0.0
    for X, w in blocks:
        (block,) = blocks.compute(_ops(blocks, X).squares(X, w, fill, mean, unit))
        squares = squares + block
    return squares


def _robust(blocks, layout: Layout, fill, lo, hi):
    """Median and interquartile range of each imputed numeric column (sorted)."""
    center, scale = np.zeros(len(fill)), np.ones(len(fill))
    for j in np.flatnonzero(layout.numeric):
        x, w = _sorted_column(blocks, j, fill, "input_scaling='robust'")
        center[j], scale[j] = robust_constants(x, w)
    return center, usable_spread(lo, hi, scale)


def _edges(blocks, numeric_bins, layout: Layout, fill) -> dict:
    """The bin edges of each numeric column with at least two bins."""
    if numeric_bins is None:
        return {}
    edges = {}
    for j in np.flatnonzero(layout.numeric):
        x, w = _sorted_column(blocks, j, fill, f"numeric_bins={numeric_bins!r}")
        found = bin_edges(x, w, numeric_bins)
        if found is not None:
            edges[int(j)] = found
    return edges


def _sorted_column(blocks, j: int, fill, what: str):
    """Column ``j`` imputed, over the rows of positive weight, with their weights."""
    column = getattr(blocks, "column", None)
    if column is None:
        raise ValueError(
            f"{what} needs the data sorted, which a fit on a source it streams (a "
            "Dask collection, batches) cannot do; use input_scaling 'auto', 'standard', "
            "'minmax' or None, and numeric_bins=None."
        )
    x, w = column(j)
    return torch.where(torch.isnan(x), float(fill[j]), x), w


def scaling_statistics(x, method, sample_weight=None, name="X") -> tuple[np.ndarray, np.ndarray]:
    """Fit ``(center, scale)`` so that ``(x - center) / scale`` is normalized (the
    target scaling; the input stage's numeric columns get the same constants).

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_columns)
        Finite values.
    method : {"standard", "minmax", "robust", "mean", "median"}, (center, scale) or None
        ``"mean"`` divides by the weighted mean of ``|x|`` without centring (for
        positive targets); ``"median"`` by the weighted median (the mean where that
        is 0), which outliers do not move.
    sample_weight : ndarray of shape (n_samples,), default=None
        A weight of ``k`` counts as ``k`` repeated rows (0 removes the row).
    name : str, default="X"
        What ``x`` is (``"y"``: the targets), in the error for values too large.

    Returns
    -------
    center, scale : ndarray of shape (n_columns,)
    """
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if method == "mean":  # a magnitude, not a spread: only zero is unusable
        scale = (w @ np.abs(x)) / w.sum()
        return np.zeros(x.shape[1]), np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    if method == "median":
        median = scaling_statistics(x, "robust", w, name)[0]
        return np.zeros(x.shape[1]), np.where(
            median > 0, median, scaling_statistics(x, "mean", w, name)[1]
        )
    layout = Layout(np.zeros(x.shape[1], dtype=bool))
    stats = column_statistics(Blocks(x, w), layout, method, name=name)
    return stats.center, stats.scale
