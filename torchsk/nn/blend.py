"""``BlendModule``: a weighted average of stacked networks' members, in one module.

What a batched search's selected ensemble (``estimators.selection.Blend``) predicts,
as a plain ``nn.Module``: each network keeps its own input stage, ``EnsembleMLP``
backbone, link, target scaling and head, and a buffer of one weight per member (0
for the members not selected). Saved, pickled and exported like any fitted
``module_``, without scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torchsk.nn.net import TabularNet


class _Weighted(nn.Module):
    """One network and its members' weights (a buffer, so ``state_dict`` holds it)."""

    def __init__(self, net: TabularNet, weights) -> None:
        super().__init__()
        self.net = net
        device = next(net.backbone.parameters()).device
        self.register_buffer(
            "weights", torch.as_tensor(weights, dtype=net.compute_dtype, device=device)
        )


class BlendModule(nn.Module):
    """Raw ``x`` → the weighted average of every network's members' outputs.

    The average is taken where the ensemble averages: on the members' predictions in
    the target's units (regression) or on their class probabilities (classification),
    not on logits. ``forward`` returns that average; ``head`` is then the identity
    (classifiers) or None (regressors), so that ``predict_proba(x) ==
    head(forward(x))`` holds as it does for ``TabularNet`` and code that tells a
    classifier's module by its head (``io.export.export_onnx``) needs no special case.

    Parameters
    ----------
    nets : sequence of TabularNet
        Fitted networks with an ``EnsembleMLP`` backbone, all taking the same raw input
        (the same columns; categorical columns coded alike).
    weights : sequence of array-like
        Per network, one weight per member (0: not selected); all of them sum to 1.
    classifier : bool
        Average class probabilities (through each network's head) instead of outputs.
    """

    def __init__(self, nets: Sequence[TabularNet], weights: Sequence, *, classifier: bool) -> None:
        super().__init__()
        if classifier and any(net.head is None for net in nets):
            raise ValueError("A classifier's blend needs networks with a probability head.")
        self.parts = nn.ModuleList(_Weighted(n, w) for n, w in zip(nets, weights, strict=True))
        self.head = nn.Identity() if classifier else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The weighted average: predictions in the target's units, or probabilities."""
        total = 0.0
        for part in self.parts:
            net, weights = part.net, part.weights.view(-1, 1, 1)
            # every member's output, as one network's forward gives it: (members, rows, out)
            z = net.from_raw(net.backbone.members(net.inputs(x, net.compute_dtype)))
            if self.head is not None:  # the head takes (rows, logits): all members' rows
                z = net.head(z.reshape(-1, z.shape[-1])).reshape(z.shape[0], z.shape[1], -1)
            # an unselected member weighs nothing even where its output is not finite
            # (a candidate that diverged): 0 * inf would be NaN
            total = total + (weights * torch.where(weights > 0, z, 0.0)).sum(dim=0)
        return total

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """The averaged class probabilities (classifiers only)."""
        if self.head is None:
            raise AttributeError("This network has no probability head.")
        return self.head(self(x))
