"""Cross-fitted members (``member_rows="folds"``): each member trains without its own
fold, early-stops on it and keeps its own best epoch; the out-of-fold predictions give
an honest score for free."""

import re
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score

from torchsk import BatchedSearchCV, TorchClassifier, TorchRegressor
from torchsk.training.folds import assign_folds
from torchsk.training.members import MemberGuard

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

K = 4


def _folds(y, random_state=0, stratify=False):
    """The folds a fit with ``random_state`` assigns (its seed, as ``_fit`` draws it)."""
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max)
    return assign_folds(K, y, stratify, seed)


def _members(**params):
    settings = dict(n_ensemble=K, member_rows="folds", hidden_layer_sizes=(16,), random_state=0)
    return settings | params


def test_a_member_never_learns_from_the_rows_of_its_own_fold():
    X, y = load_diabetes(return_X_y=True)
    folds = _folds(y)
    changed = np.where(folds == 0, -y, y)  # member 0's fold gets other targets
    a = TorchRegressor(**_members(max_iter=20, target_scaling=None)).fit(X, y)
    b = TorchRegressor(**_members(max_iter=20, target_scaling=None)).fit(X, changed)
    first_a, first_b = a.module_.backbone.weights[0], b.module_.backbone.weights[0]
    np.testing.assert_array_equal(first_a[0].numpy(), first_b[0].numpy())  # member 0: same
    assert not np.allclose(first_a[1].numpy(), first_b[1].numpy())  # the others learned it


def test_a_members_stopping_point_never_reads_its_folds_targets():
    # trained to convergence: each member stops on its own training loss, so member 0
    # (and its out-of-fold predictions) cannot move when only fold 0's targets change;
    # a stop shared by all members read fold 0 through the others' losses
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()  # scaled once: a target scaling would read fold 0 too
    folds = _folds(y)
    changed = np.where(folds == 0, 3 * y, y)
    params = _members(max_iter=500, target_scaling=None, n_iter_no_change=3, tol=1e-3)
    a = TorchRegressor(**params).fit(X, y)
    b = TorchRegressor(**params).fit(X, changed)
    assert a.n_iter_ < 500 and b.n_iter_ < 500  # the stopping rule ended both
    for first_a, first_b in zip(
        a.module_.backbone.weights, b.module_.backbone.weights, strict=True
    ):
        np.testing.assert_array_equal(first_a[0].numpy(), first_b[0].numpy())
    np.testing.assert_array_equal(a.oof_prediction_[folds == 0], b.oof_prediction_[folds == 0])


def test_each_member_stops_when_it_alone_stops_improving():
    # a member whose own fold loss has stopped improving stops training, whatever the
    # others do: with tol=0 it ends exactly n_iter_no_change + 1 epochs after its best
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    y = X[:, 0] + rng.normal(size=400)
    est = TorchRegressor(**_members(early_stopping=True, max_iter=300, n_iter_no_change=4,
                                    tol=0.0, hidden_layer_sizes=(128,), alpha=0.0,
                                    learning_rate_init=0.01))  # fmt: skip
    ends = {}
    original = MemberGuard._retire

    def retire(self, members, optimizer):
        for m in np.flatnonzero(members & ~self.retired):
            ends[int(m)] = self.epoch
        original(self, members, optimizer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MemberGuard, "_retire", retire)
        est.fit(X, y)
    assert sorted(ends) == list(range(K))
    assert [ends[m] for m in range(K)] == [b + 5 for b in est.best_epochs_]
    assert len(set(ends.values())) > 1 and est.n_iter_ == max(ends.values())


