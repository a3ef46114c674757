"""``IterableFit``: a fit on an iterable of ``(X, y)`` or ``(X, y, sample_weight)`` batches.

A torch ``DataLoader`` (or any object iterated afresh each time, yielding batches of
arrays or tensors) is read in passes, never held whole: a first pass checks the
batches and keeps the targets (to fit the task: classes, target scaling), one or two
more accumulate the input stage's exact statistics (``inputs.statistics``), then each
epoch reads the batches in the order the iterable gives them (a ``DataLoader`` with
``shuffle=True`` reshuffles every epoch, in an order ``random_state`` fixes unless it
has a generator of its own) and trains on them as on a Dask collection's blocks
(``training.fit.fit_blocks``). What needs the rows sorted or all at once is
refused as for Dask (``estimators.streamed.check_streamable``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import numpy as np
import torch

from torchsk.data.checks import check_X, check_y
from torchsk.data.columns import from_arrow, is_auto
from torchsk.data.sparse import is_sparse
from torchsk.data.tables import frame_as_numbers
from torchsk.data.tensors import host_array
from torchsk.estimators.class_weights import balances_per_call
from torchsk.estimators.streamed import check_streamable
from torchsk.inputs.reductions import to_numpy
from torchsk.inputs.stage import InputStage, fit_input_stage
from torchsk.training.fit import fit_blocks

_SOURCE = "an iterable of batches"


def is_batches(X) -> bool:
    """Whether ``X`` is an iterable of batches (a ``DataLoader``, ...), not data: not
    an array, tensor, sequence, set, mapping, or a pandas / polars / Dask object."""
    if isinstance(X, torch.utils.data.DataLoader):
        return True
    data_like = (str, bytes, Mapping, list, tuple, range, set, frozenset, np.ndarray, torch.Tensor)
    library = type(X).__module__.split(".")[0]
    return (
        isinstance(X, Iterable)
        and not isinstance(X, data_like)
        and library not in ("pandas", "polars", "dask", "xarray", "pyarrow", "scipy")
        and not any(hasattr(X, a) for a in ("shape", "__array__", "columns", "dtype"))
    )


def refuse_batches_to_predict(X) -> None:
    """A ``ValueError`` for batches given to ``predict`` (and its kin), which take
    X itself: the loader had reached numpy as "float() argument must be ... not
    'DataLoader'"."""
    if is_batches(X):
        raise ValueError(
            f"X is an iterable of batches ({type(X).__name__}); predict takes X itself (an "
            "array, DataFrame, tensor, Dask collection): predict each batch's X, e.g. "
            "np.concatenate([est.predict(X) for X, *_ in loader])."
        )


def refuse_listed_batches(X, y) -> None:
    """A ``ValueError`` for ``(X, y)`` batches held in a list or tuple without ``y``:
    such a list is rows of X to scikit-learn (``[(1, 2), (3, 4)]`` has two features),
    so it cannot be read as batches, and the in-memory fit's "requires y" misled."""
    if y is not None or not isinstance(X, list | tuple) or not X:
        return
    first = X[0]
    if isinstance(first, tuple) and len(first) in (2, 3) and getattr(first[0], "ndim", 0) == 2:
        raise ValueError(
            "X is a list of (X, y) batches, but a list or tuple is read as rows of X, as "
            "scikit-learn reads it. Pass the batches as an iterable that is not a list, "
            "e.g. torch.utils.data.DataLoader(batches, batch_size=None)."
        )


# what an error naming a column of batch {k} that is not numeric advises
_NUMBERS_ONLY = (
    "That is in batch {k}: a fit on " + _SOURCE + " takes numbers; encode categories "
    "before batching, or fit on the table in memory (categorical_features)."
)


