"""Which of a few candidate weights has the lowest training loss, measured.

An epoch's logged loss is the mean over its batches, taken while the weights moved:
it describes no single set of weights. Where the loss rose instead of levelling off
(``training.loop``'s ``stopped="rose"``), the weights that ended the lowest-loss epoch
had been kept on that mean alone; a step size too large can have thrown them far off
within that very epoch (a training loss of 41 where the epoch's mean was 2.7 and the
weights that began it had 2.1). The candidates are measured instead.
"""

from __future__ import annotations

from torch import nn

from torchsk.training import batches as batching
from torchsk.training.batches import Blocks, Data, row_weights, take_rows
from torchsk.training.step import Step


def kept_after_rise(module: nn.Module, step: Step, data: Data | Blocks, lowest: list[dict],
                    last: dict, settings) -> dict:  # fmt: skip
    """The weights a fit whose loss rose keeps: of those that began and ended its
    lowest-loss epoch (``lowest``) and its ``last`` ones, the lowest training loss
    (with the penalty), the first among equals. An epoch of one step (``lowest`` of
    one) logged its starting weights' loss exactly, and streamed blocks are not read
    again: the weights that ended the lowest epoch are kept there, unmeasured.

    Each is measured with the objective training used, in eval mode (the model that
    predicts), ``batch_size`` rows at a time (the sizes its buffers have); the
    gradients it leaves are cleared.
    """
    if len(lowest) == 1 or isinstance(data, Blocks):
        return lowest[-1]
    states = [*lowest, last]
    losses = []
    for state in states:
        module.load_state_dict(state)
        losses.append(_training_loss(module, step, data, settings.batch_size))
    return states[min(range(len(states)), key=lambda k: (losses[k], k))]


def _training_loss(module: nn.Module, step: Step, data: Data, batch_size: int) -> float:
    """The weighted mean loss over all rows, plus the penalty (as an epoch's is)."""
    n = len(data.X)
    total = weight = 0.0
    mode = module.training
    module.eval()
    try:
        for i in range(0, n, batch_size):
            rows = slice(i, min(i + batch_size, n))
            w = None if data.w is None else take_rows(data.w, rows)
            batch_weight = float(rows.stop - i) if w is None else float(row_weights(w).sum())
            if batch_weight > 0:
                loss = step.objective(batching.step_rows(data.X, rows), take_rows(data.y, rows), w)
                total, weight = total + float(loss) * batch_weight, weight + batch_weight
    finally:
        module.train(mode)
        for p in module.parameters():
            if p.grad is not None:
                p.grad.zero_()
    return total / weight + step.penalty.value(weight) if weight > 0 else float("inf")