def test_out_of_fold_predictions_are_each_rows_held_out_members_and_honest():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    noise = rng.normal(size=300)  # nothing to learn: only an overfit scores above 0
    est = TorchRegressor(**_members(max_iter=150, alpha=0.0, hidden_layer_sizes=(64,)))
    est.fit(X, noise)
    assert est.oof_prediction_.shape == (300,)
    assert est.oof_score_ == pytest.approx(r2_score(noise, est.oof_prediction_))
    assert est.score(X, noise) > 0.2  # the ensemble fits the noise it trained on
    assert est.oof_score_ < 0.0  # the rows each member never saw tell the truth
    assert not np.allclose(est.oof_prediction_, est.predict(X))
    assert est.oof_prediction_.dtype == est.predict(X).dtype == np.float64
    # a float32 fit predicts float32 (MLPRegressor's rule), and so do its held-out rows
    small = TorchRegressor(**_members(max_iter=2)).fit(X.astype(np.float32), noise)
    assert small.oof_prediction_.dtype == small.predict(X.astype(np.float32)).dtype
    # ... and oof_score_ scores those float32 values, not the outputs before rounding
    # (they differ where y sits on an offset the rounding is coarse against)
    signal = (1e5 + 0.05 * X[:, 0] + 0.01 * noise).astype(np.float32)
    est = TorchRegressor(**_members(max_iter=40, learning_rate_init=0.01))
    est.fit(X.astype(np.float32), signal)
    assert est.oof_prediction_.dtype == np.float32
    held_out = r2_score(signal.astype(np.float64), est.oof_prediction_.astype(np.float64))
    assert est.oof_score_ == pytest.approx(held_out, abs=1e-9)


def test_each_member_keeps_its_own_best_epoch_under_early_stopping():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    y = X[:, 0] + rng.normal(size=300)  # a large network soon fits the noise
    overfits = dict(hidden_layer_sizes=(128,), alpha=0.0, learning_rate_init=0.01)
    est = TorchRegressor(**_members(early_stopping=True, max_iter=300, n_iter_no_change=5,
                                    **overfits))  # fmt: skip
    est.fit(X, y)
    assert len(est.best_epochs_) == K and len(set(est.best_epochs_)) > 1
    assert all(1 <= e <= est.n_iter_ for e in est.best_epochs_)
    assert est.n_iter_ < 300  # it stopped once no member improved
    late = TorchRegressor(**_members(max_iter=est.n_iter_, **overfits)).fit(X, y)
    assert est.oof_score_ > late.oof_score_  # the best epochs, not the last ones
    assert not hasattr(late, "best_epochs_")  # no early stopping: every member's last


def test_a_classifiers_members_are_stratified_and_score_out_of_fold_accuracy():
    X, y = load_iris(return_X_y=True)
    folds = _folds(y, stratify=True)
    for m in range(K):  # every class in every fold
        assert set(y[folds == m]) == {0, 1, 2}
    est = TorchClassifier(**_members(early_stopping=True, max_iter=200)).fit(X, y)
    assert est.oof_score_ == pytest.approx(accuracy_score(y, est.oof_prediction_))
    assert est.oof_score_ > 0.85


def test_a_class_rarer_than_the_folds_is_spread_over_them_and_the_rest_stratified():
    # one class of 2 rows among 4 folds had switched every class to plain KFold: both
    # rows in one fold at some seeds (its member never saw the class), the others
    # unbalanced; StratifiedKFold puts them in two folds and keeps the rest even
    y = np.r_[np.zeros(29), np.ones(29), [2, 2]].astype(int)
    for seed in range(20):
        with warnings.catch_warnings(record=True) as caught:  # said once, in its own words
            warnings.simplefilter("always")
            folds = assign_folds(K, y, True, seed)
        said = [str(w.message) for w in caught]
        assert len(said) == 1 and f"than the n_ensemble={K} members (the rarest: 2)" in said[0]
        assert f", so {K - 2} member(s) hold out no row of some class" in said[0]
        assert "n_splits" not in said[0]  # StratifiedKFold's own, which the user never set
        assert len(set(folds[y == 2])) == 2
        for label in (0, 1):
            counts = np.bincount(folds[y == label], minlength=K)
            assert counts.max() - counts.min() <= 1


def test_classes_all_rarer_than_the_folds_are_each_spread_over_as_many_folds_as_rows():
    # StratifiedKFold refuses them, and plain KFold had put both rows of a class in one
    # fold at 4 seeds of 6 (its member never trained on the class), silently
    y = np.repeat(np.arange(5), [2, 2, 3, 3, 1])
    for seed in range(20):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            folds = assign_folds(K, y, True, seed)
        assert all(len(set(folds[y == c])) == min(np.sum(y == c), K) for c in range(5))
        sizes = np.bincount(folds, minlength=K)
        assert sizes.max() - sizes.min() <= 1
        (said,) = [str(w.message) for w in caught]
        assert f"5 class(es) of y have fewer rows than the n_ensemble={K}" in said


