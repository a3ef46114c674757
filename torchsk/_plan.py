"""The execution plan, decided once per fit, and everything about devices and dtypes.

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
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from torch import nn

from ._graphs import MIN_GRAPHED_STEPS, WARMUP_STEPS
from ._modules import MLP
from ._objectives import MANUAL_ACTIVATIONS

# Below this many FLOPs per epoch (6 × samples × parameters) a CPU fit is bound by
# Python overhead, not arithmetic, so float64 costs nothing and removes float32
# rounding (sample weights then match repeated rows to ~1e-12, as scikit-learn does).
# Kept low because the model then also predicts in float64, at half the speed.
FLOAT64_FLOP_LIMIT = 1e8

# Below this many multiply-adds per step (rows in a batch × parameters), torch's
# thread pool costs more than it gains, and its spinning threads fight with scipy's
# BLAS: one thread made a small L-BFGS fit ~20× faster on 2 cores.
SINGLE_THREAD_WORK = 2_000_000


# ---------------------------------------------------------------- devices
def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; unknown or absent devices raise
    the same ``ValueError``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    if not _available(dev):
        raise ValueError(
            f"device={device!r} was requested but {dev.type.upper()} is not available "
            "in this torch build or on this machine."
        )
    return dev


def _available(dev: torch.device) -> bool:
    if dev.type == "cpu":
        return True
    backend = getattr(torch, dev.type, None)  # torch.cuda, torch.mps, torch.xpu, ...
    return bool(getattr(backend, "is_available", lambda: False)())


def available_device(device: str) -> torch.device:
    """``device`` if this machine has it, else the CPU (a GPU model loaded elsewhere)."""
    dev = torch.device(device)
    return dev if _available(dev) else torch.device("cpu")


# torch has one global CPU generator (and one per GPU): fits that draw from it (to build
# a network, or to train a user's module) take turns, so that concurrent fits in
# threads neither race on it nor leave the caller's random state changed.
_GLOBAL_RNG = threading.RLock()


@contextlib.contextmanager
def seeded(device: torch.device, seed: int, needed: bool = True):
    """torch's global generators seeded for a fit (building a network, and a user's
    module while training draw from them), inside ``fork_rng`` so the user's own
    random state is kept, and held by one fit at a time. ``needed=False``: nothing
    (the built-in network trains on its own generators)."""
    if not needed:
        yield
        return
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.default_generator.manual_seed(seed)  # not torch.manual_seed: CPU only,
        if device.type == "cuda":  # without its lazy CUDA call (~1 ms per fit)
            torch.cuda.manual_seed(seed)
        yield


def as_tensor(a: np.ndarray, dtype: torch.dtype | None, device: torch.device) -> torch.Tensor:
    """``torch.as_tensor`` without copying read-only arrays (memmaps): we never write
    to the input, so torch's warning about non-writable arrays does not apply."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(a, dtype=dtype, device=device)


# Rows of X are moved and encoded in chunks of about this many bytes: ~1 MB on the
# CPU (torch's float64 temporaries of larger chunks stayed in the allocator's heap);
# larger on a GPU, where each host-to-device copy has a fixed cost and a pinned
# buffer of this size is reused for the whole pass.
HOST_CHUNK_BYTES = 2**20
DEVICE_CHUNK_BYTES = 64 * 2**20
PINNED_MIN_BYTES = 16 * 2**20


