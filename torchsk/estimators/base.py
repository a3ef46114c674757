"""The parts both estimators share: parameters, the ``fit`` pipeline, batched inference.

``fit`` reads as: validate → build the network and its execution plan → train
(``training.fit.fit_network``) → record the fitted attributes. What differs between
regression and classification lives in the task objects (``estimators.tasks``).
"""

from __future__ import annotations

import copy
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    check_consistent_length,
    check_is_fitted,
)
from torch import nn

from torchsk._warnings import warn
from torchsk.data.checks import check_X, new_table
from torchsk.data.dask import is_dask, stream_blocks
from torchsk.data.tensors import host_array, is_tensor
from torchsk.estimators.attributes import MLPAttributes
from torchsk.estimators.callbacks import CallbackSupportMixin, EpochHooks
from torchsk.estimators.fitdata import InMemoryFit
from torchsk.estimators.fitstate import all_or_nothing
from torchsk.estimators.streamed import StreamedFit
from torchsk.estimators.user_modules import (
    PREFIX,
    build_module,
    check_module_params,
    module_params,
    refuse_probability_layer,
    refuse_probability_output,
    run_recording_last_layer,
    warn_if_bounded,
)
from torchsk.inputs.bins import auto_bins
from torchsk.inputs.categorical import MIN_COUNT
from torchsk.inputs.stage import build_input_stage
from torchsk.inputs.statistics import stage_from_tensor
from torchsk.io.persistence import PicklesPlainData
from torchsk.nn.ensemble import EnsembleMLP
from torchsk.nn.mlp import ACTIVATIONS, MLP
from torchsk.nn.net import TabularNet
from torchsk.nn.reuse import ReusedBackbone, reuses_encoding
from torchsk.training.devices import as_tensor, resolve_device, seeded
from torchsk.training.fit import FitConfig, encode_into, epoch_limit, warn_about
from torchsk.training.inference import predict_in_batches
from torchsk.training.losses import CLASSIFICATION
from torchsk.training.plan import ONE_BLAS_THREAD, make_plan
from torchsk.training.settings import SOLVERS


def _same(a, b) -> bool:
    """Parameter equality; modules (and builders) by identity, lists and masks by value."""
    if callable(a) or callable(b):
        return a is b
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return a == b
    return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def _diff(old: dict, new: dict):
    """``(key, "old → new")`` for each key whose value changed."""
    return [(k, f"{old[k]} → {new[k]}") for k in old if old[k] != new[k]]


