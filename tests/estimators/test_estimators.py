"""Inputs and outputs of the estimators: labels, shapes, frames, dtypes, solvers, options."""

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning

from torchsk import TorchClassifier, TorchRegressor

pytestmark = pytest.mark.short_fits  # tiny max_iter keeps the fits fast

FAST = dict(hidden_layer_sizes=(16,), learning_rate_init=1e-2, max_iter=100, random_state=0)


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["setosa", "versicolor", "virginica"]),
        np.array([3, 7, 11]),
        pd.Categorical(["a", "b", "c"]),
    ],
    ids=["str", "int", "categorical"],
)
def test_labels_of_any_kind_come_back_from_classes(iris, labels):
    X, y = iris
    y_labels = np.asarray(labels)[y] if not isinstance(labels, pd.Categorical) else labels[y]
    clf = TorchClassifier(**FAST).fit(X, y_labels)
    pred = clf.predict(X)
    assert set(np.unique(pred)) <= set(np.asarray(labels))
    assert list(clf.classes_) == sorted(np.asarray(labels))
    assert np.mean(pred == np.asarray(y_labels)) > 0.8


def test_bool_labels_binary(iris):
    X, y = iris
    y_bool = y == 0
    clf = TorchClassifier(**FAST).fit(X, y_bool)
    assert clf.predict(X).dtype == bool
    assert clf.decision_function(X).shape == (len(X),)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert clf.score(X, y_bool) > 0.95


def test_multiclass_outputs(iris):
    X, y = iris
    clf = TorchClassifier(**FAST).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-6)
    assert clf.decision_function(X).shape == (len(X), 3)
    np.testing.assert_array_equal(clf.classes_[clf.decision_function(X).argmax(1)], clf.predict(X))
    assert clf.n_outputs_ == 3


def test_classifier_column_vector_y_warns_and_predicts_1d(iris):
    X, y = iris
    with pytest.warns(DataConversionWarning):
        clf = TorchClassifier(**FAST).fit(X, y[:, None])
    assert clf.predict(X).shape == (len(X),)


def test_multilabel_indicator_targets():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    clf = TorchClassifier(**FAST).fit(X, Y)
    assert clf.predict(X).shape == Y.shape
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape and ((proba >= 0) & (proba <= 1)).all()
    assert np.mean(clf.predict(X) == Y) > 0.8


@pytest.mark.parametrize(
    "options",
    [{}, {"early_stopping": True}, {"class_weight": [{0: 1, 1: 2}] * 3},
     {"n_ensemble": 3, "member_rows": "folds"}],
)  # fmt: skip
def test_a_sparse_multilabel_indicator_fits_and_predicts_sparse(options):
    # MLPClassifier takes a scipy.sparse indicator and predicts one; torchsk's fit
    # raised "setting an array element with a sequence", and with per-label class
    # weights or cross-fitted members a TypeError (len of a sparse matrix)
    import scipy.sparse as sp

    X, Y = make_multilabel_classification(n_samples=120, n_classes=3, random_state=0)
    kw = dict(FAST, max_iter=20, **options)
    sparse = TorchClassifier(**kw).fit(X, sp.csr_matrix(Y))
    dense = TorchClassifier(**kw).fit(X, Y)
    predicted = sparse.predict(X)
    assert sp.issparse(predicted) and predicted.shape == Y.shape
    np.testing.assert_array_equal(predicted.toarray(), dense.predict(X))
    np.testing.assert_array_equal(sparse.predict_proba(X), dense.predict_proba(X))
    assert sparse.score(X, sp.csr_matrix(Y)) == dense.score(X, Y)


def test_regressor_predicts_in_float32_where_mlp_regressor_does(diabetes):
    # MLPRegressor keeps float32 input's dtype in its predictions; torchsk gave float64
    import scipy.sparse as sp
    from sklearn.neural_network import MLPRegressor

    # and a float64 fit predicts float64 on float32 X (rounding it had lost the fit's
    # precision: 0.03 on predictions of 1e6), as MLPRegressor's float64 weights do
    X, y = diabetes
    X32 = X.astype(np.float32)
    mixed = pd.DataFrame(X32).astype({0: np.float64})
    rows = [list(r) for r in X32]  # numpy float32 values
    for fitted_on in (X32, X, pl.DataFrame(X32)):  # scikit-learn reads the polars one as float64
        ours = TorchRegressor(**dict(FAST, max_iter=5)).fit(fitted_on, y)
        theirs = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5).fit(fitted_on, y)
        nullable = pd.DataFrame(X32).astype("Float32")  # read as float64, as scikit-learn's
        for Z in (X32, X, pd.DataFrame(X32), mixed, sp.csr_matrix(X32), pl.DataFrame(X32), rows,
                  nullable):  # fmt: skip
            assert ours.predict(Z).dtype == theirs.predict(Z).dtype
        np.testing.assert_allclose(ours.predict(X32), ours.predict(X), rtol=1e-6)


