"""scikit-learn callbacks, plots, persistence, ONNX export and distributed search."""

import copy
import io
import pickle
import warnings
from dataclasses import replace
from pathlib import Path

import joblib
import matplotlib
import numpy as np
import pytest
import torch
from epoch_callback import EpochCallback
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from torchsk import (
    SKOPS_TRUSTED_TYPES,
    BatchedSearchCV,
    LossCurveDisplay,
    TorchClassifier,
    TorchRegressor,
    export_onnx,
)

pytestmark = pytest.mark.short_fits  # tiny max_iter keeps the fits fast

matplotlib.use("Agg")
callback = pytest.importorskip("sklearn.callback", reason="needs scikit-learn >= 1.9")

FAST = dict(hidden_layer_sizes=(16,), learning_rate_init=1e-2, random_state=0)


def _epoch_rows(monitor):
    frame = monitor.get_logs().data_as_pandas
    return frame[frame["task_name"] == "epoch"]


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_scoring_monitor_records_a_score_per_epoch(iris, solver):
    X, y = iris
    monitor = callback.ScoringMonitor(scoring="accuracy")
    est = TorchClassifier(max_iter=6, solver=solver, **FAST).set_callbacks(monitor).fit(X, y)
    rows = _epoch_rows(monitor)
    assert len(rows) == est.n_iter_
    assert rows["accuracy"].between(0, 1).all()
    assert rows["accuracy"].iloc[-1] == pytest.approx(est.score(X, y), abs=0.05)


class EpochScores(EpochCallback):
    """A callback that scores the fitted estimator it is handed at each epoch's end."""

    def __init__(self):
        self.begun, self.scores = 0, []

    def on_fit_task_begin(self, estimator, context, **kwargs):
        self.begun += context.task_name == "epoch"

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None, X=None, y=None):
        if context.task_name == "epoch":
            self.scores.append(fitted_estimator.score(X, y))


@pytest.mark.parametrize("solver", ["adam", "rprop", "lbfgs"])
def test_each_epoch_is_one_iteration_with_a_fitted_estimator(solver):
    """L-BFGS began one more epoch after its last iteration and ended it with no
    fitted estimator: a callback scoring it failed the fit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    scores = EpochScores()
    est = TorchRegressor(hidden_layer_sizes=(8,), solver=solver, max_iter=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.set_callbacks(scores).fit(X, X[:, 0])
    assert scores.begun == len(scores.scores) == est.n_iter_ == 4


class EpochProgress(EpochScores):
    """A callback that reads each epoch's fitted estimator's progress attributes."""

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None, X=None, y=None):
        if context.task_name == "epoch":
            self.scores.append((fitted_estimator.n_iter_, list(fitted_estimator.loss_curve_)))


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("n_ensemble", [1, 3])
def test_each_epochs_fitted_estimator_has_the_epochs_and_losses_so_far(solver, n_ensemble):
    """The copy handed to callbacks had the fit's weights but the previous fit's
    n_iter_ and loss_curve_ (none at all on a first fit: AttributeError), so a
    callback could not tell how far the fit had come or what its loss was."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    progress = EpochProgress()
    kw = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=3, random_state=0)
    est = TorchRegressor(**kw, n_ensemble=n_ensemble, warm_start=True).set_callbacks(progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, X[:, 0])
        first = list(est.loss_curve_)
        assert progress.scores == [(i + 1, first[: i + 1]) for i in range(3)]
        progress.scores.clear()
        est.fit(X, X[:, 0])  # a warm start goes on from the first fit's curve
    assert progress.scores == [(i + 1, est.loss_curve_[: 4 + i]) for i in range(3)]
    assert est.loss_curve_[:3] == first


