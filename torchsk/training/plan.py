"""The execution plan, decided once per fit.

``make_plan`` looks at the network, the data size and the loss once and records where
and how the fit runs: the device, the backbone's dtype, which objective computes the
gradients (numpy / hand-written torch / autograd), whether mini-batches run as CUDA
graph replays, which path batched inference takes, and how many threads a step uses.
Training, inference and persistence read the plan; nothing else re-derives these
choices from tensor types.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, replace

import torch
from threadpoolctl import OpenBLASController, ThreadpoolController
from torch import nn

from torchsk.nn.backbone import hand_written
from torchsk.training.devices import available_device
from torchsk.training.graphs import MIN_GRAPHED_STEPS, WARMUP_STEPS
from torchsk.training.objectives import MANUAL_ACTIVATIONS
from torchsk.training.passes import hand_written_kinds

# Below this many FLOPs per epoch (6 × samples × parameters) a CPU fit is bound by
# Python overhead, not arithmetic, so float64 costs nothing and removes float32
# rounding (sample weights then match repeated rows to ~1e-12, as scikit-learn does).
# Kept low because the model then also predicts in float64, at half the speed.
FLOAT64_FLOP_LIMIT = 1e8


# Below this many multiply-adds per step (rows in a batch × parameters), torch's
# thread pool costs more than it gains, and its spinning threads fight with scipy's
# BLAS: one thread made a small L-BFGS fit ~20× faster on 2 cores.
SINGLE_THREAD_WORK = 2_000_000


# From this many parameters (members × each one's) a float64 stack trains through its
# torch pass rather than the numpy pass (whose BLAS a fit holds at one thread): with
# batches of 64 rows its step is then work enough for torch's threads
# (``SINGLE_THREAD_WORK``), and two threads beat numpy's one (a batched search's 120
# members of (100,), 264k parameters: 3x). Below it the torch pass runs on one thread,
# where numpy's pass is faster (8 members of (100,) on diabetes, 9.7k parameters:
# 0.23 s against 0.20 s) and two threads would fight a busy machine's other work (10x
# slower with one core taken). float32 stacks take the torch pass at any size: it is
# 2x autograd's speed even on one thread.
STACKED_TORCH_PARAMS = SINGLE_THREAD_WORK // 64


def n_parameters(module: nn.Module) -> int:
    """Number of scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- the plan
