"""No silently wrong model (issue 17): each case used to return a model that looked
fitted and was wrong; now it is right, refused with a clear error, or warned about."""

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from torch import nn

from torchsk import TorchClassifier, TorchRegressor

SMALL = dict(hidden_layer_sizes=(8,), random_state=0)


def _linear_problem(n=200, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ np.arange(1.0, d + 1) + 0.1 * rng.normal(size=n)


def _binary_problem(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")


# ---------------------------------------------------------------- 14 and 15: partial_fit refusals
def test_partial_fit_refuses_balanced_class_weight_as_sgd_classifier_does():
    X, y = _binary_problem()
    est = TorchClassifier(class_weight="balanced", **SMALL)
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        est.partial_fit(X, y, classes=["no", "yes"])


def test_partial_fit_refuses_early_stopping_as_scikit_learn_does():
    X, y = _linear_problem()
    est = TorchRegressor(early_stopping=True, max_iter=5, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        est.partial_fit(X, y)
    assert len(est.loss_curve_) == len(est.validation_scores_)


# ---------------------------------------------------------------- 10: binary decision_function
@pytest.mark.parametrize("head", ["softmax", "log_softmax", "sigmoid"])
def test_binary_decision_function_is_one_dimensional_whatever_the_head(head):
    X, y = _binary_problem()
    est = TorchClassifier(head=head, solver="lbfgs", **SMALL).fit(X, y)
    scores = est.decision_function(X)
    assert scores.shape == (len(X),)
    np.testing.assert_array_equal(est.classes_[(scores > 0).astype(int)], est.predict(X))
    assert cross_val_score(est, X, y, cv=2, scoring="roc_auc").min() > 0.9


# ---------------------------------------------------------------- 11: module loss picks the head
def test_a_cross_entropy_module_on_a_binary_target_trains_two_logits():
    X, y = _binary_problem()
    est = TorchClassifier(loss=nn.CrossEntropyLoss(), max_iter=30, **SMALL).fit(X, y)
    assert est.score(X, y) > 0.9


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), nn.NLLLoss()])
def test_a_class_index_loss_module_with_a_one_logit_head_is_refused(loss):
    X, y = _binary_problem()
    with pytest.raises(ValueError, match="sigmoid"):
        TorchClassifier(loss=loss, head="sigmoid", max_iter=3, **SMALL).fit(X, y)
