"""Assembling a fit for the engine: settings, the held-out rows, tensors, objective.

``fit_network`` is what an estimator calls once it has validated the data and built
the network and its plan: it holds out the early-stopping split
(``training.holdout``), encodes X once through the network's input stage, picks the
objective the plan chose, and runs ``training.loop.train`` under the plan's thread
policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from torchsk.nn.mlp import use_generators
from torchsk.training.auto import auto_alpha_step, resolve_alpha, resolve_batch_size
from torchsk.training.batches import Blocks, Data, weight_of
from torchsk.training.encoding import (
    device_targets,
    device_weights,
    encoded_rows,
    weight_factor,
)
from torchsk.training.folds import cross_fitted_rows, fold_record
from torchsk.training.holdout import hold_out, scorer
from torchsk.training.loop import train
from torchsk.training.losses import LossFunctions
from torchsk.training.member_losses import PerMember
from torchsk.training.member_setup import early_stopping_rows, given_rows, oof_scorer
from torchsk.training.members import MemberGuard, MemberRows
from torchsk.training.objectives import quiet_numpy
from torchsk.training.optim import FlatOptimizer
from torchsk.training.passes import make_objective
from torchsk.training.plan import ExecutionPlan
from torchsk.training.report import CHECK_ROWS, check_small_weights, worse_than_constant
from torchsk.training.settings import (
    FULL_BATCH_SOLVERS,
    History,
    LossUnits,
    Stopping,
    TrainSettings,
    rows_per_step,
)
from torchsk.training.sparse import ChunkedObjective
from torchsk.training.sparse_inference import training_fold


@dataclass(frozen=True)
class FitConfig:
    """The estimator's training hyperparameters, as given (``batch_size`` may be
    ``"auto"``), and how its losses read in y's units (``loss_units``, for
    ``verbose``)."""

    solver: str
    learning_rate_init: float
    alpha: float | str
    batch_size: int | str
    max_iter: int
    tol: float
    n_iter_no_change: int | float
    shuffle: bool
    verbose: bool
    early_stopping: bool
    validation_fraction: float
    learning_rate: str
    power_t: float
    momentum: float
    nesterovs_momentum: bool
    beta_1: float
    beta_2: float
    epsilon: float
    max_fun: int
    member_rows: str = "all"
    loss_units: LossUnits = LossUnits()
    min_batch_rows: int = 1  # TrainSettings'
    penalty_scale: float = 1.0  # TrainSettings'


def epoch_limit(config: FitConfig, incremental: bool) -> int:
    """The most epochs (L-BFGS: iterations) a fit runs: ``partial_fit`` runs one, but
    L-BFGS runs on to ``max_iter`` as ``MLPRegressor.partial_fit``'s does."""
    return 1 if incremental and config.solver != "lbfgs" else config.max_iter


def train_settings(config: FitConfig, n_samples: int, incremental: bool,
                   weight_total: float | None = None, weight_factor: float = 1.0,
                   own_rows: float | None = None) -> TrainSettings:  # fmt: skip
    """The engine's settings, with the batch size resolved for ``n_samples`` and
    ``alpha`` for ``weight_total`` (the sample weights' sum; ``n_samples`` when None)
    and the rows each member trains on (``own_rows``: cross-fitted members'); the
    penalty divided by ``weight_factor``, the sample weights' (``training.encoding``)."""
    batch_size = resolve_batch_size(config.solver, config.batch_size, n_samples)
    weight = n_samples if weight_total is None else weight_total
    rows = n_samples if own_rows is None else own_rows
    step = auto_alpha_step(config.solver, batch_size, rows, weight)
    return TrainSettings(
        solver=config.solver,
        learning_rate_init=config.learning_rate_init,
        alpha=resolve_alpha(config.alpha, weight, step),
        batch_size=batch_size,
        max_iter=epoch_limit(config, incremental),
        tol=config.tol,
        n_iter_no_change=config.n_iter_no_change,
        shuffle=config.shuffle,
        verbose=bool(config.verbose),
        learning_rate=config.learning_rate,
        power_t=config.power_t,
        momentum=config.momentum,
        nesterovs_momentum=config.nesterovs_momentum,
        beta_1=config.beta_1,
        beta_2=config.beta_2,
        epsilon=config.epsilon,
        max_fun=config.max_fun,
        loss_units=config.loss_units,
        min_batch_rows=config.min_batch_rows,
        penalty_scale=config.penalty_scale / weight_factor,
    )


def _every(w, every: int, n: int) -> torch.Tensor:
    """Every ``every``-th of a block's ``n`` weights, ones where it has none (a block
    of weights all 1 has None where others have theirs), on the host."""
    if w is None:
        return torch.ones(len(range(0, n, every)), dtype=torch.float64)
    return w[::every].to("cpu", torch.float64, copy=True)


