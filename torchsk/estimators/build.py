"""Building the network: the input stage, the backbone factory, and the checks of a
user's module (its widths, no probability output)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from torchsk._warnings import warn
from torchsk.estimators.attributes import unscaled
from torchsk.estimators.user_modules import (
    build_module,
    module_params,
    refuse_probability_layer,
    refuse_probability_output,
    run_recording_last_layer,
    warn_if_bounded,
)
from torchsk.inputs.bins import auto_bins
from torchsk.inputs.categorical import MIN_COUNT
from torchsk.inputs.encoder import StageOptions
from torchsk.inputs.statistics import Layout
from torchsk.nn.ensemble import EnsembleMLP
from torchsk.nn.mlp import MLP
from torchsk.nn.net import TabularNet
from torchsk.nn.reuse import ReusedBackbone, reuses_encoding
from torchsk.training.devices import as_tensor
from torchsk.training.inference import evaluating
from torchsk.training.losses import CLASSIFICATION
from torchsk.training.report import SMALL_WEIGHTS, diverged_advice


class NetworkBuilder:
    """The estimators' network assembly (a mixin of ``BaseTorchEstimator``): the input
    stage fitted on the rows, the backbone (the built-in ``MLP`` / ``EnsembleMLP`` or
    the user's ``module``), ``module_`` placed where the plan says, and the user's
    module checked."""

    def _build(self, rows, y_enc, sw, task, seed, input_sw=None):
        """Fit the input stage on ``rows`` (``estimators.fitdata``) weighted by
        ``input_sw`` (the user's sample weights: ``class_weight`` weighs the loss, not
        the input statistics or which levels are rare, as in scikit-learn's pipelines)
        and assemble ``module_`` (float64 on the CPU while building); ``sw``, the
        loss's weights, starts the output end."""
        input_sw = sw if input_sw is None else input_sw
        table, n_features = self._table, rows.n_features
        self.is_categorical_ = (
            np.zeros(n_features, dtype=bool) if table is None else table.is_categorical_
        )
        self.categories_ = [None] * n_features if table is None else table.categories_
        if reuses_encoding(self.module):  # the encoding its backbone learned on
            inputs = self.module.input_stage(n_features)
        else:
            inputs = rows.input_stage(self, input_sw, seed)
        _warn_lost_columns(inputs, getattr(self, "feature_names_in_", None), input_sw)
        backbone = self._make_backbone(inputs.n_outputs, task.n_outputs, seed)
        self.module_ = TabularNet(inputs, backbone, **task.output_end(y_enc, sw))
        task.start_output(self.module_, y_enc, sw)
        self._optimizer = None
        self._build_params = self._network_params()
        self.loss_curve_, self.validation_scores_ = [], None
        self.t_ = 0
        self._stopping = None  # a new network counts epochs without improvement afresh

    def _layout(self) -> Layout:
        """The categorical columns and their training categories, for the input stage."""
        return Layout(self.is_categorical_, [len(c) for c in self.categories_ if c is not None])

    def _stage_options(self, n_samples: int | None, seed: int) -> StageOptions:
        """What the input stage is asked for, ``numeric_bins="auto"`` resolved for
        ``n_samples`` rows in memory (None: a source it streams, which bins nothing)."""
        bins = self.numeric_bins
        if isinstance(self.module, ReusedBackbone):
            bins = self.module.numeric_bins  # repeat the encoding the backbone learned on
        elif bins == "auto":  # the built-in MLP only, and not a linear one (see docs)
            n_numeric = int((~self.is_categorical_).sum())
            mlp = self.module is None and len(self._hidden_sizes()) > 0
            bins = auto_bins(n_samples, n_numeric) if mlp and n_samples else None
        # always an imputer: NaN at predict time (or in a later partial_fit) gets the
        # training mean even where training had none
        return StageOptions(self.input_scaling, True, bins, seed)

    def _place(self, X, task):
        """Put the new network where the plan says, then check a user's backbone."""
        self._plan.place(self.module_)
        if self.module is None:  # the built-in MLP has the right widths by construction
            return
        classifier = task.kind == CLASSIFICATION
        hint = ""
        if classifier and task.target_type == "binary" and task.n_outputs == 1:
            hint = (
                " A binary target takes one logit under the default sigmoid head; with "
                "head='softmax' it takes two (one per class)."
            )
        self._check_module_output(X, task.n_outputs, hint, classifier)

    def _make_backbone(self, n_inputs: int, n_outputs: int, seed: int) -> nn.Module:
        params = module_params(self)
        if params and (self.module is None or isinstance(self.module, nn.Module)):
            raise ValueError(
                f"module__* parameters ({', '.join(params)}) are arguments for a module "
                f"class or builder, but module is {_what_module(self.module)}."
            )
        if self.module is None:
            shape = dict(
                n_inputs=n_inputs,
                n_outputs=n_outputs,
                hidden_layer_sizes=tuple(self._hidden_sizes()),
                activation=self.activation,
                dropout=self.dropout,
                generator=torch.Generator().manual_seed(seed),
                dtype=torch.float64,
            )
            if self.n_ensemble > 1:
                return EnsembleMLP(**shape, n_members=self.n_ensemble)
            return MLP(**shape)
        if isinstance(self.module, nn.Module):
            # the user's (possibly pretrained) weights are kept; their object is not
            module = copy.deepcopy(self.module)
        else:  # copies of the modules among its arguments, and of what a builder returns
            module = build_module(self.module, n_inputs, n_outputs, params)
        return _trainable(_materialized(_trainable_kind(module).double(), n_inputs))

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if np.ndim(sizes) == 0 else list(sizes)
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}.")
        return [int(s) for s in sizes]

    def _check_module_output(self, X, expected: int, hint: str, classifier: bool):
        """A probe batch through a user's backbone: its widths, and for a classifier,
        no probabilities (checked first: a module ending in softmax has two outputs
        for a binary target)."""
        n_inputs = self.module_.inputs.n_outputs
        x = as_tensor(X[:2], None, self._plan.device)
        # in eval mode: a batch norm's running statistics (momentum=None: the average
        # of every batch) had counted the probe's two rows as a training batch
        with torch.no_grad(), evaluating(self.module_):
            try:
                out, last = run_recording_last_layer(
                    self.module_.backbone, lambda: self.module_.raw_output(x)
                )
            except RuntimeError as error:  # torch's, naming no width nor dtype of ours
                said = str(error)  # floats of two widths (an index's error is torch's)
                if "same dtype" in said or ("Float" in said and "Double" in said):
                    raise ValueError(
                        f"The module failed on inputs of {self._plan.dtype}, the dtype "
                        "torchsk trains it in (float64 on the CPU for small problems, else "
                        "float32): its forward must follow its input's dtype (no "
                        "x.float()), and hold its tensors as parameters or buffers, which "
                        f"are cast with it. It failed: {error}"
                    ) from error
                if "shape" not in str(error):
                    raise
                raise ValueError(
                    f"The module must take {n_inputs} inputs: X's {self.n_features_in_} "
                    f"columns as the network reads them (after one-hot categories and "
                    f"missing-value indicators). It failed on them: {error}"
                ) from error
        if not isinstance(out, torch.Tensor):  # skorch's modules may return tuples
            raise ValueError(
                f"The module's forward must return one tensor (of shape (n_samples, "
                f"{expected})); it returned a {type(out).__name__}. Wrap it in a module "
                "whose forward returns the outputs alone (e.g. its first element)."
            )
        if classifier:
            refuse_probability_layer(*last, out)
        if out.ndim != 2 or out.shape[1] != expected:
            raise ValueError(
                f"The module must map (n_samples, {n_inputs}) inputs to "
                f"(n_samples, {expected}) outputs; it returned shape {tuple(out.shape)}.{hint}"
            )
        if classifier:
            refuse_probability_output(out)

    def _check_trained_module(self, X, task) -> None:
        """Warn when a classifier's own module never output a logit outside [0, 1]
        on (up to 256) training rows, nor on inputs far from them: a sigmoid in its
        ``forward`` that the check of its layers (``_place``) cannot see."""
        if self.module is None or task.kind != CLASSIFICATION:
            return
        backbone, width = self.module_.backbone, self.module_.inputs.n_outputs
        seeded, dtype = torch.Generator().manual_seed(0), self._plan.dtype

        def far() -> torch.Tensor:  # drawn only where the outputs lie in [0, 1]
            x = torch.randn(64, width, generator=seeded, dtype=dtype) * 1e3
            return backbone(x.to(self._plan.device))

        with torch.no_grad():
            out = self.module_.raw_output(as_tensor(X[:256], None, self._plan.device))
            warn_if_bounded(out, far)


def warn_non_finite(out: np.ndarray) -> np.ndarray:
    """``out`` as it is, with a warning where a row's output is NaN or infinite: a
    model never predicts NaN without saying so (an estimator's or a search's blend)."""
    if not np.isfinite(out).all():
        warn(
            "The model produced non-finite outputs for some rows; check those inputs "
            "for values far outside the training range.",
            RuntimeWarning,
        )
    return out


def check_finite_outputs(est, X, history) -> None:
    """Refuse a diverged fit whose kept weights give non-finite outputs on (up to 256)
    training rows ``X``, as ``MLPClassifier`` refuses non-finite weights: the model
    would predict NaN; the fit's ``all_or_nothing`` puts the fitted state back. (Rows
    streamed or sparse give no probe for the built-in MLP: ``X`` None, not checked.)"""
    diverged = history.stopped == "diverged" or history.diverged_members is not None
    if X is None or not diverged:
        return
    with torch.no_grad():
        out = est.module_(as_tensor(X[:256], None, est._plan.device))
    if not torch.isfinite(out).all():
        raise ValueError(
            "Training diverged, and the weights it kept give non-finite outputs on the "
            "training rows, so the model would predict NaN. "
            + diverged_advice(est.solver, unscaled(est))
        )


def _warn_lost_columns(inputs, names, sw=None) -> None:
    """Name the columns the network learns nothing from: those with no value in
    training (the imputer holds a numeric one at its fill value, the table reads a
    categorical one as missing throughout, so what they hold later cannot change a
    prediction), categorical ones whose levels all pool as rare."""

    def named(columns) -> str:
        return ", ".join(repr(names[j]) if names is not None else f"column {j}" for j in columns)

    imputer, categorical = getattr(inputs, "impute", None), getattr(inputs, "categorical", None)
    empty = [] if imputer is None else list(imputer.config.get("empty_columns", []))
    if categorical is not None:  # no level: missing (or unseen) throughout, then and later
        empty = sorted(empty + categorical.levelless_columns())
    if empty:
        read_as_numbers = imputer is not None and imputer.config.get("empty_columns")
        warn(
            f"{named(empty)} had no values in training (all missing, or present only "
            "in rows of zero weight): the model "
            "ignores them, as SimpleImputer drops such columns; values they hold at "
            "predict time do not change its predictions."
            + (" A column read as numbers that held values (in rows of zero weight) still "
               "refuses strings then: list it in categorical_features to let it hold any "
               "value." if read_as_numbers else "")
        )  # fmt: skip
    pooled = [] if categorical is None else categorical.pooled_columns()
    if pooled:
        warn(
            f"Every level of {named(pooled)} was seen in fewer than {MIN_COUNT} training "
            "rows (a sample weight of k counting as k rows), so all share one 'rare' "
            "slot and the model cannot tell them apart. " + _pooling_advice(sw)
        )


def _pooling_advice(sw) -> str:
    """What to do about columns whose levels all pooled; weights that average far
    below 1 (normalized to sum to 1, as AdaBoost's are) make every level rare."""
    advice = (
        "If the column holds numbers, convert it to a numeric dtype (e.g. "
        "pd.to_numeric); else leave it out or group its levels."
    )
    mean = None if sw is None else float(np.mean(sw))
    if mean is not None and mean < SMALL_WEIGHTS:
        advice += (
            f" The sample weights average {mean:.3g}: scale them to average 1 (only "
            "their ratios matter to the loss; the L2 penalty and the pooling, as in "
            "scikit-learn's MLP, count a weight of k as k samples)."
        )
    return advice


def _what_module(module) -> str:
    if module is None:
        return "None (the built-in MLP: set module=MyModule, or drop them)"
    return "an nn.Module instance, built already: pass its class instead (module=MyModule)"


def _materialized(backbone: nn.Module, n_inputs: int) -> nn.Module:
    """A backbone with lazy layers (``nn.LazyLinear``, ...) run once, in eval mode, on
    two rows of zeros: torch sets their shapes at the first forward, which would come
    after the fit has counted, placed and handed the parameters to the optimizer. Their
    initial values are drawn from the fit's seeded generator, as the others'."""
    if any(nn.parameter.is_lazy(p) for p in backbone.parameters()):
        with torch.no_grad(), evaluating(backbone):
            backbone(torch.zeros(2, n_inputs, dtype=torch.float64))
    return backbone


def _trainable_kind(module) -> nn.Module:
    """What ``module`` built, refused unless it is an ``nn.Module`` torchsk can train
    (a TorchScript module's parameters cannot be cast and trained in place)."""
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"module must be, or build, an nn.Module; it gave a {type(module).__name__}."
        )
    if isinstance(module, torch.jit.ScriptModule):
        raise ValueError(
            "module is a TorchScript module (torch.jit.script or trace), which torchsk "
            "cannot train: pass the nn.Module itself, and script the fitted "
            "estimator's module_ afterwards if you need TorchScript."
        )
    return module


def _trainable(backbone: nn.Module) -> nn.Module:
    """A user's backbone, refused when none of its parameters requires gradients.

    Parameters with ``requires_grad=False`` stay fixed in every fit; a backbone with
    all of them fixed (a fitted ``module_``'s, whose parameters are frozen) would train
    nothing.
    """
    params = list(backbone.parameters())
    if not params:
        raise ValueError(
            f"The module ({type(backbone).__name__}) has no parameters, so the fit "
            "would train nothing: the module must hold the layers to train."
        )
    if not any(p.requires_grad for p in params):
        raise ValueError(
            "None of the module's parameters requires gradients, so the fit would train "
            "nothing (a fitted estimator's module_ is frozen that way). Pass "
            "ReusedBackbone(estimator), or call module.requires_grad_() first."
        )
    return backbone