@pytest.mark.parametrize(
    "offset, scale, outliers", [(1.7e9, 30.0, False), (1.7e9, 30.0, True), (0.0, 1e-50, False),
                                (0.0, 1e40, False)],
)  # fmt: skip
def test_float32_x_predicts_in_float64_where_y_would_not_survive_float32(offset, scale, outliers):
    """A float32 X's predictions were cast to float32 whatever y was: timestamps of
    1.7e9 to steps of 128 (R² 0.74 from a model of 0.996), 1e-50 to 0, 1e40 to inf; a
    few outlying zeros among timestamps must not widen the spread it is judged by."""
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = offset + scale * (X @ [1.0, 2.0, -1.0] + 0.1 * rng.normal(size=300))
    y[:3] = 0.0 if outliers else y[:3]  # their spread is still the timestamps'
    est = TorchRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100, random_state=0)
    pred = est.fit(X.astype(np.float32), y).predict(X.astype(np.float32))
    assert pred.dtype == np.float64
    assert outliers or r2_score(y, pred) > 0.98
    usual = est.fit(X.astype(np.float32), X @ [1.0, 2.0, -1.0])  # as MLPRegressor's
    assert usual.predict(X.astype(np.float32)).dtype == np.float32


def test_a_later_call_whose_y_would_not_survive_float32_predicts_in_float64():
    """Only the first fit judged y: a warm start on timestamps after a fit on small
    values, or a stream whose first batch is one row (a constant, which float32 holds),
    predicted the timestamps in float32 (R² 0.984 from a model of 0.99999)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    X32, stamps = X.astype(np.float32), 1.7e9 + 300 * X[:, 0]
    warm = TorchRegressor(warm_start=True, solver="lbfgs", max_iter=50, random_state=0)
    warm.fit(X32, X[:, 0])
    assert warm.predict(X32).dtype == np.float32  # small values: float32, as MLPRegressor
    assert warm.fit(X32, stamps).predict(X32).dtype == np.float64
    stream = TorchRegressor(random_state=0)
    stream.partial_fit(X32[:1], stamps[:1])
    assert stream.partial_fit(X32, stamps).predict(X32).dtype == np.float64


@pytest.mark.parametrize("settings", [dict(loss="poisson"), dict(target_scaling=(0.0, 1.7e9))])
def test_a_scale_only_target_scaling_is_no_spread_to_judge_later_calls_by(settings):
    """A positive link's (or a given (0, s)) target scale is the target's size: taken
    for its spread, a stream of timestamps predicted in float32 (errors of 64 on a
    spread of 123)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)).astype(np.float32)
    stamps = 1.7e9 + 100 * X[:, 0].astype(float)
    est = TorchRegressor(random_state=0, **settings).partial_fit(X[:1], stamps[:1])
    assert est.partial_fit(X[1:], stamps[1:]).predict(X).dtype == np.float64


def test_a_later_call_of_another_output_count_gets_the_models_message():
    X = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    Y = np.c_[X[:, 0], 2 * X[:, 1]].astype(float)
    est = TorchRegressor(max_iter=3).partial_fit(X, Y)
    with pytest.raises(ValueError, match="y has 3 outputs, but the model was fitted with 2"):
        est.partial_fit(X, np.c_[Y, Y[:, 0]])


def test_a_later_batch_of_close_values_is_judged_by_the_fitted_spread():
    # four readings 0.001 apart: their own spread is finer than float32 resolves at 293,
    # the model's (kelvin from 255 to 315) is not; MLPRegressor stays float32 too
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)).astype(np.float32)
    est = TorchRegressor(random_state=0).partial_fit(X, 285 + 10 * X[:, 0].astype(float))
    est.partial_fit(X[:4], 293.150 + 0.001 * np.arange(4))
    assert est.predict(X).dtype == np.float32


