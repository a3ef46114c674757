"""Data larger than memory: Dask arrays and DataFrames streamed block by block.

A fit on a Dask collection never holds X whole. It

1. computes, with Dask over all the data, everything the input stage is fitted on:
   categorical vocabularies (DataFrames), imputation means and missing indicators,
   the scaling constants (float64 sums in two passes, the in-memory fit's formulas,
   so the constants match it to rounding), and the category counts that decide rare
   levels;
2. streams the blocks (a Dask array's row chunks, a DataFrame's partitions) through
   the engine each epoch, in a shuffled order, shuffling within each block, the next
   block computed while the current one trains (``_engine.Blocks``); batches are
   drawn across blocks, so small blocks add no small steps.

y and sample weights (one value per row) are computed into memory. Full-batch
solvers (``lbfgs``, ``rprop``), ``early_stopping`` and ``input_scaling="robust"``
(exact weighted quantiles need the data sorted) are refused with a message.

The same statistics run on a tensor outside the CPU (a CUDA tensor: torch
reductions on its device, ``stage_from_tensor``). Dask is imported only when X is a
Dask collection.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    validate_data,
)

from ._bins import PiecewiseLinear
from ._callbacks import EpochHooks
from ._encoders import CategoricalEncoder, Imputer
from ._engine import FULL_BATCH_SOLVERS, Blocks, Data, train
from ._inputs import InputStage, Scaling, usable_spread
from ._modules import reuses_encoding, use_generators
from ._objectives import make_objective
from ._plan import make_plan, resolve_device, seeded
from ._tables import (
    TableEncoder,
    check_frame_columns,
    column_values,
    resolve_categorical_features,
)
from ._training import _encoded, _scorer, _targets, epoch_limit, train_settings
from ._validation import new_table


def is_dask(X) -> bool:
    """Whether ``X`` is a Dask collection (checked without importing Dask)."""
    return type(X).__module__.startswith("dask") and hasattr(X, "__dask_graph__")


def _is_frame(X) -> bool:
    """A Dask DataFrame (else a Dask array)."""
    return "dataframe" in type(X).__module__


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

    The in-memory fit's formulas (``_encoders.Imputer.fit``, ``_inputs.
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
    center, scale = _scaling(X, w, ops, compute, method, mean, lo, hi, fill, total)
    numeric = ~cat
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
    ``_encoders._counts``: a row of weight k counts k times, of weight 0 not at all."""
    valid = (codes >= 0) & (codes < n) & (codes == np.floor(codes))  # numpy, Dask: no tensor
    return ops.bincount(ops.where(valid, codes, float(n)), n + 1, w)


def _scaling(X, w, ops, compute, method, mean, lo, hi, fill, total):
    """``(center, scale)`` of the imputed columns (a second pass for ``"standard"``)."""
    if method is None:
        return np.zeros_like(mean), np.ones_like(mean)
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
            self.table = TableEncoder.from_values(mask, _merge(values, mask))
        if self.table is None:  # read as numbers without a table: the same refusals
            check_frame_columns(self.meta)
        encode = self.table.transform if self.table is not None else _frame_floats
        keep = _nonempty(lengths)  # a filter leaves partitions without rows: skipped
        self.lengths = [lengths[k] for k in keep]
        self.blocks = [dask.delayed(encode)(parts[k]) for k in keep]
        self.n_features = self.meta.shape[1]

    def _init_array(self, X, categorical_features) -> None:
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D Dask array, got {X.ndim} dimension(s).")
        if not (categorical_features is None or isinstance(categorical_features, str)):
            raise ValueError(
                "categorical_features with a Dask array: pass a Dask DataFrame with "
                "categorical columns instead."
            )
        if X.dtype.kind not in "biuf":
            raise ValueError(f"A Dask array of dtype {X.dtype} is not numeric.")
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
        return [n for n, _ in results], [v for _, v in results]

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
        """Block ``k`` computed (by the active scheduler) into memory."""
        (block,) = self._dask.compute(self.blocks[k])
        return block

    def statistics(self, sw: np.ndarray, method) -> ColumnStatistics:
        """``column_statistics`` computed by Dask over all the data."""
        import dask.array as da

        X = self.encoded()
        w = da.from_array(sw, chunks=(tuple(self.lengths),))
        cat, n_categories = _categorical(self)
        return column_statistics(
            X, w, cat, n_categories, method, ops=_ArrayOps, compute=self._dask.compute
        )  # fmt: skip


