"""``fit`` / ``partial_fit`` on a Dask collection: X streamed block by block.

y and sample weights (one value per row) are computed into memory; X never is. The
blocks go through the engine each epoch in a shuffled order, shuffled within each
block, the next block computed while the current one trains (``training.batches.
Blocks``); batches are drawn across blocks, so small blocks add no small steps.
Full-batch solvers, ``early_stopping`` without ``X_val``, ``input_scaling="robust"``
and explicit ``numeric_bins`` (exact weighted quantiles need the data sorted) are
refused with a message.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import validate_data

from torchsk.data.checks import check_y
from torchsk.data.dask import DaskSource, is_dask
from torchsk.inputs.stage import InputStage, fit_input_stage
from torchsk.nn.reuse import reuses_encoding
from torchsk.training.fit import fit_blocks
from torchsk.training.settings import FULL_BATCH_SOLVERS


def check_streamable(est, incremental: bool, validated: bool,
                     source: str = "a Dask collection") -> None:  # fmt: skip
    """Refuse what a fit that streams its data from ``source`` cannot do."""
    if est.solver in FULL_BATCH_SOLVERS:
        raise ValueError(
            f"solver={est.solver!r} computes each step over all rows at once; a fit on "
            f"{source} streams its rows, so use a mini-batch solver ('adam', "
            "'adamw' or 'sgd')."
        )
    if est.early_stopping and not incremental and not validated:
        raise ValueError(
            f"early_stopping=True needs a validation set for a fit on {source} "
            "(a split of it would be held in memory): pass one as fit's X_val and "
            "y_val, or set early_stopping=False."
        )
    if est.input_scaling == "robust":
        raise ValueError(
            f"input_scaling='robust' needs the data sorted, which a fit on {source} "
            "does not do; use 'auto' (the default), 'standard', 'minmax' or None."
        )
    if est.numeric_bins not in ("auto", None):
        raise ValueError(
            f"numeric_bins={est.numeric_bins!r} needs the data sorted (bins at its "
            f"quantiles), which a fit on {source} does not do; use "
            "numeric_bins=None ('auto' bins data in memory only)."
        )


def _host(values):
    """y or sample weights (one value per row) computed into memory."""
    if values is None or not is_dask(values):
        return values
    return np.asarray(values.compute())


class StreamedFit:
    """A Dask collection ``X``, streamed block by block (see the module's docstring):
    the source ``BaseTorchEstimator._fit`` reads, as ``estimators.fitdata`` describes."""

    def __init__(self, est, X, y, task, *, first: bool, incremental: bool,
                 validated: bool = False) -> None:  # fmt: skip
        check_streamable(est, incremental, validated)
        reuse = first and reuses_encoding(est.module)  # the donor's table, as in memory
        table = est._first_table(X) if reuse else None if first else est._table
        self.source = DaskSource(X, table, est.categorical_features, fit=first and not reuse)
        validate_data(est, self.source.meta, reset=first, skip_check_array=True)
        self.y = check_y(_host(y), y_numeric=task.y_numeric, estimator=est)
        self.n_samples, self.n_features = self.source.n_samples, self.source.n_features
        if len(self.y) != self.n_samples:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"[{self.n_samples}, {len(self.y)}]"
            )
        self.table = self.source.table

    host = staticmethod(_host)

    def input_stage(self, est, sw: np.ndarray, seed: int) -> InputStage:
        """The input stage from statistics Dask computes over all blocks."""
        blocks = self.source.statistics_blocks(sw)
        return fit_input_stage(blocks, est._layout(), est._stage_options(None, seed))

    def probe(self, est):
        """Two rows of the first block for a user's module to be checked on (none to
        load for the built-in MLP, whose widths are right by construction)."""
        return self.source.load(0)[:2] if est.module is not None else None

    def train(self, est, task, loss, config, y_enc, sw, **fit_args):
        """``training.fit.fit_blocks`` on the blocks, loaded one at a time."""
        source = self.source
        starts = np.r_[0, np.cumsum(source.lengths)]

        def load(k: int) -> tuple:
            rows = slice(int(starts[k]), int(starts[k + 1]))
            return source.load(k), y_enc[rows], sw[rows]

        return fit_blocks(
            est.module_, task, est._plan, loss, config, load, source.lengths, float(sw.sum()),
            optimizer=est._optimizer, samples_seen=est.t_, **fit_args,
        )  # fmt: skip
