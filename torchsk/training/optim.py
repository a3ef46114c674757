"""The mini-batch optimizers: torch's own update rules over one flat parameter tensor.

The arithmetic is torch's: each class holds the state tensors that the matching
``torch.optim`` class would hold and calls torch's implementation with them (the
fused Adam/AdamW kernels, the functional ``sgd`` and ``rprop``). What it leaves
out is the ``torch.optim.Optimizer`` object around that call, for two measured costs:

- constructing the first ``Optimizer`` in a process imports ``torch._dynamo`` (about
  1 s here), which every session's first ``fit`` paid;
- ``Optimizer.step`` spends about as long in its Python wrapper (hooks, profiler
  records, regrouping) as the fused Adam kernel takes on a small network (~17 µs).

The learning-rate schedules are scikit-learn's (``SGDOptimizer``), for ``sgd`` only as
there: ``iteration_ends`` after each epoch (``"invscaling"``) and ``trigger_stopping``
when ``n_iter_no_change`` epochs did not improve (``"adaptive"``). The rate is a Python
float passed to each step, so a schedule costs no tensor work per step.

``tests/training/test_engine.py`` checks that each class matches its ``torch.optim``
counterpart step for step, and scikit-learn's update rules and schedules.
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
        Learning rate (``learning_rate_init``).

    Attributes
    ----------
    lr : float
        The current learning rate.
    """

    #: attributes that are not the optimizer's state: the parameters it updates
    PARAMETERS = ("flat", "values")
    #: state tensors kept on the CPU whatever the parameters' device
    CPU_STATE: tuple[str, ...] = ()

    def __init__(self, flat: torch.Tensor, lr: float) -> None:
        self.flat = flat
        # updated through a detached view: no autograd error with grad mode on, as
        # torch.optim's no_grad wrapper ensures, without a context per step
        self.values = flat.detach()
        self.lr_init = float(lr)
        self.lr = float(lr)

    @property
    def fixed_lr(self) -> bool:
        """Whether the learning rate stays ``lr_init`` throughout (a CUDA graph may
        then hold it as a constant)."""
        return True

    def step(self) -> None:
        """One update from the current gradient."""
        raise NotImplementedError

    def step_except(self, frozen: torch.Tensor) -> None:
        """``step``, leaving the flat entries where ``frozen`` holds (an idle member's,
        with no row in the batch) and their state (moments, momentum) as they were.
        A step count the optimizer keeps (Adam's) is the network's, as before."""
        tensors = [self.values, *self.moments()]
        saved = [t.clone() for t in tensors]
        self.step()
        for t, kept in zip(tensors, saved, strict=True):
            t.copy_(torch.where(frozen, kept, t))  # no boolean indexing: no device sync

    def moments(self) -> list[torch.Tensor]:
        """The state tensors with one entry per weight (moments, momentum, step sizes)."""
        return []

    def state(self) -> dict:
        """A copy of what steps and schedules change (moments, step counts, momentum
        buffers, the rate), for ``load_state``: a ``partial_fit`` that fails puts it
        back with the weights (``estimators.fitstate``)."""
        return {k: _copy(v) for k, v in vars(self).items() if k not in self.PARAMETERS}

    def load_state(self, state: dict) -> None:
        """Put back a ``state()``, tensors copied into the current ones (a captured
        CUDA graph holds their addresses)."""
        for k, saved in state.items():
            setattr(self, k, _load(getattr(self, k), saved))

    def iteration_ends(self, time_step: int) -> None:
        """An epoch ended, after ``time_step`` training samples in all (scikit-learn's
        ``t_``); schedules update the learning rate here."""

    def trigger_stopping(self) -> bool:
        """``n_iter_no_change`` epochs did not improve: True to stop training, False
        when the schedule lowered the learning rate instead."""
        return True


