"""scikit-learn's no-improvement rule across calls: ``MLPRegressor`` / ``MLPClassifier``
keep their count of epochs without improvement (and the best loss it is counted
against) through ``partial_fit`` calls and warm starts, and reset them only with a new
network. The same sequence of calls must behave the same way with torchsk's estimators
(the numbers differ; when the count grows, resets, lowers a rate or stops must not).

``tol`` is huge in these tests so that every epoch after the first counts as one
without improvement, for both libraries: the counts are then known in advance.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from torchsk import TorchClassifier, TorchRegressor

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 3))
Y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=60)
PAIRS = [(TorchRegressor, MLPRegressor), (TorchClassifier, MLPClassifier)]
# every epoch after the first counts; a rate at which 4 epochs learn something
NEVER_BETTER = dict(tol=1e6, n_iter_no_change=2, learning_rate_init=0.01)


def _target(cls):
    return Y if cls in (TorchRegressor, MLPRegressor) else Y > 0


def _lr(est) -> float:
    """The optimizer's current learning rate (scikit-learn's and torchsk's names)."""
    optimizer = est._optimizer
    return getattr(optimizer, "learning_rate", getattr(optimizer, "lr", None))


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_a_warm_start_after_convergence_stops_after_one_epoch(ours, theirs):
    """The count goes on into the warm start: already past n_iter_no_change, the
    refit stops after its first epoch (scikit-learn's maintainers: a no-op refit)."""
    seen = {}
    for cls in (ours, theirs):
        est = cls(hidden_layer_sizes=(4,), warm_start=True, random_state=0, **NEVER_BETTER)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            est.fit(X, _target(cls))
            first = (est.n_iter_, est._no_improvement_count, len(est.loss_curve_))
            est.fit(X, _target(cls))
        # both fits converged: neither reached max_iter
        assert not [w for w in caught if "Maximum iterations" in str(w.message)], cls
        seen[cls] = [first, (est.n_iter_, est._no_improvement_count, len(est.loss_curve_))]
    assert seen[ours] == seen[theirs] == [(4, 3, 4), (1, 4, 5)]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_resetting_the_count_continues_a_converged_warm_start_as_in_scikit_learn(ours, theirs):
    """The idiom that continues a converged MLP (``est._no_improvement_count = 0``)
    raised AttributeError: the count was a read-only property."""
    seen = {}
    for cls in (ours, theirs):
        est = cls(hidden_layer_sizes=(4,), warm_start=True, random_state=0, **NEVER_BETTER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, _target(cls))
            est._no_improvement_count = 0
            est.fit(X, _target(cls))
        seen[cls] = (est.n_iter_, est._no_improvement_count, len(est.loss_curve_))
    assert seen[ours] == seen[theirs] == (3, 3, 7)  # counted from 0 again: 3 epochs


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_resetting_the_best_too_counts_the_first_epoch_as_an_improvement(ours, theirs):
    """The idiom's other half, ``best_loss_ = np.inf`` (``best_validation_score_ =
    -np.inf`` under early stopping): the warm start's first epoch then beats the best
    and the count starts after it (one epoch more). Setting them was ignored."""
    seen = {}
    for cls in (ours, theirs):
        for early in (False, True):
            est = cls(hidden_layer_sizes=(4,), warm_start=True, random_state=0,
                      early_stopping=early, **NEVER_BETTER)  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, _target(cls))
                est._no_improvement_count = 0
                if early:
                    est.best_validation_score_ = -np.inf
                else:
                    est.best_loss_ = np.inf
                est.fit(X, _target(cls))
            seen[cls, early] = (est.n_iter_, est._no_improvement_count, len(est.loss_curve_))
    for early in (False, True):
        assert seen[ours, early] == seen[theirs, early] == (4, 3, 8), seen


