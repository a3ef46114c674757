"""scikit-learn's own estimator suite, run on both estimators with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from torchsk import TorchClassifier, TorchRegressor

pytestmark = pytest.mark.short_fits  # the checks' small max_iter

# Small CPU configurations keep the suite fast (as scikit-learn does for its MLPs).
ESTIMATORS = [
    TorchRegressor(max_iter=100),
    TorchClassifier(max_iter=100),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
