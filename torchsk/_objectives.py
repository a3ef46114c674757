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
import torch.nn.functional as F
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

    needs_autograd = True

    def __init__(self, forward, loss_fn, params: list[nn.Parameter]) -> None:
        self.forward = forward
        self.loss_fn = loss_fn
        self.params = params

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """Return the detached loss; gradients are left in ``p.grad``.

        Existing ``.grad`` tensors are zeroed in place, not replaced, because autograd
        then accumulates into them: they stay views of the engine's flat gradient.
        """
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            torch._foreach_zero_(grads)
        per_sample = self.loss_fn(self.forward(X), y)
        loss = per_sample.mean() if w is None else (per_sample * w).sum() / w.sum()
        loss.backward()
        return loss.detach()


class ManualMLPObjective:
    """Hand-written forward and backward pass of the built-in ``MLP``.

    Call it with autograd disabled (the engine does, once per fit rather than once per
    call: a ``no_grad`` context per call costs a third of a small network's step).
    """

    needs_autograd = False

    def __init__(self, mlp: MLP, output_grad: OutputGrad) -> None:
        linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
        # the Parameter objects, not module attribute look-ups, on the hot path
        self.weights = [m.weight for m in linears]
        self.biases = [m.bias for m in linears]
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

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """Return the weighted mean loss; gradients are written into ``p.grad``."""
        weights, biases = self.weights, self.biases
        acts, h = [X], X
        for W, b in zip(weights[:-1], biases[:-1], strict=True):
            # F.linear transposes W in C++: no Python-level .t() view per layer
            h = self.forward_act(F.linear(h, W, b))
            acts.append(h)
        z = F.linear(h, weights[-1], biases[-1])
        per_sample, g = self.output_grad(z, y)
        if w is None:
            g, loss = g.mul_(1.0 / len(X)), per_sample.mean()
        else:
            wn = w / w.sum()
            g, loss = g.mul_(wn[:, None]), per_sample @ wn
        for j in range(len(weights) - 1, -1, -1):
            torch.mm(g.t(), acts[j], out=weights[j].grad)
            torch.sum(g, 0, out=biases[j].grad)
            if j:
                g = self.backward_act(torch.mm(g, weights[j]), acts[j])
        return loss


def make_objective(backbone, loss_fn, output_grad: OutputGrad | None, params):
    """The fastest objective that computes exactly this backbone's loss gradients."""
    if ManualMLPObjective.supports(backbone, output_grad):
        return ManualMLPObjective(backbone, output_grad)
    return AutogradObjective(backbone, loss_fn, params)
