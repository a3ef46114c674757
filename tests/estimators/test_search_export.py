"""``BatchedSearchCV.module_``: the selected ensemble (or the refitted best candidate) as
one self-contained ``nn.Module`` on raw module input, pickled with the search and
exported to ONNX as an estimator's ``module_`` is."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_wine

from torchsk import (
    SKOPS_TRUSTED_TYPES,
    BatchedSearchCV,
    TorchClassifier,
    TorchRegressor,
    export_onnx,
)
from torchsk.nn.blend import BlendModule

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
TASKS = ("regressor", "multiclass", "binary")
GRID = {"alpha": [1e-3, 1.0, 10.0], "learning_rate_init": [1e-3, 1e-2]}


def _data(task: str):
    if task == "regressor":
        return load_diabetes(return_X_y=True)
    X, y = load_wine(return_X_y=True)
    return X, (y == 0 if task == "binary" else y)


def _search(task: str, **kwargs) -> BatchedSearchCV:
    X, y = _data(task)
    if task == "regressor":
        est = TorchRegressor(**SMALL)
    else:
        est, kwargs = TorchClassifier(**SMALL), {"scoring": "neg_log_loss", **kwargs}
    return BatchedSearchCV(est, GRID, cv=3, **kwargs).fit(X, y)


def _expected(search, X) -> np.ndarray:
    """What the search predicts, in the module's shape: probabilities or outputs."""
    if hasattr(search, "predict_proba"):
        return search.predict_proba(X)
    return search.predict(X).reshape(len(X), -1)


def _module_output(search, X) -> np.ndarray:
    with torch.inference_mode():
        return search.module_(search.to_module_input(X)).cpu().numpy()


@pytest.mark.parametrize(
    ("task", "refit", "dtype"),
    [(task, refit, "float64") for task in TASKS for refit in (True, False)]
    # float32 networks train slower here (no float64 numpy pass): one case per task
    + [("regressor", False, "float32"), ("multiclass", True, "float32")],
)
def test_the_selected_ensembles_module_predicts_as_the_search(task, refit, dtype, monkeypatch):
    if dtype == "float32":  # networks this small train in float64 unless told otherwise
        monkeypatch.setattr("torchsk.training.plan.FLOAT64_FLOP_LIMIT", 0)
    search = _search(task, ensemble="greedy", refit=refit)
    X, _ = _data(task)
    module = search.module_
    assert isinstance(module, BlendModule) and module is search.module_  # built once
    assert not module.training
    assert all(p.net.compute_dtype == getattr(torch, dtype) for p in module.parts)
    # every selected network, copied: the module stands alone
    networks = {id(est.module_) for est, _, _ in search.ensemble_.parts}
    assert len(module.parts) == len(networks)
    assert not networks & {id(p.net) for p in module.parts}
    assert sum(float(p.weights.sum()) for p in module.parts) == pytest.approx(1.0)
    expected = _expected(search, X)
    tolerance = 1e-10 if dtype == "float64" else 1e-6
    scale = np.abs(expected).max()
    np.testing.assert_allclose(_module_output(search, X), expected, rtol=0, atol=tolerance * scale)
    if task != "regressor":
        with torch.inference_mode():
            proba = module.predict_proba(search.to_module_input(X)).numpy()
        np.testing.assert_allclose(proba, expected, rtol=0, atol=tolerance)


def test_an_unselected_member_that_diverged_weighs_nothing():
    search = _search("regressor", ensemble="greedy", refit=False)
    X, _ = _data("regressor")
    part = search.module_.parts[0]
    unselected = int(torch.nonzero(part.weights == 0)[0, 0])
    bias = part.net.backbone.biases[-1].view(part.net.backbone.n_members, -1)
    bias[unselected] = torch.inf  # the module's copy only: the search predicts unchanged
    np.testing.assert_allclose(_module_output(search, X), _expected(search, X), rtol=1e-10)


def test_without_an_ensemble_module_is_the_refitted_best_candidates():
    X, _ = _data("multiclass")
    search = _search("multiclass")
    assert search.module_ is search.best_estimator_.module_
    np.testing.assert_allclose(
        search.module_.predict_proba(search.to_module_input(X)).numpy(),
        search.predict_proba(X),
        rtol=1e-10,
    )
    unrefitted = _search("multiclass", refit=False)
    assert not hasattr(unrefitted, "module_")  # nothing predicts
    with pytest.raises(AttributeError, match="refit=False"):  # not "not fitted"
        export_onnx(unrefitted, "never.onnx")


