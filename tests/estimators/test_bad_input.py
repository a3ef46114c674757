"""A catalogue of bad inputs: each gets scikit-learn's exception type and a message
that says what to do. Sparse input is refused (dense data is required)."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier
from sklearn.utils._param_validation import InvalidParameterError

from torchsk import TorchClassifier, TorchRegressor

pytestmark = pytest.mark.short_fits  # tiny max_iter keeps the fits fast

FAST = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
rng = np.random.default_rng(0)
X = rng.normal(size=(40, 3))
y_reg = X[:, 0] * 2.0
y_clf = np.array(["a", "b"] * 20)


def reg():
    return TorchRegressor(**FAST)


def clf():
    return TorchClassifier(**FAST)


def with_value(a, i, value):
    a = a.astype(float).copy()
    a.flat[i] = value
    return a


CASES = {
    "inf in X with NaN elsewhere": (
        reg,
        lambda: (with_value(with_value(X, 4, np.nan), 7, np.inf), y_reg),
        ValueError,
        "Input X contains infinity",
    ),
    "inf in X": (
        clf,
        lambda: (with_value(X, 4, np.inf), y_clf),
        ValueError,
        "Input X contains infinity",
    ),
    "nan in y": (
        reg,
        lambda: (X, with_value(y_reg, 3, np.nan)),
        ValueError,
        "Input y contains NaN",
    ),
    "None among string labels": (
        clf,
        lambda: (X, np.array(["a", None] + ["a", "b"] * 19, dtype=object)),
        ValueError,
        r"Input y contains NaN or None",
    ),
    "inf in y": (
        reg,
        lambda: (X, with_value(y_reg, 3, -np.inf)),
        ValueError,
        "Input y contains infinity",
    ),
    "nan label": (
        clf,
        lambda: (X, with_value(np.arange(40) % 2, 3, np.nan)),
        ValueError,
        "Input y contains NaN",
    ),
    "empty X": (reg, lambda: (X[:0], y_reg[:0]), ValueError, r"Found array with 0 sample\(s\)"),
    "zero features": (reg, lambda: (X[:, :0], y_reg), ValueError, r"0 feature\(s\)"),
    "1-D X": (reg, lambda: (X[:, 0], y_reg), ValueError, "Expected 2D array, got 1D array"),
    "3-D X": (clf, lambda: (X[:, :, None], y_clf), ValueError, "Found array with dim 3"),
    "strings in X": (
        reg,
        lambda: (X.astype(str).astype(object) + "mm", y_reg),
        ValueError,
        "could not convert string to float",
    ),
    "complex X": (reg, lambda: (X + 1j, y_reg), ValueError, "Complex data not supported"),
    "ragged lists": (
        reg,
        lambda: ([[1.0, 2.0], [3.0]], [1.0, 2.0]),
        ValueError,
        "inhomogeneous|sequence",
    ),
    "X and y lengths differ": (
        reg,
        lambda: (X, y_reg[:-1]),
        ValueError,
        "inconsistent numbers of samples",
    ),
    "single class": (
        clf,
        lambda: (X, np.array(["a"] * 40)),
        ValueError,
        "at least 2 classes.*only one class: 'a'",
    ),
    "one sample classifier": (clf, lambda: (X[:1], y_clf[:1]), ValueError, "at least 2 classes"),
    "continuous y to classifier": (
        clf,
        lambda: (X, y_reg),
        ValueError,
        "Unknown label type: continuous",
    ),
    "multiclass-multioutput y": (
        clf,
        lambda: (X, np.column_stack([np.arange(40) % 3, np.arange(40) % 2])),
        ValueError,
        "Multiclass-multioutput targets are not supported",
    ),
    "string y to regressor": (
        reg,
        lambda: (X, y_clf),
        ValueError,
        "could not convert string to float",
    ),
    "negative sample weight": (
        reg,
        lambda: (X, y_reg, -np.ones(40)),
        ValueError,
        "Negative values in data passed to `sample_weight`",
    ),
    "NaN in class_weight": (
        lambda: TorchClassifier(class_weight={"a": np.nan, "b": 1.0}, **FAST),
        lambda: (X, y_clf),
        ValueError,
        "class_weight must give finite, non-negative weights",
    ),
    "negative class_weight": (
        lambda: TorchClassifier(class_weight={"a": -1.0, "b": 1.0}, **FAST),
        lambda: (X, y_clf),
        ValueError,
        "class_weight must give finite, non-negative weights",
    ),
    "sample weight length": (
        reg,
        lambda: (X, y_reg, np.ones(39)),
        ValueError,
        r"sample_weight.shape == \(39,\), expected \(40,\)",
    ),
    "all-zero sample weights": (
        reg,
        lambda: (X, y_reg, np.zeros(40)),
        ValueError,
        "Sample weights must contain at least one non-zero number",
    ),
    "negative counts for poisson": (
        lambda: TorchRegressor(loss="poisson", **FAST),
        lambda: (X, y_reg),
        ValueError,
        "negative which is not allowed for Poisson",
    ),
    "invalid head for poisson": (
        lambda: TorchRegressor(loss="poisson", head="identity", **FAST),
        lambda: (X, np.abs(y_reg)),
        ValueError,
        "positive output link",
    ),
    "invalid head/loss pair": (
        lambda: TorchClassifier(head="sigmoid", loss="nll", **FAST),
        lambda: (X, y_clf),
        ValueError,
        "Valid combinations",
    ),
    "device that does not exist": (
        lambda: TorchRegressor(device="tpu9", **FAST),
        lambda: (X, y_reg),
        ValueError,
        "not a valid torch device",
    ),
    "cuda without a GPU": (
        lambda: TorchRegressor(device="cuda:7", **FAST),
        lambda: (X, y_reg),
        (ValueError,),
        "CUDA is not available|not a valid",
    ),
    "dates as a regression target": (  # MLPRegressor: a UFuncTypeError; we had fitted
        lambda: TorchRegressor(**FAST),
        lambda: (X, pd.Series(pd.date_range("2020-01-01", periods=len(X)))),
        ValueError,
        r"dtype datetime64.*days since a date",
    ),
    "durations as a regression target": (
        lambda: TorchRegressor(**FAST),
        lambda: (X, pd.to_timedelta(np.arange(len(X)), "D").to_numpy()),
        ValueError,
        r"dtype timedelta64",
    ),
    "validation split too small": (
        lambda: TorchClassifier(early_stopping=True, validation_fraction=0.01, **FAST),
        lambda: (X[:10], y_clf[:10]),
        ValueError,
        "validation_fraction=0.01.*early_stopping=False",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_is_refused_with_a_clear_error(case):
    make, data, exc, message = CASES[case]
    args = data()
    X_, y_ = args[:2]
    kwargs = {"sample_weight": args[2]} if len(args) == 3 else {}
    if case == "cuda without a GPU":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")  # CI machines have none
    with pytest.raises(exc, match=message):
        make().fit(X_, y_, **kwargs)


def test_a_table_and_a_dask_array_get_scikit_learns_shape_errors():
    """X with a string column takes the table path: its refusals read as numeric X's
    (the estimator named, a Series refused as a Series, a dict as a scalar); a 1-D
    Dask array too."""
    import dask.array as da

    frame = pd.DataFrame({"x": X[:, 0], "k": y_clf})
    with pytest.raises(ValueError, match="minimum of 1 is required by TorchRegressor"):
        TorchRegressor(**FAST).fit(frame.iloc[:0], y_reg[:0])
    reg = TorchRegressor(**FAST).fit(frame, y_reg)
    with pytest.raises(ValueError, match="Expected a 2-dimensional container"):
        reg.predict(frame.iloc[0])
    with pytest.raises(ValueError, match="Expected 2D array, got scalar array"):
        reg.predict(frame.to_dict("list"))  # a dict of columns: not a bare KeyError
    numeric = TorchRegressor(**FAST).fit(X, y_reg)
    with pytest.raises(ValueError, match="Expected a 2D Dask array, got 1 dimension"):
        numeric.predict(da.from_array(X[:, 0], chunks=10))


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        TorchRegressor().predict(X)
    with pytest.raises(NotFittedError):
        TorchClassifier().predict_proba(X)


def test_more_features_at_predict():
    est = reg().fit(X, y_reg)
    with pytest.raises(ValueError, match="X has 4 features, but TorchRegressor is expecting 3"):
        est.predict(np.column_stack([X, X[:, 0]]))


def test_dataframe_columns_renamed_or_reordered_at_predict():
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    est = clf().fit(frame, y_clf)
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        est.predict(frame.rename(columns={"a": "z"}))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        est.predict(frame[["c", "b", "a"]])


def test_partial_fit_with_changing_features_or_unseen_classes():
    est = TorchClassifier(**FAST).partial_fit(X, y_clf, classes=["a", "b"])
    with pytest.raises(ValueError, match="X has 2 features, but TorchClassifier is expecting 3"):
        est.partial_fit(X[:, :2], y_clf)
    with pytest.raises(
        ValueError, match=re.escape("y contains labels ['c'] not in classes ['a', 'b']")
    ):
        est.partial_fit(X, np.array(["a", "c"] * 20))
    with pytest.raises(ValueError, match="Input y contains NaN or None"):
        est.partial_fit(X, np.array(["a", None] * 20, dtype=object))
    with pytest.raises(ValueError, match=re.escape("classes=['a', 'b', 'c'] is not the same")):
        est.partial_fit(X, y_clf, classes=np.array(["a", "b", "c"]))  # not np.str_('a')


def test_partial_fit_of_a_multilabel_y_checks_classes_on_the_first_call():
    """A multilabel y's classes are its columns' indices (classes_): any classes had
    passed the first call, and the same value failed the second."""
    Y = np.column_stack([y_clf == "a", y_clf == "b", np.arange(len(y_clf)) % 3 == 0])
    for classes in (["a", "b", "c"], [0, 1], [0, 1, 2, 3]):
        with pytest.raises(ValueError, match=r"3 columns has classes \[0, 1, 2\]"):
            TorchClassifier(**FAST).partial_fit(X, Y.astype(int), classes=classes)
    TorchClassifier(**FAST).partial_fit(X, Y.astype(int), classes=[0.0, 1.0, 2.0])
    est = TorchClassifier(**FAST).partial_fit(X, Y.astype(int), classes=[2, 0, 1])
    assert est.partial_fit(X, Y.astype(int), classes=[0, 1, 2]).classes_.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "classes",
    [[0, 1, np.nan], ["a", "b", None], np.array(["a", "b", np.nan], dtype=object),
     ["a", "b", np.nan], ["a", "b", np.float32("nan")],  # numpy reads these NaN as "nan"
     ["a", "b", pd.NA]],
)  # fmt: skip
def test_partial_fit_refuses_a_missing_label_among_classes_as_mlp_classifier(classes):
    """A NaN had become a class of its own (a probability column, a possible NaN
    prediction); None had failed in sorting with a TypeError."""
    y = (X[:, 0] > 0).astype(int) if isinstance(classes[0], int) else y_clf
    with pytest.raises(ValueError, match="classes contains NaN or None"):
        TorchClassifier(**FAST).partial_fit(X, y, classes=classes)


INVALID_PARAMS = {
    "hidden_layer_sizes": [(0,), (-3, 4)],
    "activation": ["softmaxx"],
    "solver": ["newton"],
    "alpha": [-1.0],
    "batch_size": [0, "big"],
    "learning_rate": ["cosine"],
    "learning_rate_init": [0.0, -1e-3],
    "power_t": [-0.5],
    "momentum": [-0.1, 1.5],
    "nesterovs_momentum": ["yes"],
    "beta_1": [1.0, -0.1],
    "beta_2": [1.0],
    "epsilon": [0.0],
    "max_iter": [0, 1.5],
    "max_fun": [0],
    "tol": [-1e-4],
    "n_iter_no_change": [0, 2.5],
    "shuffle": ["yes"],
    "early_stopping": [1.5],
    "validation_fraction": [-0.1, 1.0],
    "warm_start": ["no"],
    "random_state": ["seed"],
    "dropout": [1.0, -0.1],
    "input_scaling": ["zscore"],
    "device": [3.5],
    "module": ["mlp"],
}
REGRESSOR_ONLY = {"loss": ["hinge"], "head": ["softmax"], "target_scaling": ["minmax"],
                  "huber_delta": [0.0], "quantile": [1.0]}  # fmt: skip
CLASSIFIER_ONLY = {"loss": ["squared_error"], "head": ["identity"],
                   "class_weight": ["even"], "label_smoothing": [1.0]}  # fmt: skip


@pytest.mark.parametrize(
    ("est", "param", "value"),
    [(e, p, v) for e in ("reg", "clf") for p, vs in INVALID_PARAMS.items() for v in vs]
    + [("reg", p, v) for p, vs in REGRESSOR_ONLY.items() for v in vs]
    + [("clf", p, v) for p, vs in CLASSIFIER_ONLY.items() for v in vs],
)
def test_invalid_parameter_values_are_refused_in_fit(est, param, value):
    model = (reg if est == "reg" else clf)().set_params(**{param: value})
    y_ = y_reg if est == "reg" else y_clf
    with pytest.raises((InvalidParameterError, ValueError), match=param):
        model.fit(X, y_)


def test_batch_size_larger_than_data_is_clipped_with_a_warning():
    est = TorchRegressor(batch_size=1000, hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with pytest.warns(UserWarning, match="clipped to the sample count"):
        est.fit(X, y_reg)
    assert np.isfinite(est.predict(X)).all()


def test_one_sample_regression_is_allowed():
    est = TorchRegressor(solver="lbfgs", hidden_layer_sizes=(4,), random_state=0).fit(X[:1], [3.0])
    np.testing.assert_allclose(est.predict(X[:1]), [3.0], atol=1e-3)


def _labels_missing(kind):
    """Targets with one missing value, as users' tables hold them."""
    if kind == "string NA":  # pandas' string dtype (convert_dtypes, parquet)
        return pd.Series(y_clf, dtype="string").mask(np.arange(40) == 3)
    if kind == "NaT":
        dates = pd.to_datetime(pd.Series(np.where(y_clf == "a", "2020-01-01", "2021-01-01")))
        return dates.mask(np.arange(40) == 3)
    if kind == "list nan":  # numpy reads it among strings as the label "nan"
        return [np.nan if i == 3 else v for i, v in enumerate(y_clf.tolist())]
    if kind == "object NA":
        return pd.Series(y_reg, dtype=object).mask(np.arange(40) == 3, pd.NA)
    return [pd.NA if i == 3 else v for i, v in enumerate(y_reg)]  # "list NA"


