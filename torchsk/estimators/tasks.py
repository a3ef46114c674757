"""One task object per problem kind: target encoding, the loss and the network's output end.

An estimator builds its task from its parameters at each fit (``_new_task``) and keeps
the fitted one for predict. The task owns everything that differs between regression
and classification: how targets are encoded for training and decoded from the
network's output, which loss (from the registry, ``training.losses``) and which output end
(link and target scaling, or probability head) the network gets, the class weights,
and the held-out score of early stopping.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, r2_score
from torch import nn

from torchsk.data.tensors import host_array
from torchsk.estimators.class_weights import class_sample_weights
from torchsk.estimators.targets import ClassificationTarget, RegressionTarget
from torchsk.inputs.quantiles import IQR_PER_STD, weighted_quantiles
from torchsk.inputs.scaling import Scaling
from torchsk.inputs.statistics import scaling_statistics
from torchsk.nn.backbone import constant_holder
from torchsk.nn.heads import (
    AUTO_HEAD,
    CLASSIFIER_HEADS,
    POSITIVE_LINKS,
    REGRESSION_LINKS,
    ClassifierHead,
    Softplus,
)
from torchsk.training.losses import (
    CLASSIFICATION,
    LOSSES,
    ONLY_BINARY,
    REGRESSION,
    LossFunctions,
    LossOptions,
    check_pair,
    loss_functions,
)
from torchsk.training.module_losses import refuse_for_classifier, refuse_for_regressor
from torchsk.training.settings import LossUnits, weighed_units

# torch loss modules that take one logit per class and class indices
CLASS_INDEX_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)
#: torch loss modules that take 0/1 targets the shape of the logits (sigmoid heads)
INDICATOR_LOSSES = (nn.BCEWithLogitsLoss, nn.MultiLabelSoftMarginLoss)


class RegressionTask:
    """Real-valued targets (1-D or multi-output), scaled inside the network.

    Parameters
    ----------
    loss : str or nn.Module
        A regression loss of the registry, or a torch loss module.
    head : str
        ``"auto"`` or a link of ``REGRESSION_LINKS``.
    target_scaling : {"standard"} or None
    options : LossOptions
    """

    kind = REGRESSION
    y_numeric = True  # validate_data's y_numeric
    stratify = False  # the early-stopping split

    def __init__(self, *, loss, head: str, target_scaling, options: LossOptions) -> None:
        self.loss, self.head, self.target_scaling = loss, head, target_scaling
        self.options = options
        self.target = None

    def fit_target(self, y: np.ndarray, classes=None) -> None:
        """Record the target's dimensionality."""
        self.target = RegressionTarget().fit(y)

    @property
    def n_outputs(self) -> int:
        """Outputs of the backbone."""
        return self.target.n_outputs_

    def link(self) -> str:
        """The output link: ``head``, or for ``"auto"`` the loss's natural one."""
        if not isinstance(self.loss, str):
            return "identity" if self.head == "auto" else self.head
        loss = LOSSES[self.loss]
        link = loss.outputs[0] if self.head == "auto" else self.head
        check_pair(loss, link)
        return link

    def structure(self) -> dict:
        """What the output end is built for (a warm start keeps it): the link and the
        target scaling: for a positive link a scale only, ``"mean"`` (``"median"``
        with a robust loss), else ``"robust"`` for a robust loss."""
        link = self.link()
        scaling = self.target_scaling
        shifted = isinstance(scaling, tuple) and _has_center(scaling)
        # (a positive link's target is divided by its mean only: it stays non-negative)
        centred = shifted or (scaling == "standard" and link not in POSITIVE_LINKS)
        refuse_for_regressor(self.loss, centred, link in POSITIVE_LINKS)  # classification, Poisson
        if isinstance(scaling, tuple):  # given: used as it is
            if link in POSITIVE_LINKS and shifted:
                raise ValueError(
                    f"target_scaling={scaling!r} shifts the target by a center, and "
                    f"head={link!r} predicts it through a positive link, which a shifted "
                    "target (negative where y is below the center) breaks. Give the "
                    "center as 0 (a scale only), or target_scaling='standard', which "
                    "scales such a target by its mean."
                )
            return {"head": link, "target_scaling": scaling}
        robust = is_robust(self.loss)
        if scaling is not None and link in POSITIVE_LINKS:  # a scale only: y stays positive
            scaling = "median" if robust else "mean"
        elif scaling == "standard" and robust:
            scaling = "robust"
        return {"head": link, "target_scaling": scaling}

    def out_activation(self) -> str:
        """``out_activation_``: the output link (``"identity"`` as in ``MLPRegressor``)."""
        return self.structure()["head"]

    def encode(self, y: np.ndarray) -> np.ndarray:
        """``y`` as a 2-D float64 array, checked against the loss."""
        y_enc = self.target.encode(y)
        if isinstance(self.loss, str):
            LOSSES[self.loss].check_target(y_enc)
        if self.link() in POSITIVE_LINKS and (y_enc < 0).any():
            # a positive link cannot predict them: it had fitted silently (R² -198)
            raise ValueError(
                f"Some value(s) of y are negative, which head={self.link()!r} (a positive "
                "link) cannot predict; use head='identity' or shift y."
            )
        return y_enc

    def sample_weight(self, y_enc: np.ndarray, sw: np.ndarray | None = None) -> float:
        """Per-sample weights the task multiplies into ``sw`` (none for regression)."""
        return 1.0

    def output_end(self, y_enc: np.ndarray, sw: np.ndarray) -> dict:
        """The network's output end (``TabularNet`` keywords), fitted on the targets."""
        link = self.link()
        center, scale = self._target_statistics(y_enc, sw)
        return {"link": REGRESSION_LINKS[link](), "target_scaling": Scaling(center, scale)}

    def _target_statistics(self, y_enc: np.ndarray, sw: np.ndarray):
        """``(center, scale)`` of the target scaling ``structure`` names."""
        method = self.structure()["target_scaling"]
        if method == "robust":
            # the mean and standard deviation would let the outliers that a robust loss
            # ignores back in (three values at 1e9 among 100 made every prediction
            # ~1e7); the median and the interquartile range (as a standard deviation on
            # normal data) do not, nor a positive link's median (``"median"``)
            center, scale = scaling_statistics(y_enc, "robust", sw, "y")
            return center, scale / IQR_PER_STD
        return scaling_statistics(y_enc, method, sw, "y")

    def constant_outputs(self, t: np.ndarray, w: np.ndarray | None) -> list[np.ndarray]:
        """Raw outputs of the constants the loss's best one is among, on the training
        targets ``t`` (in the network's scaled units): their (weighted) mean; their
        median for the absolute error, the quantile for the pinball loss (the best
        constants of those); for Huber's loss, whose best lies between them, both."""
        mean = np.average(t, axis=0, weights=w)
        q = {"absolute_error": 0.5, "huber": 0.5, "quantile": self.options.quantile}
        if not isinstance(self.loss, str) or self.loss not in q:
            return [_unlink(self.link(), mean)]
        value = _column_quantiles(t, q[self.loss], w)
        values = [value, mean] if self.loss == "huber" else [value]
        return [_unlink(self.link(), v) for v in values]

    def start_output(self, net, y_enc: np.ndarray, sw: np.ndarray) -> None:
        """Start each constant target column at its value: zero output weights and
        the bias the link maps to it, a minimum of every loss, so training leaves it
        there (from a random output layer, 20 epochs of adam ended ±0.6 off).

        Only for a backbone that says how (``nn.backbone.constant_holder``)."""
        hold = constant_holder(net.backbone)
        t = self.training_targets(y_enc, net)[sw > 0]
        if hold is None or not len(t):
            return
        constant = (t == t[0]).all(axis=0)
        if constant.any():
            value = _unlink(self.link(), t[0, constant])
            hold(torch.as_tensor(constant), torch.as_tensor(value, dtype=torch.float64))

    def loss_functions(self, options: LossOptions | None = None) -> LossFunctions:
        """The training loss on the backbone's raw output (with ``options``, those
        settings instead of the estimator's: a member's)."""
        loss = LOSSES.get(self.loss) if isinstance(self.loss, str) else self.loss
        return loss_functions(loss, self.link(), options or self.options, linked=True)

    def loss_units(self, net, y_enc: np.ndarray, sw: np.ndarray, outputs=None) -> LossUnits:
        """How the training loss on the scaled target reads in y's units (the
        registry's ``y_units``; none for a torch loss module, which stays in the
        scaled target's units). Outputs of different scales convert by different
        factors: ``outputs`` (``History.output_losses``, each output's loss at the
        trained weights) weighs them, so that ``loss_`` is the trained network's
        loss in y's units; without it, their mean factor."""
        loss = LOSSES[self.loss] if isinstance(self.loss, str) else None
        if loss is None or loss.y_units is None:
            return LossUnits(members=_members(net))
        scaling = net.target_scaling
        scale = np.ones(y_enc.shape[1]) if scaling is None else scaling.scale.cpu().numpy()
        scale = scale.astype(np.float64)
        t = y_enc if scaling is None else self.training_targets(y_enc, net)
        if outputs is not None and len(outputs[0]) == len(scale) and sum(outputs[0]) > 0:
            factor, offset = weighed_units(loss.y_units, scale, t, sw, outputs)
        else:
            factor, offset = loss.y_units(scale, t, sw)
        return LossUnits(factor, offset, _members(net))

    def training_targets(self, y_enc: np.ndarray, net) -> np.ndarray:
        """Targets in the network's scaled units (training compares raw outputs)."""
        scaling = net.target_scaling
        return (y_enc - scaling.center.cpu().numpy()) / scaling.scale.cpu().numpy()

    def decode(self, out: np.ndarray) -> np.ndarray:
        """Predictions from the network's output, with the fitted y's dimensionality."""
        return self.target.decode(out)

    def score(self, y_true: np.ndarray, out: np.ndarray, sample_weight=None) -> float:
        """Held-out score of the network's output (weighted R²)."""
        return r2_score(y_true, self.decode(out), sample_weight=sample_weight)


