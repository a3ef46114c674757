"""The early-stopping rows of one network: the split a fit holds out, and the scorer
of held-out rows (that split's, or ``fit``'s given ``X_val``), R² or accuracy as
scikit-learn's early stopping scores them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from torchsk.training.devices import as_tensor
from torchsk.training.report import warn_unscored_split
from torchsk.training.sparse import dense_chunks, is_sparse_rows


def stratify_labels(y: np.ndarray, stratify: bool, fraction: float) -> np.ndarray | None:
    """The labels an early-stopping split (``fraction`` held out) is stratified by: a
    classifier's 1-D ``y`` (``stratify``), unless the split cannot put every class on
    both sides (a class of one row, or more classes than one side's rows); such a
    ``y`` is split unstratified, as ``MLPClassifier`` splits every multiclass ``y``."""
    if not stratify or y.ndim != 1:
        return None
    counts, n_val = np.unique(y, return_counts=True)[1], math.ceil(fraction * len(y))
    return None if counts.min() < 2 or min(n_val, len(y) - n_val) < len(counts) else y


def check_validation_split(validation_fraction: float, n_samples: int, stratify) -> None:
    """Refuse a split that leaves a side too small to train or score on: two samples
    to score (scikit-learn's rule: R² of one sample is NaN), and one per class on each
    side if stratified."""
    n_val = math.ceil(validation_fraction * n_samples)  # train_test_split's rule
    need = 1 if stratify is None else len(np.unique(stratify))
    if n_val < max(need, 2) or n_samples - n_val < need:
        # scikit-learn's words for the held-out side; the other side asks the opposite
        advice = (
            "validation set is too small. Increase 'validation_fraction' or the size"
            if n_val < max(need, 2)
            else "training set is too small. Lower 'validation_fraction' or increase the size"
        )
        raise ValueError(
            f"The {advice} of your dataset: "
            f"validation_fraction={validation_fraction} of {n_samples} "
            f"samples leaves {n_val} for validation and {n_samples - n_val} for training; "
            f"early stopping needs at least {max(need, 2)} to score and {need} to train "
            "(one per class). Or set early_stopping=False."
        )


def hold_out(task, net, plan, fraction: float, X, y, y_enc, sw, seed: int):
    """Split off the early-stopping share; returns the training rows and a scorer
    that weights the held-out rows as training does (scikit-learn >= 1.9 too)."""
    stratify = stratify_labels(y, task.stratify, fraction)
    check_validation_split(fraction, X.shape[0], stratify)
    X, Xv, y_enc, _, sw, swv, _, yv = train_test_split(
        X, y_enc, sw, y,
        test_size=fraction, random_state=seed, stratify=stratify,
    )  # fmt: skip
    if not swv.sum() > 0:  # no score: the engine judges the training loss instead
        warn_unscored_split()
    elif task.y_numeric and constant_targets(yv, swv):  # R² 0 whatever is predicted
        why = "have targets all equal (R² cannot score them)"
        warn_unscored_split(why, "Raise validation_fraction")
        swv = np.zeros_like(swv)  # unscored: as above (it had kept the first epoch)
    return X, y_enc, sw, scorer(task, net, plan, Xv, yv, swv)


def scorer(task, net, plan, Xv, yv, swv):
    """The score of ``net`` on validated ``Xv``, ``yv`` (as given) weighted by ``swv``."""
    swv = None if np.all(swv == 1.0) else swv
    if is_sparse_rows(Xv):  # densified a chunk at a time, for each score

        def outputs() -> np.ndarray:
            return torch.cat([net(x) for x in dense_chunks(Xv, plan.device)]).cpu().numpy()
    else:
        Xv = as_tensor(Xv, None, plan.device)  # raw: the network encodes it itself

        def outputs() -> np.ndarray:
            return net(Xv).cpu().numpy()

    def score() -> float:
        if swv is not None and not swv.sum() > 0:
            return math.nan  # nothing to score: the engine then ignores the split
        return task.score(yv, outputs(), sample_weight=swv)

    return score


def constant_targets(y, sw: np.ndarray) -> bool:
    """Whether every column of the regression targets ``y`` holds one value over the
    rows of positive weight ``sw``: R² cannot score a prediction of them (it is 0
    whatever the network predicts, 1 where exact), so early stopping on them would
    keep the first epoch's weights."""
    rows = np.asarray(y)
    rows = rows.reshape(len(rows), -1)[np.asarray(sw) > 0]  # none: equal, vacuously
    return not bool((rows != rows[:1]).any())
