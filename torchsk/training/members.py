"""Cross-fitted members: each member of an ``EnsembleMLP`` trains on its own rows.

With ``member_rows="folds"`` the training rows are split into as many folds as there
are members; member ``m`` trains on every fold but fold ``m``, which it holds out. So
every row trains all members but one, none is lost to a validation split (as bagging
over folds: TabArena fits every model so), and each member has held-out rows of its
own:

- for early stopping: after each epoch every member is scored on its fold (the
  training loss, weighted as training weights the rows), and each keeps the weights of
  its own best epoch; training stops once no member has improved for
  ``n_iter_no_change`` epochs (``MemberScorer``);
- for an honest validation score for free: each row's prediction by the member that
  did not train on it (the out-of-fold predictions).

The members still share every mini-batch (one stacked network, the hand-written
passes); a member's rows are its column of per-member sample weights ``(rows,
members)`` (0 on its fold), which the objectives read (``training.objectives``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold

from torchsk.training.batches import Data
from torchsk.training.member_losses import of_member


@dataclass(frozen=True)
class MemberRows:
    """Members given their rows and settings by the caller (a batched search's
    candidates crossed with its folds, ``estimators.search``).

    Attributes
    ----------
    train : ndarray of bool, shape (rows, members)
        Which rows train each member (the others are its held-out rows).
    alpha : tuple of (float or "auto")
        Each member's ``alpha``; ``"auto"`` resolves on the member's own rows.
    learning_rate_init : tuple of float
        Each member's learning rate (mini-batch solvers).
    validation : ndarray of bool, shape (rows, members), optional
        Each member's early-stopping rows (none of its training rows): it stops on
        its loss there and keeps the weights of its best epoch.
    init_seeds : tuple of int, optional
        Each member's initial weights drawn from a generator of this seed alone
        (``EnsembleMLP.reset_member``): members of equal seeds start equal.
    dropout : tuple of float, optional
        Each member's dropout rate (``EnsembleMLP.set_member_dropout``).
    loss_options : tuple of LossOptions, optional
        Each member's loss settings (``huber_delta``, ``quantile``,
        ``label_smoothing``; ``training.member_losses``); the estimator's otherwise.
    separate_fits : bool, default=False
        The members stand for separate fits on these rows (one split of a batched
        search): each trains in the dtype its separate fit would have, where a large
        stack would otherwise train in float32 (``training.plan.make_plan``).
    """

    train: np.ndarray
    alpha: tuple
    learning_rate_init: tuple
    validation: np.ndarray | None = None
    init_seeds: tuple | None = None
    dropout: tuple | None = None
    loss_options: tuple | None = None
    separate_fits: bool = False

    def initialize(self, ensemble) -> None:
        """Each member's dropout rate, and initial weights drawn from its own seed
        (``init_seeds``). Called before the fit's plan is made: dropout decides which
        pass trains the network (``training.plan``)."""
        if self.dropout is not None:
            ensemble.set_member_dropout(self.dropout)
        if self.init_seeds is None:
            return
        for m, seed in enumerate(self.init_seeds):
            ensemble.reset_member(m, torch.Generator().manual_seed(int(seed)))


def member_index(params, k: int) -> torch.Tensor:
    """The member of each entry of the flat parameter that ``params`` are flattened
    into (``training.loop``). Each parameter is an ``EnsembleMLP``'s stacked weights
    ``(members, in, out)`` or flat biases ``(members * width,)``."""
    parts = []
    for p in params:
        per_member = p.numel() // k
        if p.shape[0] != k and p.ndim > 1 or per_member * k != p.numel():
            raise ValueError(
                "Per-member settings need the built-in ensemble's parameters (and "
                "the members' own embeddings)."
            )
        parts.append(torch.arange(k).repeat_interleave(per_member))
    return torch.cat(parts)


def member_scale(params, rates: tuple[float, ...], base: float) -> torch.Tensor:
    """One factor per entry of the flat parameter: its member's rate / ``base``."""
    factors = torch.tensor(rates, dtype=torch.float64) / base
    return factors[member_index(params, len(rates))]


