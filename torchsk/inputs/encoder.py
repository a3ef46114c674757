"""The input-stage encoder contract: ``InputEncoder``, a module rebuilt from its ``config``.

Encoders work on the float matrix ``TableEncoder`` (``data.tables``) produces — floats,
``NaN`` for missing values, categorical columns as integer codes — so the trained
network needs no scikit-learn, pandas or strings to run. Every constant is a registered
buffer, and every encoder is rebuilt from its plain ``config`` dict: ``type(m)(**m.config)``
has the same shapes as ``m``, and its ``load_state_dict(m.state_dict())`` restores it
exactly (persistence relies on this). All export to ONNX.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class StageOptions:
    """What the estimator asks of its input stage.

    Attributes
    ----------
    scaling : {"auto", "standard", "minmax", "robust"}, (center, scale) or None
        ``input_scaling``.
    impute : bool
        Whether the stage has an ``Imputer`` (always, for the estimators).
    numeric_bins : int or None
        Bins per numeric column (``inputs.bins``), resolved from ``"auto"``.
    seed : int
        Seeds the encoders' initial parameters (the categorical embeddings).
    """

    scaling: str | tuple | None = "auto"
    impute: bool = True
    numeric_bins: int | None = None
    seed: int = 0


class InputEncoder(nn.Module):
    """One step of the network's input stage (``inputs.stage.InputStage``).

    Subclasses set ``n_outputs`` (their output width) and ``config`` (plain values from
    which ``from_config`` builds a module of the same shapes, into which a saved
    ``state_dict`` loads: persistence relies on it), and implement
    ``forward(x, dtype=None)``: the encoded ``x``, rounded to ``dtype`` when given.
    A step of the stage (``inputs.stage.STEPS``) is fitted by ``from_statistics``;
    one that needs sums the stage's statistics lack declares ``block_sums``.
    """

    n_outputs: int
    config: dict

    @classmethod
    def from_statistics(cls, stats, options: StageOptions, n_inputs: int) -> InputEncoder | None:
        """The step fitted on the training data's column statistics, or None where the
        stage does not need it.

        Parameters
        ----------
        stats : inputs.statistics.ColumnStatistics
            Over all training rows, of the raw columns (numbers, NaN, category codes).
        options : StageOptions
        n_inputs : int
            The width of this step's input (the previous step's output).
        """
        raise NotImplementedError(f"{cls.__name__} is not fitted from column statistics.")

    #: ``f(X_block, w_block, ops) -> tuple`` of arrays added over the blocks of the
    #: training data into ``stats.sums[name]`` (``inputs.statistics``), or None.
    block_sums = None

    @property
    def trainable(self) -> bool:
        """Whether training changes this encoder (it has parameters, which every fit
        trains); if not, a fit may encode X once before its epochs. Not read from
        ``requires_grad``: a fitted network's parameters do not require gradients
        between fits (``TabularNet.freeze``)."""
        return any(True for _ in self.parameters())

    @classmethod
    def from_config(cls, **config) -> InputEncoder:
        """A module of the same shapes as the one ``config`` describes."""
        return cls(**config)

    def encode_into(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``forward(x, out.dtype)`` written into ``out``; subclasses may avoid the
        temporary."""
        return out.copy_(self(x, out.dtype))


class CastingEncoder(InputEncoder):
    """An encoder computing in its input's dtype (``encode``), rounded at the end."""

    def forward(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Encode ``x``; the result in ``dtype`` (default: ``x``'s)."""
        out = self.encode(x)
        return out if dtype is None else out.to(dtype)


def categorical_mask(is_categorical: Sequence[bool]) -> list[bool]:
    """``is_categorical`` as a list of Python bools, refusing anything but a flat mask."""
    mask = np.asarray(is_categorical)
    if mask.size == 0:
        return []
    if mask.ndim != 1 or mask.dtype.kind != "b":
        raise ValueError(f"is_categorical must be a 1-D boolean mask, got {is_categorical!r}.")
    return [bool(b) for b in mask]


def kept_rows(n_samples: int, sample_weight) -> np.ndarray:
    """Rows that count as training data: all, or those with a positive weight (a
    zero weight removes a row, as scikit-learn means it)."""
    if sample_weight is None:
        return np.ones(n_samples, dtype=bool)
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight has shape {sample_weight.shape}, expected ({n_samples},)."
        )
    return sample_weight > 0


def check_width(X: np.ndarray, mask: Sequence[bool]) -> None:
    """Refuse an X that is not 2-D with one column per ``is_categorical`` entry."""
    if X.ndim != 2 or X.shape[1] != len(mask):
        raise ValueError(
            f"X must have shape (n_samples, {len(mask)}), one column per "
            f"is_categorical entry; got {X.shape}."
        )
