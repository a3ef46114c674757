"""Raw tables → one float64 matrix: numbers as floats, categorical columns as codes.

``TableEncoder`` is the first step of an estimator's input path. It takes what users
have — pandas and polars DataFrames (numeric, boolean, categorical, string and nullable
columns), numpy arrays (numeric or object), lists of rows — and returns the matrix the
network's input stage works on:

- a numeric column as float64, every kind of missing value (``NaN``, ``None``,
  ``pd.NA``, a polars null) as ``NaN``; ``inf`` is left as it is, for the estimator
  to refuse with scikit-learn's error;
- a categorical column as integer codes (stored as floats) into that column's
  training categories, ``NaN`` where the value is missing and ``UNSEEN`` (-1) for a
  level that training never saw.

Strings never go further than this file: the network only ever sees the codes.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.preprocessing import OrdinalEncoder

from torchsk.data.columns import (
    column_label,
    column_names,
    is_pandas_df,
    is_polars_df,
    num_samples,
    numeric_dtypes,
    object_missing,
    objects_missing,
    resolve_columns,
    table_read_columns,
    unreadable,
)
from torchsk.data.levels import UNSEEN, as_trained, check_one_kind, codes


def _array_missing(values: np.ndarray) -> np.ndarray:
    """Missing-value mask of a numpy column of any dtype."""
    if values.dtype.kind == "O":
        return object_missing(values)
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.zeros(len(values), dtype=bool)


def _numeric_array(values: np.ndarray) -> np.ndarray:
    """A numpy column as float64, missing values as NaN."""
    if values.dtype.kind == "c":
        raise ValueError("complex data not supported")
    if values.dtype.kind != "O":
        return values.astype(np.float64)  # strings that are not numbers: ValueError
    missing = object_missing(values)
    out = np.full(len(values), np.nan)
    # astype raises TypeError for non-numbers (dicts, ...), as scikit-learn's checks expect
    out[~missing] = values[~missing].astype(np.float64)
    return out


def _numeric_column(kind: str, column) -> np.ndarray:
    """Any column as float64, missing values (NaN, None, pd.NA, nulls) as NaN."""
    if kind == "pandas":
        # na_value covers pd.NA in the nullable Int64/Float64/boolean dtypes
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if kind == "polars":
        pl = sys.modules["polars"]
        if column.dtype.is_numeric() or column.dtype in (pl.Boolean, pl.Null):
            return column.cast(pl.Float64).to_numpy()  # nulls become NaN
        return _numeric_array(column.to_numpy())  # String, Object: ValueError, TypeError
    return _numeric_array(column)


def _categorical_values(kind: str, column) -> tuple[np.ndarray, np.ndarray]:
    """A column's non-missing values and its missing-value mask.

    Returns
    -------
    values : ndarray
        The values at the non-missing rows, numeric, boolean or object (strings as
        objects).
    missing : ndarray of bool
        ``NaN``, ``None``, ``pd.NA``, polars nulls.
    """
    if kind == "pandas":
        missing = column.isna().to_numpy()
        values = column[~missing].to_numpy()
    elif kind == "polars":
        missing = column.is_null().to_numpy()
        values = _polars_values(column.filter(~column.is_null()))
    else:
        missing = _array_missing(column)
        values = column[~missing]
    if values.dtype.kind == "f":
        # a NaN the library does not count as missing (pandas' Float64 can hold NaN
        # besides NA, polars floats NaN besides null)
        nan = np.isnan(values)
        missing = missing.copy()
        missing[np.flatnonzero(~missing)[nan]] = True
        values = values[~nan]
    if values.dtype.kind in "UST":
        values = values.astype(object)  # the same categories whatever the string storage
    return values, missing


def _polars_values(column) -> np.ndarray:
    """A polars column's values as pandas and pyarrow give them: dates and datetimes
    with a time zone as Python objects (``to_numpy`` makes dates ``datetime64[D]`` and
    drops the zone), so a model fitted on one container predicts on the others."""
    pl = sys.modules["polars"]
    dtype = column.dtype
    if dtype == pl.Date or getattr(dtype, "time_zone", None) is not None:
        return np.array(column.to_list() + [None], dtype=object)[:-1]  # never 2-D
    return column.to_numpy()


def _fit_categories(values: np.ndarray) -> OrdinalEncoder | None:
    """An ``OrdinalEncoder`` over one column's non-missing training values; None when
    training had none (every value is then read as missing)."""
    if len(values) == 0:
        return None
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=int(UNSEEN), dtype=np.float64
    )
    # arrays whatever scikit-learn's transform_output says (set_config("pandas") made it
    # return a DataFrame, and fit failed)
    return encoder.set_output(transform="default").fit(values.reshape(-1, 1))


def _fit_column(X, j: int, values: np.ndarray) -> OrdinalEncoder | None:
    """``_fit_categories`` of column ``j``, with an error that names it."""
    try:
        return _fit_categories(values)
    except TypeError as error:  # sorting levels of mixed kinds: 1 < "a"
        raise TypeError(
            f"Column {column_label(X, j)} of X mixes levels of different kinds "
            f"({error}); convert it to one kind first, e.g. strings (.astype(str))."
        ) from error


class TableEncoder:
    """Turn a raw table into a float64 matrix: numbers as floats, categories as codes.

    Columns are found by position, so ``transform`` takes any container with the
    training columns in the training order (a DataFrame, or a numpy array of the same
    columns). Checking names and the number of features is left to the estimator
    (scikit-learn's ``validate_data``).

    Categories of a column are the distinct non-missing values seen by
    ``fit_transform``, sorted as ``OrdinalEncoder`` sorts them — for every input
    kind, pandas ``category`` and polars ``Enum`` columns included (levels declared
    by the dtype but absent from the data are not categories: they would be slots
    that training never fits). Values compare by value: an integer column marked
    categorical and a float column holding the same numbers give the same codes.

    ``inf`` in a numeric column is passed through; the caller refuses it with
    ``sklearn.utils.validation.assert_all_finite(out, allow_nan=True)``. Codes are
    never infinite.

    Attributes
    ----------
    is_categorical_ : ndarray of bool, shape (n_features,)
        Which columns are categorical.
    categories_ : list of (ndarray or None), length n_features
        The training categories of each categorical column (code ``k`` stands for
        ``categories_[j][k]``), None for a numeric column.

    Examples
    --------
    >>> import pandas as pd
    >>> from torchsk.data.tables import TableEncoder
    >>> X = pd.DataFrame({"x": [1.0, None, 3.0], "color": ["red", "blue", None]})
    >>> enc = TableEncoder()
    >>> enc.fit_transform(X)
    array([[ 1.,  1.],
           [nan,  0.],
           [ 3., nan]])
    >>> enc.categories_[1]
    array(['blue', 'red'], dtype=object)
    >>> enc.transform(pd.DataFrame({"x": [2.0], "color": ["green"]}))
    array([[ 2., -1.]])
    """

    def fit_transform(self, X, categorical_features="auto") -> np.ndarray:
        """Find the categorical columns and their categories, and encode ``X``.

        Parameters
        ----------
        X : DataFrame, ndarray or list of rows, shape (n_samples, n_features)
            pandas or polars DataFrame, numeric or object numpy array, list of rows.
        categorical_features : "auto", None, or array-like of str, int or bool, \
                default="auto"
            See ``resolve_categorical_features``. With a numpy array or a list,
            ``"auto"`` makes no column categorical: a column of strings then raises
            a ``ValueError`` that asks for ``categorical_features``.

        Returns
        -------
        ndarray of float64, shape (n_samples, n_features)
            Numeric columns as floats (missing values NaN, ``inf`` kept), categorical
            columns as codes into ``categories_`` (NaN where missing).
        """
        kind, columns = column_names(X)
        if not columns:  # before categorical_features' indices: scikit-learn's message
            raise ValueError(
                f"Found array with 0 feature(s) (shape=({num_samples(X)}, 0)) while a "
                "minimum of 1 is required."
            )
        self.is_categorical_ = resolve_columns(
            categorical_features, kind, columns, getattr(X, "columns", None)
        )
        self._encoders = [None] * len(columns)
        self.categories_ = [None] * len(columns)
        for j in np.flatnonzero(self.is_categorical_):
            encoder = _fit_column(X, j, _categorical_values(kind, columns[j])[0])
            self._encoders[j] = encoder
            self.categories_[j] = (
                np.array([], dtype=object) if encoder is None else encoder.categories_[0]
            )
        return self._encode(X, kind, columns, fitting=True)

    @classmethod
    def from_values(cls, is_categorical: np.ndarray, values: list, X=None) -> TableEncoder:
        """A fitted encoder whose categories are the distinct values given per column
        (found elsewhere, e.g. partition by partition over data too large to hold:
        ``data.dask``): the same categories ``fit_transform`` finds in the data.

        Parameters
        ----------
        is_categorical : ndarray of bool, shape (n_features,)
        values : list of (ndarray or None), length n_features
            The non-missing values (``column_values``) of each categorical column;
            None for a numeric column.
        X : DataFrame, default=None
            Names the columns in errors (e.g. a Dask DataFrame's meta).

        Returns
        -------
        TableEncoder
        """
        table = cls()
        table.is_categorical_ = np.asarray(is_categorical, dtype=bool)
        table._encoders = [None] * len(values)
        table.categories_ = [None] * len(values)
        for j in np.flatnonzero(table.is_categorical_):
            encoder = _fit_column(X, j, values[j])
            table._encoders[j] = encoder
            table.categories_[j] = (
                np.array([], dtype=object) if encoder is None else encoder.categories_[0]
            )
        return table

    def transform(self, X, advice: str | None = None) -> np.ndarray:
        """Encode ``X`` with the columns and categories found by ``fit_transform``.

        Parameters
        ----------
        X : DataFrame, ndarray or list of rows, shape (n_samples, n_features)
            The training columns, in the training order.
        advice : str, default=None
            What the error for a column that is not numeric advises (``FIT_ADVICE``
            for a fit's blocks, encoded by an encoder of merged levels); by default
            ``PREDICT_ADVICE``.

        Returns
        -------
        ndarray of float64, shape (n_samples, n_features)
            As ``fit_transform``; a level absent from training gets the code
            ``UNSEEN`` (-1), never an error.
        """
        kind, columns = column_names(X)
        if len(columns) != len(self.is_categorical_):
            raise ValueError(
                f"X has {len(columns)} features, but the encoder was fitted with "
                f"{len(self.is_categorical_)} features."
            )
        return self._encode(X, kind, columns, fitting=False, advice=advice)

    def _encode(self, X, kind: str, columns: list, *, fitting: bool, advice=None) -> np.ndarray:
        """Stack the encoded columns into one float64 matrix."""
        out = np.empty((num_samples(X), len(columns)), dtype=np.float64)
        # a numeric column all missing at the fit taught the network nothing (it holds
        # the column at its fill value): later values, of any kind, are read as missing,
        # so an object column of strings, all None in one CV fold's training rows (and
        # so numeric there), does not fail that fold's predict
        ignored = () if fitting else getattr(self, "_ignored", ())
        advice = advice or (FIT_ADVICE if fitting else PREDICT_ADVICE)
        for j, column in enumerate(columns):
            if self.is_categorical_[j]:
                values, missing = _categorical_values(kind, column)
                values = as_trained(values, self._encoders[j])
                check_one_kind(X, j, values, self._encoders[j])
                out[:, j] = codes(self._encoders[j], values, missing, column_label(X, j))
            elif j in ignored:
                out[:, j] = np.nan
            else:
                out[:, j] = _numeric(X, j, kind, column, advice)
        if fitting:
            empty = np.isnan(out).all(axis=0) & ~np.asarray(self.is_categorical_, dtype=bool)
            self._ignored = tuple(np.flatnonzero(empty).tolist()) if len(out) else ()
        return out


def column_values(X, is_categorical: np.ndarray) -> list:
    """The distinct non-missing values of each categorical column of ``X`` (None for
    the others), as ``fit_transform`` finds its categories: what one partition of a
    larger table contributes to ``TableEncoder.from_values``."""
    kind, columns = column_names(X)
    return [
        _distinct(_categorical_values(kind, column)[0]) if flag else None
        for flag, column in zip(is_categorical, columns, strict=True)
    ]


def _distinct(values: np.ndarray) -> np.ndarray:
    """Distinct values (an ``OrdinalEncoder`` fitted on them finds the same categories).
    Values that do not sort (mixed kinds, complex numbers) are kept unsorted, for the
    merged table to refuse naming the column, or to read as numbers and refuse so."""
    if not len(values):
        return values
    try:
        return OrdinalEncoder().fit(values.reshape(-1, 1)).categories_[0]
    except TypeError:
        return np.array(list(dict.fromkeys(values.tolist())), dtype=object)


def check_readable(X, j: int, column) -> None:
    """Refuse a column read as numbers whose dtype holds something else, naming it:
    the same error whatever the other columns (with or without a table) and whatever
    holds the values (a dtype, or Python objects in an ``object`` column)."""
    what = unreadable(column)
    if what is not None:
        raise ValueError(
            f"Column {column_label(X, j)} of X holds {what}: the network reads "
            "numbers, and categorical columns (categorical_features)."
        )


def check_frame_columns(X) -> None:
    """``check_readable`` on every column of a pandas or polars DataFrame read as
    numbers without a table (all-numeric X), unless every dtype is numeric already:
    taking the columns one by one cost a 1-row predict on 5,000 float columns 0.5 s."""
    if (is_pandas_df(X) or is_polars_df(X)) and not numeric_dtypes(X):
        for j, column in enumerate(column_names(X)[1]):
            check_readable(X, j, column)


#: what the error for a column that is not numeric advises, at a fit and at predict
FIT_ADVICE = (
    "Mark it categorical with categorical_features (column names, indices or a boolean mask)."
)
PREDICT_ADVICE = "It was numeric when the model was fitted."


def _numeric(X, j: int, kind: str, column, advice: str) -> np.ndarray:
    """One numeric column, with an error that names it and says what to do (``advice``)."""
    check_readable(X, j, column)
    try:
        return _numeric_column(kind, column)
    except ValueError as error:
        raise _not_numeric(X, j, error, advice) from error


def _not_numeric(X, j: int, cause: Exception, advice: str) -> ValueError:
    """The error naming column ``j`` of X, which could not be read as numbers."""
    return ValueError(f"Column {column_label(X, j)} of X is not numeric ({cause}). {advice}")


def named_numbers_error(X, error: ValueError, advice: str) -> ValueError:
    """``error``, numpy's failure to read X as numbers ("could not convert string to
    float: 'b'"), as the error naming X's first column that is not numeric and saying
    what to do (``advice``); ``error`` itself where no column is to blame, or where it
    is scikit-learn's own (complex data, a ragged list).

    Parameters
    ----------
    X : DataFrame, array-like or list of rows
    error : ValueError
        What scikit-learn's validation raised.
    advice : str
        The sentence that follows the column's name.

    Returns
    -------
    ValueError
    """
    if not str(error).startswith("could not convert"):
        return error
    try:
        kind, columns = column_names(X)
    except (TypeError, ValueError):  # not a table of rows: scikit-learn's error stands
        return error
    for j, column in enumerate(columns):
        try:
            _numeric_column(kind, column)
        except (TypeError, ValueError) as cause:
            return _not_numeric(X, j, cause, advice)
    return error


def frame_as_numbers(X, advice: str = PREDICT_ADVICE) -> np.ndarray | None:
    """A pandas or polars DataFrame that scikit-learn's ``check_array`` cannot read
    (``object`` columns holding ``pd.NA``, as ``df.iloc[0].to_frame().T`` gives;
    pyarrow decimals), or an ``object`` array or list of rows holding missing values
    (``columns.objects_missing``), read column by column as the table reads numbers: a model
    fitted on numeric columns predicts on the same values in any container (and a fit
    on batches trains on them). None for any other X (``check_array`` reads it); a
    column that is not numeric raises the error naming it, with ``advice``."""
    if not (table_read_columns(X) or objects_missing(X)):
        return None
    kind, columns = column_names(X)
    numbers = [_numeric(X, j, kind, column, advice) for j, column in enumerate(columns)]
    return np.column_stack(numbers) if numbers else np.empty((len(X), 0))
