"""A table's columns: their labels, and which are categorical (``categorical_features``)."""

from __future__ import annotations

import datetime
import numbers
import sys
from decimal import Decimal

import numpy as np
from sklearn.utils._missing import is_scalar_nan

from torchsk.data.tensors import host_array

try:  # scikit-learn >= 1.9
    from sklearn.utils._dataframe import is_pandas_df, is_polars_df
except ImportError:  # scikit-learn 1.6 - 1.8
    from sklearn.utils.validation import _is_pandas_df as is_pandas_df
    from sklearn.utils.validation import _is_polars_df as is_polars_df


#: ``categorical_features`` that read the columns' dtypes: torchsk's ``"auto"``, and
#: ``HistGradientBoosting*``'s ``"from_dtype"`` (its default since scikit-learn 1.6),
#: the same here (HGB refuses the string columns that "auto" also takes).
AUTO_SPELLINGS = ("auto", "from_dtype")


def is_auto(spec) -> bool:
    """Whether ``categorical_features`` reads the columns' dtypes (``AUTO_SPELLINGS``)."""
    return isinstance(spec, str) and spec in AUTO_SPELLINGS


def comparable_spec(spec, n_columns: int | None = None):
    """``categorical_features`` as a warm start compares it with the fit's: one
    spelling of ``"auto"``, and a boolean mask as the column indices it selects.

    Parameters
    ----------
    spec : "auto", "from_dtype", None or array-like
        The parameter's value.
    n_columns : int, default=None
        X's width where known: a mask of another length selects no columns of X
        (a fit refuses it), so it is kept as it is, unlike any indices.

    Returns
    -------
    object
        ``"auto"`` for either spelling of it (HGB's ``"from_dtype"`` selects the same
        columns), a list of indices for a mask, ``spec`` itself otherwise.
    """
    if is_auto(spec):
        return "auto"
    if spec is None or isinstance(spec, str):
        return spec
    array = np.asarray(spec)
    if array.dtype != bool or (n_columns is not None and len(array) != n_columns):
        return spec
    return np.flatnonzero(array).tolist()


_SPEC_HELP = (
    'categorical_features must be "auto" (or "from_dtype"), None, or an array-like of '
    "column names, of column indices, or a boolean mask over the columns"
)


def from_arrow(X):
    """A pyarrow ``Table`` or ``RecordBatch`` as a pandas DataFrame (a polars one where
    pandas is missing and polars imported); anything else as it is.

    numpy reads an Arrow table as a plain array of its values: its column names and
    dictionary (categorical) columns were lost, and a string column failed with numpy's
    "could not convert string to float". ``HistGradientBoosting*`` reads such a table
    by its dtypes; so do the estimators, through the DataFrame the table converts to.

    Parameters
    ----------
    X : object
        What a fit or predict was given.

    Returns
    -------
    object
        ``X``, or the DataFrame of an Arrow table.
    """
    pa = sys.modules.get("pyarrow")
    if pa is None or not isinstance(X, (pa.Table, pa.RecordBatch)):
        return X
    try:
        return X.to_pandas()
    except ImportError:  # pyarrow's conversion needs pandas
        polars = sys.modules.get("polars")
        return X if polars is None else polars.from_arrow(X)


def column_label(X, j: int) -> str:
    """How an error message names column ``j``: a label that is not a string comes
    with its position, which is what ``categorical_features`` takes for an integer."""
    if is_pandas_df(X) or is_polars_df(X):
        label = X.columns[j]
        return repr(label) if isinstance(label, str) else f"{label} (at index {j})"
    return f"at index {j}"


def _as_array(X) -> np.ndarray:
    """A 2-D ndarray for anything that is not a DataFrame.

    A list of mixed rows such as ``[[1, "a"]]`` becomes an object array, not numpy's
    default unicode array: the numbers must stay numbers.
    """
    if "scipy.sparse" in sys.modules and sys.modules["scipy.sparse"].issparse(X):
        raise TypeError("Sparse input is not supported; pass a dense array or a DataFrame.")
    array = np.asarray(host_array(X))  # a tensor detached first (requires_grad)
    if array.dtype.kind in "UST":
        array = np.asarray(X, dtype=object)
    if array.ndim != 2:
        raise ValueError(
            f"Expected a 2D array or a DataFrame, got an array of {array.ndim} dimension(s) "
            "instead. Reshape your data with array.reshape(-1, 1) if it has a single "
            "feature, or array.reshape(1, -1) if it contains a single sample."
        )
    return array


