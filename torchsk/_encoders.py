"""Input-stage encoders: ``nn.Module``s between the raw float matrix and the backbone.

They work on the tensor ``TableEncoder`` (``_tables.py``) produces — floats, ``NaN``
for missing values, categorical columns as integer codes — so the trained network
needs no scikit-learn, pandas or strings to run:

- ``Imputer`` fills ``NaN`` in numeric columns with a fitted constant and appends a
  0/1 missing-indicator column for each numeric column that had missing values in
  training;
- ``CategoricalEncoder`` replaces each categorical code column by a one-hot block
  (low cardinality) or a learned embedding (high cardinality), with rare levels
  pooled, and a slot for missing values where training had any.

Every constant is a registered buffer, and every module is rebuilt from its plain
``config`` dict: ``type(m)(**m.config)`` has the same shapes as ``m``, and its
``load_state_dict(m.state_dict())`` restores it exactly (persistence relies on this).
Both export to ONNX (``torch.onnx.export(..., dynamo=True)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

# Thresholds. Measured on openintro's loans_full_schema (10,000 loans; log annual income
# from 43 columns, among them free-text job titles: 4,741 levels, 4,501 of them in
# fewer than 5 rows, 833 missing; 50 states), a 128-128 ReLU MLP, 4 splits of 60/40:
# - pooling rare levels overfits less: final held-out R2 0.256 +- 0.045 with no
#   pooling (min_count=1), 0.286 +- 0.033 at 5, 0.301 +- 0.027 at 20 (best-epoch R2
#   0.399, 0.407, 0.408);
# - embedding the 50-level state column (a cut-off of 32) did worse than one-hot
#   (best-epoch R2 0.393 +- 0.017 against 0.407 +- 0.026), so the cut-off sits above
#   the usual few dozen levels;
# - job titles one-hot (the ~130 levels frequent in a training split, plus the rare
#   and missing slots) scored like the embedding (best-epoch R2 0.412 +- 0.033) at
#   nearly twice the input width (286 against 160).
# Differences are within one standard deviation: the thresholds are chosen for safety
# and cost (the closest to scikit-learn's OneHotEncoder pipeline below the cut-off,
# bounded width above it), not tuned.

#: A categorical column with at most this many slots (kept levels, plus the rare and
#: missing slots) is one-hot encoded; a wider one gets an embedding. One-hot into the
#: first ``Linear`` layer is an embedding of the layer's width with no bottleneck, the
#: closest to scikit-learn's ``OneHotEncoder`` pipeline (US states stay one-hot); past
#: that it mostly adds input width (compute, and memory when X is encoded once before
#: training) and parameters per level that few rows fit.
MAX_ONEHOT = 64
#: Levels seen in fewer training rows than this share one "rare" slot, which also
#: takes levels never seen in training (as ``OneHotEncoder``'s
#: ``handle_unknown="infrequent_if_exist"``): a level seen once or twice cannot fit
#: its own weights, and the shared slot is trained, unlike a slot of its own for
#: unseen levels would be. 5 rather than 20: small tables keep their levels.
MIN_COUNT = 5
#: Width of each embedding (RealMLP's choice for its categorical embeddings), the
#: same for every embedded column so that one table and one lookup serve them all.
EMBEDDING_DIM = 8


class InputEncoder(nn.Module):
    """One step of the network's input stage (``_inputs.InputStage``).

    Subclasses set ``n_outputs`` (their output width) and ``config`` (plain values from
    which ``from_config`` builds a module of the same shapes, into which a saved
    ``state_dict`` loads: persistence relies on it), and implement
    ``forward(x, dtype=None)``: the encoded ``x``, rounded to ``dtype`` when given.
    """

    n_outputs: int
    config: dict

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


class _Encoder(InputEncoder):
    """An encoder computing in its input's dtype (``encode``), rounded at the end."""

    def forward(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Encode ``x``; the result in ``dtype`` (default: ``x``'s)."""
        out = self.encode(x)
        return out if dtype is None else out.to(dtype)


def _mask(is_categorical: Sequence[bool]) -> list[bool]:
    """``is_categorical`` as a list of Python bools, refusing anything but a flat mask."""
    mask = np.asarray(is_categorical)
    if mask.size == 0:
        return []
    if mask.ndim != 1 or mask.dtype.kind != "b":
        raise ValueError(f"is_categorical must be a 1-D boolean mask, got {is_categorical!r}.")
    return [bool(b) for b in mask]


def _kept_rows(n_samples: int, sample_weight) -> np.ndarray:
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
    >>> from torchsk._encoders import Imputer
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


def _slots(counts: np.ndarray, has_missing: bool, min_count: int) -> tuple[np.ndarray, int]:
    """Where each code of one column goes, and how many slots the column has.

    Returns
    -------
    local : ndarray of int, shape (n_categories + 2,)
        For codes ``0 .. n-1``, then "missing" (index ``n``), then "unseen" (``n +
        1``): the slot in ``1 .. n_slots``, or 0 for "no slot" (an all-zero encoding).
        Kept levels come first in code order, then the rare slot, then the missing
        slot. A level with no training rows is unseen.
    n_slots : int
    """
    n = len(counts)
    # weighted counts are sums of floats: a level at min_count stays kept whatever
    # the summation order (in memory, Dask)
    kept = counts >= min_count * (1 - 1e-9)
    rare = (counts > 0) & ~kept
    local = np.zeros(n + 2, dtype=np.int64)
    local[:n][kept] = np.arange(1, kept.sum() + 1)
    n_slots = int(kept.sum())
    if rare.any():
        n_slots += 1
        local[:n][rare] = n_slots
        local[:n][counts == 0] = n_slots
        local[n + 1] = n_slots  # unseen levels share the rare levels' trained slot
    if has_missing:
        n_slots += 1
        local[n] = n_slots
    return local, n_slots


class CategoricalEncoder(_Encoder):
    """Replace categorical code columns by one-hot blocks or learned embeddings.

    ``forward`` maps ``(n, n_inputs)`` to ``(n, n_outputs)``: the numeric input
    columns unchanged, in order; then the one-hot blocks of the one-hot columns; then
    the embeddings of the embedded columns (``embedding_dim`` each), both in input
    order. A categorical input is a code into that column's training categories;
    ``NaN`` is missing; anything else (negative, too large, fractional, infinite) is
    an unseen level. Each code goes to its slot; a missing value to the missing slot
    if training had missing values, an unseen level to the rare slot if training had
    rare levels — otherwise to no slot: an all-zero block or embedding, as
    ``OneHotEncoder(handle_unknown="ignore")`` encodes it. Never an error.
    Build it with ``CategoricalEncoder.fit``.

    Parameters
    ----------
    is_categorical : sequence of bool
        One entry per input column.
    n_categories : sequence of int
        For each categorical column (in input order), its number of training
        categories (valid codes are ``0 .. n - 1``).
    n_slots : sequence of int
        For each categorical column, its one-hot width or its number of embedding
        rows (kept levels, plus the rare and missing slots where they exist).
    embedded : sequence of bool
        For each categorical column, whether it is embedded (else one-hot).
    embedding_dim : int, default=EMBEDDING_DIM
        Width of each embedding.

    Attributes
    ----------
    config : dict
        The parameters above, as plain Python lists and ints.
    n_inputs, n_outputs : int
        Input and output widths.
    table : Tensor of int64
        Buffer: for column ``k``'s codes, missing and unseen (``n_categories[k] + 2``
        entries from ``offsets[k]``), the output position (one-hot columns; the
        one-hot width means "no slot") or the embedding row (embedded columns; row 0,
        all zeros, means "no slot").
    embedding : nn.Embedding or None
        The embeddings of all embedded columns, one table (row 0 is the zero row).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torchsk._encoders import CategoricalEncoder
    >>> X = np.array([[0.5, 0], [1.5, 1], [2.5, np.nan]] * 5)  # column 1: codes
    >>> encoder = CategoricalEncoder.fit(X, is_categorical=[False, True], n_categories=[2])
    >>> encoder.config["n_slots"], encoder.n_outputs, encoder.trainable
    ([3], 4, False)
    >>> encoder(torch.tensor([[9.0, 1], [9.0, np.nan], [9.0, -1]]))  # unseen: no slot
    tensor([[9., 0., 1., 0.],
            [9., 0., 0., 1.],
            [9., 0., 0., 0.]])
    """

    def __init__(
        self,
        *,
        is_categorical: Sequence[bool],
        n_categories: Sequence[int],
        n_slots: Sequence[int],
        embedded: Sequence[bool],
        embedding_dim: int = EMBEDDING_DIM,
    ) -> None:
        super().__init__()
        mask = _mask(is_categorical)
        self.config = {
            "is_categorical": mask,
            "n_categories": [int(n) for n in n_categories],
            "n_slots": [int(s) for s in n_slots],
            "embedded": [bool(e) for e in embedded],
            "embedding_dim": int(embedding_dim),
        }
        self._check_config()
        self._build(**self.config)

    def _check_config(self) -> None:
        """Refuse a config whose per-column lists do not match the categorical columns."""
        c = self.config
        m = sum(c["is_categorical"])
        for key in ("n_categories", "n_slots", "embedded"):
            if len(c[key]) != m:
                raise ValueError(
                    f"{key} must have one entry per categorical column ({m}), got {len(c[key])}."
                )
        if min(c["n_categories"] + c["n_slots"], default=0) < 0 or c["embedding_dim"] < 1:
            raise ValueError(f"Negative sizes or embedding_dim < 1 in {c}.")

    def _build(self, is_categorical, n_categories, n_slots, embedded, embedding_dim) -> None:
        """Buffers, the embedding table and the widths, from the config."""

        def index(values) -> torch.Tensor:
            return torch.tensor(list(values), dtype=torch.long)

        is_categorical = np.asarray(is_categorical, dtype=bool)
        cat = np.flatnonzero(is_categorical)
        onehot = [k for k, e in enumerate(embedded) if not e]
        embed = [k for k, e in enumerate(embedded) if e]
        self.onehot_width = sum(n_slots[k] for k in onehot)
        self.n_inputs = len(is_categorical)
        self.n_outputs = self.n_inputs - len(cat) + self.onehot_width + len(embed) * embedding_dim
        self.register_buffer("num_index", index(np.flatnonzero(~is_categorical)))
        self.register_buffer("cat_index", index(cat))
        self.register_buffer("n_categories", index(n_categories))
        self.register_buffer("offsets", index(np.cumsum([0] + [n + 2 for n in n_categories])[:-1]))
        self.register_buffer("onehot_index", index(onehot))
        self.register_buffer("embed_index", index(embed))
        # until fit fills it, every code goes to "no slot"
        nothing = [0 if e else self.onehot_width for e in embedded]
        self.register_buffer(
            "table", index(np.repeat(nothing, [n + 2 for n in n_categories]).astype(np.int64))
        )
        n_rows = 1 + sum(n_slots[k] for k in embed)
        self.embedding = nn.Embedding(n_rows, embedding_dim, padding_idx=0) if embed else None

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        is_categorical: Sequence[bool],
        n_categories: Sequence[int],
        sample_weight=None,
        *,
        max_onehot: int = MAX_ONEHOT,
        min_count: int = MIN_COUNT,
        embedding_dim: int = EMBEDDING_DIM,
        generator: torch.Generator | None = None,
    ) -> CategoricalEncoder:
        """A ``CategoricalEncoder`` fitted on training codes.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_inputs)
            The encoder's training input: categorical columns as codes (``NaN``
            missing); numeric columns are ignored.
        is_categorical : sequence of bool
            One entry per column of ``X``.
        n_categories : sequence of int
            ``len(categories_[j])`` of each categorical column, in column order.
        sample_weight : ndarray of shape (n_samples,), default=None
            A weight of k counts as k rows in deciding which levels are rare (an
            aggregated table, one row per combination weighted by its count, keeps
            the levels its expanded rows keep); rows with zero weight do not count.
        max_onehot : int, default=MAX_ONEHOT
            Columns with at most this many slots are one-hot, wider ones embedded.
        min_count : int, default=MIN_COUNT
            Levels in fewer training rows share the rare slot.
        embedding_dim : int, default=EMBEDDING_DIM
            Width of each embedding.
        generator : torch.Generator, default=None
            Source of the initial embeddings (standard normal); torch's global
            generator when None.

        Returns
        -------
        CategoricalEncoder
        """
        X = np.asarray(X, dtype=np.float64)
        mask = _mask(is_categorical)
        if X.ndim != 2 or X.shape[1] != len(mask):
            raise ValueError(
                f"X must have shape (n_samples, {len(mask)}), one column per "
                f"is_categorical entry; got {X.shape}."
            )
        kept = _kept_rows(len(X), sample_weight)
        codes = X[kept][:, mask]
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64)[kept]
        if len(n_categories) != codes.shape[1]:
            raise ValueError(
                f"n_categories must have one entry per categorical column "
                f"({codes.shape[1]}), got {len(n_categories)}."
            )
        counts = [_counts(codes[:, k], n, w) for k, n in enumerate(n_categories)]
        has_missing = [bool(np.isnan(codes[:, k]).any()) for k in range(len(n_categories))]
        return cls.from_counts(
            mask, n_categories, counts, has_missing, max_onehot=max_onehot,
            min_count=min_count, embedding_dim=embedding_dim, generator=generator,
        )  # fmt: skip

    @classmethod
    def from_counts(
        cls,
        is_categorical: Sequence[bool],
        n_categories: Sequence[int],
        counts: Sequence[np.ndarray],
        has_missing: Sequence[bool],
        *,
        max_onehot: int = MAX_ONEHOT,
        min_count: int = MIN_COUNT,
        embedding_dim: int = EMBEDDING_DIM,
        generator: torch.Generator | None = None,
    ) -> CategoricalEncoder:
        """A ``CategoricalEncoder`` fitted on counts computed elsewhere (over data too
        large to hold: ``_streaming``); ``fit`` computes them from X.

        Parameters
        ----------
        is_categorical, n_categories
            As in ``fit``.
        counts : sequence of ndarray
            For each categorical column, the training rows per code ``0 ..
            n_categories[k] - 1``, a row of weight k counting k times.
        has_missing : sequence of bool
            For each categorical column, whether a training row (of positive weight)
            misses its value.
        max_onehot, min_count, embedding_dim, generator
            As in ``fit``.

        Returns
        -------
        CategoricalEncoder
        """
        mask = _mask(is_categorical)
        plans = [
            _slots(np.asarray(c), bool(m), min_count)
            for c, m in zip(counts, has_missing, strict=True)
        ]
        n_slots = [s for _, s in plans]
        encoder = cls(
            is_categorical=mask,
            n_categories=n_categories,
            n_slots=n_slots,
            embedded=[s > max_onehot for s in n_slots],
            embedding_dim=embedding_dim,
        )
        encoder._fill_table([local for local, _ in plans])
        encoder._init_embedding(generator)
        return encoder

    @torch.no_grad()
    def widened(self, n_extra: int) -> CategoricalEncoder:
        """This encoder for inputs with ``n_extra`` more numeric columns at the end
        (an earlier step appended them: ``_bins.PiecewiseLinear``); they pass through
        after the other numeric columns."""
        if not n_extra:
            return self
        mask = self.config["is_categorical"] + [False] * n_extra
        wide = type(self)(**{**self.config, "is_categorical": mask})
        wide.table.copy_(self.table)
        if self.embedding is not None:
            wide.embedding.weight.copy_(self.embedding.weight)
        return wide

    @torch.no_grad()
    def _fill_table(self, locals_: list[np.ndarray]) -> None:
        """Turn each column's local slots (1-based, 0 = none) into global positions."""
        onehot_start, embed_start = 0, 1  # embedding row 0 is the zero row
        blocks = []
        for local, n, embedded in zip(
            locals_, self.config["n_slots"], self.config["embedded"], strict=True
        ):
            if embedded:
                blocks.append(np.where(local > 0, local - 1 + embed_start, 0))
                embed_start += n
            else:
                blocks.append(np.where(local > 0, local - 1 + onehot_start, self.onehot_width))
                onehot_start += n
        if blocks:
            self.table.copy_(torch.as_tensor(np.concatenate(blocks)))

    @torch.no_grad()
    def _init_embedding(self, generator: torch.Generator | None) -> None:
        """Standard normal embeddings (the scale of standardized numeric inputs), zero row 0."""
        if self.embedding is not None:
            self.embedding.weight.normal_(generator=generator)
            self.embedding.weight[0].zero_()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encode the categorical columns (output in ``x``'s dtype)."""
        if not len(self.config["n_categories"]):
            return x
        slot = self._slot(x.index_select(1, self.cat_index))
        parts = [x.index_select(1, self.num_index)]
        if self.onehot_width:
            # one 1 per one-hot column; "no slot" writes into an extra column, dropped
            where = slot.index_select(1, self.onehot_index)
            onehot = x.new_zeros(x.shape[0], self.onehot_width + 1).scatter_(1, where, 1.0)
            parts.append(onehot[:, : self.onehot_width])
        if self.embedding is not None:
            vectors = self.embedding(slot.index_select(1, self.embed_index))
            parts.append(vectors.flatten(1).to(x.dtype))
        return torch.cat(parts, dim=1)

    def pooled_columns(self) -> list[int]:
        """Input columns whose every training level shares the rare slot (each seen in
        fewer than ``MIN_COUNT`` rows, weights counted): the network cannot tell their
        levels apart."""
        table, starts, c = self.table.tolist(), self.offsets.tolist(), self.config
        pooled = []
        for k, j in enumerate(self.cat_index.tolist()):
            n, start = c["n_categories"][k], starts[k]
            unseen = table[start + n + 1]  # the rare slot, if the column has one
            no_slot = 0 if c["embedded"][k] else self.onehot_width
            if n and unseen != no_slot and set(table[start : start + n]) == {unseen}:
                pooled.append(j)
        return pooled

    def _slot(self, codes: torch.Tensor) -> torch.Tensor:
        """The ``table`` entry of each code: its own, the missing or the unseen one."""
        n = self.n_categories.to(codes.dtype)
        # NaN fails every comparison, so it is never a valid code
        valid = (codes >= 0) & (codes < n) & (codes == torch.floor(codes))
        # invalid codes are replaced before the integer cast (1e30 or inf would overflow)
        position = torch.where(valid, codes, torch.where(torch.isnan(codes), n, n + 1))
        return self.table[position.long() + self.offsets]


def _counts(codes: np.ndarray, n_categories: int, weight=None) -> np.ndarray:
    """Training rows per valid code of one column (missing and unseen not counted), a
    row of weight k counting k times."""
    valid = (codes >= 0) & (codes < n_categories) & (codes == np.floor(codes))
    weight = None if weight is None else weight[valid]
    return np.bincount(codes[valid].astype(np.int64), weight, minlength=n_categories)
