"""One training step: objective → penalty → optimizer, the seam a plan chooses from.

``Step`` computes a batch's loss and gradients (``training.objectives``), adds the L2
penalty's gradient, and has the optimizer update the one flat parameter tensor
(``training.optim``). ``training.graphs.GraphedSteps`` replays the same three as a CUDA
graph where the plan says it pays. A distributed step would all-reduce the flat
gradient between the penalty and the update: one call, the parameters being one tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from torchsk.training.members import member_index
from torchsk.training.optim import FlatOptimizer


class Penalty:
    """scikit-learn's L2 penalty ``0.5 * alpha * ||W||² / n`` on the weight matrices.

    Added to the gradients after the objective rather than put in the autograd graph:
    one fused call per step instead of a few ops per matrix, forward and backward.
    A weight of k counts as k samples, so ``n`` is the batch's weight total.

    ``member_alpha``: one ``alpha`` per member of an ``EnsembleMLP`` whose members
    have rows of their own (a batched search's candidates, ``estimators.search``);
    ``alpha`` is then only the penalty's on/off switch and their mean (reports).
    """

    def __init__(self, params: list[nn.Parameter], alpha: float,
                 member_alpha: tuple[float, ...] | None = None) -> None:  # fmt: skip
        self.alpha = alpha if member_alpha is None else sum(member_alpha) / len(member_alpha)
        self.member_alpha = (
            None if member_alpha is None else torch.tensor(member_alpha, dtype=torch.float64)
        )  # float64: a float32 0.1 is off by 1.5e-8, and so would be the penalty
        penalized = [p for p in params if p.ndim >= 2] if self.alpha else []
        # detached views (made after flattening) keep autograd out of the update
        self.weights = [p.detach() for p in penalized]
        self.grads = [p.grad for p in penalized]

    def add_grad(self, total_weight: float) -> None:
        if self.member_alpha is not None:  # every member on every row of the batch
            self.add_member_grad(self._equal_totals(total_weight))
        elif self.weights:
            torch._foreach_add_(self.grads, self.weights, alpha=self.alpha / total_weight)

    def _equal_totals(self, total_weight: float) -> torch.Tensor:
        return torch.full((len(self.member_alpha),), float(total_weight), dtype=torch.float64)

    def _factors(self, totals: torch.Tensor) -> torch.Tensor:
        """Each member's ``alpha / total``, 0 where the member has no rows in the
        batch (it learns nothing from it, not even its penalty's pull)."""
        inverse = torch.where(totals > 0, 1.0 / totals, torch.zeros_like(totals))
        alpha = self.alpha if self.member_alpha is None else self.member_alpha.to(totals)
        return alpha * inverse

    def add_member_grad(self, totals: torch.Tensor) -> None:
        """``add_grad`` for members with rows of their own (``training.members``):
        each member's stacked weights ``(members, in, out)`` by its own batch weight
        ``totals[m]`` (and its own ``alpha``)."""
        if not self.weights:
            return
        factors = self._factors(totals)
        for p, g in zip(self.weights, self.grads, strict=True):
            if p.ndim == 3 and p.shape[0] == len(totals):
                g.add_(p * factors.to(p.dtype).view(-1, 1, 1))
            else:  # a matrix the members share: by their mean weight
                g.add_(p, alpha=self.alpha / float(totals.mean()))

    def value(self, total_weight: float) -> float:
        if self.member_alpha is not None:
            return self.member_value(self._equal_totals(total_weight))
        if not self.weights:
            return 0.0
        squares = sum(float(p.pow(2).sum()) for p in self.weights)
        return 0.5 * self.alpha * squares / total_weight

    def member_terms(self, k: int) -> np.ndarray:
        """Each of ``k`` members' ``0.5 * alpha * ||W||²`` (its own ``alpha``), not yet
        divided by a weight: what a separate fit adds to its epoch loss per batch."""
        terms = np.zeros(k)
        alpha = np.full(k, self.alpha) if self.member_alpha is None else self.member_alpha.numpy()
        for p in self.weights:
            if p.ndim == 3 and p.shape[0] == k:  # the members' stacked weights
                terms += p.detach().to(torch.float64).pow(2).flatten(1).sum(1).cpu().numpy()
        return 0.5 * alpha * terms

    def member_value(self, totals: torch.Tensor) -> float:
        """``value`` for members with rows of their own: the sum of each member's
        penalty by its own total weight, as ``add_member_grad`` differentiates it."""
        if not self.weights:
            return 0.0
        factors = self._factors(totals).to(torch.float64)
        value = 0.0
        for p in self.weights:
            squares = p.to(torch.float64).pow(2)
            if p.ndim == 3 and p.shape[0] == len(totals):
                value += float((squares.flatten(1).sum(1) * factors).sum())
            else:
                value += self.alpha * float(squares.sum()) / float(totals.mean())
        return 0.5 * value


class Step:
    """One mini-batch step of ``objective``, ``penalty`` and ``optimizer``.

    Parameters
    ----------
    objective : callable
        ``objective(X, y, w)`` → the batch's weighted mean loss, leaving the gradients
        in ``.grad``.
    penalty : Penalty
    optimizer : FlatOptimizer
    """

    def __init__(self, objective: Callable, penalty: Penalty, optimizer: FlatOptimizer,
                 params: list[nn.Parameter] = ()) -> None:  # fmt: skip
        self.objective, self.penalty, self.optimizer = objective, penalty, optimizer
        self.params = list(params)  # flattened into optimizer.flat, in this order
        self._member_of = None  # each flat entry's member (members with rows of their own)

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None,
                 total_weight: float, idle=None) -> torch.Tensor:  # fmt: skip
        """Train on one batch of weight ``total_weight``; returns its loss (a tensor:
        reading it would wait for the device). ``idle``: the members with no row of
        weight in the batch (``batches.idle_members``), whose weights and optimizer
        state the step leaves as they were, as their separate fits take no step."""
        loss = self.objective(X, y, w)
        if w is not None and w.ndim == 2:  # members with rows of their own
            self.penalty.add_member_grad(w.sum(0))
        else:
            self.penalty.add_grad(total_weight)
        if idle is None:
            self.optimizer.step()
        else:
            if self._member_of is None:
                self._member_of = member_index(self.params, len(idle)).to(idle.device)
            self.optimizer.step_except(idle[self._member_of])
        return loss
