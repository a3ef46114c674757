"""scikit-learn's own estimator suite, run on both estimators with no expected failures,
and on the batched search with one, named below."""

import pytest
from sklearn.base import is_classifier
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


def expected_failures(estimator) -> dict:
    """The search's folds are drawn over the rows given: a row repeated in place of a
    weight moves rows between folds, so weights and repeats fit other members (as
    they do in GridSearchCV)."""
    if not isinstance(estimator, BatchedSearchCV) or is_classifier(estimator):
        return {}  # the classifier's weighted and repeated searches pick the same alpha
    why = "repeated rows move between folds: other members are fitted, as in GridSearchCV"
    return {"check_sample_weight_equivalence_on_dense_data": why}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
