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
from torchsk.estimators.search_members import candidate_estimator
from torchsk.estimators.selection import StandIn, member_outputs


class MemberOutputs(StandIn):
    """A scorer's stand-in for one member: ``predict`` (and the classifier's
    ``predict_proba``, ``predict_log_proba``, ``decision_function``) return that
    member's outputs, computed
    beforehand for the rows being scored (``X``), else computed for the rows given (a
    scorer that predicts on something else). ``candidate``: the search's estimator and
    the member's candidate parameters, which ``get_params`` shows."""

    def __init__(self, est: BaseTorchEstimator, member: int, X, out: torch.Tensor,
                 candidate: tuple) -> None:  # fmt: skip
        self.est, self.member, self.X, self.out = est, member, X, out
        self.candidate = candidate

    def get_params(self, deep: bool = True) -> dict:
        """The parameters of the candidate's own estimator, as the clone that
        ``GridSearchCV`` scores shows them to a scorer."""
        return candidate_estimator(*self.candidate).get_params(deep)

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
    def predict_log_proba(self, X):
        task = self.est._task  # from the logits, as the classifier's own
        return task.head_spec.log_proba(self._outputs(X), task.target_type).numpy()

    @available_if(_classifier)
    def decision_function(self, X):
        return self.est._task.decision(self._outputs(X).numpy())


def cv_results(candidates: list[dict], table) -> dict:
    """``cv_results_`` in ``GridSearchCV``'s layout, from a ``search_scoring.ScoreTable``:
    its keys in its order (``split<k>_test_<metric>``, ..., ``rank_test_<metric>``,
    then the train scores), ``<metric>`` being ``score`` for one scorer."""
    results = {}
    for name, times in (("fit_time", table.fit_times), ("score_time", table.score_times)):
        results[f"mean_{name}"], results[f"std_{name}"] = times.mean(1), times.std(1)
    names = dict.fromkeys(k for c in candidates for k in c)  # first seen first, as GridSearchCV
    for name in names:
        results[f"param_{name}"] = _param_column([c.get(name, _MISSING) for c in candidates])
    results["params"] = candidates
    for metric, scores in table.test.items():
        results.update(_score_columns(f"test_{metric}", scores, rank=True))
        if table.train is not None:
            results.update(_score_columns(f"train_{metric}", table.train[metric], rank=False))
    return results


def _score_columns(key: str, scores: np.ndarray, rank: bool) -> dict:
    """One metric's split, mean, std (and rank) columns, as ``GridSearchCV`` stores them."""
    columns = {f"split{f}_{key}": scores[:, f] for f in range(scores.shape[1])}
    mean = scores.mean(1)
    columns[f"mean_{key}"], columns[f"std_{key}"] = mean, scores.std(1)
    if not np.isfinite(mean).all():  # GridSearchCV's warning
        warnings.warn(f"One or more of the {key.split('_')[0]} scores are non-finite: {mean}",
                      UserWarning, stacklevel=4)  # fmt: skip
    if rank:  # GridSearchCV's ranking: ties share the best rank, NaN ranks last
        if np.isnan(mean).all():
            columns[f"rank_{key}"] = np.ones(len(mean), dtype=np.int32)
        else:  # as GridSearchCV's nan_to_num: NaN below -inf (made finite)
            filled = np.nan_to_num(mean, nan=np.nanmin(mean) - 1)
            columns[f"rank_{key}"] = rankdata(-filled, method="min").astype(np.int32)
    return columns


_MISSING = object()


def _param_column(values: list) -> np.ma.MaskedArray:
    """A ``param_<name>`` column as ``GridSearchCV`` gives it: masked where a candidate
    lacks the parameter, of the dtype numpy infers for the values present (objects for
    strings and sequences)."""
    mask = [v is _MISSING for v in values]
    present = [v for v in values if v is not _MISSING]
    try:
        inferred = np.array(present)
    except ValueError:  # sequences of different lengths
        dtype = np.dtype(object)
    else:
        dtype = inferred.dtype if inferred.dtype.kind != "U" and inferred.ndim == 1 else object
    column = np.ma.MaskedArray(np.empty(len(values), dtype=dtype), mask=mask)
    for i, v in enumerate(values):
        if not mask[i]:
            column[i] = v
    return column


def failed_score(error_score, error: Exception, what: str, category=FitFailedWarning) -> float:
    """The score of what failed: ``error_score``, with a warning (``GridSearchCV``'s
    ``FitFailedWarning`` for a fit, ``UserWarning`` for scoring) that says why; or
    ``error`` raised, where ``error_score="raise"``."""
    if error_score == "raise":
        raise error
    warnings.warn(
        f"BatchedSearchCV: {what} failed; its score is set to {error_score}. "
        f"{type(error).__name__}: {error}",
        category,
        stacklevel=4,
    )
    return error_score


def has(name: str):
    """``available_if``'s check for ``BatchedSearchCV``'s methods: a refitted best
    candidate or a selected ensemble that has ``name``."""

    def check(search) -> bool:
        if search.ensemble:
            return name in ("predict", "score") or (
                name in ("predict_proba", "predict_log_proba") and is_classifier(search.estimator)
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


def record_failed_fits(search, failed: list, fitted: list, table) -> None:
    """Networks whose fit failed (``failed``: their ``ScoreTable`` cells and error):
    ``error_score`` for their candidates; raise when ``search`` asks, or when every one
    failed (the data's doing, not a candidate's: its own error, as a single fit raises
    it)."""
    if failed and (search.error_score == "raise" or not fitted):
        raise failed[0][1]
    for cells, error in failed:
        what = f"the network of candidates {cells[0].ravel().tolist()}"
        table.fail(cells, failed_score(search.error_score, error, what))