@pytest.mark.parametrize("order", [">f8", ">f4"])
def test_a_dataframe_of_big_endian_columns_fits_and_predicts_as_native_ones(diabetes, order):
    """scikit-learn's checks keep a DataFrame's byte order (they convert arrays'):
    torch's "byte order different from the native byte order" had refused it."""
    X, y = diabetes
    native = X.astype(order.replace(">", "<"))
    ours = TorchRegressor(**dict(FAST, max_iter=5)).fit(pd.DataFrame(X.astype(order)), y)
    same = TorchRegressor(**dict(FAST, max_iter=5)).fit(pd.DataFrame(native), y)
    # to rounding: the converted columns are laid out by rows, the frame's by columns
    np.testing.assert_allclose(ours.predict(pd.DataFrame(X.astype(order))),
                               same.predict(pd.DataFrame(native)), rtol=1e-12)  # fmt: skip


def test_reversed_views_fit_and_predict_as_their_copies(diabetes):
    """Views with a negative stride (X[::-1], df.iloc[::-1]), which torch cannot share,
    behave as their contiguous copies: in fit, predict, the search and on Dask."""
    import dask.array as da

    from torchsk import BatchedSearchCV

    X, y = diabetes
    Xr, yr = X[::-1, ::-1], y[::-1]
    copy = TorchRegressor(**dict(FAST, max_iter=5)).fit(Xr.copy(), yr.copy())
    view = TorchRegressor(**dict(FAST, max_iter=5)).fit(Xr, yr)
    np.testing.assert_array_equal(view.predict(Xr), copy.predict(Xr.copy()))
    frame = TorchRegressor(**dict(FAST, max_iter=5)).fit(pd.DataFrame(X).iloc[::-1], yr)
    np.testing.assert_array_equal(
        frame.predict(pd.DataFrame(X).iloc[::-1]), frame.predict(X[::-1].copy())
    )
    lazy = TorchRegressor(**dict(FAST, max_iter=5)).fit(da.from_array(X, chunks=100)[::-1], yr)
    assert np.isfinite(lazy.predict(da.from_array(X, chunks=100)[::-1])).all()
    grid = {"alpha": [1e-3, 1.0]}
    search = BatchedSearchCV(TorchRegressor(**dict(FAST, max_iter=5)), grid, cv=2).fit(Xr, yr)
    assert search.predict(Xr).shape == yr.shape


def test_classifier_partial_fit_takes_sample_weight_third_as_mlp_classifier(iris):
    X, y = iris
    w = np.where(y == 0, 3.0, 1.0)
    by_position = TorchClassifier(**FAST).partial_fit(X, y, w, np.unique(y))
    by_name = TorchClassifier(**FAST).partial_fit(X, y, sample_weight=w, classes=np.unique(y))
    np.testing.assert_array_equal(by_position.predict_proba(X), by_name.predict_proba(X))
    with pytest.raises(ValueError, match="after sample_weight.*classes=..."):
        TorchClassifier(**FAST).partial_fit(X, y, np.unique(y))  # scikit-learn 1.6's order


@pytest.mark.parametrize("shape", ["1d", "column", "multi"])
def test_regressor_predicts_mlp_regressor_s_shapes(diabetes, shape):
    """1-D for one output (also from a y of shape (n, 1)), 2-D for several: as
    MLPRegressor.predict, so MLP code runs with the class swapped."""
    X, y = diabetes
    target = {"1d": y, "column": y[:, None], "multi": np.column_stack([y, -2 * y + 5])}[shape]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = TorchRegressor(**FAST).fit(X, target)
    # a column vector is raveled with scikit-learn's DataConversionWarning, as MLPRegressor's
    converted = [w for w in caught if issubclass(w.category, DataConversionWarning)]
    assert len(converted) == (shape == "column")
    pred = reg.predict(X)
    assert pred.shape == (target.shape if shape == "multi" else y.shape)
    assert reg.n_outputs_ == (2 if shape == "multi" else 1)
    assert reg.score(X, target) > 0.3


