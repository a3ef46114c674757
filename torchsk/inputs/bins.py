"""``PiecewiseLinear``: numeric columns also entered as piecewise-linear codes over bins.

What ``numeric_bins`` adds to the input stage. A ReLU network on a standardized number
must spend hidden units to bend its response where the data changes regime (a price
that jumps at a carat threshold); trees find such steps at once, which is much of why
gradient boosting beats MLPs on large numeric tables. The piecewise-linear encoding of
Gorishniy, Rubachev and Babenko ("On embeddings for numerical features in tabular deep
learning", 2022) hands the first layer those bends: with bin edges ``b_0 < ... < b_T``
at the column's training quantiles, bin ``t`` of value ``x`` is

    0 below the bin, 1 above it, ``(x - b_{t-1}) / (b_t - b_{t-1})`` inside it,

with the first bin open below and the last open above (a value outside the training
range extrapolates linearly instead of saturating), each of the two at least the
column's mean bin width wide (a narrow one had made that slope steep). The first
layer then learns one weight per bin: any continuous piecewise-linear response with
those breakpoints. The encoding has no parameters, so a fit computes it once, before
training, and the hand-written training passes still apply.

The codes of a column with ``T`` bins are multiplied by ``1 / sqrt(T)``, so that the
bends cost more of the L2 penalty (``alpha``) than the value's own slope: the network
starts near, and is pulled towards, the plain one, and bends where the data insists.
Measured on the comparison suite's regressions (``docs/defaults.md``): 16 unscaled
codes per column overfit the small noisy tables (diabetes R² 0.489 → 0.425); scaled
by 1/4 they did not (0.483), and kept the gain where the response has thresholds
(ISLR Hitters 0.708 → 0.728).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchsk.inputs.encoder import InputEncoder
from torchsk.inputs.quantiles import bin_edges
from torchsk.inputs.statistics import Blocks

#: Bins per numeric column under ``numeric_bins="auto"``. Measured on the comparison
#: suite's regressions (``docs/defaults.md``): 32 lost less than 16 where bins did not
#: help (diabetes, loans) and gained as much where they did.
AUTO_BINS = 32


#: ``"auto"`` bins only while the codes add at most this many values to the training
#: matrix (about 130 MB in float64): a fit encodes X once, and 32 codes per column
#: would make a large X 33 times its size (1M x 50: 6.6 GB in float32), and its
#: first layer 33 times the work, where the suite's tables needed a few MB.
AUTO_BUDGET = 2**24


def auto_bins(n_samples: int, n_numeric: int) -> int | None:
    """``numeric_bins="auto"`` for a fit on ``n_samples`` rows with ``n_numeric``
    numeric columns in memory: ``AUTO_BINS``, or None past ``AUTO_BUDGET``."""
    return AUTO_BINS if n_samples * n_numeric * AUTO_BINS <= AUTO_BUDGET else None


class PiecewiseLinear(InputEncoder):
    """Append the piecewise-linear codes of some columns to the input, unchanged.

    ``forward`` maps ``(n, n_inputs)`` to ``(n, n_inputs + sum(n_bins))``: the input
    columns, then the bins of each encoded column in ``columns`` order, each code
    scaled by ``1 / sqrt(n_bins)`` of its column. Build it with
    ``PiecewiseLinear.fit``.

    Parameters
    ----------
    n_inputs : int
        Input width.
    columns : sequence of int
        Positions of the encoded columns in the input.
    n_bins : sequence of int
        Number of bins of each encoded column (at least 2).

    Attributes
    ----------
    config : dict
        The parameters above, as plain Python ints.
    n_outputs : int
    column, left, width, low, high : Tensor
        Buffers, one entry per bin: its input column, its lower edge, its width
        times ``sqrt(n_bins)`` (the scaling folded in), and the bounds its code is
        clipped to (``-inf`` below the first bin, ``inf`` above the last, ``0`` and
        ``1 / sqrt(n_bins)`` otherwise).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torchsk.inputs.bins import PiecewiseLinear
    >>> X = np.c_[np.arange(9.0), np.zeros(9)]
    >>> encoder = PiecewiseLinear.fit(X, columns=[0, 1], max_bins=2)
    >>> encoder.config["columns"], encoder.config["n_bins"]  # column 1 is constant
    ([0], [2])
    >>> encoder.left.tolist()  # edges 0, 4, 8: the quantiles 0, 1/2, 1
    [0.0, 4.0]
    >>> codes = encoder(torch.tensor([[2.0, 0.0], [10.0, 0.0]]))[:, 2:]
    >>> codes * 2**0.5  # unscaled: half of bin 1; bin 1 full, bin 2 extrapolated
    tensor([[0.5000, 0.0000],
            [1.0000, 1.5000]])
    """

    def __init__(self, *, n_inputs: int, columns: Sequence[int], n_bins: Sequence[int]) -> None:
        super().__init__()
        self.config = {
            "n_inputs": int(n_inputs),
            "columns": [int(c) for c in columns],
            "n_bins": [int(b) for b in n_bins],
        }
        if len(columns) != len(n_bins) or min(n_bins, default=2) < 2:
            raise ValueError(f"Need one bin count >= 2 per column, got {self.config}.")
        if not all(0 <= c < n_inputs for c in columns):
            raise ValueError(f"columns must be positions in 0..{n_inputs - 1}, got {columns}.")
        total = sum(self.config["n_bins"])
        self.n_outputs = self.config["n_inputs"] + total
        # torch factories only: under torch.device("meta") (persistence checks a stored,
        # possibly edited, configuration so) nothing of a huge ``total`` is allocated
        for name in ("column", "left", "width", "low", "high"):
            dtype = torch.long if name == "column" else torch.float64
            self.register_buffer(name, torch.zeros(total, dtype=dtype))
        if self.column.device.type != "meta":
            self._lay_out()

    @torch.no_grad()
    def _lay_out(self) -> None:
        """Each bin's column and clip bounds; unit bins from 0 until ``fit`` sets edges."""
        columns, n_bins = self.config["columns"], self.config["n_bins"]
        counts = np.repeat(n_bins, n_bins).astype(np.float64)
        self.column.copy_(torch.as_tensor(np.repeat(columns, n_bins).astype(np.int64)))
        self.width.copy_(torch.as_tensor(np.sqrt(counts)))
        self.high.copy_(torch.as_tensor(1.0 / np.sqrt(counts)))
        firsts = np.cumsum([0, *n_bins])[:-1].astype(np.int64)
        lasts = firsts + np.asarray(n_bins, dtype=np.int64) - 1
        self.low[firsts], self.high[lasts] = -torch.inf, torch.inf

    @classmethod
    def fit(
        cls, X: np.ndarray, columns: Sequence[int], max_bins: int, sample_weight=None
    ) -> PiecewiseLinear:
        """Bins at the training quantiles of each column in ``columns``.

        Parameters
        ----------
        X : ndarray or Tensor of shape (n_samples, n_inputs)
            The encoder's training input (finite in ``columns``); a tensor's
            quantiles are computed on its device.
        columns : sequence of int
            Candidate columns. A column whose quantiles give fewer than two distinct
            bins (a constant or binary one) is left out: one bin is the value itself.
        max_bins : int
            Bins per column at most (and at most ``inputs.quantiles.MAX_BINS``); repeated quantiles
            (many equal values) merge.
        sample_weight : ndarray of shape (n_samples,), default=None
            Quantiles of the weighted distribution; zero-weight rows do not count.

        Returns
        -------
        PiecewiseLinear
        """
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        blocks, edges = Blocks(X, w), {}
        for c in columns:
            found = bin_edges(*blocks.column(c), max_bins)
            if found is not None:
                edges[int(c)] = found
        return cls._from_edges(X.shape[1], edges)

    @classmethod
    def from_statistics(cls, stats, options, n_inputs: int) -> PiecewiseLinear | None:
        """The bins of ``stats.edges`` (``inputs.statistics``) on the scaled columns,
        or None without ``options.numeric_bins`` or numeric columns."""
        if options.numeric_bins is None or not stats.layout.numeric.any():
            return None
        return cls._from_edges(n_inputs, stats.edges).rescale(stats.center, stats.scale)

    @classmethod
    def _from_edges(cls, n_inputs: int, edges: dict) -> PiecewiseLinear:
        """The encoder of the columns in ``edges`` (column → its increasing edges)."""
        encoder = cls(
            n_inputs=n_inputs, columns=list(edges), n_bins=[len(e) - 1 for e in edges.values()]
        )
        if edges:
            flat = [_outer_bins_widened(e) for e in edges.values()]
            encoder.left.copy_(torch.as_tensor(np.concatenate([lo for lo, _ in flat])))
            encoder.width.mul_(torch.as_tensor(np.concatenate([d for _, d in flat])))
        return encoder

    @torch.no_grad()
    def rescale(self, center: np.ndarray, scale: np.ndarray) -> PiecewiseLinear:
        """Move the edges to ``(x - center) / scale`` (per input column): bins fitted
        on raw values then apply to scaled ones. Quantiles follow any increasing
        affine map, so this is the fit on the scaled values, without a scaled copy."""
        center = torch.as_tensor(center, dtype=torch.float64)[self.column]
        scale = torch.as_tensor(scale, dtype=torch.float64)[self.column]
        self.left.sub_(center).div_(scale)
        self.width.div_(scale)
        return self

    def forward(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``x`` and its columns' bin codes side by side, in ``dtype`` (default: x's)."""
        codes = (x.index_select(1, self.column) - self.left.to(x.dtype)) / self.width.to(x.dtype)
        # minimum/maximum rather than clamp with tensor bounds: ONNX's Clip takes scalars
        codes = torch.maximum(torch.minimum(codes, self.high.to(x.dtype)), self.low.to(x.dtype))
        out = torch.cat([x, codes], dim=1)
        return out if dtype is None else out.to(dtype)


def _outer_bins_widened(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's left end and width, the open-ended first and last bins at least the
    column's mean bin width, ``(b_T - b_0) / T``.

    Their slopes are the ones a value outside the training range goes on with, and a
    narrow outer bin (a single rounding-noise value of -2.2e-16 below a column's zeros
    made one 2e-16 wide) turned a value 0.01 below the range into a code of 1e13 and a
    prediction of 1e11. Widened, an outer bin keeps its bend at its inner edge and its
    ramp up to it (an affine map of the same code, so the same responses), but a steep
    slope there now costs the L2 penalty what it does elsewhere. Training codes of
    other bins are unchanged.
    """
    left, width = edges[:-1].copy(), np.diff(edges)
    mean_width = (edges[-1] - edges[0]) / len(width)
    if width[0] < mean_width:  # the first bin ends at edges[1], where it bends
        left[0], width[0] = edges[1] - mean_width, mean_width
    width[-1] = max(width[-1], mean_width)  # the last starts at its left end
    return left, width