def _sampled_targets(blocks) -> Data:
    """The blocks' targets and weights as one ``Data`` (no X), on the host."""
    blocks = list(blocks)
    y = torch.cat([b.y.cpu() for b in blocks])
    return Data(None, y, torch.cat([b.w for b in blocks]))


def _early_stopping(config: FitConfig, incremental: bool) -> bool:
    """Whether to hold out a validation split: as scikit-learn's MLP, not for L-BFGS
    (it has no epochs to stop between) nor ``partial_fit``."""
    return config.early_stopping and not incremental and config.solver != "lbfgs"


def fit_network(
    net, task, plan: ExecutionPlan, loss: LossFunctions, config: FitConfig,
    X: np.ndarray, y: np.ndarray, y_enc: np.ndarray, sw: np.ndarray, *,
    incremental: bool, seed: int, hooks, optimizer: FlatOptimizer | None,
    samples_seen: int = 0, validation: tuple | None = None, members: MemberRows | None = None,
    stopping: Stopping | None = None,
) -> tuple[History, FlatOptimizer | None]:  # fmt: skip
    """Train ``net``'s backbone in place on validated data.

    Parameters
    ----------
    net : TabularNet
        The network, already on the plan's device and dtype.
    task : RegressionTask or ClassificationTask
        Encodes the training targets and scores the held-out split.
    plan : ExecutionPlan
    loss : LossFunctions
        The task's loss (``task.loss_functions()``).
    config : FitConfig
    X, y, y_enc, sw : ndarray
        Validated inputs, targets as given, encoded targets, sample weights.
    incremental : bool
        One epoch, no validation split (``partial_fit``).
    seed : int
        Seeds the split and the shuffling.
    hooks : object with ``begin()`` and ``end(history) -> bool``
    optimizer : FlatOptimizer or None
        The previous fit's optimizer (warm start, ``partial_fit``).
    samples_seen : int, default=0
        Training samples seen by the model's earlier fits (``t_``).
    validation : tuple or None, default=None
        A given validation set ``(X_val, y_val, sample_weights)``, validated as
        ``X``, ``y``, ``sw`` are, scored for early stopping instead of a held-out
        split of ``X``.
    members : MemberRows or None, default=None
        The rows, early-stopping rows, ``alpha``, learning rate and other settings of
        each member of the built-in ensemble (a batched search's candidates and folds).
    stopping : Stopping or None, default=None
        The no-improvement count of the model's earlier fits, to go on from.

    Returns
    -------
    history : History
    optimizer : FlatOptimizer or None
    """
    net.unfreeze()  # a fitted network's parameters do not require gradients
    try:
        return _fit_unfrozen(
            net, task, plan, loss, config, X, y, y_enc, sw, incremental=incremental,
            seed=seed, hooks=hooks, optimizer=optimizer, samples_seen=samples_seen,
            validation=validation, members=members, stopping=stopping,
        )  # fmt: skip
    finally:
        net.freeze()  # eval mode, no gradients: what users call after fit


