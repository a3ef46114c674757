"""X's checks around scikit-learn's ``validate_data``: numbers, or a table's numbers and codes.

Numeric X takes scikit-learn's ``validate_data`` as it is (NaN allowed: the network
imputes it; ``inf`` refused), but for what it would misread (dates as counts of their
unit: refused) or cannot read (a DataFrame's ``object`` columns of numbers and
``pd.NA``: read column by column, ``tables.frame_as_numbers``); a ``scipy.sparse`` X
comes back as CSR, still sparse (``data.sparse``). X with categorical columns goes through a
``TableEncoder`` (``data.tables``) into one float matrix of numbers and category codes,
after ``validate_data`` has checked its feature names and count.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
from scipy.sparse import issparse
from sklearn.utils import check_array
from sklearn.utils import check_X_y as sklearn_check_X_y
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    check_consistent_length,
    validate_data,
)

from torchsk.data.columns import (
    is_auto,
    is_pandas_df,
    is_polars_df,
    object_missing,
    resolve_categorical_features,
    table_read_columns,
    unreadable,
)
from torchsk.data.sparse import is_sparse_source
from torchsk.data.tables import (
    FIT_ADVICE,
    PREDICT_ADVICE,
    TableEncoder,
    check_frame_columns,
    check_readable,
    frame_as_numbers,
    named_numbers_error,
)
from torchsk.data.tensors import check_tensor, host_array, is_tensor
from torchsk.training.devices import forward_strides

FLOAT_DTYPES = (np.float64, np.float32)


# sparse X of any format as CSR (rows are what training and inference slice)
CHECKS = dict(dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan", accept_sparse="csr")


def check_weights(sample_weight, X, name: str = "sample_weight") -> np.ndarray:
    """scikit-learn's check of ``sample_weight`` (float64, non-negative, one per row of
    ``X``; None: ones), and a sum that float64 holds: weights of 1e307 are finite, but
    the statistics over 100 of them had blamed X's columns, or overflowed in Python.
    ``name``: the weights' name in the error (``class_weight`` times the weights, say)."""
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    _refuse_overflowing_sum(sw, name)
    return sw


def weighted(sw: np.ndarray, factors, name: str = "sample_weight") -> np.ndarray:
    """``sw`` (checked weights, called ``name``) times their class weights
    (``factors``: an array, or 1.0 without), refused where it overflows float64 (a
    value or the sum) or weighs every row 0, by that name:
    scikit-learn's messages would blame the weights the user gave."""
    name = f"{name} times class_weight"
    with np.errstate(over="ignore"):
        product = sw * factors
    if not np.isfinite(product).all():
        raise ValueError(f"{name} overflows float64; rescale the weights before fitting.")
    if len(product) and not product.any():
        raise ValueError(f"{name} is 0 on every row: nothing would be learnt from them.")
    # non-negative and finite times non-negative and finite: only the sum to check
    _refuse_overflowing_sum(product, name)
    return product


def _refuse_overflowing_sum(w: np.ndarray, name: str) -> None:
    """Refuse finite weights (called ``name``) whose float64 sum is not finite."""
    with np.errstate(over="ignore"):
        total = w.sum()
    if not np.isfinite(total):
        raise ValueError(
            f"The sum of {name} overflows float64 (the largest weight is {w.max():.3g}); "
            "rescale the weights (e.g. divide by a power of 10) before fitting."
        )


def new_table(X, categorical_features) -> TableEncoder | None:
    """A ``TableEncoder`` for training data with categorical columns (or an object
    array), else None: all-numeric X keeps scikit-learn's validation unchanged."""
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return TableEncoder()
    if categorical_features is None or is_sparse_source(X):  # sparse: numbers only
        return None
    if is_auto(categorical_features):
        frame = is_pandas_df(X) or is_polars_df(X)
        # object columns of numbers too: the table reads them (and their None) as numbers
        objects = table_read_columns(X)
        has_categories = frame and (objects or resolve_categorical_features("auto", X).any())
        return TableEncoder() if has_categories else None
    return TableEncoder()  # columns named, indexed or masked as categorical