def test_dataframes_record_feature_names(diabetes):
    X, y = diabetes
    names = [f"f{i}" for i in range(X.shape[1])]
    for frame in (pd.DataFrame(X, columns=names), pl.DataFrame(X, schema=names)):
        reg = TorchRegressor(**FAST).fit(frame, y)
        assert list(reg.feature_names_in_) == names
        with pytest.warns(UserWarning, match="X does not have valid feature names"):
            np.testing.assert_allclose(reg.predict(frame), reg.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_x_dtypes(dtype, diabetes):
    X, y = diabetes
    Xd = (X * 1000).astype(dtype)
    reg = TorchRegressor(**FAST).fit(Xd, y)
    assert reg.predict(Xd).dtype == (np.float32 if dtype == np.float32 else np.float64)
    assert reg.score(Xd, y) > 0.3


def test_lists_are_accepted():
    X = [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]
    clf = TorchClassifier(**FAST).fit(X, ["a", "b", "a", "b"])
    assert clf.predict(X).shape == (4,)


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd", "lbfgs", "rprop"])
def test_same_random_state_gives_identical_predictions(diabetes, solver):
    X, y = diabetes
    params = dict(solver=solver, dropout=0.1, hidden_layer_sizes=(16,), max_iter=30)
    a = TorchRegressor(**params, random_state=3).fit(X, y).predict(X)
    b = TorchRegressor(**params, random_state=3).fit(X, y).predict(X)
    c = TorchRegressor(**params, random_state=4).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd", "lbfgs", "rprop"])
def test_every_solver_learns(diabetes, solver):
    X, y = diabetes
    lr = {"sgd": 1e-2, "rprop": 1e-3}.get(solver, 1e-2)
    reg = TorchRegressor(solver=solver, learning_rate_init=lr, max_iter=100, random_state=0)
    assert reg.fit(X, y).score(X, y) > 0.4
    assert len(reg.loss_curve_) == reg.n_iter_
    assert reg.best_loss_ == min(reg.loss_curve_)


def test_sample_weight_zero_equals_dropping_rows(diabetes):
    X, y = diabetes
    w = np.ones(len(y))
    w[:100] = 0
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    weighted = TorchRegressor(**params).fit(X, y, sample_weight=w).predict(X)
    dropped = TorchRegressor(**params).fit(X[100:], y[100:]).predict(X)
    np.testing.assert_allclose(weighted, dropped, rtol=1e-6)


def test_balanced_class_weights_count_rows_by_their_weight(iris):
    """As ``LogisticRegression(class_weight="balanced")``: zero weights equal dropping
    the rows (the classes had been counted unweighted)."""
    X, y = iris
    w = np.where((y == 1) & (np.arange(len(y)) % 3 > 0), 0.0, 1.0)
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    est = TorchClassifier(class_weight="balanced", **params)
    weighted = est.fit(X, y, sample_weight=w).predict_proba(X)
    dropped = est.fit(X[w > 0], y[w > 0]).predict_proba(X)
    np.testing.assert_allclose(weighted, dropped, rtol=1e-6, atol=1e-9)


def test_a_class_weight_dict_applies_to_chunks_and_y_val_lacking_its_classes(iris):
    """``{0: 2, 2: 5}`` weighs class 2 in a full fit; a partial_fit chunk or a y_val
    without class 2 raised compute_sample_weight's "classes [1] are not in class_weight"
    (``SGDClassifier.partial_fit`` takes the same dict and chunk)."""
    X, y = iris
    weights = {0: 2.0, 2: 5.0}
    est = TorchClassifier(**FAST, class_weight=weights)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    est.set_params(early_stopping=True).fit(X, y, X_val=X[y < 2], y_val=y[y < 2])
    # the loss's weights alike; the input scaling is off, as sample_weight (not
    # class_weight) weighs its statistics
    plain = dict(FAST, input_scaling=None)
    explicit = TorchClassifier(**plain).fit(X, y, sample_weight=np.array([2.0, 1.0, 5.0])[y])
    np.testing.assert_allclose(
        TorchClassifier(**plain, class_weight=weights).fit(X, y).predict_proba(X),
        explicit.predict_proba(X), rtol=1e-6,
    )  # fmt: skip


@pytest.mark.parametrize("codes", [(-1, 1), (1, 2)])
def test_a_multilabel_y_of_other_values_than_0_and_1_is_refused(codes):
    """scikit-learn calls any 2-D matrix of two integers an indicator: as the
    cross-entropy's targets, -1 or 2 had sent the logits to 1e297, silently."""
    X, Y = make_multilabel_classification(n_samples=40, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match="0/1 indicator matrix"):
        TorchClassifier(**FAST).fit(X, np.where(Y == 1, codes[1], codes[0]))
    with pytest.raises(ValueError, match="0/1 indicator matrix"):  # y_val too
        est = TorchClassifier(**FAST, early_stopping=True)
        est.fit(X, Y, X_val=X, y_val=np.where(Y == 1, codes[1], codes[0]))


@pytest.mark.short_fits
def test_a_label_constant_in_training_is_predicted_as_that_constant():
    """Zero output weights and the logit of its smoothed frequency from the start, as
    the regressor holds a constant target column: a short fit from a random output
    layer had predicted a never-positive label on 13-32 of 200 rows."""
    X, Y = make_multilabel_classification(n_samples=200, n_classes=3, random_state=0)
    Y[:, 0], Y[:, 2] = 0, 1
    for seed in range(3):
        clf = TorchClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=seed)
        proba = clf.fit(X[:150], Y[:150]).predict_proba(X)  # 50 rows held out too
        assert (proba[:, 0] < 0.01).all() and (proba[:, 2] > 0.99).all()
        assert 0.01 < proba[:, 1].mean() < 0.99  # the other label still learns