@dataclass(frozen=True)
class ExecutionPlan:
    """Where and how a network trains and predicts.

    Attributes
    ----------
    device : torch.device
    dtype : torch.dtype
        The backbone's dtype: float64 for small CPU problems, else float32.
    objective : {"numpy", "manual", "autograd"}
        Which ``training.objectives`` class computes the gradients.
    builtin_backbone : bool
        The backbone is the built-in ``MLP`` (not a subclass): inference reuses its
        buffers (``MLP.forward_reusing``) and the fit draws from its own generators.
    n_params : int
        Parameters of the whole network, for the thread policy.
    n_members : int
        Members stacked in the backbone (``EnsembleMLP``), 1 for any other.
    """

    device: torch.device
    dtype: torch.dtype
    objective: str
    builtin_backbone: bool
    n_params: int
    n_members: int = 1  # absent from plans saved before it

    @property
    def numpy_views(self) -> bool:
        """Parameters are CPU float64: numpy can read and write them without copies."""
        return self.device.type == "cpu" and self.dtype == torch.float64

    def graphs_steps(self, n_rows: int, batch: int, max_iter: int, weighted: bool) -> bool:
        """Whether a fit's mini-batch steps run as CUDA graph replays (``training.graphs``):
        on a GPU, with the hand-written pass, unweighted, and enough steps to pay for
        the capture."""
        n_full = n_rows // batch
        return (
            self.device.type == "cuda"
            and self.objective != "autograd"
            and not weighted
            and n_full > WARMUP_STEPS
            and n_full * max_iter >= MIN_GRAPHED_STEPS
        )

    @contextlib.contextmanager
    def threads(self, rows: int):
        """One torch thread for small per-step work (``rows`` per step), restoring the
        setting after."""
        before = torch.get_num_threads()
        # the numpy pass multiplies in numpy (its BLAS held at one thread): torch only
        # runs the optimizer's elementwise update, which two threads slowed (a batched
        # search's 30 stacked members, 36k parameters: 12 µs per op on one thread,
        # milliseconds on two while the cores were busy)
        small = rows * self.n_params < SINGLE_THREAD_WORK or self.objective == "numpy"
        if small and before != 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if small and before != 1:
                torch.set_num_threads(before)

    def place(self, net: nn.Module) -> nn.Module:
        """Move a network built in float64 on the CPU to the plan's device and dtype
        (the input stage's and target scaling's constants stay float64; its trainable
        encoders take the dtype, as training's flat parameter would give them: copies
        of their weights made before training are then in the dtype they train in)."""
        if not self.numpy_views:
            net.to(self.device).backbone.to(self.dtype)
        for encoder in list(net.inputs.children())[net.inputs.n_static :]:
            encoder.to(self.dtype)  # its integer buffers (codes) stay as they are
        return net

    def to_state(self) -> dict:
        """Builtins for pickle and skops."""
        state = {k: getattr(self, k) for k in self.__dataclass_fields__}
        state["device"] = str(self.device)
        state["dtype"] = str(self.dtype).removeprefix("torch.")
        return state

    @classmethod
    def from_state(cls, state: dict) -> ExecutionPlan:
        """The saved plan, on the saved device if this machine has it, else the CPU.
        A dtype that is not a torch float (``"load"`` in an edited file): ``ValueError``."""
        dtype = getattr(torch, str(state["dtype"]), None)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"The stored plan's dtype {state['dtype']!r} is not a torch float.")
        return cls(**{**state, "device": available_device(state["device"]), "dtype": dtype})


def backbone_dtype(net: nn.Module) -> torch.dtype | None:
    """The dtype of ``net``'s backbone parameters (None if it has none)."""
    param = next(net.backbone.parameters(), None)
    return None if param is None else param.dtype


def for_inference(plan: ExecutionPlan, net: nn.Module) -> ExecutionPlan:
    """``plan`` in the dtype ``net``'s backbone has now: predictions follow a
    ``module_`` its user converted in place (``est.module_.float()``)."""
    dtype = backbone_dtype(net)
    return plan if dtype in (None, plan.dtype) else replace(plan, dtype=dtype)


def make_plan(net: nn.Module, device: torch.device, n_rows: int, *, analytic_grad: bool,
              previous: ExecutionPlan | None = None,
              members_as_fits: bool = False) -> ExecutionPlan:  # fmt: skip
    """Decide how ``net`` (its ``backbone``) trains on ``n_rows`` rows on ``device``.

    ``analytic_grad``: the loss has a hand-written output gradient. ``previous``: the
    plan of the fit this one continues (warm start, ``partial_fit``), whose dtype is
    kept. ``members_as_fits``: a stack's members train in the dtype each one's separate
    fit would have, whatever the stack's size (``BatchedSearchCV(separate_folds=True)``,
    whose fold scores are ``GridSearchCV``'s).
    """
    n_params = n_parameters(net)
    backbone = net.backbone
    n_members = getattr(backbone, "n_members", 1)
    if previous is not None:
        dtype = previous.dtype
    else:
        work = _dtype_work(n_params, n_members, members_as_fits)
        small = device.type == "cpu" and 6 * n_rows * work <= FLOAT64_FLOP_LIMIT
        dtype = torch.float64 if small else torch.float32
    own = hand_written(backbone)  # declared on its own class: a subclass may differ
    builtin = own and hasattr(backbone, "forward_reusing")
    trained_inputs = net.inputs.n_static < len(list(net.inputs.children()))
    passes = set()
    if (
        own
        and not trained_inputs  # embeddings train with the backbone: autograd
        and analytic_grad
        and backbone.activation in MANUAL_ACTIVATIONS
        and not any(isinstance(m, nn.Dropout) for m in backbone.modules())
    ):
        passes = hand_written_kinds(backbone)
    if n_members > 1 and (device.type != "cpu" or n_params >= STACKED_TORCH_PARAMS):
        # the members' torch pass has run on the CPU only (no GPU was lent to test it
        # there); large stacks take it rather than the one-thread numpy pass
        passes -= {"numpy"} if device.type == "cpu" else {"manual"}
    numpy = device.type == "cpu" and dtype == torch.float64 and "numpy" in passes
    objective = "numpy" if numpy else "manual" if "manual" in passes else "autograd"
    return ExecutionPlan(device, dtype, objective, builtin, n_params, n_members)


