"""``numeric_bins``: numeric columns also entered as piecewise-linear codes over quantile bins."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from torchsk import TorchClassifier, TorchRegressor, export_onnx
from torchsk.inputs.bins import PiecewiseLinear

pytestmark = pytest.mark.short_fits

FAST = dict(hidden_layer_sizes=(16,), learning_rate_init=1e-2, max_iter=30, random_state=0)


def _codes(x: float, edges: np.ndarray) -> np.ndarray:
    """The encoding written out bin by bin, as the paper defines it, the open-ended
    outer bins at least the mean bin width wide (ending where the paper's do)."""
    out, T = [], len(edges) - 1
    mean = (edges[-1] - edges[0]) / T
    for t in range(T):
        left, width = edges[t], edges[t + 1] - edges[t]
        if t == 0 and width < mean:
            left, width = edges[1] - mean, mean
        if t == T - 1:
            width = max(width, mean)
        r = (x - left) / width
        lo = -np.inf if t == 0 else 0.0
        hi = np.inf if t == T - 1 else 1.0
        out.append(min(max(r, lo), hi))
    return np.array(out)


def test_codes_follow_the_definition_inside_and_outside_the_training_range():
    rng = np.random.default_rng(0)
    X = np.c_[rng.exponential(size=500), rng.normal(size=500)]
    encoder = PiecewiseLinear.fit(X, columns=[0, 1], max_bins=6)
    assert encoder.config["n_bins"] == [6, 6]
    assert encoder.n_outputs == 2 + 12
    edges = [np.quantile(X[:, j], np.linspace(0, 1, 7), method="inverted_cdf") for j in (0, 1)]
    probe = np.array([[-1.0, -9.0], [0.3, 0.1], [50.0, 9.0]])
    out = encoder(torch.tensor(probe)).numpy()
    np.testing.assert_array_equal(out[:, :2], probe)  # the values themselves stay
    for i, row in enumerate(probe):
        expected = np.r_[_codes(row[0], edges[0]), _codes(row[1], edges[1])]
        # scaled by 1/sqrt(bins): the bends cost more penalty than the slope
        np.testing.assert_allclose(out[i, 2:], expected / np.sqrt(6), rtol=1e-12)
    # the exponential's first bin (min to its 1/6 quantile) is narrower than the mean
    # bin and is widened; the normal's (its tail) is not
    assert encoder.left[0] < edges[0][0] and encoder.left[6] == edges[1][0]
    # the bins sum back to the value: the encoding loses nothing, extrapolates linearly
    widths = encoder.width[:6].numpy() / np.sqrt(6)
    assert np.sqrt(6) * out[2, 2:8] @ widths + encoder.left[0].item() == pytest.approx(50.0)


def test_a_narrow_outer_bin_does_not_blow_up_values_just_outside_the_range():
    # one rounding-noise value (-2.2e-16) below a column's zeros had made the first
    # bin 2e-16 wide: 0.01 below the range predicted 3e11 for a target within [0, 3]
    rng = np.random.RandomState(0)
    x = np.where(rng.rand(400) < 0.3, 0.0, rng.exponential(1.0, 400))
    x[0] = -2.2e-16
    y = np.sqrt(np.maximum(x, 0)) + 0.05 * rng.randn(400)
    est = TorchRegressor(numeric_bins="auto", **FAST).fit(x[:, None], y)
    near, inside = est.predict([[-0.01], [-0.1]]), est.predict([[0.0]])
    assert np.abs(near - inside).max() < 0.5


def test_constant_and_binary_columns_get_no_bins_and_ties_merge():
    X = np.c_[np.zeros(100), np.tile([0.0, 1.0], 50), np.repeat(np.arange(4.0), 25)]
    encoder = PiecewiseLinear.fit(X, columns=[0, 1, 2], max_bins=16)
    # three distinct values make at most two bins, however many were asked for
    assert encoder.config["columns"] == [2]
    assert encoder.config["n_bins"] == [3]
    np.testing.assert_array_equal(encoder.left.numpy(), [0.0, 1.0, 2.0])


def test_sample_weights_move_the_edges_and_zero_weights_drop_rows():
    x = np.arange(10.0)[:, None]
    w = np.r_[np.zeros(5), np.ones(5)]
    dropped = PiecewiseLinear.fit(x, [0], max_bins=2, sample_weight=w)
    alone = PiecewiseLinear.fit(x[5:], [0], max_bins=2)
    np.testing.assert_array_equal(dropped.left.numpy(), alone.left.numpy())
    # a weight of 3 counts as three rows
    w3 = np.r_[3.0, np.ones(9)]
    repeated = PiecewiseLinear.fit(np.r_[x[:1], x[:1], x], [0], max_bins=4)
    weighted = PiecewiseLinear.fit(x, [0], max_bins=4, sample_weight=w3)
    np.testing.assert_array_equal(weighted.left.numpy(), repeated.left.numpy())


def test_bins_let_the_network_fit_a_step_a_plain_one_smooths():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(1500, 2))
    y = np.where(X[:, 0] > 0.3, 3.0, 0.0) + np.where(X[:, 1] > -0.5, 1.0, 0.0)
    params = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0)
    plain = TorchRegressor(numeric_bins=None, **params).fit(X[:1000], y[:1000])
    binned = TorchRegressor(numeric_bins=16, **params).fit(X[:1000], y[:1000])
    plain_mse = np.mean((plain.predict(X[1000:]) - y[1000:]) ** 2)
    binned_mse = np.mean((binned.predict(X[1000:]) - y[1000:]) ** 2)
    assert binned_mse < 0.5 * plain_mse


