"""Diverging training, interruption, property-based fuzzing, resources and threads."""

import os
import pickle
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from epoch_callback import EpochCallback
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from torchsk import TorchClassifier, TorchRegressor
from torchsk.data.tensors import all_float32

pytestmark = pytest.mark.short_fits  # tiny max_iter keeps the fits fast


def test_diverging_training_keeps_last_finite_weights_and_says_what_to_change():
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(solver="sgd", learning_rate_init=1e8, max_iter=50, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged.*learning_rate_init.*solver"):
        est.fit(X, y)
    assert all(torch.isfinite(p).all() for p in est.module_.parameters())
    assert np.isfinite(est.predict(X)).all()
    assert est.n_iter_ < 50


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_divergence_without_input_scaling_names_it_and_fits_the_solver(solver):
    """X of 1e200 given as it is overflows the network at once: the advice names the
    switched-off scaling, and does not send an L-BFGS fit to solver='lbfgs'."""
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(solver=solver, input_scaling=None, max_iter=5, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X * 1e200, y)
    advice = next(str(w.message) for w in caught if "diverged" in str(w.message))
    assert "With input_scaling=None" in advice
    assert ("solver='lbfgs'" in advice) == (solver != "lbfgs")


def test_a_fit_stopped_on_a_rising_loss_keeps_the_lowest_loss_weights():
    """24 rows, batches of 64: each epoch is one step, and its loss is that of the
    weights it started from, which are the ones to keep (R² -434 with the next ones)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 8000))
    y = X[:, 0] + 0.1 * rng.normal(size=24)
    est = TorchRegressor(numeric_bins="auto", random_state=0)
    with pytest.warns(ConvergenceWarning, match="rose"):
        est.fit(X, y)
    # the lowest epoch loss adds the penalty to the kept weights' squared error
    assert 0.5 * np.mean((est.predict(X) - y) ** 2) <= min(est.loss_curve_)


def test_a_rise_over_epochs_of_several_steps_keeps_the_measured_lowest_weights():
    """The weights that ended the lowest-loss epoch had been kept on the epoch's mean
    loss (2.7): a step too large had thrown them off within it (training loss 41,
    R² -27, where the last weights, which scikit-learn keeps, had 3.1). The weights
    that began and ended that epoch and the last ones are measured; the lowest kept."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X.sum(1) + 0.3 * rng.normal(size=300)
    kw = dict(solver="sgd", learning_rate_init=0.05, alpha=0, random_state=0)
    with pytest.warns(ConvergenceWarning, match="rose"):
        est = TorchRegressor(n_iter_no_change=5, max_iter=200, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        last = TorchRegressor(n_iter_no_change=10**6, max_iter=est.n_iter_, **kw).fit(X, y)
    kept = 0.5 * np.mean((est.predict(X) - y) ** 2)
    assert kept <= min(est.loss_curve_)
    assert kept <= 0.5 * np.mean((last.predict(X) - y) ** 2)


def test_a_diverged_fit_keeps_the_measured_lowest_weights():
    """After losses of 41, 5.5e3, 6.9e9 and 7.8e72, the weights that began the last
    finite epoch had been kept: a training loss of 1e26, against 1.5 for a constant."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X.sum(1) + 0.3 * rng.normal(size=300)
    est = TorchRegressor(solver="sgd", learning_rate_init=0.1, alpha=0, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    assert any("diverged" in str(w.message) for w in caught)
    assert 0.5 * np.mean((est.predict(X) - y) ** 2) <= min(est.loss_curve_)


def test_an_ensemble_keeps_the_same_lowest_loss_weights_through_any_pass():
    """The autograd pass measured the candidates in eval mode, where an ensemble
    averages its members, against the hand-written passes' sum of the members' own
    losses: the same run kept other weights (predictions 2.0 apart)."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = X[:, 0] * 3 + np.sin(2 * X[:, 1]) + rng.randn(60) * 0.3
    params = dict(solver="sgd", n_ensemble=3, max_iter=30, learning_rate_init=0.1,
                  batch_size=60, random_state=2, n_iter_no_change=3, alpha=1e-4)  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        numpy_pass = TorchRegressor((8,), "tanh", **params).fit(X, y)
        autograd = TorchRegressor((8,), "tanh", dropout=1e-13, **params).fit(X, y)
    assert (numpy_pass._plan.objective, autograd._plan.objective) == ("numpy", "autograd")
    assert sum("rose" in str(w.message) for w in caught) == 2
    np.testing.assert_allclose(autograd.predict(X), numpy_pass.predict(X), atol=1e-9)


def test_hitting_max_iter_warns_like_scikit_learn():
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        TorchClassifier(max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        TorchClassifier(solver="lbfgs", max_iter=2, random_state=0).fit(X, y)


class InterruptAt(nn.Module):
    """A backbone that raises KeyboardInterrupt at its ``at``-th training forward pass."""

    def __init__(self, n_in, n_out, at):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.at, self.calls = at, 0

    def forward(self, x):
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
        return self.linear(x)


def test_keyboard_interrupt_leaves_a_usable_estimator():
    X, y = load_iris(return_X_y=True)
    est = TorchClassifier(
        module=lambda i, o: InterruptAt(i, o, at=5), batch_size=len(X), max_iter=50, random_state=0
    )  # one batch per epoch: the 5th forward pass is in the 5th epoch
    with pytest.warns(UserWarning, match="interrupted after 4 iterations"):
        est.fit(X, y)
    assert est.n_iter_ == 4
    assert np.isfinite(est.predict_proba(X)).all()


def test_keyboard_interrupt_before_any_epoch_is_reraised():
    X, y = load_iris(return_X_y=True)
    est = TorchClassifier(module=lambda i, o: InterruptAt(i, o, at=1), random_state=0)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)


def test_non_finite_predictions_are_announced():
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    with pytest.warns(RuntimeWarning, match="non-finite outputs"):
        est.predict(np.full((2, X.shape[1]), 1e308))


LABELS = {
    "int": lambda k: np.arange(k) * 3,
    "str": lambda k: np.array([f"class-{i}" for i in range(k)]),
    "bool": lambda k: np.array([False, True][:k]),
}


@st.composite
def problems(draw):
    n = draw(st.integers(1, 25))
    d = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64]))
    integer = dtype in (np.int32, np.int64)
    elements = st.integers(-1000, 1000) if integer else st.floats(-1e6, 1e6, width=32)
    X = draw(hnp.arrays(dtype, (n, d), elements=elements))
    kind = draw(
        st.sampled_from(["regression-1d", "regression-2d", "int", "str", "bool", "multilabel"])
    )
    if kind.startswith("regression"):
        shape = (n,) if kind.endswith("1d") else (n, draw(st.integers(1, 3)))
        y = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e4, 1e4)))
    elif kind == "multilabel":
        y = draw(hnp.arrays(np.int64, (n, 3), elements=st.integers(0, 1)))
    else:
        labels = LABELS[kind](draw(st.integers(1, 4)))
        y = labels[draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, len(labels) - 1)))]
    return X, y, kind


