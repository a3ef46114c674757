"""``Scaling``: the input (and target) scaling constants as buffers, and their statistics."""

from __future__ import annotations

import numpy as np
import torch

from torchsk.inputs.encoder import InputEncoder


def weighted_quantile(x: np.ndarray, q: float, w: np.ndarray) -> np.ndarray:
    """Column-wise weighted quantile (inverse of the weighted empirical CDF).

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_columns)
    q : float in [0, 1]
    w : ndarray of shape (n_samples,), non-negative, positive sum

    Returns
    -------
    ndarray of shape (n_columns,)
    """
    order = np.argsort(x, axis=0, kind="stable")
    xs = np.take_along_axis(x, order, axis=0)
    cw = np.cumsum(w[order], axis=0)
    # first sorted value whose cumulative weight reaches q of the total
    idx = (cw < q * cw[-1:]).sum(axis=0).clip(max=len(x) - 1)
    return xs[idx, np.arange(x.shape[1])]


def _weighted_mean_std(x: np.ndarray, w: np.ndarray, chunk: int = 16384):
    """Weighted column means and standard deviations in float64, two passes over
    row chunks: no full-size temporary (the input may be most of the memory)."""
    chunks = [slice(i, i + chunk) for i in range(0, len(x), chunk)]
    # asarray, not astype: float64 chunks are used as they are, not copied
    mean = sum(w[c] @ np.asarray(x[c], dtype=np.float64) for c in chunks) / w.sum()
    var = sum(w[c] @ (np.asarray(x[c], dtype=np.float64) - mean) ** 2 for c in chunks)
    return mean, np.sqrt(var / w.sum())


def scaling_statistics(
    x: np.ndarray, method: str | None, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``(center, scale)`` so that ``(x - center) / scale`` is normalized.

    Sample weights are honoured so that a weight of ``k`` equals ``k`` repeated rows
    (a zero weight removes the row). A constant column gets ``scale = 1`` so it never
    produces NaN; any other column is scaled by its own spread, however small or large
    its values.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_columns)
    method : {"standard", "minmax", "robust", "mean"}, (center, scale) or None
        ``"mean"`` divides by the mean without centering (for positive targets); a
        pair gives the constants themselves (``explicit_constants``).
    sample_weight : ndarray of shape (n_samples,), default=None

    Returns
    -------
    center, scale : ndarray of shape (n_columns,)
    """
    n_cols = x.shape[1]
    if isinstance(method, tuple):
        return explicit_constants(method, n_cols)
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if method is None:
        return np.zeros(n_cols), np.ones(n_cols)
    if method == "standard":
        center, scale = _weighted_mean_std(x, w)
    elif method == "minmax":
        kept = x[w > 0]
        center, scale = kept.min(axis=0), np.ptp(kept, axis=0)
    elif method == "robust":
        center = weighted_quantile(x, 0.5, w)
        scale = weighted_quantile(x, 0.75, w) - weighted_quantile(x, 0.25, w)
        scale = _robust_fallback(x, w, scale)
    elif method == "mean":
        center, scale = np.zeros(n_cols), (w @ np.abs(x)) / w.sum()
    else:
        raise ValueError(f"Unknown scaling method {method!r}.")
    if method == "mean":  # a magnitude, not a spread: only zero is unusable
        return center, np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return center, _usable_spread(x, w, scale)


def explicit_constants(pair: tuple, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` given by a user (``input_scaling=(200, 10)``, as hand-picked
    constants in a ``register_buffer`` layer): scalars, or one value per column.

    Raises
    ------
    ValueError
        Naming what is wrong: not a pair, a length other than the columns', a
        non-finite value, a scale that is not positive.
    """
    if len(pair) != 2:
        raise ValueError(f"Scaling constants are a pair (center, scale); got {pair!r}.")
    center, scale = (_per_column(values, n_cols) for values in pair)
    if not (np.isfinite(center).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"Scaling constants must be finite with a positive scale; got {pair!r}.")
    return center, scale


def _per_column(values, n_cols: int) -> np.ndarray:
    """A scalar repeated, or one value per column, as a float64 array of ``n_cols``."""
    if np.ndim(values) != 0 and np.size(values) != n_cols:
        raise ValueError(
            f"Scaling constants take a scalar or one value per scaled column ({n_cols}); "
            f"got {np.size(values)} values."
        )
    return np.broadcast_to(np.ravel(np.asarray(values, np.float64)), (n_cols,)).copy()


#: The interquartile range of a normal distribution, in standard deviations.
IQR_PER_STD = 1.3489795003921634


