"""Sparse X (scipy.sparse matrices and arrays): the same model as its dense form, never
a dense copy of it."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import torchsk.training.sparse as training_sparse
from torchsk import TorchClassifier, TorchRegressor
from torchsk.data.sparse import SparseBlocks
from torchsk.inputs.statistics import Blocks, Layout, column_statistics

pytestmark = pytest.mark.short_fits
SMALL = dict(hidden_layer_sizes=(16,), max_iter=15, random_state=0, numeric_bins=None)


def _data(n=300, d=50, density=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, random_state=seed, format="csr")
    X.data = rng.normal(size=X.nnz)
    y = X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    return X, y, (y > np.median(y)).astype(int)


def _outputs(est, X):
    return est.predict_proba(X) if isinstance(est, TorchClassifier) else est.predict(X)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("Est", [TorchRegressor, TorchClassifier])
def test_sparse_formats_fit_and_predict_as_the_dense_array(Est, solver):
    X, y, labels = _data()
    target = y if Est is TorchRegressor else labels
    dense = Est(solver=solver, **SMALL).fit(X.toarray(), target)
    expected = _outputs(dense, X.toarray())
    for fmt in (sp.csr_matrix, sp.csr_array, sp.csc_matrix):
        est = Est(solver=solver, **SMALL).fit(fmt(X), target)
        np.testing.assert_allclose(_outputs(est, fmt(X)), expected, rtol=0, atol=1e-10)
        assert est.score(fmt(X), target) == pytest.approx(dense.score(X.toarray(), target))
    # a few rows go through the module at once, not in batches
    np.testing.assert_allclose(_outputs(est, X[:10]), expected[:10], rtol=0, atol=1e-10)


def _with_nan(X):
    X = X.copy()
    X.data[::7] = np.nan  # stored NaN: missing values, imputed as in dense X
    return X


CASES = {
    "sample_weight": (dict(), lambda X, y: dict(sample_weight=np.linspace(0, 2, len(y)))),
    "early stopping split": (dict(early_stopping=True), lambda X, y: {}),
    "X_val": (
        dict(early_stopping=True),
        lambda X, y: dict(X_val=X[:60], y_val=y[:60], sample_weight_val=np.ones(60)),
    ),
    "minmax": (dict(input_scaling="minmax"), lambda X, y: {}),
    "given constants": (dict(input_scaling=(0.1, 2.0)), lambda X, y: {}),
    "lbfgs with weights": (
        dict(solver="lbfgs"),
        lambda X, y: dict(sample_weight=np.r_[np.zeros(10), np.ones(len(y) - 10)]),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_sparse_fit_options_train_the_dense_model(case):
    params, fit_args = CASES[case]
    X, y, labels = _data()
    X = _with_nan(X)  # the stored NaN are imputed in every case
    dense = TorchClassifier(**SMALL, **params).fit(
        X.toarray(), labels, **fit_args(X.toarray(), labels)
    )
    est = TorchClassifier(**SMALL, **params).fit(X, labels, **fit_args(X, labels))
    np.testing.assert_allclose(est.predict_proba(X), dense.predict_proba(X.toarray()), atol=1e-10)
    assert est.validation_scores_ == pytest.approx(dense.validation_scores_)


def _continued(A, y):
    """Predictions after a warm-started second fit, and after three ``partial_fit``."""
    warm = TorchRegressor(**SMALL, warm_start=True).fit(A, y)
    warm.fit(A, y)
    steps = TorchRegressor(**SMALL)
    for _ in range(3):
        steps.partial_fit(A, y)
    return warm.predict(A), steps.predict(A)


def test_sparse_warm_start_and_partial_fit_continue_as_dense():
    X, y, _ = _data()
    for got, want in zip(_continued(X, y), _continued(X.toarray(), y), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-10)


def test_default_numeric_bins_do_not_bin_sparse_x():
    X, y, _ = _data()
    params = {**SMALL, "numeric_bins": "auto"}
    est = TorchRegressor(**params).fit(X, y)
    assert not hasattr(est.module_.inputs, "bins")
    dense = TorchRegressor(**{**params, "numeric_bins": None}).fit(X.toarray(), y)
    np.testing.assert_allclose(est.predict(X), dense.predict(X.toarray()), atol=1e-10)


@pytest.mark.parametrize("method", ["auto", "standard", "minmax", None])
def test_sparse_statistics_are_the_dense_formulas(method):
    X, _, _ = _data(n=200, d=12, density=0.3)
    X = _with_nan(X)
    unit = np.zeros((200, 2))
    unit[::10, 0], unit[:3, 1] = 0.9, 0.2  # within [-1, 1]: kept; narrow, floored ("auto")
    X = sp.hstack([X, sp.csr_matrix((200, 1)), sp.csr_matrix(unit)], format="lil")  # + all-zero
    X[:, 3] = np.nan  # a column with no value at all
    X = sp.csr_matrix(X)
    w = np.random.default_rng(1).uniform(0, 2, 200)
    w[:20] = 0.0  # rows of zero weight count nowhere
    layout = Layout(np.zeros(X.shape[1], bool))
    got = column_statistics(SparseBlocks(X, w), layout, method)
    want = column_statistics(Blocks(X.toarray(), w), layout, method)
    for name in ("fill", "center", "scale"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-12, atol=1e-14)
    for name in ("indicator_columns", "empty_columns"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def test_lbfgs_over_chunks_of_sparse_rows_is_the_full_batch(monkeypatch):
    X, y, _ = _data()
    dense = TorchRegressor(solver="lbfgs", **SMALL).fit(X.toarray(), y)
    # chunks of 41 rows: the loss and gradient are sums over 8 chunks
    monkeypatch.setattr(training_sparse, "DENSE_CHUNK_BYTES", 41 * 8 * X.shape[1])
    est = TorchRegressor(solver="lbfgs", **SMALL).fit(X, y)
    np.testing.assert_allclose(est.predict(X), dense.predict(X.toarray()), rtol=1e-6, atol=1e-6)
    assert est.loss_curve_ == pytest.approx(dense.loss_curve_, rel=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_and_predict_hold_no_dense_copy_of_sparse_x(monkeypatch):
    # 300 x 60,000 at 0.01%: 144 MB dense (float64), 22 kB sparse
    X = sp.random(300, 60_000, density=1e-4, random_state=0, format="csr")
    y = np.random.default_rng(0).normal(size=300)
    gathered = []
    gather = training_sparse.SparseRows.gather

    def spy(self, rows):
        out = gather(self, rows)
        gathered.append(len(out))
        return out

    monkeypatch.setattr(training_sparse.SparseRows, "gather", spy)
    dense_bytes = X.shape[0] * X.shape[1] * 8
    tracemalloc.start()
    try:
        est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X, y)
        pred = est.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pred.shape == (300,) and np.isfinite(pred).all()
    # a batch (64 rows, 31 MB dense) at a time, or a chunk of whole passes (32 MB)
    assert max(gathered) <= max(64, training_sparse.chunk_rows(X.shape[1])) < len(y)
    assert peak < dense_bytes / 4


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(input_scaling="robust"), "input_scaling='robust' is not supported with sparse X"),
        (dict(numeric_bins=8), "numeric_bins=8 is not supported with sparse X"),
        (dict(categorical_features=[0]), "categorical_features with sparse X"),
    ],
)
def test_sparse_x_refuses_what_needs_dense_columns(params, match):
    X, y, _ = _data()
    with pytest.raises(ValueError, match=match):
        TorchRegressor(**{**SMALL, **params}).fit(X, y)


def test_sparse_x_for_a_model_fitted_on_a_table_is_refused():
    frame = pd.DataFrame({"a": np.arange(40.0), "c": pd.Categorical(["x", "y"] * 20)})
    est = TorchRegressor(**SMALL).fit(frame, np.arange(40.0))
    with pytest.raises(ValueError, match="Sparse X was passed to a model fitted on a table"):
        est.predict(sp.csr_matrix(np.ones((3, 2))))


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X.tocsr() * 0,  # no stored entry: np.bincount's int64 sums had broken
        lambda X: pd.DataFrame.sparse.from_spmatrix(X),  # every column sparse
    ],
    ids=["no entries", "all-sparse DataFrame"],
)
def test_sparse_edge_inputs_fit_as_their_dense_form(make):
    """As ``MLPRegressor``: they had raised ("Cannot cast ufunc 'divide' output",
    "sparse array length is ambiguous")."""
    X, y, _ = _data(n=60, d=5, density=0.3)
    X = make(X)
    dense = X.sparse.to_dense() if isinstance(X, pd.DataFrame) else X.toarray()
    for call in ("fit", "partial_fit"):
        ours = getattr(TorchRegressor(**SMALL), call)(X, y).predict(X)
        reference = getattr(TorchRegressor(**SMALL), call)(dense, y).predict(dense)
        np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("features", [[], [False] * 5])
def test_categorical_features_selecting_no_column_are_accepted_with_sparse_x(features):
    X, y, _ = _data(n=60, d=5, density=0.3)
    ours = TorchRegressor(**SMALL, categorical_features=features).fit(X, y).predict(X)
    np.testing.assert_allclose(ours, TorchRegressor(**SMALL).fit(X, y).predict(X), rtol=1e-12)


def _refuse_to_densify(self, *args, **kwargs):
    raise AssertionError("densified")


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"n_ensemble": 3},
        {"n_ensemble": 2, "hidden_layer_sizes": (4, 3)},
        {"hidden_layer_sizes": ()},
    ],
)
@pytest.mark.parametrize("Est", [TorchRegressor, TorchClassifier])
def test_predict_multiplies_the_stored_entries_without_densifying(Est, shape, monkeypatch):
    """The scaling folded into the first layer, whose product is sparse: predict
    had densified every batch (100x ``MLPRegressor``'s time at 20,000 columns; an
    ensemble's, 50x). An ensemble's members' first layers are one matrix."""
    X, y, labels = _data(n=400, d=500, density=0.01)
    target = labels if Est is TorchClassifier else y
    est = Est(**{**SMALL, **shape}).fit(X, target)
    expected = _outputs(est, X.toarray())
    monkeypatch.setattr(type(X), "toarray", _refuse_to_densify)
    np.testing.assert_allclose(_outputs(est, X), expected, rtol=1e-10, atol=1e-10)


def test_a_float32_network_folded_differs_from_its_dense_form_by_rounding(monkeypatch):
    X, y, labels = _data(n=400, d=500, density=0.01)
    est = TorchClassifier(hidden_layer_sizes=(512,), max_iter=2, random_state=0)
    est.fit(X, labels)
    assert est._plan.dtype == torch.float32
    expected = est.predict_proba(X.toarray())
    monkeypatch.setattr(type(X), "toarray", _refuse_to_densify)
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=0, atol=1e-6)