def test_a_multilabel_label_whose_positives_lie_in_one_fold_is_said_to_be_unlearnt():
    # KFold splits multilabel y: a label with its one positive in member m's fold left m
    # without it, silently
    rng = np.random.default_rng(0)
    Y = (rng.random((40, 3)) < 0.5).astype(int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assign_folds(K, Y, True, 0)
        assign_folds(K, Y[:, :1] * 1.5, False, 0)  # a regressor's 2-D y: no labels
    assert not [w for w in caught if "member_rows" in str(w.message)]
    Y[:, 2] = 0
    Y[5, 2] = 1
    with pytest.warns(UserWarning, match=f"1 of the n_ensemble={K} members train on rows"):
        assign_folds(K, Y, True, 0)


def test_several_rare_classes_are_counted_in_the_members_they_leave_without_rows():
    """The warning counted the members lacking the rarest class only: with classes of
    1, 2 and 3 rows among 5 folds every member lacks one, where it said 4."""
    y = np.r_[np.zeros(40), [1], [2, 2], [3, 3, 3]].astype(int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folds = assign_folds(5, y, True, 0)
    lacking = sum(not {1, 2, 3} <= set(y[folds == m]) for m in range(5))
    (said,) = [str(w.message) for w in caught]
    assert "3 class(es) of y have fewer rows than the n_ensemble=5" in said
    assert f"so {lacking} member(s) hold out no row of some class" in said
    assert "never trains on it" in said  # the 1-row class


def test_class_weight_weighs_the_out_of_fold_score_as_its_validation_scores():
    # validation_scores_ weighed rows by class_weight, oof_score_ (= the kept model's
    # best_validation_score_) did not: one epoch, one model, two scores (0.48, 0.70)
    from sklearn.utils.class_weight import compute_sample_weight

    X, y = load_iris(return_X_y=True)
    keep = np.r_[0:50, 50:70, 100:110]  # unbalanced classes
    X, y = X[keep], y[keep]
    est = TorchClassifier(
        **_members(early_stopping=True, max_iter=1), class_weight="balanced"
    ).fit(X, y)
    weights = compute_sample_weight("balanced", y)
    assert est.oof_score_ == pytest.approx(
        accuracy_score(y, est.oof_prediction_, sample_weight=weights)
    )
    assert est.best_validation_score_ == est.validation_scores_[0] == est.oof_score_


def test_a_refit_without_folds_drops_the_members_attributes():
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(**_members(max_iter=3)).fit(X, y)
    assert hasattr(est, "oof_prediction_")
    est.set_params(member_rows="all").fit(X, y)
    assert not hasattr(est, "oof_prediction_") and not hasattr(est, "oof_score_")


@pytest.mark.parametrize(
    "params, call, message",
    [
        (dict(n_ensemble=1), "fit", "n_ensemble >= 2"),
        (dict(), "partial_fit", "partial_fit"),
        (dict(early_stopping=True), "fit_val", "X_val"),
        (dict(), "dask", "in memory"),
    ],
)
def test_folds_are_refused_where_members_cannot_have_their_own_rows(params, call, message):
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(**(_members(max_iter=2) | params))
    with pytest.raises(ValueError, match=message):
        if call == "fit":
            est.fit(X, y)
        elif call == "partial_fit":
            est.partial_fit(X, y)
        elif call == "fit_val":
            est.fit(X, y, X_val=X[:50], y_val=y[:50])
        else:
            da = pytest.importorskip("dask.array")
            est.fit(da.from_array(X, chunks=(100, 10)), y)
    assert not hasattr(est, "module_")


def test_too_few_rows_for_the_folds_are_refused():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="at least 8 samples; got 7 samples"):
        TorchRegressor(**_members()).fit(X[:7], y[:7])


def test_one_row_for_the_folds_passes_scikit_learns_one_sample_check():
    """check_fit2d_1sample reads "1 sample" in the error; "got 1" had failed it."""
    from sklearn.utils.estimator_checks import check_fit2d_1sample

    check_fit2d_1sample("TorchRegressor", TorchRegressor(**_members(max_iter=2)))


def test_float32_members_train_through_batches_without_a_members_rows():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(301, 8)), rng.normal(size=301)
    # wide enough for a float32 plan; the last batch of 1 row lacks all but one member's
    est = TorchRegressor(**_members(hidden_layer_sizes=(256, 256), batch_size=100, max_iter=3,
                                    shuffle=False))  # fmt: skip
    est.fit(X, y)
    assert est.module_.backbone.weights[0].dtype == torch.float32
    assert len(est.loss_curve_) == 3 and np.isfinite(est.loss_curve_).all()