class MemberGuard:
    """Each member given its rows (a batched search's candidates, ``MemberRows``)
    stops on its own, as a separate fit would.

    The members' computations are independent, but the training loop sees only
    their summed loss: one member whose loss explodes (a learning rate far too large)
    would stop every member at its last good weights, and the sum's no-improvement
    rule would stop them all at once. After each epoch, ``after_epoch`` scores every
    member on its own training rows (its weighted mean loss, one pass in eval mode)
    and retires a member that broke (non-finite loss or weights: back to its last
    finite weights) or converged (no improvement of ``tol`` for more than
    ``n_iter_no_change`` epochs, scikit-learn's rule). A retired member's rows weigh 0
    from then on (no loss, no gradient, no penalty) and its optimizer state is
    cleared (no momentum moves it); training ends when every member is retired.

    Parameters
    ----------
    module : nn.Module
        The trained module (``training.loop``'s): the ensemble, after any trainable
        input encoders (each member's own embeddings).
    data : Data
        The encoded training rows, the per-member weights ``(rows, members)`` as
        ``w`` (zeroed in place for a retired member).
    per_sample : callable
        The loss per row, ``per_sample(outputs, targets)`` (a ``PerMember``'s:
        each member's own).
    settings : TrainSettings
        ``tol`` and ``n_iter_no_change``.
    validation : torch.Tensor, optional
        Per-member weights ``(rows, members)`` of early-stopping rows: each member is
        judged by its loss there instead, and ``finish`` gives it back the weights of
        its best epoch.
    """

    def __init__(self, module, data: Data, per_sample, settings, validation=None) -> None:
        self.module, self.data, self.per_sample = module, data, per_sample
        self.tol, self.patience = settings.tol, settings.n_iter_no_change
        self.train_weights = data.w.clone()  # zeroed in data.w as members retire
        # the rows each member is judged on: its own training rows, or its held-out ones
        self.weights = self.train_weights if validation is None else validation
        self.keeps_best = validation is not None
        # only the rows some member is judged on (early-stopping rows: a small share)
        self.scored_rows = torch.nonzero(self.weights.sum(1) > 0).flatten()
        self.best_weights = [p.detach().clone() for p in module.parameters()]
        # a retired member's weights: its zero-weight rows stop its gradient, not
        # adamw's decoupled decay, so ``finish`` puts them back
        self.kept = [p.detach().clone() for p in module.parameters()]
        k = self.weights.shape[1]
        self.retired = np.zeros(k, dtype=bool)
        self.best = np.full(k, np.inf)
        self.count = np.zeros(k, dtype=np.int64)
        self.best_epochs = np.zeros(k, dtype=np.int64)
        self.epoch = 0

    @property
    def done(self) -> bool:
        """Every member is retired."""
        return bool(self.retired.all())

    def after_epoch(self, last_good: dict, optimizer, epoch_losses=None, penalties=None,
                    one_step: bool = False) -> float:  # fmt: skip
        """Retire the members that broke or converged; returns the summed loss of
        the members still training (0 once none is). ``epoch_losses``: each member's
        mean batch loss over the epoch (the hand-written passes keep them), which
        judges it where it has no early-stopping rows (else a pass over its rows
        does). ``penalties``: each member's, added to a training loss (not to an
        early-stopping loss), as a separate fit's epoch loss has it. A member that
        converged with its loss risen well above its lowest gets the weights of its
        lowest epoch back, as a separate fit does; with ``one_step`` (one batch an
        epoch), an epoch loss is that of the epoch's first weights."""
        self.epoch += 1
        during = epoch_losses is not None and not self.keeps_best  # the batches' losses
        losses = np.where(self.retired, np.inf, epoch_losses) if during else self._losses()
        if penalties is not None and not self.keeps_best:
            losses = losses + penalties
        active = ~self.retired
        broken = active & (~np.isfinite(losses) | self._non_finite())
        if broken.any():
            self._restore(broken, last_good)
        # as a separate fit counts (``Stopping.update``): the count starts again on
        # beating the best by ``tol``, the best follows every lower loss
        judged = active & ~broken
        self.count = np.where(judged & (losses <= self.best - self.tol), 0, self.count + 1)
        lower = judged & (losses < self.best)
        self.best = np.where(lower, losses, self.best)
        if lower.any():
            self.best_epochs[lower] = self.epoch
            params = self.module.named_parameters()
            source = [last_good[n] if one_step and during else p for n, p in params]
            _copy_members(source, self.best_weights, lower)
        converged = judged & (self.count > self.patience)
        if not self.keeps_best:  # a loss that rose instead of levelling off: its lowest
            rose = converged & (losses - self.best > np.maximum(self.tol, 0.1 * abs(self.best)))
            _copy_members(self.best_weights, list(self.module.parameters()), rose)
        self._retire(broken | converged, optimizer)
        still = ~self.retired
        return float(losses[still].sum()) if still.any() else 0.0

    def per_row_penalties(self, penalty, batches: int) -> np.ndarray:
        """Each member's penalty as a separate fit adds it to its epoch loss: once per
        batch, over the weight of its rows (``training.loop._epoch``)."""
        k = len(self.retired)
        totals = self.train_weights.sum(0).to(torch.float64).cpu().numpy()
        if not penalty.weights:
            return np.zeros(k)
        return penalty.member_terms(k) * batches / np.where(totals > 0, totals, np.inf)

    def finish(self) -> None:
        """The training weights back in place (for what reads them after training);
        with early-stopping rows, each member back at its best epoch's weights."""
        self.data.w.copy_(self.train_weights)
        params = list(self.module.parameters())
        best = self.best_epochs > 0 if self.keeps_best else np.zeros_like(self.retired)
        _copy_members(self.kept, params, self.retired & ~best)
        _copy_members(self.best_weights, params, best)

    @torch.no_grad()
    def _losses(self) -> np.ndarray:
        """Each member's weighted mean loss on its own rows, in eval mode."""
        self.module.eval()
        rows = self.scored_rows
        X, y, w = self.data.X[rows], self.data.y[rows], self.weights[rows]
        totals = torch.zeros(w.shape[1], dtype=torch.float64, device=X.device)
        for i in range(0, len(X), _LOSS_ROWS):
            z = members_output(self.module, X[i : i + _LOSS_ROWS])
            for m in np.flatnonzero(~self.retired):
                per_sample = of_member(self.per_sample, m)
                per_row = per_sample(z[m], y[i : i + _LOSS_ROWS]).to(torch.float64)
                totals[m] += (per_row * w[i : i + _LOSS_ROWS, m]).sum()
        self.module.train()
        return (totals / w.sum(0).to(torch.float64)).cpu().numpy()

    def _non_finite(self) -> np.ndarray:
        k = len(self.retired)
        bad = np.zeros(k, dtype=bool)
        for p in self.module.parameters():
            bad |= ~torch.isfinite(p.detach().reshape(k, -1)).all(dim=1).cpu().numpy()
        return bad

    def _restore(self, members: np.ndarray, last_good: dict) -> None:
        names, params = zip(*self.module.named_parameters(), strict=True)
        _copy_members([last_good[name] for name in names], list(params), members)

    def _retire(self, members: np.ndarray, optimizer) -> None:
        if members.any():
            _copy_members(list(self.module.parameters()), self.kept, members)
            self.data.w[:, torch.as_tensor(members, device=self.data.w.device)] = 0.0
            _clear_state(optimizer, list(self.module.parameters()), members)
            self.retired |= members


