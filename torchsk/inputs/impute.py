"""``Imputer``: missing numbers filled with a fitted constant, plus missing indicators."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchsk.inputs.encoder import _Encoder, _kept_rows, _mask


class Imputer(_Encoder):
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
        mask = _mask(is_categorical)
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
    def fit(cls, X: np.ndarray, is_categorical: Sequence[bool], sample_weight=None) -> Imputer:
        """An ``Imputer`` fitted on training data.

        Each numeric column's fill value is its (weighted) mean over the rows where
        it is present; 0 when it is never present. The mean, not the median: it is
        ``SimpleImputer``'s default (the pipeline users compare against), it lands
        on 0 after standard scaling, the centre of the network's inputs, and the
        missing indicator — not the fill value — carries the fact that a value was
        missing, so the fill need not be robust.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_inputs)
            Floats with ``NaN`` for missing values (``TableEncoder``'s output), no
            ``inf``.
        is_categorical : sequence of bool
            One entry per column.
        sample_weight : ndarray of shape (n_samples,), default=None
            Weights of the mean; rows with zero weight do not count as training data
            (a column missing only there gets no indicator).

        Returns
        -------
        Imputer
        """
        X = np.asarray(X)  # float32 stays: the sums below are in float64, chunk by chunk
        mask = np.asarray(_mask(is_categorical))
        if X.ndim != 2 or X.shape[1] != len(mask):
            raise ValueError(
                f"X must have shape (n_samples, {len(mask)}), one column per "
                f"is_categorical entry; got {X.shape}."
            )
        kept = _kept_rows(len(X), sample_weight)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        weight, total, missing = _present_sums(X, np.where(kept, w, 0.0))
        # no warning and no NaN for a column never present: fill with 0, for good
        fill = np.divide(total, weight, out=np.zeros(len(mask)), where=weight > 0)
        empty = (weight == 0) & ~mask
        imputer = cls(
            is_categorical=mask, indicator_columns=np.flatnonzero(missing & ~mask & ~empty),
            empty_columns=np.flatnonzero(empty),
        )  # fmt: skip
        imputer.fill.copy_(torch.as_tensor(np.where(mask, 0.0, fill)))
        return imputer

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
    overflow to ``inf - inf`` only sends ``x`` the general way). Compiled and exported
    graphs always take the general way (no branch on data)."""
    if torch.compiler.is_compiling():
        return False
    return not bool(torch.isnan(x.sum()))


def _present_sums(X: np.ndarray, w: np.ndarray, chunk: int = 16384):
    """Per column: the weight of the rows where it is present, the weighted sum of its
    values there, and whether a row of positive weight misses it. In float64, over row
    chunks: no full-size temporary (X may be most of the memory, and complete)."""
    weight, total = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    missing = np.zeros(X.shape[1], dtype=bool)
    for i in range(0, len(X), chunk):
        rows, wc = np.asarray(X[i : i + chunk], dtype=np.float64), w[i : i + chunk]
        if not np.isnan(rows.min()):  # complete rows (the usual case): no masks
            weight, total = weight + wc.sum(), total + wc @ rows
            continue
        nan = np.isnan(rows)
        weight += wc @ ~nan
        total += wc @ np.where(nan, 0.0, rows)
        missing |= (nan & (wc > 0)[:, None]).any(axis=0)
    return weight, total, missing
