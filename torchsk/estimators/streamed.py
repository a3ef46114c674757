"""``fit`` / ``partial_fit`` on a Dask collection: X streamed block by block.

y and sample weights (one value per row) are computed into memory; X never is. The
blocks go through the engine each epoch in a shuffled order, shuffled within each
block, the next block computed while the current one trains (``training.batches.
Blocks``). Full-batch solvers, ``early_stopping``, ``input_scaling="robust"`` and
explicit ``numeric_bins`` (exact weighted quantiles need the data sorted) are refused
with a message.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    validate_data,
)

from torchsk.data.dask import DaskSource, _categorical, is_dask
from torchsk.estimators.callbacks import EpochHooks
from torchsk.inputs.stage import InputStage
from torchsk.inputs.statistics import ColumnStatistics, stage_from_statistics
from torchsk.nn.mlp import use_generators
from torchsk.nn.reuse import reuses_encoding
from torchsk.training.batches import Blocks, Data
from torchsk.training.devices import resolve_device, seeded
from torchsk.training.fit import _encoded, _scorer, _targets, epoch_limit, train_settings
from torchsk.training.loop import train
from torchsk.training.objectives import make_objective
from torchsk.training.plan import make_plan
from torchsk.training.settings import FULL_BATCH_SOLVERS


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
    """``training.fit.fit_network`` for blocks: targets and weights resident, X streamed;
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
    # batches are drawn across blocks (``training.loop._run_epoch``): sized for all the rows
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