class IterableFit:
    """Batches of an iterable, read in passes: the source ``BaseTorchEstimator._fit``
    reads, as ``estimators.fitdata`` describes (see the module's docstring)."""

    def __init__(self, est, X, y, task, *, first: bool, incremental: bool,
                 validated: bool = False) -> None:  # fmt: skip
        check_streamable(est, incremental, validated, _SOURCE)
        if y is not None:
            raise ValueError(
                "y is given with the batches of an iterable: each batch is (X, y) or "
                "(X, y, sample_weight); call fit(batches) or partial_fit(batches) without y."
            )
        if not isinstance(X, torch.utils.data.DataLoader) and iter(X) is X:
            raise ValueError(
                "An iterator is read once, and a fit reads its batches several times: "
                "pass an object iterated afresh each time (a torch DataLoader, or a "
                "class whose __iter__ starts over)."
            )
        if not (est.categorical_features is None or is_auto(est.categorical_features)):
            raise ValueError(
                f"categorical_features={est.categorical_features!r}: a fit on {_SOURCE} "
                "takes numeric arrays or tensors; encode categories before batching."
            )
        if balances_per_call(getattr(est, "class_weight", None)):
            # per-batch class frequencies would weigh each batch its own way
            raise ValueError(
                f"class_weight='balanced' is not supported for a fit on {_SOURCE}, as "
                "for partial_fit; pass the class weights as a dict."
            )
        if not first and est._table is not None:
            raise ValueError(
                f"The model was fitted on a table with categorical columns; a fit on "
                f"{_SOURCE} takes numeric batches. Refit from scratch (warm_start=False)."
            )
        unseeded = isinstance(X, torch.utils.data.DataLoader) and X.generator is None
        self.batches = _SeededLoader(X) if unseeded else X
        self.task, self.first = task, first
        self.table = None
        self._first_pass(est)

    def _first_pass(self, est) -> None:
        """Check every batch (as ``fit`` checks X and y) and keep the targets, weights
        and batch lengths."""
        ys, ws, self.lengths = [], [], []
        for k, batch in enumerate(self.batches):
            X, y, w = _parts(batch, k)
            if not len(X):  # named before scikit-learn's check says "0 sample(s)"
                raise ValueError(f"Batch {k} has no rows.")
            X = check_X(est, X, reset=self.first and k == 0, advice=_NUMBERS_ONLY.format(k=k))
            if k == 0:
                self.n_features, self.first_rows = X.shape[1], X[:2]
            ys.append(host_array(y))
            shape, first = np.shape(ys[-1]), np.shape(ys[0])
            if shape[1:] != first[1:]:  # np.concatenate's error says neither
                raise ValueError(
                    f"Batch {k}'s y has shape {shape}, batch 0's {first}: every "
                    "batch's y has the same number of outputs (and dimensions)."
                )
            ws.append(np.ones(len(X)) if w is None else host_array(w))
            self.lengths.append(len(X))
        if not self.lengths:
            raise ValueError(f"Found {_SOURCE} without batches: there is nothing to fit.")
        y = check_y(np.concatenate(ys), y_numeric=self.task.y_numeric, estimator=est)
        self.y, self._weights = y, np.concatenate(ws)
        self.n_samples = len(self.y)

    def host(self, values):
        """The batches' own sample weights: fit's ``sample_weight`` must be None."""
        if values is not None:
            raise ValueError(
                "sample_weight is given with the batches of an iterable: yield "
                "(X, y, sample_weight) batches instead."
            )
        return self._weights

    def input_stage(self, est, sw: np.ndarray, seed: int) -> InputStage:
        """The input stage from exact statistics over all batches (two passes)."""
        self._seed(seed)
        return fit_input_stage(_Passes(self), est._layout(), est._stage_options(None, seed))

    def probe(self, est):
        """The first batch's first rows, for a user's module to be checked on."""
        return self.first_rows if est.module is not None else None

    def train(self, est, task, loss, config, y_enc, sw, **fit_args):
        """``training.fit.fit_blocks`` on the batches, in the iterable's order."""
        self._seed(fit_args["seed"])
        return fit_blocks(
            est.module_, task, est._plan, loss, config, _InOrder(self), self.lengths,
            float(sw.sum()), optimizer=est._optimizer, samples_seen=est.t_, in_order=True,
            **fit_args,
        )  # fmt: skip

    def _seed(self, seed: int) -> None:
        """Shuffle a ``DataLoader`` of no generator of its own by the fit's ``seed``."""
        if isinstance(self.batches, _SeededLoader):
            self.batches.seed, self.batches.passes = seed, 0

    def rows(self, class_weighted: bool = True):
        """Each batch as ``(X, y_enc, sw)``: X as floats (a tensor stays one), its
        targets encoded by the task, the weights with the task's (``class_weight``)
        multiplied in, unless not ``class_weighted`` (the input statistics'); a pass
        whose batches differ from the first pass's in number or size is refused (the
        statistics and the targets were taken from that one)."""
        k = -1
        for k, batch in enumerate(self.batches):
            X, y, w = _parts(batch, k)
            if k >= len(self.lengths) or len(X) != self.lengths[k]:
                raise ValueError(
                    f"Batch {k} differs from the first pass's batches (their sizes: "
                    f"{len(self.lengths)} batches); the iterable must give the same "
                    "batch sizes on every pass."
                )
            X = _floats(X)
            y_enc = _encoded(self.task, host_array(y), k)
            w = np.ones(len(X)) if w is None else host_array(w).astype(np.float64)
            yield X, y_enc, (w * self.task.sample_weight(y_enc) if class_weighted else w)
        if k + 1 != len(self.lengths):
            raise ValueError(
                f"The iterable gave {k + 1} batches where its first pass gave "
                f"{len(self.lengths)}; it must give the same batches on every pass."
            )


