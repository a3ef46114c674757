"""The statistics that need a column sorted: weighted quantiles, robust scaling, bin edges.

Computed one column at a time with torch (on a tensor's device; a numpy column is
copied, one column at a time), over the rows of positive weight. A
source that cannot sort its rows (a Dask collection, an iterable of batches) has
none of them (``inputs.statistics``).
"""

from __future__ import annotations

import numpy as np
import torch

#: Bins per column at most, whatever ``numeric_bins`` asks for: a grid of a billion
#: quantiles would only merge into the distinct values; the cap is a constant, not
#: the row count, so a weight of 2 stays two rows.
MAX_BINS = 2**16

#: The interquartile range of a normal distribution, in standard deviations.
IQR_PER_STD = 1.3489795003921634


def weighted_quantiles(x: torch.Tensor, q, w: torch.Tensor) -> torch.Tensor:
    """The weighted quantiles ``q`` of 1-d ``x``: for each fraction, the first sorted
    value whose cumulative weight reaches that fraction of the total (the inverse of
    the weighted empirical distribution function).

    Parameters
    ----------
    x : Tensor of shape (n,)
    q : float, sequence of float or Tensor, in [0, 1]
    w : Tensor of shape (n,)
        Positive weights (rows of zero weight are left out beforehand).

    Returns
    -------
    Tensor of shape (len(q),)
    """
    q = torch.as_tensor(q, dtype=torch.float64, device=x.device).reshape(-1)
    sorted_x, order = torch.sort(x, stable=True)
    cw = torch.cumsum(w[order], dim=0)
    idx = torch.searchsorted(cw, q * cw[-1], side="left").clamp(max=len(x) - 1)
    return sorted_x[idx]


def robust_constants(x: torch.Tensor, w: torch.Tensor) -> tuple[float, float]:
    """``(median, interquartile range)`` of one column, the range replaced by a
    spread a few outliers cannot set where it is 0.

    Where half the weight sits on one value (a zero-inflated count) the interquartile
    range is 0, and the full range it used to fall back on was set by the outliers
    (three targets of 1e9 among 0s and 10s: a scale of 7e8). The fallback, in the
    interquartile range's units: the standard deviation of the rows between the 5th
    and 95th percentiles times ``IQR_PER_STD`` (rounding residue, 1e-17 about a
    column of 0.1, is no spread, nor an interquartile range); where those are one
    value (90-95% zeros), the median distance to it of the other rows (a 0/1
    indicator: 1; claims among zeros: a typical claim, in dollars as in units of 1e5
    dollars, where a fixed 1 had fitted two models); 1 for a constant. (The median
    absolute deviation of all rows is no fallback: it is 0 wherever the
    interquartile range is.)
    """
    lo, q1, median, q3, hi = weighted_quantiles(x, (0.05, 0.25, 0.5, 0.75, 0.95), w).tolist()
    if q3 - q1 > _ulps(q1, q3):
        return median, q3 - q1
    std = _weighted_std(x, w * ((x >= lo) & (x <= hi)))
    if std > _ulps(lo, hi):
        return median, IQR_PER_STD * std
    distance = (x - median).abs()
    others = (w > 0) & (distance > _ulps(median))
    if not bool(others.any()):
        return median, 1.0
    half = weighted_quantiles(distance[others], (0.5,), w[others])
    return median, float(half[0])


def _ulps(*values: float) -> float:
    """64 float64 rounding steps at the largest of ``values``: differences below are
    rounding residue (the quantiles' own: one outlier elsewhere cannot widen it)."""
    return 64 * float(np.finfo(np.float64).eps) * max(abs(v) for v in values)


def _weighted_std(x: torch.Tensor, w: torch.Tensor) -> float:
    mean = (w * x).sum() / w.sum()
    return float(torch.sqrt((w * (x - mean) ** 2).sum() / w.sum()))


def bin_edges(x: torch.Tensor, w: torch.Tensor, n_bins: int) -> np.ndarray | None:
    """The distinct quantiles ``0, 1/n_bins, ..., 1`` of one column, or None where they
    give fewer than two bins (a constant or binary column: one bin is the value)."""
    q = torch.linspace(0.0, 1.0, min(n_bins, MAX_BINS) + 1, dtype=torch.float64, device=x.device)
    edges = torch.unique(weighted_quantiles(x, q, w)).cpu().numpy()
    return edges if len(edges) >= 3 else None
