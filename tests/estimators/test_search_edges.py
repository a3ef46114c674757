"""``BatchedSearchCV`` where an adversarial user pokes it: the callbacks of the
estimator it searches, scorers that fail on some candidates, plain callables as
scorers, an empty grid, splits given as boolean masks."""

import threading
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_regression
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import GridSearchCV, KFold

from torchsk import BatchedSearchCV, TorchClassifier, TorchRegressor
from torchsk.estimators.selection import greedy_weights

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore::sklearn.exceptions.FitFailedWarning"
)


@pytest.fixture(scope="module")
def data():
    return make_regression(n_samples=90, n_features=4, noise=1.0, random_state=0)


def _live_threads() -> set:
    return {t for t in threading.enumerate() if not t.daemon}


def test_the_searched_estimators_callbacks_are_torn_down_after_each_network(data):
    callback = pytest.importorskip("sklearn.callback")  # scikit-learn >= 1.9
    X, y = data
    est = TorchRegressor(max_iter=3, random_state=0).set_callbacks(callback.ProgressBar())
    grid = {"alpha": [1e-3, 1.0]}
    before = _live_threads()  # other tests' pools may live on in this worker
    search = BatchedSearchCV(est, grid, cv=3, ensemble="greedy").fit(X, y)
    # a progress bar's monitor thread left running kept the interpreter from exiting
    assert [t.name for t in _live_threads() - before] == []
    networks = [part[0] for part in search.ensemble_.parts] + [search.best_estimator_]
    assert not any(hasattr(n, "_callback_fit_ctx") for n in networks)


def test_greedy_selection_passes_over_a_candidate_the_scorer_refuses():
    rng = np.random.RandomState(0)
    X = rng.randn(90, 4)
    y = np.abs(X[:, 0]) * 2 + 0.1
    # the second candidate diverges to predictions below -1: the log error refuses them
    grid = {"learning_rate_init": [1e-3, 1e2]}
    kwargs = dict(cv=3, scoring="neg_mean_squared_log_error")
    est = TorchRegressor(max_iter=10, random_state=0)
    reference = GridSearchCV(est, grid, **kwargs).fit(X, y)
    search = BatchedSearchCV(est, grid, ensemble="greedy", **kwargs).fit(X, y)
    assert np.isnan(reference.cv_results_["mean_test_score"][1])
    assert np.isnan(search.cv_results_["mean_test_score"][1])
    assert search.ensemble_weights_.tolist() == [1.0, 0.0]
    assert np.isfinite(search.ensemble_score_)


def test_greedy_weights_never_pick_a_trial_scored_nan_and_say_when_none_scores():
    oof = np.stack([np.ones((5, 1)), np.arange(5.0)[:, None]])
    weights = greedy_weights(oof, lambda avg: np.nan if np.ptp(avg) == 0 else 1.0)
    assert weights.tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="could be scored"):
        greedy_weights(oof, lambda avg: np.nan)


@pytest.mark.parametrize("ensemble", [None, "greedy"])
def test_score_takes_a_plain_callable_scorer_as_gridsearchcv(data, ensemble):
    X, y = data

    def neg_mse(est, X, y):  # no sample_weight argument
        return -float(np.mean((est.predict(X) - y) ** 2))

    est = TorchRegressor(max_iter=10, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-3, 1.0]}, cv=3, scoring=neg_mse,
                             ensemble=ensemble).fit(X, y)  # fmt: skip
    assert search.score(X, y) == pytest.approx(neg_mse(search, X, y))


def test_an_empty_grid_raises_as_gridsearchcv(data):
    X, y = data
    with pytest.raises(ValueError, match="no candidates"):
        GridSearchCV(TorchRegressor(max_iter=5), [], cv=3).fit(X, y)
    with pytest.raises(ValueError, match="no candidates"):
        BatchedSearchCV(TorchRegressor(max_iter=5), [], cv=3).fit(X, y)


