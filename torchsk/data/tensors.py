"""Torch tensors as inputs, and outputs that follow scikit-learn's array-API convention.

A tensor ``X`` is validated with torch operations on its own device, never through a
numpy round trip: a CPU tensor becomes a numpy *view* of its storage (the rest of the
fit reads it as any numpy array, and the tensors made from it share its memory); a
tensor on another device (CUDA) stays a tensor, and the fit and batched inference
move nothing to the host but the statistics of its columns.

Outputs are numpy arrays, as for any input, unless scikit-learn's
``array_api_dispatch`` is on: then ``predict``, ``predict_proba``, ... return arrays of
``X``'s namespace on ``X``'s device (scikit-learn's rule for estimators that support
the array API).
"""

from __future__ import annotations

import functools

import numpy as np
import sklearn
import torch
from sklearn.utils._array_api import get_namespace_and_device
from sklearn.utils.validation import validate_data

#: Tensor dtypes kept as they are; any other real dtype becomes float64
#: (scikit-learn's ``check_array(dtype=(float64, float32))`` rule).
KEPT_DTYPES = (torch.float32, torch.float64)


def is_tensor(X) -> bool:
    """Whether ``X`` is a torch tensor."""
    return isinstance(X, torch.Tensor)


def check_tensor(estimator, X: torch.Tensor, *, reset: bool):
    """Validate a tensor ``X`` as ``validate_data`` validates an array, on its device.

    Feature count (``n_features_in_``), dimensions, emptiness, the dtype (float32 and
    float64 kept; other real dtypes become float64; complex refused) and ``inf``
    (refused; NaN allowed: the network imputes it) get scikit-learn's messages.

    Parameters
    ----------
    estimator : BaseEstimator
    X : torch.Tensor
    reset : bool
        Set ``n_features_in_`` (a first fit) or check against it.

    Returns
    -------
    ndarray or torch.Tensor
        A CPU tensor as a numpy view of its memory (no copy when its dtype is kept);
        a tensor on another device as a detached tensor there.
    """
    X = X.detach()
    _refuse_meta(X, "X")
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead. Reshape your data either "
            "using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    if X.is_complex():
        raise ValueError("Complex data not supported")
    if X.dtype not in KEPT_DTYPES:
        X = X.to(torch.float64)
    for size, name in ((X.shape[0], "sample"), (X.shape[1], "feature")):
        if size < 1:
            raise ValueError(
                f"Found array with {size} {name}(s) (shape={tuple(X.shape)}) while a "
                f"minimum of 1 is required by {type(estimator).__name__}."
            )
    validate_data(estimator, X, reset=reset, skip_check_array=True)  # feature count
    if bool(torch.isinf(X).any()):
        raise ValueError(
            f"Input X contains infinity or a value too large for dtype('{_name(X.dtype)}')."
        )
    return X.resolve_conj().resolve_neg().numpy() if X.device.type == "cpu" else X


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def host_array(a):
    """A tensor (targets, weights: one value per row) as a numpy array (a dtype numpy
    lacks, such as bfloat16, as float64); anything else as it is."""
    if not is_tensor(a):
        return a
    _refuse_meta(a, "y or sample_weight")
    a = a.detach().cpu()
    if a.dtype == torch.bfloat16:  # numpy has no bfloat16
        a = a.to(torch.float64)
    return a.numpy()


def scorable(a):
    """``a`` (y or ``sample_weight`` given to ``score``) as scikit-learn's metrics can
    read it: a tensor of a dtype numpy lacks as ``host_array`` gives it, a meta tensor
    refused; any other input as it is (a torch y stays torch under array API dispatch)."""
    if is_tensor(a) and (a.dtype == torch.bfloat16 or a.device.type == "meta"):
        return host_array(a)
    return a


def _refuse_meta(t: torch.Tensor, name: str) -> None:
    """A tensor on torch's ``meta`` device has a shape and no values."""
    if t.device.type == "meta":
        raise ValueError(
            f"{name} is a tensor on the 'meta' device, which holds no data (a shape "
            "only); pass one with values, e.g. on 'cpu'."
        )