def check_X(estimator, X, *, reset: bool, encode: Callable | None = None,
            advice: str | None = None) -> np.ndarray:  # fmt: skip
    """Validate ``X`` alone, keeping float32/float64 as given; ``encode`` (a fitted
    ``TableEncoder``'s ``transform``) turns a table into numbers and codes first. A
    tensor is checked on its device (``data.tensors.check_tensor``). A column that is
    not numeric is named, with ``advice`` (by default: mark it categorical at a fit,
    it was numeric at predict)."""
    if is_tensor(X) and encode is None:
        return check_tensor(estimator, X, reset=reset)
    if encode is None:
        advice = advice or (FIT_ADVICE if reset else PREDICT_ADVICE)
        numbers = _unusual_numbers(estimator, X, reset, advice)
        if numbers is None:
            with _naming_columns(X, advice):
                return forward_strides(validate_data(estimator, X, reset=reset, **CHECKS))
        return check_array(numbers, input_name="X", estimator=estimator, **CHECKS)
    _refuse_table_of_another_shape(estimator, X)
    validate_data(estimator, X, reset=reset, skip_check_array=True)  # names, count
    return forward_strides(check_array(encode(X), input_name="X", estimator=estimator, **CHECKS))


def check_X_y(estimator, X, y, *, reset: bool, y_numeric: bool, encode: Callable | None = None):
    """Validate ``X`` and ``y`` together; ``y`` may be 1-D or 2-D. ``encode`` as in
    ``check_X`` (at a first fit: the table's ``fit_transform``); a tensor ``X`` as
    in ``check_X``, its targets copied to the host (one value per row)."""
    y = host_array(y)  # a tensor detached first, whatever X is (requires_grad)
    if is_tensor(X) and encode is None:
        X = check_tensor(estimator, X, reset=reset)
        y = check_y(y, y_numeric=y_numeric, estimator=estimator)
        check_consistent_length(X, y)
        return X, y
    refuse_missing_targets(y)
    if encode is None:
        advice = FIT_ADVICE if reset else PREDICT_ADVICE
        numbers = _unusual_numbers(estimator, X, reset, advice)
        if numbers is None:
            with _naming_columns(X, advice):
                X, y = validate_data(
                    estimator, X, y, reset=reset, multi_output=True, y_numeric=y_numeric, **CHECKS
                )
        else:
            X, y = sklearn_check_X_y(numbers, y, multi_output=True, y_numeric=y_numeric,
                                     estimator=estimator, **CHECKS)  # fmt: skip
    else:
        _refuse_table_of_another_shape(estimator, X)
        validate_data(estimator, X, reset=reset, skip_check_array=True)
        X, y = sklearn_check_X_y(encode(X), y, multi_output=True, y_numeric=y_numeric,
                                 estimator=estimator, **CHECKS)  # fmt: skip
    return forward_strides(X), forward_strides(y)


def check_y(y, *, y_numeric: bool, estimator) -> np.ndarray:
    """scikit-learn's check of ``y`` alone (1-D or 2-D; a tensor's copied to the host),
    missing targets refused first (``refuse_missing_targets``)."""
    y = host_array(y)
    refuse_missing_targets(y)
    return _check_y(y, multi_output=True, y_numeric=y_numeric, estimator=estimator)


