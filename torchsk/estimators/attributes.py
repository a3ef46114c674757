"""scikit-learn's MLP attributes read off a fitted ``TabularNet``.

``coefs_`` and ``intercepts_`` are the built-in MLP's layers expressed on raw X and
in y's units: the input stage's scaling is folded into the first layer and the
target scaling into the last, which is exact where both are affine. They are
computed from ``module_`` at each access, so they never drift from the network
(warm starts, ``partial_fit``, pickles).
"""

from __future__ import annotations

from dataclasses import astuple, replace

import numpy as np
from sklearn.utils.validation import check_is_fitted
from torch import nn

from torchsk.inputs.impute import Imputer
from torchsk.inputs.scaling import Scaling
from torchsk.nn.backbone import hand_written
from torchsk.nn.ensemble import EnsembleMLP
from torchsk.nn.heads import Exp
from torchsk.nn.mlp import MLP
from torchsk.training.report import warn_about
from torchsk.training.settings import LossUnits, Stopping


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()


def n_layers(net) -> int:
    """Layers as scikit-learn counts them: input, hidden layers, output."""
    backbone = net.backbone
    if not isinstance(backbone, MLP | EnsembleMLP):
        raise AttributeError(
            f"n_layers_ is defined for the built-in MLP; this module_'s backbone is a "
            f"{type(backbone).__name__}."
        )
    return len(backbone.config["hidden_layer_sizes"]) + 2