def test_a_model_saved_before_the_bests_were_recorded_still_reads_a_reset():
    # a model pickled before _reported_bests existed: an infinite best_loss_ can only
    # be the reset idiom (a finite one cannot be told from what its fit recorded)
    est = TorchRegressor(hidden_layer_sizes=(4,), warm_start=True, random_state=0, **NEVER_BETTER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)
        del est._reported_bests
        old = pickle.loads(pickle.dumps(est))
        old._no_improvement_count, old.best_loss_ = 0, np.inf
        old.fit(X, Y)
    assert (old.n_iter_, old._no_improvement_count) == (4, 3)


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_an_edited_best_does_not_outlive_a_cold_refit(ours, theirs):
    """A fit without warm_start builds a new network, and with it a new count and best,
    whatever best_loss_ a user set (it had carried into the cold refit: 6 epochs and R²
    -0.22 where MLPRegressor trained 200)."""
    seen = {}
    for cls in (ours, theirs):
        est = cls(hidden_layer_sizes=(4,), random_state=0, n_iter_no_change=3, max_iter=30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, _target(cls))
            fresh = est.n_iter_
            est.best_loss_ = 0.0  # no epoch beats it: every epoch would count
            est.fit(X, _target(cls))
        seen[cls] = (fresh, est.n_iter_)
    assert seen[ours][0] == seen[ours][1] and seen[theirs][0] == seen[theirs][1], seen


def test_an_edited_best_loss_converts_to_training_units_as_it_was_recorded():
    """Outputs of different scales read their loss in y's units through factors
    weighed by each output's trained loss: an edit is converted back with those (with
    the mean factor it was off by half, and a best_loss_ set to itself judged every
    epoch as no improvement)."""
    rng = np.random.default_rng(1)
    y = np.c_[1000 * X[:, 0], 0.01 * rng.normal(size=len(X))]
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    est.best_loss_ = np.nextafter(est.best_loss_, np.inf)  # an edit, to the same value
    assert est._resumed_stopping().best_loss == pytest.approx(est._stopping["best_loss"])


def test_cross_fitted_members_out_of_fold_best_score_is_not_taken_for_an_edit():
    # their best_validation_score_ is the kept members' out-of-fold score, recorded
    # after the fit's bests: a later warm start had read it as a user's edit
    est = TorchRegressor(hidden_layer_sizes=(4,), n_ensemble=3, member_rows="folds",
                         early_stopping=True, max_iter=30, learning_rate_init=0.03,
                         random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)
    assert est.oof_score_ != max(est.validation_scores_)  # members at their own epochs
    assert est._reported_bests[1] == est.best_validation_score_ == est.oof_score_
    assert est._resumed_stopping().best_score == est._stopping["best_score"]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_setting_the_count_before_a_first_fit_is_ignored_as_in_scikit_learn(ours, theirs):
    seen = {}
    for cls in (ours, theirs):
        est = cls(hidden_layer_sizes=(4,), random_state=0, **NEVER_BETTER)
        est._no_improvement_count = 5  # raised NotFittedError here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, _target(cls))
        seen[cls] = (est.n_iter_, est._no_improvement_count)
    assert seen[ours] == seen[theirs] == (4, 3)  # a fresh count: stopped as usual


