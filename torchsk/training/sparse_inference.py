"""Sparse X through its stored entries: the input scaling folded into the first layer,
whose product is then a sparse one. Predict (``sparse_forward``; networks this does not
compute are densified a batch of a few MB at a time, ``predict_sparse``) and training's
mini-batches (``training_fold``, read by ``training.sparse.FoldedRows``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from torch import nn

from torchsk.inputs.impute import Imputer
from torchsk.inputs.scaling import Scaling
from torchsk.nn.backbone import is_built_in
from torchsk.nn.ensemble import EnsembleMLP
from torchsk.nn.mlp import MLP
from torchsk.training.encoding import encode_into
from torchsk.training.inference import batched_part, predict_in_batches
from torchsk.training.plan import ExecutionPlan
from torchsk.training.sparse import chunk_rows

#: Columns centred at most this many spreads from 0 are folded into the first layer:
#: the folded bias's cancellation then costs at most ~12 bits of a float64 product.
FOLD_OFFSET = 2.0**12
#: Training folds in the network's dtype (float32): at most ~4 bits of it lost so.
TRAINING_FOLD_OFFSET = 2.0**4


def predict_sparse(net, X, plan: ExecutionPlan) -> torch.Tensor:
    """The backbone's outputs on sparse ``X``: through the folded first layer where
    ``sparse_forward`` computes ``net``, else densified a batch of a few MB at a time.

    Parameters
    ----------
    net : TabularNet
        A fitted network, in eval mode.
    X : scipy.sparse CSR matrix or array of shape (n_samples, n_features)
        Validated raw rows.
    plan : ExecutionPlan
        The inference plan (dtype, device).

    Returns
    -------
    Tensor of shape (n_samples, n_outputs)
        The backbone's raw outputs (before the link or head).
    """
    folded = sparse_forward(net, X)
    if folded is not None:
        return folded
    steps, width, module = batched_part(net)

    def encode(rows, out: torch.Tensor) -> torch.Tensor:
        return encode_into(net, rows.toarray(), out, steps)

    rows = min(8192, chunk_rows(X.shape[1]))
    return predict_in_batches(module, X, encode, width, plan, batch_size=rows)


@torch.inference_mode()
def sparse_forward(net, X, batch_size: int = 8192) -> torch.Tensor | None:
    """The backbone's outputs on sparse ``X`` (CSR) with the input scaling folded
    into the first layer, whose product is then sparse; None where ``net`` is not
    one this computes (then X is densified a batch at a time).

    Scaled inputs ``(x - c) / s`` through ``W x + b`` are ``(W / s) x + (b - (W / s)
    c)``: a product over X's stored entries (scipy's), where densifying cost the
    whole width per row (predict on 20,000 columns at 0.1% density took 100x
    scikit-learn's MLP, which multiplies sparse X as it is). For the built-in MLP (or
    ``EnsembleMLP``) on the CPU after an input stage of scaling and an imputer with
    no missing indicators (NaN stored in X then takes its fill value) and no column
    empty in training, whose columns are centred within ``FOLD_OFFSET`` spreads of 0
    (finite folded weights). Folded in float64: a float32 network's outputs differ
    from the dense route's by its rounding (~1e-7 relative), a float64 network's by
    ~1e-15.

    Parameters
    ----------
    net : TabularNet
    X : scipy.sparse CSR matrix or array of shape (n_samples, n_features)
    batch_size : int, default=8192
        Rows multiplied at a time.

    Returns
    -------
    Tensor of shape (n_samples, n_outputs), or None
    """
    backbone, steps = net.backbone, list(net.inputs.children())
    if not _foldable(backbone, steps):
        return None
    X = _imputed(X, [step for step in steps if isinstance(step, Imputer)])
    if X is None:
        return None
    weight, bias, tail = _first_layer(backbone)
    if isinstance(steps[-1], Scaling):
        center, scale = _float64(steps[-1].center), _float64(steps[-1].scale)
        # a centre far larger than the spread (an ID, a timestamp) cancels in the
        # folded bias, where the dense route subtracts it exactly first; a subnormal
        # spread overflows the folded weights
        with np.errstate(all="ignore"):
            weight /= scale[:, None]  # in place: the float64 copy is the fold's only one
            if not (np.isfinite(weight).all() and np.all(np.abs(center) <= FOLD_OFFSET * scale)):
                return None
        bias = bias - center @ weight
    dtype = next(backbone.parameters()).dtype
    outs = []
    for start in range(0, X.shape[0], batch_size):
        h = np.asarray(X[start : start + batch_size] @ weight) + bias
        outs.append(tail(torch.from_numpy(h).to(dtype)))
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def _imputed(X, imputers: list):
    """Sparse ``X`` with its stored NaN set to the imputer's fill value, as the
    imputer without missing indicators computes them (a copy where there are any);
    None where NaN has no fill value to take."""
    missing = np.isnan(X.data)
    if not missing.any():
        return X
    if not imputers:
        return None
    X = X.copy()
    X.data[missing] = _float64(imputers[0].fill)[X.indices[missing]]
    return X


def _first_layer(backbone) -> tuple[np.ndarray, np.ndarray, Callable]:
    """``backbone``'s first layer as float64 ``(weight (inputs, width), bias)``, and
    the rest of its eval forward on that layer's output ``(rows, width)``. The
    members of an ``EnsembleMLP`` side by side: their first layers are one matrix."""
    if isinstance(backbone, MLP):
        first, *rest = backbone.linears()
        weight, bias = _float64(first.weight).T, _float64(first.bias)
        if not rest:
            return weight, bias, lambda h: h
        return weight, bias, nn.Sequential(*backbone.hidden[1:], backbone.output)
    m, n_inputs, width = backbone.weights[0].shape
    weight = _float64(backbone.weights[0]).transpose(1, 0, 2).reshape(n_inputs, m * width)
    return weight, _float64(backbone.biases[0]), partial(_members_after_first, backbone)


def _members_after_first(backbone: EnsembleMLP, h: torch.Tensor) -> torch.Tensor:
    """``EnsembleMLP``'s eval forward from its members' first layer outputs, side by
    side in ``h`` (rows, members x width): their mean output."""
    m = backbone.n_members
    h = h.view(len(h), m, -1).transpose(0, 1).contiguous()
    layers = zip(backbone.weights[1:], backbone.biases[1:], strict=True)
    for weight, bias in layers:  # activation (dropout: none in eval) between layers
        h = torch.baddbmm(bias.view(m, 1, -1), backbone.drop(backbone.act(h)), weight)
    return h.mean(dim=0)


def _float64(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def _foldable(backbone, steps) -> bool:
    """Whether ``sparse_forward`` computes a network of ``backbone`` after ``steps``."""
    imputers_idle = all(
        not step.config["indicator_columns"] and not step.config.get("empty_columns")
        for step in steps
        if isinstance(step, Imputer)
    )
    return (
        is_built_in(backbone)
        and isinstance(backbone, MLP | EnsembleMLP)
        and next(backbone.parameters()).device.type == "cpu"
        and all(isinstance(step, Imputer | Scaling) for step in steps)
        and imputers_idle
    )


def training_fold(trained, net, X) -> tuple[np.ndarray, np.ndarray] | None:
    """``(center, scale)`` that training's mini-batches of sparse ``X`` fold into the
    first layer (``training.sparse.FoldedRows``), or None (they are densified).

    For the built-in MLP itself trained by its hand-written torch pass, after an input
    stage of scaling and an imputer with nothing to do, on finite X whose columns are
    centred within ``TRAINING_FOLD_OFFSET`` spreads of 0.

    Parameters
    ----------
    trained : nn.Module
        What the objective trains (the backbone, with any trainable encoders).
    net : TabularNet
    X : scipy.sparse CSR matrix
        The training rows, raw.

    Returns
    -------
    tuple of ndarray, or None
    """
    steps = list(net.inputs.children())
    if type(trained) is not MLP or not _foldable(trained, steps):
        return None
    if not np.isfinite(X.data).all():
        return None
    scaling = steps[-1]
    if not isinstance(scaling, Scaling):
        return np.zeros(X.shape[1]), np.ones(X.shape[1])
    center, scale = _float64(scaling.center), _float64(scaling.scale)
    # 1 / scale is taken in the network's dtype: a spread below its smallest normal
    # number overflowed it (the dense route divides in float64 first)
    tiny = torch.finfo(next(trained.parameters()).dtype).tiny
    if not (np.all(scale >= tiny) and np.all(np.abs(center) <= TRAINING_FOLD_OFFSET * scale)):
        return None
    return center, scale
