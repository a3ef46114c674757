"""Data larger than memory: Dask arrays and DataFrames as blocks of encoded rows.

``DaskSource`` computes with Dask over all the data what the input stage is fitted on
(``inputs.statistics``: categorical vocabularies, imputation means and missing
indicators, scaling constants, category counts) and hands the blocks (a Dask array's
row chunks, a DataFrame's partitions) to training one at a time. Dask is imported only
when X is a Dask collection.
"""

from __future__ import annotations

import sys
from functools import partial

import numpy as np

from torchsk.data.checks import new_table
from torchsk.data.columns import holds_numbers, resolve_categorical_features
from torchsk.data.tables import (
    FIT_ADVICE,
    PREDICT_ADVICE,
    TableEncoder,
    check_frame_columns,
    column_values,
    named_numbers_error,
)


def is_dask(X) -> bool:
    """Whether ``X`` is a Dask collection (checked without importing Dask)."""
    return type(X).__module__.startswith("dask") and hasattr(X, "__dask_graph__")


def _is_frame(X) -> bool:
    """A Dask DataFrame (else a Dask array)."""
    return "dataframe" in type(X).__module__


# ---------------------------------------------------------------- Dask sources
class DaskSource:
    """A Dask array or DataFrame as encoded float64 blocks of rows.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
    table : TableEncoder or None
        A fitted table (later fits, predict); None at a first fit, where one is
        fitted here when the DataFrame has categorical columns.
    categorical_features
        The estimator's parameter (a first fit).
    """

    def __init__(self, X, table=None, categorical_features=None, *, fit: bool = False) -> None:
        import dask

        self._dask = dask
        if hasattr(X, "to_frame"):  # a Series (a 1-D array is refused below)
            raise ValueError(
                f"Expected a 2-dimensional container but got {type(X)} instead. Pass a "
                "DataFrame containing a single row (i.e. single sample) or a single "
                "column (i.e. single feature) instead."
            )
        self.frame = _is_frame(X)
        if not self.frame:
            self._init_array(X, categorical_features)
            self.table = None
            return
        self.meta = X._meta
        parts = X.to_delayed()
        self.table = new_table(self.meta, categorical_features) if fit else table
        lengths, values = self._scan(parts, categorical_features if fit else None)
        if fit and self.table is not None:
            mask = resolve_categorical_features(categorical_features, self.meta)
            merged = _merge(values, mask)
            if isinstance(categorical_features, str):  # "auto": object columns as in memory
                mask = mask & ~_objects_of_numbers(self.meta, merged)
            self.table = TableEncoder.from_values(mask, merged, self.meta)
        if self.table is None:  # read as numbers without a table: the same refusals
            check_frame_columns(self.meta)
        # a fit's blocks: an error for a column that is not numeric says to mark it
        advice = FIT_ADVICE if fit else PREDICT_ADVICE
        encode = partial(self.table.transform if self.table is not None else _frame_floats,
                         advice=advice)  # fmt: skip
        keep = _nonempty(lengths)  # a filter leaves partitions without rows: skipped
        self.lengths = [lengths[k] for k in keep]
        self.blocks = [dask.delayed(encode)(parts[k]) for k in keep]
        self.n_features = self.meta.shape[1]

    def _init_array(self, X, categorical_features) -> None:
        _check_2d(X)
        if _marks_columns(categorical_features):
            raise ValueError(
                "categorical_features with a Dask array: pass a Dask DataFrame with "
                "categorical columns instead."
            )
        if X.dtype.kind not in "biuf":
            raise ValueError(f"A Dask array of dtype {X.dtype} is not numeric.")
        if "scipy.sparse" in sys.modules and sys.modules["scipy.sparse"].issparse(X._meta):
            raise ValueError(  # numpy's "ufunc 'isinf' not supported" before
                "A Dask array of sparse chunks is not supported: pass dense chunks "
                "(X.map_blocks(lambda b: b.toarray())) or the sparse matrix in memory."
            )
        if X.dtype.kind == "b":  # 0 and 1, as numpy and torch booleans read (exact)
            X = X.astype(np.float32)
        X = X.rechunk({1: -1})
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        if 0 in X.chunks[0] and any(X.chunks[0]):  # a filter's empty blocks: skipped
            X = X.rechunk({0: tuple(n for n in X.chunks[0] if n)})
        self.meta, self.array = X, X
        self.lengths = list(X.chunks[0])
        self.blocks = list(X.to_delayed().ravel())
        self.n_features = X.shape[1]

    def _scan(self, parts, categorical_features):
        """Partition lengths and, where a new table needs them, the distinct values
        of each categorical column, in one pass."""
        dask = self._dask
        mask = None
        if categorical_features is not None and self.table is not None:
            mask = resolve_categorical_features(categorical_features, self.meta)
        tasks = [dask.delayed(_scan_partition)(p, mask) for p in parts]
        results = dask.compute(*tasks)
        expected = list(self.meta.columns)
        for k, (_, columns, _) in enumerate(results):
            if columns != expected:  # blocks are read by position
                raise ValueError(
                    f"Partition {k} of the Dask DataFrame has the columns {columns}, but "
                    f"its meta has {expected}: build the partitions with the meta's "
                    "columns, in its order (or leave dask's metadata checks on)."
                )
        return [n for n, _, _ in results], [v for _, _, v in results]

    @property
    def n_samples(self) -> int:
        return int(sum(self.lengths))

    def encoded(self):
        """The encoded data as one lazy float64 Dask array (row chunks = blocks)."""
        if not self.frame:
            return self.array
        import dask.array as da

        return da.concatenate(
            [
                da.from_delayed(b, shape=(n, self.n_features), dtype=np.float64)
                for b, n in zip(self.blocks, self.lengths, strict=True)
            ]
        )

    def load(self, k: int) -> np.ndarray:
        """Block ``k`` computed (by the active scheduler) into memory; refused when
        its rows are not the first pass's (y and the weights are sliced by those)."""
        (block,) = self._dask.compute(self.blocks[k])
        if len(block) != self.lengths[k]:
            raise ValueError(
                f"Block {k} of the Dask collection has {len(block)} rows on this pass "
                f"and had {self.lengths[k]} on the first: its rows changed during the fit "
                "(a source rewritten, an unseeded random filter), so they no longer match "
                "y. persist() the collection first, or fit in memory."
            )
        return block

    def statistics_blocks(self, sw: np.ndarray) -> LazyBlocks:
        """All the data as one lazy block for ``inputs.statistics``: Dask reduces over
        the partitions, and each pass is one ``dask.compute``."""
        import dask.array as da

        w = da.from_array(sw, chunks=(tuple(self.lengths),))
        return LazyBlocks(self.encoded(), w, self._dask.compute)


