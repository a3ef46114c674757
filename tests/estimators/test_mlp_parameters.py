"""scikit-learn's MLP parameters: every one accepted, with the same meaning, and ignored
by the solvers that scikit-learn's MLP ignores it for."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from torch import nn

from torchsk import TorchClassifier, TorchRegressor

pytestmark = pytest.mark.short_fits  # a few epochs show what a parameter changes

README = Path(__file__).parents[2] / "README.md"
# defaults that differ from scikit-learn's, each with its reason in the README's table
DIFFERENT_DEFAULTS = {"alpha", "learning_rate_init", "batch_size"}

rng = np.random.default_rng(0)
X = rng.normal(size=(120, 3))
Y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=120)


@pytest.mark.parametrize(
    ("ours", "theirs"), [(TorchRegressor, MLPRegressor), (TorchClassifier, MLPClassifier)]
)
def test_every_mlp_parameter_is_accepted_with_scikit_learn_s_default(ours, theirs):
    mine, sklearn_params = ours().get_params(), theirs().get_params()
    assert set(sklearn_params) <= set(mine), set(sklearn_params) - set(mine)
    differ = {k for k in sklearn_params if mine[k] != sklearn_params[k]}
    assert differ <= DIFFERENT_DEFAULTS
    # MLP code runs with the class swapped
    y = Y if ours is TorchRegressor else Y > 0
    est = ours(**{**sklearn_params, "max_iter": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.get_params()["epsilon"] == 1e-8  # Adam's, not the Huber threshold


def test_defaults_that_differ_from_scikit_learn_s_are_tabled_with_reasons():
    section = README.read_text().split("\n## Parameters\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.+) \| (.+) \| (.+) \|$", section, re.M)
    assert {name for name, *_ in rows} == DIFFERENT_DEFAULTS
    assert all(len(reason) > 20 for *_, reason in rows)


# parameter: (another value, the solvers scikit-learn's MLP uses it for, base settings)
SOLVER_PARAMETERS = {
    "learning_rate": ("invscaling", {"sgd"}, {}),
    "power_t": (0.25, {"sgd"}, {"learning_rate": "invscaling"}),
    "momentum": (0.5, {"sgd"}, {}),
    "nesterovs_momentum": (False, {"sgd"}, {}),
    "beta_1": (0.5, {"adam"}, {}),
    "beta_2": (0.9, {"adam"}, {}),
    "epsilon": (0.1, {"adam"}, {}),
    "max_fun": (4, {"lbfgs"}, {}),
}
OURS_ONLY = {"adamw": "adam", "rprop": None}  # our solvers: which of scikit-learn's they follow


def _changes(cls, solver, param, base):
    """Whether setting ``param`` to its other value changes the fitted model."""
    other, _, settings = SOLVER_PARAMETERS[param]
    common = dict(hidden_layer_sizes=(8,), solver=solver, batch_size=20, max_iter=5,
                  learning_rate_init=0.01, random_state=0, **settings, **base)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = cls(**common).fit(X, Y).predict(X)
        b = cls(**common, **{param: other}).fit(X, Y).predict(X)
    return not np.array_equal(a, b)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("param", sorted(SOLVER_PARAMETERS))
def test_solver_parameters_change_training_where_scikit_learn_s_do(param, solver):
    applies = solver in SOLVER_PARAMETERS[param][1]
    assert _changes(MLPRegressor, solver, param, {}) == applies
    assert _changes(TorchRegressor, solver, param, {}) == applies


@pytest.mark.parametrize("solver", sorted(OURS_ONLY))
@pytest.mark.parametrize("param", sorted(SOLVER_PARAMETERS))
def test_our_own_solvers_use_the_parameters_of_their_kin(param, solver):
    kin = OURS_ONLY[solver]
    assert _changes(TorchRegressor, solver, param, {}) == (kin in SOLVER_PARAMETERS[param][1])


def _fit_both(**params):
    models = []
    for cls in (MLPRegressor, TorchRegressor):
        est = cls(hidden_layer_sizes=(8,), solver="sgd", batch_size=20, random_state=0, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models.append(est.fit(X, Y))
    return models


def test_invscaling_sets_scikit_learn_s_rate_after_fit_and_partial_fit():
    mlp, ours = _fit_both(
        learning_rate="invscaling", learning_rate_init=1e-3, power_t=0.3, max_iter=3
    )
    expected = 1e-3 / (3 * len(X) + 1) ** 0.3  # after 3 epochs: t = 3 * n_samples
    assert mlp._optimizer.learning_rate == pytest.approx(expected, rel=1e-12)
    assert ours._optimizer.lr == pytest.approx(expected, rel=1e-12)
    mlp.partial_fit(X, Y)
    ours.partial_fit(X, Y)  # t carries on across calls
    assert ours._optimizer.lr == pytest.approx(mlp._optimizer.learning_rate, rel=1e-12)
    assert ours.t_ == mlp.t_ == 4 * len(X)


def test_adaptive_divides_the_rate_by_5_on_plateaus_and_stops_as_scikit_learn():
    """With ``tol`` too large for any epoch to count as an improvement, every third
    epoch is a plateau (n_iter_no_change=2): constant stops at the first, adaptive
    divides 1e-5 by 5 twice, reaching 4e-7 <= 1e-6, and stops at the third."""
    plateau = dict(learning_rate_init=1e-5, tol=100.0, n_iter_no_change=2, max_iter=50)
    for schedule, n_iter, rate in [("constant", 4, 1e-5), ("adaptive", 10, 4e-7)]:
        mlp, ours = _fit_both(learning_rate=schedule, **plateau)
        assert mlp.n_iter_ == ours.n_iter_ == n_iter
        assert mlp._optimizer.learning_rate == pytest.approx(rate)
        assert ours._optimizer.lr == pytest.approx(rate)


class CountingMLP(nn.Module):
    """A small backbone that counts its training forward passes (loss evaluations)."""

    calls = 0

    def __init__(self, n_in, n_out):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out))

    def forward(self, x):
        CountingMLP.calls += torch.is_grad_enabled()
        return self.net(x)


def _from_mlp_regressor_s_start(n_in, n_out):
    """A linear module at MLPRegressor(hidden_layer_sizes=(), random_state=0)'s start."""
    rs = np.random.RandomState(0)
    bound = np.sqrt(6 / (n_in + n_out))
    W, b = rs.uniform(-bound, bound, (n_in, n_out)), rs.uniform(-bound, bound, n_out)
    layer = nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(W.T))
        layer.bias.copy_(torch.tensor(b))
    return layer


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_momentum_under_a_changing_rate_steps_as_mlp_regressor(schedule, nesterov):
    """The velocity carried over keeps its old rate when a schedule changes it (torch's
    buffer had taken the new one): from the same start, the same weights."""
    kw = dict(solver="sgd", momentum=0.9, nesterovs_momentum=nesterov, alpha=0.0,
              batch_size=len(X), shuffle=False, max_iter=20, learning_rate=schedule,
              learning_rate_init=0.05, power_t=0.3, tol=1e9 if schedule == "adaptive" else 0.0,
              n_iter_no_change=2 if schedule == "adaptive" else 1000)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = MLPRegressor(hidden_layer_sizes=(), random_state=0, **kw).fit(X, Y)
        ours = TorchRegressor(module=_from_mlp_regressor_s_start, input_scaling=None,
                              target_scaling=None, random_state=0, **kw).fit(X, Y)  # fmt: skip
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), atol=1e-10)