def test_validation_scores_are_the_out_of_fold_scores_of_each_epoch():
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(**_members(early_stopping=True, max_iter=30)).fit(X, y)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ and all(s < 1.0 for s in scores)  # R², not losses
    assert est.best_epochs_ == [est.n_iter_] * K  # each member still improving: its
    assert est.best_validation_score_ == max(scores)  # last epoch, the best of all
    assert scores[-1] > scores[0]  # it learned


def test_cross_fitted_members_best_validation_score_is_the_kept_models():
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(**_members(early_stopping=True, learning_rate_init=1e-2)).fit(X, y)
    assert len(set(est.best_epochs_)) > 1  # the members stopped at epochs of their own
    # each member kept at its own best epoch minimizes its fold's squared error: together
    # they beat every epoch of all of them (validation_scores_)
    assert est.best_validation_score_ == est.oof_score_ > max(est.validation_scores_)


def test_a_warm_refit_of_all_rows_after_folds_judges_and_reports_its_own_scores():
    # the members' out-of-fold score was measured on other rows than the refit's X_val:
    # the refit counts afresh and reports its own best (it had reported the best of the
    # folds' epochs, a score of no model it returned)
    X, y = load_diabetes(return_X_y=True)
    noisy = y[300:] + np.random.default_rng(1).normal(scale=150, size=len(y) - 300)
    params = _members(early_stopping=True, learning_rate_init=1e-2, max_iter=30, warm_start=True)
    est = TorchRegressor(**params).fit(X[:300], y[:300])
    folds_best = est.best_validation_score_
    est.set_params(member_rows="all").fit(X[:300], y[:300], X_val=X[300:], y_val=noisy)
    own = est.validation_scores_[-est.n_iter_ :]
    assert est.best_validation_score_ == max(own) < folds_best
    assert est.best_validation_score_ == pytest.approx(r2_score(noisy, est.predict(X[300:])))


def test_a_warm_start_or_a_solver_that_ties_the_members_is_refused_with_folds():
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(**_members(max_iter=2, warm_start=True)).fit(X, y)
    with pytest.raises(ValueError, match="fresh fit"):
        est.fit(X, y)
    # one line search, step size or adaptive rate for all: each member's fit would
    # follow the others' losses, their fold's rows included
    for tied in ({"solver": "lbfgs"}, {"solver": "rprop"},
                 {"solver": "sgd", "learning_rate": "adaptive"}):  # fmt: skip
        with pytest.raises(ValueError, match="mini-batch solvers"):
            TorchRegressor(**_members(max_iter=2, **tied)).fit(X, y)


def test_each_member_is_penalised_by_its_own_rows_in_the_batch():
    from torchsk.training.step import Penalty

    weight = torch.nn.Parameter(torch.ones(2, 3, 4, dtype=torch.float64))
    weight.grad = torch.zeros_like(weight)
    penalty = Penalty([weight], alpha=0.6)
    penalty.add_member_grad(torch.tensor([3.0, 0.0], dtype=torch.float64))
    np.testing.assert_allclose(weight.grad[0].numpy(), 0.6 / 3.0)  # alpha * W / its rows
    np.testing.assert_array_equal(weight.grad[1].numpy(), 0.0)  # no rows: no pull either


def test_each_members_auto_alpha_is_resolved_on_its_own_rows_as_a_fit_on_them_alone():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y = X[:, 0] + 0.1 * rng.randn(300)
    folds = _folds(y)
    sw = np.where(folds == 0, 10.0, 1.0)  # fold 0 weighs ten times the others
    est = TorchRegressor(**_members(max_iter=2)).fit(X, y, sample_weight=sw)
    alone = [TorchRegressor(hidden_layer_sizes=(16,), max_iter=2, random_state=0)
             .fit(X[folds != m], y[folds != m], sample_weight=sw[folds != m]).alpha_
             for m in range(K)]  # fmt: skip
    np.testing.assert_allclose(est.alpha_, alone)  # 1.0 for member 0, less for the rest
    assert len(set(alone)) == 2
    # equal folds of equal weight: one value, as before
    assert TorchRegressor(**_members(max_iter=2)).fit(X[:200], y[:200]).alpha_ == 1.0


