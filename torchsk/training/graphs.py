"""Mini-batch steps on a GPU as replays of one captured CUDA graph.

On a GPU a small network's training step is bound by launching kernels, not by running
them: each of its ~20 kernels costs several µs of Python, dispatch and launch. On an
H100, T3's network (50 → 256 → 256 → 1, batches of 1024) took ~500 µs per step eagerly
while its kernels ran for ~140 µs. A CUDA graph records the kernels of one step once;
a replay launches all of them with one call (T3's epoch there: 0.20–0.26 s → 0.06–0.08 s).

A graph replays fixed memory, so the step reads its batch through a counter that lives
on the device: it gathers rows ``order[k * batch : (k + 1) * batch]`` into fixed
buffers and advances ``k``. One graph then serves every full batch of every epoch of a
fit; the last, partial batch runs eagerly (``training.loop._epoch``).
"""

from __future__ import annotations

import contextlib

import torch

# torch's recipe: run a few steps on a side stream before capturing, so that lazy
# set-up (cuBLAS workspaces, the allocator's first blocks) is not recorded. They are
# real steps of the first epoch.
WARMUP_STEPS = 3


# Capturing costs a few steps' time; fits with fewer full batches than this in all
# (``max_iter`` × batches per epoch; ``partial_fit`` runs one epoch per call) run eagerly.
MIN_GRAPHED_STEPS = 64


class GraphedSteps:
    """The full batches of each epoch, run as replays of one CUDA graph.

    Parameters
    ----------
    objective, penalty, optimizer
        The engine's step parts (``training.objectives``, ``training.step.Penalty``,
        ``training.optim``);
        the objective must not need autograd.
    X, y : torch.Tensor
        The resident training tensors (unweighted: the penalty's scale is fixed).
    batch : int
        Rows per batch.
    capture : bool, default=True
        Record a CUDA graph. Without it the same steps run uncaptured, which lets the
        tests check the step's bookkeeping on the CPU.
    """

    def __init__(self, objective, penalty, optimizer, X, y, batch: int, capture: bool = True):
        self.step_parts = (objective, penalty, optimizer)
        self.X, self.y, self.batch = X, y, batch
        self.n_full = len(X) // batch
        self.capture = capture
        self.order = torch.arange(len(X), device=X.device)
        self.k = torch.zeros((), dtype=torch.long, device=X.device)
        self.offsets = torch.arange(batch, device=X.device)
        self.X_batch = X.new_empty((batch, *X.shape[1:]))
        self.y_batch = y.new_empty((batch, *y.shape[1:]))
        self.losses = torch.zeros(self.n_full, dtype=torch.float64, device=X.device)
        self.graph = None
        self.replay = None  # the captured graph's replay (uncaptured: the step), once set

    def _step(self) -> None:
        objective, penalty, optimizer = self.step_parts
        rows = self.order.index_select(0, self.offsets + self.k * self.batch)
        torch.index_select(self.X, 0, rows, out=self.X_batch)
        torch.index_select(self.y, 0, rows, out=self.y_batch)
        loss = objective(self.X_batch, self.y_batch, None)
        penalty.add_grad(float(self.batch))
        optimizer.step()
        self.losses.index_copy_(0, self.k.view(1), loss.view(1).to(self.losses.dtype))
        self.k.add_(1)

    def _record(self) -> int:
        """Capture the step (after the warm-up steps); returns the steps already run."""
        if not self.capture:
            self.replay = self._step
            return 0
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        self.graph = torch.cuda.CUDAGraph()
        # Fits in other threads (a threaded search) may use the GPU meanwhile, so this
        # captures on the fit's own stream in thread-local mode, and not through the
        # ``torch.cuda.graph`` context: it synchronizes the device and empties the
        # allocator's cache first, which broke the captures of concurrent fits.
        with torch.cuda.stream(stream):
            for _ in range(WARMUP_STEPS):
                self._step()
            self.graph.capture_begin(capture_error_mode="thread_local")
            try:
                self._step()  # recorded, not run
            finally:
                self.graph.capture_end()
        torch.cuda.current_stream().wait_stream(stream)
        self.replay = self.graph.replay
        return WARMUP_STEPS

    def run(self, order: torch.Tensor | None) -> torch.Tensor:
        """Run the full batches of one epoch in ``order`` (None: row order).

        Returns the batches' mean losses (float64, on the device).
        """
        if order is None:
            torch.arange(len(self.X), out=self.order)
        else:
            self.order.copy_(order)
        self.k.zero_()
        # streams and graphs belong to the current device: make it the data's
        on_device = torch.cuda.device(self.X.device) if self.capture else contextlib.nullcontext()
        with on_device:
            done = self._record() if self.replay is None else 0
            for _ in range(done, self.n_full):
                self.replay()
        return self.losses
