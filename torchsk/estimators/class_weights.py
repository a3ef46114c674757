"""``class_weight`` as per-sample weights, against all the fitted classes.

A mini-batch, a ``partial_fit`` chunk or ``y_val`` may lack some of the classes a
``class_weight`` dict names (or a multilabel column its positives);
``compute_sample_weight`` on the chunk alone raised on them, so each dict is read
against the classes of the whole fit.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight


def class_sample_weights(class_weight, y: np.ndarray, y_enc: np.ndarray, classes,
                         sw: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Each row's weight under ``class_weight``.

    Parameters
    ----------
    class_weight : dict, list of dict or "balanced"
    y : ndarray
        The labels (1-D) or the 0/1 indicator columns (multilabel).
    y_enc : ndarray
        ``y`` as class indices (1-D), or the indicator columns.
    classes : ndarray
        The fitted classes (``classes_``).
    sw : ndarray, default=None
        Sample weights: ``"balanced"`` counts the classes weighted by them (one
        output), as ``LogisticRegression`` does, so that rows of weight 0 count as
        rows left out.

    Returns
    -------
    ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        For weights that are not finite and non-negative, and where scikit-learn's
        ``compute_class_weight`` raises (a key that is not a class).
    """
    if class_weight == "balanced" and sw is not None and np.ndim(y) == 1:
        weights = _balanced(y, sw)
    elif isinstance(class_weight, dict) and np.ndim(y) == 1:
        weights = compute_class_weight(class_weight, classes=classes, y=classes)[y_enc]
    elif isinstance(class_weight, list) and np.ndim(y) == 2 and _all_dicts(class_weight):
        weights = _per_label(class_weight, y)
    else:
        weights = compute_sample_weight(class_weight, y)
    if not np.isfinite(weights).all() or (weights < 0).any():  # as sample_weight's
        raise ValueError(
            f"class_weight must give finite, non-negative weights; got {class_weight!r}."
        )
    return weights


def balances_per_call(class_weight) -> bool:
    """Whether ``class_weight`` counts the classes of the rows given: ``"balanced"``,
    or a multilabel list with ``"balanced"`` among its entries.

    Parameters
    ----------
    class_weight : dict, list, str or None

    Returns
    -------
    bool
        True where a ``partial_fit`` call or one batch would weigh its rows by its own
        class counts, which scikit-learn refuses.
    """
    if isinstance(class_weight, list):
        return any(isinstance(entry, str) and entry == "balanced" for entry in class_weight)
    return isinstance(class_weight, str) and class_weight == "balanced"


def _all_dicts(class_weight: list) -> bool:
    """A list of dicts only (``"balanced"`` among them is ``compute_sample_weight``'s
    to balance over the rows given)."""
    return all(isinstance(entry, dict) for entry in class_weight)


def _per_label(class_weight: list, y: np.ndarray) -> np.ndarray:
    """Multilabel: the product over labels of each one's weight for its 0 or 1, as
    ``compute_sample_weight`` computes it, with classes 0 and 1 for every label."""
    if len(class_weight) != y.shape[1]:
        raise ValueError(
            "For multi-output, number of elements in class_weight should match number of outputs."
        )
    both = np.array([0, 1])
    weights = np.ones(y.shape[0])
    for j, label_weight in enumerate(class_weight):
        # a sparse indicator's column as a dense one (``len`` of a sparse y is refused)
        column = y[:, [j]].toarray().ravel() if issparse(y) else y[:, j]
        weights *= compute_class_weight(label_weight, classes=both, y=both)[column.astype(int)]
    return weights


def _balanced(y: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """``class_weight="balanced"`` per row, by ``compute_class_weight`` from the
    classes' weighted counts; a class of no weight gets 0, not inf."""
    classes, index = np.unique(y, return_inverse=True)
    with np.errstate(divide="ignore"):
        per_class = compute_class_weight("balanced", classes=classes, y=y, sample_weight=sw)
    return np.where(np.isfinite(per_class), per_class, 0.0)[index]
