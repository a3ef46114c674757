"""Greedy ensemble selection over a batched search's candidates (Caruana et al., 2004).

Each candidate's out-of-fold prediction is assembled from its fold members: every row
predicted by the member that held it out. Starting from nothing, each of ``ROUNDS``
rounds adds (with replacement) the candidate whose addition gives the best score of
the running average of out-of-fold predictions; a candidate's weight is the share of
rounds that picked it. TabArena builds its ensembles so (40 rounds), over
configurations that are each an 8-fold bag. Predictions average on the output scale:
regression outputs, class probabilities.

The selected model is ``Blend``: every selected candidate's fold members (their mean),
weighted by the candidate's share; its ``module_`` (``nn.blend.BlendModule``) computes
the same average in one ``nn.Module``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score, r2_score

from torchsk.data.sparse import is_sparse
from torchsk.estimators.base import _probabilities
from torchsk.estimators.build import warn_non_finite
from torchsk.nn.blend import BlendModule
from torchsk.training.devices import as_tensor

#: Rounds of selection (TabArena's).
ROUNDS = 40
#: Rows encoded and run through every member at once.
_CHUNK_ROWS = 1024


@torch.inference_mode()
def member_outputs(est, X) -> torch.Tensor:
    """Every member's output on ``X`` (validated as ``predict`` validates it), in the
    target's units (regression) or logits: shape ``(members, rows, outputs)``."""
    X = est._module_input_array(X)
    net, plan = est.module_, est._plan
    net.eval()
    parts, n = [], X.shape[0]  # X may be sparse (``len`` is ambiguous there)
    with plan.threads(min(n, _CHUNK_ROWS)):
        for i in range(0, n, _CHUNK_ROWS):
            rows = X[i : i + _CHUNK_ROWS]
            x = as_tensor(rows.toarray() if is_sparse(rows) else rows, None, plan.device)
            parts.append(net.from_raw(net.backbone.members(net.inputs(x, net.compute_dtype))))
    return torch.cat(parts, dim=1).to(torch.float64).cpu()


def check_partition(splits: list, n_rows: int) -> None:
    """Refuse folds whose held-out rows are not each row once (out-of-fold
    predictions need every row held out by exactly one fold)."""
    counts = np.zeros(n_rows, dtype=np.int64)
    for _, held_out in splits:
        np.add.at(counts, held_out, 1)
    if not (counts == 1).all():
        raise ValueError(
            "ensemble='greedy' needs folds that hold out every row exactly once (KFold, "
            "StratifiedKFold, GroupKFold); this cv holds out some rows "
            f"{'never' if (counts == 0).any() else 'more than once'}."
        )


def to_output_scale(est, out) -> np.ndarray:
    """A member's outputs (``training`` scale after the link, ``search.member_outputs``)
    on the scale ensembles average: probabilities for a classifier, else as they are."""
    if is_classifier(est):  # the head takes (rows, outputs): every member's rows at once
        flat = _probabilities(est.module_.head, out.reshape(-1, out.shape[-1]))
        return flat.reshape(*out.shape[:-1], -1).numpy()
    return out.numpy()


class StandIn:
    """What scikit-learn's scorers read of an estimator: its tags and classes."""

    est = None

    def __sklearn_tags__(self):
        return self.est.__sklearn_tags__()

    @property
    def classes_(self):
        """The estimator's classes (classifiers)."""
        return self.est.classes_

    @property
    def n_features_in_(self):
        """The estimator's input width (every member's)."""
        return self.est.n_features_in_

    @property
    def feature_names_in_(self):
        """The estimator's input column names (every member's)."""
        return self.est.feature_names_in_


