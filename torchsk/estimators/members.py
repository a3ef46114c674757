"""``member_rows="folds"`` at the estimator: what it refuses, and what it records
(a mixin of ``BaseTorchEstimator``; the training is ``training.folds``)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import is_regressor

from torchsk.estimators.fitdata import InMemoryFit


class CrossFittedMembers:
    """Checks and fitted attributes of cross-fitted members."""

    def _check_member_rows(self, source, *, first: bool, incremental: bool,
                           validated: bool) -> None:  # fmt: skip
        """Refuse ``member_rows="folds"`` where members cannot have rows of their own
        (before anything is read)."""
        if self.member_rows != "folds":
            return
        why = None
        if self.n_ensemble < 2 or self.module is not None:
            why = "needs the built-in ensemble (n_ensemble >= 2, module=None)"
        elif incremental:
            why = "is for fit: partial_fit trains every member on every row"
        elif not first:
            why = (
                "needs a fresh fit: a warm start would train members on rows they "
                "held out before (set warm_start=False)"
            )
        elif self.solver in ("lbfgs", "rprop") or (
            self.solver == "sgd" and self.learning_rate == "adaptive"
        ):  # one line search, step size or rate for all would tie each member to every fold
            why = (
                "trains members apart only with mini-batch solvers and a fixed rate "
                f"schedule, not solver={self.solver!r}"
                + (" with learning_rate='adaptive'" if self.solver == "sgd" else "")
            )
        elif validated:
            why = "holds out each member's fold for early stopping; X_val is not used"
        elif source is not InMemoryFit:  # nor SparseFit, a subclass
            why = "needs dense rows in memory (not sparse X, a Dask collection or batches)"
        if why:
            raise ValueError(f"member_rows='folds' {why}.")

    def _record_members(self, members: dict | None, y, sample_weight) -> None:
        """Cross-fitted members' best epochs and out-of-fold predictions (``member_rows
        ="folds"``); the attributes are removed otherwise (a refit without folds)."""
        for name in ("best_epochs_", "oof_prediction_", "oof_score_"):
            self.__dict__.pop(name, None)
        if members is None:
            return
        if members["best_epochs"] is not None:
            self.best_epochs_ = list(members["best_epochs"])
        with torch.inference_mode():
            out = self.module_.from_raw(members["oof_raw"]).cpu().numpy().astype(np.float64)
        float32 = is_regressor(self) and getattr(self, "_float32_fit", False)
        if float32:  # as predict gives the rows, and scored so: oof_score_ is the
            # score of oof_prediction_ (the rounding moves R² where y sits on an offset)
            out = out.astype(np.float32).astype(np.float64)
        predictions = self._predictions(out)
        self.oof_prediction_ = predictions.astype(np.float32) if float32 else predictions
        with np.errstate(over="ignore", invalid="ignore"):  # diverged members: warned of
            self.oof_score_ = float(self._task.score(y, out, sample_weight=sample_weight))
        if self.validation_scores_ is not None:  # early stopping on the folds
            # the kept model's held-out score, every member at its own best epoch: not
            # an entry of validation_scores_, each of which scores one epoch of all
            self.best_validation_score_ = self.oof_score_
            loss, _, units = self._reported_bests  # not a user's edit (_resumed_stopping)
            self._reported_bests = (loss, self.oof_score_, units)
