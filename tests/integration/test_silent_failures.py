"""No silently wrong model (issue 17): each case used to return a model that looked
fitted and was wrong; now it is right, refused with a clear error, or warned about."""

import copy
import io
import json
import pickle
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_score
from test_reliability import InterruptAt  # the same interrupting backbone
from torch import nn

from torchsk import TorchClassifier, TorchRegressor
from torchsk.inputs.statistics import scaling_statistics
from torchsk.nn.mlp import MLP
from torchsk.training.batches import Data
from torchsk.training.loop import train
from torchsk.training.losses import LOSSES, LossOptions, loss_functions
from torchsk.training.objectives import AutogradObjective
from torchsk.training.settings import TrainSettings

SMALL = dict(hidden_layer_sizes=(8,), random_state=0)


def _linear_problem(n=200, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ np.arange(1.0, d + 1) + 0.1 * rng.normal(size=n)


def _binary_problem(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")


# ---------------------------------------------------------------- partial_fit refusals
def test_partial_fit_refuses_balanced_class_weight_as_sgd_classifier_does():
    X, y = _binary_problem()
    est = TorchClassifier(class_weight="balanced", **SMALL)
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        est.partial_fit(X, y, classes=["no", "yes"])


def test_partial_fit_refuses_balanced_among_a_multilabel_lists_weights():
    # each call would balance its labels over its own rows, as "balanced" alone would
    X, _ = _binary_problem()
    Y = (X[:, :1] + X[:, 1:] * np.array([1.0, -1.0, 0.5]) > 0).astype(int)
    est = TorchClassifier(class_weight=[{0: 1, 1: 2}, "balanced", {0: 1, 1: 1}], **SMALL)
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        est.partial_fit(X, Y, classes=[0, 1, 2])


def test_skipping_parameter_validation_skips_it_on_a_later_partial_fit_too():
    X, y = _linear_problem()
    with sklearn.config_context(skip_parameter_validation=True):
        est = TorchRegressor(max_iter=2, **SMALL).fit(X, y)
        est.set_params(alpha=-1.0).partial_fit(X, y)  # as fit accepts it there


@pytest.mark.parametrize(
    "bad", [dict(batch_size=0), dict(alpha=-1.0), dict(learning_rate_init=0.0)]
)
def test_a_later_partial_fit_validates_parameters_changed_since_the_last(bad):
    """scikit-learn's _fit_context validates a first partial_fit only: batch_size=0
    set after it had raised a ZeroDivisionError, alpha=-1 had trained."""
    X, y = _linear_problem()
    est = TorchRegressor(max_iter=2, **SMALL).fit(X, y)
    est.partial_fit(X, y)
    before = est.predict(X)
    with pytest.raises(ValueError, match=f"The '{next(iter(bad))}' parameter"):
        est.set_params(**bad).partial_fit(X, y)
    np.testing.assert_array_equal(est.predict(X), before)  # nothing trained


def test_partial_fit_refuses_early_stopping_as_scikit_learn_does():
    X, y = _linear_problem()
    est = TorchRegressor(early_stopping=True, max_iter=5, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        est.partial_fit(X, y)
    assert len(est.loss_curve_) == len(est.validation_scores_)


# ---------------------------------------------------------------- binary decision_function
@pytest.mark.parametrize("head", ["softmax", "log_softmax", "sigmoid"])
def test_binary_decision_function_is_one_dimensional_whatever_the_head(head):
    X, y = _binary_problem()
    est = TorchClassifier(head=head, solver="lbfgs", **SMALL).fit(X, y)
    scores = est.decision_function(X)
    assert scores.shape == (len(X),)
    np.testing.assert_array_equal(est.classes_[(scores > 0).astype(int)], est.predict(X))
    assert cross_val_score(est, X, y, cv=2, scoring="roc_auc").min() > 0.9


# ---------------------------------------------------------------- module loss picks the head
def test_a_cross_entropy_module_on_a_binary_target_trains_two_logits():
    X, y = _binary_problem()
    est = TorchClassifier(loss=nn.CrossEntropyLoss(), max_iter=30, **SMALL).fit(X, y)
    assert est.score(X, y) > 0.9


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), nn.NLLLoss()])
def test_a_class_index_loss_module_with_a_one_logit_head_is_refused(loss):
    X, y = _binary_problem()
    with pytest.raises(ValueError, match="sigmoid"):
        TorchClassifier(loss=loss, head="sigmoid", max_iter=3, **SMALL).fit(X, y)


