"""Targets: two small units that record what they saw at ``fit`` (classes, target
type, dimensionality) and map predictions back to it."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    column_or_1d,
)

from torchsk._warnings import warn
from torchsk.data.checks import refuse_missing_targets
from torchsk.data.columns import object_missing
from torchsk.data.tensors import float32_holds, scorable


class ScoresTargetsAsFitReadsThem:
    """``score`` (listed before scikit-learn's ``RegressorMixin``/``ClassifierMixin``)
    with ``y`` and ``sample_weight`` read as ``fit`` reads them."""

    def score(self, X, y, sample_weight=None):
        """Return the score of ``predict(X)`` as scikit-learn's mixin does: R² for
        ``TorchRegressor``, the mean accuracy (subset accuracy for multilabel
        targets) for ``TorchClassifier``.

        ``y`` and ``sample_weight`` may be anything ``fit`` reads, torch tensors of a
        dtype numpy lacks (bfloat16) included.

        Parameters
        ----------
        X : array-like, DataFrame or tensor of shape (n_samples, n_features)
        y : array-like or tensor
            True targets.
        sample_weight : array-like or tensor of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        refuse_missing_targets(y)  # fit's ValueError, not the metric's TypeError
        return super().score(X, scorable(y), scorable(sample_weight))


class RegressionTarget:
    """Remembers the target's dimensionality and gives it back at predict time."""

    def fit(self, y: np.ndarray) -> RegressionTarget:
        """Record ``y``'s number of dimensions and outputs."""
        self.ndim_ = y.ndim
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return self

    @staticmethod
    def float32_holds(y: np.ndarray, net=None) -> bool:
        """Whether a float32 fit may predict ``y`` in float32 (``tensors.float32_holds``),
        a later call's against the spread ``net`` (the fitted ``TabularNet``) scales its
        target by, where that is wider."""
        return float32_holds(y, _fitted_spread(net))

    def encode(self, y: np.ndarray) -> np.ndarray:
        """``y`` as a 2-D float64 array."""
        if sp.issparse(y):  # scikit-learn's check lets it through for multilabel targets
            raise TypeError(
                "Sparse data was passed for y, but dense data is required. Use '.toarray()' "
                "to convert to a dense numpy array."
            )
        y = np.asarray(y)
        if y.dtype.kind in "mM":  # numpy would cast them to integers in silence
            raise ValueError(
                f"y has dtype {y.dtype}: a regressor takes numbers. Convert the dates "
                "or durations to the numbers to predict (e.g. days since a date: "
                "(y - start) / np.timedelta64(1, 'D'))."
            )
        y = y.astype(np.float64, copy=False)
        if not np.isfinite(y).all():  # None in an object y: NaN only now
            raise ValueError("Input y contains NaN (a None among its values?).")
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


def _fitted_spread(net) -> np.ndarray | None:
    """The spread a fitted ``net`` scales its target by: its target scaling's scale
    where that scaling centres the target (a scale-only one's, a positive link's or a
    given ``(0, s)``, is the target's size, not its spread); else None."""
    scaling = None if net is None else net.target_scaling
    if scaling is None or not bool(scaling.center.ne(0).any()):
        return None
    return scaling.scale.cpu().numpy()


class ClassificationTarget:
    """Encodes class labels (any kind scikit-learn accepts) and multilabel indicators.

    Parameters
    ----------
    classes : array-like, default=None
        All classes, when known in advance (``partial_fit``'s ``classes``).
    """

    def __init__(self, classes=None) -> None:
        self.classes = classes

    @staticmethod
    def float32_holds(y, net=None) -> bool:
        """True: labels and probabilities lose nothing of ``y`` in float32."""
        return True

    def fit(self, y: np.ndarray) -> ClassificationTarget:
        """Record the target type and the classes."""
        self.target_type_ = self.target_type(y)
        if self.target_type_ == "multilabel-indicator":
            self.classes_ = np.arange(y.shape[1])
            if self.classes is not None and not _same_labels(self.classes, self.classes_):
                raise ValueError(  # the columns' indices, which classes_ holds
                    f"classes must be the columns' indices: a multilabel y of "
                    f"{y.shape[1]} columns has classes {self.classes_.tolist()}; got "
                    f"classes={np.asarray(self.classes).tolist()}."
                )
            # as MLPClassifier's LabelBinarizer: a sparse indicator predicts sparse
            self.sparse_output_ = sp.issparse(y)
            return self
        labels = y if self.classes is None else checked_classes(self.classes)
        try:
            self._encoder = LabelEncoder().fit(labels)
        except TypeError as error:  # classes that numpy cannot order
            raise _unorderable(labels, error) from error
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2 and self.classes is not None:
            raise ValueError(
                f"classes={self.classes_.tolist()} holds fewer than 2 classes; a classifier "
                "needs at least 2, every label of y among them."
            )
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
        """``type_of_target`` restricted to what torchsk supports, else ``ValueError``.
        ``y`` comes from a fit's source, whose check refused missing labels already."""
        try:
            check_classification_targets(y)
            kind = type_of_target(y, input_name="y")
        except TypeError as error:  # numpy cannot order them: a float among strings
            raise _unorderable(y, error) from error
        if kind == "multiclass-multioutput":
            raise ValueError(
                "Multiclass-multioutput targets are not supported; use a 1-D label array, "
                "a 0/1 multilabel indicator matrix, or MultiOutputClassifier."
            )
        return kind

    def check_warm_start(self, y: np.ndarray) -> None:
        """``MLPClassifier``'s rule for a warm-started ``fit``: ``y`` shows exactly
        the classes of the fitted ones (``partial_fit`` may show some of them)."""
        if self.target_type_ == "multilabel-indicator":
            return  # its columns are checked by encode
        present = np.unique(y)
        if set(present.tolist()) != set(self.classes_.tolist()):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_}, `y` has {present}"
            )

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Class indices (int64) for single-label targets, 0/1 floats for multilabel."""
        if self.target_type_ == "multilabel-indicator":
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y must be a multilabel indicator with {len(self.classes_)} columns."
                )
            y = (y.toarray() if sp.issparse(y) else np.asarray(y)).astype(np.float64)
            _refuse_non_indicator(y)
            return y
        refuse_missing_targets(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(
                f"y contains labels {unseen.tolist()} not in classes {self.classes_.tolist()}."
            )
        return self._encoder.transform(y).astype(np.int64)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Labels from class indices (or the 0/1 matrix itself for multilabel)."""
        if self.target_type_ == "multilabel-indicator":
            labels = indices.astype(int)
            return sp.csr_matrix(labels) if getattr(self, "sparse_output_", False) else labels
        return self.classes_[indices]