def test_max_fun_caps_lbfgs_loss_evaluations():
    counts = {}
    for max_fun in (10, 15000):
        CountingMLP.calls = 0
        est = TorchRegressor(module=CountingMLP, solver="lbfgs", max_fun=max_fun, random_state=0)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            est.fit(X, Y)
        counts[max_fun] = CountingMLP.calls
        capped = [w for w in seen if "maximum function evaluations (max_fun=" in str(w.message)]
        assert bool(capped) == (max_fun == 10)
    # scipy checks after each iteration: the last line search may pass it by a few
    assert 10 <= counts[10] <= 10 + 5 < counts[15000]
    mlp = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_fun=10, random_state=0)
    with pytest.warns(ConvergenceWarning, match="EVALUATIONS EXCEEDS LIMIT"):
        mlp.fit(X, Y)  # scikit-learn: the same cap, the same warning


@pytest.mark.parametrize(("n", "alpha"), [(200, 1.0), (1000, 0.4), (2000, 0.3)])
def test_alpha_auto_is_400_over_the_training_rows_clipped_to_0_3_and_1(n, alpha):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=n)
    common = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto = TorchRegressor(alpha="auto", **common).fit(X, y).predict(X)
        fixed = TorchRegressor(alpha=alpha, **common).fit(X, y).predict(X)
        other = TorchRegressor(alpha=alpha / 2, **common).fit(X, y).predict(X)
    np.testing.assert_array_equal(auto, fixed)
    assert not np.array_equal(auto, other)


def test_alpha_auto_counts_a_weight_of_2_as_two_rows():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=300)
    common = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = TorchRegressor(**common).fit(X, y, sample_weight=np.full(300, 2.0))
        repeated = TorchRegressor(**common).fit(np.repeat(X, 2, axis=0), np.repeat(y, 2))
        by_rows = TorchRegressor(**common, alpha=1.0).fit(X, y, sample_weight=np.full(300, 2.0))
    # 600 samples' worth: alpha 400/600, not the 1.0 that 300 rows would give
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6)
    assert not np.allclose(weighted.predict(X), by_rows.predict(X), rtol=1e-6)


def test_automatic_batches_are_scikit_learns_for_sgd_only():
    # sgd's learning_rate_init comes from MLP code tuned for scikit-learn's 200 rows
    from torchsk.training.fit import train_settings

    for solver, size in (("sgd", 200), ("adam", 64), ("adamw", 64)):
        config = TorchRegressor(solver=solver)._fit_config()
        assert train_settings(config, 1000, incremental=False).batch_size == size
        assert train_settings(config, 50, incremental=False).batch_size == 50


