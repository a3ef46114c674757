"""``TorchClassifier``: a scikit-learn classifier backed by a PyTorch MLP."""

from __future__ import annotations

from numbers import Real
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from torch import nn

from torchsk.data.tensors import follows_input
from torchsk.estimators.base import BaseTorchEstimator
from torchsk.estimators.callbacks import with_callbacks
from torchsk.estimators.class_weights import balances_per_call
from torchsk.estimators.docs import (
    COMMON_ATTRIBUTES,
    COMMON_PARAMETERS,
    FIT_SAMPLE_WEIGHT,
    FIT_X,
    FIT_X_VAL,
    PARTIAL_FIT_NOTES,
    PARTIAL_FIT_X,
    fill_docstring,
)
from torchsk.estimators.fitstate import revalidating
from torchsk.estimators.targets import ScoresTargetsAsFitReadsThem, checked_classes, ravel_column
from torchsk.estimators.tasks import ClassificationTask
from torchsk.nn.heads import CLASSIFIER_HEADS
from torchsk.training.losses import CLASSIFICATION, LOSS_NAMES, LossOptions


def _stochastic_solver(est) -> bool:
    """``partial_fit``'s availability, as ``MLPClassifier``'s: not for ``"lbfgs"``,
    which would run a whole fit on each call."""
    if est.solver == "lbfgs":
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} is "
            "not stochastic."
        )
    return True