@pytest.mark.parametrize("head", ["softmax", "log_softmax", "auto"])
def test_an_indicator_loss_module_with_a_class_index_head_is_refused(head):
    """BCEWithLogitsLoss takes 0/1 targets shaped as the logits; a softmax head trains
    on class indices (torch's "Target size ... must be the same as input size" came
    from inside the training loop)."""
    X, y = _binary_problem()
    y = np.where(X[:, 0] > 1, "maybe", y)  # three classes: "auto" picks softmax
    with pytest.raises(ValueError, match="only head='sigmoid' gives"):
        TorchClassifier(loss=nn.BCEWithLogitsLoss(), head=head, max_iter=3, **SMALL).fit(X, y)


# ---------------------------------------------------------------- unusable validation
def test_early_stopping_refuses_a_validation_set_too_small_to_score():
    X, y = _linear_problem(20)
    est = TorchRegressor(early_stopping=True, validation_fraction=0.05, **SMALL)  # 1 row
    with pytest.raises(ValueError, match="validation set is too small"):
        est.fit(X, y)
    # all rows held out: the advice is the opposite (it had said to increase it)
    with pytest.raises(ValueError, match="training set is too small. Lower 'validation_f"):
        est.set_params(validation_fraction=0.99).fit(X, y)


def test_a_nan_validation_score_never_selects_weights():
    X = torch.randn(100, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = X[:, :1] * 2
    mlp = MLP(n_inputs=5, n_outputs=1, hidden_layer_sizes=(4,), dtype=torch.float64,
              generator=torch.Generator().manual_seed(0))  # fmt: skip
    loss = loss_functions(LOSSES["squared_error"], "identity", LossOptions(), linked=True)
    objective = AutogradObjective(mlp, loss.per_sample, list(mlp.parameters()))
    settings = TrainSettings(batch_size=20, max_iter=30, learning_rate_init=1e-2)
    history, _ = train(mlp, objective, Data(X, y), settings, validation_score=lambda: np.nan)
    with torch.no_grad():
        final = float(((mlp(X) - y) ** 2).mean())
    # the weights are the trained ones (last epoch), not the initial ones
    assert final < 0.5 * history.loss_curve[0]


# ---------------------------------------------------------------- lbfgs early stopping
def test_lbfgs_ignores_early_stopping_as_scikit_learn_does():
    X, y = _linear_problem()
    plain = TorchRegressor(solver="lbfgs", max_iter=50, **SMALL).fit(X, y)
    stopped = TorchRegressor(solver="lbfgs", max_iter=50, early_stopping=True, **SMALL)
    stopped.fit(X, y)
    np.testing.assert_array_equal(stopped.predict(X), plain.predict(X))
    assert stopped.validation_scores_ is None


# ---------------------------------------------------------------- weighted validation
def test_early_stopping_scores_the_validation_split_with_sample_weight():
    X, y = _binary_problem(400)
    rng = np.random.default_rng(1)
    w = np.ones(len(y))
    noise = rng.random(len(y)) < 0.5  # half the rows: random labels, weight 0
    y = np.where(noise, rng.choice(["yes", "no"], len(y)), y)
    w[noise] = 0.0
    est = TorchClassifier(early_stopping=True, max_iter=30, learning_rate_init=1e-2, **SMALL)
    est.fit(X, y, sample_weight=w)
    assert est.best_validation_score_ > 0.9


# ---------------------------------------------------------------- scaling is relative
@pytest.mark.parametrize("factor", [1e-15, 1e-30, 1e15])
def test_tiny_and_huge_features_are_scaled_by_their_own_spread(factor):
    X, y = _linear_problem()
    center, scale = scaling_statistics(X * factor, "standard")
    np.testing.assert_allclose(scale, X.std(axis=0) * factor, rtol=1e-12)
    est = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", random_state=0)
    assert est.fit(X * factor, y).score(X * factor, y) > 0.99


def test_tiny_targets_come_back_in_their_own_units():
    X, y = _linear_problem()
    est = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", random_state=0)
    pred = est.fit(X, y * 1e-18).predict(X)
    assert r2_score(y * 1e-18, pred) > 0.99


def test_constant_columns_still_get_scale_one():
    X = np.column_stack([np.full(50, 1e-300), np.full(50, 7.0), np.zeros(50)])
    for method in ("standard", "minmax", "robust"):
        _, scale = scaling_statistics(X, method)
        np.testing.assert_array_equal(scale, 1.0)


# ---------------------------------------------------------------- robust losses
@pytest.mark.parametrize("head", ["identity", "exp"])
@pytest.mark.parametrize("loss", ["huber", "absolute_error", "quantile"])
def test_robust_losses_stay_robust_under_the_default_target_scaling(loss, head):
    X, y = _linear_problem(100)
    if head == "exp":  # a positive link's target is scaled, not centred: by its median
        y = np.exp(y / y.std())  # (its mean, 6e6 here, made huber squared error)
    y_dirty = y.copy()
    y_dirty[:3] = 1e9
    est = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", loss=loss, head=head,
                         random_state=0)  # fmt: skip
    pred = est.fit(X, y_dirty).predict(X[3:])
    assert np.abs(pred).max() < 2 * np.abs(y).max()  # was ~1e7 everywhere
    assert r2_score(y[3:], pred) > 0.8