def test_a_constant_target_column_through_softplus_stays_exactly_constant():
    # its held bias was an ulp off softplus's inverse: Adam turned the ~1e-16 gradient
    # into rate-sized steps (predicted 4.197-4.201, output weights 2.8e-4). Not yet
    # with loss="poisson", whose torch form adds 1e-8 inside its log (its minimum lies
    # 1e-8 below the target)
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    Y = np.c_[np.abs(X[:, 0] * 3 + 10), np.full(60, 4.2)]
    est = TorchRegressor((5,), "tanh", head="softplus", max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)
    assert (est.predict(rng.randn(200, 3) * 3)[:, 1] == 4.2).all()


def test_class_weight_shifts_predictions(iris):
    X, y = iris
    base = TorchClassifier(**FAST).fit(X, y).predict_proba(X)[:, 2].mean()
    heavy = TorchClassifier(**FAST, class_weight={0: 1, 1: 1, 2: 20}).fit(X, y)
    assert heavy.predict_proba(X)[:, 2].mean() > base


def test_multilabel_class_weight_is_a_list_of_dicts_as_its_error_asks():
    """One dict per label, as ``compute_sample_weight`` takes them (the dict's error
    asked for a list, which the parameter's validation refused)."""
    from sklearn.utils.class_weight import compute_sample_weight

    X, Y = make_multilabel_classification(n_samples=60, n_classes=2, random_state=0)
    weights = [{0: 1.0, 1: 3.0}, {0: 1.0, 1: 2.0}]
    with pytest.raises(ValueError, match="list of dicts"):
        TorchClassifier(**FAST, class_weight=weights[0]).fit(X, Y)
    plain = dict(FAST, input_scaling=None)  # sample_weight alone weighs the scaling
    weighted = TorchClassifier(**plain, class_weight=weights).fit(X, Y)
    explicit = TorchClassifier(**plain).fit(X, Y, sample_weight=compute_sample_weight(weights, Y))
    np.testing.assert_allclose(weighted.predict_proba(X), explicit.predict_proba(X), rtol=1e-6)
    # a partial dict ("weigh the positives") applies to a chunk or a y_val where the
    # label has no positive (compute_sample_weight had raised "classes [0] are not in")
    positives = [{1: 3.0}, {1: 2.0}]
    none_of_0 = Y[:, 0] == 0
    est = TorchClassifier(**plain, class_weight=positives).partial_fit(X, Y, classes=[0, 1])
    est.partial_fit(X[none_of_0], Y[none_of_0])
    est.set_params(early_stopping=True).fit(X, Y, X_val=X[none_of_0], y_val=Y[none_of_0])
    again = TorchClassifier(**plain, class_weight=positives).fit(X, Y)
    np.testing.assert_allclose(again.predict_proba(X), weighted.predict_proba(X), rtol=1e-6)
    # "balanced" in the list balances its label over the rows, as compute_sample_weight
    mixed = [{0: 1.0, 1: 3.0}, "balanced"]
    balanced = TorchClassifier(**plain, class_weight=mixed).fit(X, Y)
    explicit = TorchClassifier(**plain).fit(X, Y, sample_weight=compute_sample_weight(mixed, Y))
    np.testing.assert_allclose(balanced.predict_proba(X), explicit.predict_proba(X), rtol=1e-6)