@pytest.mark.parametrize(
    "kind, make",
    [("string NA", clf), ("NaT", clf), ("list nan", clf), ("object NA", reg), ("list NA", reg)],
)
@pytest.mark.parametrize("route", ["fit", "tensor X", "y_val", "batches", "dask"])
def test_a_missing_target_of_any_kind_is_refused_by_name_on_every_route(kind, make, route):
    """pd.NA among objects had failed in scikit-learn's check with numpy's TypeError
    ("boolean value of NA is ambiguous", MLPClassifier's and MLPRegressor's too), a
    NaT label became a class of its own that encoding then failed on, and a NaN in a
    list of strings the class "nan", predicted in silence (MLPClassifier's too)."""
    y_bad = _labels_missing(kind)
    y_good = np.asarray(y_clf if make is clf else y_reg)
    message = "Input y contains NaN or None"
    with pytest.raises(ValueError, match=message if route != "y_val" else "y_val: " + message):
        if route == "fit":
            make().fit(X, y_bad)
        elif route == "tensor X":
            import torch

            make().fit(torch.as_tensor(X), y_bad)
        elif route == "y_val":
            make().set_params(early_stopping=True).fit(X, y_good, X_val=X, y_val=y_bad)
        elif route == "batches":
            from torch.utils.data import DataLoader

            y_arr = np.asarray(y_bad, dtype=object)
            batches = [(X[:20], y_arr[:20]), (X[20:], y_arr[20:])]
            make().fit(DataLoader(batches, batch_size=None))
        else:
            da = pytest.importorskip("dask.array")
            make().fit(da.from_array(X, chunks=20), np.asarray(y_bad, dtype=object))


