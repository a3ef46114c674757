"""The hand-written passes of ``EnsembleMLP``'s stacked members.

- ``NumpyEnsembleObjective``: ``NumpyMLPObjective``'s pass for every member at once,
  one batched matrix product per layer (small stacks: Python, not arithmetic, bounds
  their step);
- ``ManualEnsembleObjective``: the same in torch, for stacks large enough to keep
  torch's threads busy (``training.plan.STACKED_TORCH_PARAMS``), computing only the
  members still training.

Both leave each member the gradient of its own weighted mean loss, as
``training.objectives.AutogradObjective`` computes it through the members' summed loss.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from torchsk.nn.mlp import IN_PLACE_ACTIVATIONS
from torchsk.training.losses import OutputGrad
from torchsk.training.member_losses import PerMember
from torchsk.training.objectives import (
    BACKWARD,
    MemberLossSums,
    NumpyMLPObjective,
    member_totals,
)


class NumpyEnsembleObjective(NumpyMLPObjective):
    """``NumpyMLPObjective`` for ``EnsembleMLP``: every member's pass at once.

    The members' weights are stacked ``(members, in, out)``, so each layer is one
    batched ``np.matmul`` for all of them, and the input broadcasts over the members;
    the elementwise steps run in torch on the same memory, and every array a step
    writes is kept for the next batch of its size.
    The loss is the sum of the members' weighted mean losses and each member gets the
    gradient of its own (as ``AutogradObjective`` computes it through ``_weighted_loss``):
    8 members cost a few times one network's arithmetic, not 8 times its Python.
    """

    def __init__(self, ensemble: nn.Module, output_grad: OutputGrad) -> None:
        # what NumpyMLPObjective reads of a network, from the stacked parameters
        self.weights, self.biases = list(ensemble.weights), list(ensemble.biases)
        self.k = ensemble.n_members
        self.output_grad = output_grad
        self._numpy_state(output_grad)
        self.forward_act = IN_PLACE_ACTIVATIONS[ensemble.activation]
        self.backward_act = BACKWARD[ensemble.activation]
        for p in ensemble.parameters():
            p.grad = torch.zeros_like(p)  # written in place at every step
        # members with rows of their own: each one's weighted loss sum and weight over
        # the batches since the last ``take_member_losses``
        self.member_sums = np.zeros((2, self.k))
        self._layers, self._targets = _Kept(), _Kept()  # arrays written in place

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> float:
        """Return the members' summed loss; gradients are written into ``p.grad``."""
        weights, biases, weight_grads, bias_grads = self._arrays()
        k = self.k
        if X is not self._data[0]:
            self._data = (X, X.numpy(), self._stacked_targets(y.numpy()))
        _, h, ys = self._data
        rows = len(h)
        acts, grads = self._buffers(rows, weights)
        acts[0] = h
        for j, (W, out) in enumerate(zip(weights[:-1], acts[1:], strict=True)):
            h = np.matmul(h, W, out=out)  # (members, rows, width); the input broadcasts
            # the elementwise work in torch, on the same memory (``BACKWARD``)
            bias = self.biases[j].detach().view(k, 1, -1)
            self.forward_act(torch.from_numpy(h).add_(bias))
        z = np.matmul(h, weights[-1])
        z += biases[-1].reshape(k, 1, -1)
        per_sample, g = self._output_grad(z.reshape(k * rows, -1), ys)
        g = g.reshape(z.shape)
        if w is None:
            g *= 1.0 / rows
            loss = per_sample.sum() / rows
        else:  # one weight per row, or per row and member (``training.members``)
            wm = w.numpy().T if w.ndim == 2 else np.broadcast_to(w.numpy(), (k, rows))
            wn = wm / member_totals(wm)[:, None]
            g *= wn[:, :, None]
            loss = (per_sample.reshape(k, rows) * wn).sum()
            if w.ndim == 2:
                self.member_sums += ((per_sample.reshape(k, rows) * wm).sum(1), wm.sum(1))
        for j in range(len(weights) - 1, -1, -1):
            a = acts[j]
            np.matmul(np.swapaxes(a, -1, -2), g, out=weight_grads[j])
            g.sum(axis=1, out=bias_grads[j].reshape(k, -1))
            if j:
                g = self._backward(g, weights[j], grads[j], a)
        return float(loss)

    def _stacked_targets(self, y: np.ndarray) -> np.ndarray:
        """``y`` once per member, stacked as the outputs are, in a buffer kept for
        batches of its size (a fresh ``np.tile`` per batch cost 10% of a step)."""
        shape = (self.k * len(y), *y.shape[1:])
        ys = self._targets.get((shape, y.dtype), lambda: np.empty(shape, dtype=y.dtype))
        ys.reshape(self.k, *y.shape)[...] = y
        return ys

    def _buffers(self, rows: int, weights: list) -> tuple[list, list]:
        """Every hidden layer's activations and their gradients for batches of
        ``rows`` rows (``layer_arrays``; ``weights`` the numpy views).

        Fresh arrays of this size at every step (8 members of (100,) and 64 rows:
        400 kB each) cost more than the arithmetic: the first layer's product took
        138 µs into a new array against 50 µs into a kept one.
        """
        empty = lambda s: np.empty(s, dtype=weights[0].dtype)  # noqa: E731
        return self._layers.get(rows, lambda: layer_arrays(weights, rows, empty))

    def _backward(self, g: np.ndarray, W: np.ndarray, out: np.ndarray, a: np.ndarray):
        """The gradient at layer ``W``'s input activations ``a``, written in ``out``."""
        if W.shape[-1] == 1:  # numpy's matmul does not take a product of one column to BLAS
            torch.mul(torch.from_numpy(g), torch.from_numpy(W).view(self.k, 1, -1),
                      out=torch.from_numpy(out))  # fmt: skip
        else:
            np.matmul(g, np.swapaxes(W, 1, 2), out=out)
        self.backward_act(torch.from_numpy(out), torch.from_numpy(a))
        return out

    def take_member_losses(self) -> np.ndarray:
        """Each member's weighted mean loss over the batches since the last call (as
        scikit-learn's epoch loss averages them), then start again."""
        sums, weights = self.member_sums
        self.member_sums = np.zeros_like(self.member_sums)
        return sums / np.where(weights > 0, weights, np.nan)

    def _output_grad(self, z: np.ndarray, ys: np.ndarray):
        """Per-row loss and its gradient on the stacked outputs (numpy twin, or the
        torch function on zero-copy views)."""
        if self.numpy_output_grad is not None:
            return self.numpy_output_grad(z, ys)
        per_sample, g = self.output_grad(torch.from_numpy(z), torch.from_numpy(ys))
        return per_sample.numpy(), g.numpy()


