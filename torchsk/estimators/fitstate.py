"""A fit changes the fitted state completely or not at all.

``all_or_nothing`` wraps an estimator's ``_fit``: if anything raises (a check that
fails late, a user's module or loss that errors, ``KeyboardInterrupt`` before the
first epoch ended), the fitted attributes are put back as they were before the call
(none, for a first fit), and weights trained in place (warm start, ``partial_fit``)
and the state of the optimizer ``partial_fit`` continues with are restored. A model
is then never left half-refitted and looking fitted.
"""

from __future__ import annotations

import functools
import threading
import weakref

import sklearn

# Fitted attributes whose names do not end in "_" (the others are found by the name);
# ``_scorers`` and ``_score_weights``: a ``BatchedSearchCV``'s.
FITTED_PRIVATE = frozenset(
    {"_task", "_plan", "_optimizer", "_build_params", "_table", "_stopping", "_float32_fit",
     "_reported_bests", "_scorers", "_score_weights"}
)  # fmt: skip


def _fitted_keys(estimator) -> list[str]:
    return [
        k
        for k in vars(estimator)
        if (k.endswith("_") and not k.startswith("__")) or k in FITTED_PRIVATE
    ]


def _weights(estimator) -> dict | None:
    """A copy of ``module_``'s tensors (a warm fit trains that very module)."""
    module = vars(estimator).get("module_")
    if module is None:
        return None
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def fit_lock(estimator) -> threading.RLock:
    """The estimator's own lock, held by a fit: threads calling ``partial_fit`` on one
    model had failed inside torch, and one's rollback had undone calls that had
    returned. Predictions take none (threads serving one model run side by side). Kept
    here, not as an attribute, so that clone, pickle and ``get_params`` never see it."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(estimator, threading.RLock())


def all_or_nothing(fit):
    """Decorate ``_fit`` (or ``BatchedSearchCV.fit``) so that on any exception the
    fitted state is as before; calls on one estimator run one at a time."""

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        with fit_lock(self):
            return _fit_or_restore(fit, self, *args, **kwargs)

    return wrapper


def _fit_or_restore(fit, self, *args, **kwargs):
    """``fit``, its fitted state put back as before where it raises."""
    saved = {k: vars(self)[k] for k in _fitted_keys(self)}
    weights = _weights(self)
    # partial_fit steps the optimizer it continues with in place (moments, rate); a
    # fit starts a new one and leaves the old one as it was: nothing to copy then
    optimizer = saved.get("_optimizer") if kwargs.get("incremental") else None
    steps = optimizer.state() if hasattr(optimizer, "state") else None
    try:
        return fit(self, *args, **kwargs)
    except BaseException:  # KeyboardInterrupt too: it is re-raised
        for k in _fitted_keys(self):
            if k not in saved:
                delattr(self, k)
        vars(self).update(saved)
        if weights is not None:
            self.module_.load_state_dict(weights)
        if steps is not None:
            optimizer.load_state(steps)
        raise


#: Each estimator class's constructor parameters (``_get_param_names`` reads the
#: signature at every call)
_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


def revalidating(partial_fit):
    """Decorate a ``partial_fit`` above scikit-learn's ``_fit_context`` (which skips
    nested validation inside it) with ``validate_changed_params`` on a fitted
    estimator, under the caller's ``skip_parameter_validation``."""

    @functools.wraps(partial_fit)
    def wrapper(self, *args, **kwargs):
        if hasattr(self, "module_"):  # a first call's parameters: _fit_context's
            validate_changed_params(self)
        return partial_fit(self, *args, **kwargs)

    return wrapper


def validate_changed_params(estimator) -> None:
    """Validate the parameters of a fitted estimator's ``partial_fit`` where any has
    changed since they were last validated here: scikit-learn's ``_fit_context``
    validates only a first call, and ``set_params(batch_size=0)`` had then raised a
    ``ZeroDivisionError`` (``alpha=-1`` had trained). Parameters are compared by
    identity: a few microseconds, where validating every call cost 7% of a 200-row
    ``partial_fit``.
    """
    if sklearn.get_config()["skip_parameter_validation"]:  # as _fit_context honours it
        return
    cls = type(estimator)
    if cls not in _PARAM_NAMES:
        _PARAM_NAMES[cls] = tuple(cls._get_param_names())
    current = [getattr(estimator, name, None) for name in _PARAM_NAMES[cls]]
    # the values themselves are kept: an id of a value since freed could be reused
    last = estimator.__dict__.get("_validated_params")
    if last is None or any(a is not b for a, b in zip(current, last, strict=True)):
        estimator._validate_params()
        estimator._validated_params = current