def test_partial_fit_refuses_a_missing_label_of_pandas_string_dtype():
    est = TorchClassifier(**FAST).partial_fit(X, y_clf, classes=["a", "b"])
    with pytest.raises(ValueError, match="Input y contains NaN or None"):
        est.partial_fit(X, _labels_missing("string NA"))
    with pytest.raises(ValueError, match="classes contains NaN or None"):
        TorchClassifier(**FAST).partial_fit(X, y_clf, classes=["a", "b", pd.NaT])


def test_missing_labels_are_refused_by_score_a_search_and_a_later_partial_fit():
    """Each had raised a TypeError (the metric's, check_cv's, np.unique's)."""
    from torchsk import BatchedSearchCV

    est = TorchClassifier(**FAST).fit(X, y_clf)
    with pytest.raises(ValueError, match="Input y contains NaN or None"):
        est.score(X, _labels_missing("string NA"))
    with pytest.raises(ValueError, match="Input y contains NaN or None"):
        BatchedSearchCV(clf(), {"alpha": [0.1, 1.0]}, cv=3).fit(X, _labels_missing("string NA"))
    est = TorchClassifier(**FAST).partial_fit(X, y_clf, classes=["a", "b"])
    for missing in (None, pd.NA):
        with pytest.raises(ValueError, match="classes contains NaN or None"):
            est.partial_fit(X, y_clf, classes=["a", "b", missing])


