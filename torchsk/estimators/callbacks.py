"""scikit-learn's callback API (``sklearn.callback``, scikit-learn >= 1.9) for epochs.

``est.set_callbacks(ProgressBar(), ScoringMonitor(...))`` works on torchsk estimators,
alone or inside a ``Pipeline`` / ``GridSearchCV``: each epoch (L-BFGS: iteration) is a
subtask of the fit task. On older scikit-learn the mixin is an empty placeholder and
the hooks do nothing.
"""

from __future__ import annotations

import copy

try:
    from sklearn.callback import CallbackSupportMixin, with_callbacks

    HAVE_CALLBACKS = True
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Placeholder: scikit-learn's callbacks need scikit-learn >= 1.9."""

    def with_callbacks(method):  # type: ignore[no-redef]
        """No callbacks to manage before scikit-learn 1.9."""
        return method

    HAVE_CALLBACKS = False


def managed_fit(est, *args, **kwargs):
    """``est._fit(*args, **kwargs)`` as the public ``fit`` runs it (``with_callbacks``):
    the callbacks its hooks set up (``EpochHooks``) are torn down after it, whatever
    happens, and the fit leaves no callback context behind (a progress bar's thread
    would keep the interpreter alive; a pickle would carry the context)."""
    return with_callbacks(lambda estimator: estimator._fit(*args, **kwargs))(est)


class EpochHooks:
    """Calls the callbacks' task hooks around a fit and each of its epochs.

    Parameters
    ----------
    estimator : TorchRegressor or TorchClassifier
        The estimator being fitted (must inherit ``CallbackSupportMixin``).
    X, y : array-like
        The training data, passed to the hooks (``ScoringMonitor`` scores on them).
    sample_weight : array-like or None
        Passed to the hooks as metadata.
    max_epochs : int
        The most epochs this fit can run.
    units : training.settings.LossUnits, optional
        Turns the losses into y's units, as the fitted estimator records them.
    prior_losses : list of float, default=()
        The ``loss_curve_`` this fit goes on from (a warm start's, ``partial_fit``'s).
    """

    def __init__(self, estimator, X, y, sample_weight, max_epochs: int, units=None,
                 prior_losses=()) -> None:  # fmt: skip
        self.estimator = estimator
        # the fit's History, handed over at each epoch's end (``end``)
        self.units, self.prior_losses, self.history = units, list(prior_losses), None
        self.data = dict(X=X, y=y, metadata=None)
        if sample_weight is not None:
            self.data["metadata"] = {"sample_weight": sample_weight}
        self.ctx = self.epoch_ctx = None
        if HAVE_CALLBACKS:
            self.ctx = estimator._init_callback_context(max_subtasks=max_epochs + 1)
            self.ctx.call_on_fit_task_begin(estimator=estimator, **self.data)
        # per-epoch contexts cost Python time: only when a callback is there to see them
        self.active = self.ctx is not None and bool(
            getattr(estimator, "_skl_callbacks", None)
            or hasattr(estimator, "_parent_callback_ctx")
        )

    def _fitted(self) -> dict:
        """The attributes of a copy of the estimator as it is now (built on demand):
        its weights, and the epochs run and their losses so far (the previous fit's had
        been left there, or none on a first fit), in the units known before training
        (a multi-output regressor's are re-weighed by its outputs' trained losses
        when the fit records them)."""
        attributes = {"module_": copy.deepcopy(self.estimator.module_).freeze()}
        if self.history is not None:
            convert = self.units.of_members if self.units is not None else float
            losses = [convert(loss) for loss in self.history.loss_curve]
            attributes["n_iter_"] = self.history.n_iter
            attributes["loss_curve_"] = self.prior_losses + losses
        target = self.estimator._task.target
        if hasattr(target, "classes_"):  # classifiers: set only after fit
            attributes["classes_"] = target.classes_
        return attributes

    def begin(self) -> None:
        """An epoch starts."""
        if self.active:
            self.epoch_ctx = self.ctx.subcontext(task_name="epoch")
            self.epoch_ctx.call_on_fit_task_begin(
                estimator=self.estimator, reconstruction_attributes=self._fitted, **self.data
            )

    def end(self, history=None) -> bool:
        """An epoch ended (``history``: the fit's so far); True if a callback asks to stop."""
        self.history = history
        if not self.active or self.epoch_ctx is None:
            return False
        ctx, self.epoch_ctx = self.epoch_ctx, None
        return bool(
            ctx.call_on_fit_task_end(
                estimator=self.estimator, reconstruction_attributes=self._fitted, **self.data
            )
        )

    def close(self) -> None:
        """End an epoch that was begun and never finished (an L-BFGS evaluation after
        its last iteration, an interrupted epoch), then the fit (whose attributes are
        recorded by then: the estimator's own are read)."""
        if self.epoch_ctx is not None:
            self.epoch_ctx.call_on_fit_task_end(estimator=self.estimator)
            self.epoch_ctx = None
        self.history = None
        if self.ctx is not None:
            self.ctx.call_on_fit_task_end(
                estimator=self.estimator, reconstruction_attributes=self._fitted, **self.data
            )
