"""A fit's tensors on the device: X encoded once through the input stage's static
encoders, the targets, and the sample weights at a scale float32 holds."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch

from torchsk.training.devices import HostToDevice, as_tensor, transfer_rows
from torchsk.training.plan import ExecutionPlan
from torchsk.training.sparse import SparseRows, is_sparse_rows

#: Sample weights whose mean lies within this factor of 1 train as given.
WEIGHT_RANGE = 2.0**20


def encode_into(net, X: np.ndarray, out: torch.Tensor, steps: int | None = None) -> torch.Tensor:
    """Encode raw ``X`` through ``net``'s input stage (its first ``steps`` encoders)
    into ``out`` (rows of the same count, the output's width, the plan's dtype and
    device).

    The stage's static constants are fixed, so training works on X encoded once
    through them. Each chunk of rows is encoded straight into its place in ``out``
    (computed in float64, rounded on writing), so nothing full-size is allocated here.
    Chunks of ~1 MB: torch computes a float64 temporary per chunk, and larger ones
    stayed in the allocator's heap (one call per 32 MB batch of a sparse X's rows
    grew a 50,000-row fit's memory to 3.7 GB).
    """
    chunk = transfer_rows(X.shape[1], out.device)  # ~1 MB on the CPU, more to a GPU
    to_device = HostToDevice(out.device, X.nbytes)  # on CUDA: through a pinned buffer
    with torch.no_grad():
        for i in range(0, len(X), chunk):
            rows = to_device(X[i : i + chunk])
            net.inputs.encode_into(rows, out[i : i + chunk], steps)
    return out


def encoded_rows(net, plan: ExecutionPlan, X: np.ndarray) -> torch.Tensor | SparseRows:
    """X through the input stage's static encoders, once for the whole fit; sparse X
    as ``SparseRows``, encoded a batch at a time (no dense copy of it).

    Parameters
    ----------
    net : TabularNet
    plan : ExecutionPlan
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
        Raw rows.

    Returns
    -------
    Tensor of shape (n_samples, static width), or SparseRows
    """
    width = net.inputs.static_width()
    if is_sparse_rows(X):
        encode = partial(encode_into, net, steps=net.inputs.n_static)
        return SparseRows(X, encode, width, plan.dtype, plan.device)
    out = torch.empty((len(X), width), dtype=plan.dtype, device=plan.device)
    return encode_into(net, X, out, net.inputs.n_static)


def device_targets(task, net, plan: ExecutionPlan, y_enc: np.ndarray) -> torch.Tensor:
    """Training targets on the device: class indices stay int64, the rest the plan's dtype.

    Parameters
    ----------
    task : RegressionTask or ClassificationTask
    net : TabularNet
    plan : ExecutionPlan
    y_enc : ndarray
        The task's encoded targets.

    Returns
    -------
    Tensor
    """
    y = task.training_targets(y_enc, net)
    return as_tensor(y, None if y.dtype == np.int64 else plan.dtype, plan.device)


def weight_factor(mean: float) -> float:
    """What training divides sample weights of this ``mean`` by: 1 within
    ``WEIGHT_RANGE`` of 1 (the numbers as given), else the power of two nearest the
    mean.

    In float32, weights of 1e-46 had all been 0 (the epoch's loss, divided by their
    sum: ZeroDivisionError) and weights of 1e39 infinite (training diverged). The
    objective stays the same: the caller divides the penalty by the same factor
    (``TrainSettings.penalty_scale``, as a weight of k counts k samples against it),
    and a power of two rescales exactly.

    Parameters
    ----------
    mean : float
        The sample weights' mean over the training rows.

    Returns
    -------
    float
    """
    if mean <= 0 or 1 / WEIGHT_RANGE <= mean <= WEIGHT_RANGE:
        return 1.0
    return 2.0 ** round(math.log2(mean))


def device_weights(sw: np.ndarray, factor: float, plan: ExecutionPlan) -> torch.Tensor | None:
    """Sample weights ``sw`` divided by ``factor`` (``weight_factor``), on the device;
    None (each row weighs 1) only where that is what they are.

    Parameters
    ----------
    sw : ndarray of shape (n_samples,) or (n_samples, n_members)
    factor : float
    plan : ExecutionPlan

    Returns
    -------
    Tensor or None
    """
    if factor == 1.0 and sw.ndim == 1 and np.all(sw == 1.0):
        return None
    return as_tensor(sw / factor, plan.dtype, plan.device)