class Blend(StandIn):
    """Predictions averaged over selected members of fitted stacked networks.

    Parameters
    ----------
    parts : list of (estimator, list of int, float)
        A fitted group's network, the members of one candidate in it, and that
        candidate's weight (the weights sum to 1).
    """

    def __init__(self, parts: list) -> None:
        self.parts = parts
        self.est = parts[0][0]

    def outputs(self, X) -> np.ndarray:
        """The weighted average on the output scale (``to_output_scale``)."""
        total, cache = 0.0, {}
        for est, members, weight in self.parts:
            if id(est) not in cache:
                cache[id(est)] = to_output_scale(est, member_outputs(est, X))
            total = total + weight * cache[id(est)][members].mean(axis=0)
        return warn_non_finite(total)

    def predict(self, X) -> np.ndarray:
        """Labels of the largest averaged probability, or the averaged outputs."""
        return predictions(self.est, self.outputs(X))

    def predict_proba(self, X) -> np.ndarray:
        """The averaged class probabilities."""
        return self.outputs(X)

    def predict_log_proba(self, X) -> np.ndarray:
        """The logarithm of the averaged class probabilities (-inf where one is 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.outputs(X))

    def decision_function(self, X) -> np.ndarray:
        """The scores ``Averaged`` gave the selection (``log_odds``): a scorer of
        decision values had chosen the ensemble, then failed in ``search.score``.
        (Not the search's own method: meta-estimators read ``predict_proba``.)"""
        if not is_classifier(self.est):
            raise AttributeError("A regressor's blend has no decision_function.")
        return log_odds(self.predict_log_proba(X))

    def score(self, X, y, sample_weight=None) -> float:
        """R² or accuracy, as the estimators' ``score``."""
        return _score(self.est, y, self.predict(X), sample_weight)

    @property
    def module_(self) -> BlendModule:
        """The blend as one ``nn.Module`` (``nn.blend.BlendModule``) on raw module input
        (``est.to_module_input(X)``): ``outputs``' average, built on first use from
        copies of the parts' networks, so that it stands alone."""
        if self.__dict__.get("_module") is None:
            codes = [est.categories_ for est, _, _ in self.parts]
            if any(not _same_codes(c, codes[0]) for c in codes):
                raise AttributeError(
                    "The selected networks code categorical columns differently (fitted "
                    "on different rows with separate_folds and refit=False, or with other "
                    "categorical_features): no one module takes them. Predict with the "
                    "search, or refit them on all rows (refit=True) with one "
                    "categorical_features."
                )
            nets, weights = {}, {}
            for est, members, weight in self.parts:
                key = id(est)
                if key not in nets:
                    nets[key] = copy.deepcopy(est.module_)
                    weights[key] = np.zeros(nets[key].backbone.n_members)
                # a part's weight split evenly over its members, as ``outputs`` means them
                np.add.at(weights[key], members, weight / len(members))
            module = BlendModule(
                list(nets.values()), list(weights.values()), classifier=is_classifier(self.est)
            )
            self._module = module.eval()  # as a fitted ``module_`` is (its networks are)
        return self._module

    def __getstate__(self):
        # the module is a copy of the parts' networks: pickled once (the estimators', as
        # plain data), rebuilt from them on first use after loading
        state = dict(self.__dict__)
        state.pop("_module", None)
        return state


def _same_codes(a: list, b: list) -> bool:
    """Whether two networks' ``categories_`` code every column alike."""
    return all((x is None) == (y is None) and (x is None or np.array_equal(x, y))
               for x, y in zip(a, b, strict=True))  # fmt: skip


def log_odds(log_p: np.ndarray) -> np.ndarray:
    """A classifier's decision values from averaged log-probabilities: the log-odds of
    ``classes_[1]`` for a binary target, else the log-probabilities themselves
    (ensembles are single-label); finite, a probability of 0 read as the smallest
    float's (an infinite score had failed ``roc_auc``'s input check)."""
    log_p = np.maximum(log_p, np.log(np.finfo(np.float64).tiny))
    return log_p[:, 1] - log_p[:, 0] if log_p.shape[1] == 2 else log_p


def _score(est, y, predicted, sample_weight) -> float:
    metric = accuracy_score if is_classifier(est) else r2_score
    return metric(y, predicted, sample_weight=sample_weight)


def predictions(est, averaged: np.ndarray) -> np.ndarray:
    """``predict``'s result from outputs averaged on the output scale."""
    if is_classifier(est):
        return est.classes_[averaged.argmax(axis=1)]
    return est._predictions(averaged)


class Averaged(StandIn):
    """A scorer's stand-in for an average of out-of-fold predictions."""

    def __init__(self, est, averaged: np.ndarray) -> None:
        self.est, self.averaged = est, averaged

    def predict(self, X):
        return predictions(self.est, self.averaged)

    def predict_proba(self, X):
        return self.averaged

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):  # a probability of 0: -inf, as np.log gives
            return np.log(self.averaged)

    def decision_function(self, X):
        """The classifier's scores of the averaged probabilities (``log_odds``)."""
        return log_odds(self.predict_log_proba(X))

    def score(self, X, y, sample_weight=None):
        """R² or accuracy, as the estimators' ``score``."""
        return _score(self.est, y, self.predict(X), sample_weight)


