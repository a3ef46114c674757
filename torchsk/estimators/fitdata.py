"""Where a fit reads its rows: ``InMemoryFit`` (arrays, tables, tensors) and, in
``estimators.streamed``, ``StreamedFit`` (Dask collections).

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

from torchsk.data.checks import check_X_y
from torchsk.data.tensors import host_array
from torchsk.training.fit import fit_network


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
        return host_array(values)

    def input_stage(self, est, sw: np.ndarray, seed: int):
        return est._input_stage(self.X, sw, seed)

    def probe(self, est):
        return self.X

    def train(self, est, task, loss, config, y_enc, sw, **fit_args):
        return fit_network(
            est.module_, task, est._plan, loss, config, self.X, self.y, y_enc, sw,
            optimizer=est._optimizer, samples_seen=est.t_, **fit_args,
        )  # fmt: skip
