"""A fit changes the fitted state completely or not at all; predictions never see it midway.

``all_or_nothing`` wraps an estimator's ``_fit``: if anything raises (a check that
fails late, a user's module or loss that errors, ``KeyboardInterrupt`` before the
first epoch ended), the fitted attributes are put back as they were before the call
(none, for a first fit), and weights trained in place (warm start, ``partial_fit``)
and the state of the optimizer ``partial_fit`` continues with are restored. A model
is then never left half-refitted and looking fitted. ``predicting`` methods wait for a
fit in another thread, and a fit for the predictions running (``FitLock``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref

import sklearn

# Fitted attributes whose names do not end in "_" (the others are found by the name);
# ``_scorers`` and ``_score_weights``: a ``BatchedSearchCV``'s.
FITTED_PRIVATE = frozenset(
    {"_task", "_plan", "_optimizer", "_build_params", "_table", "_stopping", "_float32_fit",
     "_scorers", "_score_weights"}
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


class FitLock:
    """An estimator's lock: one fit at a time, and predictions side by side with each
    other but never during a fit (a writer's and readers' lock).

    Threads calling ``partial_fit`` on one model had failed inside torch, and one's
    rollback had undone calls that had returned. A prediction in another thread
    during a fit had read weights mid-step, turned dropout off for the training
    batches (its eval mode) and left ``module_`` in train mode after the fit. A fit
    waits for the predictions running, and new predictions wait for a fit that waits
    (a stream of them would starve it). The thread that fits may predict (a
    callback's ``predict`` at an epoch's end).
    """

    def __init__(self) -> None:
        self._state = threading.Condition(threading.Lock())
        self._writer, self._depth, self._readers, self._waiting = None, 0, 0, 0

    @contextlib.contextmanager
    def writing(self):
        """Hold it to fit (re-entrant in one thread)."""
        me = threading.get_ident()
        with self._state:
            if self._writer != me:
                self._waiting += 1
                self._state.wait_for(lambda: self._writer is None and not self._readers)
                self._waiting -= 1
                self._writer = me
            self._depth += 1
        try:
            yield
        finally:
            with self._state:
                self._depth -= 1
                if not self._depth:
                    self._writer = None
                    self._state.notify_all()

    def start_reading(self) -> bool:
        """Take it to predict (False: the fitting thread, which has it); pass the
        result to ``stop_reading``. Methods, not a context manager: a 10-row predict
        takes ~50 µs, and a generator's context costs a few."""
        if self._writer == threading.get_ident():
            return False
        with self._state:
            if self._writer is not None or self._waiting:
                self._state.wait_for(self._readable)
            self._readers += 1
        return True

    def stop_reading(self, taken: bool) -> None:
        """Release what ``start_reading`` took."""
        if taken:
            with self._state:
                self._readers -= 1
                if not self._readers and self._waiting:
                    self._state.notify_all()

    def _readable(self) -> bool:
        return self._writer is None and not self._waiting


_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def fit_lock(estimator) -> FitLock:
    """The estimator's ``FitLock``. Kept here, not as an attribute, so that clone,
    pickle and ``get_params`` never see it."""
    lock = _LOCKS.get(estimator)
    if lock is None:
        with _LOCKS_GUARD:
            lock = _LOCKS.setdefault(estimator, FitLock())
    return lock


def all_or_nothing(fit):
    """Decorate ``_fit`` (or ``BatchedSearchCV.fit``) so that on any exception the
    fitted state is as before; calls on one estimator run one at a time, and
    predictions wait for them (``FitLock``)."""

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        with fit_lock(self).writing():
            return _fit_or_restore(fit, self, *args, **kwargs)

    return wrapper


def predicting(method):
    """Decorate a method that predicts with ``module_``: it holds the estimator's
    ``FitLock`` for reading."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        lock = fit_lock(self)
        taken = lock.start_reading()
        try:
            return method(self, *args, **kwargs)
        finally:
            lock.stop_reading(taken)

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