@settings(
    max_examples=int(os.environ.get("TORCHSK_FUZZ_EXAMPLES", 40)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),  # CI replays the same examples every run
)
@given(problems(), st.sampled_from(["adam", "lbfgs"]))
def test_fit_predict_succeed_with_right_outputs_or_raise_value_or_type_error(problem, solver):
    X, y, kind = problem
    Est = TorchRegressor if kind.startswith("regression") else TorchClassifier
    est = Est(hidden_layer_sizes=(4,), max_iter=3, solver=solver, random_state=0)
    try:
        est.fit(X, y)
    except (ValueError, TypeError):
        return
    pred = est.predict(X)
    one_output = Est is TorchRegressor and np.ndim(y) == 2 and np.shape(y)[1] == 1
    assert pred.shape == (np.shape(y)[:1] if one_output else np.shape(y))  # as MLPRegressor
    if Est is TorchRegressor:
        # float32 only for float32 input, as MLPRegressor's (and where y survives it:
        # tested on its own in test_estimators.py)
        assert pred.dtype == np.float64 or (pred.dtype == np.float32 and all_float32(X))
        assert np.isfinite(pred).all()
    else:
        assert set(np.unique(pred)) <= set(np.unique(y)) | {0, 1}
        proba = est.predict_proba(X)
        assert proba.shape[0] == len(X) and np.isfinite(proba).all()
        assert ((proba >= 0) & (proba <= 1)).all()


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_repeated_fits_do_not_leak_memory():
    X, y = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=20, random_state=0)
    for _ in range(20):  # warm up allocators and caches
        TorchClassifier(**params).fit(X, y).predict(X)
    before = _rss_mb()
    for _ in range(200):
        TorchClassifier(**params).fit(X, y).predict(X)
    assert _rss_mb() - before < 50