# ---------------------------------------------------------------- constant targets
@pytest.mark.parametrize(
    "params",
    [dict(), dict(loss="poisson"), dict(target_scaling=None), dict(dropout=0.2),
     dict(loss="quantile", quantile=0.9)],  # its gradient at 0 had pushed it off
)  # fmt: skip
def test_a_constant_target_is_predicted_as_that_constant(params):
    X, _ = _linear_problem()
    y = np.full(len(X), 3.7)
    est = TorchRegressor(max_iter=20, **SMALL, **params).fit(X, y)
    np.testing.assert_allclose(est.predict(X), 3.7, rtol=1e-6)
    Y = np.column_stack([y, np.abs(X[:, 0])])  # one constant output among others
    est = TorchRegressor(max_iter=20, **SMALL, **params).fit(X, Y)
    np.testing.assert_allclose(est.predict(X)[:, 0], 3.7, rtol=1e-6)


@pytest.mark.parametrize("head", ["exp", "softplus"])
def test_negative_targets_are_refused_by_a_positive_head(head):
    """They cannot be predicted: the fit had gone on silently (R² -198)."""
    X, y = _linear_problem()
    with pytest.raises(ValueError, match=f"negative, which head='{head}'"):
        TorchRegressor(max_iter=5, head=head, **SMALL).fit(X, y - y.max() - 1)


def test_a_none_in_y_or_a_nan_in_y_val_is_said_so():
    X, y = _linear_problem()
    with pytest.raises(ValueError, match="Input y contains NaN"):  # had failed in training
        TorchRegressor(max_iter=5, **SMALL).fit(X[:3], np.array([1.0, None, 2.0], dtype=object))
    y_val = y[:10].copy()
    y_val[0] = np.nan
    with pytest.raises(ValueError, match="y_val: Input y contains NaN"):
        TorchRegressor(max_iter=5, early_stopping=True, **SMALL).fit(
            X, y, X_val=X[:10], y_val=y_val
        )


# ---------------------------------------------------------------- failed refits
def test_a_refit_that_fails_validation_leaves_the_fitted_model_as_it_was():
    X, y = _linear_problem()
    est = TorchRegressor(max_iter=5, **SMALL).fit(X, y)
    before, n_iter, curve = est.predict(X), est.n_iter_, list(est.loss_curve_)
    est.set_params(early_stopping=True, validation_fraction=0.001, hidden_layer_sizes=(3,))
    with pytest.raises(ValueError):
        est.fit(X[:, :2], y)
    np.testing.assert_array_equal(est.predict(X), before)
    assert est.n_iter_ == n_iter and est.loss_curve_ == curve and est.n_features_in_ == 3


def test_a_first_fit_interrupted_in_its_first_epoch_leaves_no_fitted_model():
    X, y = _binary_problem()
    est = TorchClassifier(module=lambda i, o: InterruptAt(i, o, at=1), random_state=0)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]


def test_a_warm_refit_interrupted_in_its_first_epoch_keeps_the_weights():
    X, y = _binary_problem()
    est = TorchClassifier(module=lambda i, o: InterruptAt(i, o, at=10**9), warm_start=True,
                          max_iter=3, random_state=0).fit(X, y)  # fmt: skip
    before = est.predict_proba(X)
    est.module_.backbone.at = est.module_.backbone.calls + 2  # mid first epoch
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), before)
    assert est.n_iter_ == 3


