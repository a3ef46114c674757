"""scikit-learn's MLP fitted attributes: the same names, types, shapes and None-ness as
``MLPRegressor`` / ``MLPClassifier`` on the same problem, and ``coefs_`` /
``intercepts_`` that act on raw X."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from torch import nn

from torchsk import TorchClassifier, TorchRegressor
from torchsk.nn.mlp import MLP
from torchsk.training.losses import LOSSES, REGRESSION

pytestmark = pytest.mark.short_fits  # a few epochs give every attribute

rng = np.random.default_rng(0)
# columns of very different scales and offsets: a fold that forgot one would show
X = rng.normal(size=(80, 3)) * [1.0, 100.0, 0.01] + [0.0, 500.0, -3.0]
Z = (X - X.mean(axis=0)) / X.std(axis=0)
Y = 1000 + 50 * (Z @ [1.0, -2.0, 0.5]) + rng.normal(size=80)
TARGETS = {
    "regression": Y,
    "binary": Y > 1000,
    "multiclass": np.digitize(Y, [950, 1050]),
    "multilabel": np.c_[Y > 1000, Z[:, 0] > 0],
}
SCALARS = ["loss_", "best_loss_", "best_validation_score_", "n_layers_", "n_outputs_",
            "out_activation_", "n_iter_", "t_"]  # fmt: skip


def _fit(cls, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(hidden_layer_sizes=(5, 4), max_iter=12, random_state=0, **params).fit(X, y)


def _kind(value):
    """What MLP code can rely on: None, a float, an int, a str, or a list of floats."""
    if value is None or isinstance(value, str):
        return value and "str"
    if isinstance(value, list):
        return ("list", {_kind(v) for v in value})
    return "int" if isinstance(value, int | np.integer) else "float"


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_attributes_are_scikit_learn_s(target, early_stopping):
    y = TARGETS[target]
    regression = target == "regression"
    ours = TorchRegressor if regression else TorchClassifier
    theirs = MLPRegressor if regression else MLPClassifier
    mine = _fit(ours, y, early_stopping=early_stopping)
    ref = _fit(theirs, y, early_stopping=early_stopping)
    for name in [*SCALARS, "loss_curve_", "validation_scores_"]:
        assert _kind(getattr(mine, name)) == _kind(getattr(ref, name)), name
    for name in ["n_layers_", "n_outputs_", "out_activation_"]:
        assert getattr(mine, name) == getattr(ref, name), name
    for name in ["coefs_", "intercepts_"]:
        assert [a.shape for a in getattr(mine, name)] == [a.shape for a in getattr(ref, name)]
        assert all(a.dtype == np.float64 for a in getattr(mine, name))
    assert mine.loss_ == mine.loss_curve_[-1]
    assert mine.predict(X).shape == ref.predict(X).shape
    # the same types: Python floats had no .item() (numpy's loss_ has)
    for name in ["loss_", "best_loss_", "best_validation_score_"]:
        assert type(getattr(mine, name)) is type(getattr(ref, name)), name
    for name in ["loss_curve_", "validation_scores_"]:
        mine_types = {type(v) for v in getattr(mine, name) or []}
        assert mine_types == {type(v) for v in getattr(ref, name) or []}, name


def test_unfitted_estimators_have_none_of_them():
    for name in [*SCALARS, "coefs_", "intercepts_"]:
        assert not hasattr(TorchRegressor(), name), name


@pytest.mark.parametrize("scaling", ["standard", "minmax", "robust", None])
def test_a_linear_model_s_coefs_reproduce_predict_on_raw_x(scaling):
    Y2 = np.c_[Y, -3 * Y + 7]
    for y in (Y, Y2):
        reg = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", input_scaling=scaling,
                             random_state=0).fit(X, y)  # fmt: skip
        (coef,), (intercept,) = reg.coefs_, reg.intercepts_
        linear = X @ coef + intercept
        np.testing.assert_allclose(linear.reshape(reg.predict(X).shape), reg.predict(X),
                                   rtol=1e-6, atol=1e-6)  # fmt: skip
    clf = TorchClassifier(hidden_layer_sizes=(), random_state=0, max_iter=50).fit(X, Y > 1000)
    logit = X @ clf.coefs_[0] + clf.intercepts_[0]
    np.testing.assert_allclose(logit.ravel(), clf.decision_function(X), rtol=1e-6, atol=1e-6)


def _forward(est, X, activation):
    """scikit-learn's forward pass through ``coefs_`` and ``intercepts_``."""
    h = X
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
        h = h @ w + b
        if i < len(est.coefs_) - 1:
            h = activation(h)
    return h


