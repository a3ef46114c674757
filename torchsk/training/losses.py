"""The loss registry: each training loss written once.

A ``Loss`` knows its torch form, its gradient with respect to the network's raw
output (with a numpy twin where the small-problem path uses one), which output ends
(regression links, classification heads) and which target kinds it accepts, and its
name for messages. Everything else asks the registry: the estimators' parameter
constraints, the valid-pair checks and their error messages, the objectives, and the
tests, which iterate over ``LOSSES`` so that a new entry is tested without touching
them.

Every torch form takes the backbone's *raw* output ``z`` (logits, or the target in
scaled units before the link) and applies the output end inside a numerically stable
function (``cross_entropy``, ``binary_cross_entropy_with_logits``,
``poisson_nll_loss(log_input=True)``), so huge logits never give NaN. Losses return
one value per sample; the engine applies sample weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit, xlogy
from torch import nn

from torchsk.nn.heads import POSITIVE_LINKS, REGRESSION_LINKS
from torchsk.training.module_losses import torch_module_loss

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# (outputs z, targets y) -> (per-sample loss, d loss_i / d z_i)
OutputGrad = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


REGRESSION = "regression"


CLASSIFICATION = "classification"


@dataclass(frozen=True)
class LossOptions:
    """The loss-shaping hyperparameters (Huber threshold, quantile, label smoothing)."""

    huber_delta: float = 1.35
    quantile: float = 0.5
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class Loss:
    """One training loss.

    Attributes
    ----------
    name : str
        The ``loss`` parameter value.
    task : {"regression", "classification"}
    outputs : tuple of str
        The output ends it trains through: regression links (``"identity"``,
        ``"exp"``, ...) or classification heads (``"softmax"``, ...). The first is the
        one ``head="auto"`` picks.
    targets : tuple of str
        Target kinds: ``type_of_target`` values for classification; ``"real"`` or
        ``"non-negative"`` (refused when negative) for regression.
    per_sample : callable
        ``per_sample(z, y, output, options)`` → one loss value per sample, from raw
        outputs ``z``.
    gradient : callable
        ``gradient(output, options)`` → an ``OutputGrad`` computing the per-sample loss
        and its gradient with respect to ``z`` for that output end, or None where
        only autograd differentiates it. A returned function may carry a numpy twin
        as its ``numpy`` attribute (same contract on arrays).
    title : str
        How messages name it.
    robust : bool
        Outliers must not drive it: the regressor's default target scaling then uses
        the median and interquartile range, not the mean and standard deviation.
    y_units : callable or None
        ``y_units(scale, t, w)`` → ``(factor, offset)`` such that ``factor * loss +
        offset`` is the loss in y's units, for a target scaled as ``t = (y - center) /
        scale`` (per output) with sample weights ``w``; None where no conversion exists.
    """

    name: str
    task: str
    outputs: tuple[str, ...]
    targets: tuple[str, ...]
    per_sample: Callable[..., torch.Tensor]
    gradient: Callable[[str, LossOptions], OutputGrad | None]
    title: str = ""
    robust: bool = False
    y_units: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, float]] | None = None

    def check_target(self, y: np.ndarray) -> None:
        """Refuse targets this loss cannot train on (scikit-learn's message)."""
        if "non-negative" in self.targets and (y < 0).any():
            raise ValueError(
                f"Some value(s) of y are negative which is not allowed for {self.title}."
            )


LOSSES: dict[str, Loss] = {}


# The names each estimator's ``loss`` parameter accepts, kept up to date by
# ``register_loss``: the parameter constraints hold these very sets (``StrOptions`` keeps
# the object), so a registered loss is accepted without touching the estimators. The
# classifier's ``"auto"`` picks the head's natural loss.
LOSS_NAMES: dict[str, set[str]] = {REGRESSION: set(), CLASSIFICATION: {"auto"}}


def register_loss(loss: Loss) -> Loss:
    """Add ``loss`` to the registry (the estimators accept its name from then on)."""
    LOSSES[loss.name] = loss
    LOSS_NAMES[loss.task].add(loss.name)
    return loss


def unregister_loss(name: str) -> None:
    """Remove a loss from the registry."""
    loss = LOSSES.pop(name)
    LOSS_NAMES[loss.task].discard(name)


def valid_pairs(task: str) -> str:
    """Human-readable list of the registry's valid (head, loss, targets), for messages."""
    return "; ".join(
        f"head={'/'.join(map(repr, loss.outputs))} with loss={loss.name!r} for "
        f"{', '.join(loss.targets)} targets"
        for loss in LOSSES.values()
        if loss.task == task
    )


# scikit-learn's words for a classifier that refuses a multiclass y (its multi_class
# tag False: a sigmoid head, a loss on 0/1 targets), which its checks look for
ONLY_BINARY = "Only binary classification is supported (and multilabel): "


def check_pair(loss: Loss, output: str, target_kind: str | None = None, shown=None) -> None:
    """Raise a ``ValueError`` naming the valid combinations unless ``loss`` trains
    through ``output`` (and, for classification, fits ``target_kind``). ``shown``: the
    ``loss`` parameter as the user gave it, for the message."""
    if loss.task == REGRESSION and output not in loss.outputs:
        positive = set(loss.outputs) <= set(POSITIVE_LINKS)
        raise ValueError(
            f"loss={loss.name!r} needs a {'positive ' if positive else ''}output link, got "
            f"head={output!r}. Use head in {loss.outputs} (or 'auto'). Valid "
            f"combinations: {valid_pairs(REGRESSION)}."
        )
    if output not in loss.outputs or (target_kind and target_kind not in loss.targets):
        lead = ONLY_BINARY * (target_kind == "multiclass" and output == "sigmoid")
        raise ValueError(
            f"{lead}head={output!r} with loss={loss.name if shown is None else shown!r} does "
            f"not fit a {target_kind} target. Valid combinations: {valid_pairs(loss.task)}; "
            "head='auto' and loss='auto' pick one (a torch loss module: any head it takes)."
        )


@dataclass(frozen=True)
class LossFunctions:
    """What training needs of a loss: its torch form on raw outputs, and its analytic
    output gradient where one exists (None: autograd). ``row_wise``: each row's loss
    depends on that row alone (the registry's losses, per sample by contract; a user's
    torch module may mix rows), so the outputs stacked as rows of one column give each
    output's loss in one call (``training.report``)."""

    per_sample: LossFn
    output_grad: OutputGrad | None
    row_wise: bool = False


def loss_functions(loss, output: str, options: LossOptions, *, linked: bool) -> LossFunctions:
    """The functions of a registry ``Loss`` (or of a user's torch loss module) for one
    output end. ``linked``: a regression link is applied before a module loss."""
    if isinstance(loss, Loss):
        return LossFunctions(
            lambda z, y: loss.per_sample(z, y, output, options),
            loss.gradient(output, options),
            row_wise=True,
        )
    # torch's NLLLoss takes log-probabilities: on the logits its loss, -z[y], has no floor
    # a classifier's labels sum, a regressor's outputs average, as the built-in losses'
    fn = torch_module_loss(
        loss, log_probabilities=isinstance(loss, nn.NLLLoss), sum_columns=not linked
    )
    if linked and output != "identity":
        link = REGRESSION_LINKS[output]()
        return LossFunctions(lambda z, y: fn(link(z), y), None)
    return LossFunctions(fn, None)


# ---------------------------------------------------------------- regression
LINKS = tuple(REGRESSION_LINKS)


def scale_power(power: int):
    """``y_units`` of a loss homogeneous of degree ``power`` in the error: a target
    error ``scale`` times larger costs ``scale ** power`` times more. With outputs of
    different scales the factor is the mean of their powers, exact when their scaled
    losses are equal (``estimators.tasks`` weighs each output's own factor by its
    loss where a fit measured it)."""
    return lambda scale, t, w: (float(np.mean(scale**power)), 0.0)


def _poisson_y_units(scale: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """scikit-learn's half Poisson deviance in y's units, summed over outputs as its
    ``poisson_loss`` does (and as training sums it). With ``y = scale * t`` (a positive
    link scales only), ``rate_y - y log rate_y = scale (rate - t log rate) - y log
    scale``; the deviance adds ``y log y - y``; together ``scale * loss + mean(scale (t
    log t - t))``. With outputs of different scales the factor is their mean, exact
    when their scaled losses are equal (as ``scale_power``; weighed where measured)."""
    offset = np.average(scale * (xlogy(t, t) - t), axis=0, weights=w).sum()
    return float(np.mean(scale)), float(offset)


def elementwise(fn: Callable[[torch.Tensor, torch.Tensor, LossOptions], torch.Tensor]):
    """A regression ``per_sample`` from an element-wise loss of the *linked* output."""

    def per_sample(z, y, link, options):
        p = z if link == "identity" else REGRESSION_LINKS[link]()(z)
        return fn(p, y, options).mean(dim=1)

    per_sample.averages_outputs = True  # alpha's weight: training.settings.penalty_scale
    return per_sample


def identity_link_only(make_grad: Callable[[LossOptions], OutputGrad]):
    """A ``gradient`` factory written for the identity link; other links use autograd."""
    return lambda link, options: make_grad(options) if link == "identity" else None


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


def _squared_error_grad(options: LossOptions) -> OutputGrad:
    def grad(z, y):
        d, k = z - y, z.shape[1]
        if k == 1:  # the common case, in fewer operations
            return d.square().mul_(0.5).view(-1), d
        return 0.5 * (d * d).mean(dim=1), d / k

    grad.numpy = _squared_error_numpy
    return grad


def _absolute_error_grad(options: LossOptions) -> OutputGrad:
    def grad(z, y):
        d = z - y
        return d.abs().mean(dim=1), torch.sign(d).div_(z.shape[1])

    return grad


def _huber_grad(options: LossOptions) -> OutputGrad:
    delta = options.huber_delta

    def grad(z, y):
        per = F.huber_loss(z, y, reduction="none", delta=delta).mean(dim=1)
        return per, (z - y).clamp_(-delta, delta).div_(z.shape[1])

    return grad


def _quantile_grad(options: LossOptions) -> OutputGrad:
    q = options.quantile

    def grad(z, y):
        d = z - y
        per = torch.maximum(-q * d, (1 - q) * d).mean(dim=1)
        # 0 where d == 0 (the subgradient a minimum has): -q there had pushed a held
        # constant output off its value, as sign(0) = 0 keeps absolute error's
        g = (d > 0).to(d.dtype).sub_(q).masked_fill_(d == 0, 0.0)
        return per, g.div_(z.shape[1])

    return grad


def _pinball(d: torch.Tensor, q: float) -> torch.Tensor:
    """The quantile loss of residuals ``d``, whose autograd gradient is 0 where
    ``d == 0``, as ``_quantile_grad``'s: through a positive link, torch.maximum's
    tie had split its gradient and moved a held constant output (5.0 to 5.02)."""
    return torch.where(d > 0, q * d, torch.where(d < 0, (q - 1) * d, d * 0.0))


# summed over outputs, as scikit-learn's poisson_loss (and so alpha weighs as there)
def _poisson_per_sample(z, y, link, options):
    if link == "exp":  # log link: the stable form takes the log-rate directly
        return F.poisson_nll_loss(z, y, log_input=True, full=False, reduction="none").sum(dim=1)
    rate = REGRESSION_LINKS[link]()(z)
    return F.poisson_nll_loss(rate, y, log_input=False, reduction="none").sum(dim=1)


def _poisson_gradient(link: str, options: LossOptions) -> OutputGrad | None:
    if link != "exp":
        return None

    def grad(z, y):
        rate = torch.exp(z)
        return (rate - y * z).sum(dim=1), rate.sub_(y)

    return grad


for _loss in (
    Loss(
        "squared_error", REGRESSION, LINKS, ("real",),
        elementwise(lambda p, y, o: 0.5 * (p - y) ** 2),
        identity_link_only(_squared_error_grad), "squared error", y_units=scale_power(2),
    ),
    Loss(
        "absolute_error", REGRESSION, LINKS, ("real",),
        elementwise(lambda p, y, o: (p - y).abs()),
        identity_link_only(_absolute_error_grad), "absolute error", robust=True,
        y_units=scale_power(1),
    ),
    Loss(
        "huber", REGRESSION, LINKS, ("real",),
        elementwise(lambda p, y, o: F.huber_loss(p, y, reduction="none", delta=o.huber_delta)),
        identity_link_only(_huber_grad), "the Huber loss", robust=True,
        # huber_delta is in scaled units: in y's, the Huber loss of threshold
        # scale * huber_delta, which is exactly scale² times the scaled one
        y_units=scale_power(2),
    ),
    Loss(
        "quantile", REGRESSION, LINKS, ("real",),
        elementwise(lambda p, y, o: _pinball(y - p, o.quantile)),
        identity_link_only(_quantile_grad), "the quantile loss", robust=True,
        y_units=scale_power(1),
    ),
    Loss(
        "poisson", REGRESSION, POSITIVE_LINKS, ("non-negative",),
        _poisson_per_sample, _poisson_gradient, "Poisson regression",
        y_units=_poisson_y_units,
    ),
):  # fmt: skip
    register_loss(_loss)


# ---------------------------------------------------------------- classification
def _smooth(y: torch.Tensor, eps: float) -> torch.Tensor:
    return y * (1 - eps) + 0.5 * eps


def _cross_entropy(z, y, head, options):
    return F.cross_entropy(z, y, reduction="none", label_smoothing=options.label_smoothing)


def _nll(z, y, head, options):
    logp = F.log_softmax(z, dim=1)
    out = F.nll_loss(logp, y, reduction="none")
    eps = options.label_smoothing
    return (1 - eps) * out - eps * logp.mean(dim=1) if eps else out


def _bce(z, y, head, options):
    # summed over labels, as MLPClassifier's log-loss (and so alpha weighs as there)
    target = _smooth(y, options.label_smoothing)
    return F.binary_cross_entropy_with_logits(z, target, reduction="none").sum(dim=1)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Rows' log-softmax in a new array. By hand, not ``scipy.special.log_softmax``,
    whose array-API dispatch cost a quarter of a small classifier's fit (wine: 0.1 s of
    0.39 s over 600 steps)."""
    shifted = z - z.max(axis=1, keepdims=True)  # exp cannot overflow
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def _cross_entropy_numpy(z: np.ndarray, y: np.ndarray):
    logp = _log_softmax(z)
    rows = np.arange(len(z))
    per = -logp[rows, y]
    g = np.exp(logp, out=logp)
    g[rows, y] -= 1.0
    return per, g


def _cross_entropy_grad(head: str, options: LossOptions) -> OutputGrad:
    eps = options.label_smoothing

    def grad(z, y):
        logp = F.log_softmax(z, dim=1)
        n_classes = z.shape[1]
        target = F.one_hot(y, n_classes).to(z.dtype)
        if eps:
            target = target.mul_(1 - eps).add_(eps / n_classes)
        return -(target * logp).sum(dim=1), logp.exp_().sub_(target)

    if not eps:
        grad.numpy = _cross_entropy_numpy
    return grad


def _bce_numpy(z: np.ndarray, y: np.ndarray):
    # log(1 + exp(z)) - z*y, written so that no exp overflows
    per = (np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum(axis=1)
    return per, expit(z) - y


def _bce_grad(head: str, options: LossOptions) -> OutputGrad:
    eps = options.label_smoothing

    def grad(z, y):
        target = _smooth(y, eps)
        per = F.binary_cross_entropy_with_logits(z, target, reduction="none").sum(dim=1)
        return per, torch.sigmoid(z).sub_(target)

    if not eps:
        grad.numpy = _bce_numpy
    return grad


for _loss in (
    Loss(
        "log_loss", CLASSIFICATION, ("softmax",), ("binary", "multiclass"),
        _cross_entropy, _cross_entropy_grad, "cross-entropy",
    ),
    Loss(
        "nll", CLASSIFICATION, ("log_softmax",), ("binary", "multiclass"),
        _nll, _cross_entropy_grad, "negative log-likelihood",
    ),
    Loss(
        "binary_cross_entropy", CLASSIFICATION, ("sigmoid",),
        ("binary", "multilabel-indicator"), _bce, _bce_grad, "binary cross-entropy",
    ),
):  # fmt: skip
    register_loss(_loss)
