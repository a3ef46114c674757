"""What one run of the training loop is told (``TrainSettings``) and what it
reports (``History``)."""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from torchsk.training.losses import LOSSES
from torchsk.training.optim import FlatOptimizer, make_optimizer

MINI_BATCH_SOLVERS = ("adam", "adamw", "sgd")


FULL_BATCH_SOLVERS = ("lbfgs", "rprop")


SOLVERS = MINI_BATCH_SOLVERS + FULL_BATCH_SOLVERS


# Data up to this size is copied in shuffled order once per epoch (contiguous batches);
# larger data is gathered batch by batch so that no second copy of X is made.
SMALL_DATA_BYTES = 64 * 2**20


@dataclass(frozen=True)
class LossUnits:
    """How a training loss, computed on the network's scaled target, reads in y's
    units: ``factor * loss + offset`` (``training.losses.Loss.y_units``). The identity
    for classification and for losses without a conversion.

    An ensemble's training loss sums its ``members``' losses (each member gets its own
    gradient so): ``of_members`` reports their mean, a loss in the loss's own units as
    a single network's (``loss_``, ``loss_curve_``)."""

    factor: float = 1.0
    offset: float = 0.0
    members: int = 1

    def __call__(self, loss: float) -> float:
        """One network's loss (or the ensemble's averaged output's) in y's units."""
        return self.factor * loss + self.offset

    def of_members(self, loss: float) -> float:
        """A training loss (an ensemble's: its members' sum) as the members' mean."""
        return self(loss / self.members)

    def to_training(self, loss: float) -> float:
        """``of_members``' inverse: a loss in y's units as training's (members' sum)."""
        return (loss - self.offset) / self.factor * self.members


def weighed_units(y_units, scale: np.ndarray, t: np.ndarray, sw: np.ndarray, outputs):
    """``y_units``' ``(factor, offset)`` for outputs of different ``scale``: each
    output's own, weighed by its loss at the trained weights (``outputs``:
    ``History.output_losses``, whose total says whether training sums the outputs'
    losses or takes their mean)."""
    per, total = np.asarray(outputs[0]), outputs[1]
    units = [y_units(scale[[j]], t[:, [j]], sw) for j in range(len(scale))]
    factors, offsets = np.array(units).T
    return float(factors @ per / per.sum()), float(offsets.sum() * total / per.sum())


@dataclass(frozen=True)
class TrainSettings:
    """How to train; names and meanings follow scikit-learn's ``MLPRegressor``.

    ``batch_size`` is already resolved to an int; full-batch solvers ignore it.
    ``min_batch_rows``: a last batch with fewer rows joins the one before (2 for a
    module with batch normalization, which cannot normalize one row). Each
    solver reads the settings scikit-learn's reads and ignores the others
    (``training.optim.make_optimizer``; ``max_fun``: L-BFGS). ``loss_units`` only
    converts the losses ``verbose`` prints: the stopping rules compare the losses as
    training computes them.
    """

    solver: str = "adam"
    learning_rate_init: float = 1e-3
    alpha: float = 1e-4
    batch_size: int = 200
    max_iter: int = 200
    tol: float = 1e-4
    n_iter_no_change: int | float = 10
    shuffle: bool = True
    verbose: bool = False
    learning_rate: str = "constant"
    power_t: float = 0.5
    momentum: float = 0.9
    nesterovs_momentum: bool = True
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    max_fun: int = 15000
    loss_units: LossUnits = LossUnits()
    # one alpha and one learning rate per member of a stacked ensemble whose members
    # are separate candidates (``estimators.search``); None: the scalars above
    member_alpha: tuple[float, ...] | None = None
    member_lr: tuple[float, ...] | None = None
    min_batch_rows: int = 1
    penalty_scale: float = 1.0  # ``penalty_scale``'s: alpha's weight per output

    def optimizer(self, flat: torch.Tensor) -> FlatOptimizer:
        """A new optimizer over ``flat`` for these settings (not L-BFGS)."""
        optimizer = make_optimizer(
            self.solver, flat, self.learning_rate_init,
            **{name: getattr(self, name) for name in OPTIMIZER_SETTINGS},
        )  # fmt: skip
        optimizer.made_for = self.optimizer_key()
        return optimizer

    def optimizer_key(self) -> tuple:
        """The settings an optimizer is made for, those its solver reads: a
        ``partial_fit`` after ``set_params`` changed one of them starts a new optimizer,
        so that the change takes effect (scikit-learn keeps its optimizer whatever
        changed, and a new ``learning_rate_init`` is ignored there); a change of a
        setting the solver does not read keeps Adam's moments or sgd's momentum."""
        used = SOLVER_SETTINGS.get(self.solver, ())
        return (self.solver, self.learning_rate_init, self.member_lr,
                *(getattr(self, name) for name in used))  # fmt: skip


