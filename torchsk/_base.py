"""The parts both estimators share: parameters, the ``fit`` pipeline, batched inference."""

from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from torch import nn

from ._callbacks import CallbackSupportMixin, EpochHooks
from ._engine import (
    FULL_BATCH_SOLVERS,
    ONE_BLAS_THREAD,
    SOLVERS,
    Data,
    TrainSettings,
    predict_in_batches,
    thread_policy,
    train,
)
from ._modules import ACTIVATIONS, MLP, Scaling, scaling_statistics
from ._objectives import make_objective
from ._persistence import available_device, describe, rebuild
from ._validation import check_X, check_X_y

# Below this many FLOPs per epoch (6 × samples × parameters) a CPU fit is bound by
# Python overhead, not arithmetic, so float64 costs nothing and removes float32
# rounding (sample weights then match repeated rows to ~1e-12, as scikit-learn does).
# Kept low because the model then also predicts in float64, at half the speed.
FLOAT64_FLOP_LIMIT = 1e8

# Defaults chosen on benchmarks/compare.py's suite (docs/comparison.md): smaller batches
# than scikit-learn's 200 (more steps per epoch on small data), a stronger L2 penalty
# and a slightly higher learning rate beat scikit-learn's defaults on raw data there.
AUTO_BATCH_SIZE = 64


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; unknown or absent devices raise."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available.")
    return dev