def column_names(X) -> tuple[str, list]:
    """The kind of container (``"pandas"``, ``"polars"`` or ``"array"``) and its
    columns by position: pandas Series, polars Series or 1-D ndarrays."""
    if is_pandas_df(X):
        return "pandas", [X.iloc[:, j] for j in range(X.shape[1])]
    if is_polars_df(X):
        return "polars", X.get_columns()
    array = _as_array(X)
    return "array", [array[:, j] for j in range(array.shape[1])]


def _auto_mask(kind: str, columns: list) -> np.ndarray:
    """Which columns ``categorical_features="auto"`` makes categorical.

    pandas ``category``, ``object`` and string columns, polars ``Categorical``,
    ``Enum`` and ``String`` columns; but not an ``object`` column of numbers only
    (``Decimal`` from ``read_sql``, Python ints and floats), which is read as numbers.
    Arrays and lists have no column types: none (a numpy column of strings then fails
    its numeric conversion with a message that asks for ``categorical_features``).
    """
    if kind == "pandas":
        from pandas.api.types import is_string_dtype  # pandas is there: X is a DataFrame

        pd = sys.modules["pandas"]
        flags = [
            isinstance(c.dtype, pd.CategoricalDtype)
            or _arrow_dictionary(c.dtype)
            or (is_string_dtype(c.dtype) and not holds_numbers(c))
            for c in columns
        ]
    elif kind == "polars":
        pl = sys.modules["polars"]
        flags = [
            isinstance(c.dtype, (pl.Categorical, pl.Enum))
            or c.dtype == pl.String
            or (c.dtype == pl.Object and not holds_numbers(c))
            for c in columns
        ]
    else:
        flags = [False] * len(columns)
    return np.array(flags, dtype=bool)


def _arrow_dictionary(dtype) -> bool:
    """A pandas ``dictionary<...>[pyarrow]`` dtype: pyarrow's categorical (parquet's
    dictionary-encoded columns), which ``HistGradientBoosting*`` also reads as one."""
    arrow = getattr(dtype, "pyarrow_dtype", None)
    return arrow is not None and type(arrow).__name__ == "DictionaryType"


def arrow_columns(X) -> bool:
    """Whether a pandas DataFrame has a pyarrow-backed column other than integers,
    floats and booleans (which scikit-learn's ``check_array`` reads, ``pd.NA``
    included): the table reads those (``pd.NA`` in a ``decimal128[pyarrow]`` column)
    where ``check_array`` fails."""
    plain = ("int", "uint", "float", "double", "halffloat", "bool")
    return any(
        hasattr(dtype, "pyarrow_dtype") and not str(dtype.pyarrow_dtype).startswith(plain)
        for dtype in X.dtypes
    )


def numeric_dtypes(X) -> bool:
    """Whether every column of a pandas or polars DataFrame has a number's dtype
    (pandas' nullable and plain pyarrow ones included): what the per-column checks
    can skip (looking at 5,000 columns one by one cost a 1-row predict 0.5 s)."""
    if is_pandas_df(X):
        return all(getattr(dtype, "kind", "O") in "biuf" for dtype in X.dtypes)
    return all(dtype.is_numeric() for dtype in X.schema.values())


def table_read_columns(X) -> bool:
    """Whether a pandas or polars DataFrame has columns that only the table reads as
    numbers: ``object`` (polars ``Object``) columns, or pyarrow-backed ones
    ``check_array`` cannot read (``arrow_columns``)."""
    if not (is_pandas_df(X) or is_polars_df(X)) or numeric_dtypes(X):
        return False
    objects = any(str(dtype).lower() == "object" for dtype in X.dtypes)
    return objects or (is_pandas_df(X) and arrow_columns(X))


def holds_numbers(column) -> bool:
    """Whether ``categorical_features="auto"`` reads a pandas ``object`` or polars
    ``Object`` column as numbers: it holds numbers only (Python or numpy ints, floats
    and booleans, ``Decimal``: as one of 397 distinct ``Decimal`` prices, each level was
    rare and the whole column pooled into one slot), or nothing but missing values (an
    all-missing numeric column, as in an array), or values no path reads as numbers
    (dates, complex numbers, ...: refused, as the dtype holding them is). A column
    without rows (a Dask DataFrame's meta) tells nothing: no."""
    if not _is_object(column) or len(column) == 0:
        return False
    numbers_only = all(issubclass(t, _NUMBER_TYPES) for t in _value_types(column))
    return numbers_only or unreadable(column) is not None


#: Values read as numbers in an ``object`` column (``True`` as 1, as the bool dtypes)
_NUMBER_TYPES = (numbers.Real, Decimal, np.bool_)