def test_stored_nan_at_predict_takes_the_fill_value_and_indicators_densify(monkeypatch):
    """NaN stored at predict in a model fitted without missing values is imputed in
    the sparse product (it had densified all of X: 30x slower); a model with missing
    indicators needs the input stage itself."""
    X, y, _ = _data(n=400, d=30, density=0.2)
    with_nan = X.copy()
    with_nan.data[:5] = np.nan  # column(s) with missing values: indicators
    indicators = TorchRegressor(**SMALL).fit(with_nan, y)
    np.testing.assert_allclose(
        indicators.predict(with_nan), indicators.predict(with_nan.toarray()), atol=1e-10
    )
    plain = TorchRegressor(**SMALL).fit(X, y)
    at_predict = X.copy()
    at_predict.data[-3:] = np.nan
    expected = plain.predict(at_predict.toarray())
    monkeypatch.setattr(type(X), "toarray", _refuse_to_densify)
    np.testing.assert_allclose(plain.predict(at_predict), expected, rtol=0, atol=1e-10)
    assert np.isnan(at_predict.data[-3:]).all()  # the user's X untouched


def test_a_greedy_ensemble_predicts_sparse_x_as_its_dense_form():
    """The members' outputs had taken ``len`` of X (scipy: "sparse array length is
    ambiguous"); a search's fit refuses sparse X, its predict takes it."""
    from torchsk import BatchedSearchCV

    X, y, labels = _data(n=400, d=20, density=0.2)
    for est, target, method in (
        (TorchRegressor(max_iter=2, random_state=0), y, "predict"),
        (TorchClassifier(max_iter=2, random_state=0), labels, "predict_proba"),
    ):
        search = BatchedSearchCV(est, {"alpha": [0.01, 0.1]}, cv=3, ensemble="greedy")
        search.fit(X.toarray(), target)
        dense = getattr(search, method)(X.toarray())
        np.testing.assert_allclose(getattr(search, method)(X), dense, rtol=1e-12, atol=1e-12)