def _nonempty(lengths: list[int]) -> list[int]:
    """The blocks with rows (all of them where none has any: the fit then refuses
    X with 0 samples, as in memory)."""
    return [k for k, n in enumerate(lengths) if n] or list(range(len(lengths)))


def _categorical(source: DaskSource) -> tuple[np.ndarray, list[int]]:
    """The categorical mask and the categories per categorical column."""
    table = source.table
    if table is None:
        return np.zeros(source.n_features, dtype=bool), []
    return table.is_categorical_, [len(c) for c in table.categories_ if c is not None]


def _scan_partition(part, mask):
    """A partition's length and its categorical columns' distinct values."""
    return len(part), None if mask is None else column_values(part, mask)


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


def _frame_floats(part) -> np.ndarray:
    """A numeric pandas partition as float64, missing values as NaN."""
    return part.to_numpy(dtype=np.float64, na_value=np.nan)


# ---------------------------------------------------------------- the fit
def _check_streamable(est, incremental: bool, given_val: bool = False) -> None:
    """Refuse what a fit that streams its data cannot do."""
    if est.solver in FULL_BATCH_SOLVERS:
        raise ValueError(
            f"solver={est.solver!r} computes each step over all rows at once; a fit on "
            "a Dask collection streams its rows, so use a mini-batch solver ('adam', "
            "'adamw' or 'sgd')."
        )
    if est.early_stopping and not incremental and not given_val:
        raise ValueError(
            "early_stopping=True needs a validation set for a fit on a Dask collection "
            "(a split of it would be held in memory): pass one as fit's X_val and "
            "y_val, or set early_stopping=False."
        )
    if est.input_scaling == "robust":
        raise ValueError(
            "input_scaling='robust' needs the data sorted, which a fit on a Dask "
            "collection does not do; use 'standard' or 'minmax'."
        )
    if est.numeric_bins not in ("auto", None):
        raise ValueError(
            f"numeric_bins={est.numeric_bins!r} needs the data sorted (bins at its "
            "quantiles), which a fit on a Dask collection does not do; use "
            "numeric_bins=None ('auto' bins data in memory only)."
        )


def _host(values):
    """y or sample weights (one value per row) computed into memory."""
    if values is None or not is_dask(values):
        return values
    return np.asarray(values.compute())