def test_alpha_auto_is_recorded_as_the_value_each_fit_used():
    """The contract's rule for a data-dependent default: resolved once and recorded
    in a fitted attribute (it was recorded nowhere), so a GridSearchCV fold's value
    and its refit's can be read."""
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=600)
    kw = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto = TorchRegressor(**kw).fit(X, y)
        explicit = TorchRegressor(alpha=400 / 600, **kw).fit(X, y)
        assert auto.alpha_ == explicit.alpha_ == pytest.approx(400 / 600)
        np.testing.assert_array_equal(auto.predict(X), explicit.predict(X))
        assert TorchRegressor(**kw).fit(X[:100], y[:100]).alpha_ == 1.0  # clipped
        weighted = TorchRegressor(**kw).fit(X, y, sample_weight=np.full(600, 4.0))
        assert weighted.alpha_ == 0.3  # 2,400 weighted rows: the floor
        assert TorchClassifier(**kw).fit(X, y > 0).alpha_ == TorchClassifier().alpha
        search = GridSearchCV(TorchRegressor(**kw), {"max_iter": [3]}, cv=5).fit(X, y)
    assert search.best_estimator_.alpha_ == pytest.approx(400 / 600)


@pytest.mark.parametrize(
    "params, step",
    [
        ({}, 1.0),  # Adam's batches of 64: the values "auto" was measured with
        ({"batch_size": 16}, 16 / 64),
        ({"batch_size": 256}, 256 / 64),
        ({"solver": "sgd"}, 200 / 64),  # its "auto" batch
        ({"solver": "lbfgs"}, 600 / 64),  # every row in each step
        ({"solver": "rprop", "batch_size": 16}, 600 / 64),  # full batch: batch_size unread
    ],
)
def test_alpha_auto_keeps_its_strength_per_row_on_any_batch(params, step):
    """The penalty adds 0.5 alpha ||W||² / batch to a batch's mean loss: "auto"'s
    values, measured on batches of 64, pulled 4x as hard on batches of 16 (MASS
    Boston 0.769 R² against MLPRegressor's 0.856) and 9x as weakly under L-BFGS on
    600 rows; an explicit alpha stays as given, as in scikit-learn."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=600)
    kw = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert TorchRegressor(**kw).fit(X, y).alpha_ == pytest.approx(400 / 600 * step)
        assert TorchRegressor(alpha=0.5, **kw).fit(X, y).alpha_ == 0.5
        classifier = TorchClassifier(alpha="auto", **kw).fit(X, y > 0)
        assert classifier.alpha_ == pytest.approx(400 / 600 * step)
        if params.get("solver") in ("lbfgs", "rprop"):  # members on all the rows
            members = TorchRegressor(n_ensemble=2, **kw).fit(X, y)
            np.testing.assert_allclose(members.alpha_, 400 / 600 * step)
        else:  # members resolve "auto" on their own 480 rows, at the same step
            folds = TorchRegressor(n_ensemble=5, member_rows="folds", **kw).fit(X, y)
            np.testing.assert_allclose(folds.alpha_, 400 / 480 * step)


@pytest.mark.parametrize("params", [{"solver": "sgd"}, {"batch_size": 128}, {"batch_size": 16}])
def test_cross_fitted_members_resolve_alpha_auto_as_fits_on_their_own_rows(params):
    """Members scaled "auto" by the batch of all the rows: where a batch is clipped
    to a member's 100 rows (sgd's 200, batches of 128), they were penalised 1.5x as
    hard as the fit on those rows that each stands for."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    kw = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        folds = TorchRegressor(n_ensemble=3, member_rows="folds", **kw).fit(X, X[:, 0])
        alone = TorchRegressor(**kw).fit(X[:100], X[:100, 0])
    np.testing.assert_array_equal(folds.alpha_, np.full(3, alone.alpha_))


@pytest.mark.parametrize("loss", ["squared_error", "huber", "poisson"])
def test_alpha_weighs_each_output_of_a_multi_output_fit_as_a_single_output_fit(loss):
    # scikit-learn's MLP differentiates the outputs' summed loss: with a linear network
    # (a ridge per output, one optimum) the two-output fit is two one-output fits. The
    # mean over outputs had put k times alpha on each (12.97 apart; Poisson sums already)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    Y = np.c_[X @ [1, 2, 0, 0], X @ [0, 0, 3, -1] * 10] + rng.normal(size=(80, 2))
    if loss == "poisson":
        Y = np.exp(X[:, :2] * 0.3)
    kw = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=30.0, tol=1e-12, max_iter=2000,
              loss=loss, random_state=0)  # fmt: skip
    both = TorchRegressor(**kw).fit(X, Y).predict(X)
    each = np.column_stack([TorchRegressor(**kw).fit(X, y).predict(X) for y in Y.T])
    np.testing.assert_allclose(both, each, atol=1e-4 * np.abs(each).max())
