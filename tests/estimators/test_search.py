"""``BatchedSearchCV``: a grid's candidates × folds trained as members of one stacked
network, each member on its own rows with its own ``alpha`` and learning rate, and
reported as ``GridSearchCV`` reports."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import log_loss, r2_score
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, ShuffleSplit

from torchsk import BatchedSearchCV, TorchClassifier, TorchRegressor
from torchsk.estimators.selection import greedy_weights, member_outputs
from torchsk.training.members import MemberRows
from torchsk.training.step import Penalty

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def test_results_read_as_gridsearchcvs_and_pick_the_same_candidate(diabetes):
    X, y = diabetes
    # a clear best: the others barely move (lr 1e-5) or are flattened (alpha 1e3)
    grid = {"alpha": [1e-4, 1e3], "learning_rate_init": [1e-5, 1e-2]}
    est = TorchRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0)
    search = BatchedSearchCV(est, grid, cv=3).fit(X, y)
    reference = GridSearchCV(est, grid, cv=3).fit(X, y)
    assert set(search.cv_results_) == set(reference.cv_results_)
    for key in ("param_alpha", "param_learning_rate_init", "rank_test_score"):
        assert search.cv_results_[key].dtype == reference.cv_results_[key].dtype
    assert (
        search.best_params_
        == reference.best_params_
        == {"alpha": 1e-4, "learning_rate_init": 1e-2}
    )
    table = pd.DataFrame(search.cv_results_)  # reports read it as GridSearchCV's
    assert table.loc[search.best_index_, "rank_test_score"] == 1
    assert search.best_score_ == pytest.approx(table["mean_test_score"].max())
    assert abs(search.best_score_ - reference.best_score_) < 0.05
    assert search.n_groups_ == 1  # every candidate a member of one network
    np.testing.assert_allclose(search.predict(X[:5]), search.best_estimator_.predict(X[:5]))
    assert search.score(X, y) == pytest.approx(search.best_estimator_.score(X, y))


def _fit_members(est, X, y, alpha, rates, train):
    est = clone(est).set_params(n_ensemble=len(alpha))
    est._validate_params()
    return est._fit(X, y, members=MemberRows(train, tuple(alpha), tuple(rates)))


def _member(est, m):
    return [w[m].numpy() for w in est.module_.backbone.weights]


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_each_member_trains_and_stops_as_if_alone(diabetes, solver):
    # members only share batches: member 0 ends where it ends whatever member 1's
    # rate, penalty or stopping point (each stops on its own: training.members)
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=60, solver=solver, random_state=0)
    train = np.ones((len(X), 2), dtype=bool)
    same = _fit_members(est, X, y, [1e-3, 1e-3], [1e-3, 1e-3], train)
    rate = _fit_members(est, X, y, [1e-3, 1e-3], [1e-3, 3e-2], train)
    alpha = _fit_members(est, X, y, [1e-3, 30.0], [1e-3, 1e-3], train)
    diverged = _fit_members(est, X, y, [1e-3, 1e-3], [1e-3, 1e3], train)
    for other in (rate, alpha, diverged):
        for a, b in zip(_member(same, 0), _member(other, 0), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        assert not np.allclose(_member(same, 1)[0], _member(other, 1)[0])
    # the larger penalty pulls member 1's weights in; the diverged one kept finite ones
    assert np.linalg.norm(_member(alpha, 1)[0]) < np.linalg.norm(_member(same, 1)[0])
    assert all(np.isfinite(w).all() for w in _member(diverged, 1))


def test_a_diverging_candidate_leaves_the_others_scores_alone(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=30, solver="sgd", random_state=0)
    scores = {}
    for third in (1.1e-2, 50.0):  # 50: sgd's weights explode within a few epochs
        grid = {"learning_rate_init": [1e-3, 1e-2, third]}
        search = BatchedSearchCV(est, grid, cv=3, refit=False).fit(X, y)
        scores[third] = search.cv_results_["mean_test_score"]
    np.testing.assert_allclose(scores[50.0][:2], scores[1.1e-2][:2], rtol=1e-9)
    assert scores[50.0][2] < 0 < scores[50.0][0]


def test_a_member_never_learns_from_its_held_out_rows():
    X, y = load_breast_cancer(return_X_y=True)
    held_out = np.arange(len(X)) % 3 == 0
    train = np.stack([~held_out, held_out | (np.arange(len(X)) % 3 == 1)], axis=1)
    changed = np.where(held_out, 1 - y, y)  # member 0's held-out rows get other labels
    est = TorchClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    a = _fit_members(est, X, y, [1e-4, 1e-4], [1e-3, 1e-3], train)
    b = _fit_members(est, X, changed, [1e-4, 1e-4], [1e-3, 1e-3], train)
    for wa, wb in zip(_member(a, 0), _member(b, 0), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(_member(a, 1)[0], _member(b, 1)[0])  # it trained on them


def test_member_outputs_average_to_the_ensembles_prediction(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=3, n_ensemble=3, random_state=0)
    est.fit(X, y)
    outputs = member_outputs(est, X)
    assert outputs.shape == (3, len(X), 1)
    np.testing.assert_allclose(outputs.mean(0)[:, 0].numpy(), est.predict(X), rtol=1e-9)


def test_a_scorer_sees_each_members_probabilities():
    X, y = load_breast_cancer(return_X_y=True)
    cv = KFold(2, shuffle=True, random_state=0)
    est = TorchClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-4]}, scoring="neg_log_loss", cv=cv).fit(X, y)
    # the same members, refitted as the search builds them: member f held out fold f
    splits = list(cv.split(X, y))
    train = np.stack([np.isin(np.arange(len(X)), tr) for tr, _ in splits], axis=1)
    rate = [est.learning_rate_init] * 2
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max - 1000)  # random_state=0's
    members = clone(est).set_params(n_ensemble=2)
    members._validate_params()
    given = MemberRows(train, (1e-4,) * 2, tuple(rate), init_seeds=(seed, seed + 1))
    members._fit(X, y, members=given)
    for f, (_, te) in enumerate(splits):
        proba = members.module_.head(member_outputs(members, X[te])[f]).numpy()
        expected = -log_loss(y[te], proba)
        assert search.cv_results_[f"split{f}_test_score"][0] == pytest.approx(expected)


def test_other_parameters_group_candidates_and_chunks_bound_the_members(diabetes):
    X, y = diabetes
    est = TorchRegressor(max_iter=3, random_state=0)
    grid = {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-4, 1e-2, 1.0]}
    assert BatchedSearchCV(est, grid, cv=2).fit(X, y).n_groups_ == 2
    search = BatchedSearchCV(est, grid, cv=2, max_members=4, refit=False).fit(X, y)
    assert search.n_groups_ == 4  # 3 candidates x 2 folds per group: chunks of 2 and 1
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert not hasattr(search, "best_estimator_")
    with pytest.raises(AttributeError):
        search.predict(X)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    named = BatchedSearchCV(est, {"alpha": [1e-4]}, cv=2).fit(frame, y)
    np.testing.assert_array_equal(named.feature_names_in_, frame.columns)
    assert not hasattr(BatchedSearchCV(est, {"alpha": [1e-4]}, cv=2).fit(X, y),
                       "feature_names_in_")  # fmt: skip


def test_early_stopping_members_hold_out_a_share_of_their_own_rows(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=40, random_state=0)
    grid = {"learning_rate_init": [1e-3, 3e-2]}
    plain = BatchedSearchCV(est, grid, cv=3, refit=False).fit(X, y)
    stopped = BatchedSearchCV(est.set_params(early_stopping=True), grid, cv=3).fit(X, y)
    assert np.isfinite(stopped.cv_results_["mean_test_score"]).all()
    assert not np.allclose(stopped.cv_results_["mean_test_score"],
                           plain.cv_results_["mean_test_score"])  # fmt: skip
    assert stopped.best_estimator_.early_stopping  # the refit stops as the members did
    with pytest.raises(ValueError, match="validation set is too small"):
        BatchedSearchCV(est.set_params(validation_fraction=0.001), grid, cv=3).fit(X, y)


def test_a_class_of_one_row_splits_early_stopping_rows_unstratified_alike():
    # a class of one row in a fold's training rows: no stratified split puts it on both
    # sides, so a separate fit splits unstratified (as MLPClassifier splits every
    # multiclass y; it raised train_test_split's error), and the members draw alike
    X, y = load_wine(return_X_y=True)
    two = np.stack([np.flatnonzero(y == 0)[:20], np.flatnonzero(y == 1)[:20]], 1).ravel()
    rows = np.r_[two, np.flatnonzero(y == 2)[:1]]  # classes 0 and 1 alternating, one 2
    X, y = X[rows], y[rows]
    est = TorchClassifier(hidden_layer_sizes=(4,), max_iter=5, early_stopping=True,
                          validation_fraction=0.2, random_state=0)  # fmt: skip
    splits = [(np.arange(20, len(y)), np.arange(20)), (np.arange(20), np.arange(20, len(y)))]
    grid = {"alpha": [1e-4, 1e-2]}
    reference = GridSearchCV(est, grid, cv=splits).fit(X, y)
    search = BatchedSearchCV(est, grid, cv=splits, separate_folds=True).fit(X, y)
    for key in ("split0_test_score", "split1_test_score"):
        np.testing.assert_allclose(search.cv_results_[key], reference.cv_results_[key], atol=1e-10)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("solver", ["lbfgs", "rprop"])
def test_members_early_stopping_rows_are_refused_by_a_full_batch_solver(diabetes, solver):
    # nothing would score the held rows: refused before anything is fitted
    X, y = diabetes
    held = np.arange(len(X)) % 5 == 0
    rows = MemberRows(np.stack([~held] * 2, 1), (1e-4,) * 2, (0.05,) * 2, np.stack([held] * 2, 1))
    est = TorchRegressor(hidden_layer_sizes=(4,), solver=solver, n_ensemble=2, max_iter=3)
    est._validate_params()
    with pytest.raises(ValueError, match="early-stopping rows need a mini-batch solver"):
        est._fit(X, y, members=rows)
    assert not hasattr(est, "module_")


def test_an_early_stopping_member_keeps_its_best_epoch(diabetes):
    # the weights kept are those of the epoch whose loss on the member's early-stopping
    # rows was lowest: the same fit cut after each epoch shows every epoch's weights
    X, y = diabetes
    held = np.arange(len(X)) % 5 == 0
    rows = MemberRows(np.stack([~held] * 2, 1), (1e-4,) * 2, (0.05,) * 2, np.stack([held] * 2, 1))

    def fit(max_iter):
        est = TorchRegressor(hidden_layer_sizes=(8,), solver="sgd", max_iter=max_iter,
                             n_ensemble=2, random_state=0)  # fmt: skip
        est._validate_params()
        est._fit(X, y, members=rows)
        errors = ((member_outputs(est, X[held])[:, :, 0].numpy() - y[held]) ** 2).mean(1)
        return est, errors

    stopped, kept = fit(40)
    assert stopped.n_iter_ < 40  # the members stopped on their own
    each = np.array([fit(e)[1] for e in range(1, stopped.n_iter_ + 1)])
    np.testing.assert_allclose(kept, each.min(axis=0), rtol=1e-9)


@pytest.mark.parametrize(
    ("params", "grid", "match"),
    [
        ({"n_ensemble": 2}, {}, "n_ensemble=1"),
        ({"n_ensemble": 2, "member_rows": "folds"}, {}, "member_rows='all'"),
        ({"warm_start": True}, {}, "warm_start=False"),
        ({"module": torch.nn.Linear(10, 1)}, {}, "module=None"),
        ({}, {"n_ensemble": [1, 2]}, "cannot be searched"),
        ({"solver": "lbfgs"}, {}, "mini-batch solvers"),
        ({"solver": "sgd", "learning_rate": "adaptive"}, {}, "adaptive"),
        ({}, {"alpha": [-1.0]}, "alpha"),
        ({}, {"learning_rate_init": [0.0]}, "learning_rate_init"),
    ],
)
def test_what_members_cannot_be_is_refused(diabetes, params, grid, match):
    X, y = diabetes
    est = TorchRegressor(max_iter=2, **params)
    with pytest.raises(ValueError, match=match):
        BatchedSearchCV(est, {"alpha": [1e-4], **grid}, cv=2).fit(X, y)


def test_a_multilabel_selection_is_refused(diabetes):
    X, y = diabetes
    Y = np.stack([y > 100, y > 200], axis=1).astype(int)
    with pytest.raises(ValueError, match="single-label"):
        BatchedSearchCV(TorchClassifier(), {"alpha": [1e-4]}, cv=KFold(2), ensemble="greedy").fit(
            X, Y
        )


def test_a_split_whose_training_rows_all_weigh_zero_is_refused(diabetes):
    X, y = diabetes[0][:60], diabetes[1][:60]
    weights = np.r_[np.zeros(40), np.ones(20)]  # split 2 of KFold(3) trains on rows 0-39
    search = BatchedSearchCV(TorchRegressor(max_iter=2), {"alpha": [1e-4]}, cv=KFold(3))
    with pytest.raises(ValueError, match="split 2 all have zero sample_weight"):
        search.fit(X, y, sample_weight=weights)
    assert not hasattr(search, "cv_results_")


def test_sparse_rows_are_refused(diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match="dense rows in memory"):
        BatchedSearchCV(TorchRegressor(), {"alpha": [1e-4]}).fit(sp.csr_matrix(X), y)


def test_the_member_penalty_value_is_what_its_gradient_differentiates():
    # L-BFGS reads both: a value of another penalty misleads its line search
    torch.manual_seed(0)
    weight = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    weight.grad = torch.zeros_like(weight)
    penalty = Penalty([weight], alpha=1.0, member_alpha=(0.5, 2.0, 0.0))
    totals = torch.tensor([10.0, 4.0, 0.0], dtype=torch.float64)
    penalty.add_member_grad(totals)
    x = weight.detach().clone().requires_grad_()
    expected = 0.5 * (0.5 * x[0].pow(2).sum() / 10 + 2.0 * x[1].pow(2).sum() / 4)
    expected.backward()
    assert penalty.member_value(totals) == pytest.approx(expected.item())
    torch.testing.assert_close(weight.grad, x.grad)


def test_greedy_selection_mixes_candidates_whose_errors_cancel():
    truth = np.linspace(0, 1, 50)[:, None]
    oof = np.stack([truth + 0.2, truth - 0.2, truth + 0.5, np.full_like(truth, np.nan)])

    def score(averaged):
        return -float(((averaged - truth) ** 2).mean())

    weights = greedy_weights(oof, score)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] == pytest.approx(0.5) and weights[1] == pytest.approx(0.5)
    assert weights[3] == 0  # non-finite predictions are never picked
    assert score(np.tensordot(weights[:3], oof[:3], axes=1)) > max(score(o) for o in oof[:3])


def test_the_selected_ensemble_predicts_its_members_weighted_mean(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    grid = {"alpha": [1e-4, 1.0, 100.0], "learning_rate_init": [1e-3, 1e-2]}
    search = BatchedSearchCV(est, grid, cv=3, ensemble="greedy", refit=False).fit(X, y)
    assert search.ensemble_weights_.sum() == pytest.approx(1.0)
    expected = sum(
        weight * member_outputs(member_net, X[:20])[members].mean(0)[:, 0].numpy()
        for member_net, members, weight in search.ensemble_.parts
    )
    np.testing.assert_allclose(search.predict(X[:20]), expected, rtol=1e-9)
    assert search.score(X, y) == pytest.approx(r2_score(y, search.predict(X)))
    again = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(again.predict(X[:20]), search.predict(X[:20]))


def test_a_selected_classifier_ensemble_gives_probabilities():
    X, y = load_wine(return_X_y=True)
    est = TorchClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    search = BatchedSearchCV(
        est, {"alpha": [1e-3, 1.0, 10.0]}, scoring="neg_log_loss", ensemble="greedy"
    ).fit(X, y)
    proba = search.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(search.predict(X), search.classes_[proba.argmax(axis=1)])
    # never worse than its best candidate (its first pick), and better than chance's
    assert search.ensemble_score_ >= search.best_score_ - 0.01
    assert search.ensemble_score_ > -np.log(3)


def test_selection_needs_folds_that_hold_out_each_row_once(diabetes):
    X, y = diabetes
    cv = ShuffleSplit(3, test_size=0.2, random_state=0)
    with pytest.raises(ValueError, match="hold out every row exactly once"):
        BatchedSearchCV(TorchRegressor(), {"alpha": [1e-4]}, cv=cv, ensemble="greedy").fit(X, y)


def test_candidates_start_alike_so_only_their_parameters_rank_them(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    same = BatchedSearchCV(est, {"alpha": [1e-4] * 3}, cv=3, refit=False).fit(X, y)
    np.testing.assert_array_equal(same.cv_results_["split0_test_score"], same.cv_results_[
        "split0_test_score"][0])  # fmt: skip
    # adding a candidate changes nothing for the others (its place, the group's size)
    two = BatchedSearchCV(est, {"alpha": [1e-4, 1.0]}, cv=3, refit=False).fit(X, y)
    three = BatchedSearchCV(est, {"alpha": [1e-4, 1.0, 30.0]}, cv=3, refit=False).fit(X, y)
    np.testing.assert_allclose(
        three.cv_results_["mean_test_score"][:2], two.cv_results_["mean_test_score"], rtol=1e-9
    )


def test_random_states_are_members_of_one_network_each_its_own_initial_weights(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    seeds = BatchedSearchCV(est, {"random_state": [0, 1, 2]}, cv=3, refit=False).fit(X, y)
    assert seeds.n_groups_ == 1
    scores = seeds.cv_results_["mean_test_score"]
    assert len(set(scores)) == 3  # three initial weights, three results
    # each as it is alone in the grid; random_state=0 is the estimator's own seed
    alone = BatchedSearchCV(est, {"random_state": [1]}, cv=3, refit=False).fit(X, y)
    np.testing.assert_allclose(scores[1], alone.cv_results_["mean_test_score"][0], rtol=1e-9)
    own = BatchedSearchCV(est, {"alpha": [est.alpha]}, cv=3, refit=False).fit(X, y)
    np.testing.assert_allclose(scores[0], own.cv_results_["mean_test_score"][0], rtol=1e-9)
    # candidates of one random_state value still start alike on a fold (None: a seed
    # drawn at random; the members' stacked products may round a last bit apart)
    same = BatchedSearchCV(est, {"random_state": [None], "alpha": [1e-4, 1e-4]}, cv=3,
                           refit=False).fit(X, y)  # fmt: skip
    np.testing.assert_allclose(*same.cv_results_["mean_test_score"].reshape(2, 1), rtol=1e-12)
    # a seed ensemble: the selected seeds refitted side by side in one network
    grid = {"random_state": [0, 1, 2]}
    bagged = BatchedSearchCV(est, grid, cv=3, ensemble="greedy").fit(X, y)
    assert len({id(network) for network, _, _ in bagged.ensemble_.parts}) == 1
    assert np.isfinite(bagged.predict(X[:5])).all()


def test_dropout_rates_are_members_of_one_network(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0)
    grid = {"dropout": [0.0, 0.3]}
    search = BatchedSearchCV(est, grid, cv=3, ensemble="greedy", refit=False).fit(X, y)
    assert search.n_groups_ == 1
    network = search.ensemble_.parts[0][0]
    # a member that drops units trains through autograd, its rates one per member
    assert network._plan.objective == "autograd"
    rates = network.module_.backbone.drop.rates.tolist()
    assert rates == [0.0] * 3 + [0.3] * 3  # candidate-major: 3 folds each
    scores = search.cv_results_["mean_test_score"]
    alone = BatchedSearchCV(est, {"dropout": [0.0]}, cv=3, refit=False).fit(X, y)
    # the members without dropout train as they do without the dropout candidate
    np.testing.assert_allclose(scores[0], alone.cv_results_["mean_test_score"][0], rtol=1e-9)
    assert scores[1] != scores[0]


def test_a_random_state_object_in_the_grid_is_left_as_given(diabetes):
    X, y = diabetes[0][:200], diabetes[1][:200]
    state = np.random.RandomState(5)
    before = state.get_state()[2]
    grid = {"random_state": [state], "alpha": [1e-4, 1e-3]}
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    chunked = BatchedSearchCV(est, grid, cv=3, max_members=3).fit(X, y)  # 2 networks
    whole = BatchedSearchCV(est, grid, cv=3).fit(X, y)
    again = whole.fit(X, y).cv_results_["split0_test_score"].copy()
    np.testing.assert_array_equal(chunked.cv_results_["split0_test_score"], again)
    assert state.get_state()[2] == before  # drawn from copies, as GridSearchCV's clones


def test_a_later_fit_without_refit_leaves_no_earlier_model(diabetes):
    X, y = diabetes
    search = BatchedSearchCV(TorchRegressor(max_iter=3, random_state=0), {"alpha": [1e-4]},
                             cv=2).fit(X, y)  # fmt: skip
    assert search.module_ is search.best_estimator_.module_
    search.set_params(refit=False).fit(X[:, :3], y)
    for name in ("best_estimator_", "module_", "n_features_in_", "refit_time_"):
        assert not hasattr(search, name)


def test_early_stopping_rows_do_not_count_as_training_weight():
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:90], y[:90]
    est = TorchRegressor(max_iter=2, early_stopping=True, validation_fraction=0.2,
                         random_state=0)  # fmt: skip
    search = BatchedSearchCV(est, {"alpha": [1e-4]}, cv=KFold(3))
    splits = list(KFold(3).split(X))
    from torchsk.estimators.search_members import member_rows

    weights = np.ones(len(y))
    train, held = member_rows(clone(est), splits[0][0], y, 0)
    weights[train] = 0.0  # split 0's members would learn from nothing
    with pytest.raises(ValueError, match="split 0 all have zero sample_weight"):
        search.fit(X, y, sample_weight=weights)


def test_a_group_whose_members_all_converge_early(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=500, tol=1e-2, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-3, 1.0]}, cv=3).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_greedy_selection_keeps_its_best_round_and_prefers_its_picks_on_ties():
    truth = np.repeat([[1.0], [0.0]], 10, axis=0)
    good, bad = truth.copy(), 1 - truth
    oof = np.stack([bad, good * 0.5 + bad * 0.5, good])

    def accuracy(averaged):  # plateaus: adding candidates ties often
        return float(((averaged > 0.5) == (truth > 0.5)).mean())

    # round 2 ties the uninformative candidate with the one picked: the picked one wins
    np.testing.assert_array_equal(greedy_weights(oof, accuracy), [0, 0, 1])


def test_candidates_are_grouped_by_value_not_by_how_they_print(diabetes):
    X, y = diabetes
    losses = [torch.nn.HuberLoss(delta=0.01), torch.nn.HuberLoss(delta=100.0)]
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    search = BatchedSearchCV(est, {"loss": losses}, cv=2, refit=False).fit(X, y)
    assert search.n_groups_ == 2


def test_a_custom_scorer_that_predicts_on_other_rows_gets_their_predictions(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0)

    def shifted(estimator, X, y):
        return r2_score(y, estimator.predict(X + 0.5))

    plain = BatchedSearchCV(est, {"alpha": [1e-4]}, cv=2, refit=False).fit(X, y)
    moved = BatchedSearchCV(est, {"alpha": [1e-4]}, cv=2, scoring=shifted, refit=False)
    moved.fit(X, y)
    assert moved.best_score_ < plain.best_score_ - 1


def test_group_splitters_get_the_groups(diabetes):
    X, y = diabetes
    groups = np.arange(len(X)) % 4
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-4]}, cv=GroupKFold(4), ensemble="greedy")
    search.fit(X, y, groups=groups)
    assert search.n_splits_ == 4 and np.isfinite(search.ensemble_score_)


def test_the_selected_candidates_are_refitted_on_all_rows(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    grid = {"alpha": [1e-4, 1.0, 100.0]}
    folds = BatchedSearchCV(est, grid, cv=3, ensemble="greedy", refit=False).fit(X, y)
    refitted = BatchedSearchCV(est, grid, cv=3, ensemble="greedy").fit(X, y)
    np.testing.assert_array_equal(refitted.ensemble_weights_, folds.ensemble_weights_)
    parts = refitted.ensemble_.parts
    assert sum(weight for *_, weight in parts) == pytest.approx(1.0)
    # one network per group of selected candidates, each member trained on every row
    # (a lone candidate twice, from two initial weights)
    assert all(len(members) == 1 for _, members, _ in parts)
    assert len(parts) == max(2, int((refitted.ensemble_weights_ > 0).sum()))
    assert not np.allclose(refitted.predict(X[:20]), folds.predict(X[:20]))
    assert refitted.score(X, y) > folds.score(X, y) - 0.05


def test_a_failing_score_gets_error_score_with_a_warning(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)

    def fails_on_small_targets(estimator, X, y):
        if y.mean() < 150:
            raise ValueError("this split cannot be scored")
        return r2_score(y, estimator.predict(X))

    cv = KFold(3)  # unshuffled: the splits' target means differ
    with pytest.warns(UserWarning, match="this split cannot be scored"):
        search = BatchedSearchCV(est, {"alpha": [1e-4, 1.0]}, cv=cv,
                                 scoring=fails_on_small_targets).fit(X, y)  # fmt: skip
    splits = np.stack([search.cv_results_[f"split{f}_test_score"] for f in range(3)], 1)
    assert np.isnan(splits).any() and np.isfinite(splits).any()
    with pytest.raises(ValueError, match="cannot be scored"):
        BatchedSearchCV(est, {"alpha": [1e-4]}, cv=cv, scoring=fails_on_small_targets,
                        error_score="raise").fit(X, y)  # fmt: skip


def test_a_network_that_cannot_be_fitted_gets_error_score(diabetes):
    X, y = diabetes
    poisson = TorchRegressor(loss="poisson", max_iter=2, random_state=0)
    # every network failing is the data's doing: its error, as a single fit raises it
    with pytest.raises(ValueError, match="Poisson"):
        BatchedSearchCV(poisson, {"alpha": [1e-4]}, cv=2).fit(X, y - 150)
    # one network of two failing is its candidates' doing: error_score, and a warning
    est = TorchRegressor(max_iter=2, random_state=0)
    grid = {"loss": ["poisson", "squared_error"]}  # poisson refuses negative targets
    with pytest.warns(FitFailedWarning, match="Poisson"):
        search = BatchedSearchCV(est, grid, cv=2, refit=False).fit(X, y - 150)
    assert np.isnan(search.cv_results_["mean_test_score"][0])
    assert np.isfinite(search.cv_results_["mean_test_score"][1])


def test_a_candidate_its_own_fit_refuses_gets_error_score_as_in_gridsearchcv(diabetes):
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    grid = {"alpha": [1e-4, -1.0, 1.0]}  # a negative alpha: InvalidParameterError
    reference = GridSearchCV(est, grid, cv=3)
    with pytest.warns(FitFailedWarning, match="alpha"):
        reference.fit(X, y)
    with pytest.warns(FitFailedWarning, match="alpha"):
        search = BatchedSearchCV(est, grid, cv=3, separate_folds=True).fit(X, y)
    np.testing.assert_array_equal(np.isnan(search.cv_results_["mean_test_score"]),
                                  np.isnan(reference.cv_results_["mean_test_score"]))  # fmt: skip
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               reference.cv_results_["mean_test_score"], atol=1e-10)  # fmt: skip
    assert search.best_params_ == reference.best_params_
    with pytest.raises(ValueError, match="alpha"):  # error_score="raise", and all refused
        BatchedSearchCV(est, grid, cv=3, error_score="raise").fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        BatchedSearchCV(est, {"alpha": [-1.0]}, cv=3).fit(X, y)


def test_a_network_of_candidates_records_each_members_penalty_in_alpha_(diabetes):
    """The greedy ensemble's network held candidates of alpha 0.5, 3 and "auto" and
    reported the base estimator's 1e-4 as the penalty it trained with."""
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0, alpha=1e-4)
    grid = {"alpha": [0.5, 3.0, "auto"]}
    search = BatchedSearchCV(est, grid, cv=3, ensemble="greedy", refit=False).fit(X, y)
    (network, _, _), *_ = search.ensemble_.parts
    # members candidate by candidate, fold by fold; "auto" is 400 / n, at most 1
    np.testing.assert_array_equal(network.alpha_, np.repeat([0.5, 3.0, 1.0], 3))
    assert TorchRegressor(alpha=0.5, max_iter=2).fit(X, y).alpha_ == 0.5  # one network: a float


def test_a_scorer_reads_the_candidates_parameters_as_in_gridsearchcv(diabetes):
    """GridSearchCV scores a clone of the candidate; the member's stand-in had no
    get_params, so such a scorer scored every cell NaN (with a warning)."""
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    grid = {"alpha": [1e-4, 1e-2]}

    def penalty(estimator, X, y):
        return estimator.get_params()["alpha"] + estimator.get_params()["max_iter"]

    ours = BatchedSearchCV(est, grid, cv=2, scoring=penalty, refit=False).fit(X, y)
    theirs = GridSearchCV(est, grid, cv=2, scoring=penalty, refit=False).fit(X, y)
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"], [2.0001, 2.01])
    np.testing.assert_array_equal(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