class TorchClassifier(ScoresTargetsAsFitReadsThem, ClassifierMixin, BaseTorchEstimator):
    """Classifier backed by a PyTorch MLP that scales its own inputs.

    A drop-in for :class:`sklearn.neural_network.MLPClassifier` that works on raw
    data. Binary, multiclass and multilabel targets; labels of any kind. Training
    always feeds logits to a numerically stable loss.

    Parameters
    ----------
    {common_parameters}
    head : {{"auto", "softmax", "log_softmax", "sigmoid"}}, default="auto"
        Output layer. ``"auto"``: sigmoid for binary and multilabel targets, softmax
        for multiclass. See ``docs/heads-and-losses.md`` for the table of valid
        head × loss × target combinations.
    loss : {{"auto", "log_loss", "nll", "binary_cross_entropy"}} or nn.Module, \
default="auto"
        Training loss: cross-entropy (``"log_loss"``, softmax head), negative
        log-likelihood (``"nll"``, log-softmax head), binary cross-entropy (sigmoid
        head), or a torch loss module called as ``loss(logits, target)``.
    class_weight : dict, list of dicts, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``
        (``sklearn.utils.class_weight.compute_sample_weight``): a dict of class to
        weight; for multilabel y a list of such dicts, one per label, keyed by 0 and 1.
        ``"balanced"`` weighs each class by n / (n_classes * its count), the counts
        weighted by ``sample_weight`` for one output (as ``LogisticRegression``'s), so
        rows of weight 0 count as left out. They weigh the loss and early stopping's
        score, not the input stage's statistics (scaling, imputation, which levels
        are rare), which ``sample_weight`` alone weighs.
    label_smoothing : float, default=0.0
        Label smoothing of the built-in losses (``"log_loss"``, ``"nll"``,
        ``"binary_cross_entropy"``). Not used with a torch loss module, which takes
        its own (``nn.CrossEntropyLoss(label_smoothing=...)``), as scikit-learn's
        estimators leave parameters of another loss unused.
    **module__ : keyword arguments ``module__<name>=value``
        Arguments of a ``module`` class or builder, passed to it as ``<name>=value``
        (see ``module``); ``get_params``, ``set_params`` and ``GridSearchCV`` see them.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (``arange(n_labels)`` for multilabel targets).
    {common_attributes}

    See Also
    --------
    TorchRegressor : The regressor counterpart.
    sklearn.neural_network.MLPClassifier : scikit-learn's MLP, which does not scale.

    Examples
    --------
    >>> import numpy as np
    >>> from torchsk import TorchClassifier
    >>> X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]]) * 1000
    >>> y = np.array(["small"] * 3 + ["large"] * 3)
    >>> clf = TorchClassifier(solver="lbfgs", random_state=0).fit(X, y)
    >>> clf.predict([[500.0], [11500.0]]).tolist()
    ['small', 'large']
    """

    _parameter_constraints = {
        **BaseTorchEstimator._parameter_constraints,
        "head": [StrOptions({"auto", *CLASSIFIER_HEADS})],
        "loss": [StrOptions(LOSS_NAMES[CLASSIFICATION]), nn.Module],
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.3,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=2e-3,
        power_t=0.5,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        max_iter=200,
        max_fun=15000,
        tol=1e-4,
        n_iter_no_change=10,
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        warm_start=False,
        random_state=None,
        verbose=False,
        dropout=0.0,
        n_ensemble=1,
        member_rows="all",
        input_scaling="auto",
        numeric_bins=None,
        device="cpu",
        module=None,
        categorical_features="auto",
        head="auto",
        loss="auto",
        class_weight=None,
        label_smoothing=0.0,
        **module__,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            max_iter=max_iter,
            max_fun=max_fun,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            shuffle=shuffle,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            warm_start=warm_start,
            random_state=random_state,
            verbose=verbose,
            dropout=dropout,
            n_ensemble=n_ensemble,
            member_rows=member_rows,
            input_scaling=input_scaling,
            numeric_bins=numeric_bins,
            device=device,
            module=module,
            categorical_features=categorical_features,
            **module__,
        )
        self.head = head
        self.loss = loss
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    @with_callbacks
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, *, X_val=None, y_val=None,
            sample_weight_val=None):  # fmt: skip
        """Fit the model to data X and labels y.

        Parameters
        ----------
        {fit_x}
        y : array-like of shape (n_samples,) or (n_samples, n_labels), default=None
            Class labels, or a 0/1 multilabel indicator matrix.
        {fit_sample_weight}
        {fit_x_val}
        y_val : array-like of shape (n_val,) or (n_val, n_labels), default=None
            Labels of ``X_val``, of the classes seen in y.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation rows in the score (``class_weight`` multiplied in).

        Returns
        -------
        self : TorchClassifier
            The fitted estimator.
        """
        return self._fit(
            X,
            ravel_column(y),
            sample_weight,
            X_val=X_val,
            y_val=ravel_column(y_val),
            sample_weight_val=sample_weight_val,
        )

    @available_if(_stochastic_solver)
    @with_callbacks
    @revalidating
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data.

        {partial_fit_notes}

        Parameters
        ----------
        {partial_fit_x}
        y : array-like of shape (n_samples,) or (n_samples, n_labels), default=None
            Target values; None only with an iterable of batches, which carry them.
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            All classes; required on the first call, when ``y`` may not show them all.
            After ``sample_weight``, as in ``MLPClassifier.partial_fit``.

        Returns
        -------
        self : TorchClassifier
        """
        self._check_partial_fit()
        if not hasattr(self, "module_") and classes is None:
            order = (  # classes given third, as older scikit-learn and SGDClassifier take them
                " It comes after sample_weight, as in MLPClassifier.partial_fit(X, y, "
                "sample_weight=None, classes=None): pass it by name, classes=..."
                if sample_weight is not None
                else ""
            )
            raise ValueError(f"classes must be passed on the first call to partial_fit.{order}")
        if hasattr(self, "module_") and classes is not None:
            if not np.array_equal(np.unique(checked_classes(classes)), self.classes_):
                raise ValueError(
                    f"classes={np.asarray(classes).tolist()} is not the same as on the first "
                    f"call to partial_fit: {self.classes_.tolist()}."
                )
        return self._fit(X, ravel_column(y), sample_weight, incremental=True, classes=classes)

    def _check_partial_fit(self) -> None:
        super()._check_partial_fit()
        if balances_per_call(self.class_weight):
            # scikit-learn's SGDClassifier's message: per-call class frequencies are
            # those of one batch (no weight at all on a single-class batch)
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit. In order to "
                "use 'balanced' weights, use compute_class_weight('balanced', "
                "classes=classes, y=y). In place of y you can use a large enough sample "
                "of the full training set target to properly estimate the class "
                "frequency distributions. Pass the resulting weights as the class_weight "
                "parameter."
            )

    @follows_input
    def decision_function(self, X):
        """Confidence scores: the logits, or for binary targets one score per sample
        (the log-odds of ``classes_[1]``, whatever the head).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        z = self._forward(X)  # checks that the model is fitted first
        return self._task.decision(z)

    @follows_input
    def predict_proba(self, X):
        """Class probabilities (rows sum to 1), or per-label probabilities (multilabel).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            float64 whatever X's dtype (``MLPClassifier``'s follow a float32 X; here
            ``predict_log_proba``, computed from the logits, must agree with its log
            to 1e-9, which float32 probabilities near 1 cannot).
        """
        return self._forward(X, proba=True)

    @follows_input
    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``, computed stably from the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        z = torch.as_tensor(self._forward(X))
        return self._task.head_spec.log_proba(z, self._task.target_type).numpy()

    @follows_input
    def predict(self, X):
        """Predict labels from ``classes_`` (a 0/1 matrix for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        z = self._forward(X)  # checks that the model is fitted first
        return self._predictions(z)

    def _predictions(self, z):
        """``predict``'s result from the network's output (logits on raw X)."""
        return self._task.labels(z)

    def _new_task(self) -> ClassificationTask:
        return ClassificationTask(
            head=self.head,
            loss=self.loss,
            class_weight=self.class_weight,
            options=LossOptions(label_smoothing=self.label_smoothing),
        )

    def _record(self, history, first, incremental, units):
        super()._record(history, first, incremental, units)
        self.classes_ = self._task.target.classes_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # what head and loss train: a softmax head no multilabel y, a sigmoid one no
        # multiclass y (scikit-learn's checks and meta-estimators read these)
        tags.classifier_tags.multi_label = _trains(self, "multilabel-indicator")
        tags.classifier_tags.multi_class = _trains(self, "multiclass")
        return tags


def _trains(est: TorchClassifier, target_type: str) -> bool:
    """Whether ``est``'s ``head`` and ``loss`` train a ``target_type`` target: False
    where the task's head refuses it (a named loss it does not know included), True
    where no task can be built from the parameters (``fit``'s validation says why)."""
    try:
        task = est._new_task()
        task.target = SimpleNamespace(target_type_=target_type)  # all head_spec reads
        task.head_spec  # noqa: B018 (it raises for a head and loss that cannot train it)
    except ValueError:
        return False
    except Exception:  # noqa: BLE001
        return True
    return True


fill_docstring(
    TorchClassifier, common_parameters=COMMON_PARAMETERS, common_attributes=COMMON_ATTRIBUTES
)
fill_docstring(
    TorchClassifier.partial_fit, partial_fit_notes=PARTIAL_FIT_NOTES, partial_fit_x=PARTIAL_FIT_X
)
fill_docstring(TorchClassifier.fit, fit_x=FIT_X, fit_x_val=FIT_X_VAL,
               fit_sample_weight=FIT_SAMPLE_WEIGHT)  # fmt: skip
