"""Members of an ``EnsembleMLP`` with rows of their own, trained side by side.

Cross-fitted members (``member_rows="folds"``, ``training.folds``) and a batched
search's candidates crossed with its folds (``MemberRows``, given by the caller) share
every mini-batch of one stacked network (the hand-written passes); a member's rows are
its column of per-member sample weights ``(rows, members)``, which the objectives read
(``training.objectives``). ``MemberGuard`` makes each member stop on its own, as a
separate fit on its rows would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from torchsk.training.batches import Data
from torchsk.training.member_losses import of_member
from torchsk.training.member_outputs import held_out_outputs, members_output


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
        its score there (R², accuracy) and keeps the weights of its best epoch.
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
    split : tuple of ndarray, optional
        With ``validation``, where every member holds out the same rows (one split's
        network, a refit): the rows that the members train on, in the order a separate
        fit's early-stopping split gives them, and the rows they hold out
        (``train_test_split``'s two parts). The network then trains on the first
        alone, in that order, so that its mini-batches are a separate fit's
        (``training.member_setup.split_off``).
    """

    train: np.ndarray
    alpha: tuple
    learning_rate_init: tuple
    validation: np.ndarray | None = None
    init_seeds: tuple | None = None
    dropout: tuple | None = None
    loss_options: tuple | None = None
    separate_fits: bool = False
    split: tuple | None = None

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
    """Each member with rows of its own (cross-fitted members, a batched search's
    candidates: ``MemberRows``) stops on its own, as a separate fit would.

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
        judged by its score there instead, and ``finish`` gives it back the weights of
        its best epoch.
    member_scores : MemberScores, optional
        With ``validation``: each member's score (R², accuracy) on its early-stopping
        rows, as a separate fit scores its validation split
        (``training.member_scores``).
    folds : ndarray of int, optional
        With ``validation``, when each row is the early-stopping row of one member
        only (cross-fitted members: its fold's): that member, which alone then runs
        on it (not every member on every row).
    oof_score : callable, optional
        With ``folds``: scores each epoch's held-out outputs of all rows (the
        out-of-fold score), kept in ``oof_scores``.
    scored_X : torch.Tensor, optional
        The encoded rows that ``validation`` weighs, where they are not training
        rows (a split network's early-stopping rows, ``MemberRows.split``);
        ``data.X`` otherwise.

    Without ``validation``, a member that broke or whose loss rose ends, as a separate
    fit does (``training.lowest``), at the weights of the lowest training loss (with
    its penalty, measured in ``finish``) among those that began and ended its
    lowest-loss epoch and its last finite ones (before a divergence they may predict
    1e50): a search's members are scored as its fits.
    """

    def __init__(self, module, data: Data, per_sample, settings, validation=None,
                 member_scores=None, folds=None, oof_score=None,
                 scored_X=None) -> None:  # fmt: skip
        self.module, self.data, self.per_sample = module, data, per_sample
        self.scored_X = data.X if scored_X is None else scored_X
        self.tol, self.patience = settings.tol, settings.n_iter_no_change
        self.train_weights = data.w.clone()  # zeroed in data.w as members retire
        # the rows each member is judged on: its own training rows, or its held-out ones
        self.weights = self.train_weights if validation is None else validation
        self.keeps_best = validation is not None
        # only the rows some member is judged on (early-stopping rows: a small share)
        self.scored_rows = torch.nonzero(self.weights.sum(1) > 0).flatten()
        self.train_rows = torch.nonzero(self.train_weights.sum(1) > 0).flatten()
        self.member_scores = member_scores
        self.bad_outputs = np.zeros(validation.shape[1] if validation is not None else 0, bool)
        self.folds, self.oof_score, self.oof_scores = folds, oof_score, []
        if folds is not None:  # each member's own early-stopping rows
            device = data.X.device
            self.fold_rows = [
                torch.as_tensor(np.flatnonzero(folds == m), device=device)
                for m in range(validation.shape[1])
            ]
        self.best_weights = [p.detach().clone() for p in module.parameters()]
        # without validation: the weights that began the lowest-loss epoch, where
        # best_weights are those that ended it (an epoch of several batches)
        self.lowest_start = None if self.keeps_best else [p.clone() for p in self.best_weights]
        self.two_ends = False
        # a retired member's weights: its zero-weight rows stop its gradient, not
        # adamw's decoupled decay, so ``finish`` puts them back
        self.kept = [p.detach().clone() for p in module.parameters()]
        k = self.weights.shape[1]
        self.retired = np.zeros(k, dtype=bool)
        self.broke = np.zeros(k, dtype=bool)  # members that had a non-finite loss
        self.rose = np.zeros(k, dtype=bool)  # members that stopped on a risen loss
        self.best = np.full(k, np.inf)
        self.lowest = np.full(k, np.inf)  # each member's lowest training loss
        self.count = np.zeros(k, dtype=np.int64)
        self.best_epochs = np.zeros(k, dtype=np.int64)
        self.epoch = 0

    @property
    def done(self) -> bool:
        """Every member is retired."""
        return bool(self.retired.all())

    def after_epoch(self, last_good: dict, optimizer, epoch_losses=None, penalties=None,
                    one_step: bool = False, start: dict | None = None) -> float:  # fmt: skip
        """Retire the members that broke or converged; returns the training loss of
        the epoch to log: the mean over the members that trained to a finite loss in
        it, times the member count (the units of the loop's loss, a sum over the
        members), NaN where none did. ``epoch_losses``: each member's mean batch loss
        over the epoch (the hand-written passes keep them), which judges it where it
        has no early-stopping rows (else a pass over its rows does). ``penalties``:
        each member's, added to a training loss (not to an early-stopping loss), as a
        separate fit's epoch loss has it. A member that converged with its loss risen
        well above its lowest is marked (``rose``) for ``finish`` to measure, as a
        separate fit does; with ``one_step`` (one batch an epoch), an epoch loss is
        that of the epoch's first weights. A member whose training loss was not
        finite gets ``start`` back (the weights that began the last finite epoch: a
        separate fit's rule, ``training.loop``, since ``last_good``, this epoch's first
        weights, may be what overflowed at once); one whose weights or outputs alone
        broke at the epoch's end gets ``last_good``."""
        self.epoch += 1
        train = self._training_losses(epoch_losses, penalties)
        losses = self._losses() if self.keeps_best else train
        active = ~self.retired
        # a score that cannot judge (its rows weigh 0) is not a divergence
        failed = ~np.isfinite(train) | self._non_finite()
        broken = active & (
            failed | (self.bad_outputs if self.keeps_best else ~np.isfinite(losses))
        )
        if broken.any():
            lost = broken & ~np.isfinite(train)
            self._restore(broken & ~lost, last_good)
            self._restore(lost, last_good if start is None else start)
            self.broke |= broken
        judged = active & ~broken
        if self.oof_score is not None and judged.any():  # an epoch logged: its score
            self.oof_scores.append(float(self.oof_score(self._held_out(broken.any()))))
        # as a separate fit counts (``Stopping.update``): the count starts again on
        # beating the best by ``tol``, the best follows every lower loss; without a
        # score, the training loss counts, and the epoch is never the best
        scored = np.isfinite(losses)
        improved = np.where(
            scored, losses <= self.best - self.tol, train <= self.lowest - self.tol
        )
        self.lowest = np.where(judged, np.minimum(self.lowest, train), self.lowest)
        self.count = np.where(judged & improved, 0, self.count + 1)
        lower = judged & scored & (losses < self.best)
        self.best = np.where(lower, losses, self.best)
        if lower.any():
            self.best_epochs[lower] = self.epoch
            batches = one_step and epoch_losses is not None and not self.keeps_best
            named = list(self.module.named_parameters())
            started = [last_good[n] for n, _ in named]
            _copy_members(started if batches else [p for _, p in named], self.best_weights, lower)
            self.two_ends = not (self.keeps_best or batches or epoch_losses is None)
            if self.two_ends:  # an epoch of several batches: its mean is of neither end
                _copy_members(started, self.lowest_start, lower)
        converged = judged & (self.count > self.patience)
        if not self.keeps_best:  # a loss that rose instead of levelling off: its lowest
            with np.errstate(invalid="ignore"):  # inf - inf: a retired member's
                rise = losses - self.best
            self.rose |= converged & (rise > np.maximum(self.tol, 0.1 * abs(self.best)))
        self._retire(broken | converged, optimizer)
        return float(train[judged].mean()) * len(judged) if judged.any() else math.nan

    def _training_losses(self, epoch_losses, penalties) -> np.ndarray:
        """Each member's training loss of the epoch (its batches' mean, or a pass over
        its training rows), plus its penalty; inf for a retired member."""
        if epoch_losses is None:
            epoch_losses = self._pass_losses(self.train_weights, self.train_rows)
        losses = np.where(self.retired, np.inf, epoch_losses)
        return losses if penalties is None else losses + penalties

    def per_row_penalties(self, penalty, batches: int) -> np.ndarray:
        """Each member's penalty as a separate fit adds it to its epoch loss: once per
        batch, over the weight of its rows (``training.loop._epoch``)."""
        k = len(self.retired)
        totals = self.train_weights.sum(0).to(torch.float64).cpu().numpy()
        if not penalty.weights:
            return np.zeros(k)
        return penalty.member_terms(k) * batches / np.where(totals > 0, totals, np.inf)

    def finish(self, penalty, batches: int) -> None:
        """The training weights back in place (for what reads them after training);
        with early-stopping rows, each member back at its best epoch's weights; without,
        each that broke or rose at its measured lowest (``_lowest_measured``, with
        ``penalty`` once for each of an epoch's ``batches``)."""
        self.data.w.copy_(self.train_weights)
        params = list(self.module.parameters())
        best = self.best_epochs > 0 if self.keeps_best else np.zeros_like(self.retired)
        _copy_members(self.kept, params, self.retired & ~best)
        _copy_members(self.best_weights, params, best)
        if not self.keeps_best:
            lowest = (self.broke | self.rose) & (self.best_epochs > 0)
            self._lowest_measured(params, lowest, penalty, batches)

    def _lowest_measured(self, params: list, members: np.ndarray, penalty, batches) -> None:
        """Give each of ``members`` the weights of its lowest training loss with its
        penalty (``training.lowest``'s measure, its rows' weighted mean and the penalty
        of each batch) among its lowest epoch's and its kept ones; non-finite last."""
        if not members.any():
            return
        ends = [self.best_weights] if not self.two_ends else [self.lowest_start, self.best_weights]
        candidates, losses = [*ends, self.kept], []
        for weights in candidates:
            _copy_members(weights, params, members)
            loss = self._pass_losses(self.train_weights, self.train_rows, members)
            loss = loss + self.per_row_penalties(penalty, batches)
            losses.append(np.where(np.isfinite(loss), loss, np.inf))
        choice = np.argmin(np.stack(losses), axis=0)  # the first among equals
        for i, weights in enumerate(candidates):
            _copy_members(weights, params, members & (choice == i))

    def _losses(self) -> np.ndarray:
        """Each member's early-stopping loss: minus its score (R², accuracy) on its
        early-stopping rows. A separate fit stops on that score (``Stopping.update``),
        and negated, the rules of ``after_epoch`` count it as that fit does."""
        return -self._scores()

    @torch.no_grad()
    def _pass_losses(self, weights: torch.Tensor, rows: torch.Tensor, members=None) -> np.ndarray:
        """Each member's mean loss over ``rows`` weighted by its column of ``weights``:
        the members still training, or ``members`` (a mask; the others' are 0)."""
        self.module.eval()
        X, y, w = self.data.X[rows], self.data.y[rows], weights[rows]
        totals = torch.zeros(w.shape[1], dtype=torch.float64, device=X.device)
        for i in range(0, len(X), _LOSS_ROWS):
            z = members_output(self.module, X[i : i + _LOSS_ROWS])
            for m in np.flatnonzero(~self.retired if members is None else members):
                per_sample = of_member(self.per_sample, m)
                per_row = per_sample(z[m], y[i : i + _LOSS_ROWS]).to(torch.float64)
                wm = w[i : i + _LOSS_ROWS, m]  # a row it skips (0) counts 0, even if inf
                totals[m] += (torch.where(wm > 0, per_row, 0.0) * wm).sum()
        self.module.train()
        return (totals / w.sum(0).to(torch.float64)).cpu().numpy()

    @torch.no_grad()
    def _scores(self) -> np.ndarray:
        """Each member's score on its early-stopping rows (``member_scores``; NaN,
        and ``bad_outputs``, for non-finite outputs); with ``folds``, each member runs
        on its own fold only."""
        self.module.eval()
        scores, k = self.member_scores, len(self.retired)
        self.bad_outputs = np.zeros(k, dtype=bool)
        if self.folds is not None:
            z = self.held_out = held_out_outputs(self.module, self.data.X, self.folds)
            for m in np.flatnonzero(~self.retired):
                rows = self.fold_rows[m]
                self.bad_outputs[m] = not bool(torch.isfinite(z[rows]).all())
                scores.add([m], z[rows][None], rows)
        else:
            rows, X = self.scored_rows, self.scored_X
            for i in range(0, len(rows), _LOSS_ROWS):
                z = members_output(self.module, X[rows[i : i + _LOSS_ROWS]])
                self.bad_outputs |= ~torch.isfinite(z).flatten(1).all(1).cpu().numpy()
                scores.add(slice(None), z, rows[i : i + _LOSS_ROWS])
        self.module.train()
        return np.where(self.bad_outputs, np.nan, scores.take())

    @torch.no_grad()
    def _held_out(self, restored: bool) -> torch.Tensor:
        """The out-of-fold outputs of the members' current weights: the epoch's, or
        anew where broken members were just restored."""
        if restored:
            self.module.eval()
            self.held_out = held_out_outputs(self.module, self.data.X, self.folds)
            self.module.train()
        return self.held_out

    def _non_finite(self) -> np.ndarray:
        """Which members have a non-finite weight (one device read for all)."""
        k = len(self.retired)
        finite = [
            _stacked(p.detach(), k).isfinite().flatten(1).all(1) for p in self.module.parameters()
        ]
        return ~torch.stack(finite).all(0).cpu().numpy()

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
    """Copy ``members``' slices (``_stacked``) of stacked parameters ``source`` into
    ``target``; ``members`` is a boolean mask over all of them. One indexed copy per
    parameter (called after every epoch: a copy per member and parameter was a tenth
    of a small stack's fit)."""
    if not members.any():
        return
    k, index = len(members), torch.as_tensor(np.flatnonzero(members))
    for src, dst in zip(source, target, strict=True):
        src, dst = _stacked(src.detach(), k), _stacked(dst.detach(), k)
        if len(index) == k:
            dst.copy_(src)
        else:
            dst[index.to(dst.device)] = src[index.to(src.device)]


def _clear_state(optimizer, params: list, members: np.ndarray) -> None:
    """Zero ``members``' entries of the optimizer's state (Adam's moments, SGD's
    momentum) over the trained ``params``: with no gradient they then take no step."""
    inner = getattr(optimizer, "inner", optimizer)  # under MemberRates
    index = member_index(params, len(members))
    mask = torch.as_tensor(members)[index]
    for state in inner.moments():
        state[mask.to(state.device)] = 0.0


def _stacked(p: torch.Tensor, k: int) -> torch.Tensor:
    """A stacked parameter with the members first: ``(members, ...)`` weights as
    they are, the flat ``(members * width,)`` biases as ``(members, width)``."""
    return p if p.ndim > 1 else p.view(k, -1)