def test_an_early_stopping_member_of_one_batch_an_epoch_keeps_its_best_epochs_weights(
    monkeypatch, diabetes
):
    # its early-stopping loss is that of the epoch's last weights: those are kept, not
    # the epoch's first (the rule for a loss of the batches, one batch an epoch)
    seen = {}
    original = MemberGuard.finish

    def finish(self, *args):
        original(self, *args)
        seen["best"], self.retired[:] = self.best.copy(), False
        seen["restored"] = self._losses()

    monkeypatch.setattr(MemberGuard, "finish", finish)
    X, y = diabetes
    est = TorchRegressor(hidden_layer_sizes=(16,), early_stopping=True, batch_size=1000,
                         max_iter=100, random_state=0)  # fmt: skip
    BatchedSearchCV(est, {"learning_rate_init": [1e-2, 3e-2]}, cv=2).fit(X, y)
    np.testing.assert_allclose(seen["restored"], seen["best"], rtol=1e-10)


@pytest.mark.parametrize("early_stopping, zero, message", [
    (True, "fold 0", "member 0's fold's rows all have zero sample_weight"),
    (False, "all but fold 1", "member 1's training rows all have zero sample_weight"),
])  # fmt: skip
def test_a_member_with_nothing_to_learn_from_or_stop_on_is_refused(early_stopping, zero,
                                                                   message):  # fmt: skip
    X, y = load_diabetes(return_X_y=True)
    folds = _folds(y)
    weighs = folds != 0 if zero == "fold 0" else folds == 1
    est = TorchRegressor(**_members(max_iter=5, early_stopping=early_stopping)).fit(X, y)
    before = est.predict(X)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, sample_weight=weighs.astype(float))
    np.testing.assert_array_equal(est.predict(X), before)  # the earlier fit stays whole
    if not early_stopping:  # zeros from a classifier's class_weight: the message names it
        labels = np.where(np.arange(30) < 29, "a", "b")
        clf = TorchClassifier(**_members(max_iter=2, class_weight={"a": 0.0, "b": 1.0}))
        with pytest.raises(ValueError, match=r"zero sample_weight \(times class_weight\)"):
            clf.fit(X[:30], labels)


def test_the_loss_curve_is_the_training_loss_with_or_without_early_stopping():
    # before any member stops, both fits train alike: the curve is the training loss
    # (not the folds' early-stopping loss), and it never logs a 0 once all have stopped
    X, y = load_diabetes(return_X_y=True)
    plain = TorchRegressor(**_members(max_iter=3)).fit(X, y)
    early = TorchRegressor(**_members(max_iter=3, early_stopping=True)).fit(X, y)
    np.testing.assert_allclose(early.loss_curve_, plain.loss_curve_, rtol=1e-12)
    converged = TorchRegressor(**_members(max_iter=300, n_iter_no_change=3, tol=1e-2)).fit(X, y)
    assert converged.n_iter_ < 300 and min(converged.loss_curve_) > 0.0
    assert converged.best_loss_ == min(converged.loss_curve_) and converged.loss_ > 0.0