def test_predict_from_several_threads_matches_one_thread():
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(hidden_layer_sizes=(32,), max_iter=20, random_state=0).fit(X, y)
    expected = est.predict(X)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: est.predict(X), range(16)))
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_a_module_left_in_train_mode_predicts_in_eval_mode_from_every_thread():
    # the first thread to finish had put dropout back on under the other's prediction
    from torchsk.training.inference import evaluating

    net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5)).train()
    inside, released = threading.Event(), threading.Event()
    seen = []

    def first():
        with evaluating(net):
            inside.set()
            released.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(10)
    with evaluating(net):
        released.set()
        thread.join(10)  # the first prediction has ended; this one is still running
        seen.append(net.training or net[1].training)
    assert seen == [False]
    assert net.training and net[1].training  # the user's mode, back after the last one
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(
        module=nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1)),
        max_iter=3,
        random_state=0,
    )
    expected = est.fit(X, y).predict(X)
    est.module_.train()
    with ThreadPoolExecutor(2) as pool:
        for got in pool.map(lambda _: est.predict(X), range(20)):
            np.testing.assert_array_equal(got, expected)


def test_threads_calling_partial_fit_on_one_model_run_one_at_a_time():
    """Each call had raised inside torch ('NoneType' has no 'data_ptr', ...) for a
    third of them, and a failed call's rollback undid calls that had returned."""
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y)
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda _: est.partial_fit(X, y), range(30)))  # re-raises any error
    assert len(est.loss_curve_) == 31 and est.t_ == 31 * len(X)


class _PredictAtEpochEnd(EpochCallback):
    """A scikit-learn callback that predicts on 400 rows (torch's path) each epoch."""

    def __init__(self, X):
        self.X = X

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.task_name == "epoch":
            estimator.predict(self.X)
        return False


def test_a_predict_at_an_epochs_end_keeps_dropout_on_for_the_rest_of_training():
    """predict's torch path put the module in eval mode and left it so: a callback's
    predict at an epoch's end turned dropout off for the remaining epochs."""
    _assert_watching_changes_nothing(
        dict(hidden_layer_sizes=(16,), max_iter=4, dropout=0.3, random_state=0)
    )


def _assert_watching_changes_nothing(params: dict) -> None:
    """A fit whose callback predicts at each epoch's end trains as one without."""
    pytest.importorskip("sklearn.callback")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X @ [1.0, 2.0, 3.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        watched = TorchRegressor(**params)
        watched.set_callbacks(_PredictAtEpochEnd(X))
        watched.fit(X, y)
        plain = TorchRegressor(**params).fit(X, y)
    np.testing.assert_array_equal(watched.predict(X), plain.predict(X))


class _NoiseOnlyInTraining(nn.Module):
    """A user layer that keeps a flag of its own in ``train()``."""

    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.linear, self.noise_on = nn.Linear(n_inputs, n_outputs), True

    def train(self, mode=True):
        self.noise_on = mode
        return super().train(mode)

    def forward(self, x):
        out = self.linear(x)
        return out + 0.1 * torch.randn_like(out) if self.noise_on else out


def test_a_predict_at_an_epochs_end_puts_modes_back_through_train():
    """Setting the flags back directly skipped a module's own ``train()``: its noise
    stayed off for the rest of the fit."""
    _assert_watching_changes_nothing(dict(module=_NoiseOnlyInTraining, max_iter=3, random_state=0))


def test_predicting_from_several_threads_leaves_the_warning_filters_alone():
    """Each chunk's copy into torch saved and restored the process's warning filters
    (to silence torch's read-only-array warning): threads restored each other's, and
    torchsk's "ignore" filter was left installed, the user's own ones lost."""
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    read_only = X.copy()
    read_only.flags.writeable = False  # the rows that still need the filter
    with warnings.catch_warnings():
        warnings.resetwarnings()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda i: est.predict(X if i % 2 else read_only), range(200)))
        assert warnings.filters == []


def test_a_fit_inside_inference_mode_trains_as_outside_it():
    """Dropout (autograd) had failed with "element 0 of tensors does not require
    grad"; the hand-written pass had left inference tensors that partial_fit could
    not train on."""
    X, y = load_diabetes(return_X_y=True)
    for params in ({"dropout": 0.2}, {}):
        est = TorchRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0, **params)
        with torch.inference_mode():
            inside = clone(est).fit(X, y)
        np.testing.assert_array_equal(inside.predict(X), clone(est).fit(X, y).predict(X))
        inside.partial_fit(X, y)


