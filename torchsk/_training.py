"""Assembling a fit for the engine: settings, the validation split, tensors, objective.

``fit_network`` is what an estimator calls once it has validated the data and built
the network and its plan: it holds out the early-stopping split, encodes X once
through the network's input stage, picks the objective the plan chose, and runs
``_engine.train`` under the plan's thread policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ._engine import FULL_BATCH_SOLVERS, Data, History, TrainSettings, train
from ._losses import LossFunctions
from ._objectives import make_objective
from ._optim import FlatOptimizer
from ._plan import ExecutionPlan, as_tensor
from ._warnings import warn

# Defaults chosen on benchmarks/compare.py's suite (docs/comparison.md): smaller batches
# than scikit-learn's 200 (more steps per epoch on small data) beat its default there.
AUTO_BATCH_SIZE = 64


@dataclass(frozen=True)
class FitConfig:
    """The estimator's training hyperparameters, as given (``batch_size`` may be
    ``"auto"``)."""

    solver: str
    learning_rate_init: float
    alpha: float
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


def epoch_limit(config: FitConfig, incremental: bool) -> int:
    """The most epochs (L-BFGS: iterations) a fit runs: ``partial_fit`` runs one, but
    L-BFGS runs on to ``max_iter`` as ``MLPRegressor.partial_fit``'s does."""
    return 1 if incremental and config.solver != "lbfgs" else config.max_iter


def train_settings(config: FitConfig, n_samples: int, incremental: bool) -> TrainSettings:
    """The engine's settings, with the batch size resolved for ``n_samples``."""
    if config.batch_size == "auto":
        batch_size = min(AUTO_BATCH_SIZE, n_samples)
    else:
        if config.batch_size > n_samples and config.solver not in FULL_BATCH_SOLVERS:
            warn(
                f"Got batch_size={config.batch_size} larger than the {n_samples} "
                "samples; it is clipped to the sample count."
            )
        batch_size = min(config.batch_size, n_samples)
    return TrainSettings(
        solver=config.solver,
        learning_rate_init=config.learning_rate_init,
        alpha=config.alpha,
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
    )


def check_validation_split(validation_fraction: float, n_samples: int, stratify) -> None:
    """Refuse a split that leaves a side too small (one sample per class if stratified)."""
    n_val = math.ceil(validation_fraction * n_samples)  # train_test_split's rule
    need = 1 if stratify is None else len(np.unique(stratify))
    if n_val < need or n_samples - n_val < need:
        raise ValueError(
            f"validation_fraction={validation_fraction} of {n_samples} samples "
            f"leaves {n_val} for validation and {n_samples - n_val} for training; early "
            f"stopping needs at least {need} on each side (one per class). Raise "
            "validation_fraction, pass more samples, or set early_stopping=False."
        )


def encode_into(net, X: np.ndarray, out: torch.Tensor, steps: int | None = None) -> torch.Tensor:
    """Encode raw ``X`` through ``net``'s input stage (its first ``steps`` encoders)
    into ``out`` (rows of the same count, the output's width, the plan's dtype and
    device).

    The stage's static constants are fixed, so training works on X encoded once
    through them. Each chunk
    of rows is encoded straight into its place in ``out`` (computed in float64,
    rounded on writing), so nothing full-size is allocated here. Chunks of ~1 MB:
    torch computes a float64 temporary per chunk, and larger ones stayed in the
    allocator's heap.
    """
    chunk = max(1, 2**20 // (8 * max(1, X.shape[1])))
    with torch.no_grad():
        for i in range(0, len(X), chunk):
            rows = as_tensor(X[i : i + chunk], None, out.device)
            net.inputs.encode_into(rows, out[i : i + chunk], steps)
    return out


def _encoded(net, plan: ExecutionPlan, X: np.ndarray) -> torch.Tensor:
    """X through the input stage's static encoders, once for the whole fit."""
    width = net.inputs.static_width()
    out = torch.empty((len(X), width), dtype=plan.dtype, device=plan.device)
    return encode_into(net, X, out, net.inputs.n_static)


def _targets(task, net, plan: ExecutionPlan, y_enc: np.ndarray) -> torch.Tensor:
    """Training targets on the device: class indices stay int64, the rest the plan's dtype."""
    y = task.training_targets(y_enc, net)
    return as_tensor(y, None if y.dtype == np.int64 else plan.dtype, plan.device)


def _hold_out(task, net, plan, config: FitConfig, X, y, y_enc, sw, seed: int):
    """Split off the early-stopping share; returns the training rows and a scorer."""
    stratify = y if task.stratify and y.ndim == 1 else None
    check_validation_split(config.validation_fraction, len(X), stratify)
    X, Xv, y_enc, _, sw, _, _, yv = train_test_split(
        X, y_enc, sw, y,
        test_size=config.validation_fraction, random_state=seed, stratify=stratify,
    )  # fmt: skip
    Xv = as_tensor(Xv, None, plan.device)  # raw: the network encodes it itself

    def score() -> float:
        return task.score(yv, net(Xv).cpu().numpy())

    return X, y_enc, sw, score


def fit_network(
    net, task, plan: ExecutionPlan, loss: LossFunctions, config: FitConfig,
    X: np.ndarray, y: np.ndarray, y_enc: np.ndarray, sw: np.ndarray, *,
    incremental: bool, seed: int, hooks, optimizer: FlatOptimizer | None,
    samples_seen: int = 0,
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
    hooks : object with ``begin()`` and ``end() -> bool``
    optimizer : FlatOptimizer or None
        The previous fit's optimizer (warm start, ``partial_fit``).
    samples_seen : int, default=0
        Training samples seen by the model's earlier fits (``t_``).

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
        )  # fmt: skip
    finally:
        net.freeze()  # eval mode, no gradients: what users call after fit


def _fit_unfrozen(net, task, plan, loss, config, X, y, y_enc, sw, *, incremental, seed, hooks,
                  optimizer, samples_seen):  # fmt: skip
    """``fit_network``'s work, on the unfrozen network."""
    score = None
    if config.early_stopping and not incremental:
        X, y_enc, sw, score = _hold_out(task, net, plan, config, X, y, y_enc, sw, seed)
    w = None if np.all(sw == 1.0) else as_tensor(sw, plan.dtype, plan.device)
    data = Data(_encoded(net, plan, X), _targets(task, net, plan, y_enc), w)
    settings = train_settings(config, len(X), incremental)
    rows = len(X) if settings.solver in FULL_BATCH_SOLVERS else settings.batch_size
    trained = net.inputs.trained_with(net.backbone)  # embeddings train too
    params = [p for p in trained.parameters() if p.requires_grad]
    objective = make_objective(plan.objective, trained, loss, params)
    with plan.threads(rows):
        return train(
            trained, objective, data, settings,
            optimizer=optimizer, validation_score=score,
            generator=torch.Generator().manual_seed(seed), hooks=hooks, plan=plan,
            samples_seen=samples_seen,
        )  # fmt: skip