def _table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "size": rng.lognormal(size=n),
            "age": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 80, n)),
            "kind": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "flag": rng.integers(0, 2, n).astype(float),
        }
    )
    y = np.log1p(X["size"]) + (X["kind"] == "b") + 0.01 * X["age"].fillna(40)
    return X, y.to_numpy()


def test_bins_are_fitted_on_the_numeric_columns_of_a_raw_table_before_the_categories():
    X, y = _table()
    reg = TorchRegressor(numeric_bins=8, **FAST).fit(X, y)
    stage = reg.module_.inputs
    assert [name for name, _ in stage.named_children()] == [
        "impute", "scaling", "bins", "categorical"
    ]  # fmt: skip
    # size and age are binned; the binary flag, the category codes and the missing
    # indicator (appended at position 4) are not
    assert stage.bins.config["columns"] == [0, 1]
    assert stage.bins.config["n_bins"] == [8, 8]
    # the edges are the quantiles of the imputed values, moved onto the scaled ones
    age = X["age"].fillna(X["age"].mean()).to_numpy()
    edges = np.quantile(age, np.linspace(0, 1, 9), method="inverted_cdf")[:-1]
    center, scale = stage.scaling.center[1].item(), stage.scaling.scale[1].item()
    np.testing.assert_allclose(stage.bins.left[8:].numpy(), (edges - center) / scale, atol=1e-12)
    # the codes pass the categorical encoder with the numeric columns; static steps
    # only, so a fit encodes X once (no embedding here)
    assert stage.n_static == 4
    # the module works on the raw codes on its own, NaN included
    raw = torch.as_tensor(reg._table.transform(X))
    with torch.no_grad():
        out = reg.module_(raw).numpy().ravel()
    np.testing.assert_allclose(out, reg.predict(X), rtol=1e-10)


