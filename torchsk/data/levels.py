"""A categorical column's levels at predict time, matched to its training levels.

``tables.TableEncoder`` codes a column with scikit-learn's ``OrdinalEncoder``, which
matches values by equality: a level of another kind (a date where training had
datetimes) or of another precision (float32's 0.1 where training had float64's) would
silently be an unseen level. This module refuses the first by name and matches the
second at the coarser of the two precisions.
"""

from __future__ import annotations

import datetime
import numbers

import numpy as np
from sklearn.preprocessing import OrdinalEncoder

from torchsk.data.columns import column_label

#: Code of a categorical level that training never saw.
UNSEEN = -1.0


def level_kind(value) -> str:
    """What a categorical level is, in words: strings, numbers, durations, datetimes
    (numpy's, pandas' and Python's of each compare equal), timezone-aware datetimes,
    dates, or its type's values (bytes). Levels of two kinds never match."""
    if isinstance(value, str):
        return "strings"
    if isinstance(value, datetime.timedelta | np.timedelta64):  # numpy's: an integer
        return "durations"
    if isinstance(value, numbers.Number | np.bool_):
        return "numbers"
    if isinstance(value, datetime.datetime | np.datetime64):
        aware = getattr(value, "tzinfo", None) is not None
        return "timezone-aware datetimes" if aware else "datetimes"
    if isinstance(value, datetime.date):
        return "dates"
    return f"{type(value).__name__} values"


def _one_of_each_type(values: np.ndarray) -> dict:
    """One value of each type in a column without missing values (an object column's
    last of each, read in C; a typed array's first)."""
    if values.dtype.kind != "O":
        return {type(values[0]): values[0]}
    return dict(zip(map(type, values), values, strict=True))


def level_kinds(values: np.ndarray, typed: dict) -> set[str]:
    """The ``level_kind`` of every value of a column without missing values, from
    ``typed`` (``_one_of_each_type``): naive and timezone-aware datetimes, which
    share their types, are told apart value by value."""
    kinds = {level_kind(value) for value in typed.values()}
    if values.dtype.kind == "O" and kinds & {"datetimes", "timezone-aware datetimes"}:
        stamps = (value for value in values if isinstance(value, datetime.datetime))
        kinds |= {level_kind(value) for value in stamps}
    return kinds


def check_one_kind(X, j: int, values: np.ndarray, encoder: OrdinalEncoder | None) -> None:
    """Refuse, naming the column, a categorical column whose levels at predict time
    mix strings and other values (a fit refuses it in sorting its levels), or are
    of another kind than training's (``level_kind``: numbers where training had
    strings, dates where it had datetimes): a ``1`` where training had ``"1"``,
    or a ``datetime.date`` where it had ``datetime64``, would silently be unseen."""
    if not len(values):
        return
    typed = _one_of_each_type(values)
    if values.dtype.kind == "O":
        strings = {issubclass(t, str) for t in typed}
    else:
        strings = {values.dtype.kind in "UST"}
    if len(strings) > 1:
        raise TypeError(
            f"Column {column_label(X, j)} of X mixes levels of different kinds (strings "
            "and other values); convert it to one kind first, e.g. strings (.astype(str))."
        )
    if encoder is None:
        return
    trained = level_kind(encoder.categories_[0][0])
    others = sorted(level_kinds(values, typed) - {trained})
    if others:
        advice = {"strings": " (e.g. .astype(str))", "numbers": " (e.g. .astype(float))"}
        raise TypeError(
            f"Column {column_label(X, j)} of X holds {' and '.join(others)}, and its levels "
            f"were {trained} when the model was fitted; convert it to {trained} first"
            f"{advice.get(trained, '')}."
        )


def as_trained(values: np.ndarray, encoder: OrdinalEncoder | None) -> np.ndarray:
    """A column's dates in the form its training levels have: ``datetime.date``
    objects (pandas, pyarrow, polars) and numpy's ``datetime64[D]`` (a numpy array, a
    model fitted on polars before it read dates as objects) are the same levels.
    Anything else is returned as it is."""
    if encoder is None or not len(values):
        return values
    levels = encoder.categories_[0]
    day = np.dtype("datetime64[D]")
    if levels.dtype == object and values.dtype == day and level_kind(levels[0]) == "dates":
        return values.astype(object)  # datetime.date objects
    if levels.dtype == day and values.dtype == object:
        if all(type(value) is datetime.date for value in values):
            return values.astype(day)
    return values


def codes(encoder: OrdinalEncoder | None, values: np.ndarray, missing: np.ndarray, name=""):
    """Codes of column ``name``: NaN where missing, ``UNSEEN`` for new levels.

    Missing values never reach the ``OrdinalEncoder``: it would call a ``None`` at
    transform an unseen level when training had only ``NaN``. A column with no
    training category is missing throughout."""
    out = np.full(len(missing), np.nan)
    # no training category (all missing): later values stay missing, as the fit saw them
    if encoder is None or not len(values):
        return out
    levels, dtype = encoder.categories_[0], values.dtype
    held = levels.dtype == object and dtype.kind in "biuf"  # not dates: numpy's ints
    if held:  # numbers against levels held as objects (np.int64, Decimal): compared
        values = values.astype(object)  # as objects (numpy's isnan refused them)
    # np.asarray: an encoder fitted before set_output was pinned follows the config
    found = np.asarray(encoder.transform(values.reshape(-1, 1))).ravel()
    unseen = found == UNSEEN
    if unseen.any() and held and dtype.kind == "f":  # ints compare exactly
        _refuse_inexact(name, values[unseen].astype(dtype), levels)
    if unseen.any() and dtype.kind == levels.dtype.kind == "f" and dtype != levels.dtype:
        found[unseen] = _coarse_codes(name, values[unseen], levels)
    out[~missing] = found
    return out


def _refuse_inexact(name: str, unseen: np.ndarray, levels: np.ndarray) -> None:
    """Refuse numbers equal to a level held as an object only in their float dtype
    (0.1 and ``Decimal("0.1")``; float32's 0.1 and a float 0.1 held as an object):
    they had been unseen."""
    try:
        inexact = np.isin(unseen, levels.astype(unseen.dtype)).any()
    except (TypeError, ValueError):  # levels that are not numbers
        inexact = False
    if inexact:
        raise TypeError(
            f"Column {name} of X holds numbers equal to its levels only as floats (they "
            f"were {type(levels[0]).__name__} values at the fit); convert it to those first."
        )


def _coarse_codes(name: str, unseen: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Codes of float values that matched no float level of another precision,
    compared at the coarser one: float32's 0.1 is float64's 0.1 rounded, the same
    level to a user (a column read as float32 at predict, or fitted as float32).

    Casting keeps the sorted levels' order, so each value's match is found by
    ``searchsorted``; two levels that round to one value cannot tell which is meant."""
    coarse = min(unseen.dtype, levels.dtype, key=lambda dtype: dtype.itemsize)
    with np.errstate(over="ignore"):  # a level past float32's range is inf there
        values, rounded = unseen.astype(coarse), levels.astype(coarse)
    at = np.minimum(np.searchsorted(rounded, values), len(rounded) - 1)
    hit = rounded[at] == values
    after = np.minimum(at + 1, len(rounded) - 1)
    if (hit & (after != at) & (rounded[after] == values)).any():
        raise TypeError(
            f"Column {name} of X holds {unseen.dtype} values that match two of its "
            f"{levels.dtype} levels at {coarse} precision; convert it to {levels.dtype} first."
        )
    return np.where(hit, at, UNSEEN)