#: Rows scored at once by ``MemberGuard``.
_LOSS_ROWS = 2048


@torch.no_grad()
def _copy_members(source: list, target: list, members: np.ndarray) -> None:
    """Copy ``members``' slices (``_member``) of stacked parameters ``source`` into
    ``target``; ``members`` is a boolean mask over all of them."""
    k = len(members)
    for src, dst in zip(source, target, strict=True):
        for m in np.flatnonzero(members):
            _member(dst.detach(), m, k).copy_(_member(src.detach(), m, k))


def _clear_state(optimizer, params: list, members: np.ndarray) -> None:
    """Zero ``members``' entries of the optimizer's state (Adam's moments, SGD's
    momentum) over the trained ``params``: with no gradient they then take no step."""
    inner = getattr(optimizer, "inner", optimizer)  # under MemberRates
    states = [getattr(inner, name, None) for name in ("exp_avg", "exp_avg_sq")]
    states += list(getattr(inner, "momentum_buffers", []))
    index = member_index(params, len(members))
    mask = torch.as_tensor(members)[index]
    for state in states:
        if state is not None:
            state[mask.to(state.device)] = 0.0


def assign_folds(n_members: int, y: np.ndarray, stratify: bool, seed: int) -> np.ndarray:
    """The fold (the member holding it out) of each training row.

    Raises
    ------
    ValueError
        Fewer than two rows per member.
    """
    n = len(y)
    if n < 2 * n_members:
        raise ValueError(
            f"member_rows='folds' splits the rows into n_ensemble={n_members} folds, "
            f"which needs at least {2 * n_members} rows; got {n}."
        )
    labels = y if stratify and y.ndim == 1 else None
    folds = np.empty(n, dtype=np.int64)
    if labels is not None and np.unique(labels, return_counts=True)[1].min() >= n_members:
        splitter = StratifiedKFold(n_members, shuffle=True, random_state=seed)
    else:  # a class rarer than the folds cannot be spread over them
        splitter = KFold(n_members, shuffle=True, random_state=seed)
    for m, (_, held_out) in enumerate(splitter.split(np.zeros(n), labels)):
        folds[held_out] = m
    return folds


def member_weights(sw: np.ndarray, folds: np.ndarray, n_members: int) -> np.ndarray:
    """Per-member sample weights ``(rows, members)``: ``sw``, 0 on a member's fold."""
    return sw[:, None] * (folds[:, None] != np.arange(n_members))


