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
import scipy.sparse as sp
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
        self.fold = None  # (center, scale): training steps take ``FoldedRows``

    def batch(self, rows: slice | torch.Tensor):
        """A training step's rows: ``FoldedRows`` where the objective folds the
        scaling into its first layer (``fold``), else ``gather``'s dense tensor."""
        if self.fold is None:
            return self.gather(rows)
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu().numpy()
        return FoldedRows(self.X[rows], *self.fold, self.dtype)

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


class FoldedRows:
    """A mini-batch of sparse rows, raw, for a first layer that folds the input
    scaling ``(x - center) / scale`` into its weights: the products are then over the
    columns the batch holds, where a densified batch cost its whole width per row (a
    fit on 100,000 x 10,000 at 0.1% density took 1.6-1.8x scikit-learn's MLP).

    Parameters
    ----------
    X : scipy.sparse CSR matrix of shape (n_rows, n_features)
        Raw rows, finite.
    center, scale : ndarray of shape (n_features,), float64
        The input stage's scaling.
    dtype : torch.dtype
        The network's.
    """

    def __init__(self, X, center: np.ndarray, scale: np.ndarray, dtype: torch.dtype) -> None:
        self.n_rows, self.dtype = X.shape[0], dtype
        cols, local = np.unique(X.indices, return_inverse=True)
        self.cols = torch.from_numpy(cols.astype(np.int64))
        # the batch's rows over its own columns only (their first-layer weights)
        self.local = sp.csr_matrix(
            (X.data, local.ravel(), X.indptr), shape=(X.shape[0], len(cols))
        )
        self.inverse = torch.from_numpy(1.0 / scale).to(dtype)
        self.offset = torch.from_numpy(center / scale).to(dtype)  # within a few units

    def __len__(self) -> int:
        return self.n_rows

    def linear(self, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``F.linear`` of the scaled rows: ``X (W / s)^T + b - W (c / s)``."""
        used = weight.detach().index_select(1, self.cols) * self.inverse[self.cols]
        h = torch.from_numpy(np.asarray(self.local @ used.numpy().T)).to(self.dtype)
        return h + (bias - weight @ self.offset)

    def weight_grad(self, g: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``g^T`` times the scaled rows into ``out``: ``(g^T X) / s - (g^T 1) (c /
        s)^T``, ``g^T X`` over the batch's columns only."""
        torch.outer(g.sum(0), self.offset, out=out).neg_()
        product = torch.from_numpy(np.asarray(self.local.T @ g.numpy()).T).to(g.dtype)
        return out.index_add_(1, self.cols, product * self.inverse[self.cols])


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
        if not isinstance(X, SparseRows):  # a tensor, or a step's ``FoldedRows``
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
