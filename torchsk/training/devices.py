"""Devices, seeding and host-to-device transfer: where tensors live and how rows get there."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import torch

from torchsk._warnings import reading_only


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


def same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two spellings name one device: ``"cpu"`` and ``"cpu:0"``, or ``"cuda"``
    and ``"cuda:<the current device>"``."""
    return a.type == b.type and _index(a) == _index(b)


def _index(dev: torch.device) -> int:
    if dev.index is not None or dev.type == "cpu":
        return dev.index or 0
    backend = getattr(torch, dev.type, None)  # a device type's current index
    return int(getattr(backend, "current_device", lambda: 0)())


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
    (the built-in network builds and trains on generators of its own, and a thread
    drawing from the global generator meanwhile must not have it rewound)."""
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
    to the input, so torch's warning about non-writable arrays does not apply (and is
    silenced for those alone: ``reading_only`` changes the process's warning filters)."""
    a = forward_strides(a)
    if isinstance(a, np.ndarray) and not a.flags.writeable:
        with reading_only():
            return torch.as_tensor(a, dtype=dtype, device=device)
    return torch.as_tensor(a, dtype=dtype, device=device)


def forward_strides(a):
    """``a``, copied where torch cannot share its memory: a numpy view with a
    negative stride (``X[::-1]``, ``df.iloc[::-1]``), or values in another byte order
    than the machine's (a DataFrame's ``>f8`` columns); scikit-learn's checks keep
    both as they are."""
    if isinstance(a, np.ndarray) and (any(step < 0 for step in a.strides) or not a.dtype.isnative):
        return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
    return a


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