def _fit_unfrozen(net, task, plan, loss, config, X, y, y_enc, sw, *, incremental, seed, hooks,
                  optimizer, samples_seen, validation, members, stopping):  # fmt: skip
    """``fit_network``'s work, on the unfrozen network."""
    score, folds, stops = None, None, False
    held_out = None  # early-stopping rows apart from the training rows
    if members is not None:  # a search's candidates x folds: rows given
        (X, y, y_enc, sw), held_out, members = given_rows(X, y, y_enc, sw, members, config)
        row_sw, sw = sw, sw[:, None] * members.train  # the estimator split their encoders
    elif config.member_rows == "folds" and not incremental:  # each member its own rows
        row_sw, stops = sw, _early_stopping(config, incremental)
        folds, sw = cross_fitted_rows(
            net.backbone.n_members, y, sw, stratify=task.stratify, seed=seed,
            early_stopping=stops, class_weighted=getattr(task, "class_weight", None) is not None,
            r2=task.y_numeric,
        )  # fmt: skip
    elif validation is not None:  # the caller checked that it early stops
        score = scorer(task, net, plan, *validation)
    elif _early_stopping(config, incremental):
        X, y_enc, sw, score = hold_out(
            task, net, plan, config.validation_fraction, X, y, y_enc, sw, seed
        )
    # members given their rows keep their columns (each member's own stopping reads them)
    n = X.shape[0]
    total = sw.mean(axis=1).sum() if sw.ndim == 2 else sw.sum()  # per member: its mean
    factor = weight_factor(float(total) / n)  # weights float32 holds; penalty alike
    own = n - n / sw.shape[1] if folds is not None else None  # rows of all folds but one
    settings = train_settings(config, n, incremental, float(total), factor, own)
    if members is not None:
        settings = _member_settings(settings, members, sw)
    elif folds is not None:
        settings = _fold_alpha(settings, config.alpha, folds, sw)
    check_small_weights(float(total), n, settings)  # before encoding X: it may refuse
    w = device_weights(sw, factor, plan)  # members keep their columns
    data = Data(encoded_rows(net, plan, X), device_targets(task, net, plan, y_enc), w)
    rows = rows_per_step(settings, n)
    trained = net.inputs.trained_with(net.backbone)  # embeddings train too
    guard = None
    if folds is not None or (members is not None and settings.solver not in FULL_BATCH_SOLVERS):
        guard = _member_guard(task, net, plan, trained, data, loss, settings, y, y_enc, row_sw,
                              members=members, folds=folds, stops=stops,
                              held_out=held_out)  # fmt: skip
    with plan.threads(rows):
        history, optimizer = _run(
            net, trained, plan, loss, data, settings, seed=seed, optimizer=optimizer,
            validation_score=score, hooks=hooks, samples_seen=samples_seen, stopping=stopping,
            guard=guard,
        )  # fmt: skip
        if folds is not None:
            history.members = fold_record(trained, data, folds, guard)
            history.validation_scores = guard.oof_scores  # early stopping: out of fold
        # one epoch on one batch says little; members of their own loss settings have
        # no one loss the stack's averaged output is judged by (a search's: scores judge)
        if not incremental and history.n_iter and not isinstance(loss.per_sample, PerMember):
            worse, history.output_losses = worse_than_constant(task, trained, loss, data)
            history.worse_than_constant = worse if members is None else None
    return history, optimizer


def _member_guard(task, net, plan, trained, data: Data, loss, settings, y, y_enc, row_sw, *,
                  members, folds, stops: bool, held_out) -> MemberGuard:  # fmt: skip
    """Members with rows of their own, each stopping on its own (``MemberGuard``):
    on its early-stopping rows (``members.validation``; with ``stops``, each
    cross-fitted member's fold; ``held_out``'s rows where they are apart from the
    training rows) or on its training loss."""
    mask = members.validation if folds is None else None
    if folds is not None and stops:  # each member's fold
        mask = folds[:, None] == np.arange(net.backbone.n_members)
    source = (y, y_enc, row_sw) if held_out is None else held_out[1:]
    held, scores = early_stopping_rows(task, net, plan, *source, mask)
    oof = oof_scorer(task, net, y, row_sw) if folds is not None and stops else None
    scored_X = None if held_out is None else encoded_rows(net, plan, held_out[0])
    return MemberGuard(trained, data, loss.per_sample, settings, held, scores,
                       folds=folds if oof else None, oof_score=oof,
                       scored_X=scored_X)  # fmt: skip


def _one_or_each(values: tuple[float, ...]) -> float | np.ndarray:
    """One value where all are equal, else the array of them."""
    return values[0] if len(set(values)) == 1 else np.array(values)


def _fold_alpha(settings: TrainSettings, alpha, folds: np.ndarray, sw: np.ndarray):
    """``settings`` with cross-fitted members' ``alpha="auto"`` each resolved on its
    own rows (all folds but its own: their weight and count), as a fit on them alone
    resolves it; one value where they all agree (equal folds of equal weight)."""
    if alpha != "auto":
        return settings
    rows = len(folds) - np.bincount(folds, minlength=sw.shape[1])
    values = _own_alphas(settings, [alpha] * len(rows), sw.sum(0).tolist(), rows.tolist())
    if len(set(values)) == 1:
        return replace(settings, alpha=values[0])
    return replace(settings, member_alpha=values)


def _own_alphas(settings: TrainSettings, alphas, totals: list, rows: list) -> tuple:
    """Each member's ``alpha``, ``"auto"`` resolved on its own rows as a fit on them
    alone resolves it: their total weight and their count (``auto_alpha_step``)."""
    step = partial(auto_alpha_step, settings.solver, settings.batch_size)
    own = zip(alphas, totals, rows, strict=True)
    return tuple(resolve_alpha(a, t, step(n, t)) for a, t, n in own)


def _member_settings(settings: TrainSettings, members: MemberRows, sw: np.ndarray):
    """``settings`` with each member's ``alpha`` (``"auto"`` resolved on its own rows,
    as a fit on them alone resolves it: their weight, their count of the batch,
    ``auto_alpha_step``) and learning rate (kept scalar where all are equal: no
    per-member step)."""
    alpha = _own_alphas(settings, members.alpha, sw.sum(0).tolist(),
                        members.train.sum(0).tolist())  # fmt: skip
    rates = tuple(float(r) for r in members.learning_rate_init)
    if len(set(rates)) == 1:
        return replace(settings, member_alpha=alpha, learning_rate_init=rates[0])
    return replace(settings, member_alpha=alpha, member_lr=rates, learning_rate_init=rates[0])


