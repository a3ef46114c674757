"""``CategoricalEncoder``: category codes to one-hot blocks or learned embeddings.

Low-cardinality columns become one-hot blocks, high-cardinality ones a learned
embedding, with rare levels pooled and a slot for missing values where training had any.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from torchsk.inputs.encoder import CastingEncoder, categorical_mask, check_width, kept_rows
from torchsk.inputs.member_embedding import MemberEmbedding
from torchsk.inputs.statistics import Blocks, Layout, column_statistics

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


class CategoricalEncoder(CastingEncoder):
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
    n_members : int, default=1
        Members of a stacked ensemble that each have their own embeddings
        (``for_members``); ``forward`` then gives one output per member, shape
        ``(n_members, n, n_outputs)``.

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
    embedding : nn.Embedding, MemberEmbedding or None
        The embeddings of all embedded columns, one table (row 0 is the zero row), or
        one such table per member.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torchsk.inputs.categorical import CategoricalEncoder
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
        n_members: int = 1,
    ) -> None:
        super().__init__()
        mask = categorical_mask(is_categorical)
        self.config = {
            "is_categorical": mask,
            "n_categories": [int(n) for n in n_categories],
            "n_slots": [int(s) for s in n_slots],
            "embedded": [bool(e) for e in embedded],
            "embedding_dim": int(embedding_dim),
        }
        if n_members != 1:  # only then: a shared table's saved config stays as it was
            self.config["n_members"] = int(n_members)
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
        if c.get("n_members", 1) < 1:
            raise ValueError(f"n_members < 1 in {c}.")

    @property
    def n_members(self) -> int:
        """How many members have embeddings of their own (1: one shared table)."""
        return self.config.get("n_members", 1)

    def _build(self, is_categorical, n_categories, n_slots, embedded, embedding_dim,
               n_members=1) -> None:  # fmt: skip
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
        # until fit fills it, every code goes to "no slot"; built by torch, so that on
        # the meta device (io.persistence checks a file's shapes there) a file claiming
        # 1e9 categories allocates nothing before it is refused
        nothing = index([0 if e else self.onehot_width for e in embedded])
        sizes = [n + 2 for n in n_categories]
        table = torch.repeat_interleave(nothing, index(sizes), output_size=sum(sizes))
        self.register_buffer("table", table)
        n_rows = 1 + sum(n_slots[k] for k in embed)
        self.embedding = None
        if embed and n_members > 1:
            self.embedding = MemberEmbedding(n_members, n_rows, embedding_dim)
        elif embed:
            self.embedding = nn.Embedding(n_rows, embedding_dim, padding_idx=0)

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
        mask = np.asarray(categorical_mask(is_categorical), dtype=bool)
        check_width(X, mask)
        if len(n_categories) != mask.sum():
            raise ValueError(
                f"n_categories must have one entry per categorical column "
                f"({mask.sum()}), got {len(n_categories)}."
            )
        w = np.where(kept_rows(len(X), sample_weight), 1.0, 0.0)
        if sample_weight is not None:
            w = w * np.asarray(sample_weight, np.float64)
        # codes only (the numeric columns' sums are not needed); an infinite code is
        # an invalid one, like -1, not an error here
        codes = np.where(mask, np.where(np.isinf(X), -1.0, X), 0.0)
        stats = column_statistics(Blocks(codes, w), Layout(mask, list(n_categories)))
        return cls.from_counts(
            mask, n_categories, stats.counts, stats.has_missing, max_onehot=max_onehot,
            min_count=min_count, embedding_dim=embedding_dim, generator=generator,
        )  # fmt: skip

    @classmethod
    def from_statistics(cls, stats, options, n_inputs: int) -> CategoricalEncoder | None:
        """The encoder of the categorical columns in ``stats`` (``inputs.statistics``),
        or None where there are none. The columns earlier steps appended (missing
        indicators, bin codes) pass through with the numeric ones."""
        cat = np.asarray(stats.layout.is_categorical, dtype=bool)
        if not cat.any():
            return None
        wide = np.r_[cat, np.zeros(n_inputs - len(cat), dtype=bool)]
        return cls.from_counts(
            wide, stats.layout.n_categories, stats.counts, stats.has_missing,
            generator=torch.Generator().manual_seed(options.seed),
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
        large to hold: ``data.dask``); ``fit`` computes them from X.

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
        mask = categorical_mask(is_categorical)
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
        (an earlier step appended them: ``inputs.bins.PiecewiseLinear``); they pass through
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
        if self.embedding is None:
            return torch.cat(parts, dim=1)
        vectors = self.embedding(slot.index_select(1, self.embed_index))
        if vectors.ndim == 3:  # one shared table
            return torch.cat([*parts, vectors.flatten(1).to(x.dtype)], dim=1)
        shared = torch.cat(parts, dim=1)  # the same for every member
        per_member = vectors.flatten(2).to(x.dtype)
        return torch.cat([shared.expand(len(per_member), *shared.shape), per_member], dim=2)

    @torch.no_grad()
    def for_members(self, n_members: int) -> CategoricalEncoder:
        """This encoder with a table of embeddings for each of ``n_members`` members
        (``inputs.member_embedding``), each a copy of this one's; itself where it has
        no embeddings or already one table per member.

        Raises
        ------
        ValueError
            Its tables are for another number of members.
        """
        if self.embedding is None or self.n_members == n_members:
            return self
        if self.n_members != 1:
            raise ValueError(
                f"The embeddings are for {self.n_members} members, not {n_members}: "
                "fit afresh (warm_start=False) to change the number of members."
            )
        shared = self.embedding.weight
        twin = type(self)(**self.config, n_members=n_members).to(shared)  # codes stay int64
        twin.table.copy_(self.table)
        twin.embedding.weight.copy_(shared.expand(n_members, *shared.shape))
        return twin

    def pooled_columns(self) -> list[int]:
        """Input columns whose every training level shares the rare slot (each seen in
        fewer than ``MIN_COUNT`` rows, weights counted): the network cannot tell their
        levels apart."""
        return [j for j, levels, rare, none in self._level_slots() if levels == {rare} != {none}]

    def levelless_columns(self) -> list[int]:
        """Input columns with no level of their own from training: all missing, or
        every level only in rows of zero weight (read as unseen, as later levels)."""
        return [j for j, levels, _, none in self._level_slots() if levels <= {none}]

    def _level_slots(self):
        """Each categorical input column, the set of its training levels' ``table``
        entries, its rare slot's entry (if it has one) and the entry of no slot (the
        zero row of an embedding, past the one-hot columns)."""
        table, starts, c = self.table.tolist(), self.offsets.tolist(), self.config
        for k, j in enumerate(self.cat_index.tolist()):
            n, start = c["n_categories"][k], starts[k]
            none = 0 if c["embedded"][k] else self.onehot_width
            yield j, set(table[start : start + n]), table[start + n + 1], none

    def _slot(self, codes: torch.Tensor) -> torch.Tensor:
        """The ``table`` entry of each code: its own, the missing or the unseen one."""
        n = self.n_categories.to(codes.dtype)
        # NaN fails every comparison, so it is never a valid code
        valid = (codes >= 0) & (codes < n) & (codes == torch.floor(codes))
        # invalid codes are replaced before the integer cast (1e30 or inf would overflow)
        position = torch.where(valid, codes, torch.where(torch.isnan(codes), n, n + 1))
        return self.table[position.long() + self.offsets]
