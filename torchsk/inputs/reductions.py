"""The two passes' sums of one block of rows, per kind of block: numpy arrays (and,
through numpy's dispatch, Dask arrays, lazily) and torch tensors, on their device.

``inputs.statistics`` adds them over the blocks of a source; sparse X has its own
kernels with the same two methods (``data.sparse.SparseOps``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # the statistics' module imports this one
    from torchsk.inputs.statistics import Layout


class DenseOps:
    """The two passes' sums of one dense block, from the elementwise operations and
    reductions a subclass names (numpy's, torch's). A source with its own kernels
    (sparse X: ``data.sparse.SparseOps``) gives the same two methods."""

    @classmethod
    def first_pass(cls, X, w, layout: Layout) -> tuple:
        """One block's first-pass sums (lazy on Dask, on the device for a tensor):
        per column its present weight, weighted sum, minimum, maximum, and whether a
        row misses it; the total weight; whether any value is infinite; then each
        categorical column's weighted level counts."""
        X = cls.float64(X)
        nan, kept = cls.isnan(X), w > 0
        present = ~nan & kept[:, None]
        wide = w[:, None]
        codes = [
            level_counts(X[:, j], w, n, cls)
            for j, n in zip(
                np.flatnonzero(layout.is_categorical), layout.n_categories, strict=True
            )  # fmt: skip
        ]
        return (
            (wide * present).sum(0), (wide * cls.where(present, X, 0.0)).sum(0), w.sum(),
            cls.colmin(cls.where(present, X, np.inf)), cls.colmax(cls.where(present, X, -np.inf)),
            (nan & kept[:, None]).any(0), cls.isinf(X).any(), *codes,
        )  # fmt: skip

    @classmethod
    def squares(cls, X, w, fill: np.ndarray, mean: np.ndarray, unit=None):
        """Per column, the weighted squares of the imputed values about ``mean``, in
        ``unit``s where given (so that values past 1e154 square without overflow)."""
        X = cls.float64(X)
        off = cls.where(cls.isnan(X), cls.constant(fill, X), X) - cls.constant(mean, X)
        return (w[:, None] * (off if unit is None else off / cls.constant(unit, X)) ** 2).sum(0)


class ArrayOps(DenseOps):
    """The reductions the statistics need, on numpy arrays and (through numpy's
    dispatch) lazily on Dask arrays."""

    where, isnan, isinf, floor = np.where, np.isnan, np.isinf, np.floor

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
        return x.astype(np.float64, copy=False)

    @staticmethod
    def constant(values, like):
        return values


class TorchOps(DenseOps):
    """The same reductions on a tensor, on its device."""

    where, isnan, isinf, floor = torch.where, torch.isnan, torch.isinf, torch.floor

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

    @staticmethod
    def constant(values, like):
        return torch.as_tensor(values, dtype=torch.float64, device=like.device)


def to_numpy(*values) -> tuple:
    """Evaluate a block's results into numpy arrays (a tensor's copied to the host)."""
    return tuple(v.cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for v in values)


def level_counts(codes, w, n: int, ops):
    """The weight per valid code ``0 .. n - 1`` of one column (index ``n``: the
    missing and unseen rest); a row of weight k counts k times, of weight 0 not at all."""
    valid = (codes >= 0) & (codes < n) & (codes == ops.floor(codes))  # NaN: never valid
    return ops.bincount(ops.where(valid, codes, float(n)), n + 1, w)
