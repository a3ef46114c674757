"""Held-out scores of many members at once: each member's R² or accuracy on its own
early-stopping rows, as a separate fit's scorer gives it (``training.holdout.scorer``)
on its validation split, for every member in one pass over the rows.

The members' early stopping judges them by these scores after every epoch
(``training.members.MemberGuard``). One scikit-learn call per member and epoch cost
five times the training of a small search, so the sums are taken here, a chunk of rows
at a time (memory bounded), in float64, with scikit-learn's formulas: ``r2_score``'s
uniform average over outputs (an output of constant targets scores 1.0 when predicted
exactly, else 0.0; fewer than two rows: NaN) and ``accuracy_score``'s weighted mean
(the whole row right, for multilabel targets). A member whose rows weigh 0 in total
scores NaN, as a separate fit's split does.
"""

from __future__ import annotations

import numpy as np
import torch

from torchsk.training.holdout import constant_targets


class MemberScores:
    """Accumulates each member's score over chunks of its early-stopping rows.

    Parameters
    ----------
    regression : bool
        R² of the predictions (else accuracy of the labels from the logits).
    targets : torch.Tensor
        Every row's target: ``(rows, outputs)`` values in y's units (regression),
        class indices ``(rows,)`` or a 0/1 multilabel matrix ``(rows, labels)``.
    weights : torch.Tensor
        ``(rows, members)`` float64: each member's weight of each row, 0 off its
        early-stopping rows.
    counts : ndarray of int
        Each member's number of early-stopping rows (zero-weight ones included).
    from_raw : callable
        The network's output from raw member outputs (link, target scaling).
    """

    def __init__(self, regression: bool, targets, weights, counts, from_raw) -> None:
        self.regression, self.targets, self.weights = regression, targets, weights
        self.from_raw, self.counts = from_raw, counts
        self.totals = weights.sum(0)  # (members,)
        if regression:  # each member's weighted total sum of squares, once
            # targets all equal where it weighs rows: R² cannot judge it (a separate
            # fit's split of them is unscored too, training.holdout.hold_out)
            host = targets.cpu().numpy()
            self.flat = np.array([constant_targets(host, w) for w in weights.T.cpu().numpy()])
            mean = (weights.T @ targets) / self.totals[:, None]
            self.squares = torch.stack(
                [
                    (w[:, None] * (targets - m) ** 2).sum(0)
                    for w, m in zip(weights.T, mean, strict=True)
                ]
            )
        self.start()

    def start(self) -> None:
        """Begin an epoch's sums."""
        k = self.weights.shape[1]
        shape = (k, self.targets.shape[1]) if self.regression else (k,)
        self.sums = torch.zeros(shape, dtype=torch.float64, device=self.weights.device)

    def add(self, members, z: torch.Tensor, rows: torch.Tensor) -> None:
        """Add members ``members``' raw outputs ``z`` ``(members, rows, outputs)`` on
        ``rows``."""
        w = self.weights[rows][:, members].T  # (members, rows)
        out = self.from_raw(z).to(torch.float64)
        y = self.targets[rows]
        if self.regression:
            self.sums[members] += (w[..., None] * (y[None] - out) ** 2).sum(1)
            return
        self.sums[members] += (w * _right(out, y)).sum(1)

    def take(self) -> np.ndarray:
        """Each member's score over the rows added since ``start`` (NaN: none to
        judge by)."""
        totals = self.totals.cpu().numpy()
        if not self.regression:
            scores = self.sums.cpu().numpy() / np.where(totals > 0, totals, np.nan)
        else:
            errors, squares = self.sums.cpu().numpy(), self.squares.cpu().numpy()
            flat = squares == 0  # constant targets: exact, or nothing explained
            r2 = np.where(
                flat, np.where(errors == 0, 1.0, 0.0), 1 - errors / np.where(flat, 1, squares)
            )
            judged = (totals > 0) & (self.counts >= 2) & ~self.flat
            scores = np.where(judged, r2.mean(1), np.nan)
        self.start()
        return scores


def _right(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Whether each member's labels from logits ``out`` ``(members, rows, outputs)``
    match the targets: the largest logit, a positive one for one sigmoid logit, every
    label of a multilabel row."""
    if y.ndim == 2:  # multilabel: the whole row
        return ((out > 0) == y.bool()[None]).all(-1).to(torch.float64)
    labels = (out[..., 0] > 0).long() if out.shape[-1] == 1 else out.argmax(-1)
    return (labels == y[None]).to(torch.float64)