def refuse_missing_targets(y) -> None:
    """scikit-learn's ``ValueError`` for missing targets that its checks fail on or
    let through: ``pd.NA`` among objects (a pandas ``string`` column's: numpy's
    "boolean value of NA is ambiguous", ``MLPClassifier``'s too), ``None`` and
    ``NaT`` among labels (a class of their own, or a ``TypeError`` in sorting), a
    NaN in a list of strings (the class "nan", predicted in silence)."""
    if y is None or issparse(y) or is_tensor(y) or hasattr(y, "__dask_graph__"):
        return  # scikit-learn's checks say what is wrong; a tensor holds numbers
    try:  # a list's NaN as given: numpy reads one among strings as the label "nan"
        values = np.asarray(y, dtype=object if isinstance(y, list | tuple) else None)
    except ValueError:
        return  # ragged: scikit-learn's checks say so
    if values.dtype.kind in "mM":
        missing = bool(np.isnat(values).any())
    elif values.dtype == object:
        missing = bool(object_missing(values.ravel()).any())
    else:
        return  # numbers: scikit-learn's own check finds a NaN
    if missing:
        raise ValueError(
            "Input y contains NaN or None (a missing target: NaN, None, pd.NA or NaT); "
            "drop those rows or give them a target."
        )


def _unusual_numbers(estimator, X, reset: bool, advice: str) -> np.ndarray | None:
    """What numeric X meets before scikit-learn reads it (``check_X``, ``check_X_y``):
    columns no path reads as numbers refused (``_refuse_unreadable``); a DataFrame
    whose ``object`` columns of numbers and ``pd.NA`` ``check_array`` cannot read,
    read column by column (``tables.frame_as_numbers``, a column that is not numeric
    named with ``advice``), its names and count validated; None for any other X."""
    _refuse_unreadable(X)
    numbers = frame_as_numbers(X, advice)
    if numbers is not None:
        validate_data(estimator, X, reset=reset, skip_check_array=True)  # names, count
    return numbers


def _refuse_unreadable(X) -> None:
    """Refuse X holding what no path reads as numbers (``columns.UNREADABLE``): a
    DataFrame's columns (``tables.check_frame_columns``), and alike a numpy array, or
    a list of rows as numpy reads it, of dates or durations (datetime64, timedelta64)
    or with an object column of them among numbers (complex numbers, ...): numpy reads
    dates as counts of their unit, which another unit at predict changed in silence."""
    check_frame_columns(X)
    if isinstance(X, list | tuple):
        try:
            X = np.asarray(X)
        except ValueError:  # ragged rows: scikit-learn's check names them
            return
    if not isinstance(X, np.ndarray):
        return
    if X.dtype.kind in "mM":
        raise ValueError(
            f"X holds {unreadable(X)}: the network reads numbers ({X.dtype} would be read "
            "as counts of its unit)."
        )
    if X.dtype == object and X.ndim == 2:
        for j in range(X.shape[1]):
            check_readable(X, j, X[:, j])


@contextmanager
def _naming_columns(X, advice: str):
    """numpy's "could not convert string to float" from scikit-learn's validation, as
    an error that names the column (``data.tables.named_numbers_error``)."""
    try:
        yield
    except ValueError as error:
        named = named_numbers_error(X, error, advice)
        if named is error:
            raise
        raise named from error


def _refuse_table_of_another_shape(estimator, X) -> None:
    """Sparse or 1-D X for a model fitted on a table with categorical columns: refused
    (1-D with scikit-learn's own message, as for numeric X)."""
    if len(_shape(X)) != 2:  # a Series (pandas, polars), 1-D array, a dict of columns
        check_array(X, dtype=None, ensure_all_finite=False, estimator=estimator)
    if issparse(X):
        raise ValueError(
            "Sparse X was passed to a model fitted on a table with categorical columns; "
            "pass the same kind of table (or a dense array of its columns)."
        )


def _shape(X) -> tuple:
    """X's shape, or numpy's reading of a list (a dict reads as a scalar: refused as
    scikit-learn refuses one, not by a bare ``KeyError`` from the table)."""
    if hasattr(X, "shape"):
        return X.shape
    try:
        return np.shape(X)
    except ValueError:  # ragged rows: the table's checks name them
        return (0, 0)
    except TypeError:  # an array-like of __array__ alone refuses numpy's functions
        return np.asarray(X).shape