def test_members_that_diverge_are_reported_beside_the_others_running_out_of_epochs():
    # at this rate some folds' members diverge and the others run all 50 epochs: the
    # user hears of both (the divergence used to hide the unconverged rest)
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(**_members(max_iter=50, solver="sgd", learning_rate_init=0.5, alpha=1.0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    assert not [w for w in caught if w.category is RuntimeWarning]  # no numpy overflow
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    diverged = [m for m in messages if m.startswith("Training diverged")]
    assert len(diverged) == 1 and re.search(rf"for [1-{K - 1}] of {K} members", diverged[0])
    assert est.n_iter_ == 50 and any("Maximum iterations (50)" in m for m in messages)


def _small_sine(n=200):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 3)
    return X, X[:, 0] + np.sin(X[:, 1]) + 0.1 * rng.randn(n)


@pytest.mark.parametrize("case", ["last finite far off", "lowest epoch far off"])
def test_a_cross_fitted_member_that_diverges_ends_at_its_lowest_measured_weights(case):
    # diabetes: a member's last finite weights predicted ~1e51, and the average with them
    # scored R² -1e99 for a model whose other members were fine; the sine: the end of the
    # lowest epoch (its batches' mean loss) was the start of the blow-up, ~1e259. A
    # separate fit measures the same candidates (training.lowest)
    if case == "last finite far off":
        X, y = load_diabetes(return_X_y=True)
        X, y, params = X[:200], y[:200], dict(learning_rate_init=0.4, max_iter=20)
    else:
        X, y = _small_sine()
        params = dict(hidden_layer_sizes=(8,), n_ensemble=3, learning_rate_init=0.5,
                      batch_size=32, max_iter=30)  # fmt: skip
    est = TorchRegressor(**_members(solver="sgd", **params))
    with pytest.warns(ConvergenceWarning, match="members; each kept the weights of its lowest"):
        est.fit(X, y)
    assert np.abs(est.predict(X)).max() < 20 * np.abs(y).max()
    assert np.abs(est.oof_prediction_).max() < 20 * np.abs(y).max()
    assert est.score(X, y) > -10.0 and np.isfinite(est.oof_score_)  # was -inf, -1e99


def test_members_whose_loss_rose_say_so_as_one_network_does():
    # sgd with heavy momentum: every member's loss climbs instead of levelling off; each
    # goes back to its lowest-loss weights, and the user hears it (silent before)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.normal(size=80)
    params = dict(max_iter=30, solver="sgd", momentum=0.95, learning_rate_init=0.07,
                  hidden_layer_sizes=(100,))  # fmt: skip
    est = TorchRegressor(**_members(**params))
    with pytest.warns(ConvergenceWarning, match=rf"stopped for [1-{K}] of {K} members because"):
        est.fit(X, y)
    assert est.n_iter_ < 30 and np.isfinite(est.predict(X)).all()


def test_float32_members_that_diverge_leak_no_numpy_warning(monkeypatch):
    # a retired member's loss and best are both inf: the rise rule compared inf - inf
    from torchsk.training import plan

    monkeypatch.setattr(plan, "FLOAT64_FLOP_LIMIT", 0)  # float32, as a GPU or a large table
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.exp(np.abs(X @ [1.0, 2.0, 3.0])) * 1e6
    est = TorchRegressor(**_members(max_iter=30, loss="poisson", learning_rate_init=1.0,
                                    n_ensemble=3, hidden_layer_sizes=(100,)))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est.fit(X, y)
    assert est._plan.dtype == torch.float32


@pytest.mark.parametrize("early_stopping", [False, True])
def test_members_that_diverge_say_so_and_keep_their_last_finite_weights(early_stopping):
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(**_members(max_iter=50, solver="sgd", learning_rate_init=10.0,
                                    early_stopping=early_stopping))  # fmt: skip
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        est.fit(X, y)
    assert len(est.loss_curve_) == est.n_iter_ and np.isfinite(est.loss_curve_).all()
    assert np.isfinite(est.predict(X)).all() and np.isfinite(est.oof_prediction_).all()
    if early_stopping:  # one out-of-fold score per logged epoch, of finite outputs
        assert len(est.validation_scores_) == est.n_iter_
        assert np.isfinite(est.validation_scores_).all()


@pytest.mark.parametrize("early_stopping", [False, True])
def test_an_interrupted_fit_of_members_keeps_a_usable_model(interrupt_epoch, early_stopping):
    interrupt_epoch(3)
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(**_members(max_iter=50, early_stopping=early_stopping))
    with pytest.warns(UserWarning, match="interrupted after 2 iterations"):
        est.fit(X, y)
    assert est.n_iter_ == 2 and np.isfinite(est.predict(X)).all()


def test_only_members_that_train_this_epoch_can_sit_a_batch_out():
    # a retired member (its column all 0, its optimizer state cleared) is not idle: it
    # had sent every later step of a search down the slower per-member Adam update
    from torchsk.training.batches import idle_members

    w = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    idle = idle_members(w, [slice(0, 1), slice(1, 2), torch.tensor([2])])
    assert idle[0].tolist() == [False, False, True] and idle[1] is None
    assert idle[2].tolist() == [True, False, False]
    assert idle_members(w[:, 0], [slice(0, 3)]) == [None]