class ManualEnsembleObjective(MemberLossSums):
    """``NumpyEnsembleObjective``'s pass in torch: one batched product per layer for
    every member, on any device and dtype, with torch's threads.

    Where the members' arithmetic, not Python, dominates a step (a batched search's
    120 members: 1.5 ms a step on two torch threads against 5 ms in numpy, whose BLAS
    a fit holds at one thread, ``training.plan.ONE_BLAS_THREAD``). Call it with autograd
    disabled, as ``ManualMLPObjective``.
    """

    needs_autograd = False

    def __init__(self, ensemble: nn.Module, output_grad: OutputGrad) -> None:
        self.weights, self.biases = list(ensemble.weights), list(ensemble.biases)
        self.k = ensemble.n_members
        self.forward_act = IN_PLACE_ACTIVATIONS[ensemble.activation]
        self.backward_act = BACKWARD[ensemble.activation]
        self.output_grad = self._all_members_grad = output_grad
        self._layers = _Kept()  # arrays written in place (``_buffers``)
        for p in ensemble.parameters():
            p.grad = torch.zeros_like(p)  # written in place at every step
        self._targets = (None, 0, None)  # the last y, members, y once per member
        self.active = None  # the members still computed (all when None)

    def keep_members(self, active: np.ndarray) -> None:
        """Compute only the ``active`` members (a mask) from now on: the others are
        done (a batched search's members that stopped, ``training.members``), their
        gradients zero. Their weights stay as they are, untouched by the pass."""
        active = np.asarray(active, dtype=bool)
        device = self.weights[0].device
        self.active = (
            None if active.all() else torch.as_tensor(np.flatnonzero(active), device=device)
        )
        done = torch.as_tensor(~active, device=device)
        if isinstance(self._all_members_grad, PerMember):  # the computed members' settings
            self.output_grad = self._all_members_grad.subset(active)
        for W, b in zip(self.weights, self.biases, strict=True):
            W.grad[done] = 0.0
            b.grad.view(self.k, -1)[done] = 0.0

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """Return the members' summed loss; gradients are written into ``p.grad``."""
        idx = self.active
        if idx is not None and not len(idx):  # every member done: nothing to learn
            return X.new_zeros(())
        weights, biases = self._computed(self.weights), self._computed(self.biases)
        k = len(weights[0])
        if y is not self._targets[0] or k != self._targets[1]:
            self._targets = (y, k, y.repeat(k, *([1] * (y.ndim - 1))))
        acts, grads = self._buffers(k, len(X))
        acts[0] = h = X
        for W, b, out in zip(weights[:-1], biases[:-1], acts[1:], strict=True):
            h = self.forward_act(_stacked_linear(h, W, b, k, out))
        z = _stacked_linear(h, weights[-1], biases[-1], k)
        rows = z.shape[1]
        per_sample, g = self.output_grad(z.reshape(k * rows, -1), self._targets[2])
        g, per_member = g.view(z.shape), per_sample.view(k, rows)
        if w is None:
            g, loss = g.mul_(1.0 / rows), per_sample.sum() / rows
        else:  # one weight per row, or per row and member (``training.members``)
            if w.ndim == 2:
                w = w if idx is None else w.index_select(1, idx)
            wm = w.T if w.ndim == 2 else w.expand(k, rows)
            wn = wm / member_totals(wm)[:, None]
            g, loss = g.mul_(wn[:, :, None]), (per_member * wn).sum()
            if w.ndim == 2:
                self._add_member_sums((per_member * wm).sum(1), wm.sum(1))
        for j in range(len(weights) - 1, -1, -1):
            a = acts[j]
            self._gradients_into(j, a, g)
            if j:
                g = self.backward_act(_input_grad(g, weights[j], grads[j]), a)
        return loss

    def _buffers(self, k: int, rows: int) -> tuple[list, list]:
        """Every hidden layer's activations and their gradients for ``k`` computed
        members and batches of ``rows`` rows (``layer_arrays``).

        Fresh tensors of this size at every step (a batched search's 120 members of
        (100,) and 64 rows: 3 MB each) went back to the system and were faulted in
        again at the next (diabetes, 120 members: 441k page faults in a 3.8 s search).
        Members that stop change ``k``: the arrays of the earlier count age out.
        """
        W = self.weights[0]
        empty = lambda s: torch.empty(s, dtype=W.dtype, device=W.device)  # noqa: E731
        return self._layers.get((k, rows), lambda: layer_arrays(self.weights, rows, empty, k))

    def _gradients_into(self, j: int, a: torch.Tensor, g: torch.Tensor) -> None:
        """Layer ``j``'s weight and bias gradients of the computed members (``a`` its
        input, ``g`` the gradient at its output), into their rows of ``p.grad``."""
        W_grad, b_grad = self.weights[j].grad, self.biases[j].grad.view(self.k, -1)
        # the first layer's input is shared: (in, rows) broadcasts over the members
        if self.active is None:
            torch.matmul(a.transpose(-1, -2), g, out=W_grad)
            torch.sum(g, 1, out=b_grad)
        else:
            W_grad.index_copy_(0, self.active, torch.matmul(a.transpose(-1, -2), g))
            b_grad.index_copy_(0, self.active, g.sum(1))

    def _computed(self, params: list) -> list:
        """The computed members' slices of the stacked parameters (biases as
        ``(members, width)`` rows, flattened)."""
        if self.active is None:
            return params
        return [p.view(self.k, -1).index_select(0, self.active).view(-1, *p.shape[1:])
                if p.ndim == 1 else p.index_select(0, self.active) for p in params]  # fmt: skip

    def _add_member_sums(self, losses: torch.Tensor, weights: torch.Tensor) -> None:
        if self.active is not None:  # back to one column per member
            losses = losses.new_zeros(self.k).index_copy_(0, self.active, losses)
            weights = weights.new_zeros(self.k).index_copy_(0, self.active, weights)
        super()._add_member_sums(losses, weights)