@pytest.mark.parametrize("separate_folds", [False, True])
def test_splits_given_as_boolean_masks_score_as_their_indices(data, separate_folds):
    X, y = data
    indices = list(KFold(3).split(X))
    rows = np.arange(len(X))
    masks = [(np.isin(rows, train), np.isin(rows, test)) for train, test in indices]
    est = TorchRegressor(max_iter=5, random_state=0)
    grid = {"alpha": [1e-3, 1.0]}

    def scores(cv):
        search = BatchedSearchCV(est, grid, cv=cv, separate_folds=separate_folds, refit=False)
        return search.fit(X, y).cv_results_["mean_test_score"]

    np.testing.assert_array_equal(scores(masks), scores(indices))


def test_splits_given_as_a_generator_score_as_a_list_of_them(data):
    """``GridSearchCV`` takes any iterable of splits; a generator cannot be copied with
    the search into its networks' fits (it failed: cannot pickle 'generator')."""
    X, y = data
    est = TorchRegressor(max_iter=5, random_state=0)
    grid = {"alpha": [1e-3, 1.0]}
    listed = BatchedSearchCV(est, grid, cv=list(KFold(3).split(X))).fit(X, y)
    generated = BatchedSearchCV(est, grid, cv=(s for s in KFold(3).split(X))).fit(X, y)
    assert generated.n_splits_ == 3
    np.testing.assert_array_equal(
        generated.cv_results_["mean_test_score"], listed.cv_results_["mean_test_score"]
    )


def test_a_misspelt_parameter_in_the_grid_raises_as_gridsearchcv(data):
    """A name the estimator lacks is the user's error, not a candidate's failed fit
    scored ``error_score`` (it was scored NaN with a FitFailedWarning)."""
    X, y = data
    grid = [{"alpha": [1e-3]}, {"alhpa": [1.0]}]
    with pytest.raises(ValueError, match="Invalid parameter 'alhpa'"):
        GridSearchCV(TorchRegressor(max_iter=5), grid, cv=3).fit(X, y)
    with pytest.raises(ValueError, match="Invalid parameter 'alhpa'"):
        BatchedSearchCV(TorchRegressor(max_iter=5), grid, cv=3).fit(X, y)


@pytest.mark.parametrize("ensemble", [None, "greedy"])
def test_predict_log_proba_is_the_log_of_predict_proba(ensemble):
    """As ``GridSearchCV`` delegates it to the refitted classifier (it was missing)."""
    from sklearn.datasets import make_classification

    from torchsk import TorchClassifier

    X, y = make_classification(n_samples=90, n_features=4, random_state=0)
    est = TorchClassifier(max_iter=10, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-3, 1.0]}, cv=3, ensemble=ensemble).fit(X, y)
    np.testing.assert_allclose(
        search.predict_log_proba(X), np.log(search.predict_proba(X)), rtol=1e-6
    )
    assert not hasattr(BatchedSearchCV(TorchRegressor(), {}), "predict_log_proba")


def test_a_split_whose_network_failed_leaves_its_candidate_out_of_the_ensemble():
    """Its out-of-fold rows are NaN, never picked: they were left uninitialised memory,
    the candidate could be picked, and the blend's weights summed to 1/3 (predictions
    scaled by 1/3 without a word)."""
    rng = np.random.RandomState(0)
    X = rng.randn(90, 3)
    y = np.exp(0.5 * X[:, 0]) + rng.rand(90)
    y[:3] = -1.0  # in split 0's held-out fold: the poisson networks of splits 1 and 2 fail
    est = TorchRegressor(max_iter=15, random_state=0, hidden_layer_sizes=(8,))
    grid = {"loss": ["poisson", "squared_error"]}
    search = BatchedSearchCV(est, grid, cv=KFold(3), separate_folds=True, ensemble="greedy",
                             refit=False).fit(X, y)  # fmt: skip
    assert search.ensemble_weights_.tolist() == [0.0, 1.0]
    assert sum(weight for _, _, weight in search.ensemble_.parts) == pytest.approx(1.0)