# ---------------------------------------------------------------- warm start changes
@pytest.mark.parametrize(
    "change",
    [
        dict(hidden_layer_sizes=(5,)),
        dict(activation="tanh"),
        dict(dropout=0.5),
        dict(input_scaling="minmax"),
        dict(loss="poisson"),
        dict(target_scaling=None),
        dict(categorical_features=[0]),  # the fitted input stage has no categories
    ],
)
def test_warm_start_refuses_a_change_it_cannot_honour(change):
    X, y = _linear_problem()
    y = np.abs(y)
    est = TorchRegressor(warm_start=True, max_iter=5, **SMALL).fit(X, y)
    before = est.predict(X)
    est.set_params(**change)
    with pytest.raises(ValueError, match="warm_start"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict(X), before)
    est.set_params(warm_start=False).fit(X, y)  # a cold fit honours it


def test_warm_start_refuses_a_new_head_on_a_binary_classifier():
    X, y = _binary_problem()
    est = TorchClassifier(warm_start=True, max_iter=5, **SMALL).fit(X, y)
    est.set_params(head="softmax")
    with pytest.raises(ValueError, match="warm_start"):
        est.fit(X, y)


def test_warm_start_takes_the_nll_loss_on_the_softmax_network_it_is():
    """``loss="nll"`` trains the multiclass network ``"auto"`` built (the same softmax
    output, the same cross-entropy): a warm start had refused it as a new head."""
    X, y = _linear_problem()
    y = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))  # three classes
    est = TorchClassifier(warm_start=True, max_iter=5, **SMALL).fit(X, y)
    before = [c.copy() for c in est.coefs_]
    est.set_params(loss="nll").fit(X, y)
    assert [c.shape for c in est.coefs_] == [c.shape for c in before]
    assert not np.array_equal(est.coefs_[0], before[0])  # trained on
    binary = TorchClassifier(warm_start=True, max_iter=5, **SMALL).fit(X, y > 0)
    with pytest.raises(ValueError, match="warm_start"):  # one logit against two
        binary.set_params(loss="nll").fit(X, y > 0)


def test_warm_start_honours_a_new_solver_and_learning_rate():
    X, y = _linear_problem()
    est = TorchRegressor(warm_start=True, max_iter=3, **SMALL).fit(X, y)
    est.set_params(solver="sgd", learning_rate_init=1e-4).fit(X, y)
    assert type(est._optimizer).__name__ == "SGD" and est._optimizer.lr == 1e-4
    est.set_params(learning_rate_init=1e-3).partial_fit(X, y)
    assert est._optimizer.lr == 1e-3
    # settings sgd reads restart it; Adam's (beta_1, ...) leave its momentum alone
    kept = est._optimizer
    est.set_params(beta_1=0.5, epsilon=1e-6).partial_fit(X, y)
    assert est._optimizer is kept
    est.set_params(momentum=0.5).partial_fit(X, y)
    assert est._optimizer is not kept and est._optimizer.momentum == 0.5


# ---------------------------------------------------------------- loading draws nothing
def test_unpickling_and_copying_leave_torchs_global_rng_alone():
    X, y = _linear_problem()
    est = TorchRegressor(max_iter=3, **SMALL).fit(X, y)
    blob = pickle.dumps(est)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    pickle.loads(blob)
    copy.deepcopy(est)
    torch.testing.assert_close(torch.rand(3), expected)


# ---------------------------------------------------------------- loading checks shapes
def _step(description, kind: str) -> dict:
    """The stored configuration of the input stage's step of class ``kind``."""
    return next(config for _, cls, config in description["inputs"] if cls == kind)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["backbone"].update(hidden_layer_sizes=[10**7, 10**7]),
        lambda d: d["backbone"].update(n_inputs=10**13),
        lambda d: _step(d, "Scaling").update(n_columns=10**13),
        lambda d: _step(d, "PiecewiseLinear").update(
            n_bins=[10**12] * len(_step(d, "PiecewiseLinear")["n_bins"])
        ),
        lambda d: d.update(dtype="float64; import os"),
        lambda d: d.update(link="Sequential"),
    ],
)
def test_a_tampered_description_fails_cleanly_before_allocating(edit):
    X, y = _linear_problem()
    est = TorchRegressor(max_iter=3, numeric_bins=8, **SMALL).fit(X, y)  # every kind of step
    state = est.__getstate__()
    edit(state["module_"])
    with pytest.raises(ValueError, match="stored network"):
        TorchRegressor.__new__(TorchRegressor).__setstate__(state)