class LazyBlocks:
    """A Dask array and its weights as the one block of ``inputs.statistics``'s
    ``Blocks`` protocol; no ``column``: a fit that streams cannot sort."""

    def __init__(self, X, w, compute) -> None:
        self.X, self.w, self.compute = X, w, compute

    def __iter__(self):
        yield self.X, self.w


def _objects_of_numbers(meta, merged: list) -> np.ndarray:
    """The ``object`` columns that ``"auto"`` reads as numbers in memory
    (``data.columns.holds_numbers``: numbers only, or nothing but missing values),
    told by their distinct values over all partitions, since the meta has no rows
    (with ``dataframe.convert-string`` off; on, Dask makes them strings)."""
    return np.array(
        [
            values is not None
            and str(meta.dtypes.iloc[j]) == "object"
            and (len(values) == 0 or holds_numbers(np.asarray(values, dtype=object)))
            for j, values in enumerate(merged)
        ],
        dtype=bool,
    )


def _marks_columns(spec) -> bool:
    """Whether ``categorical_features`` marks some column (an empty list or an
    all-False mask marks none, as for a numpy array)."""
    if spec is None or isinstance(spec, str):
        return False
    spec = np.asarray(spec)
    return bool(spec.any()) if spec.dtype.kind == "b" else spec.size > 0


def _nonempty(lengths: list[int]) -> list[int]:
    """The blocks with rows (all of them where none has any: the fit then refuses
    X with 0 samples, as in memory)."""
    return [k for k, n in enumerate(lengths) if n] or list(range(len(lengths)))


def _scan_partition(part, mask):
    """A partition's length, its columns and its categorical columns' distinct values."""
    return len(part), list(part.columns), None if mask is None else column_values(part, mask)


def _merge(values: list, mask: np.ndarray) -> list:
    """Per column, the distinct values over all partitions."""
    merged = []
    for j, flag in enumerate(mask):
        if not flag:
            merged.append(None)
            continue
        parts = [v[j] for v in values if len(v[j])]
        merged.append(np.concatenate(parts) if parts else np.array([], dtype=object))
    return merged


def _check_2d(X) -> None:
    """A Dask array of another number of dimensions: refused as scikit-learn refuses
    such a numpy array."""
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D Dask array, got {X.ndim} dimension(s). Reshape your data "
            "either using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )


def _frame_floats(part, advice: str = PREDICT_ADVICE) -> np.ndarray:
    """A numeric pandas partition as float64, missing values as NaN; a column that
    is not numeric named, with ``advice`` (it had been numpy's bare "could not
    convert string to float")."""
    try:
        return part.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise named_numbers_error(part, error, advice) from error


def stream_blocks(X):
    """The blocks of a Dask collection, computed one at a time (predict); blocks
    without rows are skipped, unless all are (predict then refuses X with 0 samples,
    as in memory)."""
    if _is_frame(X):
        parts = X.to_delayed()
    else:
        _check_2d(X)
        parts = X.rechunk({1: -1}).to_delayed().ravel()
    dask = sys.modules["dask"]
    any_rows, empty = False, None
    for part in parts:
        (block,) = dask.compute(part)
        if len(block):
            any_rows = True
            yield block
        elif empty is None:
            empty = block
    if not any_rows and empty is not None:
        yield empty
