"""How a batched search scores its members and picks a candidate, by ``GridSearchCV``'s
rules (``estimators.search``): one scorer or several (``scoring``), train scores
(``return_train_score``), ``refit`` as a bool, a metric's name or a callable, and
scikit-learn's metadata routing of ``sample_weight`` and ``groups``."""

from __future__ import annotations

import time
from numbers import Integral, Number

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.metrics._scorer import _check_multimetric_scoring, _MultimetricScorer
from sklearn.utils import _safe_indexing
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)

from torchsk.estimators.search_results import MemberOutputs, failed_score, score_weights
from torchsk.estimators.selection import member_outputs, to_output_scale


def check_scorers(estimator, scoring) -> tuple[dict, bool]:
    """The scorers by metric name and whether there are several: ``"score"`` alone for
    one (a name, a callable, None), else each of a list, tuple or dict, validated as
    ``GridSearchCV`` validates them."""
    if isinstance(scoring, list | tuple | dict):
        # scikit-learn's own check, so that the errors read as GridSearchCV's
        return _check_multimetric_scoring(estimator, scoring), True
    return {"score": check_scoring(estimator, scoring)}, False


def metadata_router(search) -> MetadataRouter:
    """``GridSearchCV``'s routing: ``fit``'s metadata to the estimator's ``fit``, to
    the scorers' ``score`` and to the splitter's ``split``."""
    scorers, multimetric = check_scorers(search.estimator, search.scoring)
    raise_exc = search.error_score == "raise"
    scorer = _MultimetricScorer(scorers=scorers, raise_exc=raise_exc) if multimetric else None
    on_fit = MethodMapping().add(caller="fit", callee="fit")
    on_score = MethodMapping().add(caller="score", callee="score")
    on_score.add(caller="fit", callee="score")
    on_split = MethodMapping().add(caller="fit", callee="split")
    return (
        MetadataRouter(owner=search)
        .add(estimator=search.estimator, method_mapping=on_fit)
        .add(scorer=scorer or scorers["score"], method_mapping=on_score)
        .add(splitter=search.cv, method_mapping=on_split)
    )


def routed_metadata(search, scorers: dict, sample_weight, groups, params: dict) -> tuple:
    """``(the fit's weights, each scorer's keyword arguments, groups)``. With
    scikit-learn's metadata routing on, as the estimator's, scorers' and splitter's
    requests say, aliases included (``process_routing``: metadata passed and not
    requested raises, as in ``GridSearchCV``); else the weights for the fit and for
    each scorer that accepts them (``score_weights``). ``params``: any other keyword
    of ``fit``, refused where it would reach the estimator's ``fit`` other than as
    its weights (``_refuse_fit_params``)."""
    if not _routing_enabled():
        _refuse_fit_params(search, params)
        scored = {name: score_weights(scorer, sample_weight) for name, scorer in scorers.items()}
        return sample_weight, scored, groups
    given = {"sample_weight": sample_weight, "groups": groups, **params}
    routed = process_routing(search, "fit", **{k: v for k, v in given.items() if v is not None})
    fit_params = dict(routed.estimator.fit)
    w = fit_params.pop("sample_weight", None)
    _refuse_fit_params(search, fit_params)
    return (
        w,
        _per_scorer(search, scorers, routed.scorer.score),
        routed.splitter.split.get("groups"),
    )


def _refuse_fit_params(search, params: dict) -> None:
    """``GridSearchCV`` passes these to each fit; the members of one stacked network
    take their rows' weights only (each stops early on its own fold's rows)."""
    if params:
        raise TypeError(
            f"{type(search).__name__}.fit passes only sample_weight (and groups, to the "
            f"splitter) on; got {sorted(params)}, which would reach the estimator's fit. "
            "Its members train as one stacked network and stop early on their own "
            "folds, not on an X_val: use GridSearchCV for other fit parameters."
        )


def routed_score_weights(search, scorer, sample_weight, params: dict | None = None) -> dict:
    """``score``'s keyword arguments for ``scorer``: as ``routed_metadata`` gives them to
    the scorers in ``fit``, for ``search.score``'s ``sample_weight`` (or an alias of it
    in ``params``, with routing on)."""
    params = params or {}
    if not _routing_enabled():
        if params:
            raise TypeError(f"score() got unexpected keyword arguments {sorted(params)}.")
        return score_weights(scorer, sample_weight)
    given = {} if sample_weight is None else {"sample_weight": sample_weight}
    routed = process_routing(search, "score", **given, **params)
    scorers = search.scorer_ if search.multimetric_ else {"score": scorer}
    per_scorer = _per_scorer(search, scorers, routed.scorer.score)
    return per_scorer[search.refit if search.multimetric_ else "score"]


def _per_scorer(search, scorers: dict, routed: dict) -> dict:
    """Each scorer's ``sample_weight`` (as ``{"sample_weight": w}``, or none) from what
    routing gave the scorer: one scorer's own, or several scorers' as the group of them
    routes it on to each (aliases resolved; passed and not requested raises), as
    ``GridSearchCV`` scores them. A group's weights had reached no scorer that asked
    for them by an alias, and scorers that asked for none had been scored unweighted
    in silence."""
    if not isinstance(search.scoring, list | tuple | dict):
        return {"score": _weights_only(routed)}
    group = _MultimetricScorer(scorers=scorers, raise_exc=search.error_score == "raise")
    each = process_routing(group, "score", **routed)
    return {name: _weights_only(each[name].score) for name in scorers}


def _weights_only(params) -> dict:
    """The routed ``sample_weight`` alone (the members' scores take no other metadata)."""
    w = params.get("sample_weight")
    return {} if w is None else {"sample_weight": w}


