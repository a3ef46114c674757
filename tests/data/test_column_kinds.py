"""How a column is read depends on the column alone: not on its neighbours (an
all-numeric table, or one with a string column that sends X through the categorical
table), nor on the container (pandas, polars, a numpy object array, a tensor, Dask).

An exhaustive grid rather than random draws: every column kind in every container
that can hold it, beside numbers alone and beside a string column, with
``categorical_features`` as column indices (every container) and as ``"auto"``
(where it means the same: DataFrames; an array's ``"auto"`` marks no column, so it is
used for arrays only where no column is categorical). The outcome of each case is:

- accepted: the encoded column the network sees, whether fit names it as learned
  from nothing, and the predictions (equal for every container with the same
  neighbours: a linear network on a fixed seed sees the same numbers);
- refused: the exception type, with the column named (``'c'`` in a DataFrame,
  ``at index 1`` in an array), at fit and, for a column numeric at fit, at predict.

Python objects in a pandas ``object`` or polars ``Object`` column ("pandas objects",
"polars objects") must be read as the dtype holding the same values is.

What each container cannot hold (its entry is absent from ``KINDS``), and why:

- a tensor holds one numeric dtype for all its columns: no objects, strings, dates,
  periods; a complex or bool column would make the float neighbour complex or bool
  too (a complex tensor is refused as a whole, a bool one read as 0/1 — tested in
  ``test_large_data``). It holds the all-missing columns (NaN).
- polars has no complex, no period and no mixed dtype: they are ``Object`` columns
  ("polars objects"); numbers from a database come as its ``Decimal`` dtype.
- Dask DataFrames convert ``object`` columns to strings before torchsk sees them
  (``dataframe.convert-string``, on by default): numbers held as objects become
  strings (a categorical column) and a mixed column strings only, so the object kinds
  are held in Dask with that setting off ("dask objects"). A Dask *array* is numeric:
  it holds the all-missing numeric column.
"""

import datetime
import re
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from torchsk import TorchRegressor

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

N = 12
X0 = np.linspace(-1.0, 1.0, N)  # the numeric neighbour
Y = np.sin(3 * X0) + 0.1 * np.arange(N)
STRINGS = np.resize(["a", "b", "c"], N).astype(object)  # the string neighbour
READ = ("accepted", "ignored")
FAST = dict(hidden_layer_sizes=(), solver="adam", max_iter=3, shuffle=False, random_state=0)

