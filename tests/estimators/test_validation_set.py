"""``fit(X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None)``:
a given validation set for early stopping, as in ``HistGradientBoosting*.fit``."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from torchsk import TorchClassifier, TorchRegressor

pytestmark = [
    pytest.mark.short_fits,  # tiny max_iter keeps the fits fast
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


def _regression(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X[:, 0] - 2 * X[:, 1] ** 2 + 0.3 * rng.normal(size=n)


@pytest.fixture
def sets():
    return _regression(200, 0), _regression(80, 1)


def _stopping(**params):
    return TorchRegressor(hidden_layer_sizes=(8,), early_stopping=True, random_state=0, **params)


def test_scores_are_those_of_the_given_set_at_each_epoch(sets):
    (X, y), (Xv, yv) = sets
    reg = _stopping(max_iter=1, warm_start=True)
    seen = []
    for _ in range(4):  # one epoch per fit: the model after it is that epoch's
        reg.fit(X, y, X_val=Xv, y_val=yv)
        seen.append(reg.score(Xv, yv))
    np.testing.assert_allclose(reg.validation_scores_, seen, rtol=1e-9)
    assert reg.t_ == 4 * len(X)  # all of X trains: nothing held out


def test_best_epoch_on_the_given_set_is_kept(sets):
    (X, y), (Xv, yv) = sets
    reg = _stopping(max_iter=30, n_iter_no_change=30, learning_rate_init=0.05)
    reg.fit(X, y, X_val=Xv, y_val=yv)
    assert reg.n_iter_ == 30 and len(reg.validation_scores_) == 30
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert reg.score(Xv, yv) == pytest.approx(reg.best_validation_score_, rel=1e-9)
    assert reg.best_loss_ is None  # as under early stopping on a split
    # the split of X is not what was scored: the same settings without X_val differ
    split = _stopping(max_iter=30, n_iter_no_change=30, learning_rate_init=0.05).fit(X, y)
    assert split.validation_scores_ != reg.validation_scores_


def test_sample_weight_val_weighs_the_score(sets):
    (X, y), (Xv, yv) = sets
    w = np.r_[np.ones(40), np.zeros(40)]
    reg = _stopping(max_iter=10, n_iter_no_change=10)
    reg.fit(X, y, X_val=Xv, y_val=yv, sample_weight_val=w)
    best = r2_score(yv[:40], reg.predict(Xv[:40]))
    assert reg.best_validation_score_ == pytest.approx(best, rel=1e-9)


def test_classifier_scores_labels_of_the_given_set_with_class_weight():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    labels = np.array(["a", "b", "c"])
    y = labels[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    weights = {"a": 1.0, "b": 2.0, "c": 3.0}
    clf = TorchClassifier(
        hidden_layer_sizes=(8,), early_stopping=True, max_iter=10, n_iter_no_change=10,
        class_weight=weights, random_state=0,
    )  # fmt: skip
    with pytest.warns(DataConversionWarning):  # as for y
        clf.fit(X[:200], y[:200], X_val=X[200:], y_val=y[200:].reshape(-1, 1))
    w = np.vectorize(weights.get)(y[200:])
    best = accuracy_score(y[200:], clf.predict(X[200:]), sample_weight=w)
    assert clf.best_validation_score_ == pytest.approx(best)
    assert len(clf.validation_scores_) == clf.n_iter_
    with pytest.raises(ValueError, match="previously unseen labels|not in|unseen"):
        clf.fit(X[:200], y[:200], X_val=X[200:202], y_val=["a", "z"])


def test_x_val_is_validated_as_x_is():
    frame = pd.DataFrame({"x": np.arange(60.0), "c": pd.Categorical(["u", "v", "w"] * 20)})
    y = frame["x"].to_numpy() + (frame["c"] == "v")
    reg = _stopping(max_iter=3)
    reg.fit(frame[:40], y[:40], X_val=frame[40:], y_val=y[40:])
    assert reg.validation_scores_ is not None
    with pytest.raises(ValueError, match="feature names"):
        reg.fit(frame[:40], y[:40], X_val=frame[40:][["c", "x"]], y_val=y[40:])
    X = np.random.default_rng(0).normal(size=(60, 3))
    with pytest.raises(ValueError, match="features"):
        reg.fit(X[:40], y[:40], X_val=X[40:, :2], y_val=y[40:])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        reg.fit(X[:40], y[:40], X_val=X[40:], y_val=y[41:])
    with pytest.raises(ValueError, match="X_val has 1 sample"):
        reg.fit(X[:40], y[:40], X_val=X[40:41], y_val=y[40:41])
    with pytest.raises(ValueError, match="[Ii]nput y_val? contains infinity|infinity"):
        reg.fit(X[:40], y[:40], X_val=X[40:], y_val=np.r_[np.inf, y[41:]])


@pytest.mark.parametrize(
    "params, given, match",
    [
        ({}, dict(X_val=1), "X_val is provided, but y_val was not provided"),
        ({}, dict(y_val=1), "y_val is provided, but X_val was not provided"),
        ({}, dict(sample_weight_val=1), "sample_weight_val is provided"),
        (dict(early_stopping=False), dict(X_val=1, y_val=1), "while early_stopping is False"),
        (dict(solver="lbfgs"), dict(X_val=1, y_val=1), "while solver='lbfgs'"),
    ],
)
def test_a_validation_set_fit_would_not_use_is_refused(sets, params, given, match):
    (X, y), (Xv, yv) = sets
    data = {"X_val": Xv, "y_val": yv, "sample_weight_val": np.ones(len(Xv))}
    reg = _stopping(max_iter=2).set_params(**params).fit(X, y)
    before = reg.predict(X)
    with pytest.raises(ValueError, match=match):
        reg.fit(X, y, **{k: data[k] for k in given})
    np.testing.assert_array_equal(reg.predict(X), before)  # the fitted state is kept


def test_partial_fit_takes_no_validation_set(sets):
    (X, y), (Xv, yv) = sets
    with pytest.raises(TypeError, match="X_val"):
        TorchRegressor().partial_fit(X, y, X_val=Xv, y_val=yv)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        _stopping().partial_fit(X, y)


def test_fit_signature_is_histgradientboostings():
    import inspect

    from sklearn.ensemble import HistGradientBoostingRegressor

    hgb = inspect.signature(HistGradientBoostingRegressor.fit)
    # y defaults to None only because an iterable of (X, y) batches carries its own
    hgb = hgb.replace(parameters=[
        p.replace(default=None) if p.name == "y" else p for p in hgb.parameters.values()
    ])  # fmt: skip
    for est in (TorchRegressor, TorchClassifier):
        assert inspect.signature(est.fit) == hgb


def test_pipeline_transforms_x_val_with_transform_input(sets):
    (X, y), (Xv, yv) = sets
    with sklearn.config_context(enable_metadata_routing=True):
        reg = _stopping(max_iter=5, n_iter_no_change=5).set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("scale", StandardScaler()), ("reg", reg)], transform_input=["X_val"])
        pipe.fit(X * 100, y, X_val=Xv * 100, y_val=yv)
    best = pipe.named_steps["reg"].best_validation_score_
    assert pipe.score(Xv * 100, yv) == pytest.approx(best, rel=1e-9)  # X_val was scaled too


def test_a_streamed_fit_early_stops_on_a_given_set_only(sets):
    da = pytest.importorskip("dask.array")
    (X, y), (Xv, yv) = sets
    Xd = da.from_array(X, chunks=(50, 3))
    reg = _stopping(max_iter=8, n_iter_no_change=8).fit(Xd, y, X_val=Xv, y_val=yv)
    assert len(reg.validation_scores_) == reg.n_iter_ == 8
    assert reg.score(Xv, yv) == pytest.approx(reg.best_validation_score_, rel=1e-9)
    with pytest.raises(ValueError, match="pass one as fit's X_val and y_val"):
        _stopping(max_iter=2).fit(Xd, y)


def test_a_dask_dataframe_x_val_with_a_string_column_scores_as_its_pandas_frame(sets):
    dd = pytest.importorskip("dask.dataframe")
    (X, y), (Xv, yv) = sets
    train = pd.DataFrame(X, columns=list("abc")).assign(k=np.resize(["u", "v"], len(X)))
    held = pd.DataFrame(Xv, columns=list("abc")).assign(k=np.resize(["v", "u"], len(Xv)))
    lazy = dd.from_pandas(held, npartitions=2)  # the table reader had failed on it
    given = _stopping(max_iter=4).fit(train, y, X_val=lazy, y_val=yv)
    expected = _stopping(max_iter=4).fit(train, y, X_val=held, y_val=yv)
    assert given.validation_scores_ == expected.validation_scores_


def test_a_split_whose_held_out_rows_weigh_nothing_says_it_stops_on_the_loss():
    """Three weighted rows of 100, none drawn into the held-out 10%: no epoch can be
    scored, so training stops on its loss (as a batched search's members do); that
    had happened without a word."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 3)), rng.normal(size=100)
    w = np.zeros(100)
    w[:3] = 1.0
    for seed in range(10):  # a seed whose split holds out none of the three
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = _stopping(max_iter=3).set_params(random_state=seed).fit(X, y, sample_weight=w)
        said = [w for w in caught if "held-out rows all have zero sample_weight" in str(w.message)]
        if np.isnan(est.validation_scores_).all():
            assert len(said) == 1
            return
        assert not said
    pytest.fail("no seed held out only zero-weight rows")


def test_held_out_targets_r2_cannot_score_are_refused_or_said_not_kept_at_epoch_one():
    """Held-out targets all equal (a zero-inflated y, one weighted row) score R² 0 at
    every epoch: early stopping had stopped at epoch 12 on the first epoch's weights
    (training R² -2.2 where training to the end gives 0.0)."""
    rng = np.random.RandomState(0)
    X = rng.randn(200, 2)
    y = np.zeros(200)
    y[[5, 77]] = 5.0  # held out by neither split of seed 0
    est = TorchRegressor(hidden_layer_sizes=(8,), random_state=0, early_stopping=True)
    with pytest.warns(UserWarning, match="targets all equal.*Raise validation_fraction"):
        est.fit(X, y)
    assert np.isnan(est.validation_scores_).all() and est.n_iter_ == est.max_iter
    for y_val, weights in [(np.full(10, 0.5), None), (X[:10, 0], np.r_[1.0, np.zeros(9)])]:
        with pytest.raises(ValueError, match="y_val holds one value"):
            est.fit(X, X[:, 0], X_val=X[:10], y_val=y_val, sample_weight_val=weights)
    members = dict(n_ensemble=4, member_rows="folds", early_stopping=True, random_state=0)
    with pytest.raises(ValueError, match=r"member \d's fold's targets are all equal"):
        TorchRegressor(**members).fit(X, y)


def test_early_stopping_fits_a_multiclass_y_with_a_class_of_one_row():
    """No stratified split puts the lone row on both sides: the rows are split
    unstratified, as ``MLPClassifier`` splits every multiclass y (it raised
    train_test_split's "least populated class" error)."""
    from sklearn.neural_network import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = np.r_[np.zeros(30, int), np.ones(29, int), 2]
    kwargs = dict(hidden_layer_sizes=(4,), max_iter=5, early_stopping=True, random_state=0)
    MLPClassifier(**kwargs).fit(X, y)  # scikit-learn's fits
    est = TorchClassifier(**kwargs).fit(X, y)
    assert est.classes_.tolist() == [0, 1, 2] and len(est.validation_scores_) == est.n_iter_


def test_early_stopping_splits_are_stratified_where_every_class_can_be():
    from torchsk.training.holdout import stratify_labels

    y = np.array(["a", "a", "b", "b", "b"])
    assert stratify_labels(y, True, 0.4) is y
    assert stratify_labels(y, False, 0.4) is None  # a regressor's
    assert stratify_labels(np.append(y, "c"), True, 0.4) is None  # "c" has one row
    assert stratify_labels(np.eye(3)[[0, 1, 1, 2, 2]], True, 0.4) is None  # multilabel
    # 2 held-out rows cannot hold both classes... of 3: unstratified, as MLPClassifier
    assert stratify_labels(np.repeat(["a", "b", "c"], 5), True, 0.1) is None


def test_small_multiclass_early_stopping_fits_as_mlp_classifier_does():
    """15 rows of 3 classes hold out 2: refused as "too small" (one per class), where
    ``MLPClassifier``, which stratifies binary targets only, fits."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(15, 3), np.repeat([0, 1, 2], 5)
    est = TorchClassifier(hidden_layer_sizes=(4,), max_iter=5, early_stopping=True)
    assert len(est.fit(X, y).validation_scores_) == est.n_iter_


def test_a_y_val_or_x_val_error_names_it():
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 2), np.array(["a", "b"] * 15)
    est = TorchClassifier(hidden_layer_sizes=(4,), max_iter=2, early_stopping=True)
    with pytest.raises(ValueError, match=r"y_val: .*labels \['z'\] not in classes"):
        est.fit(X, y, X_val=X[:4], y_val=np.array(["a", "z", "a", "b"]))
    bad = X[:4].copy()
    bad[0, 1] = np.inf
    with pytest.raises(ValueError, match="X_val: Input X contains infinity"):
        est.fit(X, y, X_val=bad, y_val=y[:4])
