"""``MemberEmbedding``: one embedding table per member of a stacked ensemble.

Members that train on rows of their own (``member_rows="folds"``, a batched search's
candidates × folds: ``training.members``) cannot share an embedding table: trained on
every member's rows, it would carry each fold's targets to the member that holds the
fold out, and its held-out scores would be optimistic. So each member gets its own
table, starting from the shared one's values, and the categorical encoder's output
becomes one input per member, ``(members, rows, width)``, which the stacked network's
first layer takes member by member (``nn.ensemble.EnsembleMLP``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MemberEmbedding(nn.Module):
    """``n_members`` embedding tables of ``n_rows`` rows each; row 0 of every table is
    the zero vector ("no slot"), which training never moves.

    The tables are one ``(members, rows, dim)`` parameter, so everything that handles a
    stacked ensemble's weights member by member (per-member ``alpha`` and learning
    rate, a member's best epoch, a retired member's optimizer state) handles them too.

    Parameters
    ----------
    n_members : int
        Number of tables.
    n_rows : int
        Rows of each table, the zero row included.
    embedding_dim : int
        Width of each row.
    """

    def __init__(self, n_members: int, n_rows: int, embedding_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_members, n_rows, embedding_dim))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        """Each member's rows for ``index`` of shape ``(rows, columns)``: shape
        ``(members, rows, columns, dim)``."""
        k, n, dim = self.weight.shape
        offsets = torch.arange(k, device=index.device).view(k, 1, 1) * n
        vectors = F.embedding(index.unsqueeze(0) + offsets, self.weight.reshape(k * n, dim))
        # the zero row gets no gradient (nn.Embedding's padding_idx=0, per table)
        return vectors * (index > 0).unsqueeze(-1).to(vectors.dtype)