class Adam(FlatOptimizer):
    """``torch.optim.Adam(fused=True)`` (``decoupled``: ``torch.optim.AdamW``, with its
    default decoupled weight decay of 0.01).

    Calls the fused kernel itself (``torch._fused_adam_``/``_fused_adamw_``, what
    ``torch.optim.adam.adam(fused=True)`` calls after ~8 µs of regrouping one tensor).
    ``beta_1``, ``beta_2`` and ``epsilon`` are scikit-learn's names for torch's
    ``betas`` and ``eps``. torch adds ``eps`` to the bias-corrected ``sqrt(v)``, where
    scikit-learn adds it before correcting: the same up to a factor
    ``sqrt(1 - beta_2**t)`` on ``eps``.
    """

    def __init__(
        self, flat: torch.Tensor, lr: float, *, decoupled: bool = False,
        beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
    ) -> None:  # fmt: skip
        super().__init__(flat, lr)
        self.update = torch._fused_adamw_ if decoupled else torch._fused_adam_
        self.weight_decay = 1e-2 if decoupled else 0.0
        self.betas = (float(beta_1), float(beta_2))
        self.eps = float(epsilon)
        self.exp_avg = torch.zeros_like(flat)
        self.exp_avg_sq = torch.zeros_like(flat)
        # fused kernels keep the step count as a float32 tensor on the parameter's device
        self.steps = torch.zeros((), dtype=torch.float32, device=flat.device)

    def moments(self) -> list[torch.Tensor]:
        """Adam's two moments."""
        return [self.exp_avg, self.exp_avg_sq]

    def step(self) -> None:
        """One fused Adam update."""
        self.steps.add_(1)  # the kernel reads the incremented count (bias correction)
        beta1, beta2 = self.betas
        self.update(
            [self.values], [self.flat.grad], [self.exp_avg], [self.exp_avg_sq], [], [self.steps],
            lr=self.lr, beta1=beta1, beta2=beta2, weight_decay=self.weight_decay,
            eps=self.eps, amsgrad=False, maximize=False,
        )  # fmt: skip


class SGD(FlatOptimizer):
    """``torch.optim.SGD`` with momentum, and scikit-learn's learning-rate schedules.

    torch keeps the momentum buffer in gradient units (``buffer = momentum * buffer +
    grad``, a step of ``lr * buffer``), scikit-learn its velocity in step units
    (``velocity = momentum * velocity - lr * grad``). They agree while the rate is
    constant; when a schedule changes it, the buffer is rescaled by ``old / new``, so
    the velocity carried over keeps the old rate and only new gradients get the new
    one, as in scikit-learn.

    Parameters
    ----------
    flat, lr
        As ``FlatOptimizer``.
    momentum : float, default=0.9
    nesterov : bool, default=True
        Nesterov's momentum (``nesterovs_momentum``); no effect without momentum.
    schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        scikit-learn's ``learning_rate``.
    power_t : float, default=0.5
        Exponent of ``"invscaling"``: ``lr = learning_rate_init / (t + 1) ** power_t``
        after each epoch, ``t`` the training samples seen so far.
    """

    def __init__(
        self, flat: torch.Tensor, lr: float, *, momentum: float = 0.9, nesterov: bool = True,
        schedule: str = "constant", power_t: float = 0.5,
    ) -> None:  # fmt: skip
        super().__init__(flat, lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov) and self.momentum > 0  # torch requires momentum
        self.schedule = schedule
        self.power_t = float(power_t)
        self.momentum_buffers: list[torch.Tensor | None] = [None]  # created by the first step

    @property
    def fixed_lr(self) -> bool:
        """Only ``"constant"`` keeps the rate."""
        return self.schedule == "constant"

    def moments(self) -> list[torch.Tensor]:
        """The momentum buffer, once a first step made it."""
        return [b for b in self.momentum_buffers if b is not None]

    def step(self) -> None:
        """One momentum step."""
        sgd(
            [self.values], [self.flat.grad], self.momentum_buffers, foreach=True,
            weight_decay=0.0, momentum=self.momentum, lr=self.lr, dampening=0.0,
            nesterov=self.nesterov, maximize=False,
        )  # fmt: skip

    def iteration_ends(self, time_step: int) -> None:
        """``"invscaling"``: ``lr = learning_rate_init / (time_step + 1) ** power_t``."""
        if self.schedule == "invscaling":
            self._set_lr(self.lr_init / (time_step + 1) ** self.power_t)

    def trigger_stopping(self) -> bool:
        """``"adaptive"``: divide the rate by 5, or stop once it is at most 1e-6."""
        if self.schedule != "adaptive" or self.lr <= 1e-6:
            return True
        self._set_lr(self.lr / 5.0)
        return False

    def _set_lr(self, lr: float) -> None:
        """A new rate, the momentum buffer rescaled to keep the velocity (see above)."""
        buffer = self.momentum_buffers[0]
        if buffer is not None and lr != self.lr:
            buffer.mul_(self.lr / lr)
        self.lr = lr


class Rprop(FlatOptimizer):
    """``torch.optim.Rprop`` with torch's defaults (``lr``: the initial step size)."""

    CPU_STATE = ("steps",)  # as torch.optim.Rprop keeps its step count

    def __init__(self, flat: torch.Tensor, lr: float) -> None:
        super().__init__(flat, lr)
        self.prev = torch.zeros_like(flat)
        self.step_sizes = torch.full_like(flat, lr)
        self.steps = torch.zeros(())

    def moments(self) -> list[torch.Tensor]:
        """The last gradients and the step sizes."""
        return [self.prev, self.step_sizes]

    def step(self) -> None:
        """One resilient-propagation step."""
        rprop(
            [self.values], [self.flat.grad], [self.prev], [self.step_sizes], [self.steps],
            foreach=True, step_size_min=1e-6, step_size_max=50.0, etaminus=0.5, etaplus=1.2,
        )  # fmt: skip


