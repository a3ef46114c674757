"""Input checks and target encoding, around scikit-learn's validation utilities.

Numeric X takes scikit-learn's ``validate_data`` as it is (NaN allowed: the network
imputes it; ``inf`` refused). X with categorical columns goes through a
``TableEncoder`` (``_tables``) into one float matrix of numbers and category codes,
after ``validate_data`` has checked its feature names and count.

Targets are handled by two small units that record what they saw at ``fit``
(classes, target type, dimensionality) and invert predictions back to it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_array
from sklearn.utils import check_X_y as sklearn_check_X_y
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_y,
    check_consistent_length,
    column_or_1d,
    validate_data,
)

from ._arrays import check_tensor, host_array, is_tensor
from ._tables import (
    TableEncoder,
    check_frame_columns,
    is_pandas_df,
    is_polars_df,
    resolve_categorical_features,
)
from ._warnings import warn

FLOAT_DTYPES = (np.float64, np.float32)
CHECKS = dict(dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan")


def new_table(X, categorical_features) -> TableEncoder | None:
    """A ``TableEncoder`` for training data with categorical columns (or an object
    array), else None: all-numeric X keeps scikit-learn's validation unchanged."""
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return TableEncoder()
    if categorical_features is None:
        return None
    if isinstance(categorical_features, str) and categorical_features == "auto":
        frame = is_pandas_df(X) or is_polars_df(X)
        # object columns of numbers too: the table reads them (and their None) as numbers
        objects = is_pandas_df(X) and any(dtype == np.dtype(object) for dtype in X.dtypes)
        has_categories = frame and (objects or resolve_categorical_features("auto", X).any())
        return TableEncoder() if has_categories else None
    return TableEncoder()  # columns named, indexed or masked as categorical


def check_X(estimator, X, *, reset: bool, encode: Callable | None = None) -> np.ndarray:
    """Validate ``X`` alone, keeping float32/float64 as given; ``encode`` (a fitted
    ``TableEncoder``'s ``transform``) turns a table into numbers and codes first. A
    tensor is checked on its device (``_arrays.check_tensor``)."""
    if is_tensor(X) and encode is None:
        return check_tensor(estimator, X, reset=reset)
    if encode is None:
        check_frame_columns(X)
        return validate_data(estimator, X, reset=reset, **CHECKS)
    validate_data(estimator, X, reset=reset, skip_check_array=True)  # names, count
    return check_array(encode(X), input_name="X", **CHECKS)


def check_X_y(estimator, X, y, *, reset: bool, y_numeric: bool, encode: Callable | None = None):
    """Validate ``X`` and ``y`` together; ``y`` may be 1-D or 2-D. ``encode`` as in
    ``check_X`` (at a first fit: the table's ``fit_transform``); a tensor ``X`` as
    in ``check_X``, its targets copied to the host (one value per row)."""
    y = host_array(y)  # a tensor detached first, whatever X is (requires_grad)
    if is_tensor(X) and encode is None:
        X = check_tensor(estimator, X, reset=reset)
        y = _check_y(host_array(y), multi_output=True, y_numeric=y_numeric, estimator=estimator)
        check_consistent_length(X, y)
        return X, y
    if encode is None:
        check_frame_columns(X)
        return validate_data(
            estimator, X, y, reset=reset, multi_output=True, y_numeric=y_numeric, **CHECKS
        )
    validate_data(estimator, X, reset=reset, skip_check_array=True)
    return sklearn_check_X_y(encode(X), y, multi_output=True, y_numeric=y_numeric, **CHECKS)


class RegressionTarget:
    """Remembers the target's dimensionality and gives it back at predict time."""

    def fit(self, y: np.ndarray) -> RegressionTarget:
        """Record ``y``'s number of dimensions and outputs."""
        self.ndim_ = y.ndim
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return self

    def encode(self, y: np.ndarray) -> np.ndarray:
        """``y`` as a 2-D float64 array."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} outputs, but the model was fitted with {self.n_outputs_}."
            )
        return y

    def decode(self, pred: np.ndarray) -> np.ndarray:
        """Predictions with the dimensionality of the ``y`` seen at fit; one column
        as a 1-D array, as ``MLPRegressor`` returns it for a y of shape (n, 1)."""
        return pred.ravel() if pred.shape[1] == 1 else pred


class ClassificationTarget:
    """Encodes class labels (any kind scikit-learn accepts) and multilabel indicators.

    Parameters
    ----------
    classes : array-like, default=None
        All classes, when known in advance (``partial_fit``'s ``classes``).
    """

    def __init__(self, classes=None) -> None:
        self.classes = classes

    def fit(self, y: np.ndarray) -> ClassificationTarget:
        """Record the target type and the classes."""
        self.target_type_ = self.target_type(y)
        if self.target_type_ == "multilabel-indicator":
            self.classes_ = np.arange(y.shape[1])
            return self
        labels = y if self.classes is None else np.asarray(self.classes)
        self._encoder = LabelEncoder().fit(labels)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                "The classifier needs samples of at least 2 classes in the data, but the "
                f"data contains only one class: '{self.classes_[0]}'."
            )
        if self.target_type_ == "binary" and len(self.classes_) > 2:
            self.target_type_ = "multiclass"  # partial_fit: more classes declared than seen
        return self

    @staticmethod
    def target_type(y: np.ndarray) -> str:
        """``type_of_target`` restricted to what torchsk supports, else ``ValueError``."""
        _refuse_missing_labels(y)
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y")
        if kind == "multiclass-multioutput":
            raise ValueError(
                "Multiclass-multioutput targets are not supported; use a 1-D label array, "
                "a 0/1 multilabel indicator matrix, or MultiOutputClassifier."
            )
        return kind

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Class indices (int64) for single-label targets, 0/1 floats for multilabel."""
        if self.target_type_ == "multilabel-indicator":
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y must be a multilabel indicator with {len(self.classes_)} columns."
                )
            return np.asarray(y, dtype=np.float64)
        _refuse_missing_labels(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(
                f"y contains labels {unseen.tolist()} not in classes {self.classes_.tolist()}."
            )
        return self._encoder.transform(y).astype(np.int64)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Labels from class indices (or the 0/1 matrix itself for multilabel)."""
        if self.target_type_ == "multilabel-indicator":
            return indices.astype(int)
        return self.classes_[indices]


def _refuse_missing_labels(y: np.ndarray) -> None:
    """scikit-learn's ``ValueError`` for a missing label: ``None`` among labels held
    as objects (NaN is refused already) would otherwise fail in sorting the classes
    with a ``TypeError`` comparing ``None`` and a string."""
    y = np.asarray(y)
    if y.dtype == object and any(v is None for v in y.flat):
        raise ValueError(
            "Input y contains NaN or None (a missing label); drop those rows or give them a label."
        )


def ravel_column(y):
    """A column vector ``y`` becomes 1-D with scikit-learn's ``DataConversionWarning``."""
    y_arr = np.asarray(y) if not hasattr(y, "shape") else y
    if getattr(y_arr, "ndim", 1) == 2 and y_arr.shape[1] == 1:
        # scikit-learn's message, attributed to the user's call rather than this line
        warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
        )
        return column_or_1d(y_arr)
    return y