@pytest.mark.parametrize("separate_folds", [False, True])
def test_a_constant_target_is_held_by_the_members_as_by_a_separate_fit(data, separate_folds):
    """A fit starts a constant target's output at its value; the members' own initial
    weights, drawn after that, undid it (negative MSE -0.35 where GridSearchCV has 0)."""
    X, _ = data
    y = np.full(len(X), 3.0)
    est = TorchRegressor(max_iter=5, random_state=0)
    grid = {"alpha": [1e-3, 1.0]}
    kw = dict(cv=3, scoring="neg_mean_squared_error", refit=False)
    reference = GridSearchCV(est, grid, **kw).fit(X, y)
    search = BatchedSearchCV(est, grid, separate_folds=separate_folds, **kw).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               reference.cv_results_["mean_test_score"], atol=1e-12)  # fmt: skip
    assert (reference.cv_results_["mean_test_score"] > -1e-12).all()


def test_metadata_routing_sends_weights_and_groups_where_requested_as_gridsearchcv(data):
    """With scikit-learn's metadata routing on, the estimator's and the scorer's
    requests decide where sample_weight goes (the search weighted both whatever they
    asked), weights nothing requests raise, and groups reach the splitter."""
    import sklearn
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.metrics import make_scorer, mean_squared_error
    from sklearn.model_selection import GroupKFold

    X, y = data
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(X))
    grid = {"alpha": [1e-3, 1.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        for fit_request, score_request in [(True, False), (False, True), (True, True)]:
            est = TorchRegressor(max_iter=5, random_state=0)
            est.set_fit_request(sample_weight=fit_request)
            scorer = make_scorer(mean_squared_error, greater_is_better=False)
            scorer.set_score_request(sample_weight=score_request)
            kw = dict(cv=3, scoring=scorer, refit=False)
            reference = GridSearchCV(est, grid, **kw).fit(X, y, sample_weight=w)
            search = BatchedSearchCV(est, grid, separate_folds=True, **kw).fit(
                X, y, sample_weight=w
            )
            scores = [s.cv_results_["mean_test_score"] for s in (search, reference)]
            np.testing.assert_allclose(*scores, rtol=1e-9)
            # score routes as fit does (refit: the best candidate, a separate fit)
            refitted = [cls(est, grid, cv=3, scoring=scorer).fit(X, y, sample_weight=w)
                        for cls in (GridSearchCV, BatchedSearchCV)]  # fmt: skip
            if score_request:
                scores = [search.score(X, y, sample_weight=w) for search in refitted]
                assert scores[0] == pytest.approx(scores[1], rel=1e-9)
            else:  # weights the scorer does not take
                for search in refitted:
                    with pytest.raises(TypeError, match="not routed to any object"):
                        search.score(X, y, sample_weight=w)
        for search in (GridSearchCV, BatchedSearchCV):
            with pytest.raises(UnsetMetadataPassedError):
                search(TorchRegressor(max_iter=5), grid, cv=3).fit(X, y, sample_weight=w)

        def plain(est, X, y):  # a plain callable scorer requests nothing
            return -float(np.mean((est.predict(X) - y) ** 2))

        r2 = make_scorer(mean_squared_error, greater_is_better=False)
        scorers = {"r2": r2.set_score_request(sample_weight=True), "plain": plain}
        est = TorchRegressor(max_iter=5, random_state=0).set_fit_request(sample_weight=True)
        kw = dict(cv=3, scoring=scorers, refit="plain")
        reference = GridSearchCV(est, grid, **kw).fit(X, y, sample_weight=w)
        search = BatchedSearchCV(est, grid, separate_folds=True, **kw).fit(X, y, sample_weight=w)
        scores = [s.cv_results_["mean_test_plain"] for s in (search, reference)]
        np.testing.assert_allclose(*scores, rtol=1e-9)
        assert search.score(X, y) == pytest.approx(reference.score(X, y), rel=1e-9)
        groups = np.arange(len(X)) % 3
        search = BatchedSearchCV(TorchRegressor(max_iter=5), grid, cv=GroupKFold(3), refit=False)
        search.fit(X, y, groups=groups)
        assert search.n_splits_ == 3


def test_a_group_of_scorers_gets_each_its_routed_weights_as_gridsearchcv(data):
    """Several scorers: one that asks for the weights by an alias is scored with them,
    and weights passed to scorers that state no request raise (both had been scored
    unweighted in silence, the selection then run on other scores)."""
    import sklearn
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.metrics import get_scorer

    X, y = data
    w = np.random.default_rng(1).uniform(0.1, 3.0, len(X))
    grid = {"alpha": [1e-3, 1.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        weighted = get_scorer("neg_mean_squared_error").set_score_request(sample_weight="w_s")
        est = TorchRegressor(max_iter=5, random_state=0)
        kw = dict(cv=3, scoring={"mse": weighted, "r2": "r2"}, refit="mse")
        reference = GridSearchCV(est, grid, **kw).fit(X, y, w_s=w)
        search = BatchedSearchCV(est, grid, separate_folds=True, **kw).fit(X, y, w_s=w)
        for key in ("mean_test_mse", "mean_test_r2"):
            np.testing.assert_allclose(search.cv_results_[key], reference.cv_results_[key],
                                       rtol=1e-9)  # fmt: skip
        unweighted = GridSearchCV(est, grid, **kw).fit(X, y, w_s=np.ones(len(X)))
        assert not np.allclose(unweighted.cv_results_["mean_test_mse"],
                               search.cv_results_["mean_test_mse"], rtol=1e-6)  # fmt: skip
        assert search.score(X, y, w_s=w) != pytest.approx(search.score(X, y, w_s=np.ones(len(X))))
        fitted = est.set_fit_request(sample_weight=True)
        for cls in (GridSearchCV, BatchedSearchCV):
            with pytest.raises(UnsetMetadataPassedError):
                cls(fitted, grid, cv=3, scoring=["r2", "neg_mean_squared_error"], refit=False).fit(
                    X, y, sample_weight=w
                )


def test_routed_aliases_reach_the_members_and_other_fit_metadata_is_refused(data):
    """Aliases (``set_fit_request(sample_weight="w2")``) are routed as GridSearchCV
    routes them; X_val, which the members cannot take, is refused by name (``fit``
    had raised "unexpected keyword" for both, also inside cross_validate)."""
    import sklearn
    from sklearn.metrics import make_scorer, mean_squared_error

    X, y = data
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(X))
    grid = {"alpha": [1e-3, 1.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        est = TorchRegressor(max_iter=5, random_state=0).set_fit_request(sample_weight="w2")
        scorer = make_scorer(mean_squared_error, greater_is_better=False)
        kw = dict(cv=3, scoring=scorer.set_score_request(sample_weight="w2"))
        reference = GridSearchCV(est, grid, **kw).fit(X, y, w2=w)
        search = BatchedSearchCV(est, grid, separate_folds=True, **kw).fit(X, y, w2=w)
        scores = [s.cv_results_["mean_test_score"] for s in (search, reference)]
        np.testing.assert_allclose(*scores, rtol=1e-9)
        assert search.score(X, y, w2=w) == pytest.approx(reference.score(X, y, w2=w), rel=1e-9)
        est = TorchRegressor(max_iter=5).set_fit_request(X_val=True, y_val=True)
        with pytest.raises(TypeError, match=r"got \['X_val', 'y_val'\].*GridSearchCV"):
            BatchedSearchCV(est, grid, cv=3).fit(X, y, X_val=X[:10], y_val=y[:10])
    with pytest.raises(TypeError, match=r"got \['X_val'\]"):  # routing off: refused too
        BatchedSearchCV(TorchRegressor(max_iter=5), grid, cv=3).fit(X, y, X_val=X)
    assert not hasattr(BatchedSearchCV(est, grid), "set_fit_request")  # GridSearchCV has none


def _classes(n=90, k=3):
    from sklearn.datasets import make_classification

    return make_classification(n, 4, n_informative=3, n_redundant=0, n_classes=k, random_state=0)


def test_a_callable_scorer_may_read_predict_log_proba_as_in_gridsearchcv():
    from sklearn.metrics import log_loss

    from torchsk import TorchClassifier

    X, y = _classes()

    def neg_log_loss(est, X, y):
        return -log_loss(y, np.exp(est.predict_log_proba(X)), labels=est.classes_)

    net = TorchClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    grid = {"alpha": [1e-3, 1.0]}
    ours = BatchedSearchCV(net, grid, cv=3, scoring=neg_log_loss, separate_folds=True).fit(X, y)
    theirs = GridSearchCV(net, grid, cv=3, scoring=neg_log_loss).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], rtol=1e-9
    )


@pytest.mark.parametrize("column", [False, True])
def test_the_ensemble_takes_decision_function_scorers_and_a_column_y(column):
    """The ensemble's stand-in has the classifier's decision_function (it had none: the
    fit raised), and a binary y of shape (n, 1) is single-label, as type_of_target says."""
    from sklearn.metrics import make_scorer, roc_auc_score

    from torchsk import TorchClassifier

    X, y = _classes(k=2)
    auc = make_scorer(roc_auc_score, response_method="decision_function")
    net = TorchClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    search = BatchedSearchCV(net, {"alpha": [1e-3, 1.0]}, cv=3, scoring=auc, ensemble="greedy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)
        search.fit(X, y[:, None] if column else y)
    assert 0 <= search.ensemble_score_ <= 1 and search.predict(X).shape == y.shape


def test_without_refit_the_fitted_search_has_no_classes_as_gridsearchcv():
    from sklearn.exceptions import NotFittedError

    from torchsk import TorchClassifier

    X, y = _classes()
    net = TorchClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    search = BatchedSearchCV(net, {"alpha": [1e-3, 1.0]}, cv=3, refit=False)
    with pytest.raises(NotFittedError):
        search.classes_  # noqa: B018 (the access raises)
    search.fit(X, y)
    for name in ("classes_", "n_features_in_"):
        with pytest.raises(AttributeError, match="refit=False"):
            getattr(search, name)
    assert not hasattr(search, "predict")


def test_splits_that_repeat_training_rows_need_separate_folds(data):
    """A bootstrap's repeated rows would count once in the shared network's row sets:
    refused there, and trained as GridSearchCV trains them with separate_folds."""
    X, y = data
    n = len(y)
    splits = [(np.r_[np.arange(n // 2, n), [n - 1] * 20], np.arange(n // 2)),
              (np.r_[np.arange(n // 2), [0] * 20], np.arange(n // 2, n))]  # fmt: skip
    net = TorchRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    grid = {"alpha": [1e-3, 1.0]}
    with pytest.raises(ValueError, match="separate_folds=True"):
        BatchedSearchCV(net, grid, cv=splits).fit(X, y)
    ours = BatchedSearchCV(net, grid, cv=splits, separate_folds=True).fit(X, y)
    theirs = GridSearchCV(net, grid, cv=splits).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], rtol=1e-9
    )


def test_greedy_selection_that_can_score_nothing_says_what_the_scorer_raised():
    """average_precision needs pos_label for string classes: the error had dropped
    the scorer's own message."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")
    est = TorchClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-4, 1e-2]}, cv=2, ensemble="greedy",
                             scoring="average_precision")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
            search.fit(X, y)


@pytest.mark.parametrize("est", [TorchRegressor, TorchClassifier])
def test_a_greedy_blend_that_outputs_nan_says_so_as_an_estimator_does(data, est):
    X, y = data
    y = y if est is TorchRegressor else (y > 0).astype(int)
    search = BatchedSearchCV(
        est(max_iter=3, random_state=0), {"alpha": [1e-3, 1.0]}, cv=3, ensemble="greedy"
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.predict(X)  # finite: no warning
    network = search.ensemble_.parts[0][0]
    with torch.no_grad():  # what a float32 stack makes of rows far outside training's
        network.module_.backbone.biases[-1].fill_(float("nan"))
    for method in ["predict", "predict_proba"][: 1 + (est is TorchClassifier)]:
        with pytest.warns(RuntimeWarning, match="non-finite outputs"):
            getattr(search, method)(X)


def test_a_diverging_candidate_is_not_reported_as_the_stack_being_worse_than_a_constant(data):
    # the candidates of a stacked network are judged by their scores: averaging a
    # diverged candidate with healthy ones said "the fitted network ... is worse than
    # predicting a constant" of a network that is no one's model
    X, y = data
    est = TorchRegressor(max_iter=20, solver="sgd", momentum=0.95, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search = BatchedSearchCV(est, {"learning_rate_init": [1e-3, 1.0]}, cv=3).fit(X, y)
    healthy, diverged = search.cv_results_["mean_test_score"]
    # measured kept weights (training.lowest): no longer -1e10, still the worse
    assert healthy > 0.3 and not diverged > healthy
    assert [w for w in caught if "Training diverged" in str(w.message)]
    assert not [w for w in caught if "predicting a constant" in str(w.message)]


@pytest.mark.parametrize("failure", ["refit rule", "greedy scorer"])
def test_a_search_fit_that_raises_leaves_the_fitted_search_as_it_was(data, failure):
    """The search had dropped its best_estimator_ and best_params_ (and kept the
    failed fit's cv_results_) before the work that raised: predict then said that
    refit was False. A fit that raises changes nothing, as the estimators' fits."""
    X, y = data
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-4, 1e-2]}, cv=3).fit(X, y)
    before, expected = dict(vars(search)), search.predict(X[:5])
    if failure == "refit rule":  # an index out of range, raised after the scoring
        search.set_params(refit=lambda results: 5)
    else:

        def broken(estimator, X, y):
            raise RuntimeError("scorer broke")

        search.set_params(ensemble="greedy", scoring=broken)
    with pytest.raises((IndexError, ValueError)):
        search.fit(X[:60], y[:60])
    params = search.get_params(deep=False)
    assert {k: v for k, v in vars(search).items() if k not in params} == {
        k: v for k, v in before.items() if k not in params
    }
    np.testing.assert_array_equal(search.predict(X[:5]), expected)


def test_ctrl_c_ends_the_search_and_leaves_it_as_it_was(interrupt_epoch, data):
    """A stacked network had kept the epochs done at Ctrl-C, like one fit (with a
    warning): the search went on and ranked all its candidates x folds cut short."""
    X, y = data
    grid = {"alpha": [1e-3, 1.0]}
    search = BatchedSearchCV(TorchRegressor(max_iter=5, random_state=0), grid, cv=3).fit(X, y)
    results = search.cv_results_["mean_test_score"].copy()
    calls = interrupt_epoch(3)
    with pytest.raises(KeyboardInterrupt):
        search.set_params(estimator__max_iter=50).fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"], results)
    calls.clear()  # a fit on its own still keeps its epochs, with a warning
    with pytest.warns(UserWarning, match="interrupted after 2 iterations"):
        TorchRegressor(max_iter=50, random_state=0).fit(X, y)


def test_ctrl_c_in_the_refit_ends_the_search_too(monkeypatch, data):
    """The refit of the best candidate had kept the epochs done at Ctrl-C, with a
    warning: the search returned a best_estimator_ cut short."""
    from torchsk.training import fit, loop

    X, y = data
    trains, train, epochs, run_epoch = [], fit.train, [], loop._run_epoch

    def counted(*args, **kwargs):
        trains.append(1)
        epochs.clear()
        return train(*args, **kwargs)

    def interrupted(*args, **kwargs):  # the third epoch of the second network: the refit
        epochs.append(1)
        if len(trains) == 2 and len(epochs) == 3:
            raise KeyboardInterrupt
        return run_epoch(*args, **kwargs)

    monkeypatch.setattr(fit, "train", counted)
    monkeypatch.setattr(loop, "_run_epoch", interrupted)
    search = BatchedSearchCV(TorchRegressor(max_iter=20, random_state=0), {"alpha": [1e-3, 1.0]})
    with pytest.raises(KeyboardInterrupt):
        search.fit(X, y)
    assert len(trains) == 2 and not hasattr(search, "cv_results_")


@pytest.mark.parametrize("rates", [[1e-3], [1e-3, 1e-2]])
def test_a_member_with_no_row_in_a_batch_is_left_as_its_separate_fit_leaves_it(rates):
    """Unshuffled batches over another split's rows only: the member's gradient there
    is 0, but sgd's momentum (or Adam's moments) had still moved it, so its fold score
    depended on the other splits. With sgd it is now its score alone."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = 3 * X[:, 0] + rng.normal(size=120)
    splits = list(KFold(3).split(X))
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0, solver="sgd",
                         shuffle=False, batch_size=16, tol=0)  # fmt: skip
    grid = {"learning_rate_init": rates}
    alone = BatchedSearchCV(est, grid, cv=[splits[2], splits[2]]).fit(X, y)
    beside = BatchedSearchCV(est, grid, cv=[splits[2], splits[0]]).fit(X, y)
    np.testing.assert_allclose(
        beside.cv_results_["split0_test_score"], alone.cv_results_["split0_test_score"],
        rtol=0, atol=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("rates", [None, (1e-3, 1e-2)])
def test_an_idle_members_weights_and_moments_stay_through_a_step(solver, rates):
    from torchsk.training.optim import MemberRates, make_optimizer

    flat = torch.nn.Parameter(torch.randn(6, dtype=torch.float64))
    optimizer = make_optimizer(solver, flat, 0.1)
    if rates:
        optimizer = MemberRates(optimizer, torch.tensor([1.0, 1.0, 1.0, 10.0, 10.0, 10.0]))
    frozen = torch.tensor([False, False, False, True, True, True])  # member 1 of 2
    for _ in range(3):
        flat.grad = torch.randn(6, dtype=torch.float64)
        optimizer.step()  # both members learn: moments of their own
    inner = getattr(optimizer, "inner", optimizer)
    before = [t.clone() for t in [flat.detach(), *inner.moments()]]
    flat.grad = torch.where(frozen, 0.0, torch.randn(6, dtype=torch.float64))
    optimizer.step_except(frozen)
    after = [flat.detach(), *inner.moments()]
    for old, new in zip(before, after, strict=True):
        assert torch.equal(new[frozen], old[frozen]) and not torch.equal(
            new[~frozen], old[~frozen]
        )


def test_cpu_tensors_are_searched_as_the_arrays_they_hold():
    # refused before ("needs dense rows in memory"), where GridSearchCV and the
    # estimator take them
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = 2 * X[:, 0]
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    arrays = BatchedSearchCV(est, {"alpha": [1e-3, 1.0]}, cv=3).fit(X, y)
    tensors = BatchedSearchCV(est, {"alpha": [1e-3, 1.0]}, cv=3).fit(
        torch.from_numpy(X), torch.from_numpy(y)
    )
    np.testing.assert_array_equal(
        tensors.cv_results_["mean_test_score"], arrays.cv_results_["mean_test_score"]
    )
    np.testing.assert_allclose(tensors.predict(torch.from_numpy(X)), arrays.predict(X), rtol=1e-12)
