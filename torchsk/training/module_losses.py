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
    loss: nn.Module, log_probabilities: bool = False, sum_columns: bool = False
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Wrap a user's torch loss module so it returns one value per sample, called on
    the logits (``log_probabilities``: on their ``log_softmax``).

    Parameters
    ----------
    loss : torch.nn.Module
        The user's loss (copied: theirs is not changed).
    log_probabilities : bool, default=False
        Call it on the logits' ``log_softmax`` (``nn.NLLLoss``).
    sum_columns : bool, default=False
        A sample's loss is the sum of its columns' (labels', as the built-in binary
        cross-entropy and ``MLPClassifier``'s log-loss), not their mean (outputs', as
        the built-in squared error and ``MLPRegressor``'s): ``nn.BCEWithLogitsLoss()``
        then trains the model ``loss="auto"`` does, at the same ``alpha``.

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
        if not taken[0] and z.shape[1] == 1 and type(loss).forward is nn.CrossEntropyLoss.forward:
            # a softmax over one output is 1: the loss is constant, and only the penalty
            # would have trained (predictions near 0, no warning); a subclass's own
            # forward may make more logits of it
            raise ValueError(
                f"loss={loss!r} takes a softmax over the outputs, and this model has one "
                "output, whose softmax is always 1: nothing would train. Use "
                "nn.BCEWithLogitsLoss() for one logit, or a regression loss."
            )
        try:
            out = loss(inputs, y)
            if out.ndim == 0:
                raise ValueError(
                    f"The loss module {loss!r} returned a scalar; torchsk needs one value "
                    "per sample (a `reduction` attribute it can set to 'none')."
                )
            out = out.reshape(len(z), -1)
            out = out.sum(dim=1) if sum_columns else out.mean(dim=1)
        except (RuntimeError, IndexError, TypeError) as error:
            if taken[0] or _device_error(error):
                raise
            raise _refusal(loss, inputs, y, log_probabilities, error) from error
        taken[0] = True
        return out

    return per_sample


#: torch losses of targets in {-1, 1}: fed a classifier's 0/1, class 0's rows have no
#: gradient (SoftMarginLoss) or the wrong sign (HingeEmbeddingLoss)
SIGN_TARGET_LOSSES = (nn.SoftMarginLoss, nn.HingeEmbeddingLoss)

#: torch losses that regress: on a classifier's logits they pull them towards the 0/1
#: targets, while ``predict`` thresholds the logits at 0 and ``predict_proba`` takes
#: their sigmoid (a logit of 1 reads as a probability of 0.73)
REGRESSION_LOSSES = (
    nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.SmoothL1Loss, nn.PoissonNLLLoss, nn.GaussianNLLLoss,
)  # fmt: skip


def refuse_for_classifier(loss) -> None:
    """Refuse a torch loss module that cannot train a classifier's logits.

    Parameters
    ----------
    loss : object
        The classifier's ``loss``; strings and other modules pass.

    Raises
    ------
    ValueError
        For ``nn.BCELoss`` (it takes probabilities), losses of -1/1 targets and
        regression losses, each with the loss to use instead.
    """
    if type(loss) is nn.BCELoss:  # it takes probabilities; the network gives logits
        raise ValueError(
            "loss=nn.BCELoss() takes probabilities, but torchsk's network outputs "
            "logits (its head applies the sigmoid): use nn.BCEWithLogitsLoss(), the "
            "same loss computed stably from the logits."
        )
    # the classes themselves: a subclass may map labels and logits as it needs (a
    # SoftMarginLoss taking 2y - 1, a Brier score through a sigmoid)
    if type(loss) in SIGN_TARGET_LOSSES + REGRESSION_LOSSES:
        kind = "-1/1 targets" if type(loss) in SIGN_TARGET_LOSSES else "regression targets"
        raise ValueError(
            f"loss={loss!r} takes {kind}, but a classifier trains logits on class indices "
            "or 0/1 labels, which predict and predict_proba read as logits: use "
            "nn.BCEWithLogitsLoss() (binary, multilabel) or nn.CrossEntropyLoss(), or "
            "wrap the loss in a module that maps the labels and logits as it needs."
        )


#: torch losses of class indices, 0/1 labels or probabilities: on a centred target
#: (negative values) they have no floor (BCEWithLogitsLoss: R² -130) or no meaning;
#: on y kept in [0, 1] (target_scaling=None) they may fit fractions or soft labels
CLASSIFICATION_LOSSES = (
    nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss, nn.BCEWithLogitsLoss,
    nn.MultiLabelSoftMarginLoss, nn.MultiLabelMarginLoss,
) + SIGN_TARGET_LOSSES  # fmt: skip


def refuse_for_regressor(loss, centred: bool, positive: bool = True) -> None:
    """Refuse a torch loss module that cannot train a regressor's outputs.

    Parameters
    ----------
    loss : object
        The regressor's ``loss``; strings and other modules pass.
    centred : bool
        Whether the target is centred (``target_scaling="standard"`` without a
        positive head, or a tuple with a center): negative targets.
    positive : bool, default=True
        Whether the head's link keeps outputs positive (``"exp"``, ``"softplus"``).

    Raises
    ------
    ValueError
        For classification losses on a centred target, ``nn.PoissonNLLLoss`` with
        ``log_input=True`` (it reads the output as a log-rate, which ``predict``
        returns as the rate), a Poisson loss on a centred target (no floor below
        0: outputs of -6e281, with no divergence to stop at), and one of rates
        without a positive head (the log of a negative rate is NaN at the first epoch).
    """
    if centred and type(loss) in CLASSIFICATION_LOSSES:  # a subclass may regress
        raise ValueError(
            f"loss={loss!r} is a classification loss (class indices, 0/1 or -1/1 "
            "targets, probabilities), and the target scaling centres y, where it has no "
            "floor. Use TorchClassifier, a regression loss ('squared_error', 'huber', "
            "nn.MSELoss(), ...), or, for fractions in [0, 1], target_scaling=None."
        )
    # the exact class: a subclass may pass the log of its rate
    if type(loss) is nn.PoissonNLLLoss and loss.log_input:
        raise ValueError(
            "loss=nn.PoissonNLLLoss() reads the output as a log-rate (log_input=True), "
            "while predict returns the output as the target: use loss='poisson' (the "
            "same deviance through an exp head, computed stably), or "
            "nn.PoissonNLLLoss(log_input=False) with head='exp' or 'softplus'."
        )
    if centred and isinstance(loss, nn.PoissonNLLLoss):
        raise ValueError(
            f"loss={loss!r} needs non-negative targets, but the target scaling centres "
            "y ('standard', or a tuple with a center). Use loss='poisson', or a positive "
            "head ('exp', 'softplus'), which divides y by its mean only."
        )
    if type(loss) is nn.PoissonNLLLoss and not positive:
        raise ValueError(
            f"loss={loss!r} reads the outputs as rates, which must be positive, but "
            "the head is the identity (its first outputs were negative rates, whose log "
            "is NaN). Use head='exp' or 'softplus', or loss='poisson'."
        )


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
