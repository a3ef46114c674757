"""The estimators on each device this machine has: the CPU always, CUDA when present.

CI has no GPU and runs the CPU cases; on a GPU machine ``./dev test tests/training/test_device.py``
runs the same assertions on CUDA: the module and its data on the device, every result
back as numpy, the fitted model as good as one fitted on the CPU.
"""

import pickle

import numpy as np
import pytest
import torch
from joblib import parallel_backend
from sklearn.datasets import make_classification, make_friedman1
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from torch import nn

from torchsk import TorchClassifier, TorchRegressor
from torchsk.training import graphs as _graphs

pytestmark = pytest.mark.short_fits  # tiny max_iter keeps the fits fast

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SMALL = dict(hidden_layer_sizes=(32,), random_state=0)


def tensors_on(est, device_type):
    """Whether every parameter and buffer of ``module_`` lives on ``device_type``."""
    tensors = [*est.module_.parameters(), *est.module_.buffers()]
    return tensors and all(t.device.type == device_type for t in tensors)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs", "rprop"])
def test_regressor_fits_on_the_device_and_returns_numpy(diabetes, device, solver):
    X, y = diabetes
    params = dict(solver=solver, learning_rate_init=1e-2, max_iter=150, **SMALL)
    reg = TorchRegressor(device=device, **params).fit(X, y)
    assert reg._plan.device.type == device and tensors_on(reg, device)
    pred = reg.predict(X)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float64 and pred.shape == y.shape
    # as good as the same fit on the CPU (float32 on a GPU, so not bit for bit)
    reference = TorchRegressor(device="cpu", **params).fit(X, y)
    assert r2_score(y, pred) == pytest.approx(reference.score(X, y), abs=0.03)
    assert r2_score(y, pred) > 0.45


@pytest.mark.parametrize("device", DEVICES)
def test_classifier_probabilities_come_back_as_numpy(iris, device):
    X, y = iris
    clf = TorchClassifier(device=device, max_iter=200, learning_rate_init=1e-2, **SMALL)
    clf.fit(X, np.array(["setosa", "versicolor", "virginica"])[y])
    proba = clf.predict_proba(X)
    assert isinstance(proba, np.ndarray) and proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.predict(X).dtype == clf.classes_.dtype
    assert clf.score(X, clf.classes_[y]) > 0.9


@pytest.mark.parametrize("device", DEVICES)
def test_user_module_dropout_and_weights_on_the_device(diabetes, device):
    """The autograd path (a user's module, dropout) and weighted batches."""
    X, y = diabetes
    backbone = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 1))
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    for params in (dict(module=backbone), dict(dropout=0.1, **SMALL)):
        reg = TorchRegressor(device=device, max_iter=200, learning_rate_init=1e-2, **params)
        reg.fit(X, y, sample_weight=w)
        assert tensors_on(reg, device)
        assert np.all(np.isfinite(reg.predict(X))) and reg.score(X, y) > 0.3


@pytest.mark.parametrize("device", DEVICES)
def test_early_stopping_warm_start_and_partial_fit_on_the_device(diabetes, device):
    X, y = diabetes
    reg = TorchRegressor(device=device, early_stopping=True, max_iter=30, warm_start=True,
                         **SMALL)  # fmt: skip
    reg.fit(X, y)
    first = reg.n_iter_
    assert len(reg.validation_scores_) == first
    reg.fit(X, y)
    assert len(reg.validation_scores_) == first + reg.n_iter_ and tensors_on(reg, device)
    streamed = TorchRegressor(device=device, **SMALL)
    for chunk in np.array_split(np.arange(len(X)), 4):
        streamed.partial_fit(X[chunk], y[chunk])
    assert len(streamed.loss_curve_) == 4 and tensors_on(streamed, device)


