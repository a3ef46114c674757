"""Which of a few candidate weights has the lowest training loss, measured.

An epoch's logged loss is the mean over its batches, taken while the weights moved:
it describes no single set of weights. Where the loss rose instead of levelling off
(``training.loop``'s ``stopped="rose"``), the weights that ended the lowest-loss epoch
had been kept on that mean alone; a step size too large can have thrown them far off
within that very epoch (a training loss of 41 where the epoch's mean was 2.7 and the
weights that began it had 2.1). Where it diverged, the weights that began the last
finite epoch had been kept, unmeasured (a training loss of 1e26 after epochs of 41,
5.5e3, 6.9e9, 7.8e72). The candidates are measured instead: those that began and
ended the lowest-loss epoch, and the last ones training would keep.
"""

from __future__ import annotations

import math

from torch import nn

from torchsk.nn.ensemble import EnsembleMLP
from torchsk.training import batches as batching
from torchsk.training.batches import Blocks, Data, row_weights, take_rows
from torchsk.training.settings import History, rows_per_step
from torchsk.training.step import Step


def lowest_loss(module: nn.Module, step: Step, data: Data | Blocks, settings,
                lowest: list[dict], last: dict, history: History) -> dict:  # fmt: skip
    """Of the weights that began and ended the lowest-loss epoch (``lowest``; one
    state for an epoch of one step) and the ``last`` ones, those of the lowest
    training loss (with the penalty), the first among equals; ``history.stopped``
    says whether the loss rose or diverged. Streamed blocks are not read again:
    unmeasured (``history.measured``), a loss that rose keeps those that ended the
    lowest-loss epoch, a divergence the ``last`` (those that ended it may have
    overflowed).

    Each is measured with the objective training used, in eval mode (the model that
    predicts), a training batch's rows at a time (the sizes its buffers have); the
    gradients it leaves are cleared. Weights whose loss is not finite come last.
    """
    if isinstance(data, Blocks):
        history.measured = False
        return last if history.stopped == "diverged" else lowest[-1]
    candidates = [*lowest, last]
    batch = rows_per_step(settings, len(data.X))
    losses = []
    for state in candidates:
        module.load_state_dict(state)
        loss = _training_loss(module, step, data, batch)
        losses.append(loss if math.isfinite(loss) else math.inf)
    return candidates[min(range(len(candidates)), key=lambda k: (losses[k], k))]


def _training_loss(module: nn.Module, step: Step, data: Data, batch_size: int) -> float:
    """The weighted mean loss over all rows, plus the penalty of each batch (as an
    epoch's loss has it, ``training.loop._epoch``; a member's, ``MemberGuard``)."""
    n = len(data.X)
    total = weight = 0.0
    mode = module.training
    module.eval()
    for part in module.modules():
        if isinstance(part, EnsembleMLP):  # its members' outputs, as training's loss
            part.training = True  # (eval mode averages them); its dropout stays off
    try:
        for i in range(0, n, batch_size):
            rows = slice(i, min(i + batch_size, n))
            w = None if data.w is None else take_rows(data.w, rows)
            batch_weight = float(rows.stop - i) if w is None else float(row_weights(w).sum())
            if batch_weight > 0:  # all rows: X itself (sparse: the objective's chunks)
                X = data.X if batch_size >= n else batching.step_rows(data.X, rows)
                loss = step.objective(X, take_rows(data.y, rows), w)
                total, weight = total + float(loss) * batch_weight, weight + batch_weight
    finally:
        module.train(mode)
        for p in module.parameters():
            if p.grad is not None:
                p.grad.zero_()
    batches = math.ceil(n / batch_size)
    return (total + step.penalty.value(1.0) * batches) / weight if weight > 0 else math.inf
