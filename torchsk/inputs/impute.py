"""``Imputer``: missing numbers filled with a fitted constant, plus missing indicators."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchsk.inputs.encoder import (
    CastingEncoder,
    StageOptions,
    categorical_mask,
    check_width,
    kept_rows,
)
from torchsk.inputs.statistics import Blocks, Layout, column_statistics


class Imputer(CastingEncoder):
    """Fill ``NaN`` in numeric columns; append missing indicators; leave categories be.

    ``forward`` maps ``(n, n_inputs)`` to ``(n, n_inputs + len(indicator_columns))``:
    the input columns in place (numeric ``NaN`` replaced by ``fill``, categorical
    columns untouched, ``NaN`` included), then one 0/1 column per entry of
    ``indicator_columns``, in that order. The ``empty_columns`` (numeric, never present
    in training) always read as their fill value: the network learned nothing about
    them, so their values cannot move its output (``SimpleImputer`` drops them). Build
    it with ``Imputer.fit``.

    Parameters
    ----------
    is_categorical : sequence of bool
        One entry per input column; categorical columns pass through.
    indicator_columns : sequence of int
        Numeric input columns that get a missing indicator.
    empty_columns : sequence of int, default=()
        Numeric input columns replaced by their fill value whatever they hold.

    Attributes
    ----------
    config : dict
        ``{"is_categorical": [...], "indicator_columns": [...]}``, plain Python, with
        ``"empty_columns"`` where there are any.
    n_inputs, n_outputs : int
        Input and output widths.
    fill : Tensor, float64, shape (n_inputs,)
        Buffer: the value replacing ``NaN`` in each numeric column (0 for categorical
        columns, unused).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torchsk.inputs.impute import Imputer
    >>> X = np.array([[1.0, 0.0], [np.nan, np.nan], [3.0, 1.0]])  # column 1: codes
    >>> imputer = Imputer.fit(X, is_categorical=[False, True])
    >>> imputer.config
    {'is_categorical': [False, True], 'indicator_columns': [0]}
    >>> imputer(torch.tensor(X))
    tensor([[1., 0., 0.],
            [2., nan, 1.],
            [3., 1., 0.]], dtype=torch.float64)
    """

    def __init__(
        self, *, is_categorical: Sequence[bool], indicator_columns: Sequence[int] = (),
        empty_columns: Sequence[int] = (),
    ) -> None:  # fmt: skip
        super().__init__()
        mask = categorical_mask(is_categorical)
        indicators, empty = [int(j) for j in indicator_columns], [int(j) for j in empty_columns]
        for name, columns in (("indicator_columns", indicators), ("empty_columns", empty)):
            bad = [j for j in columns if not 0 <= j < len(mask) or mask[j]]
            if bad:
                raise ValueError(f"{name} {bad} are not numeric input columns.")
        self.config = {"is_categorical": mask, "indicator_columns": indicators}
        if empty:  # only then: the configurations saved before it existed stay valid
            self.config["empty_columns"] = empty
        self.n_inputs = len(mask)
        self.n_outputs = len(mask) + len(indicators)
        self.register_buffer("fill", torch.zeros(len(mask), dtype=torch.float64))
        self.register_buffer("numeric", torch.tensor([not b for b in mask], dtype=torch.bool))
        self.register_buffer("indicator_index", torch.tensor(indicators, dtype=torch.long))

    @classmethod
    def from_statistics(cls, stats, options, n_inputs: int) -> Imputer | None:
        """The imputer of ``stats`` (``inputs.statistics``), or None where the stage
        has none (``options.impute`` false).

        Each numeric column's fill value is its weighted mean over the rows where it
        is present; 0 when it is never present. The mean, not the median: it is
        ``SimpleImputer``'s default (the pipeline users compare against), it lands on
        0 after standard scaling, the centre of the network's inputs, and the missing
        indicator — not the fill value — carries the fact that a value was missing,
        so the fill need not be robust. A column missing only in rows of zero weight
        gets no indicator.
        """
        if not options.impute:
            return None
        imputer = cls(
            is_categorical=np.asarray(stats.layout.is_categorical, dtype=bool),
            indicator_columns=stats.indicator_columns, empty_columns=stats.empty_columns,
        )  # fmt: skip
        imputer.fill.copy_(torch.as_tensor(stats.fill))
        return imputer

    @classmethod
    def fit(cls, X: np.ndarray, is_categorical: Sequence[bool], sample_weight=None) -> Imputer:
        """An ``Imputer`` fitted on training data (``from_statistics`` on X's).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_inputs)
            Floats with ``NaN`` for missing values (``TableEncoder``'s output), no
            ``inf``.
        is_categorical : sequence of bool
            One entry per column.
        sample_weight : ndarray of shape (n_samples,), default=None
            Weights of the mean; rows with zero weight do not count as training data.

        Returns
        -------
        Imputer
        """
        X, mask = np.asarray(X), np.asarray(categorical_mask(is_categorical), dtype=bool)
        check_width(X, mask)
        w = np.where(kept_rows(len(X), sample_weight), 1.0, 0.0)
        if sample_weight is not None:
            w = w * np.asarray(sample_weight, np.float64)
        layout = Layout(mask, [0] * int(mask.sum()))
        stats = column_statistics(Blocks(X, w), layout)
        return cls.from_statistics(stats, StageOptions(scaling=None), X.shape[1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Fill numeric ``NaN`` and append the missing indicators (in ``x``'s dtype)."""
        empty = self.config.get("empty_columns")
        if not self.config["indicator_columns"] and not empty and _complete(x):
            return x  # nothing to fill or append: one sum, not a pass writing a copy
        missing = torch.isnan(x)
        replaced = missing & self.numeric
        if empty:
            replaced[:, empty] = True
        filled = torch.where(replaced, self.fill.to(x.dtype), x)
        if not self.config["indicator_columns"]:
            return filled
        indicators = missing.index_select(1, self.indicator_index).to(x.dtype)
        return torch.cat([filled, indicators], dim=1)


def _complete(x: torch.Tensor) -> bool:
    """Whether ``x`` surely has no ``NaN``: its sum is ``NaN`` if any entry is (an
    overflow to ``inf - inf`` only sends ``x`` the general way). Compiled, exported
    and traced graphs always take the general way (no branch on data: a
    ``torch.jit.trace`` on rows without NaN had kept the shortcut and predicted NaN
    for rows with some), as do ``torch.func`` transforms (``vmap`` refuses it)."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return False
    wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)  # private
    if wrapped is not None and wrapped(x):
        return False
    return not bool(torch.isnan(x.sum()))