def test_binned_model_survives_pickle_skops_and_onnx(tmp_path):
    sio = pytest.importorskip("skops.io")
    ort = pytest.importorskip("onnxruntime")
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    reg = TorchRegressor(numeric_bins=8, **FAST).fit(X, y)
    expected = reg.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), expected)
    path = tmp_path / "bins.skops"
    sio.dump(reg, path)
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    np.testing.assert_array_equal(loaded.predict(X), expected)
    session = ort.InferenceSession(export_onnx(reg, tmp_path / "bins.onnx"))
    (out,) = session.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(
        out.ravel(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max()
    )


def test_warm_start_refuses_other_bins_and_classifier_takes_them(diabetes, iris):
    X, y = diabetes
    reg = TorchRegressor(numeric_bins=8, warm_start=True, **FAST).fit(X, y)
    reg.set_params(numeric_bins=4)
    with pytest.raises(ValueError, match="numeric_bins"):
        reg.fit(X, y)
    X, y = iris
    clf = TorchClassifier(numeric_bins=4, **FAST).fit(X, y)
    assert clf.module_.inputs.bins.config["n_bins"] == [4, 4, 4, 4]
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("bad", [1, 0, 2.5, "many"])
def test_bad_numeric_bins_are_refused(bad, diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match="numeric_bins"):
        TorchRegressor(numeric_bins=bad, **FAST).fit(X, y)


def test_auto_bins_small_data_in_memory_only(monkeypatch):
    """ "auto" bins while the codes stay within the budget, then feeds numbers alone."""
    import torchsk.inputs.bins

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 5)), rng.normal(size=100)
    bins = torchsk.inputs.bins.AUTO_BINS
    monkeypatch.setattr(torchsk.inputs.bins, "AUTO_BUDGET", 100 * 5 * bins)
    stage = TorchRegressor(numeric_bins="auto", **FAST).fit(X, y).module_.inputs
    assert stage.bins.config["n_bins"] == [bins] * 5
    monkeypatch.setattr(torchsk.inputs.bins, "AUTO_BUDGET", 100 * 5 * bins - 1)
    stage = TorchRegressor(numeric_bins="auto", **FAST).fit(X, y).module_.inputs
    assert "bins" not in dict(stage.named_children())
    # the defaults feed the numbers alone, as scikit-learn's MLP takes them
    for est in (TorchRegressor(**FAST).fit(X, y), TorchClassifier(**FAST).fit(X, y > 0)):
        assert "bins" not in dict(est.module_.inputs.named_children())


def test_huge_numeric_bins_cost_no_more_than_the_rows_allow():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 2)), rng.normal(size=50)
    reg = TorchRegressor(numeric_bins=10**12, **FAST).fit(X, y)
    # 50 distinct values make 49 bins, however many were asked for
    assert reg.module_.inputs.bins.config["n_bins"] == [49, 49]


def test_a_model_pickled_before_numeric_bins_existed_loads_and_refits():
    from sklearn.base import clone

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 2)), rng.normal(size=60)
    reg = TorchRegressor(numeric_bins=None, warm_start=True, **FAST).fit(X, y)
    state = reg.__getstate__()
    del state["numeric_bins"], state["_build_params"]["numeric_bins"]  # as saved then
    old = TorchRegressor.__new__(TorchRegressor)
    old.__setstate__(state)
    assert old.get_params()["numeric_bins"] is None
    np.testing.assert_array_equal(old.predict(X), reg.predict(X))
    old.fit(X, y)  # a warm start continues the same network
    assert clone(old).numeric_bins is None


def test_the_defaults_build_one_kind_of_network_on_every_fold_and_the_refit(monkeypatch):
    """No default depends on the data's size: with the budget of "auto" bins between
    a fold's rows and all the rows, GridSearchCV's fold models and its refit still
    share one input stage (a default of "auto" would bin the folds only)."""
    from sklearn.model_selection import GridSearchCV, cross_validate

    import torchsk.inputs.bins as bins_module

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)), rng.normal(size=200)
    monkeypatch.setattr(bins_module, "AUTO_BUDGET", 150 * 5 * bins_module.AUTO_BINS)
    settings = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    folds = cross_validate(TorchRegressor(**settings), X, y, cv=2, return_estimator=True)
    search = GridSearchCV(TorchRegressor(**settings), {"alpha": [0.1, 1.0]}, cv=2).fit(X, y)
    models = [*folds["estimator"], search.best_estimator_]
    assert len({tuple(dict(m.module_.inputs.named_children())) for m in models}) == 1
    assert {m.module_.inputs.n_outputs for m in models} == {5}
