"""``BatchedSearchCV(separate_folds=True)``: each candidate's fold scores are those of
``GridSearchCV``'s separate fits, so the speed is not bought with another algorithm."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, make_friedman1
from sklearn.model_selection import GridSearchCV, KFold, PredefinedSplit, ShuffleSplit

from torchsk import BatchedSearchCV, TorchClassifier, TorchRegressor
from torchsk.nn.ensemble import EnsembleMLP
from torchsk.nn.mlp import MLP
from torchsk.training.member_losses import PerMember
from torchsk.training.step import Penalty

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _split_scores(search) -> np.ndarray:
    return np.stack([search.cv_results_[f"split{f}_test_score"] for f in range(search.n_splits_)])


def _both(est, grid, X, y, **kwargs):
    reference = GridSearchCV(est, grid, **kwargs).fit(X, y)
    search = BatchedSearchCV(est, grid, separate_folds=True, **kwargs).fit(X, y)
    return search, reference


def test_fold_scores_are_gridsearchcvs_with_penalties_rates_and_stops_of_every_kind(diabetes):
    # alpha 10: the penalty dominates the epoch loss members stop on; lr 0.03: losses
    # that rise, where a fit goes back to its lowest epoch; the rest levels off
    X, y = diabetes
    grid = {"alpha": [1e-4, 10.0], "learning_rate_init": [1e-3, 3e-2]}
    est = TorchRegressor(hidden_layer_sizes=(32,), random_state=0)
    search, reference = _both(est, grid, X, y, cv=KFold(3, shuffle=True, random_state=0))
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)
    assert search.best_params_ == reference.best_params_
    assert search.n_groups_ == 3  # one network per split
    # the shared network's scores are close, not equal (scaling, batches shared)
    shared = BatchedSearchCV(est, grid, cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
    assert np.abs(_split_scores(shared) - _split_scores(reference)).max() > 1e-4


@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_a_classifiers_fold_scores_are_gridsearchcvs(scoring):
    X, y = load_breast_cancer(return_X_y=True)
    grid = {"alpha": [1e-3, 0.3], "learning_rate_init": [1e-3, 1e-2]}
    est = TorchClassifier(hidden_layer_sizes=(8,), max_iter=60, random_state=3)
    search, reference = _both(est, grid, X, y, cv=4, scoring=scoring)
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)


def test_fold_scores_are_gridsearchcvs_through_the_torch_pass_of_large_stacks():
    # 16 candidates of (100,) on 20 inputs: 35,000 parameters, the hand-written torch
    # pass (training.plan.STACKED_TORCH_PARAMS), not the numpy one
    X, y = make_friedman1(n_samples=400, n_features=20, noise=1.0, random_state=0)
    grid = {"alpha": [1e-4, 0.1, 1.0, 10.0], "learning_rate_init": [1e-3, 2e-3, 5e-3, 1e-2]}
    est = TorchRegressor(max_iter=25, random_state=1)
    search, reference = _both(est, grid, X, y, cv=3)
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)


def test_candidates_that_diverge_score_as_gridsearchcvs_fits():
    # sgd with heavy momentum: members whose loss overflows go back to the weights that
    # began their last finite epoch, as a separate fit does (they had kept the weights
    # that began the failed epoch: -inf fold scores where GridSearchCV's were finite)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.normal(size=90)
    est = TorchRegressor(max_iter=30, solver="sgd", momentum=0.95, random_state=0)
    grid = {"learning_rate_init": [0.01, 0.09, 1.0, 100.0]}
    search, reference = _both(est, grid, X, y, cv=KFold(3))
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), rtol=1e-10)
    assert np.isfinite(_split_scores(reference)).all()


def test_member_penalties_keep_their_float64_alpha():
    # a float32 0.1 (0.100000001) pulled members 1e-9 off a separate fit in one epoch
    weight = torch.nn.Parameter(torch.ones(2, 3, 4, dtype=torch.float64))
    weight.grad = torch.zeros_like(weight)
    penalty = Penalty([weight], 0.1, member_alpha=(0.1, 0.3))
    assert penalty.member_alpha.tolist() == [0.1, 0.3]
    penalty.add_member_grad(torch.tensor([10.0, 10.0], dtype=torch.float64))
    assert weight.grad[0, 0, 0].item() == pytest.approx(0.01, rel=1e-14)


def test_a_member_starts_from_the_weights_of_a_network_of_its_seed():
    shape = dict(n_inputs=5, n_outputs=2, hidden_layer_sizes=(7, 3), activation="relu",
                 dropout=0.0, dtype=torch.float64)  # fmt: skip
    single = MLP(**shape, generator=torch.Generator().manual_seed(11))
    ensemble = EnsembleMLP(**shape, n_members=3, generator=torch.Generator().manual_seed(0))
    ensemble.reset_member(1, torch.Generator().manual_seed(11))
    for layer, weight, bias in zip(single.linears(), ensemble.weights, ensemble.biases,
                                   strict=True):  # fmt: skip
        torch.testing.assert_close(weight[1], layer.weight.T, rtol=0, atol=0)
        torch.testing.assert_close(bias.view(3, -1)[1], layer.bias, rtol=0, atol=0)


def test_separate_fold_networks_select_and_blend_an_ensemble(diabetes):
    X, y = diabetes
    grid = {"alpha": [1e-4, 1.0], "learning_rate_init": [1e-3, 1e-2]}
    est = TorchRegressor(hidden_layer_sizes=(16,), max_iter=40, random_state=0)
    search = BatchedSearchCV(est, grid, cv=3, separate_folds=True, ensemble="greedy",
                             refit=False).fit(X, y)  # fmt: skip
    assert search.ensemble_weights_.sum() == pytest.approx(1.0)
    # each selected candidate's three fold networks, averaged: the module says the same
    x = search.to_module_input(X[:20])
    with torch.no_grad():
        from_module = search.module_(x).numpy().ravel()
    np.testing.assert_allclose(from_module, search.predict(X[:20]), rtol=1e-9)


def test_fold_networks_that_code_categories_differently_have_no_one_module():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=90),
                      "c": pd.Categorical(["a"] * 30 + ["b"] * 30 + ["c"] * 30)})  # fmt: skip
    y = X["x"].to_numpy() + (X["c"] == "b").to_numpy()
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-4, 1.0]}, cv=3, separate_folds=True,
                             ensemble="greedy", refit=False).fit(X, y)  # fmt: skip
    assert search.predict(X).shape == (90,)  # each network codes X itself
    with pytest.raises(AttributeError, match="code categorical columns differently"):
        search.module_  # noqa: B018


def test_lone_candidates_and_chunks_of_one_still_score_as_gridsearchcv(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    for grid, max_members in (({"alpha": [1e-4]}, 256), ({"alpha": [1e-4, 1e-2, 1.0]}, 2)):
        search, reference = _both(est, grid, X, y, cv=3)
        chunked = BatchedSearchCV(est, grid, cv=3, separate_folds=True,
                                  max_members=max_members).fit(X, y)  # fmt: skip
        for result in (search, chunked):
            np.testing.assert_allclose(_split_scores(result), _split_scores(reference), atol=1e-10)


@pytest.mark.parametrize("layout", [{}, {"separate_folds": True}, {"max_members": 1}])
def test_one_split_a_fixed_validation_set_searches_as_gridsearchcv(diabetes, layout):
    # a validation set of the user's (PredefinedSplit), one random split, one given pair
    X, y = diabetes[0][:200], diabetes[1][:200]
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    grid = {"alpha": [1e-2, 1.0, 10.0]}
    for cv in (PredefinedSplit(np.r_[[-1] * 150, [0] * 50]),
               ShuffleSplit(1, test_size=0.25, random_state=0),
               [(np.arange(50, 200), np.arange(50))]):  # fmt: skip
        reference = GridSearchCV(est, grid, cv=cv).fit(X, y)
        search = BatchedSearchCV(est, grid, cv=cv, **layout).fit(X, y)
        assert search.n_splits_ == 1 and search.best_params_ == reference.best_params_
        np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)
        np.testing.assert_array_equal(search.predict(X), reference.predict(X))  # the refit


def test_an_empty_cv_is_refused_as_gridsearchcv_refuses_it(diabetes):
    X, y = diabetes
    est = TorchRegressor(max_iter=2)
    for Search in (GridSearchCV, BatchedSearchCV):  # not a division by zero
        with pytest.raises(ValueError, match="No fits were performed. Was the CV iterator"):
            Search(est, {"alpha": [1e-2, 1.0]}, cv=[]).fit(X, y)


@pytest.mark.parametrize("classifier", [False, True])
def test_weighted_rows_are_scored_weighted_as_gridsearchcv_scores_them(diabetes, classifier):
    X, y = load_breast_cancer(return_X_y=True) if classifier else diabetes
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    cls, scoring = (TorchClassifier, "neg_log_loss") if classifier else (TorchRegressor, None)
    est = cls(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    grid = {"alpha": [1e-4, 1.0]}
    reference = GridSearchCV(est, grid, cv=3, scoring=scoring).fit(X, y, sample_weight=w)
    search = BatchedSearchCV(est, grid, cv=3, scoring=scoring, separate_folds=True)
    search.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)


@pytest.mark.parametrize(
    ("loss", "grid"),
    [
        ("huber", {"huber_delta": [0.3, 1.35, 5.0], "alpha": [1e-4, 1.0]}),
        ("quantile", {"quantile": [0.2, 0.5, 0.9]}),
    ],
)
def test_members_of_their_own_loss_settings_score_as_gridsearchcv(diabetes, loss, grid):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(16,), loss=loss, max_iter=30, random_state=0)
    search, reference = _both(est, grid, X, y, cv=3)
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)
    assert search.n_groups_ == 3  # the settings are members' own: one network per split


def test_members_of_their_own_label_smoothing_score_as_gridsearchcv():
    X, y = load_breast_cancer(return_X_y=True)
    est = TorchClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=3)
    grid = {"label_smoothing": [0.0, 0.1, 0.3]}
    search, reference = _both(est, grid, X, y, cv=3, scoring="neg_log_loss")
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)
    # smoothing pulls the probabilities in: the scores differ between candidates
    assert np.ptp(search.cv_results_["mean_test_score"]) > 1e-3


def test_loss_settings_through_the_torch_pass_that_drops_stopped_members(monkeypatch):
    # 16 candidates of (100,): the hand-written torch pass, where members that stopped
    # leave the computed stack; their loss settings must leave with them
    computed = []
    subset = PerMember.subset
    monkeypatch.setattr(
        PerMember,
        "subset",
        lambda self, active: computed.append(sum(active)) or subset(self, active),
    )
    X, y = make_friedman1(n_samples=200, n_features=20, noise=1.0, random_state=0)
    grid = {"huber_delta": [0.1, 0.5, 1.0, 3.0], "learning_rate_init": [1e-3, 3e-3, 1e-2, 3e-2]}
    est = TorchRegressor(loss="huber", max_iter=60, random_state=1)
    search, reference = _both(est, grid, X, y, cv=3)
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)
    assert len(set(reference.cv_results_["mean_test_score"].round(6))) == 16
    assert min(computed) < 16  # some members stopped before the others


def test_loss_settings_whose_members_all_stop_before_max_iter():
    # every member converged in the torch pass: the stack is left with none to compute
    X, y = make_friedman1(n_samples=400, n_features=20, noise=1.0, random_state=0)
    est = TorchRegressor(loss="huber", hidden_layer_sizes=(256,), early_stopping=True,
                         random_state=1)  # fmt: skip
    search = BatchedSearchCV(est, {"huber_delta": [0.5, 2.0]}, cv=3).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("batch_size", [1000, 32])
@pytest.mark.parametrize(
    "case", ["regression", "binary", "multilabel", "RandomState", "no weight", "one weight"]
)
def test_early_stopping_members_stop_as_gridsearchcvs_fits_on_their_split(
    case, batch_size, diabetes
):
    # each member holds out the rows its separate fit does (multilabel rows
    # unstratified; a RandomState drawn from as a copy) and trains on the rest alone, in
    # the split's order, so its mini-batches are the separate fit's; it stops on its
    # score (R², accuracy) with tol, as scikit-learn's early stopping does: judged by
    # its training loss where its held-out rows weigh 0, or all but one (R² cannot score
    # the targets of one weighted row: a separate fit's split says so, and stops so too)
    from torchsk.estimators.search_members import member_rows

    X, y = diabetes[0][:240], diabetes[1][:240]
    cls = (
        TorchRegressor
        if case in ("regression", "RandomState", "no weight", "one weight")
        else TorchClassifier
    )
    if case == "binary":
        y = (y > np.median(y)).astype(int)
    elif case == "multilabel":
        y = np.c_[y > np.median(y), X[:, 2] > 0].astype(int)
    state = np.random.RandomState(0) if case == "RandomState" else 0
    est = cls(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3,
              batch_size=batch_size, max_iter=60, random_state=state)  # fmt: skip
    cv = KFold(3, shuffle=True, random_state=0)
    sw = np.ones(len(y))
    if case.endswith("weight"):  # split 0's early-stopping rows: all, or all but one, at 0
        train = next(cv.split(X))[0]
        held = train[member_rows(est, np.arange(len(train)), y[train], 0)[1]]
        sw[held if case == "no weight" else held[1:]] = 0.0
    grid = {"learning_rate_init": [1e-2, 3e-2]}
    reference = GridSearchCV(est, grid, cv=cv).fit(X, y, sample_weight=sw)
    search = BatchedSearchCV(est, grid, cv=cv, separate_folds=True).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(_split_scores(search), _split_scores(reference), atol=1e-10)


def test_a_refitted_ensembles_members_split_and_batch_as_separate_fits(diabetes):
    # the greedy ensemble's refit on all the rows, with early stopping and mini-batches:
    # its members train on the rows they keep alone, in the split's order; the first
    # starts from its candidate's separate fit's weights and seed, so it predicts as
    # that fit does (before, the held-out rows stayed in its batches at weight 0)
    from torchsk.estimators.selection import member_outputs

    X, y = diabetes[0][:240], diabetes[1][:240]
    est = TorchRegressor(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3,
                         batch_size=32, max_iter=60, random_state=0)  # fmt: skip
    grid = {"learning_rate_init": [1e-2, 3e-2]}
    search = BatchedSearchCV(est, grid, cv=3, ensemble="greedy").fit(X, y)
    network, members, _ = search.ensemble_.parts[0]
    first = np.flatnonzero(search.ensemble_weights_)[0]
    separate = est.set_params(**search.cv_results_["params"][first]).fit(X, y)
    member = member_outputs(network, X)[members[0]].numpy().ravel()
    np.testing.assert_allclose(member, separate.predict(X), atol=1e-10)