def fit_blocks(
    net, task, plan: ExecutionPlan, loss: LossFunctions, config: FitConfig,
    load: Callable[[int], tuple], lengths: list[int], total_weight: float,
    *, incremental: bool, seed: int, hooks, optimizer: FlatOptimizer | None,
    samples_seen: int = 0, validation: tuple | None = None, in_order: bool = False,
    stopping: Stopping | None = None,
) -> tuple[History, FlatOptimizer | None]:  # fmt: skip
    """``fit_network`` for rows that arrive in blocks (a Dask collection, batches).

    ``load(k)`` gives block ``k`` — ``lengths[k]`` rows — as ``(X, y_enc, sw)``: raw
    rows, encoded targets, sample weights. Its rows are encoded through the stage's
    static encoders each time an epoch reaches them (``training.batches.Blocks``),
    in a shuffled order of blocks, or in ``in_order`` where the source orders them
    itself (the batches of a ``DataLoader``). No split of the blocks: early stopping
    scores the given ``validation`` set (in memory) only.
    """
    score = None if validation is None else scorer(task, net, plan, *validation)
    n_samples = int(sum(lengths))
    factor = weight_factor(total_weight / n_samples)

    # the block loaded last, which the worse-than-constant check reads, and a sample of
    # every block's targets, whose best constant it is judged against
    last, sampled, every = {}, {}, -(-n_samples // CHECK_ROWS)

    def block(k: int) -> Data:
        X, y_enc, sw = load(k)
        w = device_weights(sw, factor, plan)  # ones too, where other blocks are divided
        last["data"] = Data(encoded_rows(net, plan, X), device_targets(task, net, plan, y_enc), w)
        if k not in sampled:  # once: a block's rows are all a later pass reads again
            # copies: views would hold every block's targets for the whole fit
            y = last["data"].y[::every].to("cpu", copy=True)
            sampled[k] = Data(None, y, _every(w, every, len(y_enc)))
        return last["data"]

    blocks = Blocks(block, len(lengths), n_samples, shuffle=not in_order)
    # batches are drawn across blocks (``training.loop._run_epoch``): sized for all the rows
    settings = train_settings(config, n_samples, incremental, total_weight, factor)
    check_small_weights(total_weight, n_samples, settings)
    net.unfreeze()
    try:
        trained = net.inputs.trained_with(net.backbone)
        with plan.threads(settings.batch_size):
            history, optimizer = _run(
                net, trained, plan, loss, blocks, settings, seed=seed, optimizer=optimizer,
                validation_score=score, hooks=hooks, samples_seen=samples_seen,
                stopping=stopping,
            )  # fmt: skip
            judged = last.get("data")  # an estimate on one block's rows, read already
            if (
                not incremental
                and history.n_iter
                and not isinstance(loss.per_sample, PerMember)
                and weight_of(judged.w, len(judged.y)) > 0
            ):
                history.worse_than_constant, _ = worse_than_constant(
                    task, trained, loss, judged, targets=_sampled_targets(sampled.values())
                )
            return history, optimizer
    finally:
        net.freeze()


def _run(net, trained, plan: ExecutionPlan, loss: LossFunctions, data: Data | Blocks,
         settings: TrainSettings, *, seed: int, **train_args):  # fmt: skip
    """``training.loop.train`` on ``trained`` (the backbone and the stage's trainable
    encoders) with the objective the plan chose; the one place both fits meet."""
    params = [p for p in trained.parameters() if p.requires_grad]
    objective = make_objective(plan.objective, trained, loss, params)
    if isinstance(data, Data) and not isinstance(data.X, torch.Tensor):
        objective = ChunkedObjective(objective, params)  # sparse X's full batches
        if plan.objective == "manual":  # its mini-batches through a folded first layer
            data.X.fold = training_fold(trained, net, data.X.X)
    # dropout draws from the fit's own generator (seed + 1: not the shuffling stream)
    with use_generators(net.backbone, seed + 1, plan.device), quiet_numpy(plan.objective):
        history, optimizer = train(
            trained, objective, data, settings, generator=torch.Generator().manual_seed(seed),
            plan=plan, **train_args,
        )  # fmt: skip
    # "auto" resolved, for the estimator's alpha_: one per member where they differ
    member = settings.member_alpha
    history.alpha = settings.alpha if member is None else _one_or_each(member)
    return history, optimizer
