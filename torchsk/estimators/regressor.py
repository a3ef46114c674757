"""``TorchRegressor``: a scikit-learn regressor backed by a PyTorch MLP."""

from __future__ import annotations

from numbers import Real

from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from torchsk._warnings import warn
from torchsk.data.columns import from_arrow
from torchsk.data.tensors import follows_input, in_dtype_of
from torchsk.estimators.base import BaseTorchEstimator
from torchsk.estimators.callbacks import with_callbacks
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
from torchsk.estimators.targets import ScoresTargetsAsFitReadsThem, ravel_column
from torchsk.estimators.tasks import RegressionTask, is_robust
from torchsk.nn.heads import POSITIVE_LINKS, REGRESSION_LINKS
from torchsk.training.losses import LOSS_NAMES, REGRESSION, LossOptions


class TorchRegressor(ScoresTargetsAsFitReadsThem, RegressorMixin, BaseTorchEstimator):
    """Regressor backed by a PyTorch MLP that scales its own inputs and targets.

    A drop-in for :class:`sklearn.neural_network.MLPRegressor` that works on raw data:
    input and target scaling are buffers inside ``module_``, so the trained module
    maps raw X to predictions in y's units on its own.

    Parameters
    ----------
    {common_parameters}
    loss : {{"squared_error", "absolute_error", "huber", "poisson", "quantile"}} or \
nn.Module, default="squared_error"
        Training loss (scikit-learn's names), or a torch loss module called as
        ``loss(prediction, target)``.
    head : {{"auto", "identity", "exp", "softplus"}}, default="auto"
        Output link. ``"auto"`` is the identity, or ``"exp"`` (log link) for
        ``loss="poisson"``, which needs a positive link.
    target_scaling : {{"standard"}}, (center, scale) or None, default="standard"
        Standardize y inside the module (training happens on the scaled target;
        predictions come back in y's units). With a positive link, y is only divided
        by its mean so that it stays positive (with a robust loss, by its median, or
        its mean where the median is 0); with a robust loss (``"absolute_error"``,
        ``"huber"``, ``"quantile"``) and another link it is centred on its median and
        divided by its interquartile range / 1.349, which outliers do not move. A pair
        ``(center, scale)`` (scalars, or
        one value per output) gives the constants themselves, kept as the same
        buffers (``target_scaling=(4200, 800)`` for grams of body mass).
    huber_delta : float, default=1.35
        Threshold of the Huber loss (``loss="huber"``), in units of the scaled
        target: quadratic within ``huber_delta`` of the target, linear beyond (torch's
        and Keras' ``delta``; ``epsilon`` is Adam's, as in ``MLPRegressor``).
    quantile : float, default=0.5
        The quantile predicted by ``loss="quantile"``.
    **module__ : keyword arguments ``module__<name>=value``
        Arguments of a ``module`` class or builder, passed to it as ``<name>=value``
        (see ``module``); ``get_params``, ``set_params`` and ``GridSearchCV`` see them.

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    TorchClassifier : The classifier counterpart.
    sklearn.neural_network.MLPRegressor : scikit-learn's MLP, which does not scale.

    Examples
    --------
    >>> import numpy as np
    >>> from torchsk import TorchRegressor
    >>> X = np.linspace(0, 1000, 50).reshape(-1, 1)
    >>> y = 3 * X.ravel() + 7
    >>> reg = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", random_state=0).fit(X, y)
    >>> bool(abs(reg.predict([[500.0]])[0] - 1507) < 1)
    True
    """

    _parameter_constraints = {
        **BaseTorchEstimator._parameter_constraints,
        "loss": [StrOptions(LOSS_NAMES[REGRESSION]), nn.Module],
        "head": [StrOptions({"auto", *REGRESSION_LINKS})],
        "target_scaling": [StrOptions({"standard"}), tuple, None],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha="auto",
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-3,
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
        loss="squared_error",
        head="auto",
        target_scaling="standard",
        huber_delta=1.35,
        quantile=0.5,
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
        self.loss = loss
        self.head = head
        self.target_scaling = target_scaling
        self.huber_delta = huber_delta
        self.quantile = quantile

    @with_callbacks
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, *, X_val=None, y_val=None,
            sample_weight_val=None):  # fmt: skip
        """Fit the model to data X and target(s) y.

        Parameters
        ----------
        {fit_x}
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target values, in their own units.
        {fit_sample_weight}
        {fit_x_val}
        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Targets of ``X_val``, in y's units.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation rows in the score.

        Returns
        -------
        self : TorchRegressor
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

    @with_callbacks
    @revalidating
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one epoch over the given data.

        {partial_fit_notes}

        Parameters
        ----------
        {partial_fit_x}
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target values; None only with an iterable of batches, which carry them.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : TorchRegressor
        """
        self._check_partial_fit()
        return self._fit(X, ravel_column(y), sample_weight, incremental=True)

    @follows_input
    def predict(self, X):
        """Predict targets in y's units.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One output (y of shape (n,) or (n, 1)) gives a 1-D array, as
            ``MLPRegressor.predict`` does; float32 for a float32 X (an array, sparse
            matrix, tensor or DataFrame of float32 columns) where the fit's X was
            float32 too, as its predictions are (a float64 fit's stay float64).
        """
        X = from_arrow(X)  # an Arrow table's float32 columns read as its DataFrame's
        pred = self._predictions(self._forward(X))  # checks that the model is fitted first
        return in_dtype_of(pred, X, getattr(self, "_float32_fit", True))  # True: older files

    def _predictions(self, out):
        """``predict``'s result from the network's output (``module_`` on raw X)."""
        return self._task.decode(out)

    def _fit(self, X, y, sample_weight=None, *, incremental=False, **kwargs):
        if not incremental:  # every fit, a search's stacked ones included
            _warn_score_against_loss(self)
        return super()._fit(X, y, sample_weight, incremental=incremental, **kwargs)

    def _new_task(self) -> RegressionTask:
        options = LossOptions(huber_delta=self.huber_delta, quantile=self.quantile)
        return RegressionTask(
            loss=self.loss, head=self.head, target_scaling=self.target_scaling, options=options
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        try:  # a positive link (loss="poisson", head="exp") refuses a negative y
            tags.target_tags.positive_only = self._new_task().link() in POSITIVE_LINKS
        except Exception:  # noqa: BLE001 (invalid parameters: fit's validation reports them)
            pass
        return tags


def _warn_score_against_loss(est) -> None:
    """Early stopping scores R² (``MLPRegressor``'s score), which rewards predictions
    near the mean: a robust loss aims at the median or a quantile instead, and the
    epoch R² keeps can be far from it (a 0.9-quantile fit kept one covering 74% of
    held-out rows where its last covered 91%)."""
    if est.early_stopping and is_robust(est.loss) and est.solver != "lbfgs":
        warn(
            f"early_stopping keeps the epoch of the best held-out R², as MLPRegressor "
            f"does, which rewards predictions near the mean, while loss={est.loss!r} aims "
            "at the median (or the quantile): the epoch kept can be far from the lowest "
            "loss. Leave early_stopping off, or set max_iter yourself."
        )


fill_docstring(
    TorchRegressor, common_parameters=COMMON_PARAMETERS, common_attributes=COMMON_ATTRIBUTES
)
fill_docstring(
    TorchRegressor.partial_fit, partial_fit_notes=PARTIAL_FIT_NOTES, partial_fit_x=PARTIAL_FIT_X
)
fill_docstring(TorchRegressor.fit, fit_x=FIT_X, fit_x_val=FIT_X_VAL,
               fit_sample_weight=FIT_SAMPLE_WEIGHT)  # fmt: skip