def _encoded(task, y, k: int):
    """Batch ``k``'s encoded targets; labels outside the classes are blamed on the
    iterable, which found them (a sampler drawing with replacement gives other rows
    on each pass: "y contains labels [2] not in classes [0, 1]" had blamed y)."""
    try:
        return task.encode(y)
    except ValueError as error:
        if not str(error).startswith("y contains labels"):
            raise
        raise ValueError(
            f"Batch {k}: {error} The classes are those of the iterable's first pass (or "
            "partial_fit's classes=): it must give the same rows on every pass, which a "
            "sampler drawing with replacement does not."
        ) from error


class _SeededLoader:
    """A ``DataLoader`` without a generator of its own, each pass drawing its shuffle
    from ``seed`` plus the pass's number (``seed`` 0 until the fit's is known: the
    first pass's order only sums the targets).

    A ``DataLoader`` draws from torch's global generator when a pass starts (its
    workers' base seed, and a ``RandomSampler``'s shuffle at its first batch): two
    fits with the same ``random_state`` had trained on other orders, and every fit
    had moved the user's random state. Each pass iterates a copy of the loader whose
    generator, and whose index sampler's (a batch sampler's sampler too) where it has
    none, is one of the pass's seed: the user's objects are never written (another
    thread may iterate them), and no lock is taken (a pass may start in the thread
    that loads batches ahead while training holds ``training.devices.seeded``'s). A
    loader that cannot be so copied (persistent workers, which the copy would start
    afresh; a class that refuses the attributes) is iterated as it is.
    """

    def __init__(self, loader) -> None:
        self.loader, self.seed, self.passes = loader, 0, 0

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.passes)
        self.passes += 1
        return iter(_seeded_copy(self.loader, generator))


def _seeded_copy(loader, generator: torch.Generator):
    """A shallow copy of ``loader`` drawing from ``generator`` (see ``_SeededLoader``),
    or ``loader`` itself where it cannot be copied so."""
    if loader.persistent_workers:
        return loader
    try:
        copied = copy.copy(loader)
        copied.generator = generator
        batches = loader.batch_sampler
        if batches is not None and hasattr(batches, "sampler"):
            batches = copy.copy(batches)
            batches.sampler = _lent(batches.sampler, generator)
            object.__setattr__(copied, "batch_sampler", batches)  # DataLoader refuses it
        elif batches is None:
            object.__setattr__(copied, "sampler", _lent(loader.sampler, generator))
    except (AttributeError, TypeError, ValueError):
        return loader
    return copied


