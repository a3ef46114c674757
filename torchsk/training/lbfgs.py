"""Full-batch L-BFGS through scipy's L-BFGS-B, torch computing the loss and gradient."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import scipy.optimize
import torch

from torchsk.training.batches import Data, weight_of
from torchsk.training.settings import KEEP_INTERRUPTED, History, log_epoch


def train_lbfgs(module, objective, penalty, flat, data: Data, settings, hooks,
                 numpy_views: bool) -> History:  # fmt: skip
    """Full-batch L-BFGS through scipy's L-BFGS-B, as scikit-learn's MLP does.

    scipy does the (cheap, compiled) bookkeeping over a flat float64 vector; torch
    computes the loss and its gradient. Stops when the largest gradient entry is
    below ``tol`` (``gtol``), the loss stops changing, after ``max_iter`` iterations
    or after ``max_fun`` function evaluations (scipy checks after each iteration, so
    its last line search may pass it by a few). The weights of the last finite
    iteration are kept.
    """
    history = History()
    total_weight = weight_of(data.w, len(data.X))
    member_totals = data.w.sum(0) if data.w is not None and data.w.ndim == 2 else None
    # an epoch (for callbacks) begins with an iteration's first evaluation, so none is
    # begun after the last iteration (scipy's callback cannot tell it is the last)
    state = {"x": flat.detach().cpu().double().numpy().copy(), "in_iteration": False}
    raised = []  # a user's callback's StopIteration (_end_epoch)
    load, gradient = _vector_access(flat, numpy_views)
    module.train()

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        if not state["in_iteration"]:  # an iteration's first evaluation: its epoch starts
            hooks.begin()
            state["in_iteration"] = True
        load(x)
        loss = float(objective(data.X, data.y, data.w))
        if member_totals is not None:  # members with rows of their own
            loss += penalty.member_value(member_totals)  # the value of the gradient below
            penalty.add_member_grad(member_totals)
        else:
            loss += penalty.value(total_weight)
            penalty.add_grad(total_weight)
        return loss, gradient()

    def callback(intermediate_result) -> None:
        loss = float(intermediate_result.fun)
        if not math.isfinite(loss):
            history.stopped = "diverged"
            raise StopIteration
        state["x"] = intermediate_result.x.copy()
        log_epoch(history, loss, len(data.X), settings)
        state["in_iteration"] = False
        if _end_epoch(hooks, history, raised):
            history.stopped = "converged"  # a callback asked to stop
            raise StopIteration

    try:
        result = _minimize(fun, state["x"], callback, settings, raised)
        history.solver_status = (int(result.status), str(result.message))  # for warnings
        history.stopped = _how_scipy_stopped(history.stopped, result, settings.max_iter)
        _record_start(history, result)
    except KeyboardInterrupt:
        if history.n_iter == 0 or not KEEP_INTERRUPTED.get():
            raise
        history.stopped = "interrupted"
    flat.data.copy_(torch.from_numpy(state["x"]))
    if state["in_iteration"] and history.stopped != "interrupted":
        # scipy evaluated after its last iteration (an abnormal line search): that
        # epoch ends on the kept weights, so a callback still gets a fitted estimator
        hooks.end(history)
    history.best_loss = min(history.loss_curve, default=math.inf)
    history.t = 0  # scikit-learn's t_ counts the samples its stochastic solvers see
    module.eval()
    return history


def _end_epoch(hooks, history: History, raised: list) -> bool:
    """``hooks.end(history)``, a user's callback's StopIteration kept in ``raised``:
    scipy would take it for a request to stop (its status 99), where the other
    solvers' loops raise it (``_minimize`` raises it after scipy)."""
    try:
        return hooks.end(history)
    except StopIteration as error:
        raised.append(error)
        raise


def _minimize(fun, x0: np.ndarray, callback, settings, raised: list):
    """scipy's L-BFGS-B from ``x0``; a user's callback's StopIteration raised after it."""
    result = scipy.optimize.minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": settings.max_iter, "maxfun": settings.max_fun, "gtol": settings.tol},
    )
    if raised:
        raise raised[0]
    return result


def _record_start(history: History, result) -> None:
    """scipy stopped before a first iteration (a huge ``tol``): the starting point's
    loss is the fit's ``loss_``, as scikit-learn reports it (``n_iter_`` stays 0)."""
    if not history.loss_curve and math.isfinite(result.fun):
        history.loss_curve.append(float(result.fun))


def _how_scipy_stopped(stopped: str, result, max_iter: int) -> str:
    """``History.stopped`` after scipy's run (``stopped``: as the callback left it).
    Status 1 is max_iter or max_fun; any other but 0 (2: "ABNORMAL", a line search
    that found no decrease) is ``"abnormal"``, which scikit-learn's MLP warns of as not
    converged (``History.solver_status`` keeps scipy's status and message for it)."""
    if stopped != "max_iter":
        return stopped
    if not math.isfinite(result.fun):
        return "diverged"
    if result.status == 0:
        return "converged"
    if result.status != 1:
        return "abnormal"
    return "max_fun" if result.nit < max_iter else "max_iter"


def _vector_access(flat: torch.Tensor, numpy_views: bool):
    """``load(x)`` writes scipy's float64 vector into ``flat``; ``gradient()`` returns a
    float64 copy of its gradient (scipy keeps the previous one; ``flat.grad`` is
    overwritten). CPU float64 parameters (the plan's ``numpy_views``), the small
    problems, go through numpy views: no torch call per evaluation."""
    if numpy_views:
        values, grads = flat.detach().numpy(), flat.grad.numpy()
        return partial(np.copyto, values), grads.copy
    return (
        lambda x: flat.data.copy_(torch.from_numpy(x)),
        lambda: flat.grad.cpu().double().numpy().copy(),
    )
