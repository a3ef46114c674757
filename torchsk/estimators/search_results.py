"""What a batched search reports (``estimators.search``): ``cv_results_`` in
``GridSearchCV``'s layout, and the scorers' stand-in for one member."""

from __future__ import annotations

import warnings
from inspect import signature

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.base import is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.utils.metaestimators import available_if

from torchsk.estimators.base import BaseTorchEstimator, _probabilities
from torchsk.estimators.selection import StandIn, member_outputs


class MemberOutputs(StandIn):
    """A scorer's stand-in for one member: ``predict`` (and the classifier's
    ``predict_proba``, ``decision_function``) return that member's outputs, computed
    beforehand for the rows being scored (``X``), else computed for the rows given (a
    scorer that predicts on something else)."""

    def __init__(self, est: BaseTorchEstimator, member: int, X, out: torch.Tensor) -> None:
        self.est, self.member, self.X, self.out = est, member, X, out

    def _outputs(self, X) -> torch.Tensor:
        return self.out if X is self.X else member_outputs(self.est, X)[self.member]

    def _classifier(self) -> bool:
        return is_classifier(self.est)

    def predict(self, X):
        return self.est._predictions(self._outputs(X).numpy())

    def score(self, X, y, sample_weight=None):
        """The estimator's own score (R², accuracy) of these outputs."""
        return self.est._task.score(y, self._outputs(X).numpy(), sample_weight=sample_weight)

    @available_if(_classifier)
    def predict_proba(self, X):
        return _probabilities(self.est.module_.head, self._outputs(X)).numpy()

    @available_if(_classifier)
    def decision_function(self, X):
        return self.est._task.decision(self._outputs(X).numpy())


def cv_results(candidates, scores, fit_times, score_times) -> dict:
    """``cv_results_`` in ``GridSearchCV``'s layout."""
    results = {}
    for name, times in (("fit_time", fit_times), ("score_time", score_times)):
        results[f"mean_{name}"], results[f"std_{name}"] = times.mean(1), times.std(1)
    for name in sorted({k for c in candidates for k in c}):
        results[f"param_{name}"] = _param_column([c.get(name, _MISSING) for c in candidates])
    results["params"] = candidates
    for f in range(scores.shape[1]):
        results[f"split{f}_test_score"] = scores[:, f]
    mean = scores.mean(1)
    results["mean_test_score"], results["std_test_score"] = mean, scores.std(1)
    # GridSearchCV's ranking: ties share the best rank, NaN ranks last
    worst = np.nanmin(mean) - 1 if np.isfinite(mean).any() else 0.0
    filled = np.where(np.isnan(mean), worst, mean)
    results["rank_test_score"] = rankdata(-filled, method="min").astype(np.int32)
    return results


_MISSING = object()


def _param_column(values: list) -> np.ma.MaskedArray:
    """A ``param_<name>`` column as ``GridSearchCV`` gives it: masked where a candidate
    lacks the parameter, numeric where every value is a number, else of objects."""
    mask = [v is _MISSING for v in values]
    kept = [None if v is _MISSING else v for v in values]
    numbers = not any(mask) and all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in kept
    )
    if numbers:
        return np.ma.MaskedArray(np.asarray(kept), mask=False)
    column = np.ma.MaskedArray(np.empty(len(values), dtype=object), mask=mask)
    for i, v in enumerate(kept):
        if not mask[i]:
            column[i] = v
    return column


def failed_score(error_score, error: Exception, what: str) -> float:
    """The score of what failed: ``error_score``, with a ``FitFailedWarning`` that says
    why; or ``error`` raised, where ``error_score="raise"``."""
    if error_score == "raise":
        raise error
    warnings.warn(
        f"BatchedSearchCV: {what} failed; its score is set to {error_score}. "
        f"{type(error).__name__}: {error}",
        FitFailedWarning,
        stacklevel=4,
    )
    return error_score


def has(name: str):
    """``available_if``'s check for ``BatchedSearchCV``'s methods: a refitted best
    candidate or a selected ensemble that has ``name``."""

    def check(search) -> bool:
        if search.ensemble:
            return name in ("predict", "score") or (
                name == "predict_proba" and is_classifier(search.estimator)
            )
        return search.refit and hasattr(search.estimator, name)

    return check


def score_weights(scorer, sample_weight) -> dict:
    """The scorer's keyword arguments for the rows' ``sample_weight``, as
    ``GridSearchCV`` (scikit-learn >= 1.9) passes them: the weights where the scorer
    accepts them; else none, with scikit-learn's warning."""
    if sample_weight is None:
        return {}
    accept = getattr(scorer, "_accept_sample_weight", None)
    accepts = accept() if accept else "sample_weight" in signature(scorer).parameters
    if not accepts:
        warnings.warn(
            f"The scoring {scorer} does not support sample_weight, which may lead to "
            "statistically incorrect results when fitting with sample_weight.",
            UserWarning,
            stacklevel=3,
        )
        return {}
    return {"sample_weight": np.asarray(sample_weight)}
