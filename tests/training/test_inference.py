"""The numpy forward of few-row predictions: torch's numbers, and only where it applies."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from torchsk import TorchClassifier, TorchRegressor
from torchsk.nn.mlp import MLP
from torchsk.training.inference import numpy_forward

pytestmark = pytest.mark.short_fits

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 5)) * [1, 10, 100, 1, 1e4] + [0, 0, 5e3, 0, 0]
Y = X[:, 0] + np.tanh(X[:, 1] / 10) + 7.0
WITH_GAPS = X.copy()
WITH_GAPS[::5, 1] = np.nan  # a missing indicator
WITH_GAPS[:, 3] = np.nan  # never present: filled whatever it holds


def _fit(cls, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        params = {"hidden_layer_sizes": (6, 5), "max_iter": 3, "random_state": 0, **params}
        return cls(**params).fit(X, y)


def _torch(net, rows):
    with torch.inference_mode():
        return net(torch.from_numpy(rows)).numpy()


CASES = {
    "regression": (TorchRegressor, X, Y, {}),
    "two outputs, tanh": (TorchRegressor, X, np.c_[Y, -Y], {"activation": "tanh"}),
    "logistic minmax": (TorchRegressor, X, Y, dict(activation="logistic", input_scaling="minmax")),
    "identity, unscaled": (TorchRegressor, X, Y, dict(activation="identity", input_scaling=None)),
    "imputed columns": (TorchRegressor, WITH_GAPS, Y, {}),
    "multiclass": (TorchClassifier, X, np.digitize(Y, [6.5, 7.5]), {}),
    "float32": (TorchRegressor, X, Y, {"hidden_layer_sizes": (16384,)}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_forward_gives_torch_s_numbers(case):
    cls, Xf, y, params = CASES[case]
    est = _fit(cls, Xf, y, **params)
    rows = X[1:9]  # complete rows, also where training had gaps
    out = numpy_forward(est.module_, rows)
    expected = _torch(est.module_, rows)
    assert out.shape == expected.shape
    float32 = est._plan.dtype == torch.float32
    assert float32 == (case == "float32")
    np.testing.assert_allclose(out, expected, rtol=1e-6 if float32 else 1e-12)


class _Shifted(MLP):
    def forward(self, x):
        return super().forward(x) + 1.0


@pytest.mark.parametrize(
    "params",
    [{"n_ensemble": 2}, {"numeric_bins": 4}, {"loss": "poisson"},
     {"module": lambda i, o: nn.Linear(i, o)},
     {"module": _Shifted, "module__hidden_layer_sizes": (4,)}],
)  # fmt: skip
def test_numpy_forward_declines_other_networks(params):
    est = _fit(TorchRegressor, X, np.abs(Y), **params)
    assert numpy_forward(est.module_, X[:5]) is None
    # predict takes the torch path for them: the module's own numbers
    np.testing.assert_allclose(est.predict(X[:5]), _torch(est.module_, X[:5]).ravel())


def test_few_rows_predict_the_numbers_of_many():
    reg = _fit(TorchRegressor, WITH_GAPS, Y)
    clf = _fit(TorchClassifier, X, Y > 7)
    np.testing.assert_allclose(reg.predict(X[:10]), reg.predict(X)[:10], rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X[:10]), clf.predict_proba(X)[:10], rtol=1e-12)
    assert (clf.predict(X[:10]) == clf.predict(X)[:10]).all()


def test_few_rows_of_bad_input_get_scikit_learn_s_checks():
    reg = _fit(TorchRegressor, X, Y)
    with pytest.raises(ValueError, match="X has 4 features, but TorchRegressor is expecting 5"):
        reg.predict(X[:3, :4])
    bad = X[:3].copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        reg.predict(bad)
    with pytest.raises(ValueError, match="Expected 2D array"):
        reg.predict(X[0])
    gaps = X[:3].copy()
    gaps[0, 0] = np.nan  # imputed by the module, as in fit
    assert np.isfinite(reg.predict(gaps)).all()
    named = _fit(TorchRegressor, pd.DataFrame(X, columns=list("abcde")), Y)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        named.predict(X[:3])


def test_predict_follows_a_module_converted_in_place_and_training_refuses_it():
    """``est.module_.float()`` of a float64 fit: predictions on many rows (the batched
    path) and after pickling follow the float32 module; continuing training names the
    conversion instead of failing on dtypes inside the pass."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ [1.0, 2.0, 3.0]
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        before = est.fit(X, y).predict(X)
    est.module_.float()
    np.testing.assert_allclose(est.predict(X), before, atol=1e-4)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(est)).predict(X), before, atol=1e-4)
    with pytest.raises(ValueError, match="module_ was converted to torch.float32"):
        est.partial_fit(X, y)


def test_a_float32_classifier_s_few_rows_give_float64_scores_as_many_rows_do():
    """The numpy path's logits were the network's float32: decision_function and
    predict_log_proba changed dtype at 257 rows, and the log-probabilities missed
    log(predict_proba) by 2e-6."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    clf = TorchClassifier(hidden_layer_sizes=(400, 400), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0))
    assert clf._plan.dtype == torch.float32
    for n in (10, 300):
        assert clf.decision_function(X[:n]).dtype == np.float64
        log_proba = clf.predict_log_proba(X[:n])
        np.testing.assert_allclose(log_proba, np.log(clf.predict_proba(X[:n])), atol=1e-9)


def test_to_module_input_is_the_caller_s_own_tensor():
    """It had returned a view of X: writing into it changed the user's array, also a
    read-only one (a read-only memmap crashed the process)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    est = _fit(TorchRegressor, X, X.sum(axis=1))
    X.flags.writeable = False
    before = X.copy()
    codes = est.to_module_input(X)
    codes += 1.0
    np.testing.assert_array_equal(X, before)