@pytest.mark.parametrize("task", ["regressor", "multiclass"])
def test_a_pickled_search_predicts_the_same_and_rebuilds_its_module(task):
    X, _ = _data(task)
    search = _search(task, ensemble="greedy", refit=False)
    before = _module_output(search, X)
    state = search.module_.state_dict()
    assert any(key.endswith(".weights") for key in state)  # the member weights are buffers
    again = pickle.loads(pickle.dumps(search))
    # pickled once, as the networks' plain data; the module is rebuilt from them
    assert "_module" not in again.ensemble_.__dict__
    np.testing.assert_array_equal(_expected(again, X), _expected(search, X))
    np.testing.assert_array_equal(_module_output(again, X), before)
    loaded = again.module_.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


@pytest.mark.parametrize(("task", "ensemble"), [("regressor", "greedy"), ("binary", None)])
def test_skops_loads_a_search_with_the_documented_types_and_its_scorers(task, ensemble, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, _ = _data(task)
    search = _search(task, ensemble=ensemble)
    sio.dump(search, tmp_path / "search.skops")
    untrusted = set(sio.get_untrusted_types(file=tmp_path / "search.skops"))
    # as for a GridSearchCV, only the scorer's types (scikit-learn's) are the user's call
    scorers = {t for t in untrusted if t.startswith("sklearn.metrics.")}
    assert scorers and untrusted - scorers <= set(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(tmp_path / "search.skops", trusted=[*SKOPS_TRUSTED_TYPES, *scorers])
    np.testing.assert_array_equal(_expected(loaded, X), _expected(search, X))


@pytest.mark.parametrize("refit", [True, False])
@pytest.mark.parametrize("task", TASKS)
def test_onnx_runtime_runs_the_selected_ensemble(tmp_path, task, refit):
    ort = pytest.importorskip("onnxruntime")
    X, _ = _data(task)
    search = _search(task, ensemble="greedy", refit=refit)
    session = ort.InferenceSession(export_onnx(search, tmp_path / "search.onnx"))
    (out,) = session.run(None, {"X": X.astype(np.float32)})
    expected = _expected(search, X)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert session.get_outputs()[0].name == (
        "prediction" if task == "regressor" else "probabilities"
    )


def test_a_blends_float32_export_warns_of_rounded_inputs_as_one_networks_does(tmp_path):
    """The warning read module_.inputs, which a search's blend does not have: its
    float32 graph was 2.5 off predict on a timestamp-like column, in silence."""
    pytest.importorskip("onnxruntime")
    X, y = load_diabetes(return_X_y=True)
    X = X.copy()
    X[:, 0] = X[:, 0] * 3600 + 1.7e9
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-3, 1.0]}, cv=3, ensemble="greedy").fit(X, y)
    with pytest.warns(UserWarning, match="rounds in float32"):
        export_onnx(search, tmp_path / "search.onnx")


def test_a_blend_scores_with_decision_values_as_its_selection_did():
    """A scorer of decision values selected the ensemble (its stand-in had them), then
    search.score failed: the blend had no decision_function."""
    from sklearn.metrics import hinge_loss, make_scorer

    hinge = make_scorer(hinge_loss, greater_is_better=False, response_method="decision_function")
    X, y = _data("binary")
    est = TorchClassifier(hidden_layer_sizes=(8,), max_iter=6, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [1e-3, 1.0]}, cv=3, scoring=hinge, ensemble="greedy")
    search.fit(X, y)
    log_p = search.predict_log_proba(X)
    expected = -hinge_loss(y, log_p[:, 1] - log_p[:, 0])  # the averaged probabilities' log-odds
    assert search.score(X, y) == pytest.approx(expected)
    assert not hasattr(search, "decision_function")  # meta-estimators read predict_proba
    # a probability of 0 scores finitely (roc_auc refuses infinite scores)
    from torchsk.estimators.selection import log_odds

    with np.errstate(divide="ignore"):
        assert np.isfinite(log_odds(np.log([[0.0, 1.0], [1.0, 0.0]]))).all()


def test_a_blend_of_networks_coding_categories_apart_names_categorical_features():
    """A grid over categorical_features blends networks that code column k apart:
    module_ had blamed refit=False and separate_folds, with refit=True."""
    import pandas as pd
    from sklearn.datasets import make_regression

    X, y = make_regression(150, 3, noise=5, random_state=0)
    X = pd.DataFrame(X, columns=list("abc"))
    X["k"] = np.random.default_rng(0).integers(0, 4, 150) * 10
    y = y + (X.k == 20) * 80
    grid = {"categorical_features": ["auto", ["k"]], "random_state": [0, 1, 2]}
    est = TorchRegressor(max_iter=30, random_state=0)
    search = BatchedSearchCV(est, grid, cv=3, ensemble="greedy").fit(X, y)
    assert search.ensemble_weights_[:3].sum() > 0 and search.ensemble_weights_[3:].sum() > 0
    with pytest.raises(AttributeError, match="or with other categorical_features"):
        _ = search.module_
    assert np.isfinite(search.predict(X)).all()