_NUMBERS = [Decimal(k) / 4 for k in range(N - 1)] + [None]
_DATES = [datetime.date(2020, 1, 1 + k) for k in range(N)]
_PERIODS = [pd.Period(f"2020-{k + 1:02d}", "M") for k in range(N)]
_COMPLEX = [complex(k, 1) for k in range(N)]
_BOOLS = [bool(k % 2) for k in range(N)]
_MIXED = [1, "a", 2] * (N // 3)

#: kind -> (how each container holds it, whether indices mark it categorical, the
#: outcome: ("accepted", the encoded column), ("ignored", the encoded column): accepted,
#: named as learned from nothing, its later values change nothing; or the exception
#: and the words of its message)
KINDS = {
    "numbers as objects": (
        {
            "pandas": lambda: pd.Series(_NUMBERS, dtype=object),  # Decimal from read_sql
            "polars": lambda: pl.Series(_NUMBERS),  # polars' Decimal dtype
            "numpy": lambda: np.array(_NUMBERS, dtype=object),
            "dask objects": lambda: pd.Series(_NUMBERS, dtype=object),
        },
        False,
        ("accepted", [k / 4 for k in range(N - 1)] + [np.nan]),
    ),
    "numbers as objects, NaT missing": (  # pandas' missing value for dates: isna
        {
            "pandas objects": lambda: pd.Series(_NUMBERS[:-1] + [pd.NaT], dtype=object),
            "numpy": lambda: np.array(_NUMBERS[:-1] + [pd.NaT], dtype=object),
            "dask objects": lambda: pd.Series(_NUMBERS[:-1] + [pd.NaT], dtype=object),
        },
        False,
        ("accepted", [k / 4 for k in range(N - 1)] + [np.nan]),
    ),
    "bool": (
        {
            "pandas": lambda: pd.Series(_BOOLS),
            "pandas objects": lambda: pd.Series(_BOOLS, dtype=object),
            "polars": lambda: pl.Series(_BOOLS),
            "polars objects": lambda: pl.Series(_BOOLS, dtype=pl.Object),
            "numpy": lambda: np.array(_BOOLS, dtype=object),
            "dask": lambda: pd.Series(_BOOLS),
            "dask objects": lambda: pd.Series(_BOOLS, dtype=object),
        },
        False,
        ("accepted", np.arange(N) % 2),
    ),
    "all missing": (
        {
            "pandas": lambda: pd.Series(np.full(N, np.nan)),
            "pandas objects": lambda: pd.Series([None] * N, dtype=object),
            "polars": lambda: pl.Series([None] * N, dtype=pl.Float64),
            "polars nulls": lambda: pl.Series([None] * N),  # the Null dtype
            "numpy": lambda: np.array([None] * N, dtype=object),
            "tensor": lambda: np.full(N, np.nan),
            "dask": lambda: pd.Series(np.full(N, np.nan)),
            "dask array": lambda: np.full(N, np.nan),
            "dask objects": lambda: pd.Series([None] * N, dtype=object),
        },
        False,
        ("ignored", np.full(N, np.nan)),
    ),
    "all missing, categorical": (
        {
            "pandas": lambda: pd.Series(pd.Categorical([None] * N, categories=["u", "v"])),
            "polars": lambda: pl.Series([None] * N, dtype=pl.String),
            "numpy": lambda: np.array([None] * N, dtype=object),
            "tensor": lambda: np.full(N, np.nan),
            "dask": lambda: pd.Series(pd.Categorical([None] * N, categories=["u", "v"])),
        },
        True,
        ("ignored", np.full(N, np.nan)),
    ),
    "dates": (
        {
            "pandas": lambda: pd.Series(pd.to_datetime(_DATES)),
            "pandas objects": lambda: pd.Series(_DATES, dtype=object),
            "polars": lambda: pl.Series(_DATES),
            "polars objects": lambda: pl.Series(_DATES, dtype=pl.Object),
            "numpy": lambda: np.array(_DATES, dtype=object),
            "dask objects": lambda: pd.Series(_DATES, dtype=object),
            "dask": lambda: pd.Series(pd.to_datetime(_DATES)),
        },
        False,
        (ValueError, "holds dates"),
    ),
    "complex": (
        {
            "pandas": lambda: pd.Series(_COMPLEX),
            "pandas objects": lambda: pd.Series(_COMPLEX, dtype=object),
            "polars objects": lambda: pl.Series(_COMPLEX, dtype=pl.Object),
            "numpy": lambda: np.array(_COMPLEX, dtype=object),
            "dask objects": lambda: pd.Series(_COMPLEX, dtype=object),
            "dask": lambda: pd.Series(_COMPLEX),
        },
        False,
        (ValueError, "holds complex numbers"),
    ),
    "periods": (
        {
            "pandas": lambda: pd.Series(_PERIODS),
            "pandas objects": lambda: pd.Series(_PERIODS, dtype=object),
            "polars objects": lambda: pl.Series(_PERIODS, dtype=pl.Object),
            "numpy": lambda: np.array(_PERIODS, dtype=object),
            "dask objects": lambda: pd.Series(_PERIODS, dtype=object),
            "dask": lambda: pd.Series(_PERIODS),
        },
        False,
        (ValueError, "holds periods"),
    ),
    "mixed numbers and strings": (
        {
            "pandas": lambda: pd.Series(_MIXED, dtype=object),
            "polars objects": lambda: pl.Series(_MIXED, dtype=pl.Object),
            "numpy": lambda: np.array(_MIXED, dtype=object),
            "dask objects": lambda: pd.Series(_MIXED, dtype=object),
        },
        True,
        (TypeError, "mixes levels of different kinds"),
    ),
}


def _container(where: str, column, strings: bool):
    """X with the numeric neighbour 'x', the column 'c' and maybe the strings 's'."""
    if where.startswith("pandas") or where in ("dask", "dask objects"):
        frame = pd.DataFrame({"x": X0, "c": column})
        if strings:
            frame["s"] = STRINGS
        if where.startswith("pandas"):
            return frame
        with dask.config.set({"dataframe.convert-string": where == "dask"}):
            return dd.from_pandas(frame, npartitions=2)
    if where.startswith("polars"):
        extra = [pl.Series("s", STRINGS.astype(str))] if strings else []
        return pl.DataFrame([pl.Series("x", X0), column.alias("c"), *extra])
    if where == "numpy":
        return np.column_stack([X0.astype(object), column] + ([STRINGS] if strings else []))
    if where == "tensor":
        return torch.tensor(np.column_stack([X0, column]))
    return da.from_array(np.column_stack([X0, column]), chunks=(5, 2))


def _specs(where: str, categorical: bool, strings: bool) -> list:
    """``categorical_features`` as indices, and ``"auto"`` where it means the same."""
    indices = [1] * categorical + [2] * strings
    return [indices, "auto"] if _is_frame(where) or not indices else [indices]


def _cases(kind: str):
    makers, categorical, _ = KINDS[kind]
    for where, make in makers.items():
        for strings in (False, True):
            if strings and where in ("tensor", "dask array"):
                continue  # no string column in a numeric array
            for spec in _specs(where, categorical, strings):
                yield where, strings, spec, _container(where, make(), strings)


def _is_frame(where: str) -> bool:
    return where.startswith(("pandas", "polars", "dask")) and where != "dask array"


def _named(where: str) -> str:
    """How an error names the column."""
    return "'c'" if _is_frame(where) else "at index 1"


def _lost_name(where: str) -> str:
    """How fit's warning names a column learned from nothing."""
    return "'c'" if _is_frame(where) else "column 1"


def _fit(X, spec):
    """The fitted estimator, and fit's warnings naming columns learned from nothing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = TorchRegressor(categorical_features=spec, **FAST).fit(X, Y)
    lost = [str(w.message) for w in caught if "no values in training" in str(w.message)]
    return est, lost


def _clean(kind: str, where: str, strings: bool):
    """X whose column 'c' fits: numbers, or strings for a categorical kind."""
    if KINDS[kind][1] and where not in ("tensor", "dask array"):  # levels by value there
        values = np.resize(["1", "a", "2"], N).astype(object)
        column = pl.Series(values.astype(str)) if where.startswith("polars") else values
    else:
        numbers = np.arange(N, dtype=float)
        column = pl.Series(numbers) if where.startswith("polars") else numbers
    return _container(where, column, strings)


def _refusal(call, *args) -> tuple:
    """The type and message of what ``call(*args)`` raises (None, "" if nothing)."""
    try:
        call(*args)
    except Exception as error:  # noqa: BLE001 - the outcome is compared, not handled
        return type(error), str(error)
    return None, ""


@pytest.mark.parametrize("kind", [k for k, v in KINDS.items() if v[2][0] not in READ])
def test_a_refused_column_is_refused_alike_and_named_everywhere(kind):
    """The same exception naming the column at fit, and at predict after a fit where
    the column held numbers (strings for a categorical kind)."""
    error, words = KINDS[kind][2]
    for where, strings, spec, X in _cases(kind):
        case = (where, strings, spec)
        fitted, _ = _fit(_clean(kind, where, strings), spec)
        outcomes = {"fit": _refusal(_fit, X, spec), "predict": _refusal(fitted.predict, X)}
        for stage, (raised, message) in outcomes.items():
            assert raised is error, (case, stage, raised, message)
            named = f"Column {re.escape(_named(where))} of X .*{words}"
            assert re.search(named, message), (case, stage, message)


@pytest.mark.parametrize("kind", [k for k, v in KINDS.items() if v[2][0] in READ])
def test_an_accepted_column_is_read_alike_everywhere(kind):
    """The expected encoded column for every container and neighbours; the same
    predictions for every container with the same neighbours."""
    outcome, expected = KINDS[kind][2]
    ignored = outcome == "ignored"
    predictions = {}
    for where, strings, spec, X in _cases(kind):
        case = (where, strings, spec)
        est, lost = _fit(X, spec)
        # fit names a column learned from nothing, and only then
        assert len(lost) == ignored and all(_lost_name(where) in w for w in lost), case
        pred = est.predict(X)
        predictions.setdefault(strings, {})[str(case)] = pred
        if not where.startswith("dask"):  # what validation hands the network's input stage
            column = est._module_input_array(X)[:, 1]
            np.testing.assert_array_equal(column, expected, err_msg=str(case))
        if ignored:  # values it gets later change nothing
            later = est.predict(_clean(kind, where, strings))
            np.testing.assert_allclose(later, pred, rtol=0, atol=1e-12, err_msg=str(case))
    for same in predictions.values():
        reference = next(iter(same.values()))
        for case, pred in same.items():
            np.testing.assert_allclose(pred, reference, rtol=1e-6, atol=1e-6, err_msg=case)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: pl.Series([[1, 2]] * N), "holds lists"),
        (lambda: pl.Series([[1, 2]] * N, dtype=pl.Array(pl.Int64, 2)), "holds arrays"),
        (lambda: pl.Series([{"a": 1, "b": 2.0}] * N), "holds structs"),
        (lambda: pl.Series([b"x"] * N), "holds bytes"),
        (
            lambda: pd.Series([[1, 2]] * N, dtype=pd.ArrowDtype(pa.list_(pa.int64()))),
            "holds lists",
        ),  # fmt: skip
        # containers in an object column: the encoder's "unhashable type" named none
        (lambda: pd.Series([np.array([1, 2])] * N), "holds arrays"),
        (lambda: pd.Series([(1, 2), (3, 4)] * (N // 2)), "holds tuples"),
        (lambda: pd.Series([{1, 2}] * N), "holds sets"),
    ],
    ids=[
        "polars List",
        "polars Array",
        "polars Struct",
        "polars Binary",
        "pandas list[pyarrow]",
        "object ndarray",
        "object tuple",
        "object set",
    ],  # fmt: skip
)
def test_nested_and_binary_columns_are_refused_by_name(make, words):
    """numpy's own errors ('setting an array element with a sequence') named no column."""
    column = make()
    if isinstance(column, pl.Series):
        X = pl.DataFrame([pl.Series("x", X0), column.alias("c")])
    else:
        X = pd.DataFrame({"x": X0, "c": column})
    with pytest.raises(ValueError, match=f"Column 'c' of X {words}"):
        TorchRegressor(**FAST).fit(X, Y)


@pytest.mark.parametrize("unit", ["datetime64[us]", "timedelta64[us]"])
def test_a_numpy_array_of_dates_or_durations_is_refused_as_their_columns_are(unit):
    """numpy read them as counts of their unit: a model fitted on microseconds
    predicted the same dates given in seconds as other inputs, in silence."""
    X = np.arange(len(Y)).astype(unit).reshape(-1, 1)
    what = "dates or times" if unit.startswith("date") else "durations"
    with pytest.raises(ValueError, match=f"X holds {what}"):
        TorchRegressor(**FAST).fit(X, Y)
    fitted = TorchRegressor(**FAST).fit(X.astype(np.int64), Y)
    for rows in (X, [list(row) for row in X]):  # a list of rows, as numpy reads it
        with pytest.raises(ValueError, match=f"X holds {what}"):
            fitted.predict(rows)
    mixed = [[value, 1.0] for value in X[:, 0]]  # rows of a date and a number: objects
    with pytest.raises(ValueError, match=f"Column at index 0 of X holds {what}"):
        TorchRegressor(**FAST, categorical_features=None).fit(mixed, Y)
    with pytest.raises(ValueError, match="Expected 2D array, got scalar array"):
        fitted.predict(np.array(5.0))  # scikit-learn's error, not an IndexError


def test_a_numeric_model_predicts_its_rows_in_object_columns_with_pd_na():
    """``df.iloc[[k]]`` and ``df.iloc[k].to_frame().T`` are the same row: the second
    has object columns holding ``pd.NA``, which ``check_array`` cannot read; the model
    (fitted on numeric columns, no table) reads them as the table reads numbers."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "x": rng.normal(size=40),
            "i": pd.array([None if k % 7 == 0 else k % 5 for k in range(40)], dtype="Int64"),
        }
    )
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, rng.normal(size=40))
    assert est._table is None  # the numeric path, not the table's
    np.testing.assert_array_equal(est.predict(X.iloc[0].to_frame().T), est.predict(X.iloc[[0]]))
    np.testing.assert_array_equal(est.predict(X.astype(object)), est.predict(X))
    with pytest.raises(ValueError, match="Column 'x' of X is not numeric"):
        est.predict(X.astype(object).assign(x="a"))
    # a fit without a table and a partial_fit read them alike (numpy's bare TypeError
    # "float() argument must be ... not 'NAType'" before)
    y = rng.normal(size=40)
    plain = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0, categorical_features=None)
    objects = TorchRegressor(**plain).fit(X.astype(object), y)
    expected = TorchRegressor(**plain).fit(X, y).predict(X)
    np.testing.assert_allclose(objects.predict(X), expected, rtol=1e-12)  # rows' layout
    objects.partial_fit(X.astype(object), y)
    with pytest.raises(ValueError, match="Column 'x' of X is not numeric.*categorical_features"):
        TorchRegressor(**plain).fit(X.astype(object).assign(x="a"), y)
    # as numpy rows: df.to_numpy() of nullable columns is an object array holding pd.NA,
    # and a list of rows is read alike (numpy's bare TypeError before)
    rows = X.to_numpy()
    assert rows.dtype == object and any(v is pd.NA for v in rows[:, 1])
    np.testing.assert_array_equal(est.predict(rows), est.predict(X))
    np.testing.assert_array_equal(est.predict(rows.tolist()), est.predict(X))
    listed = TorchRegressor(**plain).fit(rows.tolist(), y)
    np.testing.assert_allclose(listed.predict(rows), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="Column at index 0 of X is not numeric"):
        est.predict(np.column_stack([np.full(40, "a", dtype=object), rows[:, 1]]))
