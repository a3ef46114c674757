"""Sparse X (``scipy.sparse`` matrices and arrays): what a fit refuses, and the input
stage's column statistics computed from the stored entries.

A sparse X stays sparse (CSR) through validation and the input stage's fit; training
and inference densify one batch of rows at a time (``training.sparse.SparseRows``).
Standard scaling centres the columns, which would fill in every zero: the constants
(the imputer's fill values, ``center``, ``scale``) are computed here from the stored
entries and the count of implicit zeros per column, with the formulas of the dense
fit (``inputs.statistics.column_statistics``: weighted float64 sums, the variance
about the imputed columns' mean), and kept as the same buffers. NaN stored in X is
imputed as in dense X; implicit entries are zeros.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from torchsk.inputs.scaling import explicit_constants, usable_spread
from torchsk.inputs.stage import InputStage
from torchsk.inputs.statistics import ColumnStatistics, stage_from_statistics


def is_sparse(X) -> bool:
    """Whether ``X`` is a ``scipy.sparse`` matrix or array."""
    return sp.issparse(X)


def check_sparse_options(est) -> None:
    """Refuse the options a fit on sparse X cannot honour, naming each.

    Parameters
    ----------
    est : BaseTorchEstimator
        Its ``categorical_features``, ``input_scaling`` and ``numeric_bins`` are read.

    Raises
    ------
    ValueError
        For categorical columns (sparse X holds numbers only), ``input_scaling=
        "robust"`` and explicit ``numeric_bins`` (both need each column's quantiles,
        which would sort its implicit zeros in too).
    """
    features = est.categorical_features
    if not (features is None or isinstance(features, str)):
        raise ValueError(
            "categorical_features with sparse X: a scipy.sparse matrix holds numbers "
            "only. Pass a dense array or DataFrame with the categorical columns, or "
            "set categorical_features=None."
        )
    if est.input_scaling == "robust":
        raise ValueError(
            "input_scaling='robust' is not supported with sparse X (it needs each "
            "column's quantiles); use 'standard', 'minmax', None or explicit constants."
        )
    if est.numeric_bins not in ("auto", None):
        raise ValueError(
            f"numeric_bins={est.numeric_bins!r} is not supported with sparse X (bins "
            "at each column's quantiles); use numeric_bins=None ('auto' does not bin "
            "sparse X)."
        )


def canonical_csr(X) -> sp.csr_matrix | sp.csr_array:
    """``X`` as CSR with sorted, unique entries per row (a sparse copy where needed,
    never a dense one)."""
    X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def sparse_statistics(X, w: np.ndarray, method) -> ColumnStatistics:
    """The input stage's constants over the rows of sparse ``X``, without densifying.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n_samples, n_features)
        Numbers; stored NaN are missing values, implicit entries zeros.
    w : ndarray of shape (n_samples,)
        Sample weights (non-negative).
    method : {"standard", "minmax"}, tuple or None
        The estimator's ``input_scaling`` (``"robust"`` is refused before).

    Returns
    -------
    ColumnStatistics
        As ``inputs.statistics.column_statistics`` computes it on the dense X, to
        rounding (the sums are grouped differently).
    """
    X = canonical_csr(X)
    d, cols = X.shape[1], X.indices
    values = X.data.astype(np.float64)
    we = np.repeat(np.asarray(w, dtype=np.float64), np.diff(X.indptr))  # each entry's row weight
    kept, nan = we > 0, np.isnan(values)
    total = float(np.sum(w))
    # per column, rows of positive weight holding an implicit zero, counted exactly
    # (a difference of weight sums would leave rounding where there are none)
    implicit = int(np.count_nonzero(w > 0)) - np.bincount(cols[kept], minlength=d)
    zeros_w = np.where(implicit > 0, total - np.bincount(cols, we, minlength=d), 0.0)
    present_w = np.bincount(cols[~nan], we[~nan], minlength=d)
    weights = zeros_w + present_w  # present: every row of positive weight but a NaN's
    sums = np.bincount(cols[~nan], (we * values)[~nan], minlength=d)
    lo, hi = _column_range(cols, values, kept & ~nan, implicit=implicit > 0, d=d)
    empty = (implicit == 0) & (np.bincount(cols[kept & ~nan], minlength=d) == 0)
    missing = np.bincount(cols[nan & kept], minlength=d) > 0
    fill = np.divide(sums, weights, out=np.zeros_like(sums), where=~empty)
    indicators = np.flatnonzero(missing & ~empty)
    mean = (sums + fill * (total - weights)) / total  # the imputed columns'
    lo, hi = (
        np.where(missing, np.minimum(lo, fill), lo),
        np.where(missing, np.maximum(hi, fill), hi),
    )
    if method == "standard":
        # sum of w (x - mean)^2 over the stored values, the imputed NaN and the zeros
        imputed = np.where(nan, fill[cols], values)
        squares = np.bincount(cols, we * (imputed - mean[cols]) ** 2, minlength=d)
        squares += zeros_w * mean**2
        center, scale = mean, usable_spread(lo, hi, np.sqrt(squares / total))
    else:
        center, scale = _other_scaling(method, lo, hi, d)
    n_ind = len(indicators)
    return ColumnStatistics(
        fill=fill, indicator_columns=indicators,
        center=np.r_[center, np.zeros(n_ind)], scale=np.r_[scale, np.ones(n_ind)],
        counts=[], has_missing=[], empty_columns=np.flatnonzero(empty),
    )  # fmt: skip


def _column_range(cols, values, present, *, implicit, d: int):
    """Each column's min and max over its present stored values, and 0 where a row of
    positive weight holds an implicit zero in it."""
    lo, hi = np.full(d, np.inf), np.full(d, -np.inf)
    np.minimum.at(lo, cols[present], values[present])
    np.maximum.at(hi, cols[present], values[present])
    return np.where(implicit, np.minimum(lo, 0.0), lo), np.where(implicit, np.maximum(hi, 0.0), hi)


def _other_scaling(method, lo, hi, d: int):
    """``(center, scale)`` for ``input_scaling`` None, ``"minmax"`` or given constants."""
    if method is None:
        return np.zeros(d), np.ones(d)
    if isinstance(method, tuple):
        return explicit_constants(method, d)
    return lo, usable_spread(lo, hi, hi - lo)  # "minmax"


def sparse_input_stage(X, w: np.ndarray, method, seed: int) -> InputStage:
    """The input stage (imputer, scaling) fitted on sparse ``X``'s statistics."""
    stats = sparse_statistics(X, w, method)
    return stage_from_statistics(stats, np.zeros(X.shape[1], dtype=bool), [], seed)