# the settings the mini-batch optimizers read (scikit-learn's names)
OPTIMIZER_SETTINGS = (
    "learning_rate", "power_t", "momentum", "nesterovs_momentum", "beta_1", "beta_2", "epsilon",
)  # fmt: skip
#: those each solver reads (``training.optim.make_optimizer``)
SOLVER_SETTINGS = {
    "sgd": OPTIMIZER_SETTINGS[:4],
    "adam": OPTIMIZER_SETTINGS[4:],
    "adamw": OPTIMIZER_SETTINGS[4:],
}


@dataclass
class Stopping:
    """What scikit-learn's no-improvement rule remembers, which outlives one fit.

    ``MLPRegressor`` resets ``best_loss_``, its best validation score and
    ``_no_improvement_count`` only when it builds a new network: ``partial_fit`` calls
    and warm starts go on counting, so a run of ``partial_fit`` calls lowers an
    ``"adaptive"`` rate as one long fit would, and a warm start after convergence
    stops at once. The losses are in training's units (``TrainSettings``).
    ``on_score``: whether the count is of held-out scores (else training losses).
    """

    best_loss: float = math.inf
    best_score: float = -math.inf
    no_improvement: int = 0
    on_score: bool = False

    def resumed(self, on_score: bool) -> Stopping:
        """A copy for the next fit to go on from; a fit that judges on the other
        signal (early stopping switched on or off) starts afresh, where
        scikit-learn would fail."""
        if on_score != self.on_score:
            return Stopping(on_score=on_score)
        return replace(self)

    def update(self, loss: float, score: float, tol: float) -> bool:
        """Count an epoch as scikit-learn does (not beating the best by ``tol``
        counts); return whether its score is the best so far. A score that cannot
        judge (NaN: one held-out row, zero weights) lets the loss judge, and is never
        best."""
        best_loss, self.best_loss = self.best_loss, min(self.best_loss, loss)
        if not math.isfinite(score):
            self._count(loss > best_loss - tol)
            return False
        best, self.best_score = self.best_score, max(self.best_score, score)
        self._count(score < best + tol)
        return score > best

    def _count(self, no_improvement: bool) -> None:
        self.no_improvement = self.no_improvement + 1 if no_improvement else 0

    def to_state(self) -> dict:
        """Builtins, for the estimator's fitted state (pickles, skops)."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict | None) -> Stopping:
        """``to_state``'s inverse; None (a new network, a model saved before this
        was kept) gives a fresh count."""
        return cls(**state) if state else cls()


#: Whether Ctrl-C after an epoch keeps the epochs done, with a warning (a fit, as
#: scikit-learn's MLP keeps them), or ends the call (False: a search's stacked network,
#: whose candidates x folds would all have been scored cut short as the search went on)
KEEP_INTERRUPTED = ContextVar("KEEP_INTERRUPTED", default=True)


@contextlib.contextmanager
def interrupts_end_training():
    """Within it, Ctrl-C during training is re-raised (``KEEP_INTERRUPTED``)."""
    token = KEEP_INTERRUPTED.set(False)
    try:
        yield
    finally:
        KEEP_INTERRUPTED.reset(token)


@dataclass
class History:
    """What happened during training.

    ``best_loss`` is this fit's lowest loss; ``stopping``, the no-improvement rule's
    memory for the next fit (``Stopping``).
    ``stopped`` is one of ``"converged"``, ``"max_iter"``, ``"max_fun"`` (L-BFGS's
    function evaluations), ``"abnormal"`` (L-BFGS's other stops, such as a failed line
    search: ``solver_status`` holds scipy's ``(status, message)``), ``"diverged"``,
    ``"interrupted"``, ``"rose"`` (the loss ended well above its best).
    ``worse_than_constant``: ``(model loss, constant's loss)`` when the trained
    network fits its training data worse than the best constant prediction.
    ``members``: what cross-fitted members leave (``training.folds``), their best
    epochs and out-of-fold raw outputs, else None. ``diverged_members``: ``(diverged,
    members, kept)`` when members that stop on their own diverged (the others may
    have stopped otherwise: ``stopped`` says how; ``kept``: what they kept,
    ``report.MEMBERS_KEPT``'s key), else None; ``rose_members`` likewise, members that
    stopped with their loss risen well above its lowest (each back at its lowest-loss
    weights). ``alpha``: the L2 penalty the fit trained with (``"auto"`` resolved;
    members': their mean). ``output_losses``: with several outputs, ``(each output's
    loss, their total)`` at the trained weights (``training.report``), else None.
    ``measured``: False where a fit that rose or diverged kept weights without
    measuring them (streamed data, ``training.lowest``).
    """

    loss_curve: list[float] = field(default_factory=list)
    validation_scores: list[float] = field(default_factory=list)
    best_loss: float = math.inf
    stopping: Stopping = field(default_factory=Stopping)
    n_iter: int = 0
    t: int = 0
    stopped: str = "max_iter"
    worse_than_constant: tuple[float, float] | None = None
    members: dict | None = None
    diverged_members: tuple[int, int, str] | None = None
    rose_members: tuple[int, int] | None = None
    alpha: float | None = None
    output_losses: tuple[tuple[float, ...], float] | None = None
    measured: bool = True
    solver_status: tuple[int, str] | None = None


def rows_per_step(settings: TrainSettings, n: int) -> int:
    """The rows of ``n`` that one optimizer step reads: all of them for a full-batch
    solver (Rprop's epoch is one step), else a batch of at most ``n``."""
    return n if settings.solver in FULL_BATCH_SOLVERS else min(settings.batch_size, n)


def log_epoch(history: History, loss: float, n_samples: int, settings: TrainSettings) -> None:
    history.n_iter += 1
    history.t += n_samples
    history.loss_curve.append(loss)
    if settings.verbose:
        print(f"Iteration {history.n_iter}, loss = {settings.loss_units.of_members(loss):.8f}")


def stop_reason(hooks, history: History, judge: Stopping, optimizer,
                settings: TrainSettings) -> str:  # fmt: skip
    """Why to stop after this epoch (``"max_iter"``: go on).

    scikit-learn calls ``n_iter_no_change`` epochs without improvement convergence,
    unless the optimizer's schedule lowers the learning rate instead (``"adaptive"``),
    which starts the count again; a loss that ended well above this fit's best (a step
    size too large) did not converge but rose: ``"rose"``. With ``verbose``, prints
    scikit-learn's line for either.
    """
    if hooks.end(history):
        return "converged"  # a callback asked to stop
    if judge.no_improvement <= settings.n_iter_no_change:
        return "max_iter"
    lowered = not optimizer.trigger_stopping()
    if settings.verbose:
        print(_no_improvement_line(settings, judge.on_score, optimizer.lr if lowered else None))
    if lowered:
        judge.no_improvement = 0
        return "max_iter"
    last, best = history.loss_curve[-1], history.best_loss
    rose = not math.isfinite(judge.best_score) and last - best > max(settings.tol, 0.1 * abs(best))
    return "rose" if rose else "converged"


def _no_improvement_line(settings: TrainSettings, on_score: bool, lowered_to) -> str:
    """``MLPRegressor``'s verbose message: the fit stops, or (``lowered_to``: the new
    rate) an ``"adaptive"`` rate was divided by 5."""
    what = "Validation score" if on_score else "Training loss"
    line = (f"{what} did not improve more than tol={settings.tol:f} for "
            f"{settings.n_iter_no_change} consecutive epochs.")  # fmt: skip
    if lowered_to is not None:
        return f"{line} Setting learning rate to {lowered_to:f}"
    adaptive = settings.solver == "sgd" and settings.learning_rate == "adaptive"
    return f"{line} Learning rate too small. Stopping." if adaptive else f"{line} Stopping."


def penalty_scale(loss, n_outputs: int) -> float:
    """The L2 penalty's weight against a registry loss (named by ``loss``) whose
    per-sample value is the mean over ``n_outputs`` outputs: 1 / n_outputs, since
    scikit-learn's MLP differentiates their sum (its ``loss_`` reports their mean),
    so that ``alpha`` balances the fit and the penalty as there; 1 for the losses that
    sum over outputs (Poisson, the classifiers') and for a torch loss module."""
    registered = LOSSES.get(loss) if isinstance(loss, str) else None
    averages = getattr(getattr(registered, "per_sample", None), "averages_outputs", False)
    return 1 / n_outputs if averages else 1.0