def follows_input(method):
    """Decorate a method ``f(self, X, ...)`` whose result is a numpy array so that,
    under ``sklearn.config_context(array_api_dispatch=True)``, it returns an array of
    ``X``'s namespace on ``X``'s device (numbers only: string labels stay numpy)."""

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        out = method(self, X, *args, **kwargs)
        return as_namespace_of(out, X)

    return wrapper


def as_namespace_of(out: np.ndarray, X):
    """``out`` in ``X``'s array namespace and on its device when array-API dispatch
    is on and ``X`` is not a numpy array; ``out`` otherwise (a Dask collection's
    predictions are computed block by block into numpy: they stay so; a sparse
    multilabel prediction stays sparse, as scikit-learn's is)."""
    if not sklearn.get_config()["array_api_dispatch"] or isinstance(X, np.ndarray):
        return out
    if not isinstance(out, np.ndarray):  # a scipy sparse matrix has no array namespace
        return out
    if type(X).__module__.startswith("dask"):
        return out
    if out.dtype.kind not in "biuf":
        return out
    xp, _, device = get_namespace_and_device(X)
    return xp.asarray(out, device=device)


def in_dtype_of(out: np.ndarray, X, fitted_float32: bool) -> np.ndarray:
    """``out`` in float32 when X holds float32 values only (``all_float32``) and so
    did the fit's X (``fitted_float32``), as ``MLPRegressor`` returns its predictions
    (in its weights' dtype, its fit's X's); else unchanged: a float64 fit's precision
    is kept, not rounded to the input's."""
    return out.astype(np.float32) if fitted_float32 and all_float32(X) else out


def float32_holds(y, spread=None) -> bool:
    """Whether targets like ``y`` keep what a fit learns of them in float32: inside its
    range, and each output's values rounding by at most 0.001 of its spread (its
    interquartile range, which outliers do not widen; a constant, by 1e-6 of itself).
    A float32 X's predictions of timestamps, 1.7e9 ± 300, had been cast to steps of
    128 (R² 0.74 from a model of 0.996), of 1e40 to inf, of 1e-50 to 0. Numbers only;
    else True. ``spread``: each output's spread a fitted model already predicts over,
    where it is wider (a later batch of a few close values is judged by it)."""
    try:
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    except (TypeError, ValueError):
        return True
    if not len(y) or not np.isfinite(y).all():
        return True  # refused by the target's own checks
    info = np.finfo(np.float32)
    if np.abs(y).max() >= info.max / 1e3:  # room to extrapolate without overflowing
        return False
    with np.errstate(under="ignore"):
        error = np.abs(y - y.astype(np.float32)).max(0)
    q75, q25 = np.percentile(y, [75, 25], axis=0)
    own = np.where(q75 > q25, q75 - q25, y.max(0) - y.min(0))
    # another output count is refused later, with the model's message
    spread = own if np.shape(spread) != own.shape else np.maximum(own, spread)
    size = np.abs(y).max(0)
    constant = spread <= 16 * np.finfo(np.float64).eps * size  # a constant's rounding
    return bool(np.all(np.where(constant, error <= 1e-6 * size, error <= 1e-3 * spread)))


def all_float32(X) -> bool:
    """Whether X holds float32 values only: a numpy or Dask array, a sparse matrix or
    a torch tensor of float32, a pandas or polars DataFrame whose every column is
    float32, or a list of rows of numpy float32 values (what ``np.asarray`` reads as
    float32, as scikit-learn's checks do at predict); in either byte order."""
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, torch.dtype):  # a float32 tensor predicts as its numpy array
        return dtype == torch.float32
    if dtype is not None:
        return _is_float32(dtype)
    if isinstance(X, list | tuple):
        return _is_float32(np.asarray(X).dtype)
    dtypes = getattr(X, "dtypes", None)  # pandas' Series of dtypes, polars' list
    return dtypes is not None and len(dtypes) > 0 and all(map(_is_float32, dtypes))


def _is_float32(dtype) -> bool:
    """A numpy dtype of float32 in either byte order, or polars' ``Float32``; not
    pandas' nullable ``Float32`` (read as float64, as scikit-learn reads it)."""
    if type(dtype).__module__.partition(".")[0] == "polars":  # no numpy dtype
        return str(dtype) == "Float32"
    try:
        dtype = np.dtype(dtype)
    except TypeError:  # pandas' extension dtypes
        return False
    return dtype.kind == "f" and dtype.itemsize == 4