def test_partial_fit_calls_count_on_and_lower_an_adaptive_rate_alike():
    """sgd with learning_rate="adaptive": each call past n_iter_no_change divides the
    rate by 5 and starts the count again, as over the epochs of one fit."""
    seen = {}
    for cls in (TorchRegressor, MLPRegressor):
        est = cls(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive",
                  random_state=0, **NEVER_BETTER)  # fmt: skip
        steps = []
        for _ in range(7):
            est.partial_fit(X, Y)
            steps.append((est._no_improvement_count, round(_lr(est) / 0.01, 6), est.n_iter_))
        seen[cls] = steps
    expected = [(0, 1, 1), (1, 1, 1), (2, 1, 1), (0, 0.2, 1), (1, 0.2, 1), (2, 0.2, 1),
                (0, 0.04, 1)]  # fmt: skip
    assert seen[TorchRegressor] == seen[MLPRegressor] == expected


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_partial_fit_past_the_count_keeps_training_without_warnings(ours, theirs):
    """adam has no rate to lower: the count grows past n_iter_no_change call after
    call, and each call still trains one epoch, with no warning; best_loss_ is the
    lowest loss of all calls."""
    for cls in (ours, theirs):
        est = cls(hidden_layer_sizes=(4,), random_state=0, **NEVER_BETTER)
        kw = {"classes": [False, True]} if cls in (TorchClassifier, MLPClassifier) else {}
        counts, changed = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no ConvergenceWarning, no "loss rose"
            for _ in range(6):
                before = [c.copy() for c in est.coefs_] if hasattr(est, "loss_curve_") else None
                est.partial_fit(X, _target(cls), **kw)
                counts.append(est._no_improvement_count)
                if before is not None:
                    changed.append(not np.allclose(before[0], est.coefs_[0]))
        assert counts == [0, 1, 2, 3, 4, 5], cls
        assert all(changed) and len(changed) == 5, cls
        assert len(est.loss_curve_) == 6 and est.best_loss_ == min(est.loss_curve_), cls


def test_a_new_network_counts_afresh_and_a_failed_call_changes_nothing():
    reg = TorchRegressor(hidden_layer_sizes=(4,), random_state=0, **NEVER_BETTER)
    for _ in range(3):
        reg.partial_fit(X, Y)
    assert reg._no_improvement_count == 2
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[:, :2], Y)
    assert reg._no_improvement_count == 2  # the fit's state is all or nothing
    assert pickle.loads(pickle.dumps(reg))._no_improvement_count == 2
    reg.partial_fit(X, Y)
    assert reg._no_improvement_count == 3
    reg.fit(X, Y)  # not a warm start: a new network
    assert reg.n_iter_ == 4 and reg._no_improvement_count == 3


def test_switching_early_stopping_on_a_warm_start_counts_afresh():
    """scikit-learn fails on this switch (its best loss is None with early stopping);
    torchsk starts a new count on the other signal and trains."""
    reg = TorchRegressor(hidden_layer_sizes=(4,), warm_start=True, random_state=0,
                         early_stopping=True, **NEVER_BETTER)  # fmt: skip
    reg.fit(X, Y)
    assert reg.best_loss_ is None and reg._stopping["on_score"]
    reg.set_params(early_stopping=False).fit(X, 10 * Y)  # losses far above the first fit's
    assert reg.n_iter_ == 4 and reg._no_improvement_count == 3  # a fresh count of 4 epochs
    assert not reg._stopping["on_score"]
    # and the attributes describe the loss it counts on, as a fit without early
    # stopping's (best_validation_score_ stayed the first fit's, best_loss_ None)
    assert reg.validation_scores_ is None and reg.best_validation_score_ is None
    assert reg.best_loss_ == min(reg.loss_curve_[-4:])
    reg.partial_fit(X, 10 * Y)  # the count goes on from the switch, and best_loss_ with it
    assert reg.best_loss_ == min(reg.loss_curve_[-5:]) and reg._no_improvement_count == 4
    reg.set_params(early_stopping=True).fit(X, Y)
    assert reg.best_loss_ is None and reg.best_validation_score_ == max(reg.validation_scores_)


