"""``BatchedSearchCV`` takes ``GridSearchCV``'s arguments and means by them what it does:
several scorers, ``refit`` by name or callable, ``return_train_score``, ``n_jobs``,
``verbose``, and ``cv_results_``'s columns in its order and dtypes."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import make_scorer, mean_absolute_error
from sklearn.model_selection import GridSearchCV, KFold

from torchsk import BatchedSearchCV, TorchRegressor
from torchsk.estimators.search_results import _score_columns

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CV = KFold(3, shuffle=True, random_state=0)
GRID = {"alpha": [1e-4, 10.0], "learning_rate_init": [1e-3, 3e-2]}
SCORING = {"r2": "r2", "mae": make_scorer(mean_absolute_error, greater_is_better=False)}


def _est(**kwargs):
    return TorchRegressor(hidden_layer_sizes=(16,), max_iter=40, random_state=0, **kwargs)


def _both(X, y, grid=GRID, **kwargs):
    reference = GridSearchCV(_est(), grid, cv=CV, **kwargs).fit(X, y)
    search = BatchedSearchCV(_est(), grid, cv=CV, separate_folds=True, **kwargs).fit(X, y)
    return search, reference


def _assert_same_results(search, reference) -> None:
    """The same keys in the same order, the same dtypes, the same scores."""
    ours, theirs = search.cv_results_, reference.cv_results_
    assert list(ours) == list(theirs)
    for key, column in theirs.items():
        if key.startswith("param_"):
            assert ours[key].dtype == column.dtype, key
            assert (np.ma.getmaskarray(ours[key]) == np.ma.getmaskarray(column)).all(), key
            assert list(ours[key].compressed()) == list(column.compressed()), key
        elif "_time" not in key and key != "params":
            np.testing.assert_allclose(ours[key], column, atol=1e-10, err_msg=key)
    assert ours["params"] == theirs["params"]


def test_several_scorers_and_train_scores_are_gridsearchcvs(diabetes):
    X, y = diabetes
    search, reference = _both(X, y, scoring=SCORING, refit="mae", return_train_score=True)
    _assert_same_results(search, reference)
    assert search.multimetric_ and set(search.scorer_) == {"r2", "mae"}
    assert search.best_index_ == reference.best_index_
    assert search.best_score_ == pytest.approx(reference.best_score_, abs=1e-10)
    # score() uses the scorer refit names, as GridSearchCV's
    assert search.score(X, y) == pytest.approx(reference.score(X, y), abs=1e-8)
    assert search.score(X, y) < 0  # an error, negated: not R²
    # the train scores are the members' own fit: better than their held-out scores
    assert (search.cv_results_["mean_train_r2"] > search.cv_results_["mean_test_r2"]).all()


def test_a_list_of_scorer_names_and_a_shared_network(diabetes):
    X, y = diabetes
    search = BatchedSearchCV(_est(), GRID, cv=CV, scoring=["r2", "neg_mean_squared_error"],
                             refit="r2").fit(X, y)  # fmt: skip
    results = pd.DataFrame(search.cv_results_)
    for metric in ("r2", "neg_mean_squared_error"):
        assert {f"split2_test_{metric}", f"mean_test_{metric}", f"rank_test_{metric}"} <= set(
            results
        )
        assert "mean_test_score" not in results and "mean_train_r2" not in results
    # R² and MSE rank alike on the same rows
    assert (results.rank_test_r2 == results.rank_test_neg_mean_squared_error).all()


@pytest.mark.parametrize("refit", [True, "accuracy"])
def test_several_scorers_need_refit_to_name_one_as_gridsearchcv_does(diabetes, refit):
    X, y = diabetes
    search = BatchedSearchCV(_est(), GRID, scoring=["r2", "neg_max_error"], refit=refit)
    with pytest.raises(ValueError, match="refit must be set to a scorer key"):
        search.fit(X, y)


def test_several_scorers_without_refit_set_no_best_attributes(diabetes):
    X, y = diabetes
    search, reference = _both(X, y, scoring=["r2", "neg_max_error"], refit=False)
    _assert_same_results(search, reference)
    for name in ("best_index_", "best_score_", "best_params_", "best_estimator_"):
        assert not hasattr(search, name) and not hasattr(reference, name)
    assert not hasattr(search, "predict")


def test_a_callable_refit_picks_the_best_index_and_sets_no_best_score(diabetes):
    X, y = diabetes

    def least_alpha_of_the_top_two(results) -> int:
        top = np.flatnonzero(results["rank_test_score"] <= 2)
        return int(top[np.argmin(results["param_alpha"][top])])

    search, reference = _both(X, y, refit=least_alpha_of_the_top_two)
    assert search.best_index_ == reference.best_index_
    assert search.best_params_["alpha"] == min(
        p["alpha"] for p, r in zip(search.cv_results_["params"], search.cv_results_[
            "rank_test_score"], strict=True) if r <= 2
    )  # fmt: skip
    assert not hasattr(search, "best_score_") and not hasattr(reference, "best_score_")
    assert search.best_estimator_.predict(X).shape == y.shape
    with pytest.raises(IndexError, match="out of range"):
        BatchedSearchCV(_est(), GRID, cv=CV, refit=lambda results: 99).fit(X, y)


def test_param_columns_follow_gridsearchcvs_dtypes_and_order(diabetes):
    # "learning_rate_init" is met first (the second dict); "alpha" masked in one dict
    X, y = diabetes
    grid = [{"learning_rate_init": [1e-3, 3e-2]}, {"alpha": [1e-4, 10.0], "activation": ["tanh"]}]
    search, reference = _both(X, y, grid=grid)
    _assert_same_results(search, reference)
    assert search.cv_results_["param_alpha"].dtype == np.float64
    # best_score_.round(3) as on GridSearchCV's numpy scalars (a float had no .round)
    for name in ("best_score_", "best_index_"):
        assert type(getattr(search, name)) is type(getattr(reference, name))


def test_an_ensemble_with_several_scorers_selects_on_the_one_refit_names(diabetes):
    X, y = diabetes
    search = BatchedSearchCV(_est(), GRID, cv=CV, scoring=SCORING, refit="mae",
                             ensemble="greedy").fit(X, y)  # fmt: skip
    assert search.ensemble_score_ < 0  # the negated MAE, not R²
    assert search.ensemble_score_ >= search.best_score_  # at least its best candidate
    with pytest.raises(ValueError, match="set refit to its name"):
        BatchedSearchCV(_est(), GRID, scoring=SCORING, refit=False, ensemble="greedy").fit(X, y)


def test_a_scorer_that_returns_a_dict_is_refused(diabetes):
    X, y = diabetes

    def both(est, X, y):
        return {"r2": est.score(X, y), "neg": -est.score(X, y)}

    with pytest.raises(ValueError, match="list or dict of scorers"):
        BatchedSearchCV(_est(), GRID, cv=CV, scoring=both).fit(X, y)


def test_networks_train_in_parallel_processes_with_the_same_scores(diabetes, capsys):
    X, y = diabetes
    grid = {**GRID, "hidden_layer_sizes": [(8,), (16,)]}  # 2 groups × 3 splits: 6 networks
    one = BatchedSearchCV(_est(), grid, cv=CV, separate_folds=True).fit(X, y)
    two = BatchedSearchCV(_est(), grid, cv=CV, separate_folds=True, n_jobs=2, verbose=1)
    two.fit(X, y)
    assert "Fitting 3 folds for each of 8 candidates, totalling 24 fits" in capsys.readouterr().out
    assert two.n_groups_ == 6
    for f in range(3):
        key = f"split{f}_test_score"
        np.testing.assert_array_equal(two.cv_results_[key], one.cv_results_[key])
    np.testing.assert_array_equal(two.predict(X[:20]), one.predict(X[:20]))


def test_n_jobs_cuts_one_network_into_one_for_each_process(diabetes):
    X, y = diabetes
    one = BatchedSearchCV(_est(), GRID, cv=CV).fit(X, y)
    two = BatchedSearchCV(_est(), GRID, cv=CV, n_jobs=2).fit(X, y)
    assert (one.n_groups_, two.n_groups_) == (1, 2)
    # small members train alike, whichever network holds them
    for f in range(3):
        key = f"split{f}_test_score"
        np.testing.assert_allclose(two.cv_results_[key], one.cv_results_[key], atol=1e-12)


def test_scorers_may_return_numpy_scalars_and_read_the_input_width(diabetes):
    # GridSearchCV takes a 0-d array's item; a scorer may read what every member shares
    X, y = diabetes
    scoring = {
        "r2": lambda est, X, y: np.array(est.score(X, y)),
        "width": lambda est, X, y: -est.n_features_in_,
    }
    search, reference = _both(X, y, scoring=scoring, refit="r2")
    _assert_same_results(search, reference)
    assert (search.cv_results_["mean_test_width"] == -10).all()


def test_a_refused_second_fit_leaves_the_first_fit_whole(diabetes):
    X, y = diabetes
    search = BatchedSearchCV(_est(), GRID, cv=CV).fit(X, y)
    before = search.score(X, y)
    search.set_params(scoring=["r2", "neg_max_error"], refit=True)
    with pytest.raises(ValueError, match="refit must be set"):
        search.fit(X, y)
    assert not search.multimetric_ and search.score(X, y) == before
    assert not hasattr(search, "_score_weights")  # the rows' weights are not kept


def test_ranks_put_failed_scoring_below_an_infinitely_bad_score():
    # GridSearchCV: NaN means rank last, below -inf; all NaN rank 1
    scores = np.array([[np.nan], [-np.inf], [0.5]])
    with pytest.warns(UserWarning, match="non-finite"):
        ranks = _score_columns("test_score", scores, rank=True)["rank_test_score"]
    assert ranks.tolist() == [3, 2, 1]
    with pytest.warns(UserWarning, match="non-finite"):
        ranks = _score_columns("test_score", np.full((2, 1), np.nan), rank=True)
    assert ranks["rank_test_score"].tolist() == [1, 1]


def test_fit_takes_its_metadata_by_keyword_only_as_gridsearchcv_does(diabetes):
    # an old fit(X, y, groups) call: GridSearchCV refuses it; taken as sample_weight it
    # had trained silently with the group labels as weights (group 0's rows at 0)
    X, y = diabetes
    groups = np.arange(len(y)) % 3
    for search in (GridSearchCV(_est(), GRID, cv=CV), BatchedSearchCV(_est(), GRID, cv=CV)):
        with pytest.raises(TypeError, match="positional argument"):
            search.fit(X, y, groups)


def test_a_grid_of_only_invalid_candidates_fails_as_gridsearchcv_does(diabetes):
    # each candidate's own fit refuses its alpha: GridSearchCV's "All the N fits failed"
    # ValueError with its summary, caused by the first candidate's error
    X, y = diabetes
    grid = {"alpha": [-1.0, -2.0]}
    errors = []
    for Search in (GridSearchCV, BatchedSearchCV):
        with pytest.raises(ValueError, match="All the 6 fits failed") as caught:
            Search(_est(), grid, cv=CV).fit(X, y)
        errors.append(str(caught.value))
    for error in errors:
        assert "3 fits failed with the following error" in error
        assert "InvalidParameterError" in error and "alpha" in error
    with pytest.raises(ValueError, match="alpha"):  # error_score="raise": the error itself
        BatchedSearchCV(_est(), grid, cv=CV, error_score="raise").fit(X, y)
