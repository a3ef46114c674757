"""The training loop: plain PyTorch, no scikit-learn.

``train`` takes a module, an objective (``training.objectives``), resident tensors or
blocks (``training.batches``) and settings, and returns the training history.
Mini-batches come from the resident tensors, never a per-sample ``DataLoader``: small
data is copied in shuffled order once per epoch (contiguous batches), larger data is
gathered batch by batch through a shuffled index (no second copy of X); on a GPU the
full batches run as replays of one CUDA graph (``training.graphs``). The last finite
weights are kept: a diverging or interrupted run still leaves a usable model."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import torch
from torch import nn

from torchsk.training import batches as batching  # its step_rows: "batches" is a local
from torchsk.training.batches import (
    Blocks,
    Data,
    full_batches,
    idle_members,
    joined,
    n_rows,
    row_weights,
    take_rows,
    weight_of,
)
from torchsk.training.graphs import GraphedSteps
from torchsk.training.lbfgs import train_lbfgs
from torchsk.training.lowest import lowest_loss
from torchsk.training.members import member_scale
from torchsk.training.optim import FlatOptimizer, MemberRates
from torchsk.training.plan import ExecutionPlan
from torchsk.training.settings import (
    FULL_BATCH_SOLVERS,
    KEEP_INTERRUPTED,
    SMALL_DATA_BYTES,
    History,
    Stopping,
    TrainSettings,
    log_epoch,
    rows_per_step,
    stop_reason,
)
from torchsk.training.step import Penalty, Step


def _flatten(params: list[nn.Parameter], flat: nn.Parameter | None = None) -> nn.Parameter:
    """Make ``params`` (and their grads) views into one flat parameter.

    The optimizer then updates one tensor with one kernel call, and L-BFGS reads and
    writes the whole model as one vector. ``flat`` is reused when given, so that an
    optimizer's state carries over to a warm start.
    """
    values = torch.cat([p.detach().reshape(-1) for p in params])
    if flat is None or flat.shape != values.shape or flat.dtype != values.dtype:
        flat = nn.Parameter(values)
    else:
        flat.data.copy_(values)
    flat.grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat.data[offset : offset + n].view_as(p)
        p.grad = flat.grad[offset : offset + n].view_as(p)
        offset += n
    return flat


def _unflatten(params: list[nn.Parameter]) -> None:
    """Give each parameter its own storage again (clean ``state_dict``s and pickles)."""
    for p in params:
        p.data = p.data.clone()
        p.grad = None


class NoHooks:
    """Per-epoch hooks that do nothing (see ``estimators.callbacks.EpochHooks`` for real ones)."""

    def begin(self) -> None:
        """An epoch starts."""

    def end(self, history=None) -> bool:
        """An epoch ended (``history``: the fit's so far); return True to stop training."""
        return False


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train(
    module: nn.Module,
    objective: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    data: Data,
    settings: TrainSettings,
    *,
    optimizer: FlatOptimizer | None = None,
    validation_score: Callable[[], float] | None = None,
    generator: torch.Generator | None = None,
    hooks=None,
    plan: ExecutionPlan | None = None,
    samples_seen: int = 0,
    stopping: Stopping | None = None,
    guard=None,
) -> tuple[History, FlatOptimizer | None]:
    """Train ``module`` in place and return its history and optimizer.

    Parameters
    ----------
    module : nn.Module
        Holds the trainable parameters; put in train mode while training.
    objective : callable
        ``objective(X, y, w)`` → weighted mean loss of a batch, leaving the gradients
        in ``.grad`` (see ``training.objectives``).
    data : Data
        Resident tensors on the module's device, inputs already scaled.
    settings : TrainSettings
    optimizer : FlatOptimizer, default=None
        Continue with this optimizer's state (``partial_fit``).
    validation_score : callable, default=None
        Returns a score to maximize on held-out data; enables early stopping on it,
        and the weights of the best epoch are restored at the end.
    generator : torch.Generator, default=None
        Source of the shuffling permutations.
    hooks : object with ``begin()`` and ``end(history) -> bool``, default=None
        Called around each epoch (L-BFGS: iteration); ``end`` returning True stops.
    plan : ExecutionPlan, default=None
        Where CUDA graphs and numpy views of the parameters may be used (``training.plan``);
        None uses neither.
    samples_seen : int, default=0
        Training samples seen by earlier fits of this model (scikit-learn's ``t_``),
        for the ``"invscaling"`` schedule.
    stopping : Stopping, default=None
        The no-improvement rule's memory from earlier fits of this model (warm
        start, ``partial_fit``), to go on counting from; None starts afresh.
    guard : training.members.MemberGuard, default=None
        Members given their rows: each stops on its own (the guard's rules replace
        the loop's).

    Returns
    -------
    history : History
    optimizer : FlatOptimizer or None
        None for L-BFGS, which keeps no state between fits.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    previous = optimizer.flat if optimizer is not None else None
    flat = _flatten(params, previous)
    scale, member_alpha = settings.penalty_scale, settings.member_alpha
    member_alpha = None if member_alpha is None else tuple(a * scale for a in member_alpha)
    penalty = Penalty(params, settings.alpha * scale, member_alpha)
    hooks = hooks or NoHooks()
    try:
        # the hand-written objective needs no autograd: disable it once for the fit
        with torch.set_grad_enabled(objective.needs_autograd):
            if settings.solver == "lbfgs":
                numpy_views = plan is not None and plan.numpy_views
                history = train_lbfgs(
                    module, objective, penalty, flat, data, settings, hooks, numpy_views
                )
                return history, None
            if not _continues(optimizer, flat, settings):
                optimizer = settings.optimizer(flat)
                if settings.member_lr is not None:  # each member its own rate
                    scale = member_scale(params, settings.member_lr, settings.learning_rate_init)
                    optimizer = MemberRates(optimizer, scale.to(flat))
            step = Step(objective, penalty, optimizer, params)  # a plan may replay it as a graph
            graphed = _graphed_steps(step, data, settings, plan)
            if guard is not None:  # members given their rows: each stops on its own
                history = _member_epochs(
                    module, step, data, settings, generator, hooks, graphed, samples_seen, guard
                )
                return history, optimizer
            judge = (stopping or Stopping()).resumed(on_score=validation_score is not None)
            history = _train_epochs(
                module, step, data, settings, validation_score,
                generator, hooks, graphed, samples_seen, judge,
            )  # fmt: skip
            return history, optimizer
    finally:
        _unflatten(params)


def _continues(optimizer: FlatOptimizer | None, flat, settings: TrainSettings) -> bool:
    """Whether ``partial_fit`` keeps ``optimizer``'s state (a ``fit``, warm or not,
    passes none: scikit-learn's starts a new optimizer): not after ``set_params``
    changed the solver, the learning rate or a setting the solver reads
    (``TrainSettings.optimizer_key``; scikit-learn would keep it and ignore them)."""
    return (
        optimizer is not None
        and optimizer.flat is flat
        and getattr(optimizer, "made_for", None) == settings.optimizer_key()
    )


def _train_epochs(module, step: Step, data, settings, validation_score, generator, hooks,
                  graphed, samples_seen=0, judge: Stopping | None = None) -> History:  # fmt: skip
    """Epochs of a mini-batch optimizer, with scikit-learn's stopping rules and
    learning-rate schedules; ``judge`` counts on from earlier fits (and is updated).

    Kept weights: the best validation epoch's with a usable score (its first ones where
    an earlier fit's best is not beaten, as scikit-learn's warm start keeps them); where
    the loss rose or diverged, ``training.lowest``'s; else the last ones.
    """
    history = History()
    history.stopping = judge = judge or Stopping()
    last_good = best_state = start = _snapshot(module)
    lowest = [start]  # the lowest-loss epoch's weights: those that began and ended it
    module.train()
    try:
        for _ in range(settings.max_iter):
            hooks.begin()
            loss = _run_epoch(step, data, settings, generator, graphed)
            if not math.isfinite(loss):
                # the last finite epoch's end weights may have overflowed: keep its start's
                module.load_state_dict(last_good := start)
                history.stopped = "diverged"
                break
            start, last_good = last_good, _snapshot(module)
            if loss < history.best_loss:
                lowest = [start] if _one_step(settings, data) else [start, last_good]
            log_epoch(history, loss, n_rows(data), settings)
            score = _score(module, validation_score, history, settings.verbose)
            best_state = last_good if judge.update(loss, score, settings.tol) else best_state
            history.best_loss = min(history.best_loss, loss)
            step.optimizer.iteration_ends(samples_seen + history.t)
            history.stopped = stop_reason(hooks, history, judge, step.optimizer, settings)
            if history.stopped != "max_iter":
                break
    except KeyboardInterrupt:
        _interrupted(history, module, last_good)
    if history.stopped == "diverged" and math.isfinite(judge.best_score):
        # the weights it went back to may be its initial ones, never scored: one epoch
        # scored -2.6e111 and was "best"; the better of the two is kept, its score best
        if (at_start := _score(module, validation_score, History(), False)) > judge.best_score:
            judge.best_score, best_state = at_start, start
    if math.isfinite(judge.best_score):  # only a real score selects weights
        module.load_state_dict(best_state)
    elif history.stopped in ("rose", "diverged"):  # measured (training.lowest)
        kept = lowest_loss(module, step, data, settings, lowest, last_good, history)
        module.load_state_dict(kept)
    module.eval()
    return history


def _member_epochs(module, step: Step, data: Data, settings, generator, hooks, graphed,
                   samples_seen: int, guard) -> History:  # fmt: skip
    """Epochs of members that each stop on their own: ``guard``'s rules
    (``training.members.MemberGuard``) replace the loop's; the loss logged is the
    training loss of the members that trained in the epoch; not logged: an epoch
    where all diverged (each member back at the weights ``guard`` keeps for it)."""
    history = History()
    history.stopping = Stopping(on_score=guard.keeps_best)  # what the attributes follow
    last_good = start = _snapshot(module)
    # each member's penalty, as a separate fit adds it to its epoch loss: once a batch
    batches = math.ceil(n_rows(data) / rows_per_step(settings, n_rows(data)))
    module.train()
    try:
        for _ in range(settings.max_iter):
            hooks.begin()
            _run_epoch(step, data, settings, generator, graphed)
            take = getattr(step.objective, "take_member_losses", None)
            penalties = guard.per_row_penalties(step.penalty, batches)
            loss = guard.after_epoch(last_good, step.optimizer, take and take(), penalties,
                                     one_step=_one_step(settings, data), start=start)  # fmt: skip
            keep = getattr(step.objective, "keep_members", None)
            if keep is not None:  # the torch pass computes only the members still training
                keep(~guard.retired)
            start, last_good = last_good, _snapshot(module)
            if math.isfinite(loss):
                log_epoch(history, loss, n_rows(data), settings)
                history.best_loss = min(history.best_loss, loss)
            step.optimizer.iteration_ends(samples_seen + history.t)
            if hooks.end(history) or guard.done:
                history.stopped = "converged"
                break
    except KeyboardInterrupt:
        _interrupted(history, module, last_good)
    if guard.broke.any():  # reported beside how the others stopped
        kept = "best" if guard.keeps_best else "lowest"
        history.diverged_members = (int(guard.broke.sum()), len(guard.broke), kept)
    if guard.rose.any():
        history.rose_members = (int(guard.rose.sum()), len(guard.rose))
    guard.finish(step.penalty, batches)
    module.eval()
    return history


def _interrupted(history: History, module: nn.Module, last_good: dict) -> None:
    """Ctrl-C: keep the last finite epoch's weights, as a diverging fit does; re-raise
    when no epoch ended or none is kept (``KEEP_INTERRUPTED``). In the ``except``."""
    if history.n_iter == 0 or not KEEP_INTERRUPTED.get():
        raise  # noqa: PLE0704 -- the KeyboardInterrupt being handled
    module.load_state_dict(last_good)
    history.stopped = "interrupted"


def _one_step(settings: TrainSettings, data: Data | Blocks) -> bool:
    """Whether an epoch is one step, whose loss is that of the weights it started
    from: a full-batch solver's, or one batch holding every row (24 rows, batches of
    64: the weights after the lowest-loss step were those of a loss 45x as high)."""
    if settings.solver in FULL_BATCH_SOLVERS:
        return True
    return getattr(data, "n_blocks", 1) == 1 and settings.batch_size >= n_rows(data)


def _graphed_steps(step: Step, data: Data, settings,
                   plan: ExecutionPlan | None) -> GraphedSteps | None:  # fmt: skip
    """A CUDA graph for the fit's full mini-batches where the plan says one pays (and
    the learning rate is constant: a captured step holds it as a constant)."""
    if plan is None or settings.solver in FULL_BATCH_SOLVERS:  # Rprop: one step per epoch
        return None
    if isinstance(data, Blocks) or not isinstance(data.X, torch.Tensor):
        return None  # a graph replays batches of one resident tensor
    if not step.optimizer.fixed_lr:
        return None
    batch = rows_per_step(settings, len(data.X))
    if not plan.graphs_steps(len(data.X), batch, settings.max_iter, data.w is not None):
        return None
    return GraphedSteps(step.objective, step.penalty, step.optimizer, data.X, data.y, batch)


def _score(module: nn.Module, validation_score: Callable[[], float] | None,
           history: History, verbose: bool) -> float:  # fmt: skip
    """The held-out score, recorded in ``history`` (NaN without a split) and printed
    with ``verbose`` (as scikit-learn's)."""
    if validation_score is None:
        return math.nan
    module.eval()
    with torch.no_grad():
        score = float(validation_score())
    module.train()
    history.validation_scores.append(score)
    if verbose:
        print(f"Validation score: {score:f}")
    return score


def _run_epoch(step: Step, data: Data | Blocks, settings, generator,
               graphed: GraphedSteps | None = None) -> float:  # fmt: skip
    """One epoch over resident ``Data``, or over ``Blocks`` one block at a time.

    Batches of ``Blocks`` are drawn across blocks: the rows a block leaves over (fewer
    than a batch, drawn at random when shuffling) join the next block's, so a small
    block (the last one, a filtered one) adds no small step, and an epoch takes the
    steps of resident data (``ceil(n_samples / batch_size)``).
    """
    if not isinstance(data, Blocks):
        return _epoch(step, data, settings, generator, graphed)
    order = range(data.n_blocks)
    if settings.shuffle and data.shuffle:
        order = torch.randperm(data.n_blocks, generator=generator).tolist()
    in_order = replace(settings, shuffle=False)  # the rows are shuffled here
    total = weight = 0.0
    rest = None
    # the next block loads (from disk, a cluster) while this one trains
    with ThreadPoolExecutor(max_workers=1) as loader:
        upcoming = loader.submit(data.load, order[0])
        for i in range(len(order)):
            block = upcoming.result()
            last = i + 1 == len(order)
            if not last:
                upcoming = loader.submit(data.load, order[i + 1])
            block, rest = full_batches(joined(rest, block), settings, generator, last)
            block_weight = weight_of(block.w, len(block.X))
            if block_weight > 0:  # rows of zero weight only: nothing to learn
                loss = _epoch(step, block, in_order, generator)
                total, weight = total + loss * block_weight, weight + block_weight
    return total / weight if weight > 0 else math.nan


def _epoch(step: Step, data: Data, settings, generator,
           graphed: GraphedSteps | None = None) -> float:  # fmt: skip
    """One pass over the data; returns the epoch's weighted mean loss (with penalty).
    With ``graphed``, its CUDA graph runs the full batches, the last partial one here."""
    n = len(data.X)
    full_batch = settings.solver in FULL_BATCH_SOLVERS
    batch = rows_per_step(settings, n)
    X, y, w = data.X, data.y, data.w
    shuffled = settings.shuffle and batch < n
    order = torch.randperm(n, generator=generator).to(X.device) if shuffled else None
    resident = isinstance(X, torch.Tensor)  # sparse rows are densified a batch at a time
    if order is not None and resident and X.nbytes <= SMALL_DATA_BYTES and graphed is None:
        # small data: one shuffled copy per epoch, then batches are free slices
        X, y = X.index_select(0, order), y.index_select(0, order)
        w = None if w is None else w.index_select(0, order)
        order = None
    # otherwise each batch gathers its rows through the shuffled index (no copy of X)
    starts = list(range(0, n, batch))
    if len(starts) > 1 and n - starts[-1] < settings.min_batch_rows:
        starts.pop()  # too few rows for the module (batch norm): they join the one before
    bounds = list(zip(starts, [*starts[1:], n], strict=True))
    batches = [slice(i, j) if order is None else order[i:j] for i, j in bounds]
    # per-batch weight totals on the host, computed once (no device sync per step)
    if w is None:
        totals = [float(j - i) for i, j in bounds]
    else:
        totals = torch.stack([row_weights(take_rows(w, b)).sum() for b in batches]).tolist()
    # Batch losses in one preallocated vector, not scalar tensors: small allocations living
    # all epoch between the steps' temporaries fragment the heap (1M rows: ~50 MB more).
    losses = torch.zeros(len(batches), dtype=torch.float64, device=X.device)
    used = [weight > 0 for weight in totals]  # only zero-weight rows: nothing to learn
    idle = idle_members(w, batches)  # a graph's captured steps would move them
    done = 0
    if graphed is not None and all(i is None for i in idle[: graphed.n_full]):
        done = graphed.n_full
        losses[:done] = graphed.run(order)
    for k, b in enumerate(batches[done:], start=done):
        if used[k]:
            # a full batch is X itself (sparse rows: the objective goes over it in chunks)
            losses[k] = step(
                X if full_batch else batching.step_rows(X, b), take_rows(y, b),
                None if w is None else take_rows(w, b), totals[k], idle=idle[k],
            )  # fmt: skip
    total = float(losses @ torch.tensor(totals, dtype=torch.float64, device=X.device))
    # as scikit-learn reports it: each batch adds 0.5 * alpha * ||W||² (final weights)
    penalties = step.penalty.value(1.0) * sum(used)
    return (total + penalties) / sum(totals)
