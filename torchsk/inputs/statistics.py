"""The input stage's column statistics accumulated over blocks, and the stage built from them.

One formula for every source that cannot be sorted in memory: a Dask collection
(lazily, ``dask.compute``) and a tensor on its device (torch's reductions; a CUDA
tensor sends only per-column results to the host). Weighted float64 sums in two
passes, the in-memory fit's formulas, so the constants match it to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from torchsk.inputs.bins import PiecewiseLinear
from torchsk.inputs.categorical import CategoricalEncoder
from torchsk.inputs.impute import Imputer
from torchsk.inputs.scaling import Scaling, explicit_constants, usable_spread
from torchsk.inputs.stage import InputStage


# ---------------------------------------------------------------- column statistics
class _ArrayOps:
    """The reductions the statistics need, on numpy arrays and (through numpy's
    dispatch) lazily on Dask arrays."""

    where, isnan, isinf, minimum = np.where, np.isnan, np.isinf, np.minimum

    @staticmethod
    def colmin(x):
        return x.min(axis=0)

    @staticmethod
    def colmax(x):
        return x.max(axis=0)

    @staticmethod
    def bincount(codes, n: int, weights=None):
        return np.bincount(codes.astype(np.int64), weights, minlength=n)

    @staticmethod
    def float64(x):
        return x.astype(np.float64)


class _TorchOps:
    """The same reductions on a tensor, on its device."""

    where, isnan, isinf, minimum = torch.where, torch.isnan, torch.isinf, torch.minimum

    @staticmethod
    def colmin(x):
        return x.amin(0)

    @staticmethod
    def colmax(x):
        return x.amax(0)

    @staticmethod
    def bincount(codes, n: int, weights=None):
        return torch.bincount(codes.long(), weights, minlength=n)

    @staticmethod
    def float64(x):
        return x.to(torch.float64)


@dataclass
class ColumnStatistics:
    """What the input stage is fitted on, computed over all rows.

    ``fill``: the imputer's values (None: no imputer); ``indicator_columns``: numeric
    columns with missing values; ``center``, ``scale``: over the imputed columns plus
    the indicators; ``counts``, ``has_missing``: per categorical column;
    ``empty_columns``: numeric columns never present.
    """

    fill: np.ndarray | None
    indicator_columns: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    counts: list
    has_missing: list
    empty_columns: np.ndarray


def column_statistics(X, w, is_categorical, n_categories, method, *, ops,
                      compute) -> ColumnStatistics:  # fmt: skip
    """The input stage's constants over all rows of ``X``, in two passes.

    The in-memory fit's formulas (``inputs.impute.Imputer.fit``, ``inputs.stage.
    scaling_statistics``, ``CategoricalEncoder.fit``): weighted float64 sums, the
    imputed columns' weighted mean, then their weighted variance about it; so the
    constants agree with it to rounding (summation order).

    Parameters
    ----------
    X : Dask array, tensor or ndarray of shape (n_samples, n_features)
        Numbers, NaN for missing values, categorical columns as codes.
    w : same kind, shape (n_samples,)
        Sample weights.
    is_categorical : ndarray of bool
    n_categories : list of int
        Per categorical column.
    method : {"standard", "minmax"} or None
    ops : _ArrayOps or _TorchOps
    compute : callable
        Evaluates a tuple of lazy results into numpy arrays (``dask.compute``).

    Returns
    -------
    ColumnStatistics
    """
    cat = np.asarray(is_categorical, dtype=bool)
    X = ops.float64(X)
    nan, kept = ops.isnan(X), w > 0
    present = ~nan & kept[:, None]
    wide = w[:, None]
    codes = [X[:, j] for j in np.flatnonzero(cat)]
    first = compute(
        (wide * ops.where(present, X, 0.0)).sum(0), (wide * present).sum(0), w.sum(),
        ops.colmin(ops.where(present, X, np.inf)), ops.colmax(ops.where(present, X, -np.inf)),
        (nan & kept[:, None]).any(0), ops.isinf(X).any(),
        *[_code_counts(c, w, n, ops) for c, n in zip(codes, n_categories, strict=True)],
    )  # fmt: skip
    sums, weights, total, lo, hi, missing, any_inf, *counts = first
    if any_inf:
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    # always an imputer (as in memory): NaN at predict time gets the training mean
    fill = np.divide(sums, weights, out=np.zeros_like(sums), where=weights > 0)
    fill[cat] = 0.0
    empty = (weights == 0) & ~cat  # never present: held at the fill value (Imputer)
    indicators = np.flatnonzero(missing & ~cat & ~empty)
    # the imputed columns: missing weighted rows hold the fill value
    mean = (sums + fill * (total - weights)) / total
    lo = np.where(missing, np.minimum(lo, fill), lo)
    hi = np.where(missing, np.maximum(hi, fill), hi)
    numeric = ~cat
    center, scale = _scaling(X, w, ops, compute, method, mean, lo, hi, fill, total, numeric)
    center, scale = np.where(numeric, center, 0.0), np.where(numeric, scale, 1.0)
    n_ind = len(indicators)
    return ColumnStatistics(
        fill=fill,
        indicator_columns=indicators,
        center=np.r_[center, np.zeros(n_ind)],
        scale=np.r_[scale, np.ones(n_ind)],
        counts=[np.asarray(c)[:n] for c, n in zip(counts, n_categories, strict=True)],
        has_missing=list(missing[cat]),
        empty_columns=np.flatnonzero(empty),
    )


def _code_counts(codes, w, n: int, ops):
    """The weight per valid code ``0 .. n - 1`` (index ``n``: the rest), as
    ``inputs.categorical._counts``: a row of weight k counts k times, of weight 0 not at all."""
    valid = (codes >= 0) & (codes < n) & (codes == np.floor(codes))  # numpy, Dask: no tensor
    return ops.bincount(ops.where(valid, codes, float(n)), n + 1, w)


def _scaling(X, w, ops, compute, method, mean, lo, hi, fill, total, numeric):
    """``(center, scale)`` of the imputed columns (a second pass for ``"standard"``)."""
    if method is None:
        return np.zeros_like(mean), np.ones_like(mean)
    if isinstance(method, tuple):  # given: one value per numeric column, as in memory
        center, scale = np.zeros_like(mean), np.ones_like(mean)
        center[numeric], scale[numeric] = explicit_constants(method, int(numeric.sum()))
        return center, scale
    if method == "minmax":
        return lo, usable_spread(lo, hi, hi - lo)
    if method != "standard":
        raise ValueError(
            f"input_scaling={method!r} needs the data sorted, which a fit that streams "
            "its data does not do; use 'standard' or 'minmax'."
        )
    nan = ops.isnan(X)
    fill_t = fill if ops is _ArrayOps else torch.as_tensor(fill, device=X.device)
    mean_t = mean if ops is _ArrayOps else torch.as_tensor(mean, device=X.device)
    (squares,) = compute(
        (w[:, None] * (ops.where(nan, fill_t, X) - mean_t) ** 2).sum(0),
    )
    return mean, usable_spread(lo, hi, np.sqrt(squares / total))


def stage_from_statistics(stats: ColumnStatistics, is_categorical, n_categories,
                          seed: int) -> InputStage:  # fmt: skip
    """The input stage ``build_input_stage`` would fit, from computed statistics."""
    cat = np.asarray(is_categorical, dtype=bool)
    steps = {}
    if stats.fill is not None:
        imputer = Imputer(
            is_categorical=cat, indicator_columns=stats.indicator_columns,
            empty_columns=stats.empty_columns,
        )  # fmt: skip
        imputer.fill.copy_(torch.as_tensor(stats.fill))
        steps["impute"] = imputer
    steps["scaling"] = Scaling(stats.center, stats.scale)
    if cat.any():
        wide = np.r_[cat, np.zeros(len(stats.indicator_columns), dtype=bool)]
        steps["categorical"] = CategoricalEncoder.from_counts(
            wide, n_categories, stats.counts, stats.has_missing,
            generator=torch.Generator().manual_seed(seed),
        )  # fmt: skip
    return InputStage(**steps)


def stage_from_tensor(X: torch.Tensor, sw: np.ndarray, method, seed: int,
                      numeric_bins: int | None = None) -> InputStage:  # fmt: skip
    """The input stage fitted on an all-numeric tensor, with torch's reductions on its
    device (a CUDA tensor: nothing but the per-column results reach the host)."""
    w = torch.as_tensor(sw, dtype=torch.float64, device=X.device)

    def compute(*values):
        return tuple(v.cpu().numpy() for v in values)

    cat = np.zeros(X.shape[1], dtype=bool)
    stats = column_statistics(X, w, cat, [], method, ops=_TorchOps, compute=compute)
    stage = stage_from_statistics(stats, cat, [], seed)
    if numeric_bins is None:
        return stage
    # quantiles of the imputed values, as build_input_stage takes them (sorted on X's device)
    imputed = stage.impute(X) if hasattr(stage, "impute") else X
    bins = PiecewiseLinear.fit(imputed, range(X.shape[1]), numeric_bins, sw)
    return InputStage(**dict(stage.named_children()), bins=bins.rescale(stats.center, stats.scale))