def _refuse_non_indicator(y: np.ndarray) -> None:
    """A multilabel y of other values than 0 and 1 (scikit-learn calls any 2-D matrix of
    two integer values an indicator): as the cross-entropy's targets, -1 or 2 give a
    loss without a lower bound, and the fit runs off to logits of 1e297."""
    values = np.unique(y)
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(
            f"A multilabel y must be a 0/1 indicator matrix; got the values "
            f"{values[:5].tolist()}: map them to 0 and 1 first, e.g. (y > 0).astype(int)."
        )


def _unorderable(labels, error: TypeError) -> Exception:
    """scikit-learn's error for labels of mixed types, where numpy's sort raised a
    ``TypeError`` first (a float or a bool among strings); labels of one type get
    scikit-learn's own ``error`` (bytes: "Support for labels represented as bytes is
    not supported"), which the mixed types' message had misnamed."""
    kinds = sorted({type(v).__name__ for v in np.asarray(labels, dtype=object).flat})
    if len(kinds) < 2:
        return TypeError(*error.args)
    return ValueError(
        f"Unknown label type: the labels mix types {kinds}, which cannot be ordered; give "
        "every label one type (e.g. all strings)."
    )


def checked_classes(classes) -> np.ndarray:
    """``partial_fit``'s ``classes`` as an array, refused with a missing label (NaN,
    None), as ``MLPClassifier`` refuses them: a NaN had become a class of its own; and
    refused by name where it is not a sequence of labels (a set or a string had been
    blamed on y: "y should be a 1d array, got an array of shape ()")."""
    if isinstance(classes, str | bytes | set | frozenset | dict):
        raise ValueError(
            f"classes must be a list or array of the labels; got a {type(classes).__name__}: "
            f"{classes!r}."
        )
    # as given, before numpy reads a NaN among strings as the string "nan"
    values = np.asarray(classes, dtype=object).ravel()
    classes = np.asarray(classes)
    if object_missing(values).any():
        raise ValueError(f"classes contains NaN or None (a missing label): {classes.tolist()}.")
    return classes


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
        if isinstance(y_arr, np.ndarray) or hasattr(y_arr, "iloc"):
            return column_or_1d(y_arr)
        return y_arr[:, 0]  # a tensor or Dask array stays one, without a copy
    return y


def _same_labels(classes, labels: np.ndarray) -> bool:
    """Whether ``classes`` holds exactly ``labels``, by value (0.0 is 0), in any order."""
    given = np.unique(np.asarray(classes))
    return given.dtype.kind in "iubf" and np.array_equal(given, labels)