def fit_streamed(est, X, y, sample_weight, *, first: bool, incremental: bool, classes=None,
                 val=(None, None, None)):  # fmt: skip
    """``fit`` / ``partial_fit`` of ``est`` on a Dask collection ``X`` (see the module's
    docstring); the estimator's ``_fit`` calls it. ``val``: ``fit``'s ``X_val``,
    ``y_val``, ``sample_weight_val`` (in memory), the only early stopping it does."""
    _check_streamable(est, incremental, given_val=val[0] is not None)
    X_in, y_in = X, y
    reuse = first and reuses_encoding(est.module)  # the donor's table, as in memory
    table = est._first_table(X) if reuse else None if first else est._table
    source = DaskSource(X, table, est.categorical_features, fit=first and not reuse)
    validate_data(est, source.meta, reset=first, skip_check_array=True)
    task = est._new_task()
    y = _check_y(_host(y), multi_output=True, y_numeric=task.y_numeric, estimator=est)
    if len(y) != source.n_samples:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{source.n_samples}, {len(y)}]"
        )
    if first:
        task.fit_target(y, classes)
    else:
        task.target = est._task.target
        est._check_warm_start(task)
    y_enc = task.encode(y)
    sw = _check_sample_weight(_host(sample_weight), y, dtype=np.float64, ensure_non_negative=True)
    sw = sw * task.sample_weight(y_enc)
    seed = int(check_random_state(est.random_state).randint(np.iinfo(np.int32).max))
    loss = task.loss_functions()
    device = resolve_device(est.device) if first else est._plan.device
    with seeded(device, seed):
        if first:
            est._table = source.table
            stats = source.statistics(sw, est.input_scaling)
            est._build(None, y_enc, sw, task, device, seed, n_features=source.n_features,
                       inputs=_stage(stats, source, seed))  # fmt: skip
        est._plan = make_plan(
            est.module_, device, source.n_samples, analytic_grad=loss.output_grad is not None,
            previous=None if first else est._plan,
        )  # fmt: skip
        if first:
            est._place(source.load(0)[:2] if est.module is not None else None, task)
    est._task = task
    validation = est._validation_set(*val, task)
    config = est._fit_config()
    hooks = EpochHooks(est, X_in, y_in, sample_weight, epoch_limit(config, incremental))
    with seeded(device, seed, needed=not est._plan.builtin_backbone):
        history, est._optimizer = _train_streamed(est, task, loss, config, source, y_enc, sw,
                                                  incremental, seed, hooks,
                                                  validation)  # fmt: skip
    est._record(history, first, incremental)
    hooks.close()
    return est


def _stage(stats: ColumnStatistics, source: DaskSource, seed: int) -> InputStage:
    cat, n_categories = _categorical(source)
    return stage_from_statistics(stats, cat, n_categories, seed)


def _train_streamed(est, task, loss, config, source: DaskSource, y_enc, sw, incremental,
                    seed, hooks, validation):  # fmt: skip
    """``_training.fit_network`` for blocks: targets and weights resident, X streamed;
    early stopping on ``validation`` (``X_val``, ``y_val``, weights) only."""
    net, plan = est.module_, est._plan
    score = None if validation is None else _scorer(task, net, plan, *validation)
    y_all = _targets(task, net, plan, y_enc)
    w_all = None
    if not np.all(sw == 1.0):
        w_all = torch.as_tensor(sw, dtype=plan.dtype, device=plan.device)
    starts = np.r_[0, np.cumsum(source.lengths)]

    def load(k: int) -> Data:
        rows = slice(int(starts[k]), int(starts[k + 1]))
        X = _encoded(net, plan, source.load(k))
        return Data(X, y_all[rows], None if w_all is None else w_all[rows])

    blocks = Blocks(load, len(source.blocks), source.n_samples)
    # batches are drawn across blocks (``_engine._run_epoch``): sized for all the rows
    settings = train_settings(config, source.n_samples, incremental, float(sw.sum()))
    net.unfreeze()
    try:
        trained = net.inputs.trained_with(net.backbone)
        params = [p for p in trained.parameters() if p.requires_grad]
        objective = make_objective(plan.objective, trained, loss, params)
        generators = use_generators(net.backbone, seed + 1, plan.device)
        with plan.threads(settings.batch_size), generators:
            return train(
                trained, objective, blocks, settings, optimizer=est._optimizer,
                validation_score=score, generator=torch.Generator().manual_seed(seed),
                hooks=hooks, plan=plan, samples_seen=est.t_,
            )  # fmt: skip
    finally:
        net.freeze()


def stream_blocks(X):
    """The blocks of a Dask collection, computed one at a time (predict); blocks
    without rows are skipped, unless all are (predict then refuses X with 0 samples,
    as in memory)."""
    parts = X.to_delayed() if _is_frame(X) else X.rechunk({1: -1}).to_delayed().ravel()
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