def test_an_epoch_scored_through_a_copy_leaves_a_user_module_training():
    """``sklearn.callback`` copies the estimator at each epoch: the copy went through
    pickling's state, which froze the user's module it shared with the fit (the next
    epoch raised "element 0 of tensors does not require grad")."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    scores = EpochScores()
    est = TorchRegressor(module=torch.nn.Linear(4, 1), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.set_callbacks(scores).fit(X, X[:, 0])
    assert len(scores.scores) == est.n_iter_ == 3
    assert scores.scores[-1] == pytest.approx(est.score(X, X[:, 0]))


@pytest.mark.filterwarnings("ignore:The estimator FunctionTransformer does not support callbacks")
def test_progress_bar_and_monitor_inside_pipeline_and_grid_search(iris, capsys):
    X, y = iris
    pipe = make_pipeline(FunctionTransformer(), TorchClassifier(max_iter=3, **FAST))
    pipe.set_callbacks(callback.ProgressBar()).fit(X, y)
    assert "TorchClassifier - fit" in capsys.readouterr().out
    monitor = callback.ScoringMonitor(scoring="accuracy")
    inner = TorchClassifier(max_iter=3, **FAST).set_callbacks(monitor)
    GridSearchCV(inner, {"alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    frames = [log.data_as_pandas for log in monitor.get_logs(select="all")]
    epochs = sum((f["task_name"] == "epoch").sum() for f in frames)
    assert epochs == 3 * (2 * 2 + 1)  # 2 candidates x 2 folds + the refit, 3 epochs each


def test_loss_curve_display(diabetes):
    X, y = diabetes
    reg = TorchRegressor(early_stopping=True, max_iter=20, **FAST).fit(X, y)
    display = LossCurveDisplay.from_estimator(reg)
    np.testing.assert_allclose(display.line_.get_ydata(), reg.loss_curve_)
    np.testing.assert_allclose(display.validation_line_.get_ydata(), reg.validation_scores_)
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    plain = TorchRegressor(max_iter=5, **FAST).fit(X, y)
    display = LossCurveDisplay.from_estimator(plain, ax=ax, name="mine")
    assert display.ax_ is ax and display.validation_line_ is None
    assert display.line_.get_label() == "mine training loss"
    # early stopping turned on by a warm start scores only the epochs since
    plain.set_params(warm_start=True, early_stopping=True, n_iter_no_change=50).fit(X, y)
    display = LossCurveDisplay.from_estimator(plain)
    scored = np.arange(len(plain.loss_curve_)) + 1
    np.testing.assert_array_equal(display.validation_line_.get_xdata(), scored[5:])
    # array-likes, as scikit-learn's displays take them ("truth value ... ambiguous")
    arrays = LossCurveDisplay(loss_curve=np.array([3.0, 2.0, 1.0]),
                              validation_scores=np.array([0.5, 0.6]))  # fmt: skip
    assert arrays.plot().validation_line_.get_xdata().tolist() == [2, 3]
    plt.close("all")


def test_loss_curve_displays_of_two_models_share_one_axes(diabetes):
    """Models compared on one axes: one twin axes, one legend naming all four curves
    (each call had added a twin axes and replaced the legend), one colour per model."""
    import matplotlib.pyplot as plt

    X, y = diabetes
    _, ax = plt.subplots()
    shown = []
    for rate in (1e-3, 1e-2):
        reg = TorchRegressor(
            early_stopping=True, max_iter=8, **{**FAST, "learning_rate_init": rate}
        )
        shown.append(LossCurveDisplay.from_estimator(reg.fit(X, y), ax=ax, name=f"lr={rate}"))
    assert len(ax.figure.axes) == 2 and shown[0].validation_ax_ is shown[1].validation_ax_
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        "lr=0.001 training loss", "lr=0.01 training loss",
        "lr=0.001 validation score", "lr=0.01 validation score",
    ]  # fmt: skip
    colors = [(d.line_.get_color(), d.validation_line_.get_color()) for d in shown]
    assert colors[0][0] == colors[0][1] != colors[1][0] == colors[1][1]
    plt.close("all")


@pytest.mark.parametrize("layout", [(1, 2), (2, 1)])
def test_loss_curve_displays_on_panels_sharing_x_each_get_their_own_twin(diabetes, layout):
    # sharex=True links the panels' x axes: the second panel's scores had been drawn on
    # the first panel's twin, and its legend named the first model's curve
    import matplotlib.pyplot as plt

    X, y = diabetes
    _, axes = plt.subplots(*layout, sharex=True)
    shown = []
    for seed, (ax, name) in enumerate(zip(axes, "AB", strict=True)):
        reg = TorchRegressor(early_stopping=True, max_iter=4, **{**FAST, "random_state": seed})
        shown.append(LossCurveDisplay.from_estimator(reg.fit(X, y), ax=ax, name=name))
    assert shown[0].validation_ax_ is not shown[1].validation_ax_ and len(axes[0].figure.axes) == 4
    for ax, name in zip(axes, "AB", strict=True):
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert labels == [f"{name} training loss", f"{name} validation score"]
    plt.close("all")


def test_loss_curve_display_of_a_search_or_pipeline_draws_its_network(diabetes):
    X, y = diabetes
    net = TorchRegressor(max_iter=5, **FAST)
    search = BatchedSearchCV(net, {"alpha": [0.1, 1.0]}, cv=2).fit(X, y)
    line = LossCurveDisplay.from_estimator(search).line_.get_ydata()
    np.testing.assert_allclose(line, search.best_estimator_.loss_curve_)
    pipe = make_pipeline(FunctionTransformer(), net).fit(X, y)
    line = LossCurveDisplay.from_estimator(pipe).line_.get_ydata()
    np.testing.assert_allclose(line, pipe[-1].loss_curve_)
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(TorchRegressor())
    with pytest.raises(TypeError, match="got a FunctionTransformer without one"):
        LossCurveDisplay.from_estimator(FunctionTransformer().fit(X))
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_and_joblib_round_trips(iris, tmp_path, dump):
    X, y = iris
    est = TorchClassifier(max_iter=10, **FAST).fit(X, y)
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(est))
    else:
        joblib.dump(est, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert loaded.module_.inputs.scaling.center.dtype == est.module_.inputs.scaling.center.dtype


@pytest.mark.parametrize(
    "params",
    [{"solver": "adam"}, {"solver": "sgd", "learning_rate": "invscaling"}, {"solver": "rprop"},
     {"n_ensemble": 2, "solver": "adamw"}],
)  # fmt: skip
def test_a_reloaded_model_continues_its_optimizer(diabetes, params):
    """As a reloaded ``MLPRegressor``: ``partial_fit`` after pickle, skops or deepcopy
    steps as the original does (Adam's moments, momentum, step sizes carried)."""
    import skops.io as sio

    X, y = diabetes[0][:150], diabetes[1][:150]
    est = TorchRegressor(hidden_layer_sizes=(8,), random_state=0, **params)
    for _ in range(3):
        est.partial_fit(X, y)
    data = sio.dumps(est)
    copies = [pickle.loads(pickle.dumps(est)), sio.loads(data, trusted=SKOPS_TRUSTED_TYPES)]
    copies.append(copy.deepcopy(est))
    expected = est.partial_fit(X, y).predict(X)
    for loaded in copies:
        np.testing.assert_array_equal(loaded.partial_fit(X, y).predict(X), expected)


def test_pickled_embedding_keeps_its_trained_dtype():
    """A small fit trains in float64, embeddings included; the rebuilt network must
    not round them to nn.Embedding's default float32 (predictions changed at 1e-8)."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=600), np.repeat(np.arange(100), 6)]).astype(object)
    y = X[:, 0].astype(float) + (X[:, 1].astype(int) % 7)
    est = TorchRegressor(max_iter=5, categorical_features=[1], **FAST).fit(X, y)
    weight = est.module_.inputs.categorical.embedding.weight
    assert est._plan.dtype == weight.dtype == torch.float64
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.module_.inputs.categorical.embedding.weight.dtype == torch.float64
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_a_module_converted_to_float32_after_the_fit_pickles_as_it_predicts(diabetes):
    """``module_.float()`` made the scaling constants float32; the rebuilt network had
    put them back in float64, and the regressor's predictions moved by 2e-5."""
    X, y = diabetes
    est = TorchRegressor(max_iter=10, **FAST).fit(X, y)
    est.module_.float()
    for copy_of in (lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy):
        np.testing.assert_array_equal(copy_of(est).predict(X), est.predict(X))


@pytest.mark.parametrize("user_module", [False, True])
def test_a_model_loaded_inside_inference_mode_trains_again(diabetes, user_module):
    """Unpickled inside ``torch.inference_mode()`` (a serving pattern), its tensors
    were inference tensors: partial_fit failed with load_state_dict's RuntimeError."""
    X, y = diabetes
    module = torch.nn.Linear if user_module else None
    est = TorchRegressor(max_iter=5, module=module, **FAST).fit(X, y)
    data = pickle.dumps(est)
    with torch.inference_mode():
        loaded = pickle.loads(data)
    expected = pickle.loads(data).partial_fit(X, y).predict(X)
    np.testing.assert_array_equal(loaded.partial_fit(X, y).predict(X), expected)


class _Tied(torch.nn.Module):
    """Two layers sharing one weight."""

    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.a = torch.nn.Linear(n_inputs, n_inputs)
        self.b = torch.nn.Linear(n_inputs, n_inputs)
        self.b.weight = self.a.weight
        self.out = torch.nn.Linear(n_inputs, n_outputs)

    def forward(self, x):
        return self.out(torch.relu(self.b(torch.relu(self.a(x)))))


def test_tied_weights_stay_tied_when_loaded_inside_inference_mode(diabetes):
    """Each inference tensor was copied on its own: a shared weight became two."""
    X, y = diabetes
    data = pickle.dumps(TorchRegressor(max_iter=5, module=_Tied, **FAST).fit(X, y))
    with torch.inference_mode():
        loaded = pickle.loads(data)
    user = loaded.module_.backbone
    assert user.a.weight is user.b.weight
    expected = pickle.loads(data).partial_fit(X, y).predict(X)
    np.testing.assert_array_equal(loaded.partial_fit(X, y).predict(X), expected)


def test_a_model_pickled_before_member_rows_existed_has_every_parameter():
    """The fixture (2026-12-02) lacked member_rows: repr, get_params and clone raised
    AttributeError; a parameter that did not exist takes its default."""
    from sklearn.base import clone

    fixture = Path(__file__).parents[1] / "fixtures" / "fitted_before_layers.pkl"
    for est, X, _ in pickle.loads(fixture.read_bytes()):
        assert est.get_params()["member_rows"] == "all"
        assert "TorchRegressor" in repr(est) or "TorchClassifier" in repr(est)
        clone(est)
        est.set_params(max_iter=2).partial_fit(X, est.predict(X))


def test_an_edited_optimizer_state_is_refused_before_it_allocates(diabetes):
    """A file whose optimizer claims 2e10 values (160 GB, allocated before any other
    check), or a class or dtype no fit writes, is refused with a ValueError; so are
    integer or complex weights and a plan's dtype that is not a float."""
    X, y = diabetes
    state = TorchRegressor(max_iter=5, **FAST).fit(X, y).__getstate__()
    for key, value in [("numel", 20_000_000_000), ("dtype", "load"), ("class", "Nope")]:
        edited = dict(state, _optimizer=dict(state["_optimizer"], **{key: value}))
        with pytest.raises(ValueError, match="optimizer"):
            TorchRegressor.__new__(TorchRegressor).__setstate__(edited)
    weights = dict(state["module_"]["tensors"])
    name = next(k for k in weights if k.startswith("backbone") and k.endswith("weight"))
    for dtype in (np.int64, np.complex128):
        tensors = dict(weights, **{name: weights[name].astype(dtype)})
        edited = dict(state, module_=dict(state["module_"], tensors=tensors))
        with pytest.raises(ValueError, match="not floats"):  # torch's RuntimeError before
            TorchRegressor.__new__(TorchRegressor).__setstate__(edited)
    with pytest.raises(ValueError, match="not a torch float"):
        TorchRegressor.__new__(TorchRegressor).__setstate__(
            dict(state, _plan=dict(state["_plan"], dtype="load"))
        )


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd", "rprop"])
def test_an_edited_optimizer_moment_of_another_shape_or_kind_is_refused_at_load(diabetes, solver):
    """Adam's moments cut to one value had loaded, and the next partial_fit's fused
    kernel wrote past their end (a segmentation fault; adamw: a corrupted heap)."""
    X, y = diabetes
    est = TorchRegressor(solver=solver, max_iter=1, **FAST).partial_fit(X, y)
    state = est.__getstate__()
    stored = state["_optimizer"]["state"]
    # exp_avg / exp_avg_sq, prev / step_sizes, sgd's momentum buffer (in a list)
    moments = {
        k: v
        for k, v in stored.items()
        if isinstance(v[0] if isinstance(v, list) else v, np.ndarray) and np.ndim(v) in (1, 2)
    }
    assert moments
    for cut in (lambda v: v[:1], lambda v: v.astype(np.complex128)):
        edited = {k: [cut(v[0])] if isinstance(v, list) else cut(v) for k, v in moments.items()}
        optimizer = dict(state["_optimizer"], state={**state["_optimizer"]["state"], **edited})
        with pytest.raises(ValueError, match="optimizer state does not match"):
            TorchRegressor.__new__(TorchRegressor).__setstate__(dict(state, _optimizer=optimizer))


def test_a_user_module_parameter_ending_in_underscore_is_not_a_fitted_model():
    """scikit-learn reads any attribute ending in "_" as fitted without
    ``__sklearn_is_fitted__``: check_is_fitted had passed before fit."""
    from sklearn.utils.validation import check_is_fitted

    est = TorchRegressor(module=lambda i, o, width_=3: torch.nn.Linear(i, o), module__width_=3)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


def test_model_saved_on_a_gpu_loads_on_the_cpu(iris):
    X, y = iris
    est = TorchClassifier(max_iter=10, **FAST).fit(X, y)
    proba = est.predict_proba(X)
    est._plan = replace(est._plan, device=torch.device("cuda"))  # a GPU-trained model's
    state = est.__getstate__()
    assert state["_plan"]["device"] == "cuda" and isinstance(state["module_"], dict)
    loaded = TorchClassifier.__new__(TorchClassifier)
    loaded.__setstate__(state)
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert loaded._plan.device == expected
    np.testing.assert_allclose(loaded.predict_proba(X), proba, rtol=1e-6)


def test_skops_loads_with_the_documented_trusted_types_only(diabetes, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = diabetes
    est = TorchRegressor(max_iter=10, **FAST).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    assert set(sio.get_untrusted_types(file=path)) <= set(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(path, trusted=SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        sio.load(path)  # nothing trusted: refused


def test_torch_save_of_module_and_state_dict(diabetes, tmp_path):
    X, y = diabetes
    est = TorchRegressor(max_iter=10, **FAST).fit(X, y)
    torch.save(est.module_, tmp_path / "module.pt")
    module = torch.load(tmp_path / "module.pt", weights_only=False)
    buffer = io.BytesIO()
    torch.save(est.module_.state_dict(), buffer)
    buffer.seek(0)
    fresh = pickle.loads(pickle.dumps(est)).module_
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    for m in (module, fresh):
        out = m(torch.as_tensor(X)).detach().numpy().ravel()
        np.testing.assert_allclose(out, est.predict(X), rtol=1e-12)


@pytest.mark.parametrize("kind", ["regressor", "binary", "multiclass", "multilabel"])
def test_onnx_runtime_matches_predict_and_predict_proba(tmp_path, kind, iris, diabetes):
    ort = pytest.importorskip("onnxruntime")
    if kind == "regressor":
        X, y = diabetes
        est = TorchRegressor(max_iter=10, **FAST).fit(X, np.column_stack([y, -y]))
        expected = est.predict(X)
    else:
        X, y = iris
        y = {"binary": y == 0, "multiclass": y, "multilabel": np.eye(3)[y].astype(int)}[kind]
        est = TorchClassifier(max_iter=10, **FAST).fit(X, y)
        expected = est.predict_proba(X)
    session = ort.InferenceSession(export_onnx(est, tmp_path / "model.onnx"))
    (out,) = session.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_onnx_in_float64_keeps_an_input_far_from_zero_and_float32_warns(tmp_path, diabetes):
    """A Unix timestamp with an hour's spread rounds to 128 s in float32: the float32
    graph's predictions were 0.11 off (their spread 1.2), in silence."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    t = 1.7e9 + rng.uniform(0, 3600, 200)
    X = np.column_stack([t, rng.normal(size=200)])
    y = np.sin((t - 1.7e9) / 600) + X[:, 1]
    est = TorchRegressor(solver="lbfgs", max_iter=100, **FAST).fit(X, y)
    with pytest.warns(UserWarning, match="rounds in float32 by up to .* input_dtype='float64'"):
        export_onnx(est, tmp_path / "f32.onnx")
    session = ort.InferenceSession(export_onnx(est, tmp_path / "f64.onnx", input_dtype="float64"))
    (out,) = session.run(None, {"X": X})
    np.testing.assert_allclose(out.ravel(), est.predict(X), rtol=1e-12, atol=1e-12)
    Xd, yd = diabetes  # ordinary columns: no warning
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*rounds in float32")
        export_onnx(TorchRegressor(max_iter=2, **FAST).fit(Xd, yd), tmp_path / "d.onnx")


def test_onnx_warns_where_float32_rounds_the_target_or_onnxruntime_lacks_float64(
    tmp_path, diabetes
):
    ort = pytest.importorskip("onnxruntime")
    X, y = diabetes
    # y of 1e8 with a spread of ~80: the float32 graph's outputs round by ~8
    est = TorchRegressor(max_iter=2, **FAST).fit(X, 1e8 + y)
    with pytest.warns(UserWarning, match="The target .* rounds in float32"):
        export_onnx(est, tmp_path / "target.onnx")
    # gelu's Erf has no float64 kernel in onnxruntime: the float64 file would not load
    gelu = TorchRegressor(activation="gelu", max_iter=2, **FAST).fit(X, y)
    with pytest.warns(UserWarning, match="Gelu, which onnxruntime's CPU provider cannot"):
        path = export_onnx(gelu, tmp_path / "gelu.onnx", input_dtype="float64")
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
        ort.InferenceSession(path)
    with warnings.catch_warnings():  # relu runs in float64: no warning
        warnings.filterwarnings("error", message=".*cannot run in float64")
        relu = TorchRegressor(max_iter=2, **FAST).fit(X, y)
        ort.InferenceSession(export_onnx(relu, tmp_path / "relu.onnx", input_dtype="float64"))


def test_grid_search_on_a_dask_local_cluster(iris):
    distributed = pytest.importorskip("distributed")
    X, y = iris
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        search = GridSearchCV(
            TorchClassifier(max_iter=20, **FAST), {"alpha": [1e-4, 1e-1]}, cv=3, n_jobs=-1
        ).fit(X, y)
    assert search.best_score_ > 0.8
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_partial_fit_over_chunks_streamed_from_disk(tmp_path, iris):
    X, y = iris
    order = np.random.default_rng(0).permutation(len(y))
    np.save(tmp_path / "X.npy", X[order])
    np.save(tmp_path / "y.npy", y[order])
    X_disk = np.load(tmp_path / "X.npy", mmap_mode="r")  # never loaded whole
    y_disk = np.load(tmp_path / "y.npy", mmap_mode="r")
    est = TorchClassifier(**FAST)
    for _ in range(15):
        for start in range(0, len(X_disk), 50):
            chunk = slice(start, start + 50)
            est.partial_fit(X_disk[chunk], y_disk[chunk], classes=[0, 1, 2])
    assert est.score(X, y) > 0.9


def test_callback_fallback_without_sklearn_callback_module(monkeypatch, iris):
    """Before scikit-learn 1.9 there is no sklearn.callback: the hooks do nothing."""
    import importlib
    import sys

    import torchsk.estimators.callbacks as callbacks_module

    monkeypatch.setitem(sys.modules, "sklearn.callback", None)  # import now fails
    fallback = importlib.reload(callbacks_module)
    try:
        assert not fallback.HAVE_CALLBACKS

        def method(self):
            return "ran"

        assert fallback.with_callbacks(method) is method
        X, y = iris
        est = TorchClassifier(max_iter=2, **FAST).fit(X, y)
        hooks = fallback.EpochHooks(est, X, y, None, max_epochs=2)
        hooks.begin()
        assert hooks.end() is False
        hooks.close()
        assert not hasattr(est, "_callback_fit_ctx")
    finally:
        monkeypatch.undo()
        importlib.reload(callbacks_module)


def test_an_onnx_file_travels_alone(tmp_path, diabetes):
    # torch's exporter put the (100,) layer's weights in a second file, model.onnx.data,
    # without which the .onnx copied elsewhere (or read as bytes) did not load; and
    # torch.set_default_dtype(torch.float64) had made the exported input float64 (the
    # documented float32 rows were refused)
    ort = pytest.importorskip("onnxruntime")
    X, y = diabetes
    est = TorchRegressor(max_iter=3, random_state=0).fit(X, y)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        path = export_onnx(est, tmp_path / "model.onnx")
    finally:
        torch.set_default_dtype(default)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    session = ort.InferenceSession(open(path, "rb").read())
    assert session.get_inputs()[0].type == "tensor(float)"
    (out,) = session.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(out.ravel(), est.predict(X), rtol=1e-5)
