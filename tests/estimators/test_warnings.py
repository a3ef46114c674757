"""Warnings point at the user's line (here: this file), through scikit-learn's wrappers."""

import warnings

import numpy as np
import pytest
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
