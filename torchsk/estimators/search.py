"""``BatchedSearchCV``: a grid search whose candidates and folds train side by side.

``GridSearchCV`` fits every (candidate, fold) on its own: 24 candidates and 5 folds are
120 fits, each paying the per-step overhead of a small network. Here the candidates that
differ only in what members of one stacked network can differ in (``MEMBER_PARAMS``) are
crossed with the folds and trained as the members of one ``EnsembleMLP``: each member on
its fold's training rows (its held-out rows weigh 0 in its loss and in its penalty's
scale), with its own parameters, one shuffle and one step for all. Candidates that differ in
anything else (``hidden_layer_sizes``, ``solver``, ``batch_size``, whose batches cannot
be shared, ...) are grouped: one stacked network per group, in chunks of at most
``max_members`` members. Each member is then scored on its fold's held-out rows, and the
results take ``GridSearchCV``'s shape (``cv_results_``, ``best_params_``, ...), so
reports and plots work unchanged.

Each member starts from a separate fit's weights and stops by its rules
(``training.members.MemberGuard``). With ``separate_folds=True`` each split trains its
own network on its rows alone (fold scores: ``GridSearchCV``'s to float rounding); else
the folds share the scaling and mini-batches (close scores, ``docs/search.md``).
"""

from __future__ import annotations

import time
from numbers import Integral, Real

import numpy as np
import torch
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, is_classifier
from sklearn.metrics import get_scorer_names
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metadata_routing import UNUSED
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _num_samples, check_is_fitted, indexable

from torchsk.estimators.base import BaseTorchEstimator
from torchsk.estimators.callbacks import managed_fit
from torchsk.estimators.fitstate import all_or_nothing
from torchsk.estimators.search_members import (
    candidate_estimator,
    candidate_groups,
    check_rows,
    check_search,
    fit_or_error,
    index_splits,
    invalid_candidates,
    network,
    refit_selected,
    rows_of,
    split_members,
    unfitted_copy,
)
from torchsk.estimators.search_results import cv_results, failed_score, has, record_failed_fits
from torchsk.estimators.search_scoring import (
    ScoreTable,
    best_index,
    check_scorers,
    metadata_router,
    refit_metric,
    routed_metadata,
    routed_score_weights,
    score_members,
)
from torchsk.estimators.selection import Averaged, Blend, check_partition, select_blend
from torchsk.training.settings import interrupts_end_training


class BatchedSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Exhaustive search over a grid of a torchsk estimator's parameters, the
    candidates × folds of each group trained as one stacked network.

    Takes ``GridSearchCV``'s arguments and gives its fitted attributes; see the
    module's notes (``torchsk.estimators.search``) for how a member's fit differs from
    a separate one.

    Parameters
    ----------
    estimator : TorchRegressor or TorchClassifier
        The estimator to tune: the built-in network (``module=None``), one network per
        candidate (``n_ensemble=1``), no warm start. With ``early_stopping=True`` each
        member holds out ``validation_fraction`` of its fold's training rows (the same
        rows for every candidate of the fold), stops on its score there (R², accuracy)
        and keeps the weights of its best epoch.
    param_grid : dict or list of dicts
        Parameter names to lists of values, as ``GridSearchCV`` takes it. ``alpha``,
        ``learning_rate_init``, ``random_state`` (the initial weights), ``dropout`` and
        the loss settings (``huber_delta``, ``quantile``, ``label_smoothing``) vary
        between members of one network; any other parameter starts a group of its own.
    scoring : str, callable, list, tuple, dict or None, default=None
        As ``GridSearchCV``'s: one scorer (``"neg_log_loss"``, ``make_scorer(...)``;
        None: the estimator's ``score``, R² or accuracy) or several (a list or tuple of
        names, a dict of names to scorers), each computed on each member. A scorer gets
        a stand-in for the member: its predictions, ``score``, ``classes_``,
        ``n_features_in_``, not the fitted attributes of a separate fit.
    cv : int, cross-validation generator or iterable, default=5
        As ``GridSearchCV``'s: ``StratifiedKFold`` for classifiers, ``KFold`` otherwise;
        one split (a fixed validation set, ``PredefinedSplit``) too, but not with
        ``ensemble="greedy"``, which needs every row held out once.
    refit : bool, str or callable, default=True
        As ``GridSearchCV``'s: refit the best candidate on all the rows
        (``best_estimator_``), a separate fit; with several scorers, the name of the
        one that picks it (or False); or a callable of ``cv_results_`` to ``best_index_``.
    max_members : int, default=256
        The most members one stacked network holds; a larger group trains in chunks
        of whole candidates (all their folds; at least one candidate per chunk, so a
        chunk holds as many members as there are splits when ``max_members`` is
        smaller), which bounds memory.
    ensemble : {None, "greedy"}, default=None
        ``"greedy"``: Caruana's ensemble selection over the candidates' out-of-fold
        predictions (``torchsk.estimators.selection``); ``predict`` then averages the
        selected candidates, weighted (``ensemble_weights_``), instead of calling
        ``best_estimator_``: refitted on all rows (``refit=True``), else their fold
        members. Needs folds that hold out each row once. Averaged probabilities have
        no ``decision_function``: meta-estimators read ``predict_proba`` instead.
    separate_folds : bool, default=False
        One stacked network per split (on its training rows alone, scaled on them):
        each candidate's fold scores are then ``GridSearchCV``'s to float rounding
        (early stopping included), unless ``dropout``, a grid over ``random_state`` or
        ``random_state=None`` (``docs/search.md``). Slower on small tables, near the
        shared network's time on larger ones.
    error_score : "raise" or float, default=np.nan
        As ``GridSearchCV``'s: the score of a (candidate, split) whose scoring fails,
        of a candidate whose parameters its own fit refuses, of every member of a
        network whose fit fails, with a ``FitFailedWarning`` (a ``UserWarning`` where
        scoring failed); ``"raise"`` raises.
    return_train_score : bool, default=False
        Also score each member on its split's training rows (``split<k>_train_score``,
        ...), as ``GridSearchCV`` does: one more pass over those rows per network.
    n_jobs : int, default=None
        Stacked networks trained at once, in joblib's processes (None: one, unless in a
        ``joblib.parallel_config`` context; -1: one per core), each on its share of the
        cores. Without ``separate_folds`` the candidates are cut into up to ``n_jobs``
        networks (small stacks then train in float64, as separate fits, where one large
        stack would in float32: scores may move by float32's rounding).
    verbose : int, default=0
        Above 0, say how many candidates, splits and networks the search fits (no line
        per fit: a network's members end together); passed on to joblib.

    Attributes
    ----------
    cv_results_ : dict of numpy (masked) ndarrays
        ``GridSearchCV``'s keys: ``params``, ``param_<name>``, ``split<k>_test_score``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``, ``mean_fit_time``,
        ``std_fit_time``, ``mean_score_time``, ``std_score_time`` (and
        ``<kind>_<metric>`` in place of ``<kind>_score`` for several scorers; the train
        scores' columns with ``return_train_score``). A member's fit time is its
        network's fit time divided by its member count.
    best_estimator_ : estimator
        The best candidate refitted on all rows (``refit=True``).
    best_score_ : float
        Mean cross-validated score of the best candidate (not with a callable
        ``refit``).
    best_params_ : dict
    best_index_ : int
        The best candidate's index into ``cv_results_``. The ``best_*`` attributes are
        not set with several scorers and ``refit=False``, as in ``GridSearchCV``.
    scorer_ : callable or dict
        The scorer, or the scorers by name (several).
    n_splits_, n_features_in_ : int
        Folds; columns of X seen in fit (also ``classes_`` for a classifier's labels).
    refit_time_ : float
        Seconds the refit took (``refit=True``).
    multimetric_ : bool
        Whether there are several scorers.
    n_groups_ : int
        Stacked networks trained (groups and their chunks).
    ensemble_ : torchsk.estimators.selection.Blend
        The selected ensemble (``ensemble="greedy"``): the networks and weights that
        ``predict`` calls; not an estimator (give scikit-learn's tools the search).
    ensemble_weights_ : ndarray of shape (n_candidates,)
        Each candidate's weight in the selected ensemble (``ensemble="greedy"``).
    ensemble_score_ : float
        The selected ensemble's out-of-fold score (``ensemble="greedy"``).
    module_ : torch.nn.Module
        What predicts, as one module on ``to_module_input(X)``: with ``ensemble``, a
        ``torchsk.nn.blend.BlendModule`` (copies of the networks, member weights as
        buffers) returning the weighted mean of the predictions in y's units or of the
        class probabilities; else ``best_estimator_.module_``. ``export_onnx`` takes it.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from torchsk import BatchedSearchCV, TorchRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = BatchedSearchCV(
    ...     TorchRegressor(max_iter=30, random_state=0),
    ...     {"alpha": [1e-4, 1.0], "learning_rate_init": [1e-3, 1e-2]},
    ... ).fit(X, y)
    >>> sorted(search.best_params_)
    ['alpha', 'learning_rate_init']
    """

    # routed by get_metadata_routing, as GridSearchCV's: no set_*_request of its own
    __metadata_request__fit = {"sample_weight": UNUSED, "groups": UNUSED}
    __metadata_request__score = {"sample_weight": UNUSED}

    _parameter_constraints: dict = {
        "estimator": [BaseTorchEstimator],
        "param_grid": [dict, list],
        "scoring": [StrOptions(set(get_scorer_names())), callable, list, tuple, dict, None],
        "cv": ["cv_object"],
        "refit": ["boolean", str, callable],
        "max_members": [Interval(Integral, 1, None, closed="left")],
        "ensemble": [StrOptions({"greedy"}), None],
        "error_score": [StrOptions({"raise"}), Real],
        "separate_folds": ["boolean"],
        "return_train_score": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, estimator, param_grid, *, scoring=None, cv=5, refit=True,
                 max_members=256, ensemble=None, error_score=np.nan, separate_folds=False,
                 return_train_score=False, n_jobs=None, verbose=0):  # fmt: skip
        self.estimator = estimator
        self.param_grid = param_grid
        self.scoring = scoring
        self.cv = cv
        self.refit = refit
        self.max_members = max_members
        self.ensemble = ensemble
        self.error_score = error_score
        self.separate_folds = separate_folds
        self.return_train_score = return_train_score
        self.n_jobs = n_jobs
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    @all_or_nothing  # a fit that raises leaves the search as it was
    @interrupts_end_training()  # Ctrl-C in a refit too (a worker's: in _fit_chunk)
    def fit(self, X, y=None, *, sample_weight=None, groups=None, **params):
        """Score every candidate on every fold; refit the best on all rows.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Dense rows in memory (not sparse X, a Dask collection or batches).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Required (None only so that batches are refused with their reason).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the training rows, and of the held-out rows in the scores
            where the scorer accepts them, as ``GridSearchCV``'s (with scikit-learn's
            metadata routing on: where the estimator's and scorers' requests say).
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group splitter (``GroupKFold``, ...), as ``cv.split``
            takes them.
        **params : dict
            With metadata routing on: aliases of these (no other metadata is passed on).

        Returns
        -------
        self : BatchedSearchCV
        """
        candidates = list(ParameterGrid(self.param_grid))
        X, y = check_rows(X, y, self.estimator)  # an Arrow table as a DataFrame
        X, y, sample_weight = indexable(X, y, sample_weight)  # rows that folds can index
        scorers, multimetric = check_scorers(self.estimator, self.scoring)
        metric = refit_metric(self, scorers, multimetric)
        routed = routed_metadata(self, scorers, sample_weight, groups, params)  # as GridSearchCV
        sample_weight, scored, groups = routed
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = index_splits(cv.split(X, y, groups))
        invalid = invalid_candidates(self, candidates, len(splits))
        valid = [i for i in range(len(candidates)) if i not in invalid]
        check_search(self, y, [candidates[i] for i in valid], splits, sample_weight)
        if self.ensemble:
            check_partition(splits, _num_samples(X))
        self._scorers, self._score_weights = scorers, scored  # scorer_ once fitted
        table, fitted = self._fit_networks(X, y, sample_weight, splits, candidates, valid)
        self.scorer_, self.multimetric_ = scorers if multimetric else scorers["score"], multimetric
        self.n_splits_ = len(splits)
        for i, error in invalid.items():  # refused by their own fit: error_score
            what = f"candidate {i} ({candidates[i]})"
            table.fail((i,), failed_score(self.error_score, error, what))
        # what an earlier fit left that this one may not make (refit=False, no ensemble)
        for name in ("ensemble_", "ensemble_weights_", "ensemble_score_", "best_estimator_",
                     "refit_time_", "best_index_", "best_score_", "best_params_"):  # fmt: skip
            self.__dict__.pop(name, None)
        if self.ensemble:
            self._select(fitted, X, y, len(splits), table.oof, len(candidates), metric)
            if self.refit:  # the selected candidates again, on all rows
                self.ensemble_ = refit_selected(self, X, y, sample_weight, candidates)
        del self._score_weights  # the rows' weights: not kept in the fitted search
        self.cv_results_ = cv_results(candidates, table)
        if self.refit or not self.multimetric_:  # GridSearchCV's best_* rule
            self.best_index_ = best_index(self.refit, metric, self.cv_results_)
            if not callable(self.refit):
                self.best_score_ = self.cv_results_[f"mean_test_{metric}"][self.best_index_]
            self.best_params_ = candidates[self.best_index_]
        if self.refit:
            start = time.perf_counter()
            best = candidate_estimator(self.estimator, self.best_params_)
            self.best_estimator_ = best.fit(X, y, sample_weight=sample_weight)
            self.refit_time_ = time.perf_counter() - start
        return self

    def get_metadata_routing(self):
        """``GridSearchCV``'s metadata routing (``search_scoring.metadata_router``)."""
        return metadata_router(self)

    def _fit_networks(self, X, y, sample_weight, splits, candidates, valid: list[int]):
        """Train and score the ``valid`` candidates' networks: each group's
        candidates × the folds (or each fold apart, ``separate_folds``), in chunks of
        at most ``max_members`` members, ``n_jobs`` networks at once. Returns the
        ``ScoreTable`` and the fitted networks with their candidates and splits."""
        table = ScoreTable(self._scorers, candidates, len(splits), self.return_train_score)
        per_chunk = self.max_members // (1 if self.separate_folds else len(splits))
        if (jobs := effective_n_jobs(self.n_jobs)) > 1 and not self.separate_folds:
            per_chunk = min(per_chunk, -(-len(valid) // jobs))  # a network for each process
        chunks = [[valid[i] for i in chunk] for chunk in
                  candidate_groups([candidates[i] for i in valid], max(1, per_chunk))]  # fmt: skip
        parts = [[f] for f in range(len(splits))] if self.separate_folds else [range(len(splits))]
        tasks = [(chunk, list(folds)) for chunk in chunks for folds in parts]
        if self.verbose > 0:
            print(f"Fitting {len(splits)} folds for each of {len(candidates)} candidates, "
                  f"totalling {len(candidates) * len(splits)} fits, as the members of "
                  f"{len(tasks)} stacked network{'s' * (len(tasks) != 1)}")  # fmt: skip
        networks = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            # an unfitted copy: a previous fit's models need not travel to the processes
            delayed(fit_or_error)(
                unfitted_copy(self), X, y, sample_weight, splits, chunk, folds, candidates
            )  # fmt: skip
            for chunk, folds in tasks
        )
        fitted, failed = [], []
        for (chunk, folds), (est, seconds, error) in zip(tasks, networks, strict=True):
            if error is not None:  # GridSearchCV's error_score: that fit's scores
                failed.append((np.ix_(chunk, folds), error))
                continue
            table.fit_times[np.ix_(chunk, folds)] = seconds / (len(chunk) * len(folds))
            score_members(self, est, (X, y), splits, chunk, folds, table)
            fitted.append((est, chunk, folds))
        record_failed_fits(self, failed, fitted, table)
        self.n_groups_ = len(tasks)
        return table, fitted

    def _fit_chunk(self, X, y, sample_weight, splits, chunk: list[int], folds: list[int],
                   candidates):  # fmt: skip
        """One stacked network for the candidates ``chunk`` (same non-member
        parameters) × the splits ``folds``; returns it and its fit time. One split's
        network trains on its rows alone, as separate fits (``separate_folds``), a
        lone candidate there as two equal members (a network holds two at least)."""
        members = chunk * 2 if len(chunk) * len(folds) == 1 else chunk
        est = network(self.estimator, candidates[chunk[0]], len(members) * len(folds))
        X, y, sample_weight, local = rows_of(X, y, sample_weight, splits, folds)
        params = [candidates[c] for c in members]
        given = split_members(est, y, params, folds, local, _num_samples(X))
        start = time.perf_counter()
        with interrupts_end_training():  # not all candidates x folds scored cut short
            managed_fit(est, X, y, sample_weight, members=given)
        return est, time.perf_counter() - start

    def _select(self, fitted: list, X, y, n_folds: int, oof: dict, n_candidates: int,
                metric: str) -> None:  # fmt: skip
        """Greedy ensemble selection over the candidates' out-of-fold predictions, on
        the scorer ``metric``."""
        scorer, weights = self._scorers[metric], self._score_weights[metric]

        def score(averaged: np.ndarray) -> float:
            return scorer(Averaged(fitted[0][0], averaged), X, y, **weights)

        self.ensemble_, self.ensemble_weights_, self.ensemble_score_ = select_blend(
            fitted, oof, n_candidates, n_folds, score
        )

    def _best(self):
        """What predicts: the selected ensemble, else the refitted best candidate."""
        if "ensemble_" in self.__dict__:
            return self.ensemble_
        check_is_fitted(self, "cv_results_")
        if "best_estimator_" not in self.__dict__:  # GridSearchCV's AttributeError
            raise AttributeError(
                f"This {type(self).__name__} instance was initialized with `refit=False`: "
                "it predicts only after refitting on the best parameters (or with "
                "ensemble='greedy')."
            )
        return self.best_estimator_

    @available_if(has("predict"))
    def predict(self, X):
        """``predict`` of ``ensemble_`` (a greedy blend), else of ``best_estimator_``."""
        return self._best().predict(X)

    @available_if(has("predict_proba"))
    def predict_proba(self, X):
        """``predict_proba`` of ``ensemble_`` (a greedy blend), else of ``best_estimator_``."""
        return self._best().predict_proba(X)

    @available_if(has("predict_log_proba"))
    def predict_log_proba(self, X):
        """``predict_log_proba`` of ``ensemble_`` (a greedy blend), else of ``best_estimator_``."""
        return self._best().predict_log_proba(X)

    @available_if(has("decision_function"))
    def decision_function(self, X):
        """``decision_function`` of ``ensemble_`` (a greedy blend), else of ``best_estimator_``."""
        return self._best().decision_function(X)

    @available_if(has("score"))
    def score(self, X, y, sample_weight=None, **params):
        """``scorer_`` (with several, ``refit``'s) on ``ensemble_`` or the best candidate, its
        ``sample_weight`` (or an alias in ``params``) routed as ``GridSearchCV.score``'s."""
        scorer = self.scorer_[self.refit] if self.multimetric_ else self.scorer_
        weights = routed_score_weights(self, scorer, sample_weight, params)
        return scorer(self._best(), X, y, **weights)

    @property
    def module_(self):
        """The predicting model as one ``nn.Module`` (see the class's attributes)."""
        return self._best().module_

    def to_module_input(self, X) -> torch.Tensor:
        """The float tensor of shape ``(n_samples, n_features_in_)`` that ``module_``
        takes for ``X``: the networks of ``module_`` code X alike."""
        return self._fitted_estimator().to_module_input(X)

    @property
    def classes_(self):
        """The fitted classes (classifiers)."""
        return self._fitted_estimator().classes_

    @property
    def n_features_in_(self):
        """Number of features seen in fit."""
        return self._fitted_estimator().n_features_in_

    @property
    def feature_names_in_(self):
        """Names of the features seen in fit (X with string column names only)."""
        return self._fitted_estimator().feature_names_in_

    def _fitted_estimator(self):
        best = self._best()
        return best.est if isinstance(best, Blend) else best

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags, tags.regressor_tags = inner.classifier_tags, inner.regressor_tags
        tags.target_tags, tags.input_tags = inner.target_tags, inner.input_tags
        tags.input_tags.sparse = False  # the members need dense rows (_check_search)
        if self.ensemble and tags.classifier_tags is not None:  # single-label only
            tags.classifier_tags.multi_label = False
        return tags
