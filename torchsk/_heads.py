"""Heads and losses: which output layer goes with which loss and target type.

Every loss here takes the backbone's *raw* output (logits, or the target in scaled
units) and applies the head inside a numerically stable torch function
(``cross_entropy``, ``binary_cross_entropy_with_logits``, ``log_softmax``,
``poisson_nll_loss(log_input=True)``), so huge logits never produce NaN.
Losses return one value per sample; the engine applies sample weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit, log_softmax
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------- classification heads
class BinarySigmoid(nn.Module):
    """One logit → probabilities of both classes, ``[sigmoid(-z), sigmoid(z)]``."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return an ``(n, 2)`` tensor of class probabilities."""
        return torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], dim=1)


class Softmax(nn.Softmax):
    """Softmax over the class dimension."""

    def __init__(self) -> None:
        super().__init__(dim=1)


def _log_proba_binary(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([F.logsigmoid(-z), F.logsigmoid(z)], dim=1)


@dataclass(frozen=True)
class ClassifierHead:
    """How one classification head trains and predicts.

    Attributes
    ----------
    name : str
        The ``head`` parameter value.
    losses : tuple of str
        Loss names that fit this head.
    target_types : tuple of str
        ``type_of_target`` values this head handles.
    proba_module : callable
        Builds the ``nn.Module`` that maps logits to probabilities.
    """

    name: str
    losses: tuple[str, ...]
    target_types: tuple[str, ...]
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
    "softmax": ClassifierHead(
        "softmax", ("log_loss",), ("binary", "multiclass"), lambda t: Softmax()
    ),
    "log_softmax": ClassifierHead(
        "log_softmax", ("nll",), ("binary", "multiclass"), lambda t: Softmax()
    ),
    "sigmoid": ClassifierHead(
        "sigmoid",
        ("binary_cross_entropy",),
        ("binary", "multilabel-indicator"),
        _sigmoid_module,
    ),
}
AUTO_HEAD = {"binary": "sigmoid", "multiclass": "softmax", "multilabel-indicator": "sigmoid"}
CLASSIFIER_LOSSES = ("log_loss", "nll", "binary_cross_entropy")


def valid_classifier_pairs() -> str:
    """Human-readable list of valid (head, loss, target types), for error messages."""
    return "; ".join(
        f"head={h.name!r} with loss={'/'.join(map(repr, h.losses))} for "
        f"{', '.join(h.target_types)} targets"
        for h in CLASSIFIER_HEADS.values()
    )


def resolve_classifier_head(head: str, loss, target_type: str) -> ClassifierHead:
    """Pick the head for ``head``/``loss``/target type, or raise a ``ValueError``.

    ``head="auto"`` picks sigmoid for binary and multilabel targets and softmax for
    multiclass; ``loss="auto"`` picks the head's natural loss. A torch loss module
    fits any head.
    """
    if head == "auto":
        named_loss = isinstance(loss, str) and loss != "auto"
        head = (
            next(h.name for h in CLASSIFIER_HEADS.values() if loss in h.losses)
            if named_loss
            else AUTO_HEAD[target_type]
        )
    spec = CLASSIFIER_HEADS[head]
    loss_ok = not isinstance(loss, str) or loss in ("auto", *spec.losses)
    if target_type not in spec.target_types or not loss_ok:
        raise ValueError(
            f"head={head!r} with loss={loss!r} does not fit a {target_type} target. "
            f"Valid combinations: {valid_classifier_pairs()}; head='auto' and "
            "loss='auto' pick one, and a torch loss module fits any head."
        )
    return spec


def _smooth(y: torch.Tensor, eps: float) -> torch.Tensor:
    return y * (1 - eps) + 0.5 * eps