def greedy_weights(oof: np.ndarray, score, rounds: int = ROUNDS) -> np.ndarray:
    """Caruana's selection with replacement: each candidate's share of the rounds up
    to the best-scoring one.

    Each round adds the candidate that scores best in the running average; a tie goes
    to the candidate picked most so far (then the first), so that equal scores (an
    accuracy's plateaus) do not pull in weaker candidates. The selection kept is that
    of the best round (as AutoGluon's and TabArena's): later rounds never make it
    worse than its best single candidate.

    Parameters
    ----------
    oof : ndarray of shape (candidates, rows, outputs)
        Out-of-fold predictions on the output scale (NaN rows: a candidate that
        diverged; it is never picked).
    score : callable
        ``score(averaged) -> float``, higher is better.
    rounds : int

    Returns
    -------
    ndarray of shape (candidates,)
    """
    usable = np.isfinite(oof).all(axis=(1, 2))
    if not usable.any():
        raise ValueError("Every candidate's out-of-fold predictions are non-finite.")
    counts = np.zeros(len(oof))
    total = np.zeros(oof.shape[1:])
    best_score, best_counts = -np.inf, counts
    for r in range(rounds):
        trials = np.array([_trial(score, (total + oof[c]) / (r + 1)) if usable[c] else -np.inf
                           for c in range(len(oof))])  # fmt: skip
        if trials.max() == -np.inf:  # no addition can be scored: keep the best so far
            break
        tied = np.flatnonzero(trials == trials.max())
        pick = int(tied[np.argmax(counts[tied])])  # the most picked; the first of those
        counts[pick] += 1
        total += oof[pick]
        if trials[pick] > best_score:
            best_score, best_counts = trials[pick], counts.copy()
    if not best_counts.any():
        _raise_unscorable(score, oof[np.flatnonzero(usable)[0]])
    return best_counts / best_counts.sum()


def _raise_unscorable(score, first: np.ndarray) -> None:
    """Say why no candidate could be scored: the scorer's own error on the first
    (as ``GridSearchCV``'s warning of a failed fit names it), or its NaN."""
    message = "No candidate's out-of-fold predictions could be scored: the scorer failed or "
    try:
        value = score(first)
    except Exception as error:
        raise ValueError(
            f"{message}gave NaN on each of them. On the first: {type(error).__name__}: {error}"
        ) from error
    raise ValueError(f"{message}gave NaN on each of them (the first: {value}).")


def select_blend(fitted: list, oof: dict, n_candidates: int, n_folds: int, score) -> tuple:
    """Greedy selection over a search's candidates and the ``Blend`` it selects.

    Parameters
    ----------
    fitted : list of (estimator, list of int, list of int)
        Each fitted network, its candidates and its splits (members in that order).
    oof : dict
        Each candidate's out-of-fold outputs, ``(rows, outputs)``; a candidate absent
        (its network failed) counts as NaN and is never picked.
    n_candidates, n_folds : int
    score : callable
        ``score(averaged) -> float``, higher is better.

    Returns
    -------
    blend : Blend
    weights : ndarray of shape (n_candidates,)
    ensemble_score : float
        The selected average's score.
    """
    width = next(iter(oof.values())).shape
    stacked = np.stack([oof.get(c, np.full(width, np.nan)) for c in range(n_candidates)])
    weights = greedy_weights(stacked, score)
    parts = [  # a candidate's members in each network, weighted by its share of folds
        (est, [i * len(folds) + j for j in range(len(folds))],
         float(weights[c]) * len(folds) / n_folds)
        for est, chunk, folds in fitted
        for i, c in enumerate(chunk)
        if weights[c] > 0
    ]  # fmt: skip
    chosen = weights > 0  # a candidate left out may hold non-finite predictions
    return Blend(parts), weights, score(np.tensordot(weights[chosen], stacked[chosen], axes=1))


def _trial(score, averaged: np.ndarray) -> float:
    """A trial's score; -inf where the scorer fails or gives NaN (a candidate whose
    predictions the metric refuses, which ``GridSearchCV`` scores ``error_score``):
    that trial is never picked."""
    try:
        value = float(score(averaged))
    except Exception:  # any scorer's error, as GridSearchCV's error_score catches
        return -np.inf
    return -np.inf if np.isnan(value) else value