class MemberScorer:
    """The early-stopping score of cross-fitted members, and their best weights.

    Called after each epoch (in eval mode), it scores every member on its own fold
    (minus its weighted mean training loss there), keeps a copy of each member's
    weights at its best epoch, and returns the sum of the members' best scores so far
    (an internal signal, not a score to report):
    it rises while any member improves, so the loop's rule (``n_iter_no_change``
    epochs without a rise of ``tol``) stops training once none does. ``restore``
    then puts each member's best weights back.

    Parameters
    ----------
    trained : nn.Module
        The module trained: the input stage's trainable encoders, then the
        ``EnsembleMLP``.
    data : Data
        The training rows, encoded, with the per-member weights as ``w``.
    folds : ndarray of int
        Each row's fold.
    per_sample : callable
        The loss per row, ``per_sample(outputs, targets)``.
    oof_score : callable
        The task's score of the raw out-of-fold outputs: recorded each epoch in
        ``oof_scores`` (what ``validation_scores_`` then holds), not used to stop.
    """

    def __init__(self, trained, data: Data, folds: np.ndarray, per_sample, oof_score) -> None:
        self.trained, self.data, self.folds, self.per_sample = trained, data, folds, per_sample
        self.oof_score, self.oof_scores = oof_score, []
        self.ensemble = _ensemble(trained)
        k = self.ensemble.n_members
        # each row weighted as training weights it (the members' weights of a row add
        # up to k - 1 times its own)
        w = torch.ones_like(data.X[:, 0]) if data.w is None else data.w.sum(dim=1) / (k - 1)
        self.fold_index = torch.as_tensor(folds, device=data.X.device)
        self.row_weights = w
        self.fold_weights = torch.zeros(k, dtype=w.dtype, device=w.device).index_add_(
            0, self.fold_index, w
        )
        self.best = torch.full((k,), -torch.inf, dtype=torch.float64)
        self.best_epochs = [0] * k
        self.epoch = 0
        # the members' parameters: the ensemble's, and their own embeddings before it
        self.params = list(trained.parameters())
        self.best_weights = [p.detach().clone() for p in self.params]

    def __call__(self) -> float:
        self.epoch += 1
        z = held_out_outputs(self.trained, self.data.X, self.folds)
        self.oof_scores.append(float(self.oof_score(z)))
        weighted = self.per_sample(z, self.data.y) * self.row_weights
        k = self.ensemble.n_members
        sums = torch.zeros(k, dtype=weighted.dtype, device=weighted.device)
        scores = -(sums.index_add_(0, self.fold_index, weighted) / self.fold_weights)
        scores = scores.to(torch.float64).cpu()
        improved = scores > self.best
        for m in torch.nonzero(improved).flatten().tolist():
            self.best_epochs[m] = self.epoch
        _copy_members(self.params, self.best_weights, improved.numpy())
        self.best = torch.where(improved, scores, self.best)
        return float(self.best.sum())

    def restore(self) -> None:
        """Each member's weights of its best epoch (where it had one)."""
        had_best = np.array(self.best_epochs) > 0
        _copy_members(self.best_weights, self.params, had_best)


def held_out_outputs(trained, X: torch.Tensor, folds: np.ndarray) -> torch.Tensor:
    """Each row's raw output by the member that held it out, ``(rows, outputs)``: member
    ``m`` runs on its own fold's rows only (each row once, not once per member)."""
    ensemble, before = _ensemble(trained), _before_ensemble(trained)
    out = None
    for m in range(ensemble.n_members):
        rows = torch.as_tensor(np.flatnonzero(folds == m), device=X.device)
        x = X.index_select(0, rows)
        for layer in before:
            x = layer(x)
        z = ensemble.member(m, x)
        if out is None:
            out = z.new_empty((len(X), z.shape[1]))
        out[rows] = z
    return out


@torch.no_grad()
def out_of_fold(trained, data: Data, folds: np.ndarray) -> torch.Tensor:
    """Each row's raw output by the member that held it out: ``(rows, outputs)``."""
    trained.eval()
    return held_out_outputs(trained, data.X, folds)


def _ensemble(trained):
    """The ``EnsembleMLP`` at the end of the trained module."""
    return trained[-1] if isinstance(trained, torch.nn.Sequential) else trained


def _before_ensemble(trained) -> list:
    """The trainable input encoders the trained module runs before the ensemble."""
    return list(trained)[:-1] if isinstance(trained, torch.nn.Sequential) else []


def members_output(trained, x: torch.Tensor) -> torch.Tensor:
    """Every member's output on ``x``, ``(members, rows, outputs)``, through the
    trained module's encoders (each member's own embeddings) and the ensemble."""
    for layer in _before_ensemble(trained):
        x = layer(x)
    return _ensemble(trained).members(x)


def _member(p: torch.Tensor, m: int, k: int) -> torch.Tensor:
    """Member ``m``'s slice of a stacked parameter: ``(members, ...)`` weights, or
    the flat ``(members * width,)`` biases."""
    return p[m] if p.ndim > 1 else p.view(k, -1)[m]
