"""The early-stopping side of a fit whose members have rows of their own
(``training.fit``): which rows each member stops on, and how they are scored.

A batched search's split network stands for separate fits: with ``early_stopping``
its members hold out the rows that their separate fits hold out, and train, as those
fits do, on the rest alone, in the order of the split (``split_off``), so that their
mini-batches are the separate fits' batches.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from sklearn.utils import _safe_indexing

from torchsk.training.devices import as_tensor
from torchsk.training.member_scores import MemberScores
from torchsk.training.members import MemberRows
from torchsk.training.settings import FULL_BATCH_SOLVERS


def given_rows(X, y: np.ndarray, y_enc: np.ndarray, sw: np.ndarray, members: MemberRows,
               config) -> tuple:  # fmt: skip
    """The rows a fit of ``members`` trains on: all of them, or one split's network's
    kept rows (``split_off``; its held-out rows second, else None), and ``members``
    over them.

    Raises
    ------
    ValueError
        Early-stopping rows with a full-batch solver: nothing would score them (the
        batched search refuses those solvers before; this guards its other callers).
    """
    if members.validation is not None and config.solver in FULL_BATCH_SOLVERS:
        raise ValueError(
            f"Members with early-stopping rows need a mini-batch solver, not "
            f"solver={config.solver!r}."
        )
    if members.split is None:
        return (X, y, y_enc, sw), None, members
    return split_off(X, y, y_enc, sw, members)


def split_off(X, y: np.ndarray, y_enc: np.ndarray, sw: np.ndarray, members: MemberRows):
    """One split's rows cut at its early-stopping split (``members.split``).

    Returns
    -------
    train : tuple
        ``(X, y, y_enc, sw)`` of the rows the members train on, in the split's order.
    held : tuple
        ``(X, y, y_enc, sw)`` of the rows they hold out.
    members : MemberRows
        ``members`` over the training rows, their ``validation`` over the held rows.
    """
    fit, held = members.split

    def rows(index):
        return tuple(_safe_indexing(a, index) for a in (X, y, y_enc, sw))

    members = replace(
        members, train=members.train[fit], validation=members.validation[held], split=None
    )
    return rows(fit), rows(held), members


def early_stopping_rows(task, net, plan, y, y_enc, sw: np.ndarray, mask):
    """Members' early-stopping rows ``mask`` ``(rows, members)``: their weights (as
    training weights the rows) and their scores, R² or accuracy as a separate fit's
    validation split gives them; ``(None, None)`` without early stopping."""
    if mask is None:
        return None, None
    weights = sw[:, None] * mask
    regression = not task.stratify  # a classifier's early-stopping split is stratified
    targets = np.asarray(y, dtype=np.float64).reshape(len(y), -1) if regression else y_enc
    scores = MemberScores(
        regression, torch.as_tensor(np.asarray(targets), device=plan.device),
        torch.as_tensor(weights, dtype=torch.float64, device=plan.device), mask.sum(0),
        net.from_raw,
    )  # fmt: skip
    return as_tensor(weights, plan.dtype, plan.device), scores


def oof_scorer(task, net, y: np.ndarray, sw: np.ndarray):
    """The task's score (R², accuracy) of raw out-of-fold outputs against ``y``."""
    weights = None if np.all(sw == 1.0) else sw

    def score(z: torch.Tensor) -> float:
        return task.score(y, net.from_raw(z).cpu().numpy(), sample_weight=weights)

    return score
