"""Members of one stacked network whose loss settings differ (a batched search over
``huber_delta``, ``quantile`` or ``label_smoothing``, ``estimators.search``).

The stacked passes compute every member's loss in one call, on the members' outputs
flattened member-major, ``(members * rows, outputs)``, against the targets repeated
once per member. ``PerMember`` keeps that call: it sends each member's rows through
the loss of its own settings, one call per distinct setting (a grid's few values,
not one per member), and puts the results back in the members' order. The losses
themselves stay the registry's (``training.losses``), written once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from torchsk.training.losses import LossFunctions, LossOptions


class PerMember:
    """One loss function (``per_sample`` or ``output_grad``) per member setting.

    Parameters
    ----------
    functions : list of callable
        The function of each distinct setting, ``fn(z, y)``.
    of_member : array-like of int, shape (members,)
        The index into ``functions`` of each member's setting.
    """

    def __init__(self, functions: list[Callable], of_member) -> None:
        self.functions = list(functions)
        self.of_member = np.asarray(of_member, dtype=np.intp)
        self._groups = [(f, np.flatnonzero(self.of_member == f))
                        for f in np.unique(self.of_member)]  # fmt: skip
        # no member at all: a stack whose members have all stopped (never called)
        order = np.concatenate([members for _, members in self._groups] or [np.zeros(0, int)])
        self._inverse = torch.as_tensor(np.argsort(order))  # back to the members' order

    def member(self, m: int) -> Callable:
        """Member ``m``'s function, for its outputs alone ``(rows, outputs)``."""
        return self.functions[self.of_member[m]]

    def subset(self, active) -> PerMember:
        """The function of the ``active`` members (a mask) alone, stacked as before."""
        return PerMember(self.functions, self.of_member[np.asarray(active, dtype=bool)])

    def __call__(self, z: torch.Tensor, y: torch.Tensor):
        """The members' results for ``z`` of shape ``(members * rows, outputs)``, as
        one function would return them (a tensor, or a tuple of tensors)."""
        k = len(self.of_member)
        rows = len(z) // k
        z3, y3 = z.reshape(k, rows, *z.shape[1:]), y.reshape(k, rows, *y.shape[1:])
        parts = []
        for f, members in self._groups:
            idx = torch.as_tensor(members, device=z.device)
            flat = (z3.index_select(0, idx).flatten(0, 1), y3.index_select(0, idx).flatten(0, 1))
            parts.append(self.functions[f](*flat))
        if len(parts) == 1:
            return parts[0]
        inverse = self._inverse.to(z.device)
        if isinstance(parts[0], tuple):  # (per-sample loss, output gradient)
            return tuple(_reorder([p[i] for p in parts], inverse, rows)
                         for i in range(len(parts[0])))  # fmt: skip
        return _reorder(parts, inverse, rows)


def _reorder(parts: list[torch.Tensor], inverse: torch.Tensor, rows: int) -> torch.Tensor:
    """Concatenate the groups' member-major results and restore the members' order."""
    whole = torch.cat(parts)
    stacked = whole.reshape(len(whole) // rows, rows, *whole.shape[1:])
    return stacked.index_select(0, inverse).flatten(0, 1)


def member_loss(make: Callable[[LossOptions], LossFunctions],
                options: tuple[LossOptions, ...]) -> LossFunctions:  # fmt: skip
    """The loss of members whose settings are ``options`` (one per member):
    ``make(options)``'s functions where they are all alike, else ``PerMember`` ones
    (an analytic output gradient only where every setting has one)."""
    distinct = list(dict.fromkeys(options))
    if len(distinct) == 1:
        return make(distinct[0])
    of_member = [distinct.index(o) for o in options]
    made = [make(o) for o in distinct]
    grads = [f.output_grad for f in made]
    return LossFunctions(
        PerMember([f.per_sample for f in made], of_member),
        None if any(g is None for g in grads) else PerMember(grads, of_member),
    )


def of_member(fn: Callable, m: int) -> Callable:
    """Member ``m``'s loss function: its own where members differ, else ``fn``."""
    return fn.member(m) if isinstance(fn, PerMember) else fn