def test_early_stopping_keeps_best_validation_epoch(diabetes):
    X, y = diabetes
    reg = TorchRegressor(early_stopping=True, max_iter=300, random_state=0).fit(X, y)
    assert len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert reg.n_iter_ < 300
    no_es = TorchRegressor(max_iter=5, random_state=0).fit(X, y)
    assert no_es.validation_scores_ is None


def test_warm_start_continues_training(diabetes):
    X, y = diabetes
    reg = TorchRegressor(warm_start=True, max_iter=10, random_state=0)
    reg.fit(X, y)
    first = reg.loss_curve_[-1]
    reg.fit(X, y)
    assert reg.n_iter_ == 10 and len(reg.loss_curve_) == 20  # n_iter_: this fit's
    assert reg.loss_curve_[-1] < first


def test_partial_fit_streams_chunks(iris):
    X, y = iris
    clf = TorchClassifier(hidden_layer_sizes=(16,), learning_rate_init=1e-2, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    order = np.random.default_rng(0).permutation(len(y))
    for _ in range(20):
        for chunk in np.array_split(order, 5):
            clf.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("kind", ["numpy", "tensor"])
def test_nan_at_predict_after_a_fit_on_complete_data_gets_the_training_mean(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 0] > 0, "a", "b")
    fit_X = torch.as_tensor(X) if kind == "tensor" else X
    clf = TorchClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(fit_X, y)
    gaps, filled = X[:5].copy(), X[:5].copy()
    gaps[:, 1], filled[:, 1] = np.nan, X[:, 1].mean()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-finite outputs"
        proba = clf.predict_proba(gaps)
    np.testing.assert_allclose(proba, clf.predict_proba(filled))