def test_coefs_cannot_be_edited_without_a_word():
    """They are copies computed from module_: an edit in place changed nothing and
    said nothing (MLPRegressor's edits change its predictions); both ways raise."""
    reg = _fit(TorchRegressor, Y)
    with pytest.raises(ValueError, match="read-only"):
        reg.coefs_[0][:] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        reg.intercepts_[-1] += 1.0
    for name in ("coefs_", "intercepts_"):
        with pytest.raises(AttributeError, match=f"{name} is computed from module_"):
            setattr(reg, name, [])
    assert reg.coefs_[0].any()  # a fresh copy each time, as computed


def test_a_hidden_network_s_coefs_reproduce_predict_on_raw_x():
    reg = _fit(TorchRegressor, Y)
    out = _forward(reg, X, lambda h: np.maximum(h, 0)).ravel()
    np.testing.assert_allclose(out, reg.predict(X), rtol=1e-6)
    clf = _fit(TorchClassifier, TARGETS["multiclass"], activation="tanh")
    np.testing.assert_allclose(_forward(clf, X, np.tanh), clf.decision_function(X), atol=1e-9)


def test_a_log_link_folds_the_target_scale_into_the_last_bias():
    reg = TorchRegressor(hidden_layer_sizes=(), loss="poisson", solver="lbfgs", random_state=0)
    reg.fit(X, Y / 100)
    np.testing.assert_allclose(np.exp(X @ reg.coefs_[0] + reg.intercepts_[0]).ravel(),
                               reg.predict(X), rtol=1e-6)  # fmt: skip


def test_imputed_inputs_coefs_hold_on_rows_without_missing_values():
    Xm = X.copy()
    Xm[::7, 1] = np.nan  # a missing indicator for column 1
    frame = pd.DataFrame(Xm, columns=["a", "b", "c"])
    reg = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", random_state=0).fit(frame, Y)
    assert reg.coefs_[0].shape == (3, 1)
    complete = ~np.isnan(Xm).any(axis=1)
    np.testing.assert_allclose((Xm[complete] @ reg.coefs_[0] + reg.intercepts_[0]).ravel(),
                               reg.predict(frame[complete]), rtol=1e-6)  # fmt: skip


def test_a_column_empty_in_training_has_zero_weights_and_its_fill_in_the_bias():
    """The model reads a column never present in training as its fill value: coefs_
    show it so (it had kept the network's random weights, 0.8 off predict)."""
    Xm = X.copy()
    Xm[:, 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the empty column's warning, short fit
        reg = TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(Xm, Y)
    assert not reg.coefs_[0][2].any()
    np.testing.assert_allclose(_forward(reg, X, lambda h: np.maximum(h, 0)).ravel(),
                               reg.predict(X), rtol=1e-9)  # fmt: skip


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def forward(self, x):
        return self.layer(x)


@pytest.mark.parametrize(
    ("params", "names", "message"),
    [
        ({"n_ensemble": 3}, ["coefs_", "intercepts_"], "n_ensemble=1"),
        ({"module": Tiny()}, ["coefs_", "n_layers_"], "Tiny"),
        ({"numeric_bins": 4}, ["coefs_"], "PiecewiseLinear"),
        ({"categorical_features": [0]}, ["intercepts_"], "CategoricalEncoder"),
        ({"head": "softplus"}, ["coefs_"], "target_scaling=None"),
    ],
)
def test_what_is_not_an_mlp_on_raw_x_says_so(params, names, message):
    y = np.abs(Y) if "head" in params else Y
    Xc = np.c_[rng.integers(0, 3, 80), X[:, 1:]] if "categorical_features" in params else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = TorchRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0, **params)
        reg.fit(Xc, y)
    for name in names:
        with pytest.raises(AttributeError, match=message):
            getattr(reg, name)
    assert reg.out_activation_ in ("identity", "softplus")


def test_n_layers_of_an_ensemble_is_its_members():
    assert _fit(TorchRegressor, Y, n_ensemble=2).n_layers_ == 4


def test_coefs_follow_the_network_through_warm_starts_and_pickles():
    reg = _fit(TorchRegressor, Y, warm_start=True)
    first = reg.coefs_[0].copy()
    loaded = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(loaded.coefs_[0], first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y)
    assert not np.array_equal(reg.coefs_[0], first)
    assert reg.loss_ == reg.loss_curve_[-1] and len(reg.loss_curve_) == 24


