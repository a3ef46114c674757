"""``Scaling``: the input (and target) scaling constants as registered buffers, and the
rules for usable constants (a spread that can divide; constants a user gives)."""

from __future__ import annotations

import numpy as np
import torch

from torchsk.inputs.encoder import InputEncoder


def usable_spread(lo: np.ndarray, hi: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``scale`` where it can divide: 1 for constant columns (exactly: no threshold,
    so a column of values ~1e-15 keeps its spread of ~1e-15), the column's range
    (``hi - lo`` over the rows of positive weight) where a non-constant column's
    statistic is 0 or not finite (an underflowing variance); inf where that range
    overflows too (values of +-1.7e308: ``refuse_overflow`` names the column, where a
    scale of 1 had let them into training)."""
    with np.errstate(over="ignore", invalid="ignore"):
        span = hi - lo
    fallback = np.where(np.isfinite(span) & (span > 0), span, np.where(span == np.inf, span, 1.0))
    usable = np.isfinite(scale) & (scale > 0) & (span > 0)
    return np.where(usable, scale, fallback)


def refuse_overflow(fill, center, scale, cat, name: str = "X") -> None:
    """Refuse a numeric column (of ``name``: X or y) whose statistics overflowed
    float64 (finite values near 1e308: their sum, range or squares are not finite);
    ``fill`` only matters where values are missing."""
    bad = ~cat & ~(np.isfinite(fill) & np.isfinite(center) & np.isfinite(scale))
    if bad.any():
        raise ValueError(
            f"Column(s) {np.flatnonzero(bad).tolist()} of {name} hold values too large for "
            "their scaling statistics (their sum or range overflows float64); rescale "
            "them (e.g. divide by a power of 10) before fitting."
        )


#: ``"auto"``: a column within [-1, 1] spanning at least this much is kept as given
GIVEN_SPAN = 0.5
#: ``"auto"``: the narrower columns within [-1, 1] scale to values within ±BOUND
BOUND = 4.0
#: ``"auto"``: how far past ±1 a column still counts as within [-1, 1] (rounding)
UNIT_SLACK = 1e-9


def auto_constants(mean, scale, lo, hi):
    """``"auto"``'s constants from the standard ones. A column within [-1, 1] has
    been scaled by its user, as scikit-learn's MLP documentation advises: spanning
    ``GIVEN_SPAN`` or more, it is kept as given (a learning rate tuned on it means
    what it meant: standardized pixels of MNIST diverge at ``plot_mnist_filters``'
    rate of 0.2); narrower, it is standardized, but its scale is floored at
    ``range / BOUND`` (a pixel that is almost always 0 would otherwise become
    values of 50 and more). Other columns are standardized: a floor there squashes
    the bulk of heavy-tailed columns (measured on the comparison suite,
    ``docs/defaults.md``)."""
    with np.errstate(invalid="ignore", over="ignore"):
        span = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    # a tolerance: MinMaxScaler's output can reach 1 + 2e-16
    unit = (lo >= -1 - UNIT_SLACK) & (hi <= 1 + UNIT_SLACK)
    given = unit & (span >= GIVEN_SPAN)
    scale = np.where(unit, np.maximum(scale, span / BOUND), scale)
    return np.where(given, 0.0, mean), np.where(given, 1.0, scale)


def explicit_constants(pair: tuple, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` given by a user (``input_scaling=(200, 10)``, as hand-picked
    constants in a ``register_buffer`` layer): scalars, or one value per column.

    Raises
    ------
    ValueError
        Naming what is wrong: not a pair, a length other than the columns', a
        non-finite value, a scale that is not positive.
    """
    if len(pair) != 2:
        raise ValueError(f"Scaling constants are a pair (center, scale); got {pair!r}.")
    center, scale = (_per_column(values, n_cols) for values in pair)
    if not (np.isfinite(center).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"Scaling constants must be finite with a positive scale; got {pair!r}.")
    return center, scale


def _per_column(values, n_cols: int) -> np.ndarray:
    """A scalar repeated, or one value per column, as a float64 array of ``n_cols``."""
    if isinstance(values, torch.Tensor):  # np.size(tensor) is its .size method
        values = values.detach().cpu().numpy()
    if np.ndim(values) != 0 and np.size(values) != n_cols:
        raise ValueError(
            f"Scaling constants take a scalar or one value per scaled column ({n_cols}); "
            f"got {np.size(values)} values."
        )
    return np.broadcast_to(np.ravel(np.asarray(values, np.float64)), (n_cols,)).copy()


class Scaling(InputEncoder):
    """Affine scaling ``(x - center) / scale`` whose constants are registered buffers.

    Parameters
    ----------
    center, scale : array-like of shape (n_columns,)
        Constants fitted on the training data; stored as buffers so that
        ``state_dict()``, pickling and exports carry them.
    """

    def __init__(self, center: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        # torch.tensor copies: the buffers must own their memory (the arrays may be
        # memory-mapped files that go away)
        self.register_buffer("center", torch.tensor(np.asarray(center, np.float64)))
        self.register_buffer("scale", torch.tensor(np.asarray(scale, np.float64)))
        self.config = {"n_columns": len(self.center)}
        self.n_outputs = len(self.center)

    @classmethod
    def from_config(cls, n_columns: int) -> Scaling:
        """An identity scaling of ``n_columns`` columns, to load a state dict into.

        Its buffers come from torch's factories, so that under ``torch.device("meta")``
        (persistence checks a stored configuration that way) nothing is allocated.
        """
        scaling = cls(np.zeros(0), np.zeros(0))
        scaling.center = torch.zeros(n_columns, dtype=torch.float64)
        scaling.scale = torch.ones(n_columns, dtype=torch.float64)
        scaling.config = {"n_columns": len(scaling.center)}
        scaling.n_outputs = len(scaling.center)
        return scaling

    @classmethod
    def from_statistics(cls, stats, options, n_inputs: int) -> Scaling:
        """The input scaling of ``stats`` (``inputs.statistics``): the numeric columns'
        constants, identity for categorical codes and missing indicators."""
        return cls(stats.center[:n_inputs], stats.scale[:n_inputs])

    def forward(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Scale ``x``; with ``dtype``, centre in the buffers' dtype, then round to
        ``dtype`` (before dividing: one float64 pass less)."""
        centred = x - self.center
        if dtype is None or dtype == centred.dtype:
            return centred.div_(self.scale)
        return centred.to(dtype).div_(self.scale.to(dtype))

    def encode_into(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Scale ``x`` into ``out`` (same shape): the same numbers as ``forward(x,
        out.dtype)``, centred in the buffers' float64, rounded to ``out``'s dtype on
        writing, then divided in that dtype (a float64 division of a float32 tensor
        took longer than the rest of a batch's scaling)."""
        return torch.sub(x, self.center, out=out).div_(self.scale.to(out.dtype))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Undo the scaling: ``z * scale + center``."""
        return z * self.scale + self.center