def _warm_early_stopping(cls):
    """200 rows of a linear target, and a warm-started (8,) network of ``cls`` that
    stops early on them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=200)
    est = cls(hidden_layer_sizes=(8,), early_stopping=True, warm_start=True,
              n_iter_no_change=3, max_iter=300, random_state=0)  # fmt: skip
    return X, Y, est


def test_an_early_stopped_warm_start_keeps_the_best_weights_of_all_fits():
    """The best validation score carries over too: a refit whose epochs never beat
    it (a learning rate far too high) keeps the earlier fit's best weights, and stops
    as soon as the carried count allows. (scikit-learn means the same, but its
    optimizer updates its saved best weights in place, so it returns the last ones.)"""
    X, Y, reg = _warm_early_stopping(TorchRegressor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y)
        before, best = reg.predict(X), reg.best_validation_score_
        reg.set_params(learning_rate_init=5.0).fit(X, Y)
    assert max(reg.validation_scores_[-reg.n_iter_ :]) < best  # no epoch beat it
    assert reg.n_iter_ <= 4 and reg.best_validation_score_ == best
    np.testing.assert_array_equal(reg.predict(X), before)


@pytest.mark.parametrize("cls", [TorchRegressor, MLPRegressor])
def test_a_reset_best_validation_score_reports_the_warm_fits_own_best(cls):
    """``best_validation_score_ = -np.inf`` before a warm start: the best reported is
    that of the warm fit's epochs, as scikit-learn's (not the earlier fit's better one)."""
    X, Y, est = _warm_early_stopping(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)
        first = est.best_validation_score_
        est.best_validation_score_ = -np.inf
        est.set_params(learning_rate_init=0.5).fit(X, Y)
    assert est.best_validation_score_ == max(est.validation_scores_[-est.n_iter_ :]) < first


def test_a_warm_fit_starts_a_new_optimizer_as_scikit_learn_s():
    """Only partial_fit continues the optimizer: the first fit's adaptive rate fell to
    the floor, and a warm refit that kept it stopped after one epoch, where
    MLPRegressor's starts again at learning_rate_init and trains on."""
    seen = {}
    for cls in (TorchRegressor, MLPRegressor):
        est = cls(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive",
                  warm_start=True, random_state=0, max_iter=50, **NEVER_BETTER)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, Y)
            first = (est.n_iter_, _lr(est))
            est.fit(X, Y)
        seen[cls] = [first, (est.n_iter_, _lr(est))]
    assert seen[TorchRegressor][1][0] > 1
    assert [n for n, _ in seen[TorchRegressor]] == [n for n, _ in seen[MLPRegressor]]
    np.testing.assert_allclose([r for _, r in seen[TorchRegressor]],
                               [r for _, r in seen[MLPRegressor]], rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_failed_partial_fit_leaves_the_optimizer_as_it_was(solver):
    """The weights were put back, but not the optimizer's moments and step count,
    which the failed call had stepped: the next call then differed from a twin's."""
    from torch import nn

    class Flaky(nn.MSELoss):
        calls_left = None  # a class attribute: the estimator copies its loss

        def forward(self, a, b):
            if Flaky.calls_left is not None:
                Flaky.calls_left -= 1
                if Flaky.calls_left < 0:
                    raise RuntimeError("boom")
            return super().forward(a, b)

    settings = dict(hidden_layer_sizes=(5,), solver=solver, batch_size=20, random_state=0)
    twins = [TorchRegressor(loss=Flaky(), learning_rate="invscaling", **settings) for _ in "ab"]
    for est in twins:
        est.partial_fit(X, Y)
    Flaky.calls_left = 2
    with pytest.raises(RuntimeError, match="boom"):
        twins[0].partial_fit(X, Y)
    Flaky.calls_left = None
    for est in twins:
        est.partial_fit(X, Y)
    np.testing.assert_array_equal(twins[0].predict(X), twins[1].predict(X))


def test_best_loss_is_kept_apart_from_a_users_edit_of_loss_curve():
    """loss_curve_ is the user's list (MLP's is too); best_loss_ had been recomputed
    from it, so an appended -5 became the best loss after the next partial_fit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    est = TorchRegressor(hidden_layer_sizes=(4,), random_state=0)
    est.partial_fit(X, X.sum(axis=1))
    est.loss_curve_.append(-5.0)
    est.partial_fit(X, X.sum(axis=1))
    assert est.best_loss_ > 0
