"""``LossCurveDisplay``: scikit-learn's Display convention for training curves."""

from __future__ import annotations

from sklearn.utils.validation import check_is_fitted


class LossCurveDisplay:
    """Training loss per epoch, and the held-out score when early stopping was used.

    Build it with :meth:`from_estimator`; ``plot`` draws on a matplotlib axes.
    matplotlib is an optional dependency (``pip install torchsk[plot]``).

    Parameters
    ----------
    loss_curve : list of float
        Training loss at each epoch (``loss_curve_``).
    validation_scores : list of float, default=None
        Held-out score at each epoch (``validation_scores_``).
    estimator_name : str, default=None
        Shown in the legend.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes of the loss curve.
    figure_ : matplotlib Figure
        Figure holding the axes.
    line_ : matplotlib Line2D
        The loss curve.
    validation_ax_ : matplotlib Axes or None
        Twin axes of the validation scores.
    validation_line_ : matplotlib Line2D or None
        The validation scores.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_diabetes
    >>> from torchsk import LossCurveDisplay, TorchRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = TorchRegressor(early_stopping=True, max_iter=30, random_state=0).fit(X, y)
    >>> display = LossCurveDisplay.from_estimator(reg)
    >>> display.line_.get_label()
    'TorchRegressor training loss'
    """

    def __init__(self, *, loss_curve, validation_scores=None, estimator_name=None):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None):
        """Plot the curves of a fitted torchsk estimator.

        Parameters
        ----------
        estimator : TorchRegressor or TorchClassifier
            A fitted estimator; or a fitted ``Pipeline`` ending in one, or a fitted
            search (``BatchedSearchCV``, ``GridSearchCV``) over one, whose last step or
            ``best_estimator_`` is drawn.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        name : str, default=None
            Legend name; the estimator's class name when None.

        Returns
        -------
        display : LossCurveDisplay
        """
        estimator = _network_of(estimator)
        display = cls(
            loss_curve=estimator.loss_curve_,
            validation_scores=estimator.validation_scores_,
            estimator_name=name or type(estimator).__name__,
        )
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        display : LossCurveDisplay
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "LossCurveDisplay needs matplotlib: pip install 'torchsk[plot]'."
            ) from exc
        if ax is None:
            _, ax = plt.subplots()
        name = self.estimator_name or "model"
        epochs = range(1, len(self.loss_curve) + 1)
        (self.line_,) = ax.plot(epochs, self.loss_curve, label=f"{name} training loss")
        ax.set(xlabel="epoch", ylabel="training loss")
        self.validation_ax_ = self.validation_line_ = None
        if self.validation_scores is not None and len(self.validation_scores):  # array-like
            self.validation_ax_ = _twin_of(ax) or ax.twinx()
            # the scores are those of the last epochs: a warm start that turned early
            # stopping on scored only the epochs since
            scored = epochs[max(0, len(epochs) - len(self.validation_scores)) :]
            (self.validation_line_,) = self.validation_ax_.plot(
                scored, self.validation_scores, color=self.line_.get_color(),
                linestyle="--", label=f"{name} validation score",
            )  # fmt: skip
            self.validation_ax_.set_ylabel("validation score")
        # every curve drawn on these axes so far: models compared on one axes share
        # the twin axes and the legend
        twin = self.validation_ax_ or _twin_of(ax)
        handles = ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles + (twin.get_legend_handles_labels()[0] if twin else []))
        self.ax_, self.figure_ = ax, ax.figure
        return self


def _twin_of(ax):
    """The twin axes (``ax.twinx()``) already drawn beside ``ax``, or None: sharing its
    x axis and its place (subplots made with ``sharex=True`` share x too, and one
    panel's scores had been drawn on another's twin)."""
    for other in ax.figure.axes:
        if (
            other is not ax
            and ax.get_shared_x_axes().joined(ax, other)
            and other.get_position().bounds == ax.get_position().bounds
            and other.yaxis.get_label_position() == "right"
        ):
            return other
    return None


def _network_of(estimator):
    """The fitted estimator with a ``loss_curve_`` inside a search or a pipeline."""
    check_is_fitted(estimator)
    if hasattr(estimator, "best_estimator_"):  # a fitted search, refitted
        estimator = estimator.best_estimator_
    if hasattr(estimator, "steps"):  # a Pipeline: its last step is the model
        estimator = estimator.steps[-1][1]
    if not hasattr(estimator, "loss_curve_"):
        raise TypeError(
            f"LossCurveDisplay draws the loss_curve_ of a fitted TorchRegressor or "
            f"TorchClassifier (alone, last in a Pipeline, or a search's "
            f"best_estimator_); got a {type(estimator).__name__} without one."
        )
    return estimator