def classifier_loss(spec: ClassifierHead, loss, label_smoothing: float) -> LossFn:
    """Per-sample training loss on logits for a classification head.

    Targets are class indices (softmax/log-softmax heads) or 0/1 floats (sigmoid).
    """
    if not isinstance(loss, str):
        return torch_module_loss(loss)
    if spec.name == "softmax":
        return lambda z, y: F.cross_entropy(
            z, y, reduction="none", label_smoothing=label_smoothing
        )
    if spec.name == "log_softmax":

        def nll(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logp = F.log_softmax(z, dim=1)
            out = F.nll_loss(logp, y, reduction="none")
            if label_smoothing:
                out = (1 - label_smoothing) * out - label_smoothing * logp.mean(dim=1)
            return out

        return nll
    return lambda z, y: F.binary_cross_entropy_with_logits(
        z, _smooth(y, label_smoothing), reduction="none"
    ).mean(dim=1)


# ---------------------------------------------------------------- regression
class Exp(nn.Module):
    """``exp`` output link (log link) for positive targets."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return ``exp(z)``."""
        return torch.exp(z)


class Softplus(nn.Softplus):
    """``softplus`` output link for positive targets."""


REGRESSION_LINKS = {"identity": nn.Identity, "exp": Exp, "softplus": Softplus}
REGRESSION_LOSSES = ("squared_error", "absolute_error", "huber", "poisson", "quantile")
POSITIVE_LINKS = ("exp", "softplus")


def resolve_regression_link(head: str, loss) -> str:
    """The output link for ``head``/``loss``, or a ``ValueError`` naming the valid pairs."""
    if head == "auto":
        return "exp" if loss == "poisson" else "identity"
    if loss == "poisson" and head not in POSITIVE_LINKS:
        raise ValueError(
            f"loss='poisson' needs a positive output link, got head={head!r}. "
            f"Use head in {POSITIVE_LINKS} (or 'auto'); other losses take any head in "
            f"{sorted(REGRESSION_LINKS)}."
        )
    return head


def regression_loss(loss, link: str, *, epsilon: float, quantile: float) -> LossFn:
    """Per-sample training loss on the backbone's raw output, in scaled target units."""
    if not isinstance(loss, str):
        return _linked(torch_module_loss(loss), link)
    if loss == "poisson":
        if link == "exp":
            # log link: the stable form takes the log-rate directly
            return lambda z, y: F.poisson_nll_loss(
                z, y, log_input=True, full=False, reduction="none"
            ).mean(dim=1)
        return lambda z, y: F.poisson_nll_loss(
            F.softplus(z), y, log_input=False, reduction="none"
        ).mean(dim=1)
    base = {
        "squared_error": lambda p, y: 0.5 * (p - y) ** 2,
        "absolute_error": lambda p, y: (p - y).abs(),
        "huber": lambda p, y: F.huber_loss(p, y, reduction="none", delta=epsilon),
        "quantile": lambda p, y: torch.maximum(quantile * (y - p), (quantile - 1) * (y - p)),
    }[loss]
    return _linked(lambda p, y: base(p, y).mean(dim=1), link)


def _linked(fn: LossFn, link: str) -> LossFn:
    if link == "identity":
        return fn
    link_module = REGRESSION_LINKS[link]()
    return lambda z, y: fn(link_module(z), y)


def torch_module_loss(loss: nn.Module) -> LossFn:
    """Wrap a user's torch loss module so it returns one value per sample."""
    loss = copy.deepcopy(loss)
    if hasattr(loss, "reduction"):
        loss.reduction = "none"

    def per_sample(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = loss(z, y)
        if out.ndim == 0:
            raise ValueError(
                f"The loss module {loss!r} returned a scalar; torchsk needs one value "
                "per sample (a `reduction` attribute it can set to 'none')."
            )
        return out.reshape(len(z), -1).mean(dim=1)

    return per_sample


# ---------------------------------------------------------------- analytic output gradients
# (outputs z, targets y) -> (per-sample loss, d loss_i / d z_i), for the hand-written
# backward pass of the built-in MLP (``_objectives.ManualMLPObjective``). Each must equal
# the autograd gradient of the per-sample loss above; tests/test_engine.py checks that.
#
# The commonest ones also have a numpy twin, attached as ``grad.numpy``, with the same
# contract on numpy arrays, for ``_objectives.NumpyMLPObjective`` (small float64 CPU
# fits, where a torch call costs more than the arithmetic).
def _cross_entropy_numpy(z: np.ndarray, y: np.ndarray):
    logp = log_softmax(z, axis=1)
    rows = np.arange(len(z))
    per = -logp[rows, y]
    g = np.exp(logp, out=logp)
    g[rows, y] -= 1.0
    return per, g


def _cross_entropy_grad(label_smoothing: float):
    def grad(z: torch.Tensor, y: torch.Tensor):
        logp = F.log_softmax(z, dim=1)
        n_classes = z.shape[1]
        target = F.one_hot(y, n_classes).to(z.dtype)
        if label_smoothing:
            target = target.mul_(1 - label_smoothing).add_(label_smoothing / n_classes)
        return -(target * logp).sum(dim=1), logp.exp_().sub_(target)

    if not label_smoothing:
        grad.numpy = _cross_entropy_numpy
    return grad


def _bce_numpy(z: np.ndarray, y: np.ndarray):
    k = z.shape[1]
    # log(1 + exp(z)) - z*y, written so that no exp overflows
    per = (np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=1)
    return per, (expit(z) - y) / k


def _bce_grad(label_smoothing: float):
    def grad(z: torch.Tensor, y: torch.Tensor):
        target = _smooth(y, label_smoothing)
        k = z.shape[1]
        per = F.binary_cross_entropy_with_logits(z, target, reduction="none").mean(dim=1)
        return per, torch.sigmoid(z).sub_(target).div_(k)

    if not label_smoothing:
        grad.numpy = _bce_numpy
    return grad


def _squared_error_numpy(z: np.ndarray, y: np.ndarray):
    d = z - y
    k = z.shape[1]
    if k == 1:  # the common case, in fewer calls
        per = (d * d).ravel()
        per *= 0.5
        return per, d
    per = (d * d).sum(axis=1)
    per *= 0.5 / k
    d /= k
    return per, d


def classifier_output_grad(spec: ClassifierHead, loss, label_smoothing: float):
    """Analytic output gradient for a named classification loss, else None."""
    if not isinstance(loss, str):
        return None
    if spec.name == "sigmoid":
        return _bce_grad(label_smoothing)
    return _cross_entropy_grad(label_smoothing)


def regression_output_grad(loss, link: str, *, epsilon: float, quantile: float):
    """Analytic output gradient for a named regression loss and link, else None."""
    if not isinstance(loss, str):
        return None
    if loss == "poisson" and link == "exp":

        def poisson(z, y):
            rate = torch.exp(z)
            return (rate - y * z).mean(dim=1), rate.sub_(y).div_(z.shape[1])

        return poisson
    if link != "identity" or loss == "poisson":
        return None

    def grad(z, y):
        d, k = z - y, z.shape[1]
        if loss == "squared_error":
            if k == 1:  # the common case, in fewer operations
                return d.square().mul_(0.5).view(-1), d
            return 0.5 * (d * d).mean(dim=1), d / k
        if loss == "absolute_error":
            return d.abs().mean(dim=1), torch.sign(d).div_(k)
        if loss == "huber":
            per = F.huber_loss(z, y, reduction="none", delta=epsilon).mean(dim=1)
            return per, d.clamp(-epsilon, epsilon).div_(k)
        per = torch.maximum(-quantile * d, (1 - quantile) * d).mean(dim=1)
        return per, (d > 0).to(d.dtype).sub_(quantile).div_(k)

    if loss == "squared_error":
        grad.numpy = _squared_error_numpy
    return grad