def transfer_rows(n_columns: int, device: torch.device, itemsize: int = 8) -> int:
    """Rows per chunk when X (``itemsize`` bytes a value) is encoded onto ``device``."""
    size = DEVICE_CHUNK_BYTES if device.type == "cuda" else HOST_CHUNK_BYTES
    return max(1, size // (itemsize * max(1, n_columns)))


class HostToDevice:
    """Moves chunks of rows (numpy arrays or tensors) to ``device``.

    On a CUDA device, for an X of at least ``PINNED_MIN_BYTES``, a chunk on the host
    goes through one pinned (page-locked) buffer reused for every chunk, so each copy
    is one DMA transfer that does not wait for a pageable staging copy; the buffer is
    refilled only once the previous transfer out of it has finished. Anywhere else
    (the CPU, a tensor already on the device), ``as_tensor``: no copy at all where
    dtype and device already match.
    """

    def __init__(self, device: torch.device, total_bytes: int) -> None:
        self.device = device
        # a pinned buffer costs ~1 ms per MB to allocate: worth it for a whole X, not
        # for inference's batches of a few MB
        self.pinned = device.type == "cuda" and total_bytes >= PINNED_MIN_BYTES
        self._buffer: torch.Tensor | None = None
        self._done = None  # the CUDA event recorded after the last transfer

    def stages(self, rows) -> bool:
        """Whether ``rows`` go through the pinned buffer: host rows bound for CUDA."""
        on_host = not isinstance(rows, torch.Tensor) or rows.device.type == "cpu"
        return self.pinned and on_host

    def __call__(self, rows) -> torch.Tensor:
        """``rows`` on the device, in their own dtype."""
        if not self.stages(rows):
            return as_tensor(rows, None, self.device)
        rows = as_tensor(rows, None, torch.device("cpu"))
        buffer = self._buffer
        if buffer is None or buffer.dtype != rows.dtype or buffer.shape[1:] != rows.shape[1:]:
            buffer = self._buffer = torch.empty(
                (transfer_rows(rows.shape[1], self.device, rows.element_size()), *rows.shape[1:]),
                dtype=rows.dtype, pin_memory=True,
            )  # fmt: skip
        elif self._done is not None:
            self._done.synchronize()  # the buffer's last transfer has left it
        if len(rows) > len(buffer):  # a larger chunk than planned: pageable copy
            return rows.to(self.device)
        staged = buffer[: len(rows)].copy_(rows)
        out = staged.to(self.device, non_blocking=True)
        self._done = torch.cuda.Event()
        self._done.record()
        return out


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
        Which ``_objectives`` class computes the gradients.
    builtin_backbone : bool
        The backbone is the built-in ``MLP`` (not a subclass): inference reuses its
        buffers (``MLP.forward_reusing``) and the fit draws from its own generators.
    n_params : int
        Parameters of the whole network, for the thread policy.
    """

    device: torch.device
    dtype: torch.dtype
    objective: str
    builtin_backbone: bool
    n_params: int

    @property
    def numpy_views(self) -> bool:
        """Parameters are CPU float64: numpy can read and write them without copies."""
        return self.device.type == "cpu" and self.dtype == torch.float64

    def graphs_steps(self, n_rows: int, batch: int, max_iter: int, weighted: bool) -> bool:
        """Whether a fit's mini-batch steps run as CUDA graph replays (``_graphs``):
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
        small = rows * self.n_params < SINGLE_THREAD_WORK
        if small and before != 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if small and before != 1:
                torch.set_num_threads(before)

    def place(self, net: nn.Module) -> nn.Module:
        """Move a network built in float64 on the CPU to the plan's device and dtype
        (the input stage's and target scaling's constants stay float64)."""
        if not self.numpy_views:
            net.to(self.device).backbone.to(self.dtype)
        return net

    def to_state(self) -> dict:
        """Builtins for pickle and skops."""
        state = {k: getattr(self, k) for k in self.__dataclass_fields__}
        state["device"] = str(self.device)
        state["dtype"] = str(self.dtype).removeprefix("torch.")
        return state

    @classmethod
    def from_state(cls, state: dict) -> ExecutionPlan:
        """The saved plan, on the saved device if this machine has it, else the CPU."""
        dtype = getattr(torch, state["dtype"])
        return cls(**{**state, "device": available_device(state["device"]), "dtype": dtype})


def make_plan(net: nn.Module, device: torch.device, n_rows: int, *, analytic_grad: bool,
              previous: ExecutionPlan | None = None) -> ExecutionPlan:  # fmt: skip
    """Decide how ``net`` (its ``backbone``) trains on ``n_rows`` rows on ``device``.

    ``analytic_grad``: the loss has a hand-written output gradient. ``previous``: the
    plan of the fit this one continues (warm start, ``partial_fit``), whose dtype is
    kept.
    """
    n_params = n_parameters(net)
    if previous is not None:
        dtype = previous.dtype
    else:
        small = device.type == "cpu" and 6 * n_rows * n_params <= FLOAT64_FLOP_LIMIT
        dtype = torch.float64 if small else torch.float32
    backbone = net.backbone
    builtin = type(backbone) is MLP  # not a subclass: its forward may differ
    trained_inputs = net.inputs.n_static < len(list(net.inputs.children()))
    manual = (
        builtin
        and not trained_inputs  # embeddings train with the backbone: autograd
        and analytic_grad
        and backbone.activation in MANUAL_ACTIVATIONS
        and not any(isinstance(m, nn.Dropout) for m in backbone.modules())
    )
    numpy = device.type == "cpu" and dtype == torch.float64
    objective = ("numpy" if numpy else "manual") if manual else "autograd"
    return ExecutionPlan(device, dtype, objective, builtin, n_params)


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
                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._depth += 1

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._limiter.restore_original_limits()


ONE_BLAS_THREAD = _OneBlasThread()