@pytest.mark.parametrize("fitted_on", ["cpu-float32", "pickled"])
def test_values_far_from_zero_keep_their_precision_in_float32_networks(fitted_on):
    # Timestamps, IDs, prices in cents: a spread of 100 around 1e9, where float32 steps
    # are 64 wide. Scaling happens in float64 before any rounding, so the model
    # predicts exactly as on the same data centred at zero.
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(20_000, 3)) * 100
    y = np.sin(Z[:, 0] / 100) + Z[:, 1] / 100
    # without bins: their codes amplify the inputs' last digits (3e-8 here) through
    # three float32 epochs past this tolerance; the binned stage is checked below
    settings = dict(hidden_layer_sizes=(64, 64), max_iter=3, random_state=0, numeric_bins=None)
    far = TorchRegressor(**settings).fit(Z + 1e9, y + 1e9)
    near = TorchRegressor(**settings).fit(Z, y)
    assert far.module_.compute_dtype == torch.float32  # the case where it matters
    binned = [TorchRegressor(numeric_bins=16, max_iter=1).fit(Z + d, y) for d in (1e9, 0)]
    with torch.no_grad():  # the stage's output, float64: the same numbers far or near
        far_in = binned[0].module_.inputs(torch.tensor(Z[:500] + 1e9))
        near_in = binned[1].module_.inputs(torch.tensor(Z[:500]))
    np.testing.assert_allclose(far_in.numpy(), near_in.numpy(), atol=1e-6)
    if fitted_on == "pickled":
        far = pickle.loads(pickle.dumps(far))
    far_pred = far.predict(Z + 1e9) - 1e9
    np.testing.assert_allclose(far_pred, near.predict(Z), atol=1e-3 * y.std())


# ---------------------------------------------------------------- set_params + refit, threads
_FUZZ = settings(
    max_examples=int(os.environ.get("TORCHSK_FUZZ_EXAMPLES", 40)) // 3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
_CHANGES = {
    "hidden_layer_sizes": st.sampled_from([(), (4,), (3, 2)]),
    "activation": st.sampled_from(["relu", "tanh"]),
    "solver": st.sampled_from(["adam", "sgd", "rprop", "lbfgs"]),
    "learning_rate_init": st.sampled_from([1e-3, 1e-2]),
    "dropout": st.sampled_from([0.0, 0.2]),
    "input_scaling": st.sampled_from(["standard", "minmax", None]),
    "warm_start": st.booleans(),
    "early_stopping": st.booleans(),
    "random_state": st.sampled_from([0, 1]),
}
_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(40, 3))
_TARGETS = {
    TorchRegressor: _X @ [1.0, -1.0, 0.5],
    TorchClassifier: np.where(_X[:, 0] > 0, "a", "b"),
}


def _network_matches(est):
    config = est.module_.backbone.config
    sizes = list(np.atleast_1d(est.hidden_layer_sizes)) if est.hidden_layer_sizes != () else []
    return (config["hidden_layer_sizes"], config["activation"], config["dropout"]) == (
        sizes,
        est.activation,
        est.dropout,
    )