def _robust_fallback(x: np.ndarray, w: np.ndarray, iqr: np.ndarray) -> np.ndarray:
    """``iqr`` where it is positive; elsewhere (half the weight on one value: a
    zero-inflated count) a spread that a few outliers cannot set, as the range they
    set did (three targets of 1e9 among 0s and 10s: a scale of 7e8). In the
    interquartile range's units: the standard deviation of the rows between the 5th
    and 95th percentiles times ``IQR_PER_STD``, else 1. (The median absolute
    deviation is no fallback: it is 0 wherever the interquartile range is.)"""
    zero = ~(iqr > 0)
    if not zero.any():
        return iqr
    x = x[:, zero]
    lo, hi = weighted_quantile(x, 0.05, w), weighted_quantile(x, 0.95, w)
    central = w[:, None] * ((x >= lo) & (x <= hi))
    mean = (central * x).sum(axis=0) / central.sum(axis=0)
    std = np.sqrt((central * (x - mean) ** 2).sum(axis=0) / central.sum(axis=0))
    iqr = iqr.copy()
    iqr[zero] = np.where(std > 0, IQR_PER_STD * std, 1.0)
    return iqr


def _column_ranges(x: np.ndarray, w: np.ndarray, chunk: int = 16384):
    """Column minima and maxima over the rows of positive weight (chunk by chunk: no
    full-size copy); None when no row has weight."""
    lo = hi = None
    for i in range(0, len(x), chunk):
        rows = np.asarray(x[i : i + chunk], dtype=np.float64)[w[i : i + chunk] > 0]
        if len(rows):
            lo = rows.min(axis=0) if lo is None else np.minimum(lo, rows.min(axis=0))
            hi = rows.max(axis=0) if hi is None else np.maximum(hi, rows.max(axis=0))
    return lo, hi


def _usable_spread(x: np.ndarray, w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``scale`` where it can divide: 1 for constant columns (exactly: no threshold,
    so a column of values ~1e-15 keeps its spread of ~1e-15), the range where a
    non-constant column's statistic is 0 or not finite (an underflowing variance;
    a zero interquartile range has its own fallback, ``_robust_fallback``)."""
    lo, hi = _column_ranges(x, w)
    if lo is None:
        return np.ones_like(scale)
    return usable_spread(lo, hi, scale)


def usable_spread(lo: np.ndarray, hi: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``_usable_spread`` from the columns' ranges over the rows of positive weight
    (computed elsewhere for data too large to hold: ``data.dask``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        span = hi - lo
    fallback = np.where(np.isfinite(span) & (span > 0), span, 1.0)
    usable = np.isfinite(scale) & (scale > 0) & (span > 0)
    return np.where(usable, scale, fallback)


class Scaling(InputEncoder):
    """Affine scaling ``(x - center) / scale`` whose constants are registered buffers.

    Parameters
    ----------
    center, scale : array-like of shape (n_columns,)
        Constants fitted on the training data; stored as buffers so that
        ``state_dict()``, pickling and exports carry them.
    """

    def __init__(self, center: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        # torch.tensor copies: the buffers must own their memory (the arrays may be
        # memory-mapped files that go away)
        self.register_buffer("center", torch.tensor(np.asarray(center, np.float64)))
        self.register_buffer("scale", torch.tensor(np.asarray(scale, np.float64)))
        self.config = {"n_columns": len(self.center)}
        self.n_outputs = len(self.center)

    @classmethod
    def from_config(cls, n_columns: int) -> Scaling:
        """An identity scaling of ``n_columns`` columns, to load a state dict into.

        Its buffers come from torch's factories, so that under ``torch.device("meta")``
        (persistence checks a stored configuration that way) nothing is allocated.
        """
        scaling = cls(np.zeros(0), np.zeros(0))
        scaling.center = torch.zeros(n_columns, dtype=torch.float64)
        scaling.scale = torch.ones(n_columns, dtype=torch.float64)
        scaling.config = {"n_columns": len(scaling.center)}
        scaling.n_outputs = len(scaling.center)
        return scaling

    def forward(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Scale ``x``; with ``dtype``, centre in the buffers' dtype, then round to
        ``dtype`` (before dividing: one float64 pass less)."""
        centred = x - self.center
        if dtype is None or dtype == centred.dtype:
            return centred.div_(self.scale)
        return centred.to(dtype).div_(self.scale.to(dtype))

    def encode_into(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Scale ``x`` into ``out`` (same shape): the same numbers as ``forward(x,
        out.dtype)``, centred in the buffers' float64, rounded to ``out``'s dtype on
        writing, then divided in that dtype (a float64 division of a float32 tensor
        took longer than the rest of a batch's scaling)."""
        return torch.sub(x, self.center, out=out).div_(self.scale.to(out.dtype))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Undo the scaling: ``z * scale + center``."""
        return z * self.scale + self.center
