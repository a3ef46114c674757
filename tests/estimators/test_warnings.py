"""Warnings point at the user's line (here: this file), through scikit-learn's wrappers."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from epoch_callback import EpochCallback
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from torchsk import TorchClassifier, TorchRegressor

X = np.random.default_rng(0).normal(size=(40, 3))
Y = X[:, 0] - X[:, 1]
LABELS = (Y > 0).astype(int)
SHORT = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)


def _diverge():
    reg = TorchRegressor(**SHORT).fit(X, Y)
    reg.module_.backbone.output.weight.data.fill_(np.inf)
    return reg.predict(X)


CALLS = {
    "max_iter": (ConvergenceWarning, lambda: TorchRegressor(**SHORT).fit(X, Y)),
    "max_iter, lbfgs": (
        ConvergenceWarning,
        lambda: TorchClassifier(solver="lbfgs", **SHORT).fit(X, LABELS),
    ),
    "batch_size clipped": (
        UserWarning,
        lambda: TorchRegressor(batch_size=100, **SHORT).fit(X, Y),
    ),
    "column-vector y": (
        DataConversionWarning,
        lambda: TorchClassifier(**SHORT).fit(X, LABELS[:, None]),
    ),
    "non-finite predictions": (RuntimeWarning, _diverge),
    "in a pipeline": (
        ConvergenceWarning,
        lambda: make_pipeline(FunctionTransformer(), TorchRegressor(**SHORT)).fit(X, Y),
    ),
    "in cross-validation": (
        ConvergenceWarning,
        lambda: cross_val_score(TorchRegressor(**SHORT), X, Y, cv=2),
    ),
    "partial_fit": (UserWarning, lambda: TorchRegressor(batch_size=100).partial_fit(X, Y)),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_warnings_point_at_the_callers_line(name):
    category, call = CALLS[name]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        call()
    ours = [w for w in seen if issubclass(w.category, category)]
    assert ours, [str(w.message) for w in seen]
    assert {w.filename for w in ours} == {__file__}


def test_filtering_by_the_callers_module_works():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", category=ConvergenceWarning, module=__name__)
        with pytest.raises(ConvergenceWarning):
            TorchRegressor(**SHORT).fit(X, Y)


def test_a_read_only_x_with_missing_values_fits_without_torchs_writability_warning():
    """torch warns that a non-writable array cannot back a writable tensor; torchsk
    only reads X, so the warning says nothing true. torch warns once per process,
    hence a fresh interpreter."""
    code = (
        "import warnings, numpy as np\n"
        "from torchsk import TorchRegressor\n"
        "X = np.tile([[1.0, 2.0], [np.nan, 1.0], [3.0, 0.5], [4.0, 3.0]], (10, 1))\n"
        "X.setflags(write=False)\n"
        "warnings.simplefilter('ignore')\n"
        "warnings.filterwarnings('error', message='.*not writable')\n"
        "TorchRegressor(max_iter=2, random_state=0).fit(X, np.arange(40.0))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_documented_filter_for_mlp_code_silences_our_convergence_warning():
    """The gallery's filter names scikit-learn's module, which our warnings (at the
    user's line) are not attributed to; the README's equivalent leaves it out."""
    gallery = dict(category=ConvergenceWarning, module="sklearn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", **gallery)
        with pytest.raises(ConvergenceWarning):
            TorchRegressor(**SHORT).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # anything the filter let through would raise
        warnings.filterwarnings("ignore", category=ConvergenceWarning)  # the README's
        TorchRegressor(**SHORT).fit(X, Y)
        TorchClassifier(solver="lbfgs", **SHORT).fit(X, LABELS)


@pytest.mark.parametrize(
    "solver, sklearn_text",
    [
        ("adam", "Stochastic Optimizer: Maximum iterations"),
        ("sgd", "Stochastic Optimizer: Maximum iterations"),
        # scikit-learn's whole prefix, its status included
        ("lbfgs", r"lbfgs failed to converge after \d+ iteration\(s\) \(status=1\)"),
    ],
)
def test_a_filter_on_scikit_learns_text_catches_the_warning(solver, sklearn_text):
    # a user silences MLPRegressor's "did not converge" warning by its text; the same
    # filter silences torchsk's (it used to read "adam: maximum iterations ...")
    from sklearn.neural_network import MLPRegressor

    # a fit short enough to stop unconverged, long enough to beat a constant (torchsk
    # would warn about that too)
    params = dict(SHORT, max_iter=20, learning_rate_init=0.05)
    for est in (MLPRegressor(solver=solver, **params), TorchRegressor(solver=solver, **params)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", message=sklearn_text, category=ConvergenceWarning)
            est.fit(X, Y)
        assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)], est


class _Uphill(torch.autograd.Function):
    """The identity whose gradient points the wrong way: no line search finds a
    lower loss along it (scipy's status 2, "ABNORMAL")."""

    @staticmethod
    def forward(ctx, z):
        return z.clone()

    @staticmethod
    def backward(ctx, g):
        return -g


class _UphillLoss(torch.nn.MSELoss):
    def forward(self, z, y):
        return super().forward(_Uphill.apply(z), y)


def test_an_abnormal_lbfgs_stop_warns_as_scikit_learn_s_mlp_does():
    # scikit-learn warns of every L-BFGS status but 0 ("lbfgs failed to converge ...
    # (status=2): ABNORMAL"); a failed line search had counted as converged, silently
    reg = TorchRegressor(solver="lbfgs", loss=_UphillLoss(reduction="none"), random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.fit(X, Y)
    texts = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(texts) == 1, texts
    assert texts[0].startswith(
        f"lbfgs failed to converge after {reg.n_iter_} iteration(s) (status=2):"
    )
    assert "ABNORMAL" in texts[0] and "gradient does not match" in texts[0]
    assert np.isfinite(reg.predict(X)).all()  # the kept weights: a fitted model


class _StopAtThirdEpoch(EpochCallback):
    """An ``sklearn.callback`` callback that raises StopIteration at its third epoch."""

    def __init__(self):
        self.epochs = 0

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.task_name == "epoch":
            self.epochs += 1
            if self.epochs == 3:
                raise StopIteration


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_callback_s_stop_iteration_is_raised_by_every_solver(solver):
    # scipy swallows a callback's StopIteration (status 99): L-BFGS's fit had ended
    # there, told first as a failed line search, then as converged, where adam's
    # raised it. Raised by both, the model left as it was (callbacks ask to stop by
    # returning True)
    reg = TorchRegressor(solver=solver, random_state=0).set_callbacks(_StopAtThirdEpoch())
    with pytest.raises(StopIteration):
        reg.fit(X, Y)
    assert not hasattr(reg, "module_")


def _named_small_weights(fit) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [str(w.message) for w in caught if "weights (class_weight included)" in str(w.message)]


@pytest.mark.parametrize("weights, warned", [(1e-3, True), (0.5, False), (1e3, False)])
def test_sample_weights_far_below_one_are_named_with_the_penalty_they_inflate(weights, warned):
    # a weight of k counts as k samples in the L2 penalty (scikit-learn's semantics):
    # weights summing to 1 (AdaBoost's) made the default penalty flatten the model
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = X[:, 0] + rng.normal(size=60) * 0.1
    sw = np.full(60, weights)
    named = _named_small_weights(
        lambda: TorchRegressor(max_iter=2, random_state=0).fit(X, y, sample_weight=sw)
    )
    assert len(named) == warned
    if warned:
        assert "average 0.001" in named[0] and "1e+03 times harder" in named[0]
    # never without a penalty to inflate
    no_penalty = TorchRegressor(max_iter=2, alpha=0.0, random_state=0)
    assert not _named_small_weights(lambda: no_penalty.fit(X, y, sample_weight=sw))


def test_small_weights_are_named_for_batches_searches_and_class_weight():
    from torchsk import BatchedSearchCV

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = X[:, 0]
    sw = np.full(60, 1 / 60)
    batches = [(X[:30], y[:30], sw[:30]), (X[30:], y[30:], sw[30:])]

    class Batches:  # an iterable of batches that is not a list: read pass after pass
        def __iter__(self):
            return iter(batches)

    est = TorchRegressor(max_iter=2, random_state=0)
    assert _named_small_weights(lambda: est.fit(Batches()))  # the streamed path too
    # a search's members by their own alpha: none with alpha 0, one with alpha 10
    for grid, warned in [({"alpha": [0.0]}, False), ({"alpha": [0.0, 10.0]}, True)]:
        search = BatchedSearchCV(TorchRegressor(max_iter=2, alpha=0.0), grid, cv=2)
        named = _named_small_weights(lambda s=search: s.fit(X, y, sample_weight=sw))
        assert bool(named) == warned and (not warned or "alpha=10" in named[0])
    clf = TorchClassifier(max_iter=2, class_weight={0: 0.01, 1: 0.02}, random_state=0)
    assert _named_small_weights(lambda: clf.fit(X, y > 0))  # no sample_weight given


@pytest.mark.short_fits
def test_weights_beyond_float32_train_as_their_ratios_and_the_penalty_say():
    """A float32 network's weights are rescaled by a power of two (the penalty alike):
    weights of 1e39 had been infinite (training diverged), 1e-46 all zero (a
    ZeroDivisionError). The objective is the same: weights 2**30 times larger with
    alpha a are weights 1 with alpha a / 2**30, to the bit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    y = X @ rng.normal(size=20) + rng.normal(size=3000)
    big = dict(hidden_layer_sizes=(256,), max_iter=3, random_state=0)
    plain = TorchRegressor(**big, alpha=0.0).fit(X, y)
    assert plain._plan.dtype == torch.float32
    for factor in (2.0**130, 2.0**-160):  # about 1.4e39 and 6.8e-49
        est = TorchRegressor(**big, alpha=0.0).fit(X, y, sample_weight=np.full(3000, factor))
        np.testing.assert_array_equal(est.predict(X), plain.predict(X))
        assert est.loss_curve_ == pytest.approx(plain.loss_curve_, rel=1e-6)  # weighted mean
    small = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)  # float64
    X, y = X[:200], y[:200]
    light = TorchRegressor(**small, alpha=1e-3 / 2**30).fit(X, y)
    heavy = TorchRegressor(**small, alpha=1e-3).fit(X, y, sample_weight=np.full(200, 2.0**30))
    np.testing.assert_array_equal(heavy.predict(X), light.predict(X))
    # batches too, where one holds weights of exactly 1 (taken as 1 in the rescaled
    # units, it had counted 2**30 times too much)

    class Batches:
        def __init__(self, w):
            self.w = w

        def __iter__(self):
            return ((X[i : i + 50], y[i : i + 50], self.w[i : i + 50]) for i in (0, 50, 100, 150))

    low, high = np.full(200, 3.0), np.full(200, 3.0 * 2**30)
    low[:50], high[:50] = 2.0**-30, 1.0
    fits = [TorchRegressor(**small, alpha=0.0).fit(Batches(w)).predict(X) for w in (low, high)]
    np.testing.assert_array_equal(fits[0], fits[1])
    # a penalty 1e30 times the data's is refused, the fitted model kept
    before = heavy.predict(X)
    with pytest.raises(ValueError, match="average 1e-46.*or set alpha=0"):
        heavy.fit(X, y, sample_weight=np.full(200, 1e-46))
    np.testing.assert_array_equal(heavy.predict(X), before)


@pytest.mark.parametrize(
    "params, warned",
    [(dict(loss="quantile"), True), (dict(loss="huber"), True),
     (dict(loss="squared_error"), False), (dict(loss="quantile", early_stopping=False), False)],
)  # fmt: skip
def test_early_stopping_on_r2_is_named_for_a_loss_that_aims_elsewhere(params, warned):
    # held-out R² kept a 0.9-quantile fit's epoch covering 74% instead of 91%
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    est = TorchRegressor(**({"early_stopping": True, "max_iter": 3} | params))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, X[:, 0])
    named = [w for w in caught if "early_stopping keeps the epoch" in str(w.message)]
    assert len(named) == warned


def test_a_search_with_early_stopping_on_a_robust_loss_says_so_too():
    from torchsk import BatchedSearchCV

    X = np.random.default_rng(0).normal(size=(60, 2))
    est = TorchRegressor(loss="quantile", early_stopping=True, max_iter=2, random_state=0)
    search = BatchedSearchCV(est, {"alpha": [0.1, 1.0]}, cv=2, refit=False)
    with pytest.warns(UserWarning, match="early_stopping keeps the epoch of the best"):
        search.fit(X, X[:, 0])


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({}, r"the weights of its best validation score \(-\d"),
        ({"n_ensemble": 3, "member_rows": "folds"}, "each kept its best epoch's weights"),
    ],
)
def test_a_diverged_fit_with_early_stopping_says_it_kept_its_best_epoch(params, said):
    """Early stopping keeps the best validation epoch's weights (scikit-learn's rule),
    also after a divergence: the warnings had said the last finite weights were kept.
    One network's only scored epoch scored -1e111 here: the weights it went back to
    (its initial ones, never scored) score better and are kept, as its best."""
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    y = X[:, 0] + np.sin(X[:, 1]) + 0.1 * rng.randn(200)
    est = TorchRegressor(hidden_layer_sizes=(8,), early_stopping=True, solver="sgd",
                         learning_rate_init=0.5, batch_size=32, max_iter=30, random_state=1,
                         **params)  # fmt: skip
    with pytest.warns(ConvergenceWarning, match=f"Training diverged.*{said}"):
        est.fit(X, y)
    if not params:  # predicted ~1e56 before
        assert est.best_validation_score_ > -100 and np.abs(est.predict(X)).max() < 100
