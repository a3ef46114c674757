"""Warnings attributed to the user's line, not to torchsk's.

A warning from deep inside a fit (``estimators.base._record``) reached the user through
torchsk's own frames and scikit-learn's wrappers (``_fit_context``, the callbacks'
``with_callbacks``, ``available_if``, pipelines and cross-validation, which dispatch
through joblib even without workers) and a ``contextlib`` decorator. How many of them
lie in between varies, so a fixed ``stacklevel`` cannot be right; ``warn`` walks the
stack to the first frame outside them, as pandas' ``find_stack_level`` does. The
printed location is then the user's call, and ``warnings.filterwarnings(module=...)``
matches the user's module.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import warnings

# top-level packages whose frames stand between a user's call and the warning (torch:
# the ``inference_mode(False)`` decorator on the fits, and any torch frame above ours)
INTERNAL = frozenset({"torchsk", "sklearn", "joblib", "contextlib", "torch"})


def _internal(frame) -> bool:
    return frame.f_globals.get("__name__", "").partition(".")[0] in INTERNAL


def stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` call made by this function's caller
    that attributes the warning to the first frame outside ``INTERNAL``."""
    frame, level = sys._getframe(1), 1  # level 1: the caller's own line
    while frame is not None and _internal(frame):
        frame, level = frame.f_back, level + 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the user's line (see the module docstring)."""
    warnings.warn(message, category, stacklevel=stacklevel())


# ``catch_warnings`` saves and restores the process's filters: two threads inside it
# at once restored each other's (a predict's "ignore" filter was left installed);
# reentrant, so that one thread can nest two ``quiet`` blocks
_FILTERS = threading.RLock()


@contextlib.contextmanager
def quiet(message: str, category: type[Warning] = Warning):
    """Silence warnings of ``category`` starting with ``message`` for the duration;
    one thread at a time (``_FILTERS``)."""
    with _FILTERS, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=message, category=category)
        yield


def reading_only():
    """Silence torch's warning about a non-writable numpy array for the duration:
    torchsk reads its inputs (memmaps, pandas' read-only views) and never writes to
    them, so the warning does not apply and a copy would only cost memory."""
    return quiet("The given NumPy array is not writable")