def _widen_stored_layers(node):
    """Make every stored list ``hidden_layer_sizes`` (the network's) two layers of 10**7."""
    if isinstance(node, dict):
        content = node.get("content")
        layers = content.get("hidden_layer_sizes") if isinstance(content, dict) else None
        if isinstance(layers, dict) and layers.get("__class__") == "list":
            item = layers["content"][0]
            layers["content"] = [{**item, "content": str(10**7)} for _ in range(2)]
        for value in node.values():
            _widen_stored_layers(value)
    elif isinstance(node, list):
        for value in node:
            _widen_stored_layers(value)


def test_a_tampered_skops_file_fails_cleanly():
    sio = pytest.importorskip("skops.io")
    X, y = _linear_problem()
    est = TorchRegressor(max_iter=3, **SMALL).fit(X, y)
    source, tampered = zipfile.ZipFile(io.BytesIO(sio.dumps(est))), io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as out:
        for name in source.namelist():
            data = source.read(name)
            if name == "schema.json":
                schema = json.loads(data)
                _widen_stored_layers(schema)
                data = json.dumps(schema).encode()
            out.writestr(name, data)
    blob = tampered.getvalue()
    with pytest.raises(ValueError, match="stored network"):
        sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))


# ---------------------------------------------------------------- threaded fits
def test_threaded_fits_with_dropout_are_reproducible_and_keep_the_callers_rng():
    X, y = _linear_problem(300)
    est = TorchRegressor(hidden_layer_sizes=(16,), dropout=0.3, max_iter=15,
                         batch_size=16, tol=0.0)  # fmt: skip

    def fit_predict(seed):
        return clone(est).set_params(random_state=seed).fit(X, y).predict(X)

    expected = [fit_predict(seed) for seed in range(4)]
    torch.manual_seed(123)
    draws = torch.rand(5)
    torch.manual_seed(123)
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(fit_predict, range(4)))
    torch.testing.assert_close(torch.rand(5), draws)
    for got, want in zip(threaded, expected, strict=True):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- target checks every call
def test_poisson_refuses_negative_targets_on_every_call():
    X, y = _linear_problem()
    y = np.abs(y)
    est = TorchRegressor(loss="poisson", warm_start=True, max_iter=3, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="negative"):
        est.partial_fit(X, -y)
    with pytest.raises(ValueError, match="negative"):
        est.fit(X, -y)


# ---------------------------------------------------------------- worse than at the start
def test_a_rising_loss_is_not_called_converged():
    X, y = _linear_problem()
    est = TorchRegressor(solver="rprop", learning_rate_init=10.0, max_iter=200, **SMALL)
    with pytest.warns(ConvergenceWarning, match="rose"):
        est.fit(X, y)
    assert est.score(X, y) > -10  # the lowest-loss weights, not the last (R² ~ -4e4)


def test_an_offset_target_keeps_the_tight_margin_against_the_constant():
    """A guard: a margin scaled by an output of 0's loss (tried to spare an exp head's
    constant target a false warning) hid a model 0.7 off the mean of y = 1000 + N(0, 1),
    and 30 spreads off on 1e6 +- 10."""
    import types

    from torchsk.training.losses import LossFunctions
    from torchsk.training.report import worse_than_constant

    y = torch.as_tensor(1000 + np.random.default_rng(0).normal(size=(500, 1)))
    mean = float(y.mean())

    class Off(nn.Module):  # the mean + 0.7: a loss of 1.5 against the constant's 1.0
        def forward(self, x):
            return x + mean + 0.7

    task = types.SimpleNamespace(kind="classification", constant_outputs=lambda y, w: [y.mean(0)])
    loss = LossFunctions(lambda z, t: ((z - t) ** 2).mean(dim=1), None)
    data = types.SimpleNamespace(X=torch.zeros(500, 1, dtype=torch.float64), y=y, w=None)
    worse, _ = worse_than_constant(task, Off(), loss, data)
    assert worse is not None and worse[0] > worse[1] + 0.4
    # nor a target whose spread is small against its level: 1e6 +- 10, 30 spreads off
    data.y = torch.as_tensor(1e6 + 10 * np.random.default_rng(0).normal(size=(500, 1)))
    mean = float(data.y.mean()) + 300 - 0.7
    worse, _ = worse_than_constant(task, Off(), loss, data)
    assert worse is not None


def test_a_fit_worse_than_predicting_a_constant_warns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 10_000))
    y = X[:, 0] + 0.1 * rng.normal(size=20)
    # the regressor's former defaults: the (1.0, 1e-3) of today's "auto" rescue this fit
    est = TorchRegressor(alpha=0.3, learning_rate_init=2e-3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="constant"):
        est.fit(X, y)