#: dtypes and types of values (by the start of their name) read as numbers by no path,
#: whatever the other columns: numpy would cut complex numbers to their real part,
#: dates to counts of an arbitrary unit, and refuse periods and intervals in a message
#: naming no column
UNREADABLE = {
    "complex": "complex numbers (pass the real and imaginary parts as two columns)",
    "timedelta": "durations (convert them to numbers, e.g. .dt.total_seconds())",
    "duration": "durations (convert them to numbers, e.g. .dt.total_seconds())",
    "date": "dates or times (convert them to numbers, e.g. days since a date)",
    "time": "dates or times (convert them to numbers, e.g. days since a date)",
    "period": "periods (convert them to numbers, e.g. their start's year and month)",
    "interval": "intervals (pass their bounds as two numeric columns)",
    # nested and binary dtypes (polars List, Array, Struct, Binary; pandas' pyarrow
    # list<...>, struct<...>): numpy's own error named no column
    "list": "lists (expand them into one column per element)",
    "array(": "arrays (expand them into one column per element)",  # polars' Array
    "fixed_size_list": "lists (expand them into one column per element)",
    "large_list": "lists (expand them into one column per element)",
    "struct": "structs (unnest their fields into columns)",
    "binary": "bytes (decode them to strings, or convert them to numbers)",
    # containers as the values of an object column (``_type_name``): the category
    # encoder had failed with "unhashable type" or "mixes levels". (A dict keeps the
    # encoder's TypeError, which scikit-learn's check_dtype_object expects.)
    "ndarray": "arrays (expand them into one column per element)",
    "tuple": "tuples (expand them into one column per element, or make them strings)",
    "set": "sets (expand them into indicator columns, or make them strings)",
}


def unreadable(column) -> str | None:
    """What a column (pandas, polars, numpy) holds that no path reads as numbers, as
    ``UNREADABLE`` says it, from its dtype or, in an ``object`` column, from its
    values' types (``datetime.date``, ``pd.Timestamp``, ``pd.Period``, ``complex``, ...);
    None for anything else."""
    if _is_object(column):
        names = [_type_name(t) for t in _value_types(column)]
    else:
        names = [str(getattr(column, "dtype", "")).lower()]
    for prefix, what in UNREADABLE.items():
        if any(name.startswith(prefix) for name in names):
            return what
    return None


def _is_object(column) -> bool:
    """An ``object`` column: pandas, polars (``Object``) or numpy."""
    return str(getattr(column, "dtype", "")).lower() == "object"


def _value_types(column) -> set:
    """The types of an ``object`` column's values, missing values (None, ``pd.NA``,
    ``pd.NaT``: ``isna`` is true of each) left out."""
    values = column if isinstance(column, np.ndarray) else column.to_numpy()
    pd = sys.modules.get("pandas")
    missing = {type(None)} | ({type(pd.NA), type(pd.NaT)} if pd is not None else set())
    return set(map(type, values)) - missing


_CONTAINERS = (
    (np.ndarray, "ndarray"),
    (tuple, "tuple"),
    (list, "list"),
    ((set, frozenset), "set"),
)


def _type_name(kind: type) -> str:
    """A value's type named as ``UNREADABLE`` names dtypes: ``datetime.date``,
    ``pd.Timestamp`` and ``np.datetime64`` are dates, ``pd.Period`` a period, ..."""
    if issubclass(kind, (datetime.date, datetime.time, np.datetime64)):
        return "date"
    for container, name in _CONTAINERS:
        if issubclass(kind, container):
            return name
    return kind.__name__.lower()


def _mask_from_names(names: list, columns) -> np.ndarray:
    """Boolean mask of the columns named in ``names``."""
    if columns is None:
        raise ValueError(
            "categorical_features can only be given as column names when X is a "
            "DataFrame; pass column indices or a boolean mask instead."
        )
    columns = list(columns)
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise ValueError(
            f"categorical_features names columns that X does not have: {unknown}. "
            f"X's columns are {columns}."
        )
    return np.isin(np.arange(len(columns)), [columns.index(name) for name in names])


def _mask_from_indices(indices: np.ndarray, n_features: int) -> np.ndarray:
    """Boolean mask of the columns at ``indices`` (in ``[0, n_features - 1]``)."""
    bad = indices[(indices < 0) | (indices >= n_features)]
    if bad.size:
        raise ValueError(
            f"categorical_features has column indices {bad.tolist()} outside "
            f"[0, {n_features - 1}] (X has {n_features} columns)."
        )
    mask = np.zeros(n_features, dtype=bool)
    mask[indices] = True
    return mask