@pytest.mark.parametrize("odd", [1.5, True])
def test_labels_of_types_numpy_cannot_order_are_refused_by_name(odd):
    """A float or a bool among string labels had failed in numpy's sort (TypeError)."""
    y = np.array(["a", odd, "b", "a"] * 10, dtype=object)
    with pytest.raises(ValueError, match=r"Unknown label type: the labels mix types \[.*'str'\]"):
        clf().fit(X, y)


def test_bytes_labels_get_scikit_learn_s_error():
    """Labels of one type, bytes, had been told they "mix types ['bytes']"."""
    y = np.array([b"a", b"b"] * 10)
    for fit in (lambda: clf().fit(X[:20], y), lambda: MLPClassifier().fit(X[:20], y)):
        with pytest.raises(TypeError, match="labels represented as bytes is not supported"):
            fit()


@pytest.mark.parametrize("classes", [[], ["a"]])
def test_partial_fit_with_fewer_than_two_classes_names_classes(classes):
    """[] had raised an IndexError; ["a"] with y of "a" and "b" blamed the data."""
    with pytest.raises(ValueError, match=re.escape(f"classes={classes} holds fewer than 2")):
        clf().partial_fit(X, y_clf, classes=classes)


@pytest.mark.parametrize("classes", [{"a", "b"}, "ab"])
def test_partial_fit_refuses_classes_that_are_not_a_sequence_by_name(classes):
    """A set or a string had been blamed on y ("y should be a 1d array")."""
    with pytest.raises(ValueError, match="classes must be a list or array of the labels"):
        clf().partial_fit(X, y_clf, classes=classes)


def test_a_sparse_y_for_the_regressor_gets_scikit_learns_error():
    import scipy.sparse as sp

    with pytest.raises(TypeError, match="Sparse data was passed for y"):
        reg().fit(X, sp.csr_matrix(y_reg[:, None]))
