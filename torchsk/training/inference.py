"""Inference outside training: a fitted network over rows in chunks, under the plan's
path (``predict_in_batches``), and the built-in MLP in numpy for a few rows
(``numpy_forward``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch
from torch import nn

from torchsk.inputs.impute import Imputer
from torchsk.inputs.scaling import Scaling
from torchsk.nn.backbone import is_built_in
from torchsk.nn.mlp import MLP
from torchsk.training.objectives import NUMPY_FORWARD
from torchsk.training.plan import ExecutionPlan

# the predictions running per network (by id) and its modules' modes before the first
_EVALUATING: dict[int, tuple[int, dict]] = {}
_EVALUATING_LOCK = threading.Lock()


@contextmanager
def evaluating(net: nn.Module):
    """``net`` in eval mode for a prediction, each submodule's mode put back after: a
    ``predict`` at an epoch's end (a callback's) had left dropout off for the rest of
    training. Every submodule: a user may have put only ``module_.backbone`` in train
    mode (looking costs a tenth of ``.eval()``'s walk, which sets every flag).

    Counted per network: the modes are put back when its last prediction ends, so one
    thread's prediction never runs while another's has put dropout back on (two
    threads predicting from a ``module_`` left in train mode: 4 of 80 predictions
    had gone through dropout)."""
    key = id(net)
    with _EVALUATING_LOCK:
        running, modes = _EVALUATING.get(key, (0, None))
        if not running:
            modes = {m: m.training for m in net.modules()}
            # a fitted module_ is frozen in eval: nothing to switch, nor to put back
            modes = modes if any(modes.values()) else None
            if modes:
                net.eval()  # a module's own train() runs (batch norm's, a user's)
        _EVALUATING[key] = (running + 1, modes)
    try:
        yield net
    finally:
        with _EVALUATING_LOCK:
            running, modes = _EVALUATING.pop(key)
            if running > 1:
                _EVALUATING[key] = (running - 1, modes)
            elif modes:  # parents first: a train(mode) sets its children, which follow
                for m in net.modules():
                    if m in modes and m.training != modes[m]:
                        m.train(modes[m])


MIN_MEMBER_ROWS = 512  # smallest chunk a stack of many members predicts in


@torch.inference_mode()
def predict_in_batches(
    backbone: nn.Module,
    X: np.ndarray,
    encode_into: Callable[[np.ndarray, torch.Tensor], torch.Tensor],
    width: int,
    plan: ExecutionPlan,
    batch_size: int = 8192,
) -> torch.Tensor:
    """The backbone's outputs on raw ``X``, batch by batch, in memory reused across batches.

    Each batch of rows is encoded by ``encode_into(rows, out)`` into one input tensor
    of ``width`` columns in the plan's dtype (no full-size copy of X). The plan's
    built-in MLP writes its hidden layers into buffers kept for the whole call
    (``MLP.forward_reusing``). Fresh tensors per batch cost more than the arithmetic
    (new pages to fault in): 1M rows through a (64, 64) network took 0.35 s that way
    and 0.15-0.2 s with reused buffers of 8192 rows, which keep a batch's activations
    near the cache.
    """
    n = X.shape[0]  # X may be sparse (``len`` is ambiguous there)
    # a stack's activations are its members' side by side: fewer rows keep a chunk's
    # near the cache (members' passes alone on 20,000 rows, 8 of (100,): 40 ms in
    # chunks of 8192, 17 ms in 1024 or 2048; 32 members: 318 ms, 64 ms in 512)
    rows = min(max(MIN_MEMBER_ROWS, batch_size // plan.n_members), batch_size, n)
    inputs = torch.empty((rows, width), dtype=plan.dtype, device=plan.device)
    if plan.builtin_backbone:
        forward = partial(backbone.forward_reusing, buffers=backbone.inference_buffers(rows))
    else:  # a user's module may return a view of its input, which is overwritten next
        forward = lambda x: backbone(x).clone()  # noqa: E731
    outs = []
    for start in range(0, n, rows):
        batch = X[start : start + rows]
        outs.append(forward(encode_into(batch, inputs[: batch.shape[0]])))
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def batched_part(net) -> tuple[int | None, int, nn.Module]:
    """How ``predict_in_batches`` splits ``net``: the input steps that encode a batch
    into one reused tensor (None: all), its width, and the module run on it. Members
    with embeddings of their own each get their own input, so those encoders run with
    the backbone."""
    stage = net.inputs
    if stage.per_member:
        return stage.n_static, stage.static_width(), stage.trained_with(net.backbone)
    return None, stage.n_outputs, net.backbone


def numpy_forward(net, X: np.ndarray) -> np.ndarray | None:
    """``net``'s forward (predictions in y's units, or logits) on raw float64 ``X``
    without missing or infinite values, computed in numpy; None where ``net`` is not
    a network numpy computes this way.

    For the few rows of a partial-dependence, permutation-importance or SHAP loop,
    the torch calls of a forward cost more than its arithmetic (about 100 µs per
    call, where scikit-learn's numpy MLP takes 20). This is the same computation on
    numpy views of the buffers and weights, in the same dtype and order (centred in
    float64, rounded to the network's dtype, divided, then the layers), for the
    built-in MLP after an input stage of imputation and scaling, with an identity
    link: the same numbers to rounding.
    """
    backbone, steps = net.backbone, list(net.inputs.children())
    if not _numpy_computes(net, backbone, steps):
        return None
    weights = [(_view(layer.weight), _view(layer.bias)) for layer in backbone.linears()]
    # overflow gives inf or NaN as in torch, silently: the caller warns of non-finite
    # outputs at the user's line
    with np.errstate(all="ignore"):
        h = _scaled_inputs(steps, X, weights[0][0].dtype)
        activation = NUMPY_FORWARD[backbone.activation]
        for i, (w, b) in enumerate(weights):
            h = h @ w.T
            h += b
            if i < len(weights) - 1:
                activation(h)
        scaling = net.target_scaling
        if scaling is None:  # logits, in float64 as the torch path hands them out
            return h.astype(np.float64, copy=False)
        return h * _view(scaling.scale) + _view(scaling.center)  # float64 buffers


def _numpy_computes(net, backbone, steps) -> bool:
    """Whether ``numpy_forward`` computes ``net``: the built-in MLP itself (not a
    subclass) on the CPU, an input stage of scaling (after imputation) only, an
    identity link."""
    return (
        is_built_in(backbone)
        and isinstance(backbone, MLP)
        and backbone.activation in NUMPY_FORWARD
        and backbone.output.weight.device.type == "cpu"
        and isinstance(steps[-1], Scaling)
        and all(isinstance(step, Imputer) for step in steps[:-1])
        and isinstance(net.link, nn.Identity)
        # numpy has no bfloat16 (a module_ moved to it predicts through torch): a few
        # of the tensors read here (walking them all cost a fifth of a 10-row predict)
        and numpy_holds(backbone.output.weight)
        and numpy_holds(steps[-1].scale)
    )


def numpy_holds(t: torch.Tensor) -> bool:
    """Whether ``t.numpy()`` works: numpy has no bfloat16 (nor float8) dtype."""
    return not t.is_floating_point() or t.dtype in (torch.float16, torch.float32, torch.float64)


def _view(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _scaled_inputs(steps, X: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``X`` through the input stage as ``Scaling.forward(x, dtype)`` computes it: on
    complete rows imputation only sets the columns never seen in training to their
    fill value and appends missing indicators of 0."""
    x = X
    for imputer in steps[:-1]:
        empty = imputer.config.get("empty_columns")
        if empty or imputer.config["indicator_columns"]:
            x = np.zeros((len(x), imputer.n_outputs))
            x[:, : imputer.n_inputs] = X
            if empty:
                x[:, empty] = _view(imputer.fill)[empty]
    scaling = steps[-1]
    centred = x - _view(scaling.center)
    if centred.dtype != dtype:
        centred = centred.astype(dtype)
    centred /= _view(scaling.scale).astype(dtype, copy=False)
    return centred