def resolve_categorical_features(spec, X) -> np.ndarray:
    """The boolean mask over ``X``'s columns that ``spec`` stands for.

    Parameters
    ----------
    spec : "auto", None, or array-like of str, int or bool
        ``categorical_features`` with ``HistGradientBoosting*``'s spellings: ``"auto"``
        (pandas ``category``/``object``/string and polars ``Categorical``/``Enum``/
        ``String`` columns; no column of a numpy array or list), ``None`` (no column),
        column names (DataFrames only), column indices, or a boolean mask.
    X : DataFrame, ndarray or list of rows
        The training data.

    Returns
    -------
    ndarray of bool, shape (n_features,)

    Raises
    ------
    ValueError
        For an unknown spelling, unknown names, out-of-range indices or a mask of
        the wrong length.
    """
    kind, columns = column_names(X)
    return resolve_columns(spec, kind, columns, getattr(X, "columns", None))


def selects_columns(spec, X, fitted: np.ndarray) -> bool:
    """Whether ``spec`` selects in ``X`` the columns ``fitted`` marks: a warm start may
    name the columns its network was built for by another spelling (names where the
    fit had ``"auto"``, indices, a mask). X of another kind (Dask, tensors) says no."""
    if not (is_pandas_df(X) or is_polars_df(X) or isinstance(X, np.ndarray)):
        return False
    try:
        return np.array_equal(resolve_categorical_features(spec, X), fitted)
    except ValueError:  # names of no column, indices out of range: not the same columns
        return False


def resolve_columns(spec, kind: str, columns: list, names) -> np.ndarray:
    """``resolve_categorical_features`` on ``X`` already split into ``columns``."""
    n_features = len(columns)
    if spec is None:
        return np.zeros(n_features, dtype=bool)
    if isinstance(spec, str):
        if spec not in AUTO_SPELLINGS:
            raise ValueError(f"{_SPEC_HELP} (a list, even for one name); got {spec!r}.")
        return _auto_mask(kind, columns)
    spec = np.asarray(spec)
    if spec.ndim != 1:
        raise ValueError(f"{_SPEC_HELP}; got an array of shape {spec.shape}.")
    if spec.size == 0:
        return np.zeros(n_features, dtype=bool)
    if spec.dtype.kind == "b":
        if spec.shape[0] != n_features:
            raise ValueError(
                f"categorical_features as a boolean mask must have one entry per column "
                f"of X ({n_features}), got {spec.shape[0]}."
            )
        return spec.copy()
    if spec.dtype.kind in "iu":
        return _mask_from_indices(spec, n_features)
    if spec.dtype.kind == "U" or (
        spec.dtype.kind == "O" and all(isinstance(s, str) for s in spec)
    ):
        return _mask_from_names(spec.tolist(), names if kind != "array" else None)
    raise ValueError(f"{_SPEC_HELP}; got values of dtype {spec.dtype}.")


def num_samples(X) -> int:
    """Rows of ``X`` (a list of rows has no shape; an array-like of ``__array__``
    alone, scikit-learn's ``_NotAnArray``, has neither shape nor length)."""
    if hasattr(X, "shape"):
        return X.shape[0]
    return len(X) if hasattr(X, "__len__") else np.asarray(X).shape[0]


def object_missing(values: np.ndarray) -> np.ndarray:
    """Missing-value mask of a 1-D object array: ``None``, ``NaN``, ``pd.NA`` and
    ``NaT`` (pandas' missing date, which ``isna`` counts as missing anywhere)."""
    pd = sys.modules.get("pandas")
    if pd is not None:  # its loop in C: a Python one took 35 ms for 100,000 labels
        return np.asarray(pd.isna(values), dtype=bool)
    return np.fromiter((v is None or is_scalar_nan(v) or _nat_or_nan(v) for v in values),
                       dtype=bool, count=len(values))  # fmt: skip


def _nat_or_nan(value) -> bool:
    """numpy's NaT and a Decimal NaN, which ``pd.isna`` counts as missing too."""
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return isinstance(value, Decimal) and value.is_nan()


def objects_missing(X) -> bool:
    """Whether X is a 2-D ``object`` array, or a list of rows numpy reads as one,
    holding missing values: ``pd.NA`` (``df.to_numpy()`` of nullable columns gives
    it) fails numpy's float conversion with a ``TypeError``."""
    if not isinstance(X, np.ndarray | list | tuple):
        return False
    try:
        array = np.asarray(X)
    except ValueError:  # ragged rows: scikit-learn's check says so
        return False
    return array.dtype == object and array.ndim == 2 and bool(object_missing(array.ravel()).any())