def _read_only(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """``arrays``, each made read-only: they are copies computed from ``module_`` (its
    scaling folded in), so an edit in place would change nothing; it raises instead."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


def _refuse_edits(name: str):
    """``MLPRegressor``'s ``coefs_`` and ``intercepts_`` are the model: torchsk's are
    computed from ``module_``, so assigning them cannot change the model."""
    raise AttributeError(
        f"{name} is computed from module_ (with its input scaling folded in) and cannot "
        "be assigned; change the weights in module_ instead, e.g. "
        "module_.backbone.linears()[0].weight (on the scaled inputs)."
    )


def raw_layers(net) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(coefs_, intercepts_)``: weight matrices of shape ``(n_in, n_out)`` and bias
    vectors of the built-in MLP, acting on raw X (without missing values) and giving
    y in its own units (regression) or the logits (classification)."""
    # a subclass may change forward: only the MLP's own passes are these layers
    if not (isinstance(net.backbone, MLP) and hand_written(net.backbone)):
        raise AttributeError(
            "coefs_ and intercepts_ are defined for the built-in MLP with n_ensemble=1; "
            f"this module_'s backbone is a {type(net.backbone).__name__}. Its weights are "
            "in module_.backbone.state_dict()."
        )
    layers = net.backbone.linears()
    coefs = [_numpy(layer.weight).T for layer in layers]
    intercepts = [_numpy(layer.bias) for layer in layers]
    center, scale, n_raw = _input_affine(net.inputs)
    # (x - c) / s @ W + b == x @ (W / s) + (b - (c / s) @ W)
    intercepts[0] = intercepts[0] - (center / scale) @ coefs[0]
    # the missing indicators' rows are left out: they are 0 on X without missing values
    coefs[0] = (coefs[0] / scale[:, None])[:n_raw]
    _fold_empty_columns(net.inputs, coefs, intercepts)
    _fold_output(net, coefs, intercepts)
    return coefs, intercepts


def _input_affine(stage) -> tuple[np.ndarray, np.ndarray, int]:
    """``(center, scale, n_raw)`` of an input stage that is a scaling (after an
    imputer, which is the identity on X without missing values); ``AttributeError``
    for any other encoder (categorical encoding, numeric bins), which is not affine."""
    steps = list(stage.children())
    others = [type(s).__name__ for s in steps if not isinstance(s, Imputer | Scaling)]
    if others:
        raise AttributeError(
            "coefs_ and intercepts_ act on raw X, which needs an affine input stage; this "
            f"one also has {', '.join(others)} (categorical encoding, numeric_bins), which "
            "are not. The first layer's weights on the encoded inputs are "
            "module_.backbone.linears()[0].weight."
        )
    scaling = next(s for s in steps if isinstance(s, Scaling))
    n_raw = steps[0].n_inputs if isinstance(steps[0], Imputer) else scaling.n_outputs
    return _numpy(scaling.center), _numpy(scaling.scale), n_raw


def _fold_empty_columns(stage, coefs: list[np.ndarray], intercepts: list[np.ndarray]) -> None:
    """Columns never present in training always read as their fill value (``Imputer``):
    a constant, folded into the first bias, their rows of weights 0. In place."""
    imputer = next((s for s in stage.children() if isinstance(s, Imputer)), None)
    empty = [] if imputer is None else imputer.config.get("empty_columns", [])
    if empty:
        intercepts[0] = intercepts[0] + _numpy(imputer.fill)[empty] @ coefs[0][empty]
        coefs[0][empty] = 0.0


def _fold_output(net, coefs: list[np.ndarray], intercepts: list[np.ndarray]) -> None:
    """Fold the target scaling (regression) into the last layer, in place."""
    scaling = net.target_scaling
    if scaling is None:
        return
    center, scale = _numpy(scaling.center), _numpy(scaling.scale)
    if isinstance(net.link, nn.Identity):  # y = z * s + c
        coefs[-1] *= scale
        intercepts[-1] = intercepts[-1] * scale + center
    elif isinstance(net.link, Exp) and not center.any():  # y = exp(z) * s = exp(z + log s)
        intercepts[-1] = intercepts[-1] + np.log(scale)
    elif center.any() or (scale != 1).any():
        raise AttributeError(
            f"coefs_ and intercepts_ cannot absorb the target scaling after a "
            f"{type(net.link).__name__} link; use target_scaling=None, or read "
            "module_.backbone's layers (in the scaled target's units)."
        )


class MLPAttributes:
    """scikit-learn's MLP attributes of a fitted estimator, recorded after each fit
    (``_record``) or computed from its fitted state (``module_``, ``loss_curve_``, the
    task) at each access."""

    def _record(self, history, first, incremental, units):
        """Record a fit's ``history`` (a ``training.settings.History``, its losses
        converted by ``units``) as scikit-learn's attributes, and warn as it warns."""
        history = in_y_units(history, units)
        warn_about(history, self._fit_config(), incremental, unscaled(self))
        # as scikit-learn counts it: this call's epochs (all of them: len(loss_curve_))
        self.n_iter_ = history.n_iter
        # scikit-learn's no-improvement count and best loss go on across partial_fit
        # calls and warm starts (training.settings.Stopping)
        self._stopping = history.stopping.to_state()
        self.t_ += history.t
        self.loss_curve_ = self.loss_curve_ + history.loss_curve
        # early stopping switched off for a warm start: the count started afresh on the
        # loss (Stopping.resumed; scikit-learn fails there), and so do these attributes
        switched = not history.stopping.on_score and self.validation_scores_ is not None
        if history.validation_scores:
            self.validation_scores_ = (self.validation_scores_ or []) + history.validation_scores
        elif switched:
            self.validation_scores_ = None
        elif history.stopping.on_score and self.validation_scores_ is None:
            self.validation_scores_ = []  # early stopping, diverged before a first score
        # as scikit-learn's MLP: best_loss_ without early stopping, best_validation_score_
        # with it, None for the other
        scores = self.validation_scores_
        # the best the no-improvement rule judged by: the kept weights' score (a diverged
        # fit's first weights, never an epoch's score, may be kept: training.loop), the
        # earlier fits' best where the count went on from it, but not where it began
        # afresh (after cross-fitted members, scored on other rows; a user's reset)
        best = history.stopping.best_score
        self.best_validation_score_ = (best if np.isfinite(best) else np.nan) if scores else None
        # the count on the loss goes on from the previous best unless it began afresh;
        # kept apart from loss_curve_, which is the user's list to edit (as MLP's)
        prior = None if first or switched else getattr(self, "best_loss_", None)
        losses = history.loss_curve + ([] if prior is None else [prior])
        self.best_loss_ = None if scores is not None else min(losses, default=np.inf)
        # what a later fit tells a user's edit of them by, and the units they are in
        # (_resumed_stopping)
        self._reported_bests = (self.best_loss_, self.best_validation_score_, astuple(units))
        self.n_outputs_ = self._task.n_outputs
        self.alpha_ = history.alpha  # the contract's record of a data-dependent default

    @property
    def loss_(self) -> float:
        """The training loss at the last epoch: ``loss_curve_[-1]``."""
        check_is_fitted(self, "loss_curve_")
        return self.loss_curve_[-1] if self.loss_curve_ else np.inf

    @property
    def _no_improvement_count(self) -> int:
        """scikit-learn's private count of epochs without improvement, which goes on
        across ``partial_fit`` calls and warm starts (client code reads it to tell
        how near a fit is to stopping)."""
        check_is_fitted(self, "loss_curve_")
        return (getattr(self, "_stopping", None) or {}).get("no_improvement", 0)

    @_no_improvement_count.setter
    def _no_improvement_count(self, value: int) -> None:
        """scikit-learn's idiom to go on after a fit converged: setting the count to 0
        lets a warm start run ``n_iter_no_change`` epochs or more again (raising
        AttributeError, it had failed the client's code). Before a first fit it is
        ignored, as scikit-learn's first fit sets its count to 0."""
        if not hasattr(self, "loss_curve_"):
            return
        self._stopping = {**(getattr(self, "_stopping", None) or {}), "no_improvement": value}

    def _resumed_stopping(self) -> Stopping:
        """The no-improvement rule's memory for this fit: the last fit's, with a
        ``best_loss_`` or ``best_validation_score_`` a user set since in its place.
        scikit-learn's idiom to go on after convergence sets ``best_loss_ = np.inf``
        with ``_no_improvement_count = 0``: the first epoch then counts as an
        improvement."""
        state = getattr(self, "_stopping", None)
        stopping = Stopping.from_state(state)
        if state is None:  # a new network (a cold refit too): nothing to go on from
            return stopping
        loss, score, units = getattr(self, "_reported_bests", (None, None, None))
        if _edited(self.best_loss_, loss):
            edited = float(self.best_loss_)
            stopping.best_loss = LossUnits(*units).to_training(edited) if units else edited
        if _edited(self.best_validation_score_, score):
            stopping.best_score = float(self.best_validation_score_)
        return stopping

    @property
    def n_layers_(self) -> int:
        """``len(hidden_layer_sizes) + 2``: input, hidden and output layers."""
        check_is_fitted(self, "module_")
        return n_layers(self.module_)

    @property
    def out_activation_(self) -> str:
        """The output function, with scikit-learn's names (see the class docstring)."""
        check_is_fitted(self, "module_")
        return self._task.out_activation()

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices of the built-in MLP on raw X (see the class docstring);
        read-only copies computed from ``module_``."""
        check_is_fitted(self, "module_")
        return _read_only(self._fitted_dtype(raw_layers(self.module_)[0]))

    @coefs_.setter
    def coefs_(self, value) -> None:
        _refuse_edits("coefs_")

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors of the built-in MLP on raw X (see the class docstring);
        read-only copies computed from ``module_``."""
        check_is_fitted(self, "module_")
        return _read_only(self._fitted_dtype(raw_layers(self.module_)[1]))

    @intercepts_.setter
    def intercepts_(self, value) -> None:
        _refuse_edits("intercepts_")

    def _fitted_dtype(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """float32 after a float32 fit, as ``MLPRegressor``'s weights follow X's dtype
        (folded with the float64 scaling constants, they had come out float64)."""
        float32 = getattr(self, "_float32_fit", False)
        return [a.astype(np.float32) for a in arrays] if float32 else arrays


def _edited(value, recorded) -> bool:
    """Whether a user set ``value`` since a fit recorded ``recorded`` (a NaN is still a
    NaN: pickles copy it). ``recorded`` None: a model saved before it was kept, where
    only an infinite value, a reset, can be told (no fit records one it would miss)."""
    if value is None:
        return False
    if recorded is None:
        return bool(np.isinf(value))
    return not (value == recorded or (np.isnan(value) and np.isnan(recorded)))


def in_y_units(history, units):
    """``history`` with its losses in y's units (``units``: a ``LossUnits``)."""
    worse = history.worse_than_constant
    return replace(
        history,
        # numpy floats, as scikit-learn's (MLP code calls loss_.item())
        loss_curve=[np.float64(units.of_members(loss)) for loss in history.loss_curve],
        best_loss=np.float64(units.of_members(history.best_loss)),
        worse_than_constant=None if worse is None else tuple(map(units, worse)),
    )


def unscaled(est) -> tuple[str, ...]:
    """The scalings ``est`` switched off (``input_scaling``, ``target_scaling``)."""
    names = ("input_scaling", "target_scaling")
    return tuple(name for name in names if hasattr(est, name) and getattr(est, name) is None)