def refit_metric(search, scorers: dict, multimetric: bool) -> str | None:
    """The metric that ranks the candidates for ``best_*`` and ``ensemble``: ``refit``'s
    name with several scorers (None where ``refit`` is False or a callable), else
    ``"score"``.

    Raises
    ------
    ValueError
        Several scorers and ``refit`` neither False, a callable nor one of their names
        (``GridSearchCV``'s message); or ``ensemble`` with several scorers and no name
        to select by.
    """
    refit = search.refit
    if not multimetric:
        return "score"
    if (
        refit is not False
        and not callable(refit)
        and (not isinstance(refit, str) or refit not in scorers)
    ):
        raise ValueError(
            "For multi-metric scoring, the parameter refit must be set to a scorer key or "
            "a callable to refit an estimator with the best parameter setting on the whole "
            "data and make the best_* attributes available for that metric. If this is "
            f"not needed, refit should be set to False explicitly. {refit!r} was passed."
        )
    if search.ensemble and not isinstance(refit, str):
        raise ValueError(
            "ensemble='greedy' with several scorers selects on one of them: set refit to "
            f"its name (one of {sorted(scorers)}); {refit!r} was passed."
        )
    return refit if isinstance(refit, str) else None


def best_index(refit, metric: str | None, results: dict):
    """The best candidate's index, as ``GridSearchCV`` picks it: ``refit(results)``
    where ``refit`` is a callable, else the first of the best rank on ``metric``."""
    if callable(refit):
        index = refit(results)
        if not isinstance(index, Integral):
            raise TypeError("best_index_ returned is not an integer")
        if index < 0 or index >= len(results["params"]):
            raise IndexError("best_index_ index out of range")
        return index
    return results[f"rank_test_{metric}"].argmin()  # numpy's int64, as GridSearchCV's


def score_members(search, est, data, splits, chunk: list[int], folds: list[int], out) -> None:
    """Score each member of the fitted network ``est`` (candidates ``chunk`` × splits
    ``folds``) on its split's held-out rows, and on its training rows where
    ``return_train_score``, weighted as ``GridSearchCV`` weighs them.

    Parameters
    ----------
    search : BatchedSearchCV
    est : fitted estimator of the stacked network
    data : tuple of (X, y)
    splits : list of (train, test) row indices
    chunk, folds : the network's candidates and splits, in member order
    out : ScoreTable
        Filled in place: scores, score times and (with ``ensemble``) each candidate's
        out-of-fold outputs.
    """
    X, y = data
    for j, f in enumerate(folds):
        train, held_out = splits[f]
        start = time.perf_counter()
        where = (j, len(folds))
        outputs = _score_rows(search, (est, out.candidates), X, y, held_out, chunk, where,
                              out.test, f)  # fmt: skip
        out.score_times[chunk, f] = (time.perf_counter() - start) / len(chunk)
        if out.train is not None:
            _score_rows(search, (est, out.candidates), X, y, train, chunk, where, out.train, f)
        if search.ensemble:
            scaled = to_output_scale(est, outputs)
            for i, c in enumerate(chunk):
                # NaN until filled: a split whose network failed leaves its rows so,
                # and the greedy selection never picks a candidate with NaN rows
                out.oof.setdefault(c, np.full((len(y), scaled.shape[-1]), np.nan))
                out.oof[c][held_out] = scaled[i * len(folds) + j]


def _score_rows(search, fitted, X, y, rows, chunk, position, table: dict, f: int):
    """Every metric of each candidate's member for split ``f`` (``fitted``: the network
    and every candidate's parameters; ``position``: the split's index among the
    network's folds, and their count) on ``rows``; returns all the members' outputs."""
    (est, candidates), (j, n_folds) = fitted, position
    X_rows, y_rows = _safe_indexing(X, rows), _safe_indexing(y, rows)
    outputs = member_outputs(est, X_rows)
    for i, c in enumerate(chunk):
        m = i * n_folds + j
        view = MemberOutputs(est, m, X_rows, outputs[m], (search.estimator, candidates[c]))
        for name, scorer in search._scorers.items():
            w = search._score_weights[name].get("sample_weight")
            weights = {} if w is None else {"sample_weight": _safe_indexing(w, rows)}
            try:
                value = scorer(view, X_rows, y_rows, **weights)
            except Exception as error:  # GridSearchCV's error_score, metric by metric
                what = f"scoring {name} of candidate {c} on split {f}"
                value = failed_score(search.error_score, error, what, UserWarning)
            if hasattr(value, "item") and np.size(value) == 1:  # numpy or torch scalars
                value = value.item()  # as GridSearchCV takes them
            if not isinstance(value, Number):  # a callable returning a dict, say
                raise ValueError(
                    f"scoring must return a number, got {value!r} ({type(value)}) instead "
                    f"(scorer={name}). For several metrics, pass a list or dict of scorers."
                )
            table[name][c, f] = value
    return outputs


class ScoreTable:
    """What scoring fills: per metric, the scores of shape ``(candidates, splits)`` on
    the held-out rows (``test``) and on the training rows (``train``, or None), the
    score times, and each candidate's out-of-fold outputs (``oof``); ``candidates``,
    their parameters (what a scorer's ``get_params`` shows)."""

    def __init__(self, names, candidates: list[dict], n_splits: int, train: bool) -> None:
        self.candidates, shape = candidates, (len(candidates), n_splits)
        self.test = {name: np.empty(shape) for name in names}
        self.train = {name: np.empty(shape) for name in names} if train else None
        self.fit_times, self.score_times = np.empty(shape), np.empty(shape)
        self.oof = {}

    def fail(self, cells, value: float) -> None:
        """``value`` as every metric's score of ``cells``, which took no time."""
        for table in (self.test, self.train or {}):
            for scores in table.values():
                scores[cells] = value
        self.fit_times[cells] = self.score_times[cells] = 0.0
