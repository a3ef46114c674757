"""A user's torch loss module (``loss=nn.HuberLoss()``) as a per-sample loss.

The module is copied with ``reduction="none"``, its tensors follow the network's dtype
and device, and a first call it cannot take (``nn.MSELoss`` on class indices, a
``pos_weight`` of another width than the targets') is refused with the shapes it was
given: torch's own error from inside training names neither. Errors after a call has
worked are the loss's own, raised as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def torch_module_loss(
    loss: nn.Module, log_probabilities: bool = False
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Wrap a user's torch loss module so it returns one value per sample, called on
    the logits (``log_probabilities``: on their ``log_softmax``).

    Parameters
    ----------
    loss : torch.nn.Module
        The user's loss (copied: theirs is not changed).
    log_probabilities : bool, default=False
        Call it on the logits' ``log_softmax`` (``nn.NLLLoss``).

    Returns
    -------
    callable
        ``per_sample(z, y)``: one loss per row of ``z``.
    """
    loss = copy.deepcopy(loss)
    if hasattr(loss, "reduction"):
        loss.reduction = "none"
    placed, taken = [None], [False]  # taken: a call has worked (errors after are others')

    def per_sample(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if placed[0] != (z.dtype, z.device):
            # its tensors (a class weight, made in torch's default float32) in the
            # network's dtype and on its device, as the logits are (.to leaves
            # integer buffers as they are)
            loss.to(device=z.device, dtype=z.dtype)
            placed[0] = (z.dtype, z.device)
        inputs = F.log_softmax(z, dim=1) if log_probabilities else z
        try:
            out = loss(inputs, y)
            if out.ndim == 0:
                raise ValueError(
                    f"The loss module {loss!r} returned a scalar; torchsk needs one value "
                    "per sample (a `reduction` attribute it can set to 'none')."
                )
            out = out.reshape(len(z), -1).mean(dim=1)
        except (RuntimeError, IndexError, TypeError) as error:
            if taken[0] or _device_error(error):
                raise
            raise _refusal(loss, inputs, y, log_probabilities, error) from error
        taken[0] = True
        return out

    return per_sample


def _device_error(error: Exception) -> bool:
    """An error of the device (out of memory, a failed kernel), not of the call."""
    device_errors = (torch.OutOfMemoryError, getattr(torch, "AcceleratorError", ()))
    return isinstance(error, device_errors) or "out of memory" in str(error)


def _refusal(loss, inputs, y, log_probabilities: bool, error: Exception) -> ValueError:
    """The error for a call the loss module cannot take, with what it was given."""
    what = "log-probabilities (log_softmax of the logits)" if log_probabilities else "outputs"
    said = str(error).splitlines()[0] if str(error) else ""
    return ValueError(
        f"loss={loss!r} cannot train this model: it was called on {what} of shape "
        f"{tuple(inputs.shape)} ({inputs.dtype}) and targets of shape {tuple(y.shape)} "
        f"({y.dtype}), and raised {type(error).__name__}: {said}"
    )
