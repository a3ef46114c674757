"""scikit-learn's own estimator suite, run on both estimators and on the batched search
with no expected failures."""

import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

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


@pytest.mark.parametrize(
    ("estimator", "check"),
    [
        # a sigmoid head trains no multiclass target, a softmax one no multilabel target
        (TorchClassifier(loss="binary_cross_entropy", max_iter=5),
         "check_classifier_not_supporting_multiclass"),
        (TorchClassifier(loss=nn.BCEWithLogitsLoss(), max_iter=5),
         "check_classifier_not_supporting_multiclass"),
        # options a fit on sparse X refuses: the sparse tag says so
        (TorchRegressor(numeric_bins=4, max_iter=5), "check_estimator_sparse_tag"),
        (TorchRegressor(input_scaling="robust", max_iter=5), "check_estimator_sparse_tag"),
        (TorchRegressor(n_ensemble=2, member_rows="folds", max_iter=5),
         "check_estimator_sparse_tag"),
        (TorchRegressor(max_iter=5), "check_estimator_sparse_tag"),
        # an explicit categorical_features on an array-like of __array__ alone
        (TorchRegressor(categorical_features=[0], max_iter=20),
         "check_regressor_data_not_an_array"),
        (TorchClassifier(categorical_features=[False, True], max_iter=20),
         "check_classifier_data_not_an_array"),
    ],
)  # fmt: skip
def test_tags_follow_the_parameters(estimator, check):
    """Tags had been constants (multi_label and sparse always True): scikit-learn's
    checks, and the meta-estimators that read them, took these settings for ones
    that train such targets and X."""
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


def test_the_target_tags_say_what_head_and_loss_train():
    """scikit-learn's checks skip multilabel targets and negative y by these tags."""
    for head, multilabel in (("softmax", False), ("log_softmax", False), ("sigmoid", True)):
        tags = TorchClassifier(head=head).__sklearn_tags__().classifier_tags
        assert tags.multi_label == multilabel and tags.multi_class == (not multilabel)
    assert not TorchClassifier(loss="nll").__sklearn_tags__().classifier_tags.multi_label
    for est in (TorchRegressor(loss="poisson"), TorchRegressor(head="softplus")):
        assert est.__sklearn_tags__().target_tags.positive_only
    assert not TorchRegressor().__sklearn_tags__().target_tags.positive_only


def test_a_greedy_search_s_tags_say_it_selects_single_label_classifiers():
    """Its fit refuses multilabel y; the tag had said it trains them, so scikit-learn's
    checks (and meta-estimators reading tags) fed it such targets."""
    inner = TorchClassifier(max_iter=5)
    assert BatchedSearchCV(inner, {"alpha": [1.0]}).__sklearn_tags__().classifier_tags.multi_label
    greedy = BatchedSearchCV(inner, {"alpha": [1.0]}, ensemble="greedy")
    assert not greedy.__sklearn_tags__().classifier_tags.multi_label