def _dtype_work(n_params: int, n_members: int, members_as_fits: bool) -> float:
    """The parameters that decide a CPU fit's dtype (``FLOAT64_FLOP_LIMIT``).

    A small stack's members each count once: its numpy pass (a batched product per
    layer) stays overhead-bound where one member is (friedman1 5,000 x 20, 8 members
    of (100,): 2.8x one network's time in float64 numpy, 4.2x in float32). A stack
    large enough for the torch pass (``STACKED_TORCH_PARAMS``) is arithmetic-bound, as
    one network of its size: it counts whole (a batched search's 120 members of (100,):
    float32 took 0.6x float64's time on 3,000 x 20, 0.7x on diabetes).
    """
    if n_members > 1 and (members_as_fits or n_params < STACKED_TORCH_PARAMS):
        return n_params / n_members
    return n_params


# ---------------------------------------------------------------- threads
class _OneBlasThread(contextlib.ContextDecorator):
    """numpy's and scipy's BLAS held at one thread while any fit runs (a context
    manager and a decorator: ``ONE_BLAS_THREAD``).

    Each of their wheels ships its own OpenBLAS with a pool of threads that spin for a
    while after each call. Inside a fit, the pools of numpy (the small-problem pass,
    validation, scaling statistics), scipy (L-BFGS-B's vector work) and torch then
    fight over the cores. On this 2-core machine, L-BFGS fits took: 2000 × 10 rows
    through (32,) 1.7 s → 0.16 s; 11000 × 20 through (64,), the largest numpy-pass
    size, 2.3 s → 1.0 s; 20000 × 20 through (64, 64) 3.4 s → 1.0 s. Their work
    inside a fit is small or runs in torch, so one thread loses nothing. Nested or
    concurrent fits (threads) share one limit, and the user's settings come back
    when the last of them ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._limiter = None
        self._controller = None  # found once: looking up the libraries takes ~2 ms

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                if self._controller is None:
                    # the BLAS libraries alone: a limiter restores every library it
                    # holds, and torch's OpenMP pool is per thread (restored from another
                    # thread's setting, a user's torch.set_num_threads(1) was undone)
                    self._controller = ThreadpoolController().select(user_api="blas")
                self._limiter = self._controller.limit(limits=1)
            self._depth += 1

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                # OpenBLAS takes limits from one "controlling" thread only: the one that
                # set them, which need not be the thread ending the last fit (concurrent
                # fits). Released before and after the restore, so that this thread's
                # restore counts and a user's later limit in any thread counts too.
                _release_openblas()
                self._limiter.restore_original_limits()
                _release_openblas()


def _release_openblas() -> None:
    """Let any thread set OpenBLAS' limits (recent threadpoolctl, 3.8 here, gives
    that to one thread at a time; older versions have no such rule)."""
    release = getattr(OpenBLASController, "clear_controlling_thread", None)
    if release is not None:
        release(force=True)


ONE_BLAS_THREAD = _OneBlasThread()