class MemberRates(FlatOptimizer):
    """Each member of a stacked ensemble at its own learning rate, over ``inner``.

    adam's, adamw's and sgd's updates are proportional to the learning rate (their
    moment and momentum buffers do not depend on it), so member ``m``'s update at rate
    ``inner.lr * scale[m]`` is ``inner``'s update scaled by ``scale[m]``: computed here
    from the parameters before and after ``inner``'s step. A schedule (``sgd``'s
    ``"invscaling"``, ``"adaptive"``) moves every member's rate by the same factor.

    Parameters
    ----------
    inner : Adam or SGD
        The optimizer at the base rate.
    scale : torch.Tensor
        One factor per entry of the flat parameter (its member's rate / the base rate).
    """

    def __init__(self, inner: FlatOptimizer, scale: torch.Tensor) -> None:
        if isinstance(inner, Rprop):
            raise ValueError("Per-member learning rates need adam, adamw or sgd, not rprop.")
        self.inner, self.scale = inner, scale
        self.flat, self.values = inner.flat, inner.values
        self.before = torch.empty_like(self.values)
        self.made_for = getattr(inner, "made_for", None)

    @property
    def lr(self) -> float:
        """The base rate (``inner``'s)."""
        return self.inner.lr

    @property
    def fixed_lr(self) -> bool:
        """False: the scaling is not part of a captured CUDA graph's step."""
        return False

    def step(self) -> None:
        """``inner``'s update, each member's share scaled by its factor."""
        self.before.copy_(self.values)
        self.inner.step()
        self.values.sub_(self.before).mul_(self.scale).add_(self.before)

    def step_except(self, frozen: torch.Tensor) -> None:
        """``step``, ``inner``'s leaving the ``frozen`` entries as they were."""
        self.before.copy_(self.values)
        self.inner.step_except(frozen)
        self.values.sub_(self.before).mul_(self.scale).add_(self.before)

    def iteration_ends(self, time_step: int) -> None:
        """As ``inner``."""
        self.inner.iteration_ends(time_step)

    def trigger_stopping(self) -> bool:
        """As ``inner``."""
        return self.inner.trigger_stopping()


def _copy(value):
    """``value`` (a state attribute) copied: tensors cloned, lists and inner
    optimizers (``MemberRates.inner``) copied through."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value.state() if isinstance(value, FlatOptimizer) else value


def _load(current, saved):
    """The attribute ``current`` with ``saved`` (a ``_copy``) put back: into the same
    tensors where their shapes allow."""
    if isinstance(current, FlatOptimizer):
        current.load_state(saved)
        return current
    if isinstance(current, torch.Tensor) and isinstance(saved, torch.Tensor):
        if current.shape == saved.shape and current.dtype == saved.dtype:
            return current.copy_(saved)
    if isinstance(current, list) and isinstance(saved, list) and len(current) == len(saved):
        return [_load(c, v) for c, v in zip(current, saved, strict=True)]
    return _copy(saved)


def make_optimizer(
    solver: str, flat: torch.Tensor, lr: float, *, learning_rate: str = "constant",
    power_t: float = 0.5, momentum: float = 0.9, nesterovs_momentum: bool = True,
    beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
) -> FlatOptimizer:  # fmt: skip
    """The optimizer for a mini-batch ``solver`` (``"adam"``, ``"adamw"``, ``"sgd"``) or
    ``"rprop"``; L-BFGS runs through scipy instead (``training.loop``).

    The keywords are scikit-learn's ``MLPRegressor`` parameters; each solver takes the
    ones scikit-learn's uses and ignores the others, as scikit-learn does
    (``learning_rate``, ``power_t``, ``momentum``, ``nesterovs_momentum``: ``sgd``;
    ``beta_1``, ``beta_2``, ``epsilon``: ``adam`` and ``adamw``; ``rprop``: none).
    """
    if solver in ("adam", "adamw"):
        return Adam(
            flat, lr, decoupled=solver == "adamw", beta_1=beta_1, beta_2=beta_2, epsilon=epsilon
        )
    if solver == "sgd":
        return SGD(
            flat, lr, momentum=momentum, nesterov=nesterovs_momentum,
            schedule=learning_rate, power_t=power_t,
        )  # fmt: skip
    if solver == "rprop":
        return Rprop(flat, lr)
    raise ValueError(f"Unknown solver {solver!r}; expected adam, adamw, sgd or rprop.")