@pytest.mark.parametrize("device", DEVICES)
def test_batched_prediction_matches_the_module_on_raw_inputs(device):
    """``predict`` over many inference batches equals ``module_`` run on raw X."""
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, size=(20_000, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + 100.0
    reg = TorchRegressor(device=device, max_iter=2, batch_size=512, **SMALL).fit(X, y)
    with torch.no_grad():
        direct = reg.module_(torch.as_tensor(X, device=device)).cpu().numpy().ravel()
    np.testing.assert_allclose(reg.predict(X), direct, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_pickle_keeps_the_device_and_the_predictions(iris, device):
    X, y = iris
    clf = TorchClassifier(device=device, max_iter=20, **SMALL).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded._plan.device.type == device and tensors_on(loaded, device)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_device_object_or_another_spelling_of_the_device(iris):
    """``torch.device("cpu")`` loads with ``SKOPS_TRUSTED_TYPES`` (it was untrusted),
    and a warm start on ``"cpu:0"`` continues a ``"cpu"`` fit (it was refused as a
    change of device)."""
    import skops.io as sio

    from torchsk import SKOPS_TRUSTED_TYPES

    X, y = iris
    clf = TorchClassifier(device=torch.device("cpu"), max_iter=5, **SMALL).fit(X, y)
    loaded = sio.loads(sio.dumps(clf), trusted=SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    clf.set_params(device="cpu:0").partial_fit(X, y)
    assert clf.n_iter_ == 1


def test_auto_picks_cuda_when_present(iris):
    X, y = iris
    clf = TorchClassifier(device="auto", max_iter=5, **SMALL).fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert clf._plan.device.type == expected and tensors_on(clf, expected)


@pytest.mark.parametrize("device", DEVICES)
def test_cuda_graphs_train_as_the_eager_steps_do(device, monkeypatch):
    """On CUDA the full batches run as graph replays (never on the CPU), and a fit
    through them gives the eager fit's model: regression, multiclass and binary."""
    replays = []
    run = _graphs.GraphedSteps.run
    monkeypatch.setattr(_graphs.GraphedSteps, "run", lambda s, o: replays.append(1) or run(s, o))
    X, y = make_friedman1(n_samples=5000, random_state=0)
    Xc, yc = make_classification(n_samples=5000, n_classes=3, n_informative=4, random_state=0)
    params = dict(device=device, batch_size=128, max_iter=4, learning_rate_init=1e-2, **SMALL)
    fits = {
        "regression": (TorchRegressor(**params), X, y, "predict"),
        "multiclass": (TorchClassifier(**params), Xc, yc, "predict_proba"),
        "binary": (TorchClassifier(**params), Xc, yc == 0, "predict_proba"),
    }
    for est, X_, y_, method in fits.values():
        replays.clear()
        graphed = getattr(est.fit(X_, y_), method)(X_)
        assert len(replays) == (4 if device == "cuda" else 0)  # one run per epoch
        with monkeypatch.context() as eager_only:
            eager_only.setattr(_graphs, "MIN_GRAPHED_STEPS", 10**9)
            eager = getattr(est.fit(X_, y_), method)(X_)
        np.testing.assert_allclose(graphed, eager, rtol=1e-4, atol=1e-4 * np.abs(eager).max())


@pytest.mark.parametrize("device", DEVICES)
def test_threaded_search_on_the_device_matches_a_sequential_one(device):
    """Fits in threads share the device (on CUDA, one thread's graph capture must not
    break another's fit) and score as they do one after another."""
    X, y = make_friedman1(n_samples=4000, random_state=0)
    reg = TorchRegressor(device=device, batch_size=64, max_iter=3, **SMALL)
    grid = {"alpha": [1e-4, 1e-2, 1e-1, 1.0]}
    sequential = GridSearchCV(reg, grid, cv=2).fit(X, y).cv_results_["mean_test_score"]
    with parallel_backend("threading", n_jobs=4):
        threaded = GridSearchCV(reg, grid, cv=2).fit(X, y).cv_results_["mean_test_score"]
    np.testing.assert_allclose(threaded, sequential, rtol=1e-5)
