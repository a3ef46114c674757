"""Sparse rows for the engine: a ``scipy.sparse`` CSR X densified one batch at a time.

A fit on sparse X never holds a dense copy of it: ``SparseRows`` stands where
resident data keep the encoded X (``Data.X``), and each batch the engine gathers
(``training.batches._rows``) is densified and encoded through the input stage's
static encoders right then, into a tensor of the plan's dtype on its device. The
numbers are those the dense route computes (the encoders work row by row), so a
sparse X and its dense form train the same network from the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

#: Bytes of one dense float64 chunk of rows, where whole passes (L-BFGS's
#: full batch, a validation score, inference) go over sparse X in chunks: 32 MB,
#: a few thousand rows of a 1,000-column X, 400 rows of 10,000 columns.
DENSE_CHUNK_BYTES = 32 * 2**20


def chunk_rows(n_features: int) -> int:
    """Rows per chunk when a pass densifies sparse X of ``n_features`` columns."""
    return max(1, DENSE_CHUNK_BYTES // (8 * max(1, n_features)))


def is_sparse_rows(X) -> bool:
    """Whether ``X`` is a scipy sparse matrix or array (not a tensor or ndarray)."""
    return hasattr(X, "toarray") and hasattr(X, "indptr")


class SparseRows:
    """A CSR matrix's rows, encoded on demand; what ``Data.X`` holds for sparse X.

    Parameters
    ----------
    X : scipy.sparse CSR matrix or array of shape (n_samples, n_features)
        Raw rows (numbers, NaN for missing values), kept on the host.
    encode : callable
        ``encode(rows, out)`` writes raw dense ``rows`` (ndarray), encoded, into
        ``out`` and returns it (``training.encoding.encode_into`` with the static steps).
    width : int
        Columns of the encoded rows.
    dtype : torch.dtype
    device : torch.device
    """

    def __init__(self, X, encode: Callable, width: int, dtype: torch.dtype,
                 device: torch.device) -> None:  # fmt: skip
        self.X, self.encode, self.width = X, encode, width
        self.dtype, self.device = dtype, device

    def __len__(self) -> int:
        return self.X.shape[0]

    def gather(self, rows: slice | torch.Tensor) -> torch.Tensor:
        """The encoded ``rows`` (a slice, or an index tensor on any device) as one
        dense tensor on the device."""
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu().numpy()
        dense = self.X[rows].toarray()
        out = torch.empty((dense.shape[0], self.width), dtype=self.dtype, device=self.device)
        return self.encode(dense, out)

    @property
    def chunk_rows(self) -> int:
        """Rows whose dense form is about ``DENSE_CHUNK_BYTES``."""
        return chunk_rows(self.X.shape[1])

    def chunks(self) -> Iterator[slice]:
        """Slices of ``chunk_rows`` rows, in order."""
        n, step = len(self), self.chunk_rows
        return (slice(i, min(i + step, n)) for i in range(0, n, step))


def dense_chunks(X, device: torch.device) -> Iterator[torch.Tensor]:
    """Sparse ``X``'s rows as raw dense tensors on ``device``, a chunk at a time."""
    step = chunk_rows(X.shape[1])
    for i in range(0, X.shape[0], step):
        yield torch.from_numpy(np.ascontiguousarray(X[i : i + step].toarray())).to(device)


class ChunkedObjective:
    """A full-batch objective over ``SparseRows``: each chunk's weighted mean loss and
    gradients, combined in proportion to the chunk's weight (what the whole batch at
    once would give, to rounding; exactly that for one chunk). Tensors pass through.

    Parameters
    ----------
    objective : callable
        ``objective(X, y, w)`` of ``training.objectives``.
    params : list of Parameter
        The parameters whose ``.grad`` it writes.
    """

    def __init__(self, objective: Callable, params: list) -> None:
        self.objective, self.params = objective, params
        self.needs_autograd = objective.needs_autograd

    def __call__(self, X, y: torch.Tensor, w: torch.Tensor | None):
        if isinstance(X, torch.Tensor):
            return self.objective(X, y, w)
        total = float(len(X)) if w is None else float(w.sum())
        sums = [torch.zeros_like(p) for p in self.params]
        loss = 0.0
        for rows in X.chunks():
            wc = None if w is None else w[rows]
            share = (rows.stop - rows.start if wc is None else float(wc.sum())) / total
            if share <= 0:  # rows of zero weight only: they add nothing
                continue
            loss += share * float(self.objective(X.gather(rows), y[rows], wc))
            for s, p in zip(sums, self.params, strict=True):
                s.add_(p.grad, alpha=share)
        for s, p in zip(sums, self.params, strict=True):
            p.grad.copy_(s)
        return loss