def as_tensor(a: np.ndarray, dtype: torch.dtype | None, device: torch.device) -> torch.Tensor:
    """``torch.as_tensor`` without copying read-only arrays (memmaps): we never write
    to the input, so torch's warning about non-writable arrays does not apply."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(a, dtype=dtype, device=device)


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class BaseTorchEstimator(CallbackSupportMixin, BaseEstimator):
    """Shared parameters and the fit/predict pipeline of the torchsk estimators.

    Subclasses provide the target handling, the loss and the network's ends
    (``_new_target``, ``_loss_fn``, ``_output_grad``, ``_wrap_backbone``, ``_n_module_outputs``,
    ``_torch_y``, ``_validation_scorer``).
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "input_scaling": [StrOptions({"standard", "minmax", "robust"}), None],
        "device": [str, torch.device],
        "module": [nn.Module, callable, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.3,
        batch_size="auto",
        learning_rate_init=2e-3,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        warm_start=False,
        random_state=None,
        verbose=False,
        dropout=0.0,
        input_scaling="standard",
        device="cpu",
        module=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.dropout = dropout
        self.input_scaling = input_scaling
        self.device = device
        self.module = module

    # ------------------------------------------------------------------ fit pipeline
    @ONE_BLAS_THREAD  # numpy's and scipy's BLAS threads would fight with torch's
    def _fit(self, X, y, sample_weight=None, *, incremental=False, classes=None):
        first = not (self.warm_start or incremental) or not hasattr(self, "module_")
        X_in, y_in = X, y
        X, y = check_X_y(self, X, y, reset=first, y_numeric=self._y_numeric)
        if first:
            self._target = self._new_target(classes).fit(y)
        y_enc = self._target.encode(y)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        sw = sw * self._class_weights(y_enc)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        device = resolve_device(self.device) if first else self._device
        # dropout and user-built modules draw from torch's global generators: seed them
        # for reproducibility, inside fork_rng so the user's own random state is kept
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.default_generator.manual_seed(seed)  # not torch.manual_seed: CPU only,
            if device.type == "cuda":  # without its lazy CUDA call (~1 ms per fit)
                torch.cuda.manual_seed(seed)
            if first:
                self._build(X, y_enc, sw, device, seed)
            hooks = EpochHooks(
                self, X_in, y_in, sample_weight, 1 if incremental else self.max_iter
            )
            history = self._train(X, y, y_enc, sw, incremental, seed, hooks)
        self._record(history, first, incremental)
        hooks.close()
        return self

    def _build(self, X, y_enc, sw, device, seed):
        """Fit the scaling buffers and assemble ``module_`` (float64 while building)."""
        self._device = device
        center, scale = scaling_statistics(X, self.input_scaling, sw)
        backbone = self._make_backbone(X.shape[1], seed)
        net = self._wrap_backbone(Scaling(center, scale), backbone, y_enc, sw)
        flops = 6 * len(X) * _n_params(net)
        small_cpu = device.type == "cpu" and flops <= FLOAT64_FLOP_LIMIT
        # built in float64 on the CPU: only move or cast when that is not the target;
        # the scaling constants stay float64 (see TabularNet.raw_output)
        if not small_cpu:
            net.to(device).backbone.to(torch.float32)
        self.module_ = net
        if self.module is not None:  # the built-in MLP has the right widths by construction
            self._check_module_output(X)
        self._optimizer = None
        self.loss_curve_, self.validation_scores_ = [], None
        self.t_ = 0

    def _make_backbone(self, n_inputs: int, seed: int) -> nn.Module:
        n_outputs = self._n_module_outputs()
        if self.module is None:
            return MLP(
                n_inputs=n_inputs,
                n_outputs=n_outputs,
                hidden_layer_sizes=tuple(self._hidden_sizes()),
                activation=self.activation,
                dropout=self.dropout,
                generator=torch.Generator().manual_seed(seed),
                dtype=torch.float64,
            )
        if isinstance(self.module, nn.Module):
            # the user's (possibly pretrained) weights are kept; their object is not
            return copy.deepcopy(self.module).double()
        return self.module(n_inputs, n_outputs).double()

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if np.ndim(sizes) == 0 else list(sizes)
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}.")
        return [int(s) for s in sizes]

    def _check_module_output(self, X):
        expected = self._n_module_outputs()
        probe = self._input_tensor(X[:2])
        with torch.no_grad():
            out = self.module_.raw_output(probe)
        if out.ndim != 2 or out.shape[1] != expected:
            raise ValueError(
                f"The module must map (n_samples, {X.shape[1]}) inputs to "
                f"(n_samples, {expected}) outputs; it returned shape {tuple(out.shape)}."
            )

    def _settings(self, n_samples: int, incremental: bool) -> TrainSettings:
        if self.batch_size == "auto":
            batch_size = min(AUTO_BATCH_SIZE, n_samples)
        else:
            if self.batch_size > n_samples and self.solver not in FULL_BATCH_SOLVERS:
                warnings.warn(
                    f"Got batch_size={self.batch_size} larger than the {n_samples} "
                    "samples; it is clipped to the sample count."
                )
            batch_size = min(self.batch_size, n_samples)
        return TrainSettings(
            solver=self.solver,
            learning_rate_init=self.learning_rate_init,
            alpha=self.alpha,
            batch_size=batch_size,
            max_iter=1 if incremental else self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            shuffle=self.shuffle,
            verbose=bool(self.verbose),
        )

    def _train(self, X, y, y_enc, sw, incremental, seed, hooks):
        val_scorer = None
        if self.early_stopping and not incremental:
            stratify = y if self._stratify and y.ndim == 1 else None
            self._check_validation_split(len(X), stratify)
            X, Xv, y_enc, _, sw, _, _, yv = train_test_split(
                X, y_enc, sw, y,
                test_size=self.validation_fraction, random_state=seed, stratify=stratify,
            )  # fmt: skip
            val_scorer = self._validation_scorer(self._input_tensor(Xv), yv)
        w = None if np.all(sw == 1.0) else self._tensor(sw)
        data = Data(self._scaled_tensor(X), self._torch_y(y_enc), w)
        settings = self._settings(len(X), incremental)
        rows = len(X) if settings.solver in FULL_BATCH_SOLVERS else settings.batch_size
        backbone = self.module_.backbone
        params = [p for p in backbone.parameters() if p.requires_grad]
        objective = make_objective(backbone, self._loss_fn(), self._output_grad(), params)
        with thread_policy(rows, _n_params(self.module_)):
            history, self._optimizer = train(
                backbone,
                objective,
                data,
                settings,
                optimizer=self._optimizer,
                validation_score=val_scorer,
                generator=torch.Generator().manual_seed(seed),
                hooks=hooks,
            )
        return history

    def _check_validation_split(self, n_samples: int, stratify) -> None:
        """Refuse a split that leaves a side too small (one sample per class if stratified)."""
        n_val = math.ceil(self.validation_fraction * n_samples)  # train_test_split's rule
        need = 1 if stratify is None else len(np.unique(stratify))
        if n_val < need or n_samples - n_val < need:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {n_samples} samples "
                f"leaves {n_val} for validation and {n_samples - n_val} for training; early "
                f"stopping needs at least {need} on each side (one per class). Raise "
                "validation_fraction, pass more samples, or set early_stopping=False."
            )

    def _record(self, history, first, incremental):
        if history.stopped == "diverged":
            warnings.warn(
                f"Training diverged (non-finite loss) after {history.n_iter} iterations; "
                "the last finite weights were kept. Lower learning_rate_init, raise alpha "
                "or try another solver (e.g. solver='lbfgs').",
                ConvergenceWarning,
            )
        elif history.stopped == "interrupted":
            warnings.warn(
                f"Training interrupted after {history.n_iter} iterations; the model keeps "
                "the best weights so far.",
                UserWarning,
            )
        elif history.stopped == "max_iter" and not incremental:
            warnings.warn(
                f"{self.solver}: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        self.n_iter_ = history.n_iter if first else self.n_iter_ + history.n_iter
        self.t_ += history.t
        self.loss_curve_ = self.loss_curve_ + history.loss_curve
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else np.inf
        if history.validation_scores:
            self.validation_scores_ = (self.validation_scores_ or []) + history.validation_scores
            self.best_validation_score_ = max(self.validation_scores_)
        self.n_outputs_ = self._n_module_outputs()

    def _scaled_tensor(self, X: np.ndarray) -> torch.Tensor:
        """X through the input scaling, as a new tensor of the backbone's dtype."""
        out = torch.empty(X.shape, dtype=self.module_.compute_dtype, device=self._device)
        return self._scale_into(X, out)

    def _scale_into(self, X: np.ndarray, out: torch.Tensor) -> torch.Tensor:
        """Scale raw ``X`` into ``out`` (a tensor of the same shape).

        The scaling buffers are constants, so training works on X scaled once. Each
        chunk of rows is scaled straight into its place in ``out`` (computed in
        float64, rounded on writing), so nothing full-size is allocated here. Chunks
        of ~1 MB: torch computes a float64 temporary per chunk, and larger ones
        stayed in the allocator's heap.
        """
        scaling = self.module_.input_scaling
        chunk = max(1, 2**20 // (8 * max(1, X.shape[1])))
        with torch.no_grad():
            for i in range(0, len(X), chunk):
                rows = as_tensor(X[i : i + chunk], None, self._device)
                scaling.scale_into(rows, out[i : i + chunk])
        return out

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        """Targets and weights, in the backbone's dtype."""
        return as_tensor(a, self.module_.compute_dtype, self._device)

    def _input_tensor(self, X: np.ndarray) -> torch.Tensor:
        """Raw inputs for ``module_``, in X's own (validated, float) dtype: the module
        scales them in float64 before rounding them to the backbone's dtype."""
        return as_tensor(X, None, self._device)

    # ------------------------------------------------------------------ inference
    def _forward(self, X, proba: bool = False) -> np.ndarray:
        """Validate ``X`` and return ``module_``'s predictions on it (or, with
        ``proba``, its class probabilities), computed in batches."""
        check_is_fitted(self, "module_")
        X = check_X(self, X, reset=False)
        net = self.module_.eval()
        with thread_policy(len(X), _n_params(net)), torch.inference_mode():
            # X is scaled batch by batch as for training: the same numbers as the
            # module's own scaling, without a full-size copy of X
            out = net.from_raw(predict_in_batches(net.backbone, X, self._scale_into))
            out = net.head(out) if proba else out
        out = out.detach().cpu().numpy().astype(np.float64, copy=False)
        if not np.isfinite(out).all():
            warnings.warn(
                "The model produced non-finite outputs for some rows; check those inputs "
                "for values far outside the training range.",
                RuntimeWarning,
            )
        return out

    def _class_weights(self, y_enc):
        return 1.0

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        """Plain data for pickle/joblib/skops: the network as a description + numpy
        arrays (see ``_persistence``), the device as a string, no optimizer state (a
        warm start after loading starts a fresh optimizer)."""
        state = dict(super().__getstate__())  # a copy: it may be our own __dict__
        if "module_" in state:
            description = describe(state["module_"])
            if description is not None:
                state["module_"] = description
            state["_device"] = str(state["_device"])
            state["_optimizer"] = None
        return state

    def __setstate__(self, state):
        """Rebuild the network, on the saved device if this machine has it, else the CPU."""
        state = dict(state)
        if "module_" in state:
            device = available_device(state["_device"])
            module = state["module_"]
            state["module_"] = (
                rebuild(module, device) if isinstance(module, dict) else module.to(device)
            )
            state["_device"] = device
        super().__setstate__(state)
