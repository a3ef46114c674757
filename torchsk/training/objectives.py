"""Training objectives: the weighted mean loss of a batch and its gradients.

Several implementations with one interface, ``objective(X, y, w) -> loss`` that leaves
the gradients in each parameter's ``.grad``:

- ``AutogradObjective`` works for any backbone and any loss;
- ``ManualMLPObjective`` is a hand-written forward/backward for the built-in MLP
  (``relu``/``tanh``/``logistic``/``identity``, no dropout) with a loss whose gradient
  with respect to the outputs is known. On small networks it is several times faster:
  autograd's bookkeeping, not arithmetic, dominates a step there;
- ``NumpyMLPObjective`` is the same pass in numpy, for float64 networks on the CPU
  (the small problems, see ``training.plan.FLOAT64_FLOP_LIMIT``), where even a torch call's
  dispatch costs more than the arithmetic;
- the stacked members of ``EnsembleMLP`` have both passes in ``training.stacked``;
  ``training.passes`` says which class a backbone's passes are.

The L2 penalty is not part of any of them; the engine adds it to the gradients.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit
from torch import nn

from torchsk.nn.mlp import IN_PLACE_ACTIVATIONS, MLP
from torchsk.training.losses import OutputGrad
from torchsk.training.sparse import FoldedRows

# the gradient through the activation, from its output ``h``, written over the incoming
# gradient ``g`` (the passes' own array). A stack's (members, rows, width) arrays are large
# enough for torch's vectorized kernels to beat numpy's by 2-3x (relu's on 8 x 64 x 100:
# 23 µs against 39 µs), so the stacked numpy pass calls these too, on the same memory.
BACKWARD = {
    "relu": lambda g, h: torch.ops.aten.threshold_backward.grad_input(g, h, 0, grad_input=g),
    "tanh": lambda g, h: torch.ops.aten.tanh_backward.grad_input(g, h, grad_input=g),
    "logistic": lambda g, h: torch.ops.aten.sigmoid_backward.grad_input(g, h, grad_input=g),
    "identity": lambda g, h: g,
}


# the activations the hand-written passes differentiate (``training.plan`` reads it)
MANUAL_ACTIVATIONS = tuple(BACKWARD)


# the same in numpy, in place on numpy arrays
NUMPY_FORWARD = {
    "relu": lambda h: np.maximum(h, 0.0, out=h),
    "tanh": lambda h: np.tanh(h, out=h),
    "logistic": lambda h: expit(h, out=h),
    "identity": lambda h: h,
}


_NUMPY_BACKWARD = {
    "relu": lambda g, h: np.multiply(g, h > 0, out=g),
    "tanh": lambda g, h: np.multiply(g, 1.0 - h * h, out=g),
    "logistic": lambda g, h: np.multiply(g, h * (1.0 - h), out=g),
    "identity": lambda g, h: g,
}


def quiet_numpy(kind: str):
    """The context a fit's objective of ``kind`` runs in: for the numpy pass, without
    numpy's overflow and invalid-value warnings.

    A pass that overflows gives a non-finite loss, which the engine reports as a
    diverged fit, with what to change (a ``ConvergenceWarning``), as it reports the
    torch passes (which warn of nothing); numpy's ``RuntimeWarning`` would only add
    noise that names no cause. Entered once per fit, not per call: an ``errstate`` per
    call cost 5% of a small L-BFGS fit (the penguins case).
    """
    if kind == "numpy":
        return np.errstate(over="ignore", invalid="ignore")
    return contextlib.nullcontext()


class MemberLossSums:
    """Each member's weighted loss sum and weight over the batches since the last
    ``take_member_losses`` (members with rows of their own), kept on the device: what
    ``training.members.MemberGuard`` judges a member's epoch by, as a separate fit
    averages its batch losses."""

    member_sums = None

    def _add_member_sums(self, losses: torch.Tensor, weights: torch.Tensor) -> None:
        sums = torch.stack([losses.detach(), weights]).to(torch.float64)
        self.member_sums = sums if self.member_sums is None else self.member_sums + sums

    def take_member_losses(self) -> np.ndarray | None:
        """Each member's weighted mean loss over the batches since the last call, then
        start again (one device read an epoch); None before any such batch."""
        if self.member_sums is None:
            return None
        sums, weights = self.member_sums.cpu().numpy()
        self.member_sums = None
        return sums / np.where(weights > 0, weights, np.nan)


class AutogradObjective(MemberLossSums):
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
        keep = self._add_member_sums if w is not None and w.ndim == 2 else None
        loss = _weighted_loss(self.loss_fn, self.forward(X), y, w, keep)
        loss.backward()
        return loss.detach()


def _weighted_loss(loss_fn, z: torch.Tensor, y: torch.Tensor, w, keep=None) -> torch.Tensor:
    """The weighted mean loss of outputs ``z``; an ensemble's ``(members, rows,
    outputs)`` gets the sum of its members' weighted mean losses (``EnsembleMLP``),
    each over its own rows where ``w`` has a column per member (``training.members``).

    The sum, not the mean: each member then gets the gradient it would get alone, and
    its L2 penalty the same weight, so that SGD's and L-BFGS's steps (which, unlike
    Adam's, scale with the gradient) are a lone network's. ``keep(sums, totals)``
    receives each member's weighted loss sum and weight where ``w`` has a column per
    member.
    """
    if z.ndim < 3:
        per_sample = loss_fn(z, y)
        return per_sample.mean() if w is None else (per_sample * w).sum() / w.sum()
    k = z.shape[0]
    repeated = y.repeat(k, *([1] * (y.ndim - 1)))
    per_member = loss_fn(z.flatten(0, 1), repeated).view(k, -1)
    if w is None:
        return per_member.mean(dim=1).sum()
    w = w.T if w.ndim == 2 else w.expand(k, -1)
    sums = (per_member * w).sum(dim=1)
    if keep is not None:
        keep(sums, w.sum(dim=1))
    return (sums / member_totals(w)).sum()


def member_totals(w):
    """Each member's total weight in a batch, 1 where a member has none there (its
    held-out fold's rows only: its loss and gradient are then 0, not 0 / 0; a floor
    such as 1e-300 would round to 0 in float32)."""
    totals = w.sum(-1)
    if isinstance(totals, torch.Tensor):
        return torch.where(totals > 0, totals, torch.ones_like(totals))
    return np.where(totals > 0, totals, 1.0)


class ManualMLPObjective:
    """Hand-written forward and backward pass of the built-in ``MLP``.

    Call it with autograd disabled (the engine does, once per fit rather than once per
    call: a ``no_grad`` context per call costs a third of a small network's step).
    """

    needs_autograd = False

    def __init__(self, mlp: MLP, output_grad: OutputGrad) -> None:
        # the Parameter objects, not module attribute look-ups, on the hot path
        self.weights = [m.weight for m in mlp.linears()]
        self.biases = [m.bias for m in mlp.linears()]
        self.forward_act = IN_PLACE_ACTIVATIONS[mlp.activation]
        self.backward_act = BACKWARD[mlp.activation]
        self.output_grad = output_grad
        for p in mlp.parameters():
            p.grad = torch.zeros_like(p)  # written in place at every step

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """Return the weighted mean loss; gradients are written into ``p.grad``."""
        weights, biases = self.weights, self.biases
        acts, h = [X], X
        for W, b in zip(weights[:-1], biases[:-1], strict=True):
            # F.linear transposes W in C++: no Python-level .t() view per layer
            h = self.forward_act(_linear(h, W, b))
            acts.append(h)
        z = _linear(h, weights[-1], biases[-1])
        per_sample, g = self.output_grad(z, y)
        if w is None:
            g, loss = g.mul_(1.0 / len(X)), per_sample.mean()
        else:
            wn = w / w.sum()
            g, loss = g.mul_(wn[:, None]), per_sample @ wn
        for j in range(len(weights) - 1, -1, -1):
            if isinstance(acts[j], FoldedRows):  # sparse rows, the scaling folded in
                acts[j].weight_grad(g, weights[j].grad)
            else:
                torch.mm(g.t(), acts[j], out=weights[j].grad)
            torch.sum(g, 0, out=biases[j].grad)
            if j:
                g = self.backward_act(torch.mm(g, weights[j]), acts[j])  # in place
        return loss


def _linear(x, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.linear``, or a ``FoldedRows`` batch's own (its first layer folds the scaling)."""
    return x.linear(weight, bias) if isinstance(x, FoldedRows) else F.linear(x, weight, bias)


class NumpyMLPObjective(ManualMLPObjective):
    """``ManualMLPObjective``'s pass in numpy, on views of the parameters' memory.

    For float64 networks on the CPU. A small fit calls the objective thousands of
    times with tiny arrays, where numpy's ~1 µs per call beats torch's dispatch: the
    penguins L-BFGS fit (333 rows, 16 parameters) took half the time. Losses with a
    numpy twin of their output gradient (``training.losses``: squared error, softmax
    cross-entropy, sigmoid BCE) stay in numpy; the others call the torch function on
    zero-copy views. The views are rebuilt when the engine moves the parameters into
    new memory (``training.loop._flatten``).
    """

    def __init__(self, mlp: MLP, output_grad: OutputGrad) -> None:
        super().__init__(mlp, output_grad)
        self._numpy_state(output_grad)
        self.numpy_forward = NUMPY_FORWARD[mlp.activation]
        self.numpy_backward = _NUMPY_BACKWARD[mlp.activation]

    def _numpy_state(self, output_grad: OutputGrad) -> None:
        """What the numpy pass keeps besides the parameters (the ensemble's too)."""
        # the loss's numpy twin where it has one (``training.losses``), else torch on views
        self.numpy_output_grad = getattr(output_grad, "numpy", None)
        self._memory, self._views = None, None
        self._data = (None, None, None)  # the last (X, X's array, y's array)

    def _arrays(self):
        """Numpy views of the weights, biases and their gradients, as they are now."""
        memory = (self.weights[0].data_ptr(), self.weights[0].grad.data_ptr())
        if memory != self._memory:
            params = self.weights + self.biases
            values = [p.detach().numpy() for p in params]
            grads = [p.grad.numpy() for p in params]
            n = len(self.weights)
            self._memory, self._views = memory, (values[:n], values[n:], grads[:n], grads[n:])
        return self._views

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> float:
        """Return the weighted mean loss; gradients are written into ``p.grad``."""
        weights, biases, weight_grads, bias_grads = self._arrays()
        if X is not self._data[0]:  # L-BFGS passes the same tensors at every call
            self._data = (X, X.numpy(), y.numpy())
        _, h, y_array = self._data
        acts = [h]
        # np.dot, not @: numpy's matmul ufunc costs 2-3 µs more per call on these
        # small arrays (the same BLAS product, the same bits): ~5% of the penguins fit
        for W, b in zip(weights[:-1], biases[:-1], strict=True):
            h = np.dot(h, W.T)
            h += b
            acts.append(self.numpy_forward(h))
        z = np.dot(h, weights[-1].T)
        z += biases[-1]
        if self.numpy_output_grad is not None:
            per_sample, g = self.numpy_output_grad(z, y_array)
        else:
            per_sample, g = (t.numpy() for t in self.output_grad(torch.from_numpy(z), y))
        if w is None:
            g *= 1.0 / len(z)
            loss = per_sample.sum() / len(z)  # not .mean(): a few µs less per call
        else:
            wn = w.numpy() / w.numpy().sum()
            g *= wn[:, None]
            loss = per_sample @ wn
        for j in range(len(weights) - 1, -1, -1):
            np.dot(g.T, acts[j], out=weight_grads[j])
            g.sum(axis=0, out=bias_grads[j])
            if j:
                g = self.numpy_backward(np.dot(g, weights[j]), acts[j])
        return float(loss)
