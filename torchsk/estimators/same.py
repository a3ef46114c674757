"""Parameter values compared as a warm start compares them with the fitted network's,
and as a batched search groups the candidates that can share one network."""

from __future__ import annotations

import numpy as np


def same_value(a, b) -> bool:
    """Parameter equality; modules (and builders) by identity, lists and masks by value."""
    if callable(a) or callable(b):
        return a is b
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return a == b
    return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def changed_values(old: dict, new: dict) -> list[tuple[str, str]]:
    """``(key, "old → new")`` for each key whose value changed."""
    return [(k, f"{old[k]} → {new[k]}") for k in old if not same_value(old[k], new[k])]
