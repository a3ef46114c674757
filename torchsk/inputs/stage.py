"""The network's input stage: the encoders between raw X and the backbone.

An ``InputStage`` is a named sequence of ``InputEncoder`` modules (``inputs.categorical``):
imputation with missing indicators, ``Scaling``, categorical one-hot/embeddings. Their
constants are registered buffers fitted on the training data, so the trained network
maps raw X (numbers, NaN, category codes) on its own. A new encoder is one more
``InputEncoder`` with its ``from_statistics`` and a line in ``STEPS``: its statistics
come from every source's blocks (``inputs.statistics``), and training, batched
inference, persistence and export go through the stage's generic interface.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from torchsk.inputs.bins import PiecewiseLinear
from torchsk.inputs.categorical import CategoricalEncoder
from torchsk.inputs.encoder import InputEncoder, StageOptions
from torchsk.inputs.impute import Imputer
from torchsk.inputs.scaling import Scaling
from torchsk.inputs.statistics import Blocks, ColumnStatistics, Layout, column_statistics


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

    @property
    def per_member(self) -> bool:
        """Whether the members have encoders of their own (``split_for_members``):
        the stage's output is then ``(members, rows, width)``."""
        return any(getattr(e, "n_members", 1) > 1 for e in self.children())

    def split_for_members(self, n_members: int) -> None:
        """Give each of ``n_members`` members of a stacked ensemble its own copy of
        the trainable encoders' parameters, in place (members with rows of their own:
        ``training.members``); the stage's output is then one per member.

        Raises
        ------
        ValueError
            A trainable encoder that cannot be split (it has no ``for_members``).
        """
        for name, encoder in list(self.named_children())[self.n_static :]:
            if not hasattr(encoder, "for_members"):
                raise ValueError(
                    f"The input encoder {name!r} trains parameters that the members would "
                    "share; members with rows of their own need their own."
                )
            setattr(self, name, encoder.for_members(n_members))  # in its place

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


#: The input stage's steps, in order: each is fitted ``from_statistics`` and left out
#: where that gives None. A new encoder is its class plus one line here.
STEPS: dict[str, type[InputEncoder]] = {
    "impute": Imputer,
    "scaling": Scaling,
    # after the scaling: its codes are of the scaled values (edges rescaled)
    "bins": PiecewiseLinear,
    # last: it passes the indicators and the bins' codes through with the numeric columns
    "categorical": CategoricalEncoder,
}


def fit_input_stage(blocks, layout: Layout, options: StageOptions) -> InputStage:
    """The input stage fitted on a source's rows: its column statistics accumulated
    over ``blocks`` (``inputs.statistics``), then each step ``from_statistics``.

    Parameters
    ----------
    blocks : inputs.statistics.Blocks or a source with its protocol
        The training rows (raw numbers, NaN for missing values, category codes) and
        their sample weights.
    layout : inputs.statistics.Layout
        The categorical columns and their training categories.
    options : StageOptions

    Returns
    -------
    InputStage
    """
    sums = {name: cls.block_sums for name, cls in STEPS.items() if cls.block_sums is not None}
    stats = column_statistics(
        blocks, layout, options.scaling, numeric_bins=options.numeric_bins, block_sums=sums
    )
    return stage_from_statistics(stats, options)


def stage_from_statistics(stats: ColumnStatistics, options: StageOptions) -> InputStage:
    """The steps of ``STEPS`` the statistics call for, each fitted on them."""
    steps, width = {}, len(stats.layout.is_categorical)
    for name, cls in STEPS.items():
        step = cls.from_statistics(stats, options, width)
        if step is not None:
            steps[name], width = step, step.n_outputs
    return InputStage(**steps)


def build_input_stage(
    X,
    is_categorical: np.ndarray,
    n_categories: list[int],
    *,
    scaling,
    impute: bool,
    sample_weight: np.ndarray,
    seed: int,
    numeric_bins: int | None = None,
) -> InputStage:
    """Fit the input stage on validated training data held in memory.

    Parameters
    ----------
    X : ndarray or Tensor of shape (n_samples, n_features)
        Floats, NaN for missing values, categorical columns as codes. A tensor's
        statistics are computed on its device (a CUDA tensor sends only per-column
        results to the host).
    is_categorical : ndarray of bool, shape (n_features,)
    n_categories : list of int
        Training categories of each categorical column, in column order.
    scaling : {"auto", "standard", "minmax", "robust"}, (center, scale) or None
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
    layout = Layout(np.asarray(is_categorical, dtype=bool), list(n_categories))
    options = StageOptions(scaling, impute, numeric_bins, seed)
    return fit_input_stage(Blocks(X, sample_weight), layout, options)
