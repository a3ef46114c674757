"""The mini-batch optimizers: torch's own update rules over one flat parameter tensor.

The arithmetic is torch's: each class holds the state tensors that the matching
``torch.optim`` class would hold and calls torch's implementation with them (the
fused Adam/AdamW kernels, the functional ``sgd`` and ``rprop``). What it leaves
out is the ``torch.optim.Optimizer`` object around that call, for two measured costs:

- constructing the first ``Optimizer`` in a process imports ``torch._dynamo`` (about
  1 s here), which every session's first ``fit`` paid;
- ``Optimizer.step`` spends about as long in its Python wrapper (hooks, profiler
  records, regrouping) as the fused Adam kernel takes on a small network (~17 µs).

``tests/test_engine.py`` checks that each class matches its ``torch.optim``
counterpart step for step.
"""

from __future__ import annotations

import torch
from torch.optim.rprop import rprop
from torch.optim.sgd import sgd


class FlatOptimizer:
    """Updates ``flat`` in place from ``flat.grad``; subclasses hold the state.

    Parameters
    ----------
    flat : torch.Tensor
        The one parameter tensor (every model parameter is a view into it).
    lr : float
        Learning rate.
    """

    def __init__(self, flat: torch.Tensor, lr: float) -> None:
        self.flat = flat
        # updated through a detached view: no autograd error with grad mode on, as
        # torch.optim's no_grad wrapper ensures, without a context per step
        self.values = flat.detach()
        self.lr = lr

    def step(self) -> None:
        """One update from the current gradient."""
        raise NotImplementedError


class Adam(FlatOptimizer):
    """``torch.optim.Adam(fused=True)`` with torch's defaults (``decoupled``: AdamW's
    decoupled weight decay of 0.01, as ``torch.optim.AdamW``).

    Calls the fused kernel itself (``torch._fused_adam_``/``_fused_adamw_``, what
    ``torch.optim.adam.adam(fused=True)`` calls after ~8 µs of regrouping one tensor).
    """

    def __init__(self, flat: torch.Tensor, lr: float, *, decoupled: bool = False) -> None:
        super().__init__(flat, lr)
        self.update = torch._fused_adamw_ if decoupled else torch._fused_adam_
        self.weight_decay = 1e-2 if decoupled else 0.0
        self.exp_avg = torch.zeros_like(flat)
        self.exp_avg_sq = torch.zeros_like(flat)
        # fused kernels keep the step count as a float32 tensor on the parameter's device
        self.steps = torch.zeros((), dtype=torch.float32, device=flat.device)

    def step(self) -> None:
        """One fused Adam update."""
        self.steps.add_(1)  # the kernel reads the incremented count (bias correction)
        self.update(
            [self.values], [self.flat.grad], [self.exp_avg], [self.exp_avg_sq], [], [self.steps],
            lr=self.lr, beta1=0.9, beta2=0.999, weight_decay=self.weight_decay, eps=1e-8,
            amsgrad=False, maximize=False,
        )  # fmt: skip


class SGD(FlatOptimizer):
    """``torch.optim.SGD`` with scikit-learn's momentum 0.9 and Nesterov's update."""

    def __init__(self, flat: torch.Tensor, lr: float) -> None:
        super().__init__(flat, lr)
        self.momentum_buffers: list[torch.Tensor | None] = [None]  # created by the first step

    def step(self) -> None:
        """One momentum step."""
        sgd(
            [self.values], [self.flat.grad], self.momentum_buffers, foreach=True,
            weight_decay=0.0, momentum=0.9, lr=self.lr, dampening=0.0, nesterov=True,
            maximize=False,
        )  # fmt: skip


class Rprop(FlatOptimizer):
    """``torch.optim.Rprop`` with torch's defaults."""

    def __init__(self, flat: torch.Tensor, lr: float) -> None:
        super().__init__(flat, lr)
        self.prev = torch.zeros_like(flat)
        self.step_sizes = torch.full_like(flat, lr)
        self.steps = torch.zeros(())

    def step(self) -> None:
        """One resilient-propagation step."""
        rprop(
            [self.values], [self.flat.grad], [self.prev], [self.step_sizes], [self.steps],
            foreach=True, step_size_min=1e-6, step_size_max=50.0, etaminus=0.5, etaplus=1.2,
        )  # fmt: skip


def make_optimizer(solver: str, flat: torch.Tensor, lr: float) -> FlatOptimizer:
    """The optimizer for a mini-batch ``solver`` (``"adam"``, ``"adamw"``, ``"sgd"``) or
    ``"rprop"``; L-BFGS runs through scipy instead (``_engine``)."""
    if solver in ("adam", "adamw"):
        optimizer = Adam(flat, lr, decoupled=solver == "adamw")
    elif solver == "sgd":
        optimizer = SGD(flat, lr)
    elif solver == "rprop":
        optimizer = Rprop(flat, lr)
    else:
        raise ValueError(f"Unknown solver {solver!r}; expected adam, adamw, sgd or rprop.")
    optimizer.solver = solver  # a warm start with another solver needs a new one
    return optimizer