def test_a_column_y_predicts_a_1d_array_as_mlp_regressor():
    mine = _fit(TorchRegressor, Y[:, None])
    ref = _fit(MLPRegressor, Y[:, None])
    assert mine.predict(X).shape == ref.predict(X).shape == (80,)
    assert mine.n_outputs_ == ref.n_outputs_ == 1


def test_an_older_pickle_gets_best_validation_score_none():
    state = _fit(TorchRegressor, Y).__getstate__()
    del state["best_validation_score_"]  # saved before it was set without early stopping
    old = TorchRegressor.__new__(TorchRegressor)
    old.__setstate__(state)
    assert old.best_validation_score_ is None


class _ShiftedMLP(MLP):
    """A user's MLP subclass whose forward is not the layers' own."""

    def forward(self, x):
        return super().forward(x) + 1.0


def test_an_mlp_subclass_that_changes_forward_has_no_coefs():
    """coefs_ / intercepts_ describe the built-in MLP's passes; a subclass that changes
    forward computes something else, so they are refused (as for any user module)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    reg = TorchRegressor(module=_ShiftedMLP, module__hidden_layer_sizes=(4,), max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, X.sum(axis=1))
    for name in ["coefs_", "intercepts_"]:
        with pytest.raises(AttributeError, match="built-in MLP"):
            getattr(reg, name)


# ---------------------------------------------------------------- losses in y's units
def _huber(err, delta):
    a = np.abs(err)
    return np.where(a <= delta, 0.5 * err**2, delta * (a - 0.5 * delta))


def _pinball(err, q):  # err = y - prediction
    return np.maximum(q * err, (q - 1) * err)


# each regression loss of the registry in y's units, from y, the prediction and the
# fitted target scale (Huber's threshold is huber_delta in the scaled target's units)
LOSSES_IN_Y_UNITS = {
    "squared_error": lambda y, p, s: 0.5 * np.mean((y - p) ** 2),
    "absolute_error": lambda y, p, s: np.mean(np.abs(y - p)),
    "huber": lambda y, p, s: np.mean(_huber(y - p, 1.35 * s)),
    "quantile": lambda y, p, s: np.mean(_pinball(y - p, 0.5)),
    "poisson": lambda y, p, s: np.mean(xlogy(y, y / p) - y + p),  # half deviance
}


def test_every_regression_loss_is_reported_in_y_s_units():
    """With alpha=0, L-BFGS's last loss is that of the final weights, which predict
    uses: loss_ is the loss of predict's numbers, in y's units (y ~ 1000 ± 100)."""
    assert set(LOSSES_IN_Y_UNITS) == {n for n, loss in LOSSES.items() if loss.task == REGRESSION}
    for name, in_y_units in LOSSES_IN_Y_UNITS.items():
        reg = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", alpha=0, loss=name,
                             max_iter=15, random_state=0)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.fit(X, Y)
        scale = reg.module_.target_scaling.scale.item()
        assert reg.loss_ == pytest.approx(in_y_units(Y, reg.predict(X), scale), rel=1e-6), name
        assert reg.best_loss_ == min(reg.loss_curve_)


def test_outputs_of_different_scales_are_each_reported_in_their_units():
    """Two outputs ~1000x apart: loss_ is the mean over outputs of each one's loss in
    its own units (the half deviance: their sum, as scikit-learn's), where one mean
    factor for both had reported the squared error 1000x too large and a negative
    deviance."""
    Y2 = np.c_[Y, 1.0 + np.abs(X[:, 1])]  # positive, for the deviance
    for name, in_y_units in LOSSES_IN_Y_UNITS.items():
        reg = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", alpha=0, loss=name,
                             max_iter=15, random_state=0)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            P = reg.fit(X, Y2).predict(X)
        scales = reg.module_.target_scaling.scale.numpy()
        each = [in_y_units(Y2[:, j], P[:, j], scales[j]) for j in range(2)]
        expected = np.sum(each) if name == "poisson" else np.mean(each)
        assert reg.loss_ == pytest.approx(expected, rel=1e-6), name


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_a_linear_model_s_loss_is_mlp_regressor_s(diabetes, loss):
    """Both solve the same convex problem to convergence (diabetes: MLPRegressor's
    squared error is ~1430, where the scaled target's is ~0.24)."""
    X, y = diabetes
    kw = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=0, max_iter=2000, loss=loss)
    mine = TorchRegressor(**kw, random_state=0).fit(X, y)
    ref = MLPRegressor(**kw).fit(X, y)
    assert mine.loss_ == pytest.approx(ref.loss_, rel=1e-3)


def test_a_multilabel_loss_sums_its_labels_as_mlp_classifier_s():
    """MLPClassifier's log-loss sums the labels' binary cross-entropies; torchsk took
    their mean, so loss_ was a third of scikit-learn's on three labels, and alpha
    weighed three times as much against it. With alpha=0 L-BFGS's last loss is that of
    predict_proba's numbers; penalized, both solve the same convex problem."""
    Y3 = np.c_[Y > 1000, Z[:, 0] > 0, Z[:, 1] + Z[:, 2] > 0]
    kw = dict(hidden_layer_sizes=(), solver="lbfgs", max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mine = TorchClassifier(alpha=0, **kw).fit(X, Y3)
    P = mine.predict_proba(X)
    summed = -np.mean(xlogy(Y3, P) + xlogy(1 - Y3, 1 - P), axis=0).sum()
    assert mine.loss_ == pytest.approx(summed, rel=1e-6)
    kw.update(alpha=1.0, max_iter=2000)
    mine = TorchClassifier(input_scaling=None, **kw).fit(Z, Y3)
    ref = MLPClassifier(**kw).fit(Z, Y3)
    assert mine.loss_ == pytest.approx(ref.loss_, rel=1e-4)
    np.testing.assert_allclose(mine.predict_proba(Z), ref.predict_proba(Z), atol=1e-3)


def test_the_penalty_is_converted_with_the_loss():
    """loss_curve_ is the objective training minimized, in y's units: the squared
    error of the predictions plus scale² times the penalty on the trained weights."""
    reg = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", alpha=10.0, max_iter=15,
                         random_state=0).fit(X, Y)  # fmt: skip
    scale = reg.module_.target_scaling.scale.item()
    weights = reg.module_.backbone.linears()[0].weight.detach().numpy()
    penalty = 0.5 * 10.0 * np.sum(weights**2) / len(X)
    error = 0.5 * np.mean((Y - reg.predict(X)) ** 2)
    assert reg.loss_ == pytest.approx(error + scale**2 * penalty, rel=1e-6)
    assert scale**2 * penalty > 0.01 * reg.loss_  # the penalty counts in this check


def test_an_ensembles_loss_is_its_members_mean_loss():
    """Training sums the members' losses (each its own gradient); loss_ reports their
    mean, in the loss's own units as a single network's: L-BFGS's last loss is that of
    the final weights, which each member predicts with."""
    from sklearn.datasets import load_iris
    from sklearn.metrics import log_loss

    from torchsk.estimators.selection import member_outputs, to_output_scale

    kw = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=0, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = TorchRegressor(n_ensemble=3, **kw).fit(X, Y)
        members = member_outputs(reg, X).numpy()[:, :, 0]
        assert reg.loss_ == pytest.approx(np.mean(0.5 * np.mean((Y - members) ** 2, axis=1)),
                                          rel=1e-6)  # fmt: skip
        Xi, yi = load_iris(return_X_y=True)
        clf = TorchClassifier(n_ensemble=3, **kw).fit(Xi, yi)
        probabilities = to_output_scale(clf, member_outputs(clf, Xi))
    expected = np.mean([log_loss(yi, p) for p in probabilities])
    assert clf.loss_ == pytest.approx(expected, rel=1e-6)
    # a torch loss module stays in the scaled target's units: the members' mean there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mse = TorchRegressor(n_ensemble=3, loss=nn.MSELoss(), **kw).fit(X, Y)
    scale = mse.module_.target_scaling.scale.item()
    members = member_outputs(mse, X).numpy()[:, :, 0]
    expected = np.mean(np.mean(((Y - members) / scale) ** 2, axis=1))
    assert mse.loss_ == pytest.approx(expected, rel=1e-6)


def test_an_ensembles_worse_than_constant_warning_reads_as_a_single_networks():
    """The warning compares the averaged output's loss with the constant's: one loss
    each, whatever the members."""
    constants = []
    for k in (1, 3):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            TorchRegressor(max_iter=1, learning_rate_init=1e-6, n_ensemble=k,
                           random_state=0).fit(X, Y)  # fmt: skip
        message = next(str(w.message) for w in caught if "a constant (" in str(w.message))
        constants.append(float(message.split("a constant (")[1].split(")")[0]))
    assert constants[0] == pytest.approx(constants[1], rel=1e-3)
    assert constants[0] == pytest.approx(0.5 * np.var(Y), rel=1e-3)


@pytest.mark.parametrize(("loss", "best"), [("absolute_error", 0.5), ("quantile", 0.9)])
def test_a_robust_losss_warning_compares_with_its_best_constant(loss, best):
    """The constant of the worse-than-constant warning is the loss's best one, the
    median or the quantile: the mean's loss is higher, so an untrained model had
    passed as better than a constant."""
    y = rng.exponential(size=300)  # skewed: the mean is not the median
    kw = dict(hidden_layer_sizes=(8,), max_iter=2, learning_rate_init=1e-6, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = TorchRegressor(loss=loss, quantile=0.9, **kw).fit(y[:, None] * 0, y)
    message = next(str(w.message) for w in caught if "a constant (" in str(w.message))
    constant = float(message.split("a constant (")[1].split(")")[0])
    residual = y - np.quantile(y, best, method="inverted_cdf")
    expected = np.mean(np.maximum(best * residual, (best - 1) * residual))
    assert constant == pytest.approx(expected * (2 if loss == "absolute_error" else 1), rel=1e-3)
    assert est.loss_ > constant
    assert "mean, median or quantile" in message  # not "no better than the mean"


def test_lbfgs_converged_at_its_start_reports_that_loss():
    """scipy stops before a first iteration (a huge tol): n_iter_ 0 as scikit-learn's,
    and loss_ the starting point's finite loss, not inf."""
    est = TorchRegressor(solver="lbfgs", tol=1e10, hidden_layer_sizes=(4,), random_state=0)
    est.fit(X, Y)
    assert est.n_iter_ == 0 and np.isfinite(est.loss_) and est.best_loss_ == est.loss_


# ---------------------------------------------------------------- n_iter_ across calls
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_n_iter_counts_each_call_as_mlp_regressor_does(solver):
    """n_iter_ is the last call's epochs (iterations): a warm start and each
    partial_fit start again; t_ and loss_curve_ go on."""
    kw = dict(hidden_layer_sizes=(4,), solver=solver, max_iter=5, random_state=0)
    seen = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in (TorchRegressor, MLPRegressor):
            warm = cls(**kw, warm_start=True).fit(X, Y).fit(X, Y)
            calls = cls(**kw)
            for _ in range(3):
                calls.partial_fit(X, Y)
            seen[cls] = (warm.t_, calls.t_)  # L-BFGS: 0, as scikit-learn leaves it
            assert warm.n_iter_ == 5, cls
            assert calls.n_iter_ == (5 if solver == "lbfgs" else 1), cls
            if solver == "adam":  # scikit-learn keeps no curve for L-BFGS
                assert len(warm.loss_curve_) == 10 and len(calls.loss_curve_) == 3, cls
                assert warm.t_ == 10 * len(X) and calls.t_ == 3 * len(X), cls
    assert seen[TorchRegressor] == seen[MLPRegressor]


@pytest.mark.parametrize("members", [{}, {"n_ensemble": 4, "member_rows": "folds"}])
def test_early_stopping_that_diverges_at_once_still_reads_as_early_stopping(members):
    # no epoch ended with a finite loss, so none was scored: best_loss_ read inf where
    # early stopping makes it None, and the members' kept model lost its score
    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, 3))
    y = 2 * X[:, 0] + 0.3 * rng.normal(size=80)
    est = TorchRegressor(
        (8,), early_stopping=True, max_iter=5, random_state=0, solver="sgd",
        learning_rate_init=1e30, batch_size=4, **members,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert est.best_loss_ is None and est.validation_scores_ == []
    if members:
        assert est.best_epochs_ == [0, 0, 0, 0]
        assert est.best_validation_score_ == est.oof_score_
    else:
        assert est.best_validation_score_ is None


@pytest.mark.parametrize("cls", [TorchRegressor, TorchClassifier])
def test_coefs_follow_a_float32_fit_s_dtype_as_scikit_learn_s(cls):
    """MLPRegressor's weights are float32 after a float32 fit; torchsk's, folded with
    the float64 scaling constants, had come out float64."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] > 0 if cls is TorchClassifier else X[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = (MLPClassifier if cls is TorchClassifier else MLPRegressor)(max_iter=3)
        ref.fit(X.astype(np.float32), y)
        est = cls(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        for dtype in (np.float32, np.float64):
            est.fit(X.astype(dtype), y)
            assert {a.dtype for a in est.coefs_ + est.intercepts_} == {np.dtype(dtype)}
    assert ref.coefs_[0].dtype == np.float32  # what scikit-learn does