def test_a_column_centred_far_from_zero_is_not_folded():
    """A centre of 1e12 spreads (an ID, a timestamp) would cancel in the folded bias
    (1e-4 off where the dense route is exact): such X is densified a batch at a time."""
    X, y, _ = _data(n=400, d=10, density=0.3)
    X = sp.hstack([X, 1e12 + np.random.default_rng(0).normal(size=(400, 1))]).tocsr()
    est = TorchRegressor(**SMALL).fit(X, y)
    np.testing.assert_allclose(est.predict(X), est.predict(X.toarray()), rtol=0, atol=1e-10)


@pytest.mark.parametrize("Est", [TorchRegressor, TorchClassifier])
def test_float32_training_steps_fold_the_scaling_and_train_the_dense_network(Est, monkeypatch):
    """The hand-written torch pass's mini-batches go through the first layer with the
    scaling folded in, over the batch's columns (densified batches had made a fit
    1.6-2x scikit-learn's MLP at 0.1% density); the network is the dense fit's to
    float32 rounding."""
    X, y, labels = _data(n=600, d=500, density=0.01)
    target = labels if Est is TorchClassifier else y
    folded = []
    init = training_sparse.FoldedRows.__init__

    def spy(self, *args):
        folded.append(args[0].shape[0])
        init(self, *args)

    monkeypatch.setattr(training_sparse.FoldedRows, "__init__", spy)
    params = dict(hidden_layer_sizes=(512, 8), max_iter=5, random_state=0)
    est = Est(**params).fit(X, target)
    assert est._plan.dtype == torch.float32 and est._plan.objective == "manual"
    assert len(folded) == 5 * -(-len(target) // 64)  # every step of every epoch
    dense = Est(**params).fit(X.toarray(), target)
    assert est.loss_curve_ == pytest.approx(dense.loss_curve_, rel=1e-5)
    out = "predict_proba" if Est is TorchClassifier else "predict"
    ours, theirs = getattr(est, out)(X), getattr(dense, out)(X.toarray())
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * np.abs(theirs).max())


def test_a_column_of_subnormal_spread_trains_densified():
    """1 / scale in float32 would overflow (the fit had diverged at its first step):
    such X trains as its dense form does."""
    X, y, _ = _data(n=600, d=500, density=0.01)
    X = (X @ sp.diags(np.where(np.arange(500) == 3, 1e-39, 1.0))).tocsr()
    params = dict(hidden_layer_sizes=(512,), max_iter=2, random_state=0)
    est = TorchRegressor(**params).fit(X, y)
    assert est._plan.dtype == torch.float32 and est.n_iter_ == 2
    dense = TorchRegressor(**params).fit(X.toarray(), y)
    assert est.loss_curve_ == pytest.approx(dense.loss_curve_, rel=1e-6)
