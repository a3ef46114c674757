"""The parts both estimators share: parameters, the ``fit`` pipeline, batched inference.

``fit`` reads as: validate → build the network and its execution plan → train
(``training.fit.fit_network``) → record the fitted attributes. What differs between
regression and classification lives in the task objects (``estimators.tasks``).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from torchsk.data.checks import check_weights, check_X, new_table, weighted
from torchsk.data.columns import comparable_spec, from_arrow, selects_columns
from torchsk.data.dask import is_dask, stream_blocks
from torchsk.data.sparse import is_sparse, is_sparse_source, sparse_refusal
from torchsk.data.tensors import all_float32
from torchsk.estimators.attributes import MLPAttributes
from torchsk.estimators.build import NetworkBuilder, check_finite_outputs, warn_non_finite
from torchsk.estimators.callbacks import CallbackSupportMixin, EpochHooks
from torchsk.estimators.fitdata import InMemoryFit, SparseFit, ValidationSet
from torchsk.estimators.fitstate import all_or_nothing
from torchsk.estimators.iterable import (
    IterableFit,
    is_batches,
    refuse_batches_to_predict,
    refuse_listed_batches,
)
from torchsk.estimators.members import CrossFittedMembers
from torchsk.estimators.same import changed_values, same_value
from torchsk.estimators.streamed import StreamedFit
from torchsk.estimators.user_modules import ModuleParams, check_module_params, module_params
from torchsk.io.persistence import PicklesPlainData
from torchsk.nn.mlp import ACTIVATIONS
from torchsk.nn.reuse import reuses_encoding
from torchsk.training.devices import as_tensor, resolve_device, same_device, seeded
from torchsk.training.encoding import encode_into
from torchsk.training.fit import FitConfig, epoch_limit
from torchsk.training.inference import (
    batched_part,
    evaluating,
    numpy_forward,
    predict_in_batches,
)
from torchsk.training.member_losses import member_loss
from torchsk.training.plan import ONE_BLAS_THREAD, backbone_dtype, for_inference, make_plan
from torchsk.training.settings import SOLVERS, penalty_scale
from torchsk.training.sparse_inference import predict_sparse

#: Rows that ``predict`` sends through ``module_`` in one call, without the batched
#: path's buffers: on 10 rows those cost more than the arithmetic.
SMALL_PREDICT_ROWS = 256


#: Where a fit reads X from, other than memory: ``(test, fit-data class)`` in turn
#: (``estimators.fitdata`` lists what such a class provides).
SOURCES = ((is_dask, StreamedFit), (is_batches, IterableFit), (is_sparse_source, SparseFit))


class BaseTorchEstimator(
    NetworkBuilder, ValidationSet, ModuleParams, MLPAttributes, CrossFittedMembers,
    PicklesPlainData, CallbackSupportMixin, BaseEstimator,
):  # fmt: skip
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
        "member_rows": [StrOptions({"all", "folds"})],
        "input_scaling": [StrOptions({"auto", "standard", "minmax", "robust"}), tuple, None],
        "numeric_bins": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"}), None],
        "device": [str, torch.device],
        "module": [nn.Module, callable, None],
        "categorical_features": ["array-like", StrOptions({"auto", "from_dtype"}), None],
    }

    def __init__(
        self, *, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
        learning_rate_init, power_t, momentum, nesterovs_momentum, beta_1, beta_2, epsilon,
        max_iter, max_fun, tol, n_iter_no_change, shuffle, early_stopping,
        validation_fraction, warm_start, random_state, verbose, dropout, n_ensemble,
        member_rows, input_scaling, numeric_bins, device, module, categorical_features,
        **module__,
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
        self.member_rows = member_rows
        self.input_scaling = input_scaling
        self.numeric_bins = numeric_bins
        self.device = device
        self.module = module
        self.categorical_features = categorical_features
        # skorch's module__* parameters (see _user_modules), stored under their names
        check_module_params(type(self).__name__, module__)
        for name, value in module__.items():
            setattr(self, name, value)

    # ------------------------------------------------------------------ fit pipeline
    @torch.inference_mode(False)  # a fit trains in a caller's inference_mode too
    @all_or_nothing  # a fit that raises leaves the fitted state as it was
    @ONE_BLAS_THREAD  # numpy's and scipy's BLAS threads would fight with torch's
    def _fit(self, X, y, sample_weight=None, *, incremental=False, classes=None, X_val=None,
             y_val=None, sample_weight_val=None, members=None):  # fmt: skip
        first = not (self.warm_start or incremental) or not hasattr(self, "module_")
        X, X_val = from_arrow(X), from_arrow(X_val)
        self._check_validation_args(X_val, y_val, sample_weight_val)
        task = self._new_task()
        refuse_listed_batches(X, y)
        # the one place the sources differ (estimators.fitdata)
        source = next((cls for test, cls in SOURCES if test(X)), InMemoryFit)
        validated = X_val is not None
        self._check_member_rows(source, first=first, incremental=incremental, validated=validated)
        given = {} if members is None else {"members": members}  # estimators.search's
        rows = source(self, X, y, task, first=first, incremental=incremental, validated=validated)
        if first:
            self._table = rows.table
            task.fit_target(rows.y, classes)
            self._float32_fit = all_float32(getattr(rows, "first_rows", getattr(rows, "X", X)))
        else:
            task.target = self._task.target
            self._check_warm_start(task, X)
            if not incremental and hasattr(task.target, "check_warm_start"):
                task.target.check_warm_start(rows.y)
        # float32 predictions as MLPRegressor's where each call's y survives them (a later
        # one's judged by the fitted spread too); checked for float32 X only (~2% of a fit)
        float32, net = getattr(self, "_float32_fit", False), None if first else self.module_
        self._float32_fit = float32 and task.target.float32_holds(rows.y, net)
        y_enc = task.encode(rows.y)
        given_sw = check_weights(rows.host(sample_weight), rows.y)
        sw = weighted(given_sw, task.sample_weight(y_enc, given_sw))  # the loss's
        validation = self._validation_set(X_val, y_val, sample_weight_val, task)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if members is not None and members.loss_options is not None:
            loss = member_loss(task.loss_functions, members.loss_options)
        else:
            loss = task.loss_functions()
        device = resolve_device(self.device) if first else self._plan.device
        # the built-in network builds from generators of its own: no fork_rng (devices)
        with seeded(device, seed, needed=self.module is not None):
            if first:
                self._build(rows, y_enc, sw, task, seed, given_sw)
                if members is not None:  # before the plan: member dropout decides the pass
                    members.initialize(self.module_.backbone)
                    task.start_output(self.module_, y_enc, sw)  # as _build, after the reset
                if members is not None or self.member_rows == "folds":  # counted by the plan
                    self.module_.inputs.split_for_members(self.module_.backbone.n_members)
            self._plan = make_plan(
                self.module_, device, rows.n_samples, analytic_grad=loss.output_grad is not None,
                previous=None if first else self._plan,
                members_as_fits=members is not None and members.separate_fits,
            )  # fmt: skip
            if first:
                self._place(rows.probe(self), task)
        self._task = task
        units = task.loss_units(self.module_, y_enc, sw)
        config = replace(self._fit_config(), loss_units=units,
                         min_batch_rows=2 if _normalizes_batches(self.module_) else 1,
                         penalty_scale=penalty_scale(task.loss, task.n_outputs))  # fmt: skip
        hooks = EpochHooks(self, X, y, sample_weight, epoch_limit(config, incremental), units,
                           [] if first else getattr(self, "loss_curve_", []))  # fmt: skip
        if not incremental:  # as scikit-learn's: fit starts a new optimizer, warm or not
            self._optimizer = None
        # the built-in network trains on its own generators; a user's module may not
        with seeded(device, seed, needed=not self._plan.builtin_backbone):
            history, self._optimizer = rows.train(
                self, task, loss, config, y_enc, sw, incremental=incremental, seed=seed,
                hooks=hooks, validation=validation, **given,
                stopping=self._resumed_stopping(),
            )  # fmt: skip
        if members is None:  # a search's members are candidates apart, not one model
            check_finite_outputs(self, rows.probe(self), history)
        measured = history.output_losses  # outputs of their own scales: weighed by these
        units = units if measured is None else task.loss_units(self.module_, y_enc, sw, measured)
        self._record(history, first, incremental, units)
        # weighted as the members' early stopping scored them: class_weight included
        self._record_members(history.members, rows.y, sw)
        self._check_trained_module(rows.probe(self), task)
        hooks.close()
        return self

    def _first_table(self, X):
        """A new fit's ``TableEncoder`` (None: numeric X): the donor's, fitted, under
        ``module=ReusedBackbone(est)`` (its encoding is reused whole)."""
        if reuses_encoding(self.module):
            self.module.check_columns(X)
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
        """The parameters the built network embodies (a warm start cannot change them);
        the built-in MLP's shape is not a user module's."""
        mlp = {
            "hidden_layer_sizes": tuple(self._hidden_sizes()),
            "activation": self.activation,
            "dropout": self.dropout,
        }
        return {
            **(mlp if self.module is None else {}),
            "n_ensemble": self.n_ensemble,
            "input_scaling": self.input_scaling,
            "numeric_bins": self.numeric_bins,
            "module": self.module,
            # the same columns by another spelling: a warm start may switch to it
            "categorical_features": comparable_spec(
                self.categorical_features, getattr(self, "n_features_in_", None)
            ),
            **module_params(self),
        }

    def _check_warm_start(self, task, X) -> None:
        """Refuse, before anything changes, a warm start or ``partial_fit`` that would
        keep training a network built for other parameters (its layers, input stage,
        output end or device); the optimizer follows a new ``solver``,
        ``learning_rate_init`` or setting its solver reads on its own
        (``training.loop.train``)."""
        built, fitted = getattr(self, "_build_params", None), self.is_categorical_
        columns = X._meta if is_dask(X) else X  # a Dask DataFrame's, as its fit read them
        changed = [name for name, value in self._network_params().items()
                   if built is not None and not same_value(value, built.get(name))
                   and not (name == "categorical_features"  # the same columns, named anew
                            and selects_columns(value, columns, fitted))]  # fmt: skip
        structure = changed_values(self._task.structure(), task.structure())
        changed += [f"{k} ({v})" for k, v in structure]
        if not same_device(resolve_device(self.device), self._plan.device):
            changed.append(f"device ({self._plan.device} → {self.device})")
        converted = backbone_dtype(self.module_)
        if converted not in (None, self._plan.dtype):  # est.module_.float() in place
            raise ValueError(
                f"module_ was converted to {converted} after the fit, which trains it in "
                f"{self._plan.dtype}: convert it back (module_.to({self._plan.dtype})) to "
                "continue training; for a converted copy, use copy.deepcopy(est.module_)."
            )
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

    def _fit_config(self) -> FitConfig:
        # not parameters: set by the fit from its data and module
        names = FitConfig.__dataclass_fields__.keys() - {"loss_units", "min_batch_rows",
                                                          "penalty_scale"}  # fmt: skip
        return FitConfig(**{name: getattr(self, name) for name in names})

    # ------------------------------------------------------------------ inference
    def _forward(self, X, proba: bool = False) -> np.ndarray:
        """Validate ``X`` and return ``module_``'s predictions on it (or, with
        ``proba``, its class probabilities), computed in batches (a Dask
        collection: block by block)."""
        if is_dask(X):
            check_is_fitted(self, "module_")
            blocks = stream_blocks(X)
            return np.concatenate([self._forward(block, proba) for block in blocks])
        rows = self._few_plain_rows(X)
        out = None if rows is None else numpy_forward(self.module_, rows)
        if out is None:
            out = self._torch_forward(X, proba)
        elif proba:
            out = _probabilities(self.module_.head, torch.from_numpy(out)).numpy()
        return warn_non_finite(out)

    def _torch_forward(self, X, proba: bool) -> np.ndarray:
        """``_forward`` through torch, on any ``X`` (validated here)."""
        X = self._module_input_array(X)
        net, plan = self.module_, self._plan
        with evaluating(net), plan.threads(X.shape[0]), torch.inference_mode():
            out = net.from_raw(self._raw_output(X))
            out = _probabilities(net.head, out) if proba else out
        return out.detach().to("cpu", torch.float64).numpy()  # bfloat16 too: no numpy one

    def _few_plain_rows(self, X) -> np.ndarray | None:
        """``X`` when it surely passes ``validate_data`` unchanged: a float64 numpy
        array of at most ``SMALL_PREDICT_ROWS`` finite rows of the fitted width, for a
        model fitted on numbers without feature names; else None (the full checks
        then run, with scikit-learn's messages). Checked directly, these cost a
        microsecond where ``validate_data`` costs ~40 on a partial-dependence loop's
        every call."""
        fitted = self.__dict__
        plain = (
            type(X) is np.ndarray
            and X.dtype == np.float64
            and X.ndim == 2
            and 0 < len(X) <= SMALL_PREDICT_ROWS
            and "module_" in fitted
            and "feature_names_in_" not in fitted
            and fitted.get("_table") is None
            and X.shape[1] == fitted["n_features_in_"]
        )
        return X if plain and np.isfinite(X).all() else None

    def _raw_output(self, X) -> torch.Tensor:
        """The backbone's output on validated ``X``: a few rows (a partial-dependence
        or SHAP loop's call) straight through ``module_``; more, batch by batch into
        reused buffers (``training.inference``), encoded as for training: the same
        numbers as the module's own input stage, without a full-size copy of X."""
        net, plan = self.module_, for_inference(self._plan, self.module_)
        if X.shape[0] <= SMALL_PREDICT_ROWS:
            return net.raw_output(as_tensor(_dense(X), None, plan.device))
        if is_sparse(X):  # through a sparse first layer, or densified a batch at a time
            return predict_sparse(net, X, plan)
        steps, width, module = batched_part(net)
        encode = partial(encode_into, net, steps=steps)
        return predict_in_batches(module, X, encode, width, plan)

    def _module_input_array(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        refuse_batches_to_predict(X := from_arrow(X))
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
            The caller's own, never a view of ``X`` (``as_tensor`` shares its memory).
        """
        return as_tensor(_dense(self._module_input_array(X)), None, self._plan.device).clone()

    def __sklearn_is_fitted__(self) -> bool:
        """Fitted once ``module_`` is: a ``module__`` parameter whose name ends in "_"
        had made ``check_is_fitted`` pass on an unfitted estimator."""
        return hasattr(self, "module_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # members with rows of their own need dense rows (estimators.members); a model
        # pickled before member_rows existed has none
        folds = getattr(self, "member_rows", "all") == "folds"
        tags.input_tags.sparse = sparse_refusal(self) is None and not folds
        return tags


def _dense(X):
    """Validated X as a dense array (sparse X: a few rows, or at a user's request)."""
    return X.toarray() if is_sparse(X) else X


def _probabilities(head: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """The head's probabilities computed in float64, rows renormalized where they are
    distributions: a float32 model's rows would sum to 1 only within ~1e-7, which
    scikit-learn's metrics (``log_loss``) warn about."""
    proba = head(logits.to(torch.float64))
    if getattr(head, "rows_sum_to_one", False):
        proba /= proba.sum(dim=1, keepdim=True)
    return proba


def _normalizes_batches(net) -> bool:
    """Whether the network has a batch normalization layer (a user's module), which
    fails on a training batch of one row."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