def _has_center(pair: tuple) -> bool:
    """Whether given scaling constants shift the target; False where they are not a
    pair of numbers (their own check names that later)."""
    try:
        return bool(np.any(np.asarray(host_array(pair[0]), dtype=float) != 0))
    except (IndexError, TypeError, ValueError):
        return False


def is_robust(loss) -> bool:
    """Whether ``loss`` names a robust registry loss (``"huber"``, ...: aiming at a median
    or quantile, which outliers do not move); a torch module or unchecked name is not."""
    return isinstance(loss, str) and loss in LOSSES and LOSSES[loss].robust


def _unlink(link: str, value: np.ndarray) -> np.ndarray:
    """The raw output that ``link`` maps to ``value`` (softplus's inverse log(expm1(v))
    in a form that does not overflow above 709)."""
    if link == "identity":
        return value
    value = np.maximum(value, 1e-12)  # a positive link never reaches 0: come close
    return np.log(value) if link == "exp" else Softplus.inverse(value)


class ClassificationTask:
    """Class labels (binary, multiclass) or a multilabel indicator matrix.

    Parameters
    ----------
    head : str
        ``"auto"`` or a key of ``CLASSIFIER_HEADS``.
    loss : str or nn.Module
        ``"auto"``, a classification loss of the registry, or a torch loss module.
    class_weight : dict, list of dicts, "balanced" or None
    options : LossOptions
    """

    kind = CLASSIFICATION
    y_numeric = False
    stratify = True

    def __init__(self, *, head: str, loss, class_weight, options: LossOptions) -> None:
        self.head, self.loss, self.class_weight = head, loss, class_weight
        self.options = options
        self.target = None

    def fit_target(self, y: np.ndarray, classes=None) -> None:
        """Record the target type and the classes (``classes``: all of them, known
        in advance)."""
        self.target = ClassificationTarget(classes).fit(y)

    @property
    def target_type(self) -> str:
        """``type_of_target`` of the fitted labels."""
        return self.target.target_type_

    @property
    def head_spec(self) -> ClassifierHead:
        """The head for ``head``/``loss``/target type, or a ``ValueError`` naming the
        valid combinations. ``"auto"`` picks the named loss's head, else sigmoid for
        binary and multilabel targets and softmax for multiclass ones."""
        refuse_for_classifier(self.loss)  # BCELoss (probabilities), -1/1 and regression
        if (
            isinstance(self.loss, CLASS_INDEX_LOSSES)
            and self.target_type == "multilabel-indicator"
        ):
            # a one-hot y reads as multilabel: sigmoid logits through a softmax loss
            # trained one model and predicted another
            raise ValueError(
                f"loss={self.loss!r} takes the class index of a single-label target, but y "
                "is a multilabel indicator matrix (0/1 columns). For one class per row, "
                "pass the labels (e.g. y.argmax(axis=1)); for several labels per row, use "
                "nn.BCEWithLogitsLoss()."
            )
        head = self.head if self.head != "auto" else self._auto_head()
        check_pair(self._registry_loss(head), head, self.target_type, shown=self.loss)
        spec = CLASSIFIER_HEADS[head]
        if isinstance(self.loss, CLASS_INDEX_LOSSES) and spec.n_outputs(self.target_type, 2) == 1:
            # one logit trained through a softmax-type loss: its loss is 0 whatever the
            # weights, so nothing would be learned
            raise ValueError(
                f"loss={self.loss!r} needs one logit per class, but head={head!r} gives a "
                "binary target a single sigmoid logit. Use head='softmax' (or 'auto'), or "
                "a one-logit loss such as nn.BCEWithLogitsLoss()."
            )
        if isinstance(self.loss, INDICATOR_LOSSES) and head != "sigmoid":
            # a softmax head trains on class indices, whose shape such a loss refuses
            raise ValueError(
                f"{ONLY_BINARY * (self.target_type == 'multiclass')}loss={self.loss!r} takes "
                "0/1 targets shaped as the logits, which only head='sigmoid' gives (binary and "
                f"multilabel targets); head={head!r} trains a {self.target_type} target on "
                "class indices. Use head='sigmoid' for a binary target, or nn.CrossEntropyLoss()."
            )
        return spec

    def _auto_head(self) -> str:
        """``head="auto"``: the named loss's head, softmax for a torch loss module that
        takes class indices, else sigmoid for binary and multilabel targets and
        softmax for multiclass ones."""
        if isinstance(self.loss, str) and self.loss != "auto":
            return LOSSES[self.loss].outputs[0]
        if isinstance(self.loss, CLASS_INDEX_LOSSES) and self.target_type == "binary":
            return "softmax"
        return AUTO_HEAD[self.target_type]

    def _registry_loss(self, head: str):
        """The registry entry of ``loss``; for ``"auto"`` or a torch loss module (which
        fit any head), that of the head's natural loss."""
        if isinstance(self.loss, str) and self.loss != "auto":
            return LOSSES[self.loss]
        return next(
            loss
            for loss in LOSSES.values()
            if loss.task == CLASSIFICATION and head in loss.outputs
        )

    @property
    def n_outputs(self) -> int:
        """Logits of the backbone."""
        return self.head_spec.n_outputs(self.target_type, len(self.target.classes_))

    def structure(self) -> dict:
        """What the network's output end was built for: a warm start keeps it. The
        ``log_softmax`` head (``loss="nll"``'s) is the ``softmax`` network."""
        name = self.head_spec.name
        return {"head": "softmax" if name == "log_softmax" else name}

    def out_activation(self) -> str:
        """``out_activation_`` with ``MLPClassifier``'s names: ``"logistic"`` for
        sigmoid logits, ``"softmax"`` for one logit per class."""
        return "logistic" if self.head_spec.name == "sigmoid" else "softmax"

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Class indices (int64), or 0/1 floats for multilabel targets."""
        return self.target.encode(y)

    def sample_weight(self, y_enc: np.ndarray, sw: np.ndarray | None = None):
        """``class_weight`` as per-sample weights (``estimators.class_weights``)."""
        if self.class_weight is None:
            return 1.0
        y = self.target.decode(y_enc)
        return class_sample_weights(self.class_weight, y, y_enc, self.target.classes_, sw)

    def output_end(self, y_enc: np.ndarray, sw: np.ndarray) -> dict:
        """The network's probability head (``TabularNet`` keywords)."""
        return {"head": self.head_spec.proba_module(self.target_type)}

    def constant_outputs(self, t: np.ndarray, w: np.ndarray | None) -> list[np.ndarray]:
        """The logits of the (weighted) class frequencies of the training targets
        ``t`` (class indices, or 0/1 columns for sigmoid logits): the one best
        constant."""
        if t.ndim == 1:  # class indices: log-frequencies, softmax's logits
            counts = np.bincount(t, weights=w, minlength=self.n_outputs)
            return [np.log(np.maximum(counts / counts.sum(), 1e-12))]
        p = np.clip(np.average(t, axis=0, weights=w), 1e-12, 1 - 1e-12)
        return [np.log(p) - np.log1p(-p)]  # sigmoid logits

    def start_output(self, net, y_enc: np.ndarray, sw: np.ndarray) -> None:
        """Start each multilabel column constant in training (a label never or always
        positive) at zero output weights and the logit of its frequency smoothed to
        ``0.5 / (n + 1)`` from 0 or 1: it predicts that constant from the first epoch
        (from a random output layer, a short fit had predicted a never-positive label
        on a fifth of the rows), and training only moves it further. Other targets
        have two classes or more: nothing to do."""
        hold = constant_holder(net.backbone)
        t = y_enc[sw > 0]
        if self.target_type != "multilabel-indicator" or hold is None or not len(t):
            return
        constant = (t == t[0]).all(axis=0)
        if constant.any():
            p = 0.5 / (len(t) + 1)
            value = np.where(t[0, constant] > 0, 1.0, -1.0) * np.log((1 - p) / p)
            hold(torch.as_tensor(constant), torch.as_tensor(value, dtype=torch.float64))

    def loss_functions(self, options: LossOptions | None = None) -> LossFunctions:
        """The training loss on the logits (with ``options``, those settings
        instead of the estimator's: a member's)."""
        head = self.head_spec.name
        loss = self.loss if not isinstance(self.loss, str) else self._registry_loss(head)
        return loss_functions(loss, head, options or self.options, linked=False)

    def loss_units(self, net, y_enc: np.ndarray, sw: np.ndarray, outputs=None) -> LossUnits:
        """Classification losses have no units: as training computes them (an
        ensemble's: its members' mean, ``LossUnits.of_members``), whatever each
        label's loss (``outputs``)."""
        return LossUnits(members=_members(net))

    def training_targets(self, y_enc: np.ndarray, net) -> np.ndarray:
        """Class indices, or 0/1 columns for sigmoid logits."""
        if y_enc.dtype == np.int64 and self.n_outputs == 1:
            return y_enc[:, None].astype(np.float64)  # one sigmoid logit: 0/1 target
        return y_enc

    def labels(self, z: np.ndarray) -> np.ndarray:
        """Labels from logits: the largest logit, or a positive one for sigmoid heads."""
        if self.target_type == "multilabel-indicator":
            return self.target.decode(z > 0)
        indices = (z[:, 0] > 0).astype(int) if z.shape[1] == 1 else z.argmax(axis=1)
        return self.target.decode(indices)

    def decision(self, z: np.ndarray) -> np.ndarray:
        """``decision_function``'s scores: one column per class, except for binary
        targets, where scikit-learn expects one score per row (positive means
        ``classes_[1]``) whatever the head: the log-odds of the two logits."""
        if self.target_type != "binary":
            return z
        return z.ravel() if z.shape[1] == 1 else z[:, 1] - z[:, 0]

    def score(self, y_true: np.ndarray, z: np.ndarray, sample_weight=None) -> float:
        """Held-out score of the logits (weighted accuracy)."""
        return accuracy_score(y_true, self.labels(z), sample_weight=sample_weight)


def _members(net) -> int:
    """The members an ensemble's training loss sums (``LossUnits.of_members``)."""
    return getattr(net.backbone, "n_members", 1)


def _column_quantiles(t: np.ndarray, q: float, w: np.ndarray | None) -> np.ndarray:
    """``inputs.quantiles.weighted_quantiles``'s ``q`` quantile of each target column
    (numpy's ``quantile`` takes weights from numpy 2 only)."""
    columns = torch.as_tensor(t, dtype=torch.float64).reshape(len(t), -1).T
    w = torch.ones(len(t), dtype=torch.float64) if w is None else torch.as_tensor(w)
    values = [weighted_quantiles(column, q, w).item() for column in columns]
    return np.array(values).reshape(t.shape[1:])
