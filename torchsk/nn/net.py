"""``TabularNet``: input stage (``inputs.stage``) → backbone → output end.

The output end is a link and target scaling (regression) or a probability head
(classification). Plain PyTorch: a trained network is saved, exported and used
without scikit-learn.
"""

from __future__ import annotations

import torch
from torch import nn

from torchsk.inputs.scaling import Scaling
from torchsk.inputs.stage import InputStage


class TabularNet(nn.Module):
    """Input stage → backbone → output end, in one module.

    Called on raw ``X`` it returns predictions in the target's units (regression) or
    logits (classification). ``raw_output`` is what training sees: the backbone's
    output before the link and target scaling.

    Parameters
    ----------
    inputs : InputStage
        The encoders from raw inputs to the backbone's input (scaling, ...).
    backbone : nn.Module
        Maps the encoded inputs to ``n_outputs`` raw outputs.
    link : nn.Module, default=None
        Output link (``exp`` for Poisson, ...); identity when None.
    target_scaling : Scaling, default=None
        Maps the linked output back to the target's units; identity when None.
    head : nn.Module, default=None
        Turns logits into probabilities (softmax, sigmoid, ...); classifiers only.

    Attributes
    ----------
    fixed_parameters : frozenset of str
        Names of the parameters that did not require gradients when the network was
        assembled (layers a user's backbone froze): no fit trains them.

    A fitted network is frozen (``freeze``): in eval mode, no parameter requiring
    gradients, so calling it builds no autograd graph. A fit unfreezes it for its
    duration (``unfreeze``); to train it in your own loop, call
    ``net.train().requires_grad_()``.
    """

    def __init__(
        self,
        inputs: InputStage,
        backbone: nn.Module,
        *,
        link: nn.Module | None = None,
        target_scaling: Scaling | None = None,
        head: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.backbone = backbone
        self.link = link if link is not None else nn.Identity()
        self.target_scaling = target_scaling
        self.head = head
        self.fixed_parameters = frozenset(
            name for name, p in self.named_parameters() if not p.requires_grad
        )

    def unfreeze(self) -> TabularNet:
        """Train mode, and gradients for every parameter but ``fixed_parameters``:
        the state a fit trains in."""
        fixed = getattr(self, "fixed_parameters", frozenset())  # older pickles lack it
        for name, p in self.named_parameters():
            p.requires_grad_(name not in fixed)
        return self.train()

    def freeze(self) -> TabularNet:
        """Eval mode, no parameter requiring gradients: the fitted network as users
        get it (after ``fit`` and after loading)."""
        self.requires_grad_(False)
        return self.eval()

    @property
    def compute_dtype(self) -> torch.dtype:
        """The backbone's dtype (float64 for small CPU problems, else float32)."""
        return next(self.backbone.parameters()).dtype

    def raw_output(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone output on raw ``x``: logits, or the target in scaled units."""
        # The input stage's constants stay float64 and x is encoded before it is rounded
        # to the backbone's dtype: a raw feature far from zero (a timestamp, an ID, a
        # price in cents) would otherwise lose its low digits in float32.
        return self.backbone(self.inputs(x, self.compute_dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions in the target's units (regression) or logits (classification)."""
        return self.from_raw(self.raw_output(x))

    def from_raw(self, z: torch.Tensor) -> torch.Tensor:
        """``forward``'s result from the backbone's output ``z`` (link, target scaling)."""
        z = self.link(z)
        return z if self.target_scaling is None else self.target_scaling.inverse(z)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities through the head (classifiers only)."""
        if self.head is None:
            raise AttributeError("This network has no probability head.")
        return self.head(self.forward(x))
