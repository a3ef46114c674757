"""Sparse X (``scipy.sparse`` matrices and arrays): what a fit refuses, and the input
stage's column sums computed from the stored entries.

A sparse X stays sparse (CSR) through validation and the input stage's fit; training
and inference densify one batch of rows at a time (``training.sparse.SparseRows``).
Standard scaling centres the columns, which would fill in every zero: the constants
(the imputer's fill values, ``center``, ``scale``) come from the one statistics route
(``inputs.statistics.column_statistics``), whose per-block sums ``SparseOps`` takes
from the stored entries and the count of implicit zeros per column; the same
buffers result. NaN stored in X is
imputed as in dense X; implicit entries are zeros.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from torchsk.inputs.reductions import to_numpy


def is_sparse(X) -> bool:
    """Whether ``X`` is a ``scipy.sparse`` matrix or array."""
    return sp.issparse(X)


def is_sparse_source(X) -> bool:
    """Whether a fit reads ``X`` as sparse rows: a ``scipy.sparse`` matrix or array, or
    a pandas DataFrame whose every column is sparse (scikit-learn's validation turns
    it into a sparse matrix; a frame with a dense column becomes a dense array)."""
    if sp.issparse(X):
        return True
    dtypes = getattr(X, "dtypes", None)
    return (
        hasattr(X, "sparse") and dtypes is not None and len(dtypes) > 0
        and all(str(dtype).startswith("Sparse[") for dtype in dtypes)
    )  # fmt: skip


def _selects_none(features) -> bool:
    """``categorical_features`` that selects no column: an empty list or an all-False mask."""
    a = np.asarray(features)
    return a.size == 0 or (a.dtype == bool and not a.any())


def check_sparse_options(est) -> None:
    """Refuse the options a fit on sparse X cannot honour, naming each
    (``sparse_refusal``).

    Parameters
    ----------
    est : BaseTorchEstimator

    Raises
    ------
    ValueError
        Where ``sparse_refusal`` gives a reason.
    """
    why = sparse_refusal(est)
    if why is not None:
        raise ValueError(why)


def sparse_refusal(est) -> str | None:
    """Why a fit on sparse X cannot honour ``est``'s options, or None: categorical
    columns (sparse X holds numbers only), ``input_scaling="robust"`` and explicit
    ``numeric_bins`` (both need each column's quantiles, which would sort its implicit
    zeros in too). Also the estimators' ``sparse`` input tag (of models pickled before
    some of these parameters existed too).

    Parameters
    ----------
    est : BaseTorchEstimator

    Returns
    -------
    str or None
    """
    features = getattr(est, "categorical_features", None)
    if not (features is None or isinstance(features, str) or _selects_none(features)):
        return (
            "categorical_features with sparse X: a scipy.sparse matrix holds numbers "
            "only. Pass a dense array or DataFrame with the categorical columns, or "
            "set categorical_features=None."
        )
    if getattr(est, "input_scaling", None) == "robust":
        return (
            "input_scaling='robust' is not supported with sparse X (it needs each "
            "column's quantiles); use 'standard', 'minmax', None or explicit constants."
        )
    if getattr(est, "numeric_bins", None) not in ("auto", None):
        return (
            f"numeric_bins={est.numeric_bins!r} is not supported with sparse X (bins "
            "at each column's quantiles); use numeric_bins=None ('auto' does not bin "
            "sparse X)."
        )
    return None


def canonical_csr(X) -> sp.csr_matrix | sp.csr_array:
    """``X`` as CSR with sorted, unique entries per row (a sparse copy where needed,
    never a dense one)."""
    X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


class SparseOps:
    """The first and second passes of ``inputs.statistics`` on a CSR block, from its
    stored entries and each column's implicit zeros (no dense copy): the sums the
    dense reductions give, grouped otherwise. Stored NaN are missing values, implicit
    entries zeros; a sparse X has no categorical columns."""

    @staticmethod
    def first_pass(X, w: np.ndarray, layout) -> tuple:
        """Per column: present weight, weighted sum, min, max, missing; the total
        weight; whether any entry is infinite (``inputs.reductions.DenseOps.first_pass``)."""
        d, cols, values, we = _entries(X, w)
        kept, nan = we > 0, np.isnan(values)
        total = float(np.sum(w))
        # rows of positive weight holding an implicit zero, counted exactly (a
        # difference of weight sums would leave rounding where there are none)
        implicit = int(np.count_nonzero(w > 0)) - np.bincount(cols[kept], minlength=d) > 0
        zeros_w = np.where(implicit, total - _column_sums(cols, we, d), 0.0)
        weight = zeros_w + _column_sums(cols[~nan], we[~nan], d)
        sums = _column_sums(cols[~nan], (we * values)[~nan], d)
        lo, hi = _column_range(cols, values, kept & ~nan, implicit=implicit, d=d)
        missing = np.bincount(cols[nan & kept], minlength=d) > 0
        return weight, sums, total, lo, hi, missing, bool(np.isinf(values).any())

    @staticmethod
    def squares(X, w: np.ndarray, fill: np.ndarray, mean: np.ndarray, unit=None):
        """Per column, the weighted squares of the imputed values about ``mean`` (in
        ``unit``s where given): the stored entries' (NaN at their fill value), then
        the implicit zeros'."""
        d, cols, values, we = _entries(X, w)
        unit = np.ones(d) if unit is None else unit
        imputed = np.where(np.isnan(values), fill[cols], values)
        squares = _column_sums(cols, we * ((imputed - mean[cols]) / unit[cols]) ** 2, d)
        zeros_w = float(np.sum(w)) - _column_sums(cols, we, d)
        return squares + np.maximum(zeros_w, 0.0) * (mean / unit) ** 2


def _entries(X, w: np.ndarray):
    """Width, the stored entries' columns and float64 values, each entry's row weight."""
    we = np.repeat(np.asarray(w, dtype=np.float64), np.diff(X.indptr))
    return X.shape[1], X.indices, X.data.astype(np.float64), we


class SparseBlocks:
    """Sparse X as the one block of ``inputs.statistics``'s ``Blocks`` protocol, reduced
    by ``SparseOps``; no ``column``: quantiles would sort the implicit zeros in."""

    ops = SparseOps
    compute = staticmethod(to_numpy)

    def __init__(self, X, w: np.ndarray) -> None:
        self.X, self.w = canonical_csr(X), np.asarray(w, dtype=np.float64)

    def __iter__(self):
        yield self.X, self.w


def _column_sums(cols: np.ndarray, weights: np.ndarray, d: int) -> np.ndarray:
    """Per column, the sum of ``weights`` over its entries: float64 even without any
    entry (``np.bincount`` of nothing gives int64, whatever the weights)."""
    return np.bincount(cols, weights, minlength=d).astype(np.float64, copy=False)


def _column_range(cols, values, present, *, implicit, d: int):
    """Each column's min and max over its present stored values, and 0 where a row of
    positive weight holds an implicit zero in it."""
    lo, hi = np.full(d, np.inf), np.full(d, -np.inf)
    np.minimum.at(lo, cols[present], values[present])
    np.maximum.at(hi, cols[present], values[present])
    return np.where(implicit, np.minimum(lo, 0.0), lo), np.where(implicit, np.maximum(hi, 0.0), hi)
