"""Every head × loss × target combination trains, invalid ones are refused, numerics are safe."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_wine,
    make_classification,
    make_multilabel_classification,
)
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import log_loss, mean_poisson_deviance
from sklearn.model_selection import cross_val_score, train_test_split
from torch import nn

from torchsk import ReusedBackbone, TorchClassifier, TorchRegressor
from torchsk.training.losses import CLASSIFICATION, LOSSES

pytestmark = pytest.mark.short_fits  # fits cut short on purpose

FAST = dict(hidden_layer_sizes=(32,), learning_rate_init=1e-2, max_iter=60, random_state=0)


def _data(target_type):
    if target_type == "binary":
        return load_breast_cancer(return_X_y=True)
    if target_type == "multiclass":
        return load_wine(return_X_y=True)
    return make_multilabel_classification(n_samples=300, n_classes=4, random_state=0)


VALID_CLASSIFIER_COMBOS = [
    (head, loss.name, target)
    for loss in LOSSES.values()
    if loss.task == CLASSIFICATION
    for head in loss.outputs
    for target in loss.targets
] + [("auto", "auto", t) for t in ("binary", "multiclass", "multilabel-indicator")]


@pytest.mark.parametrize(("head", "loss", "target"), VALID_CLASSIFIER_COMBOS)
def test_valid_classifier_combination_beats_dummy(head, loss, target):
    X, y = _data(target)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    clf = TorchClassifier(head=head, loss=loss, **FAST).fit(Xtr, ytr)
    dummy = DummyClassifier().fit(Xtr, ytr)
    assert clf.score(Xte, yte) > dummy.score(Xte, yte) + 0.1
    proba = clf.predict_proba(Xte)
    assert ((proba >= 0) & (proba <= 1)).all()
    if target != "multilabel-indicator":
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize(
    ("head", "loss_module", "target"),
    [
        ("softmax", nn.CrossEntropyLoss(), "multiclass"),
        ("log_softmax", nn.CrossEntropyLoss(), "multiclass"),
        ("sigmoid", nn.BCEWithLogitsLoss(), "binary"),
        ("sigmoid", nn.BCEWithLogitsLoss(), "multilabel-indicator"),
    ],
)
def test_torch_loss_modules_fit_any_head(head, loss_module, target):
    X, y = _data(target)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    clf = TorchClassifier(head=head, loss=loss_module, **FAST).fit(Xtr, ytr)
    assert clf.score(Xte, yte) > DummyClassifier().fit(Xtr, ytr).score(Xte, yte) + 0.1


@pytest.mark.parametrize("head", ["log_softmax", "softmax", "auto"])
def test_nll_loss_module_trains_on_log_probabilities(head):
    # torch's NLLLoss takes log-probabilities; on raw logits its loss (-z[y]) has no
    # floor, and a fit drove it to -1e293 with a model at chance level
    X, y = _data("multiclass")
    kw = dict(FAST, max_iter=20)
    named = TorchClassifier(head="log_softmax", loss="nll", **kw).fit(X, y)
    module = TorchClassifier(head=head, loss=nn.NLLLoss(), **kw).fit(X, y)
    assert module.loss_ > 0
    np.testing.assert_allclose(module.loss_, named.loss_, rtol=1e-9)
    np.testing.assert_allclose(module.predict_proba(X), named.predict_proba(X), atol=1e-9)


def test_a_loss_modules_tensors_follow_the_networks_dtype():
    # a class weight made as torch makes it (float32) in a network trained in float64
    X, y = _data("multiclass")
    weights = [3.0, 1.0, 0.5]
    as_made = nn.CrossEntropyLoss(weight=torch.tensor(weights))
    in_float64 = nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float64))
    a = TorchClassifier(loss=as_made, **FAST).fit(X, y)
    b = TorchClassifier(loss=in_float64, **FAST).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert as_made.weight.dtype == torch.float32  # the user's module is left as given


def test_a_class_index_loss_module_gets_one_logit_per_class_for_a_binary_target():
    # nn.MultiMarginLoss takes class indices: head="auto" gave it one sigmoid logit and
    # 0/1 floats, and torch failed inside the training loop
    X, y = _data("binary")
    clf = TorchClassifier(loss=nn.MultiMarginLoss(), **FAST).fit(X, y)
    assert clf.out_activation_ == "softmax"
    assert clf.score(X, y) > 0.9


INVALID_CLASSIFIER_COMBOS = [
    ("sigmoid", "auto", "multiclass"),
    ("softmax", "auto", "multilabel-indicator"),
    ("log_softmax", "auto", "multilabel-indicator"),
    ("softmax", "nll", "multiclass"),
    ("softmax", "binary_cross_entropy", "binary"),
    ("log_softmax", "log_loss", "multiclass"),
    ("sigmoid", "log_loss", "binary"),
    ("sigmoid", "nll", "multilabel-indicator"),
    ("auto", "binary_cross_entropy", "multiclass"),
    ("auto", "nll", "multilabel-indicator"),
]


@pytest.mark.parametrize(("head", "loss", "target"), INVALID_CLASSIFIER_COMBOS)
def test_invalid_classifier_combination_names_valid_choices(head, loss, target):
    X, y = _data(target)
    with pytest.raises(
        ValueError, match="Valid combinations: head='softmax' with loss='log_loss'"
    ):
        TorchClassifier(head=head, loss=loss, **FAST).fit(X, y)


REGRESSION_COMBOS = [
    (loss, head)
    for loss in ("squared_error", "absolute_error", "huber", "quantile", "poisson")
    for head in ("auto", "identity", "exp", "softplus")
    if not (loss == "poisson" and head == "identity")
]


@pytest.mark.parametrize(("loss", "head"), REGRESSION_COMBOS)
def test_valid_regression_combination_beats_dummy(loss, head):
    X, y = load_diabetes(return_X_y=True)  # positive targets: every link fits
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    # a linear backbone: diabetes is small and noisy, and the point here is the head/loss
    params = dict(hidden_layer_sizes=(), batch_size=32, learning_rate_init=1e-2, random_state=0)
    reg = TorchRegressor(loss=loss, head=head, max_iter=60, **params).fit(Xtr, ytr)
    assert reg.score(Xte, yte) > DummyRegressor().fit(Xtr, ytr).score(Xte, yte) + 0.2


def test_torch_loss_module_for_regression():
    X, y = load_diabetes(return_X_y=True)
    reg = TorchRegressor(loss=nn.SmoothL1Loss(), **FAST).fit(X, y)
    assert reg.score(X, y) > 0.3


def test_poisson_needs_positive_link_and_nonnegative_targets():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="positive output link.*'exp', 'softplus'"):
        TorchRegressor(loss="poisson", head="identity").fit(X, y)
    with pytest.raises(ValueError, match="negative"):
        TorchRegressor(loss="poisson").fit(X, y - 200)


def _counts():
    """Counts whose log-rate is linear in diabetes' features (heteroscedastic)."""
    X, _ = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    rate = np.exp(1.0 + 8 * X[:, 2] + 6 * X[:, 8])
    return X, rng.poisson(rate)