@_FUZZ
@given(
    st.sampled_from([TorchRegressor, TorchClassifier]),
    st.lists(st.fixed_dictionaries({}, optional=_CHANGES), min_size=1, max_size=4),
)
def test_set_params_and_refits_give_the_parameters_model_or_change_nothing(Est, steps):
    """Warm or cold, a refit after set_params either trains the network the parameters
    describe (a cold one exactly as a fresh estimator would) or raises a ValueError and
    leaves the fitted model as it was."""
    X, y = _X, _TARGETS[Est]
    est = Est(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
        for change in steps:
            before = est.predict(X)
            est.set_params(**change)
            try:
                est.fit(X, y)
            except ValueError:
                np.testing.assert_array_equal(est.predict(X), before)
                continue
            pred = est.predict(X)
            assert pred.shape == np.shape(y) and _network_matches(est)
            if not est.warm_start:
                np.testing.assert_array_equal(pred, clone(est).fit(X, y).predict(X))


@pytest.mark.parametrize("Est", [TorchRegressor, TorchClassifier])
def test_a_failed_fit_restores_every_private_attribute_a_fit_sets(Est):
    """A fit that raises leaves the fitted state as it was: every private attribute a
    fit sets is among those it saves (``fitstate.FITTED_PRIVATE``)."""
    from torchsk.estimators.fitstate import FITTED_PRIVATE

    est = Est(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    before = set(vars(est))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(_X, _TARGETS[Est])
    private = {k for k in vars(est) if k not in before and not k.endswith("_")}
    assert private and private <= FITTED_PRIVATE, private - FITTED_PRIVATE


class _DropoutNet(nn.Module):
    """A user backbone that draws from torch's global generator while training."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, 8), nn.Tanh(), nn.Dropout(0.3), nn.Linear(8, n_out)
        )

    def forward(self, x):
        return self.net(x)


_FIT = st.fixed_dictionaries(
    {
        "solver": st.sampled_from(["adam", "sgd", "lbfgs"]),
        "dropout": st.sampled_from([0.0, 0.3]),
        "random_state": st.integers(0, 3),
        "module": st.sampled_from([None, _DropoutNet]),
    }
)


@_FUZZ
@given(st.lists(_FIT, min_size=2, max_size=4))
def test_threaded_fits_match_sequential_fits_and_keep_the_callers_rng(configs):
    X, y = _X, _TARGETS[TorchRegressor]

    def fit_predict(params):
        est = TorchRegressor(hidden_layer_sizes=(6,), max_iter=5, batch_size=8, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return est.fit(X, y).predict(X)

    expected = [fit_predict(c) for c in configs]
    torch.manual_seed(7)
    draws = torch.rand(3)
    torch.manual_seed(7)
    with ThreadPoolExecutor(max_workers=len(configs)) as pool:
        threaded = list(pool.map(fit_predict, configs))
    torch.testing.assert_close(torch.rand(3), draws)
    for got, want in zip(threaded, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_fits_of_the_built_in_network_leave_other_threads_draws_alone():
    """A fit of the built-in network draws from its own generators only, so a thread
    drawing from torch's global generator meanwhile never gets its stream rewound
    (a build under ``fork_rng`` hands it the fit's seeded stream, then restores the
    state it found: every fit of the same seed repeated those numbers)."""
    X, y = _X, _TARGETS[TorchRegressor]
    done, draws = threading.Event(), []

    def draw():
        while not done.is_set():
            draws.append(torch.rand(1, dtype=torch.float64).item())

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # let the thread run inside the fits' build
    thread = threading.Thread(target=draw)
    thread.start()
    try:
        for _ in range(20):
            TorchRegressor(hidden_layer_sizes=(6,), max_iter=1, random_state=0).fit(X, y)
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert len(draws) > 100 and len(set(draws)) == len(draws)


@pytest.mark.parametrize("n_ensemble", [1, 4])
def test_a_diverging_fit_is_reported_in_our_words_without_numpys_overflow_warnings(n_ensemble):
    """The numpy pass (float64 on the CPU) overflows as the fit diverges: the
    ConvergenceWarning says so and what to change; numpy's RuntimeWarnings named nothing."""
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(solver="sgd", learning_rate_init=1e8, max_iter=5,
                         n_ensemble=n_ensemble, random_state=0)  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    assert est._plan.objective == "numpy"
    assert any("diverged" in str(w.message) for w in caught if w.category is ConvergenceWarning)
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []


def test_a_diverged_classifier_never_predicts_nan_probabilities():
    """Weights of ~1e12 in float32 overflow the forward pass: the last epoch with a
    finite loss ended with them, and predict_proba was NaN on every training row.
    The weights that began that epoch are kept instead."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    clf = TorchClassifier(solver="adamw", learning_rate_init=1e4, hidden_layer_sizes=(256, 256),
                          max_iter=10, random_state=0)  # fmt: skip
    with pytest.warns(ConvergenceWarning, match="its lowest-loss and last finite iterations"):
        clf.fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_a_diverged_fit_whose_kept_weights_overflow_is_refused_untouched(monkeypatch):
    """Where even those weights give non-finite outputs, the fit raises (as
    MLPClassifier refuses non-finite weights) and the fitted model stays as it was."""
    from torchsk.training import loop

    X, y = load_iris(return_X_y=True)
    clf = TorchClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    before = clf.predict_proba(X)

    def overflowing(module, *args, **kwargs):  # a fit that diverged and kept inf weights
        history = loop.History(stopped="diverged")
        with torch.no_grad():
            for p in module.parameters():
                p.fill_(float("inf"))
        return history

    monkeypatch.setattr(loop, "_train_epochs", overflowing)
    with pytest.raises(ValueError, match="would predict NaN"):
        clf.set_params(warm_start=True).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