class _Kept:
    """Arrays a pass writes in place at every step, kept for the batch sizes it saw
    last (``sizes`` of them, least recently used dropped first).

    A fit sees two sizes, its full batches and its last, smaller one; data in blocks
    (Dask partitions) end each block with a batch of another size, and keeping one
    set per size would hold a 120-member stack's 6 MB per block until the fit ends.
    An array dropped must be in use nowhere else: a CUDA graph captured over a pass
    would hold its arrays by address only (stacks train through autograd on a GPU,
    ``training.plan``, so none is).
    """

    def __init__(self, sizes: int = 2) -> None:
        self.sizes = sizes
        self._arrays = OrderedDict()

    def get(self, key, make: Callable):
        """The arrays kept under ``key``, or ``make()``'s, kept from now on."""
        if key in self._arrays:
            self._arrays.move_to_end(key)
        else:
            self._arrays[key] = make()
            while len(self._arrays) > self.sizes:
                self._arrays.popitem(last=False)
        return self._arrays[key]


def layer_arrays(weights: list, rows: int, empty: Callable, k: int | None = None):
    """Empty ``(acts, grads)``: one ``(members, rows, width)`` array per hidden layer of
    the stacked ``weights`` (``k`` members, or all), each list led by ``None`` where the
    input (and its gradient, never computed) goes."""
    shapes = [(k or len(W), rows, W.shape[-1]) for W in weights[:-1]]
    return tuple([None] + [empty(s) for s in shapes] for _ in range(2))


def _input_grad(g: torch.Tensor, W: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Each member's ``g @ W.T`` (the gradient at a layer's input), written in ``out``.

    Through a one-column layer (a regression's output) it is an outer product: a
    broadcast ``mul`` computes the same products (bit for bit) in a tenth of ``bmm``'s
    time (120 members of (100,) and 64 rows: 40 µs against 400)."""
    if W.shape[-1] == 1:
        return torch.mul(g, W.view(len(W), 1, -1), out=out)
    return torch.bmm(g, W.transpose(1, 2), out=out)


def _stacked_linear(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor, k: int,
                    out: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Every member's layer: ``h`` is the shared input ``(rows, in)`` or the members'
    ``(members, rows, in)``; ``W`` is ``(members, in, out)``, ``b`` flat; written in
    ``out`` where given."""
    if h.ndim == 2:
        return torch.matmul(h, W, out=out).add_(b.view(k, 1, -1))
    return torch.baddbmm(b.view(k, 1, -1), h, W, out=out)