def test_softplus_fits_a_large_constant_output_without_overflow():
    """The output's starting bias, softplus's inverse, was log(expm1(800)) = inf: the
    fit failed as "Training diverged" (numpy's overflow warning with it)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    Y = np.column_stack([X[:, 0] ** 2 + 1, np.full(100, 800.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = TorchRegressor(head="softplus", target_scaling=None, solver="lbfgs",
                             max_iter=50, random_state=0).fit(X, Y)  # fmt: skip
    np.testing.assert_allclose(est.predict(X)[:, 1], 800.0, rtol=1e-6)


@pytest.mark.parametrize("head", ["exp", "softplus"])
def test_a_given_target_center_is_refused_under_a_positive_link(head):
    """Training saw (y - center) / scale, negative below the center: a Poisson fit
    predicted a constant or negative values, without a word. A scale alone fits."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0] + 1.0)).astype(float)
    kw = dict(loss="poisson", head=head, max_iter=20, random_state=0)
    with pytest.raises(ValueError, match="positive link"):
        TorchRegressor(target_scaling=(y.mean(), 1.0), **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaled = TorchRegressor(target_scaling=(0.0, y.mean()), **kw).fit(X, y)
    assert (scaled.predict(X) >= 0).all()


def test_multi_output_poisson_sums_over_outputs_as_mlp_regressor():
    # MLPRegressor's poisson_loss sums the deviance over outputs; a mean made alpha
    # weigh three times as much on three outputs (the coefficients differed by 1.4%)
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 2))
    mu = np.exp(0.5 * X[:, 0] + 1)
    Y = np.c_[rng.poisson(mu), rng.poisson(3 * mu), rng.poisson(mu * np.exp(-X[:, 1]))]
    kw = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=5.0, max_iter=5000, tol=1e-12)
    sk = MLPRegressor(loss="poisson", random_state=0, **kw).fit(X, Y.astype(float))
    ours = TorchRegressor(
        loss="poisson", target_scaling=None, input_scaling=None, random_state=0, **kw
    ).fit(X, Y.astype(float))
    np.testing.assert_allclose(ours.coefs_[0], sk.coefs_[0], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(ours.loss_, sk.loss_, rtol=1e-6)


def test_poisson_beats_squared_error_in_poisson_deviance():
    X, y = _counts()
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", alpha=1.0, random_state=0)
    poisson = TorchRegressor(loss="poisson", **params).fit(Xtr, ytr).predict(Xte)
    squared = TorchRegressor(**params).fit(Xtr, ytr).predict(Xte)
    assert (poisson > 0).all()
    assert mean_poisson_deviance(yte, poisson) < mean_poisson_deviance(
        yte, np.clip(squared, 1e-3, None)
    )


def test_quantile_loss_covers_the_requested_share():
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, random_state=0)
    params = dict(hidden_layer_sizes=(), batch_size=32, learning_rate_init=1e-2, max_iter=100)
    reg = TorchRegressor(loss="quantile", quantile=0.9, random_state=0, **params)
    below = np.mean(yte <= reg.fit(Xtr, ytr).predict(Xte))
    assert 0.85 <= below <= 0.95