def _lent(sampler, generator: torch.Generator):
    """A copy of ``sampler`` drawing from ``generator`` where it draws from torch's
    global one (a ``RandomSampler`` of no generator), else ``sampler``. A sampler
    wrapping another (a ``BatchSampler`` given as ``sampler=``) lends it to the one
    it wraps: that one had drawn from torch's global generator, whatever random_state."""
    if not hasattr(sampler, "generator") and hasattr(sampler, "sampler"):
        wrapper = copy.copy(sampler)
        wrapper.sampler = _lent(sampler.sampler, generator)
        return wrapper
    if getattr(sampler, "generator", 0) is not None:
        return sampler
    sampler = copy.copy(sampler)
    sampler.generator = generator
    return sampler


def _parts(batch, k: int) -> tuple:
    """``(X, y, sample_weight or None)`` of one batch."""
    if not isinstance(batch, list | tuple) or len(batch) not in (2, 3):
        raise ValueError(
            f"Batch {k} is a {type(batch).__name__}; a batch is (X, y) or (X, y, sample_weight)."
        )
    X, y, *w = batch
    w = [] if len(w) == 1 and w[0] is None else w  # unweighted: fit's sample_weight=None
    if w and np.ndim(w[0]) != 1:
        raise ValueError(f"Batch {k}'s sample_weight is not 1-D: give one weight per row.")
    if is_sparse(X):  # len() of a sparse matrix had raised a TypeError
        raise ValueError(
            f"Batch {k}'s X is sparse; a fit on batches takes dense ones (pass sparse X "
            "whole to fit, which reads it in chunks)."
        )
    X = from_arrow(X)  # an Arrow batch keeps its column names, as a DataFrame batch does
    if getattr(X, "ndim", 2) != 2:
        raise ValueError(
            f"Batch {k}'s X has {X.ndim} dimension(s); a batch's X is 2-D (rows by "
            "features). A DataLoader with batch_size=None yields single rows: give it "
            "a batch_size."
        )
    if len(X) != len(y) or (w and len(w[0]) != len(X)):
        raise ValueError(f"Batch {k} has X, y (and sample_weight) of different lengths.")
    return X, y, w[0] if w else None


def _floats(X):
    """A batch's X as float32/float64 (a tensor on its device, anything else numpy),
    a DataFrame's ``object`` columns read as ``check_X`` read them (``pd.NA`` as NaN)."""
    if isinstance(X, torch.Tensor):
        return X.detach() if X.is_floating_point() else X.detach().double()
    numbers = frame_as_numbers(X)  # checked by the first pass: raises nothing here
    X = np.asarray(X) if numbers is None else numbers
    return X if X.dtype.kind == "f" else X.astype(np.float64)


class _Passes:
    """The batches as ``inputs.statistics``'s ``Blocks``: numbers and weights per
    batch, as many passes as it needs; no ``column`` (nothing is sorted)."""

    compute = staticmethod(to_numpy)

    def __init__(self, fit: IterableFit) -> None:
        self.fit = fit

    def __iter__(self):
        for X, _, w in self.fit.rows(class_weighted=False):
            yield X, (torch.as_tensor(w, device=X.device) if isinstance(X, torch.Tensor) else w)


class _InOrder:
    """``load(k)`` for ``fit_blocks``: the batches of one pass, asked for in turn."""

    def __init__(self, fit: IterableFit) -> None:
        self.fit, self.rows, self.next = fit, None, 0

    def __call__(self, k: int) -> tuple:
        if k == 0:
            self.rows, self.next = self.fit.rows(), 0
        if k != self.next:
            raise RuntimeError(f"Batch {k} asked for out of order (expected {self.next}).")
        self.next += 1
        batch = next(self.rows)
        if self.next == len(self.fit.lengths):
            next(self.rows, None)  # the end of the pass: checks that no batch is left
        return batch