@pytest.mark.parametrize("kind", ["numpy", "frame", "tensor"])
def test_a_column_missing_throughout_training_is_ignored_and_named(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ [1.0, 2.0, 3.0]
    X[:, 1] = np.nan  # a sensor offline all through training
    fit_X = {"numpy": X, "frame": pd.DataFrame(X, columns=["a", "sensor", "c"]),
             "tensor": torch.as_tensor(X)}[kind]  # fmt: skip
    name = "'sensor'" if kind == "frame" else "column 1"
    reg = TorchRegressor(hidden_layer_sizes=(8,), solver="lbfgs", alpha=1e-4, random_state=0)
    with pytest.warns(UserWarning, match=f"{name} had no values in training"):
        reg.fit(fit_X, y)
    back = X.copy()
    back[:, 1] = rng.normal(scale=100.0, size=len(X))  # back online
    back = pd.DataFrame(back, columns=fit_X.columns) if kind == "frame" else back
    np.testing.assert_array_equal(reg.predict(back), reg.predict(fit_X))


def test_a_categorical_column_missing_throughout_training_is_ignored_and_named():
    """As a numeric one: no level to learn, so the levels it holds later (read as
    missing, as in training) do not move predictions (before: they left the missing
    slot that training fitted)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "plan": pd.Categorical([None] * 300)})
    y = 2 * X["a"].to_numpy()
    reg = TorchRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
    with pytest.warns(UserWarning, match="'plan' had no values in training"):
        reg.fit(X, y)
    back = X.assign(plan=rng.choice(["basic", "pro"], size=300))  # levels at last
    np.testing.assert_array_equal(reg.predict(back), reg.predict(X))


def test_a_categorical_column_present_only_in_zero_weight_rows_is_named_as_empty():
    """Its levels get no slot (weighted counts of 0): as empty as a column of missing
    values, and named so, as a numeric one present only there is."""
    rng = np.random.default_rng(0)
    plan = np.array([None] * 100, dtype=object)
    plan[:10] = "pro"
    X = pd.DataFrame({"a": rng.normal(size=100), "plan": plan})
    w = np.r_[np.zeros(10), np.ones(90)]
    reg = TorchRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20, random_state=0)
    with pytest.warns(UserWarning, match="'plan' had no values in training"):
        reg.fit(X, X["a"].to_numpy(), sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a column of levels is not empty
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, X["a"].to_numpy())


def test_an_object_column_of_only_none_is_read_as_numbers_and_the_warning_says_so():
    """Read as numbers, it is ignored: its strings at predict time are read as missing
    (an object column all None in one CV fold's training rows had failed that fold's
    predict); one that held values, in rows of zero weight only, refuses them, as the
    warning says; in categorical_features, its strings are missing too."""
    X = pd.DataFrame({"x": np.arange(20.0), "comment": pd.Series([None] * 20, dtype=object)})
    y = np.arange(20.0)
    later = pd.DataFrame({"x": [0.0, 1.0], "comment": ["late delivery", None]})
    with pytest.warns(UserWarning, match="refuses strings then: list it in categorical_feat"):
        reg = TorchRegressor(**FAST).fit(X, y)
    np.testing.assert_array_equal(reg.predict(later), reg.predict(X.iloc[:2]))
    weighed = X.assign(comment=pd.Series([1.0] + [None] * 19, dtype=object))
    reg = TorchRegressor(**FAST).fit(weighed, y, sample_weight=np.r_[0.0, np.ones(19)])
    with pytest.raises(ValueError, match="Column 'comment'"):
        reg.predict(later)
    with pytest.warns(UserWarning, match="'comment' had no values") as caught:
        reg = TorchRegressor(**FAST, categorical_features=["comment"]).fit(X, y)
    assert not any("refuses strings" in str(w.message) for w in caught)
    np.testing.assert_array_equal(reg.predict(later), reg.predict(X.iloc[:2]))


def test_a_partial_fit_chunk_with_nan_trains_after_complete_chunks(diabetes):
    X, y = diabetes
    reg = TorchRegressor(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y)
    before = reg.predict(X)
    gaps = X.copy()
    gaps[::3, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "training diverged"
        reg.partial_fit(gaps, y)
    assert np.isfinite(reg.loss_curve_).all() and len(reg.loss_curve_) == 2
    assert np.isfinite(reg.predict(gaps)).all() and not np.allclose(reg.predict(X), before)


def test_a_warm_fit_on_other_classes_is_refused_as_mlp_classifier_refuses_it(iris):
    """classes_ stayed those of the first fit, without a word; partial_fit may show
    some of the classes, as there."""
    from sklearn.neural_network import MLPClassifier

    X, y = iris
    for cls in (MLPClassifier, TorchClassifier):
        est = cls(hidden_layer_sizes=(4,), max_iter=3, warm_start=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
            before = est.predict_proba(X)
            for subset in (y < 2, y == 0):
                with pytest.raises(ValueError, match="warm_start can only be used where"):
                    est.fit(X[subset], y[subset])
            np.testing.assert_array_equal(est.predict_proba(X), before)
            if cls is TorchClassifier:
                est.partial_fit(X[y < 2], y[y < 2])


def test_lbfgs_partial_fit_runs_lbfgs_from_the_current_weights_as_mlp_regressor(diabetes):
    """MLPRegressor(solver="lbfgs").partial_fit runs L-BFGS for up to max_iter iterations
    from the current weights: a first call is ``fit``, a later one a warm start.
    MLPClassifier has no partial_fit with lbfgs, nor has TorchClassifier (it had)."""
    from sklearn.neural_network import MLPClassifier

    X, y = diabetes
    for cls in (MLPClassifier, TorchClassifier):
        assert not hasattr(cls(solver="lbfgs"), "partial_fit")
        assert hasattr(cls(solver="sgd"), "partial_fit")
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30, random_state=0)
    fitted = TorchRegressor(**kw).fit(X, y)
    streamed = TorchRegressor(**kw).partial_fit(X, y)
    np.testing.assert_array_equal(streamed.predict(X), fitted.predict(X))
    assert streamed.n_iter_ == fitted.n_iter_ > 1
    warm = TorchRegressor(**kw, warm_start=True).fit(X, y).fit(X, y)
    streamed.partial_fit(X, y)
    np.testing.assert_array_equal(streamed.predict(X), warm.predict(X))


@pytest.mark.parametrize("cls", [TorchRegressor, TorchClassifier])
def test_rprop_partial_fit_is_one_full_batch_step_per_call(diabetes, cls):
    X, y = diabetes
    y = y if cls is TorchRegressor else y > 140
    extra = {} if cls is TorchRegressor else {"classes": [False, True]}
    est = cls(hidden_layer_sizes=(8,), solver="rprop", random_state=0)
    for _ in range(30):
        est.partial_fit(X, y, **extra)
    assert len(est.loss_curve_) == 30
    assert est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]
    # the step sizes carry over: 30 calls are 30 epochs of one fit
    fit = cls(hidden_layer_sizes=(8,), solver="rprop", max_iter=30, tol=0, random_state=0)
    np.testing.assert_allclose(est.loss_curve_, fit.fit(X, y).loss_curve_, rtol=1e-9)


def test_verbose_prints_loss_per_epoch(diabetes, capsys):
    X, y = diabetes
    TorchRegressor(verbose=True, max_iter=3, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("Iteration") == 3 and "loss = " in out


@pytest.mark.parametrize(
    "settings",
    [
        dict(early_stopping=True, n_iter_no_change=2, tol=1e6),
        dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=1, tol=1e6),
        dict(tol=1e6, n_iter_no_change=2),
    ],
)
def test_verbose_prints_scikit_learn_s_lines(diabetes, capsys, settings):
    """The same kinds of line, in the same order, as MLPRegressor's: the validation
    score after each epoch, and why the fit stopped or lowered its rate (only the
    loss lines were printed)."""
    import re

    from sklearn.neural_network import MLPRegressor

    X, y = diabetes
    shapes = []
    for cls in (MLPRegressor, TorchRegressor):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(verbose=True, max_iter=8, random_state=0, **settings).fit(X, y)
        lines = capsys.readouterr().out.splitlines()
        shapes.append([re.sub(r"-?\d+(\.\d+)?", "#", line) for line in lines])
    assert shapes[0] == shapes[1]
    assert any("did not improve" in line for line in shapes[1])


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity", "gelu", "silu"])
def test_activations(iris, activation):
    X, y = iris
    clf = TorchClassifier(activation=activation, **FAST).fit(X, y)
    assert clf.score(X, y) > 0.8


def test_device_auto_resolves_and_unknown_device_is_refused(iris):
    X, y = iris
    clf = TorchClassifier(device="auto", **FAST).fit(X, y)
    assert clf.module_.inputs.scaling.center.device.type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        TorchClassifier(device="nonsense").fit(X, y)


@pytest.mark.short_fits
@pytest.mark.parametrize(
    ("hidden", "dtype"), [((8,), torch.float64), ((8192,), torch.float32)]
)  # the plan computes a small fit in float64, a large one in float32
def test_a_few_rows_predict_as_they_do_among_many(hidden, dtype):
    """predict sends a few rows straight through module_ and many in batches into
    reused buffers: the same numbers either way."""
    import torchsk.estimators.base as base

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)) * [1, 10, 100, 1, 1, 1e4]
    X[::7, 1] = np.nan
    y = (X[:, 0] > 0).astype(int) + (np.nan_to_num(X[:, 1]) > 5)
    clf = TorchClassifier(hidden_layer_sizes=hidden, max_iter=3, random_state=0).fit(X, y)
    assert len(X) > base.SMALL_PREDICT_ROWS >= 10
    assert clf._plan.dtype == dtype
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    np.testing.assert_allclose(clf.predict_proba(X[:10]), clf.predict_proba(X)[:10], atol=tol)
    assert (clf.predict(X[:10]) == clf.predict(X)[:10]).all()


@pytest.mark.short_fits
def test_predict_is_deterministic_after_a_submodule_is_put_in_train_mode():
    """predict puts every submodule in eval mode, not only module_ itself: a backbone
    left in train mode (a user's own fine-tuning loop) does not apply dropout."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X.sum(axis=1)
    reg = TorchRegressor(hidden_layer_sizes=(32,), dropout=0.5, max_iter=2, random_state=0)
    reg.fit(X, y)
    before = reg.predict(X[:5])
    reg.module_.backbone.train()
    np.testing.assert_array_equal(reg.predict(X[:5]), before)
    np.testing.assert_allclose(reg.predict(X)[:5], before, rtol=1e-12)