class Times1e7(nn.Module):
    """A backbone whose logits are as large as ±1e7."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.linear(x) * 1e7


@pytest.mark.parametrize(
    ("head", "target"),
    [("softmax", "multiclass"), ("log_softmax", "multiclass"), ("sigmoid", "binary"),
     ("sigmoid", "multilabel-indicator")],
)  # fmt: skip
def test_huge_logits_stay_finite(head, target):
    X, y = _data(target)
    clf = TorchClassifier(head=head, module=Times1e7, max_iter=5, random_state=0).fit(X, y)
    assert np.isfinite(clf.loss_curve_).all()
    assert np.abs(clf.decision_function(X)).max() > 1e5
    for method in ("predict_proba", "predict_log_proba", "decision_function"):
        out = getattr(clf, method)(X)
        assert np.isfinite(out).all(), method
    proba = clf.predict_proba(X)
    assert ((proba >= 0) & (proba <= 1)).all()
    if target == "multiclass":
        np.testing.assert_allclose(proba.sum(axis=1), 1)


def test_label_smoothing_softens_probabilities():
    X, y = load_wine(return_X_y=True)
    sharp = TorchClassifier(**FAST).fit(X, y).predict_proba(X).max(axis=1).mean()
    smooth = TorchClassifier(label_smoothing=0.3, **FAST).fit(X, y).predict_proba(X)
    assert smooth.max(axis=1).mean() < sharp


def test_regression_backbone_starts_a_classifier_and_back():
    X, y = load_wine(return_X_y=True)
    reg = TorchRegressor(hidden_layer_sizes=(32,), max_iter=60, random_state=0).fit(X, X[:, 0])
    clf = TorchClassifier(module=ReusedBackbone(reg), max_iter=30, random_state=0).fit(X, y)
    hidden = clf.module_.backbone.hidden[0].weight
    assert clf.module_.backbone.output.out_features == 3
    assert not torch.equal(hidden, reg.module_.backbone.hidden[0].weight)  # trained further
    assert clf.score(X, y) > 0.9
    back = TorchRegressor(module=ReusedBackbone(clf), max_iter=30, random_state=0).fit(X, X[:, 0])
    assert back.module_.backbone.output.out_features == 1
    assert back.score(X, X[:, 0]) > 0.5


def test_an_unfitted_donor_raises_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ReusedBackbone(TorchRegressor())
    # a fitted search without a network says why, not "not fitted yet"
    from torchsk import BatchedSearchCV

    X = np.random.default_rng(0).normal(size=(40, 2))
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [0.1, 1.0]}, cv=2, refit=False).fit(X, X[:, 0])
    with pytest.raises(AttributeError, match="refit=False"):
        ReusedBackbone(search)


def test_reused_backbone_keeps_the_trained_hidden_weights():
    X, y = load_wine(return_X_y=True)
    reg = TorchRegressor(hidden_layer_sizes=(8,), numeric_bins=8, max_iter=20, random_state=0)
    reg.fit(X, X[:, 0])
    width = reg.module_.inputs.n_outputs  # the numeric columns and their bins
    reused = ReusedBackbone(reg)
    built = reused(width, 3)
    assert torch.equal(built.hidden[0].weight, reg.module_.backbone.hidden[0].weight)
    assert built.output.out_features == 3
    # a snapshot: the donor's later training does not reach it (it had, in place)
    trained = reg.module_.backbone.hidden[0].weight.clone()
    reg.partial_fit(X, X[:, 0])
    assert torch.equal(reused(width, 3).hidden[0].weight, trained)
    # the new estimator repeats the donor's bins, whatever its own numeric_bins
    clf = TorchClassifier(module=ReusedBackbone(reg), max_iter=5, random_state=0).fit(X, y)
    assert clf.module_.inputs.bins.config == reg.module_.inputs.bins.config
    again = TorchRegressor(module=ReusedBackbone(clf), numeric_bins=4, max_iter=5).fit(X, X[:, 0])
    assert again.module_.inputs.n_outputs == width
    # other columns are told why they do not fit
    with pytest.raises(ValueError, match="takes 13 columns, but X has 5.*categorical_features"):
        TorchClassifier(module=ReusedBackbone(reg), max_iter=5).fit(X[:, :5], y)


def test_a_reheaded_backbone_survives_pickle():
    """A new output width (a regressor's backbone in a 3-class classifier and back) is
    written into the configuration a saved model is rebuilt from: loading raised
    "backbone.output.bias: (3,) stored, (1,) configured" (and so did joblib workers).
    (skops stores no user module, ReusedBackbone included: docs/ecosystem.md.)"""
    import pickle

    X, y = load_wine(return_X_y=True)
    reg = TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, X[:, 0])
    clf = TorchClassifier(module=ReusedBackbone(reg), max_iter=5, random_state=0).fit(X, y)
    back = TorchRegressor(module=ReusedBackbone(clf), max_iter=5).fit(X, np.c_[X[:, 0], X[:, 1]])
    for est, predict in ((clf, "predict_proba"), (back, "predict")):
        loaded = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(getattr(loaded, predict)(X), getattr(est, predict)(X))


def test_reused_backbone_cross_validates_on_its_donors_data_with_its_encoding():
    """Every fold reuses the donor's input encoding whole (bin edges, scaling, missing
    indicators, categories and their slots), the one its backbone learned on; a fold's
    own edges would give another width (the fit then failed on 3 folds of 5)."""
    pd = pytest.importorskip("pandas")
    X, y = load_diabetes(return_X_y=True)
    X = pd.DataFrame(X).assign(level=pd.Categorical(np.resize(list("abcdefgh"), len(X))))
    X.columns = X.columns.astype(str)
    X.iloc[::7, 0] = np.nan
    reg = TorchRegressor(hidden_layer_sizes=(16,), numeric_bins=8, max_iter=30, random_state=0)
    reg.fit(X, y)
    reused = TorchRegressor(module=ReusedBackbone(reg), max_iter=5, random_state=0)
    assert np.isfinite(cross_val_score(reused, X, y)).all()
    part = reused.fit(X[X["level"] != "a"][:100], y[X["level"] != "a"][:100])
    assert part.categories_[-1].tolist() == reg.categories_[-1].tolist()
    for name, value in reg.module_.inputs.state_dict().items():
        torch.testing.assert_close(part.module_.inputs.state_dict()[name], value)


def test_reused_backbone_refuses_columns_named_otherwise_than_its_donors():
    """The donor's encoding reads columns by position: a reordered or renamed table
    is refused as scikit-learn refuses it at predict (it had its scaling and
    categories swapped, R2 0.99 -> -299); a numpy X is matched by position, with
    scikit-learn's warning."""
    pytest.importorskip("pandas")
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4].assign(level=np.resize(list("abc"), len(X)))
    donor = TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    reused = TorchRegressor(module=ReusedBackbone(donor), max_iter=2, random_state=0)
    for other in (X[X.columns[::-1]], X.rename(columns={"age": "AGE"})):
        with pytest.raises(ValueError, match="feature names should match.*in that order"):
            reused.fit(other, y)
        assert not hasattr(reused, "module_")
    numbers = X.drop(columns="level")
    donor = TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    reused = TorchRegressor(module=ReusedBackbone(donor.fit(numbers, y)), max_iter=2)
    with pytest.warns(UserWarning, match="does not have valid feature names.*by position"):
        reused.fit(numbers.to_numpy(), y)
    assert isinstance(reused.fit(numbers, y).predict(numbers), np.ndarray)  # same names


@pytest.mark.parametrize(
    "n_classes, head", [(2, "sigmoid"), (2, "softmax"), (5, "softmax"), (5, "log_softmax")]
)
def test_float32_model_probabilities_sum_to_one_in_float64(n_classes, head):
    """A model large enough to train in float32 (over 1e8 FLOPs per epoch) still gives
    rows that sum to 1 to float64 precision: log_loss does not warn."""
    X, y = make_classification(
        n_samples=3000, n_features=20, n_informative=10, n_classes=n_classes, random_state=0
    )
    clf = TorchClassifier(hidden_layer_sizes=(512,), head=head, max_iter=2, random_state=0)
    clf.fit(X, y)
    assert clf._plan.dtype == torch.float32
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=4 * np.finfo(np.float64).eps)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_loss(y, proba)
