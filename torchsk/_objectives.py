"""Training objectives: the weighted mean loss of a batch and its gradients.

Two implementations with one interface, ``objective(X, y, w) -> loss`` that leaves the
gradients in each parameter's ``.grad``:

- ``AutogradObjective`` works for any backbone and any loss;
- ``ManualMLPObjective`` is a hand-written forward/backward for the built-in MLP
  (``relu``/``tanh``/``logistic``/``identity``, no dropout) with a loss whose gradient
  with respect to the outputs is known. On small networks it is several times faster:
  autograd's bookkeeping, not arithmetic, dominates a step there.

The L2 penalty is not part of either; the engine adds it to the gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._modules import MLP

# (outputs, targets) -> (per-sample loss, gradient of the per-sample loss wrt outputs)
OutputGrad = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

_FORWARD = {
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "logistic": torch.sigmoid_,
    "identity": lambda h: h,
}
# gradient through the activation, from the activation's *output*
_BACKWARD = {
    "relu": lambda g, h: torch.ops.aten.threshold_backward(g, h, 0),
    "tanh": torch.ops.aten.tanh_backward,
    "logistic": torch.ops.aten.sigmoid_backward,
    "identity": lambda g, h: g,
}


class AutogradObjective:
    """Weighted mean of ``loss_fn(forward(X), y)``, differentiated by autograd."""

    def __init__(self, forward, loss_fn, params: list[nn.Parameter]) -> None:
        self.forward = forward
        self.loss_fn = loss_fn
        self.params = params

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Return the detached loss; gradients are left in ``p.grad``."""
        for p in self.params:
            p.grad = None
        loss = (self.loss_fn(self.forward(X), y) * w).sum() / w.sum()
        loss.backward()
        return loss.detach()


class ManualMLPObjective:
    """Hand-written forward and backward pass of the built-in ``MLP``."""

    def __init__(self, mlp: MLP, output_grad: OutputGrad) -> None:
        self.linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
        self.forward_act = _FORWARD[mlp.activation]
        self.backward_act = _BACKWARD[mlp.activation]
        self.output_grad = output_grad
        for p in mlp.parameters():
            p.grad = torch.zeros_like(p)  # written in place at every step

    @staticmethod
    def supports(backbone: nn.Module, output_grad: OutputGrad | None) -> bool:
        """Whether ``backbone`` is a built-in MLP this objective can differentiate."""
        return (
            output_grad is not None
            and type(backbone) is MLP
            and backbone.activation in _FORWARD
            and not any(isinstance(m, nn.Dropout) for m in backbone.modules())
        )

    @torch.no_grad()
    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Return the weighted mean loss; gradients are written into ``p.grad``."""
        *hidden, last = self.linears
        acts, h = [X], X
        for layer in hidden:
            h = self.forward_act(torch.addmm(layer.bias, h, layer.weight.t()))
            acts.append(h)
        z = torch.addmm(last.bias, h, last.weight.t())
        per_sample, g = self.output_grad(z, y)
        wn = w / w.sum()
        g = g.mul_(wn[:, None])
        for j in range(len(self.linears) - 1, -1, -1):
            layer, a = self.linears[j], acts[j]
            torch.mm(g.t(), a, out=layer.weight.grad)
            torch.sum(g, 0, out=layer.bias.grad)
            if j:
                g = self.backward_act(torch.mm(g, layer.weight), a)
        return per_sample @ wn


def make_objective(backbone, loss_fn, output_grad: OutputGrad | None, params):
    """The fastest objective that computes exactly this backbone's loss gradients."""
    if ManualMLPObjective.supports(backbone, output_grad):
        return ManualMLPObjective(backbone, output_grad)
    return AutogradObjective(backbone, loss_fn, params)
