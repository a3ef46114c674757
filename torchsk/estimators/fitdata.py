"""Where a fit reads its rows: ``InMemoryFit`` (arrays, tables, tensors),
``SparseFit`` (``scipy.sparse``, kept sparse) and, in ``estimators.streamed``,
``StreamedFit`` (Dask collections).

``BaseTorchEstimator._fit`` is one pipeline for every source: validate → build →
plan → train → record. The sources differ only in the steps below, which each of
these classes provides:

- ``__init__(est, X, y, task, *, first, incremental, validated)``: validate X
  (``n_features_in_``, ``feature_names_in_``) and y (``validated``: ``fit`` was given
  ``X_val``, ``y_val``); ``table`` is the fitted ``TableEncoder`` (or None),
  ``y`` the checked targets in memory, ``n_samples`` and ``n_features`` their shape;
- ``host(values)``: one value per row (sample weights) as a numpy array;
- ``input_stage(est, sw, seed)``: the input stage fitted on the rows' statistics;
- ``probe(est)``: a few rows to check a user's backbone on (None: nothing to check);
- ``train(est, task, loss, config, y_enc, sw, **fit_args)``: ``training.fit``'s
  ``fit_network`` on resident rows, or ``fit_blocks`` on streamed ones.

A new source (a torch ``DataLoader``, say) is one more class with these methods.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_consistent_length

from torchsk.data.checks import check_weights, check_X, check_X_y, check_y, weighted
from torchsk.data.dask import is_dask
from torchsk.data.sparse import SparseBlocks, canonical_csr, check_sparse_options
from torchsk.data.tensors import host_array
from torchsk.estimators.iterable import is_batches
from torchsk.inputs.stage import fit_input_stage
from torchsk.inputs.statistics import Blocks
from torchsk.training.fit import fit_network
from torchsk.training.holdout import constant_targets
from torchsk.training.sparse import chunk_rows


class InMemoryFit:
    """X held in memory: a numpy array, a raw table (encoded into one float matrix),
    a list of rows, or a torch tensor (kept on its device)."""

    def __init__(self, est, X, y, task, *, first: bool, incremental: bool,
                 validated: bool = False) -> None:  # fmt: skip
        self.table = est._first_table(X) if first else est._table
        self.X, self.y = check_X_y(
            est,
            X,
            y,
            reset=first,
            y_numeric=task.y_numeric,
            encode=est._encoder(self.table, first),
        )
        self.n_samples, self.n_features = self.X.shape

    @staticmethod
    def host(values):
        """Per-row values (sample weights) as a numpy array (a tensor's, copied)."""
        return host_array(values)

    def input_stage(self, est, sw: np.ndarray, seed: int):
        """The input stage fitted on the validated rows (numpy, or torch on a tensor's
        device)."""
        options = est._stage_options(self.n_samples, seed)
        return fit_input_stage(Blocks(self.X, sw), est._layout(), options)

    def probe(self, est):
        """The rows a user's module is checked on (the first few are used)."""
        return self.X

    def train(self, est, task, loss, config, y_enc, sw, **fit_args):
        """``training.fit.fit_network`` on the resident rows."""
        return fit_network(
            est.module_, task, est._plan, loss, config, self.X, self.y, y_enc, sw,
            optimizer=est._optimizer, samples_seen=est.t_, **fit_args,
        )  # fmt: skip


class SparseFit(InMemoryFit):
    """A ``scipy.sparse`` X, kept sparse (CSR): the input stage is fitted on its
    column statistics (``data.sparse``), and training densifies one batch at a time
    (``training.sparse``). Categorical columns, robust scaling and explicit bins are
    refused, with the option named."""

    def __init__(self, est, X, y, task, *, first: bool, incremental: bool,
                 validated: bool = False) -> None:  # fmt: skip
        check_sparse_options(est)
        super().__init__(est, X, y, task, first=first, incremental=incremental)
        self.X = canonical_csr(self.X)

    def input_stage(self, est, sw: np.ndarray, seed: int):
        """The input stage from the stored entries' statistics (no bins: ``"auto"``
        bins dense data only)."""
        options = est._stage_options(None, seed)
        return fit_input_stage(SparseBlocks(self.X, sw), est._layout(), options)

    def probe(self, est):
        """The first rows, dense, for a user's module to be checked on (at most 256,
        fewer where they would take over 32 MB); none for the built-in MLP."""
        if est.module is None:
            return None
        return self.X[: min(256, chunk_rows(self.n_features))].toarray()


class ValidationSet:
    """``fit``'s ``X_val``, ``y_val``, ``sample_weight_val`` (a mixin of
    ``BaseTorchEstimator``), as ``HistGradientBoosting*.fit`` spells them."""

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
        if is_batches(X_val):
            raise ValueError(
                "X_val is an iterable of batches; a validation set is scored whole at each "
                "epoch: pass it as an array, DataFrame, tensor or Dask collection."
            )
        # computed first: it is held in memory anyway, and the table encoder reads pandas
        X_val, y_val, sample_weight_val = (
            a.compute() if is_dask(a) else a for a in (X_val, y_val, sample_weight_val)
        )
        try:  # scikit-learn's, the table's and the target's messages say "X" and "y"
            X_val = check_X(self, X_val, reset=False, encode=self._encoder(self._table, False))
        except (ValueError, TypeError) as error:
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"X_val: {error}") from error
        try:
            y_val = check_y(y_val, y_numeric=task.y_numeric, estimator=self)
            y_enc = task.encode(y_val)
        except ValueError as error:
            raise ValueError(f"y_val: {error}") from error
        check_consistent_length(X_val, y_val)
        if X_val.shape[0] < 2:  # as for a split (_training.check_validation_split)
            raise ValueError(
                f"The validation set is too small: X_val has {X_val.shape[0]} sample; early "
                "stopping needs at least 2 to score."
            )
        sw = check_weights(host_array(sample_weight_val), X_val, "sample_weight_val")
        sw = weighted(sw, task.sample_weight(y_enc, sw), "sample_weight_val")
        if task.y_numeric and constant_targets(y_val, sw):  # R² 0 at every epoch
            raise ValueError(
                "y_val holds one value over the rows of positive sample_weight_val: R² "
                "cannot score predictions of it, and early stopping would keep the first "
                "epoch's weights. Pass a validation set whose targets vary."
            )
        return X_val, y_val, sw