class BaseTorchEstimator(MLPAttributes, PicklesPlainData, CallbackSupportMixin, BaseEstimator):
    """Shared parameters and the fit/predict pipeline of the torchsk estimators.

    Subclasses declare their own parameters (with defaults, for ``help()``) and build
    their task object in ``_new_task``.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "input_scaling": [StrOptions({"standard", "minmax", "robust"}), None],
        "numeric_bins": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"}), None],
        "device": [str, torch.device],
        "module": [nn.Module, callable, None],
        "categorical_features": ["array-like", StrOptions({"auto"}), None],
    }

    def __init__(
        self, *, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
        learning_rate_init, power_t, momentum, nesterovs_momentum, beta_1, beta_2, epsilon,
        max_iter, max_fun, tol, n_iter_no_change, shuffle, early_stopping,
        validation_fraction, warm_start, random_state, verbose, dropout, n_ensemble,
        input_scaling, numeric_bins, device, module, categorical_features, **module__,
    ):  # fmt: skip
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.max_fun = max_fun
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.dropout = dropout
        self.n_ensemble = n_ensemble
        self.input_scaling = input_scaling
        self.numeric_bins = numeric_bins
        self.device = device
        self.module = module
        self.categorical_features = categorical_features
        # skorch's module__* parameters (see _user_modules), stored under their names
        check_module_params(type(self).__name__, module__)
        for name, value in module__.items():
            setattr(self, name, value)

    def get_params(self, deep=True):
        """The estimator's parameters, with the ``module__*`` ones given at
        construction or by ``set_params``."""
        return {**super().get_params(deep=deep), **module_params(self)}

    def set_params(self, **params):
        """Set parameters; ``module__*`` ones (new ones too) are arguments of a
        ``module`` class or builder."""
        for name in [name for name in params if name.startswith(PREFIX)]:
            setattr(self, name, params.pop(name))
        return super().set_params(**params)

    # ------------------------------------------------------------------ fit pipeline
    @all_or_nothing  # a fit that raises leaves the fitted state as it was
    @ONE_BLAS_THREAD  # numpy's and scipy's BLAS threads would fight with torch's
    def _fit(self, X, y, sample_weight=None, *, incremental=False, classes=None, X_val=None,
             y_val=None, sample_weight_val=None):  # fmt: skip
        first = not (self.warm_start or incremental) or not hasattr(self, "module_")
        self._check_validation_args(X_val, y_val, sample_weight_val)
        task = self._new_task()
        # the one place the sources differ (estimators.fitdata): Dask is streamed
        rows = (StreamedFit if is_dask(X) else InMemoryFit)(
            self, X, y, task, first=first, incremental=incremental, validated=X_val is not None
        )
        if first:
            self._table = rows.table
            task.fit_target(rows.y, classes)
        else:
            task.target = self._task.target
            self._check_warm_start(task)
        y_enc = task.encode(rows.y)
        sw = rows.host(sample_weight)
        sw = _check_sample_weight(sw, rows.y, dtype=np.float64, ensure_non_negative=True)
        sw = sw * task.sample_weight(y_enc)
        validation = self._validation_set(X_val, y_val, sample_weight_val, task)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        loss = task.loss_functions()
        device = resolve_device(self.device) if first else self._plan.device
        with seeded(device, seed):
            if first:
                self._build(rows, y_enc, sw, task, seed)
            self._plan = make_plan(
                self.module_, device, rows.n_samples, analytic_grad=loss.output_grad is not None,
                previous=None if first else self._plan,
            )  # fmt: skip
            if first:
                self._place(rows.probe(self), task)
        self._task = task
        config = self._fit_config()
        hooks = EpochHooks(self, X, y, sample_weight, epoch_limit(config, incremental))
        # the built-in network trains on its own generators; a user's module may draw
        # from the global one
        with seeded(device, seed, needed=not self._plan.builtin_backbone):
            history, self._optimizer = rows.train(
                self, task, loss, config, y_enc, sw, incremental=incremental, seed=seed,
                hooks=hooks, validation=validation,
            )  # fmt: skip
        self._record(history, first, incremental)
        self._check_trained_module(rows.probe(self), task)
        hooks.close()
        return self

    def _check_trained_module(self, X, task) -> None:
        """Warn when a classifier's own module never output a logit outside [0, 1]
        on (up to 256) training rows: a sigmoid in its ``forward`` that the check of
        its layers (``_place``) cannot see."""
        if self.module is None or task.kind != CLASSIFICATION:
            return
        with torch.no_grad():
            out = self.module_.raw_output(as_tensor(X[:256], None, self._plan.device))
        warn_if_bounded(out)

    def _check_validation_args(self, X_val, y_val, sample_weight_val) -> None:
        """Refuse a validation set ``fit`` would not use, with
        ``HistGradientBoosting*.fit``'s messages where it has them."""
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val is provided, but X_val and y_val were not.")
            return
        if y_val is None:
            raise ValueError("X_val is provided, but y_val was not provided.")
        if X_val is None:
            raise ValueError("y_val is provided, but X_val was not provided.")
        if not self.early_stopping or self.solver == "lbfgs":
            why = "early_stopping is False" if not self.early_stopping else "solver='lbfgs'"
            raise ValueError(
                f"X_val and y_val are passed to fit while {why}: they are used for early "
                "stopping only, which needs early_stopping=True and a solver other than "
                "'lbfgs' (as in MLPRegressor / MLPClassifier)."
            )

    def _validation_set(self, X_val, y_val, sample_weight_val, task):
        """``(X_val, y_val, weights)`` validated as the training data are (X_val
        against the fitted columns, ``reset=False``; ``class_weight`` multiplied into
        the weights), or None without a validation set. Held in memory, also for a
        fit that streams X from a Dask collection."""
        if X_val is None:
            return None
        X_val = check_X(self, X_val, reset=False, encode=self._encoder(self._table, False))
        y_val = _check_y(
            host_array(y_val), multi_output=True, y_numeric=task.y_numeric, estimator=self
        )
        check_consistent_length(X_val, y_val)
        if len(X_val) < 2:  # as for a split (_training.check_validation_split)
            raise ValueError(
                f"The validation set is too small: X_val has {len(X_val)} sample; early "
                "stopping needs at least 2 to score."
            )
        sw = _check_sample_weight(
            host_array(sample_weight_val), X_val, dtype=np.float64, ensure_non_negative=True
        )
        return X_val, y_val, sw * task.sample_weight(task.encode(y_val))

    def _first_table(self, X):
        """A new fit's ``TableEncoder`` (None: numeric X): the donor's, fitted, under
        ``module=ReusedBackbone(est)`` (its encoding is reused whole)."""
        if reuses_encoding(self.module):
            return copy.deepcopy(self.module.table)
        return new_table(X, self.categorical_features)

    def _encoder(self, table, first: bool):
        """What turns raw X into numbers and codes: None for numeric X."""
        if table is None:
            return None
        return (
            partial(table.fit_transform, categorical_features=self.categorical_features)
            if first and not reuses_encoding(self.module)
            else table.transform
        )

    def _network_params(self) -> dict:
        """The parameters the built network embodies (a warm start cannot change them)."""
        return {
            "hidden_layer_sizes": tuple(self._hidden_sizes()),
            "activation": self.activation,
            "dropout": self.dropout,
            "n_ensemble": self.n_ensemble,
            "input_scaling": self.input_scaling,
            "numeric_bins": self.numeric_bins,
            "module": self.module,
            "categorical_features": self.categorical_features,
            **module_params(self),
        }

    def _check_warm_start(self, task) -> None:
        """Refuse, before anything changes, a warm start or ``partial_fit`` that would
        keep training a network built for other parameters (its layers, input stage,
        output end or device); the optimizer follows a new ``solver`` or
        ``learning_rate_init`` on its own (``training.loop.train``)."""
        built = getattr(self, "_build_params", None)
        changed = [
            name
            for name, value in self._network_params().items()
            if built is not None and not _same(value, built.get(name))
        ]
        changed += [f"{k} ({v})" for k, v in _diff(self._task.structure(), task.structure())]
        if resolve_device(self.device) != self._plan.device:
            changed.append(f"device ({self._plan.device} → {self.device})")
        if changed:
            raise ValueError(
                f"warm_start and partial_fit continue the fitted network, which was built "
                f"for other values of: {', '.join(changed)}. Set warm_start=False (or "
                "fit a new estimator) to train a new network with them."
            )

    def _check_partial_fit(self) -> None:
        """Refuse what one epoch at a time cannot do, with scikit-learn's message."""
        if self.early_stopping:
            # scikit-learn's MLP refuses it too: a split of each small batch would hold
            # out data at every call, and the curves would stop matching
            raise ValueError("partial_fit does not support early_stopping=True")

    def _build(self, rows, y_enc, sw, task, seed):
        """Fit the input stage on ``rows`` (``estimators.fitdata``) and assemble
        ``module_`` (float64 on the CPU while building)."""
        table, n_features = self._table, rows.n_features
        self.is_categorical_ = (
            np.zeros(n_features, dtype=bool) if table is None else table.is_categorical_
        )
        self.categories_ = [None] * n_features if table is None else table.categories_
        if reuses_encoding(self.module):  # the encoding its backbone learned on
            inputs = self.module.input_stage(n_features)
        else:
            inputs = rows.input_stage(self, sw, seed)
        _warn_lost_columns(inputs, getattr(self, "feature_names_in_", None))
        backbone = self._make_backbone(inputs.n_outputs, task.n_outputs, seed)
        self.module_ = TabularNet(inputs, backbone, **task.output_end(y_enc, sw))
        task.start_output(self.module_, y_enc, sw)
        self._optimizer = None
        self._build_params = self._network_params()
        self.loss_curve_, self.validation_scores_ = [], None
        self.t_ = 0

    def _input_stage(self, X, sw, seed):
        """The input stage fitted on validated X: a tensor off the CPU (CUDA) with
        torch's reductions on its device, anything else with numpy."""
        bins = self.numeric_bins
        if isinstance(self.module, ReusedBackbone):
            bins = self.module.numeric_bins  # repeat the encoding the backbone learned on
        elif bins == "auto":  # the built-in MLP only, and not a linear one (see _docs)
            n_numeric = int((~self.is_categorical_).sum())
            mlp = self.module is None and len(self._hidden_sizes()) > 0
            bins = auto_bins(X.shape[0], n_numeric) if mlp else None
        if is_tensor(X):
            return stage_from_tensor(X, sw, self.input_scaling, seed, numeric_bins=bins)
        # always an imputer: NaN at predict time (or in a later partial_fit) gets the
        # training mean even where training had none
        return build_input_stage(
            X, self.is_categorical_,
            [len(c) for c in self.categories_ if c is not None],
            scaling=self.input_scaling, numeric_bins=bins, impute=True,
            sample_weight=sw, seed=seed,
        )  # fmt: skip

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
            return _trainable(copy.deepcopy(self.module).double())
        return _trainable(build_module(self.module, n_inputs, n_outputs, params).double())

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
        with torch.no_grad():
            out, last = run_recording_last_layer(
                self.module_.backbone, lambda: self.module_.raw_output(x)
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

    def _fit_config(self) -> FitConfig:
        return FitConfig(**{name: getattr(self, name) for name in FitConfig.__dataclass_fields__})

    def _record(self, history, first, incremental):
        warn_about(history, self._fit_config(), incremental)
        self.n_iter_ = history.n_iter if first else self.n_iter_ + history.n_iter
        self.t_ += history.t
        self.loss_curve_ = self.loss_curve_ + history.loss_curve
        if history.validation_scores:
            self.validation_scores_ = (self.validation_scores_ or []) + history.validation_scores
        # as scikit-learn's MLP: best_loss_ without early stopping, best_validation_score_
        # with it, None for the other
        scores = self.validation_scores_
        self.best_validation_score_ = max(scores) if scores else None
        self.best_loss_ = None if scores else min(self.loss_curve_, default=np.inf)
        self.n_outputs_ = self._task.n_outputs

    # ------------------------------------------------------------------ inference
    def _forward(self, X, proba: bool = False) -> np.ndarray:
        """Validate ``X`` and return ``module_``'s predictions on it (or, with
        ``proba``, its class probabilities), computed in batches (a Dask
        collection: block by block)."""
        if is_dask(X):
            check_is_fitted(self, "module_")
            blocks = stream_blocks(X)
            return np.concatenate([self._forward(block, proba) for block in blocks])
        X = self._module_input_array(X)
        net, plan = self.module_.eval(), self._plan
        with plan.threads(len(X)), torch.inference_mode():
            # X is encoded batch by batch as for training: the same numbers as the
            # module's own input stage, without a full-size copy of X
            raw = predict_in_batches(
                net.backbone, X, partial(encode_into, net), net.inputs.n_outputs, plan
            )
            out = net.from_raw(raw)
            out = _probabilities(net.head, out) if proba else out
        out = out.detach().cpu().numpy().astype(np.float64, copy=False)
        if not np.isfinite(out).all():
            warn(
                "The model produced non-finite outputs for some rows; check those inputs "
                "for values far outside the training range.",
                RuntimeWarning,
            )
        return out

    def _module_input_array(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        return check_X(self, X, reset=False, encode=self._encoder(self._table, False))

    def to_module_input(self, X) -> torch.Tensor:
        """The float tensor ``module_`` takes for ``X``.

        Numeric columns as given (NaN allowed: the module imputes it), categorical
        columns as integer codes into ``categories_`` (-1 for a level not seen in
        training, NaN for a missing one), on the model's device. Strings never enter
        the module: ``est.module_(est.to_module_input(X))`` gives ``predict``'s numbers
        (regression) or the logits (classification), and ``export_onnx``'s graph takes
        the same tensor.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        torch.Tensor of shape (n_samples, n_features_in_)
        """
        return as_tensor(self._module_input_array(X), None, self._plan.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _warn_lost_columns(inputs, names) -> None:
    """Name the columns the network learns nothing from: numeric ones with no value in
    training (the imputer holds them at their fill value, so what they hold later
    cannot change a prediction), categorical ones whose levels all pool as rare."""

    def named(columns) -> str:
        return ", ".join(repr(names[j]) if names is not None else f"column {j}" for j in columns)

    imputer, categorical = getattr(inputs, "impute", None), getattr(inputs, "categorical", None)
    empty = [] if imputer is None else imputer.config.get("empty_columns", [])
    if empty:
        warn(
            f"{named(empty)} had no values in training (all missing): the model "
            "ignores them, as SimpleImputer drops such columns; values they hold at "
            "predict time do not change its predictions."
        )
    pooled = [] if categorical is None else categorical.pooled_columns()
    if pooled:
        warn(
            f"Every level of {named(pooled)} was seen in fewer than {MIN_COUNT} training "
            "rows (a sample weight of k counting as k rows), so all share one 'rare' "
            "slot and the model cannot tell them apart. "
            "If the column holds numbers, convert it to a numeric dtype (e.g. "
            "pd.to_numeric); else leave it out or group its levels."
        )


def _probabilities(head: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """The head's probabilities computed in float64, rows renormalized where they are
    distributions: a float32 model's rows would sum to 1 only within ~1e-7, which
    scikit-learn's metrics (``log_loss``) warn about."""
    proba = head(logits.to(torch.float64))
    if getattr(head, "rows_sum_to_one", False):
        proba /= proba.sum(dim=1, keepdim=True)
    return proba


def _what_module(module) -> str:
    if module is None:
        return "None (the built-in MLP: set module=MyModule, or drop them)"
    return "an nn.Module instance, built already: pass its class instead (module=MyModule)"


def _trainable(backbone: nn.Module) -> nn.Module:
    """A user's backbone, refused when none of its parameters requires gradients.

    Parameters with ``requires_grad=False`` stay fixed in every fit; a backbone with
    all of them fixed (a fitted ``module_``'s, whose parameters are frozen) would train
    nothing.
    """
    params = list(backbone.parameters())
    if params and not any(p.requires_grad for p in params):
        raise ValueError(
            "None of the module's parameters requires gradients, so the fit would train "
            "nothing (a fitted estimator's module_ is frozen that way). Pass "
            "ReusedBackbone(estimator), or call module.requires_grad_() first."
        )
    return backbone
