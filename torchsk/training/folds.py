"""Cross-fitted members: ``member_rows="folds"``.

The training rows are split into as many folds as there are members; member ``m``
trains on every fold but fold ``m``, which it holds out. So every row trains all
members but one, none is lost to a validation split (as bagging over folds: TabArena
fits every model so), and each member has held-out rows of its own:

- each member stops on its own, as a separate fit on its rows would
  (``training.members.MemberGuard``): on its training loss or, with early stopping,
  on its score (R², accuracy) on its fold, keeping its own best epoch. Its stopping
  point never reads its fold's targets through the other members' losses;
- for a validation score for free (with early stopping slightly optimistic): each
  row's prediction by the member that did not train on it (the out-of-fold
  predictions).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold

from torchsk._warnings import quiet, warn
from torchsk.training.batches import Data
from torchsk.training.holdout import constant_targets
from torchsk.training.member_outputs import held_out_outputs
from torchsk.training.members import MemberGuard


def cross_fitted_rows(
    n_members: int, y: np.ndarray, sw: np.ndarray, *, stratify: bool, seed: int,
    early_stopping: bool, class_weighted: bool = False, r2: bool = False,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Each training row's fold, and the per-member sample weights ``(rows, members)``
    (``sw``, 0 on a member's fold; ``class_weighted``: ``sw`` includes a classifier's
    ``class_weight``, which errors then name; ``r2``: folds are scored by R²).

    Raises
    ------
    ValueError
        Fewer than two rows per member, or a member whose training rows (with
        ``early_stopping``: or whose fold) all weigh 0: its loss there would be 0 / 0,
        nothing to learn from or stop on; with ``r2``, a fold whose targets are all
        equal (R² would score every epoch 0).
    """
    folds = assign_folds(n_members, y, stratify, seed)
    weights = member_weights(sw, folds, n_members)
    held = np.bincount(folds, weights=sw, minlength=n_members)
    for m in range(n_members):
        if weights[:, m].sum() <= 0:
            why = "training rows all have zero sample_weight{}: it has nothing to learn from"
        elif early_stopping and held[m] <= 0:
            why = "fold's rows all have zero sample_weight{}: it has nothing to stop on"
        elif early_stopping and r2 and constant_targets(y, np.where(folds == m, sw, 0.0)):
            why = "fold's targets are all equal: R² cannot score it (it has nothing to stop on)"
        else:
            continue
        # a classifier's weights include class_weight's, which may be the zeros' cause
        weighed = " (times class_weight)" if class_weighted else ""
        raise ValueError(f"member_rows='folds': member {m}'s {why.format(weighed)}.")
    return folds, weights


def assign_folds(n_members: int, y: np.ndarray, stratify: bool, seed: int) -> np.ndarray:
    """The fold (the member holding it out) of each training row.

    Raises
    ------
    ValueError
        Fewer than two rows per member.
    """
    n = y.shape[0]  # a sparse multilabel y has no len
    if n < 2 * n_members:
        raise ValueError(
            f"member_rows='folds' splits the rows into n_ensemble={n_members} folds, "
            f"which needs at least {2 * n_members} samples; got {n} sample{'s' * (n != 1)}."
        )
    labels = y if stratify and y.ndim == 1 else None
    folds = np.empty(n, dtype=np.int64)
    # a class rarer than the folds is still spread over as many as it has rows, and the
    # others stay balanced (plain KFold for all, as before, had put both rows of a
    # 2-row class in one fold: its member never saw the class); StratifiedKFold
    # refuses only where every class is rarer than the folds
    classes, counts = (None, None) if labels is None else np.unique(labels, return_counts=True)
    if counts is not None and counts.max() < n_members:  # StratifiedKFold refuses
        folds = _dealt(labels, n_members, seed)
    else:
        splitter = (
            KFold(n_members, shuffle=True, random_state=seed)
            if labels is None
            else StratifiedKFold(n_members, shuffle=True, random_state=seed)
        )
        # StratifiedKFold's own warning names its n_splits, which the user never set: ours
        with quiet("The least populated class in y", UserWarning):
            for m, (_, held_out) in enumerate(splitter.split(np.zeros(n), labels)):
                folds[held_out] = m
    if counts is not None and counts.min() < n_members:
        _warn_rare_classes(labels, folds, n_members, classes, counts)
    elif stratify and y.ndim == 2:
        _warn_one_sided_labels(y, folds, n_members)
    return folds


def _warn_one_sided_labels(y, folds: np.ndarray, n_members: int) -> None:
    """Multilabel y (folds by ``KFold``): say how many members train on only one value
    of some label that has both (its positives all in their fold: they never learn it)."""
    positives = np.asarray(y.sum(axis=0), dtype=float).ravel()
    both = (positives > 0) & (positives < y.shape[0])
    lacking = 0
    for m in range(n_members):
        rows = folds != m
        own = np.asarray(y[rows].sum(axis=0), dtype=float).ravel()
        lacking += bool((both & ((own == 0) | (own == rows.sum()))).any())
    if lacking:
        warn(
            f"member_rows='folds': {lacking} of the n_ensemble={n_members} members train "
            "on rows where some label of y is all 0 or all 1 (its other value lies only "
            "in their fold): they never learn that label."
        )


def _dealt(labels: np.ndarray, n_members: int, seed: int) -> np.ndarray:
    """Folds for classes all rarer than the folds: the rows, shuffled and grouped by
    class, dealt round the folds, so a class of c rows lies in c folds and the folds'
    sizes differ by at most one (plain KFold had put both rows of a 2-row class in one
    fold: its member never trained on the class)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    folds = np.empty(len(labels), dtype=np.int64)
    folds[order] = (np.arange(len(labels)) + rng.integers(n_members)) % n_members
    return folds


def _warn_rare_classes(labels: np.ndarray, folds: np.ndarray, n_members: int,
                       classes: np.ndarray, counts: np.ndarray) -> None:  # fmt: skip
    """Say how many members' folds lack a class rarer than the members (their held-out
    score never sees it); ``classes`` and ``counts``: ``labels``' ``np.unique``."""
    rare = classes[counts < n_members]
    lacking = sum(not np.isin(rare, labels[folds == m]).all() for m in range(n_members))
    single = " (a member that holds out a class's only row never trains on it)"
    warn(
        f"member_rows='folds': {len(rare)} class(es) of y have fewer rows than the "
        f"n_ensemble={n_members} members (the rarest: {counts.min()}), so {lacking} "
        "member(s) hold out no row of some class: their held-out score (early "
        f"stopping, oof_score_) never sees it{single if counts.min() == 1 else ''}."
    )


def member_weights(sw: np.ndarray, folds: np.ndarray, n_members: int) -> np.ndarray:
    """Per-member sample weights ``(rows, members)``: ``sw``, 0 on a member's fold."""
    return sw[:, None] * (folds[:, None] != np.arange(n_members))


def fold_record(trained, data: Data, folds: np.ndarray, guard: MemberGuard) -> dict:
    """What the estimator records of cross-fitted members (each back at its own best
    epoch under early stopping): their best epochs, and the out-of-fold raw outputs."""
    best = guard.best_epochs.tolist() if guard.keeps_best else None
    return {"best_epochs": best, "oof_raw": out_of_fold(trained, data, folds)}


@torch.no_grad()
def out_of_fold(trained, data: Data, folds: np.ndarray) -> torch.Tensor:
    """Each row's raw output by the member that held it out: ``(rows, outputs)``."""
    trained.eval()
    return held_out_outputs(trained, data.X, folds)
