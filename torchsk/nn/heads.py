"""Output ends: the modules that turn the backbone's raw output into predictions.

Regression links (identity, ``exp``, ``softplus``) map the raw output to the target's
scaled units; classification heads (softmax, sigmoid) map logits to probabilities.
Which loss trains through which of them is the loss registry's business
(``training.losses``); the task objects (``estimators.tasks``) pick and check the pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------- classification heads
class BinarySigmoid(nn.Module):
    """One logit → probabilities of both classes, ``[sigmoid(-z), sigmoid(z)]``."""

    rows_sum_to_one = True  # ``predict_proba`` renormalizes its rows (``estimators.base``)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return an ``(n, 2)`` tensor of class probabilities."""
        return torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], dim=1)


class Softmax(nn.Softmax):
    """Softmax over the class dimension."""

    rows_sum_to_one = True

    def __init__(self) -> None:
        super().__init__(dim=1)


def _log_proba_binary(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([F.logsigmoid(-z), F.logsigmoid(z)], dim=1)


@dataclass(frozen=True)
class ClassifierHead:
    """How one classification head turns logits into probabilities.

    Attributes
    ----------
    name : str
        The ``head`` parameter value. Which targets it fits is the loss registry's
        business (``training.losses``: each loss lists its heads and target kinds).
    proba_module : callable
        Builds the ``nn.Module`` that maps logits to probabilities for a target type.
    """

    name: str
    proba_module: Callable[[str], nn.Module]

    def n_outputs(self, target_type: str, n_classes: int) -> int:
        """Number of logits the backbone must produce."""
        binary_sigmoid = self.name == "sigmoid" and target_type == "binary"
        return 1 if binary_sigmoid else n_classes

    def log_proba(self, z: torch.Tensor, target_type: str) -> torch.Tensor:
        """Log-probabilities computed stably from logits."""
        if self.name == "sigmoid":
            return _log_proba_binary(z) if target_type == "binary" else F.logsigmoid(z)
        return F.log_softmax(z, dim=1)


def _sigmoid_module(target_type: str) -> nn.Module:
    return BinarySigmoid() if target_type == "binary" else nn.Sigmoid()


CLASSIFIER_HEADS = {
    "softmax": ClassifierHead("softmax", lambda t: Softmax()),
    "log_softmax": ClassifierHead("log_softmax", lambda t: Softmax()),
    "sigmoid": ClassifierHead("sigmoid", _sigmoid_module),
}


AUTO_HEAD = {"binary": "sigmoid", "multiclass": "softmax", "multilabel-indicator": "sigmoid"}


# ---------------------------------------------------------------- regression links
class Exp(nn.Module):
    """``exp`` output link (log link) for positive targets."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return ``exp(z)``."""
        return torch.exp(z)


class Softplus(nn.Softplus):
    """``softplus`` output link for positive targets."""

    @staticmethod
    def inverse(value: np.ndarray) -> np.ndarray:
        """The float64 raw outputs that this link maps to ``value`` (positive): of
        those within a few units in the last place of ``log(expm1(value))``, the one
        whose softplus comes closest, exactly where one does (a constant target
        column held there must have no gradient at all: Adam turns 1e-16 into steps)."""
        value = np.atleast_1d(np.asarray(value, dtype=np.float64))
        raw = value + np.log(-np.expm1(-value))  # log(expm1(v)), not overflowing past 709
        near = raw + np.arange(-4, 5)[:, None] * np.spacing(raw)
        errors = np.abs(F.softplus(torch.from_numpy(near)).numpy() - value)
        return near[errors.argmin(axis=0), np.arange(len(raw))]


REGRESSION_LINKS = {"identity": nn.Identity, "exp": Exp, "softplus": Softplus}


POSITIVE_LINKS = ("exp", "softplus")
