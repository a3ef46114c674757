"""The ``"auto"`` hyperparameters' values: the batch size and ``alpha`` a fit resolves
them to from its solver and its rows (chosen on ``benchmarks/compare.py``'s suite,
``docs/defaults.md``)."""

from __future__ import annotations

from torchsk._warnings import warn
from torchsk.training.settings import FULL_BATCH_SOLVERS

# Defaults chosen on benchmarks/compare.py's suite (docs/comparison.md): smaller batches
# than scikit-learn's 200 (more steps per epoch on small data) beat its default there.
AUTO_BATCH_SIZE = 64
# ... for the default solver. solver="sgd" keeps scikit-learn's 200: its code comes with
# a learning_rate_init tuned for those batches (plot_mnist_filters' sgd at 0.1: test
# accuracy 0.756 with batches of 64, 0.990 with 200; MLPClassifier 0.992).
AUTO_BATCH_SIZE_SGD = 200

# alpha="auto" is AUTO_ALPHA_ROWS / n_samples, clipped to [AUTO_ALPHA_FLOOR, 1] (resolve_alpha)
AUTO_ALPHA_ROWS = 400
AUTO_ALPHA_FLOOR = 0.3


def resolve_batch_size(solver: str, batch_size: int | str, n_samples: int) -> int:
    """``batch_size``, with ``"auto"`` resolved for ``solver``, clipped to ``n_samples``
    (with a warning for a mini-batch solver, as scikit-learn's MLP warns)."""
    if batch_size == "auto":
        return min(AUTO_BATCH_SIZE_SGD if solver == "sgd" else AUTO_BATCH_SIZE, n_samples)
    if batch_size > n_samples and solver not in FULL_BATCH_SOLVERS:
        warn(
            f"Got batch_size={batch_size} larger than the {n_samples} "
            "samples; it is clipped to the sample count."
        )
    return min(batch_size, n_samples)


def auto_alpha_step(solver: str, batch_size: int, n_samples: int, weight: float) -> float:
    """How many times the default step's rows a step of ``solver`` on ``n_samples``
    rows penalises over: its batch (at most ``n_samples``) over the default solver's
    (``min(AUTO_BATCH_SIZE, n_samples)``), or for a full-batch solver all the rows'
    ``weight`` over ``min(AUTO_BATCH_SIZE, weight)`` (a row of weight k counts k
    times, as in ``resolve_alpha``).

    Each step adds ``0.5 * alpha * ||W||² / batch`` to its batch's mean loss (as
    scikit-learn's MLP does), so the penalty's strength is ``alpha / batch``:
    ``"auto"``'s values were measured with Adam's default batches, and keep their
    strength on other batches scaled by this ratio (measured on the comparison
    suite's regressions, ``docs/defaults.md``: on batches of 16 it had pulled four
    times as hard, MASS Boston 0.769 R² against scikit-learn's 0.856; L-BFGS on
    CPS1985's 427 training rows had overfit, 0.153 against 0.357 now). A mini-batch
    step counts rows (a weighted fit's defaults resolve as before), a full-batch step
    weight (weights of 2 are rows repeated)."""
    if solver in FULL_BATCH_SOLVERS:
        return weight / min(AUTO_BATCH_SIZE, weight) if weight > 0 else 1.0
    return min(batch_size, n_samples) / min(AUTO_BATCH_SIZE, n_samples)


def resolve_alpha(alpha: float | str, n_samples: float, step: float = 1.0) -> float:
    """``alpha``, with ``"auto"`` resolved to ``AUTO_ALPHA_ROWS / n_samples`` clipped to
    ``[AUTO_ALPHA_FLOOR, 1]``, where a sample of weight k counts k times (as in the
    penalty, ``training.loop``), times ``step`` (``auto_alpha_step``: the same strength
    per row on another batch size or solver).

    scikit-learn's penalty adds ``0.5 * alpha * ||W||² / batch`` to each batch's mean
    loss, so a fixed ``alpha`` pulls as hard on 300 rows as on 20,000, where the small
    table needs it more. Measured on the comparison suite (``docs/comparison.md``): 1.0
    instead of 0.3 lifted the small noisy regressions (diabetes +0.05 R², CPS1985
    +0.06); below 0.3 the narrow large tables gained a little (txhousing +0.016 at
    0.06) but the wide one with embeddings overfit (loans 0.447 -> 0.370), hence the
    floor.
    """
    if alpha != "auto":
        return alpha
    if n_samples <= 0:
        return step  # all-zero weights: nothing trains (the engine refuses them)
    return min(1.0, max(AUTO_ALPHA_FLOOR, AUTO_ALPHA_ROWS / n_samples)) * step
