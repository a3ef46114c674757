"""scikit-learn's own estimator suite, run on both estimators and on the batched search
with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from torchsk import BatchedSearchCV, TorchClassifier, TorchRegressor

pytestmark = pytest.mark.short_fits  # the checks' small max_iter

# Small CPU configurations keep the suite fast (as scikit-learn does for its MLPs).
ESTIMATORS = [
    TorchRegressor(max_iter=100),
    TorchClassifier(max_iter=100),
    # a meta-estimator: the checks seed only a top-level random_state, so the inner one is set
    BatchedSearchCV(TorchRegressor(max_iter=100, random_state=0), {"alpha": [1e-4, 1e-2]}, cv=3),
    BatchedSearchCV(TorchClassifier(max_iter=100, random_state=0), {"alpha": [1e-4, 1e-2]}, cv=3),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
