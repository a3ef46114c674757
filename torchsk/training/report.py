"""What a fit reports when it ends: why it stopped (scikit-learn's warnings), and
whether the trained network does worse on its training data than a constant."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from sklearn.exceptions import ConvergenceWarning

from torchsk._warnings import warn
from torchsk.training.batches import Data, row_weights, take_rows
from torchsk.training.losses import REGRESSION, LossFunctions
from torchsk.training.settings import History

if TYPE_CHECKING:  # only for annotations: training.fit imports this module
    from torchsk.training.fit import FitConfig

# what to change when training diverges, for a network or for some of its members
DIVERGED_ADVICE = (
    "Lower learning_rate_init, raise alpha or try another solver (e.g. solver='lbfgs')."
)


def diverged_advice(solver: str, unscaled: tuple[str, ...] = ()) -> str:
    """What to change after a divergence: for L-BFGS (which has no learning rate)
    other advice than for the mini-batch solvers; first, scaling switched off
    (``unscaled``: ``"input_scaling"``, ``"target_scaling"``), under which values far
    from 1 overflow the network."""
    advice = DIVERGED_ADVICE
    if solver == "lbfgs":
        advice = "Raise alpha, or try solver='adam' with a small learning_rate_init."
    if unscaled:
        names = " and ".join(f"{name}=None" for name in unscaled)
        advice = (
            f"With {names}, the network sees the values as given, and values far "
            f"from 1 overflow it: let torchsk scale them (the default). {advice}"
        )
    return advice


# scikit-learn's MLP starts its warnings so ("Stochastic Optimizer: Maximum iterations
# (200) reached ...", "lbfgs failed to converge after 5 iteration(s) ..."): a filter on
# its text catches torchsk's too
_SOLVER_PREFIX = {
    "adam": "Stochastic Optimizer:",
    "sgd": "Stochastic Optimizer:",
    "lbfgs": "lbfgs failed to converge after {n} iteration(s) (status=1):",
}


#: Sample weights averaging below this are named in warnings (the penalty's ``n``)
SMALL_WEIGHTS = 0.1

#: ``alpha`` over the mean weight beyond this is refused: float32 cannot hold the penalty
MAX_PULL = 1e30


def check_small_weights(total: float, n_rows: int, settings) -> None:
    """Warn where the training rows' weights (``class_weight`` included) average far
    below 1 (normalized to sum to 1, as AdaBoost's and many survey weights are): the
    penalty counts a weight of k as k samples, as scikit-learn's MLP does, so it then
    outweighs the data (a search's members: by the largest ``alpha`` among them).
    Raise ``ValueError`` where ``alpha`` over the mean weight exceeds ``MAX_PULL``,
    which float32 arithmetic cannot hold (weights of 1e-46 had raised a
    ZeroDivisionError or a torch overflow error).

    Parameters
    ----------
    total : float
        The training rows' total weight.
    n_rows : int
    settings : TrainSettings
        Its ``alpha`` (or ``member_alpha``).
    """
    alpha = max(settings.member_alpha or (settings.alpha,))
    mean = total / max(n_rows, 1)
    if alpha > 0 and mean < SMALL_WEIGHTS:
        message = (
            f"The sample weights (class_weight included) average {mean:.3g} over the "
            "training rows: the L2 penalty counts a weight of k as k samples (as "
            "scikit-learn's MLP does, and so does alpha='auto'), so "
            f"alpha={alpha:.3g} pulls {1 / mean:.3g} times harder than on unweighted "
            "rows. Scale the weights to average 1 (their ratios alone weigh the loss)"
        )
        if alpha / mean > MAX_PULL:
            raise ValueError(f"{message}, or set alpha=0: the network would be all zeros.")
        warn(f"{message}.")


def warn_about(history: History, config: FitConfig, incremental: bool,
               unscaled: tuple[str, ...] = ()) -> None:  # fmt: skip
    """The warnings a fit that ended as ``history`` says deserves (``unscaled``: as
    ``diverged_advice`` reads it)."""
    if history.worse_than_constant is not None:
        model, constant = history.worse_than_constant
        warn(
            f"The fitted network's training loss ({model:.4g}) is worse than that of "
            f"predicting a constant ({constant:.4g}): the model is no better than the "
            "loss's best constant (the mean, median or quantile of y, or the class "
            "frequencies). Try another learning_rate_init, more "
            "max_iter, a smaller alpha or network, or solver='lbfgs'.",
            ConvergenceWarning,
        )
    if history.diverged_members is not None:
        diverged, members, kept = history.diverged_members
        warn(
            f"Training diverged (non-finite loss) for {diverged} of {members} members; "
            f"each kept {MEMBERS_KEPT[kept]}. {diverged_advice(config.solver, unscaled)}",
            ConvergenceWarning,
        )
    if history.rose_members is not None:
        rose, members = history.rose_members
        warn(
            f"Training stopped for {rose} of {members} members because their loss rose "
            "from its best instead of converging; each kept, of its lowest-loss and "
            "last weights, those of the lowest training loss. Lower learning_rate_init "
            "or try another solver (e.g. solver='lbfgs').",
            ConvergenceWarning,
        )
    message = _stop_message(history, config, incremental, unscaled)
    if message is not None:
        warn(*message)


#: what members that diverged kept (``History.diverged_members``), by their rule
MEMBERS_KEPT = {
    "lowest": "the weights of its lowest training loss among its lowest-loss epoch's "
    "and its last finite ones",
    "best": "its best epoch's weights (its last finite ones without a scored epoch)",
}


#: what a fit whose loss rose kept, measured or not (``History.measured``)
ROSE_KEPT = {
    True: "of its lowest-loss and last weights, those of the lowest training loss",
    False: "the weights from its lowest-loss iteration (streamed data is not read again)",
}


def _stop_message(history: History, config: FitConfig, incremental: bool, unscaled=()):
    """``(text, category)`` of the warning for how training stopped, or None."""
    n = history.n_iter
    if history.stopped == "diverged":
        best = history.stopping.best_score
        kept = "of the lowest training loss (its lowest-loss and last finite iterations')"
        if not history.measured:
            kept = "that began its last finite iteration (streamed data is not read again)"
        if n == 0:
            kept = "it started from"
        if math.isfinite(best):  # early stopping keeps its best epoch (scikit-learn's rule)
            kept = f"of its best validation score ({best:.4g})"
        return (
            f"Training diverged (non-finite loss) after {n} iterations; the weights "
            f"{kept} were kept. {diverged_advice(config.solver, unscaled)}",
            ConvergenceWarning,
        )
    if history.stopped == "rose":
        return (
            f"Training stopped after {n} iterations because the loss rose from its best "
            f"({history.best_loss:.4g}) to {history.loss_curve[-1]:.4g} instead of "
            f"converging; {ROSE_KEPT[history.measured]} were kept. Lower "
            "learning_rate_init or try another solver (e.g. solver='lbfgs').",
            ConvergenceWarning,
        )
    if history.stopped == "interrupted":
        return (
            f"Training interrupted after {n} iterations; the model keeps the best weights so far.",
            UserWarning,
        )
    if history.stopped == "abnormal":  # scikit-learn's text first, as its MLP warns
        status, message = history.solver_status
        return (
            f"lbfgs failed to converge after {n} iteration(s) (status={status}):\n{message}\n"
            "The line search found no lower loss along L-BFGS's direction: the weights "
            "of its last iteration (with none, the initial ones) were kept. A loss whose "
            "gradient does not match its value (a custom loss module) or a tol below what "
            "the dtype resolves does this; check the loss, raise tol, or try solver='adam'.",
            ConvergenceWarning,
        )
    if history.stopped == "max_fun":
        return (
            f"lbfgs failed to converge after {n} iteration(s) (status=1): maximum function "
            f"evaluations (max_fun={config.max_fun}) reached and the optimization hasn't "
            "converged yet.",
            ConvergenceWarning,
        )
    # partial_fit with lbfgs runs a whole L-BFGS fit, which can end unconverged
    if history.stopped == "max_iter" and (not incremental or config.solver == "lbfgs"):
        prefix = _SOLVER_PREFIX.get(config.solver, config.solver + ":").format(n=n)
        return (
            f"{prefix} Maximum iterations "
            f"({config.max_iter}) reached and the optimization hasn't converged yet.",
            ConvergenceWarning,
        )
    return None


CHECK_ROWS = 65536


def worse_than_constant(task, trained, loss: LossFunctions, data: Data, targets=None):
    """``(model loss, constant's loss)`` on the training data when the trained
    module (the backbone, after any trainable input encoders) does worse than the
    task's best constant output, else None; and, for several outputs, each output's
    loss and all of them together (``History.output_losses``), else None. The
    constant is the best on ``data``, or on ``targets`` where given (a streamed fit's
    sample of every block's ``Data``, ``data`` being one block: a block of one row,
    or of one class, had its own constant beat a good model).

    One inference pass after training over the (statically encoded) training rows, at
    most ``CHECK_ROWS`` of them evenly spaced: an estimate of both losses on the same
    rows is enough to tell, and a pass over a million rows cost a second copy of X in
    peak memory (the allocator's heap kept the batches' activations).
    """
    n = len(data.X)
    every = -(-n // CHECK_ROWS)  # ceil: at most CHECK_ROWS
    rows = slice(None, None, every)
    y, w = data.y[rows], None if data.w is None else row_weights(data.w[rows])
    # 8192 of the checked rows at a time (sparse rows: a chunk of a few MB, densified)
    per = 8192 * every if isinstance(data.X, torch.Tensor) else data.X.chunk_rows * every
    chunks = [slice(i, min(i + per, n), every) for i in range(0, n, per)]
    with torch.inference_mode():
        trained.eval()
        z = torch.cat([trained(take_rows(data.X, r)) for r in chunks])
        model = _mean(loss.per_sample(z, y), w)
        constant = min(
            _mean(loss.per_sample(torch.as_tensor(z0).to(z.dtype).to(z.device).expand_as(z), y), w)
            for z0 in task.constant_outputs(
                (targets or data).y.cpu().numpy(), _weights(targets or data)
            )
        )
        outputs = _output_losses(loss, z, y, w, model) if task.kind == REGRESSION else None
    # a margin for rounding: an exact constant target is fitted exactly by both
    if model > constant + 1e-9 * max(abs(constant), 1e-12):
        return (model, constant), outputs
    return None, outputs


def _output_losses(loss: LossFunctions, z, y, w, model: float):
    """Each output's loss and their total, as training reduces them (a mean or a
    sum over outputs): how to read the total in y's units when the outputs' scales
    differ (``estimators.tasks``). None for one output."""
    k = z.shape[1]
    if k < 2:
        return None
    if not loss.row_wise:  # a user's module loss may mix rows: one call per output
        return tuple(_mean(loss.per_sample(z[:, [j]], y[:, [j]]), w) for j in range(k)), model
    # the outputs as rows of one column: a call per group of outputs, not one per output
    # (200 outputs: 0.64 s against 8.2 s), in groups of ~1M values (all at once, the
    # stacked copies of z and y had added 400 MB to a fit's peak memory)
    per_group = max(1, OUTPUT_LOSS_VALUES // len(z))
    means = []
    for j in range(0, k, per_group):
        zj, yj = z[:, j : j + per_group], y[:, j : j + per_group]
        per = loss.per_sample(zj.T.reshape(-1, 1), yj.T.reshape(-1, 1)).view(zj.shape[1], -1)
        means += (per.mean(dim=1) if w is None else (per * w).sum(dim=1) / w.sum()).tolist()
    return tuple(means), model


OUTPUT_LOSS_VALUES = 2**20  # values of z per call of _output_losses' loss


def _weights(data: Data):
    return None if data.w is None else row_weights(data.w).cpu().numpy()


def _mean(per_sample: torch.Tensor, w: torch.Tensor | None) -> float:
    return float(per_sample.mean() if w is None else (per_sample * w).sum() / w.sum())


def warn_unscored_split(
    why: str = "all have zero sample_weight", advice: str = "Give them weight"
) -> None:
    """An early-stopping split whose held-out rows all weigh 0, or whose targets R²
    cannot score: said, not refused (a batched search's members stop so too,
    ``training.members``)."""
    warn(
        f"The early-stopping split's held-out rows {why}, so no epoch is scored "
        "(validation_scores_ NaN): training stops on its loss, as without early "
        f"stopping. {advice}, or pass fit's X_val and y_val."
    )
