"""The network's input stage: the encoders between raw X and the backbone.

An ``InputStage`` is a named sequence of ``InputEncoder`` modules (``inputs.categorical``):
imputation with missing indicators, ``Scaling``, categorical one-hot/embeddings. Their
constants are registered buffers fitted on the training data, so the trained network
maps raw X (numbers, NaN, category codes) on its own. A new encoder is one more
``InputEncoder``: training, batched inference, persistence and export go through the
stage's generic interface and need no case for it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from torchsk._warnings import reading_only
from torchsk.inputs.bins import PiecewiseLinear
from torchsk.inputs.categorical import CategoricalEncoder
from torchsk.inputs.encoder import InputEncoder
from torchsk.inputs.impute import Imputer
from torchsk.inputs.scaling import Scaling, scaling_statistics


class InputStage(nn.Module):
    """Raw X → the backbone's input, through named encoders in order.

    Encoders without trainable parameters at the front form the *static* prefix: a
    fit encodes X through it once, and trains the rest together with the backbone.

    Parameters
    ----------
    **encoders : InputEncoder
        The steps, in order (``InputStage(scaling=Scaling(...))``); each is an
        attribute of the stage, so its buffers are in the network's ``state_dict``.
    """

    def __init__(self, **encoders: InputEncoder) -> None:
        super().__init__()
        for name, encoder in encoders.items():
            self.add_module(name, encoder)  # in order: children() gives them back so

    @property
    def n_outputs(self) -> int:
        """Width of the stage's output (the backbone's input)."""
        return list(self.children())[-1].n_outputs

    @property
    def n_static(self) -> int:
        """How many leading encoders training does not change."""
        steps = list(self.children())
        return next((i for i, e in enumerate(steps) if e.trainable), len(steps))

    def static_width(self) -> int:
        """Width of the static prefix's output (what a fit encodes X into)."""
        return list(self.children())[self.n_static - 1].n_outputs

    def trained_with(self, backbone: nn.Module) -> nn.Module:
        """The module a fit trains on statically encoded X: the backbone, preceded by
        the stage's trainable encoders if it has any."""
        tail = list(self.children())[self.n_static :]
        return nn.Sequential(*tail, backbone) if tail else backbone

    def forward(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Encode raw ``x``; the last step rounds to ``dtype`` (earlier ones keep x's)."""
        *first, last = self.children()
        for encoder in first:
            x = encoder(x)
        return last(x, dtype)

    def encode_into(
        self, x: torch.Tensor, out: torch.Tensor, steps: int | None = None
    ) -> torch.Tensor:
        """Encode raw ``x`` into ``out`` through the first ``steps`` encoders (all by
        default): training and batched inference fill preallocated tensors chunk by
        chunk."""
        *first, last = list(self.children())[:steps]
        for encoder in first:
            x = encoder(x)
        return last.encode_into(x, out)

    def describe(self) -> list[tuple[str, str, dict]]:
        """``(name, class name, config)`` of each step, for persistence."""
        return [(name, type(e).__name__, dict(e.config)) for name, e in self.named_children()]


def build_input_stage(
    X: np.ndarray,
    is_categorical: np.ndarray,
    n_categories: list[int],
    *,
    scaling: str | None,
    impute: bool,
    sample_weight: np.ndarray,
    seed: int,
    numeric_bins: int | None = None,
) -> InputStage:
    """Fit the input stage on validated training data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Floats, NaN for missing values, categorical columns as codes.
    is_categorical : ndarray of bool, shape (n_features,)
    n_categories : list of int
        Training categories of each categorical column, in column order.
    scaling : {"standard", "minmax", "robust"} or None
        How the numeric columns are scaled (categorical and indicator columns are not).
    impute : bool
        Add an ``Imputer`` (numeric NaN → the training mean, plus an indicator per
        column with missing values in training).
    sample_weight : ndarray of shape (n_samples,)
    seed : int
        Seeds the categorical embeddings.
    numeric_bins : int or None, default=None
        Also enter each numeric column (not the indicators) as its piecewise-linear
        code over at most this many quantile bins (``inputs.bins.PiecewiseLinear``).

    Returns
    -------
    InputStage
        ``impute`` → ``scaling`` → ``bins`` → ``categorical``, the first and the last
        two where needed.
    """
    steps, n_indicators = {}, 0
    if impute:
        steps["impute"] = Imputer.fit(X, is_categorical, sample_weight)
        if np.isnan(X.min()):  # X without NaN passes the imputer unchanged: no copy
            with torch.no_grad(), reading_only():  # a read-only X is only read
                X = steps["impute"](torch.as_tensor(X)).numpy()
        n_indicators = steps["impute"].n_outputs - len(is_categorical)
    # the indicator columns the imputer appends are neither scaled (0/1) nor categorical
    numeric = np.r_[~is_categorical, np.zeros(n_indicators, dtype=bool)]
    is_categorical = np.r_[is_categorical, np.zeros(n_indicators, dtype=bool)]
    center, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
    if numeric.any():
        # all-numeric X as it is: a masked copy would be a second X in memory
        columns = X if numeric.all() else X[:, numeric]
        center[numeric], scale[numeric] = scaling_statistics(columns, scaling, sample_weight)
    steps["scaling"] = Scaling(center, scale)
    n_codes = 0
    if numeric_bins is not None and numeric.any():
        # the numeric columns; ``numeric`` leaves out the missing indicators (0/1)
        columns = np.flatnonzero(numeric)
        steps["bins"] = PiecewiseLinear.fit(X, columns, numeric_bins, sample_weight)
        steps["bins"].rescale(center, scale)
        n_codes = steps["bins"].n_outputs - X.shape[1]
    if is_categorical.any():
        generator = torch.Generator().manual_seed(seed)
        categorical = CategoricalEncoder.fit(
            X, is_categorical, n_categories, sample_weight, generator=generator
        )
        # after the bins (which have no parameters: the fit encodes X through them
        # once), so it also passes their codes through with the numeric columns
        steps["categorical"] = categorical.widened(n_codes)
    return InputStage(**steps)
