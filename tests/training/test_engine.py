"""The engine: the hand-written MLP gradients equal autograd's, solvers, penalty,
batched inference, the thread policy."""

import dataclasses
import threading

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits
from torch import nn

from torchsk import TorchRegressor
from torchsk.inputs.scaling import Scaling
from torchsk.inputs.stage import InputStage
from torchsk.nn.mlp import ACTIVATIONS, MLP
from torchsk.training.batches import Data
from torchsk.training.graphs import GraphedSteps
from torchsk.training.inference import predict_in_batches
from torchsk.training.loop import _epoch, _flatten, _graphed_steps, train
from torchsk.training.losses import LOSSES, LossOptions, loss_functions
from torchsk.training.objectives import AutogradObjective
from torchsk.training.optim import make_optimizer
from torchsk.training.passes import make_objective
from torchsk.training.plan import ONE_BLAS_THREAD, make_plan
from torchsk.training.settings import TrainSettings
from torchsk.training.step import Penalty, Step

pytestmark = pytest.mark.short_fits  # fits cut short on purpose


def _mlp(activation, n_out, seed=0):
    mlp = MLP(n_inputs=5, n_outputs=n_out, hidden_layer_sizes=(7, 6), activation=activation)
    mlp.reset_parameters(torch.Generator().manual_seed(seed))
    return mlp.double()


def _squared_error():
    return loss_functions(LOSSES["squared_error"], "identity", LossOptions(), linked=True)


class _Net(nn.Module):
    """What the plan looks at: the backbone and the input stage."""

    def __init__(self, backbone):
        super().__init__()
        self.inputs = InputStage(scaling=Scaling.from_config(5))
        self.backbone = backbone


def _plan_for(backbone, *, n_rows=10, analytic_grad=True):
    """The plan of a CPU fit of ``n_rows`` rows (few: float64; many: float32)."""
    return make_plan(_Net(backbone), torch.device("cpu"), n_rows, analytic_grad=analytic_grad)


def _fastest(mlp, loss, params):
    """The objective the plan picks for ``mlp`` in its own dtype."""
    n_rows = 10 if next(mlp.parameters()).dtype == torch.float64 else 10**9
    plan = _plan_for(mlp, n_rows=n_rows, analytic_grad=loss.output_grad is not None)
    return make_objective(plan.objective, mlp, loss, params)


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd", "rprop", "lbfgs"])
def test_train_reduces_the_loss_with_every_solver(solver):
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=gen, dtype=torch.float64)
    y = (X[:, :1] * 2 - X[:, 1:2]).clone()
    mlp = _mlp("tanh", 1)
    objective = _fastest(mlp, _squared_error(), list(mlp.parameters()))
    lr = {"sgd": 0.05, "rprop": 0.01}.get(solver, 0.01)
    settings = TrainSettings(solver=solver, learning_rate_init=lr, batch_size=50, max_iter=50)
    history, _ = train(mlp, objective, Data(X, y, torch.ones(200, dtype=torch.float64)), settings)
    assert history.loss_curve[-1] < 0.2 * history.loss_curve[0]
    assert history.n_iter == len(history.loss_curve)


def test_l2_penalty_shrinks_weights():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(100, 5, generator=gen, dtype=torch.float64)
    y = X[:, :1] * 3
    norms = []
    for alpha in (0.0, 10.0):
        mlp = _mlp("relu", 1)
        objective = AutogradObjective(mlp, _squared_error().per_sample, list(mlp.parameters()))
        settings = TrainSettings(solver="lbfgs", alpha=alpha, max_iter=100)
        train(mlp, objective, Data(X, y, torch.ones(100, dtype=torch.float64)), settings)
        norms.append(sum(float(p.detach().pow(2).sum()) for p in mlp.parameters() if p.ndim == 2))
    assert norms[1] < 0.5 * norms[0]


def test_zero_weight_batches_are_skipped():
    X = torch.randn(8, 5, dtype=torch.float64)
    w = torch.tensor([0.0] * 4 + [1.0] * 4, dtype=torch.float64)
    mlp = _mlp("relu", 1)
    settings = TrainSettings(batch_size=4, shuffle=False, max_iter=3)
    objective = AutogradObjective(mlp, _squared_error().per_sample, list(mlp.parameters()))
    history, _ = train(mlp, objective, Data(X, X[:, :1], w), settings)
    assert np.isfinite(history.loss_curve).all()


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_graphed_steps_take_the_batches_the_eager_epoch_takes(solver, shuffle):
    """The CUDA-graph step's device-side batch counter, run uncaptured on the CPU: two
    epochs from one start give the eager loop's losses and weights (15 full batches
    through the graph step, the 40 remaining rows eagerly)."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(1000, 5, generator=gen)
    y = X[:, :1] * 2 - X[:, 1:2]
    settings = TrainSettings(solver=solver, batch_size=64, shuffle=shuffle)
    runs = []
    for graph in (False, True):
        mlp = _mlp("relu", 1).float()
        params = list(mlp.parameters())
        objective = _fastest(mlp, _squared_error(), params)
        flat = _flatten(params)
        penalty, optimizer = Penalty(params, 1e-3), make_optimizer(solver, flat, 1e-2)
        steps = GraphedSteps(objective, penalty, optimizer, X, y, 64, capture=False)
        order_gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            losses = [
                _epoch(Step(objective, penalty, optimizer), Data(X, y), settings, order_gen,
                       steps if graph else None)
                for _ in range(2)
            ]  # fmt: skip
        runs.append((losses, flat.detach().clone()))
    (eager_losses, eager_flat), (graph_losses, graph_flat) = runs
    assert graph_losses == pytest.approx(eager_losses, rel=1e-6)
    torch.testing.assert_close(graph_flat, eager_flat, rtol=1e-6, atol=1e-7)
    assert graph_losses[1] < graph_losses[0]  # it trained


# (solver, our settings, torch.optim's counterpart)
@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
def test_only_a_constant_learning_rate_runs_as_a_cuda_graph(schedule):
    """A captured step holds the learning rate as a constant, so a schedule that
    changes it runs eagerly (the decision, checked without a GPU)."""
    X = torch.randn(1000, 5)
    mlp = _mlp("relu", 1).float()
    params = list(mlp.parameters())
    flat = _flatten(params)
    settings = TrainSettings(solver="sgd", batch_size=64, learning_rate=schedule)
    plan = _plan_for(mlp, n_rows=10**9)
    plan = dataclasses.replace(plan, device=torch.device("cuda"))  # what graphs need
    objective = _fastest(mlp, _squared_error(), params)
    optimizer = settings.optimizer(flat)
    step = Step(objective, Penalty(params, 0.0), optimizer)
    graphed = _graphed_steps(step, Data(X, X[:, :1]), settings, plan)
    assert (graphed is not None) == (schedule == "constant")


TORCH_OPTIMIZERS = {
    "adam": ("adam", {}, lambda p, lr: torch.optim.Adam(p, lr=lr, fused=True)),
    "adam, betas and eps": (
        "adam", dict(beta_1=0.5, beta_2=0.9, epsilon=1e-3),
        lambda p, lr: torch.optim.Adam(p, lr=lr, betas=(0.5, 0.9), eps=1e-3, fused=True),
    ),
    "adamw": ("adamw", {}, lambda p, lr: torch.optim.AdamW(p, lr=lr, fused=True)),
    "adamw, betas and eps": (
        "adamw", dict(beta_1=0.8, beta_2=0.99, epsilon=1e-6),
        lambda p, lr: torch.optim.AdamW(p, lr=lr, betas=(0.8, 0.99), eps=1e-6, fused=True),
    ),
    "sgd": (
        "sgd", {}, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True)
    ),
    "sgd, momentum 0.5": (
        "sgd", dict(momentum=0.5, nesterovs_momentum=False),
        lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.5, nesterov=False),
    ),
    "sgd, no momentum": (
        "sgd", dict(momentum=0.0), lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.0)
    ),
    "rprop": ("rprop", {}, lambda p, lr: torch.optim.Rprop(p, lr=lr)),
    # parameters of other solvers are ignored, as scikit-learn ignores them
    "rprop, sgd's and adam's settings": (
        "rprop", dict(momentum=0.1, beta_2=0.5, learning_rate="adaptive"),
        lambda p, lr: torch.optim.Rprop(p, lr=lr),
    ),
}  # fmt: skip


def _steps(optimizer, param, grads):
    for grad in grads:
        param.grad.copy_(grad)
        optimizer.step()


@pytest.mark.parametrize("case", sorted(TORCH_OPTIMIZERS))
def test_flat_optimizers_match_torch_optim_step_for_step(case):
    solver, settings, torch_optimizer = TORCH_OPTIMIZERS[case]
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(30, generator=gen, dtype=torch.float64)
    ours = start.clone()
    theirs = torch.nn.Parameter(start.clone())
    ours.grad = torch.zeros_like(ours)
    theirs.grad = torch.zeros_like(theirs)
    grads = [torch.randn(30, generator=gen, dtype=torch.float64) for _ in range(25)]
    _steps(make_optimizer(solver, ours, 0.01, **settings), ours, grads)
    _steps(torch_optimizer([theirs], 0.01), theirs, grads)
    # the same kernels on the same state: equal to the last bit
    torch.testing.assert_close(ours, theirs.detach(), rtol=0, atol=0)
    assert not torch.equal(ours, start)


SKLEARN_RULES = {
    "sgd": (dict(momentum=0.9, nesterovs_momentum=True), dict(momentum=0.9, nesterov=True)),
    "sgd, momentum 0.5": (
        dict(momentum=0.5, nesterovs_momentum=False), dict(momentum=0.5, nesterov=False)
    ),
    "sgd, no momentum": (dict(momentum=0.0), dict(momentum=0.0)),
    "adam": ({}, {}),
    "adam, betas": (dict(beta_1=0.5, beta_2=0.9), dict(beta_1=0.5, beta_2=0.9)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SKLEARN_RULES))
def test_flat_optimizers_follow_scikit_learn_update_rules(case):
    """Given the same gradients, our steps move the parameters as scikit-learn's MLP
    optimizers do (Adam: up to where the two place epsilon, 1e-8 here)."""
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    ours_settings, sklearn_settings = SKLEARN_RULES[case]
    solver = case.split(",")[0]
    gen = torch.Generator().manual_seed(0)
    ours = torch.randn(30, generator=gen, dtype=torch.float64)
    theirs = [ours.numpy().copy()]
    ours.grad = torch.zeros_like(ours)
    optimizer = make_optimizer(solver, ours, 0.01, **ours_settings)
    sklearn_class = SGDOptimizer if solver == "sgd" else AdamOptimizer
    reference = sklearn_class(theirs, 0.01, **sklearn_settings)
    for _ in range(25):
        grad = torch.randn(30, generator=gen, dtype=torch.float64)
        _steps(optimizer, ours, [grad])
        reference.update_params(theirs, [grad.numpy().copy()])
    np.testing.assert_allclose(ours.numpy(), theirs[0], rtol=1e-6 if solver == "adam" else 1e-12)


@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
def test_learning_rate_schedules_are_scikit_learn_s(schedule):
    """Driven by the same epochs (samples seen) and plateaus, our SGD's learning rate
    and its stopping decisions are scikit-learn's ``SGDOptimizer``'s."""
    from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

    flat = torch.zeros(3, dtype=torch.float64)
    ours = make_optimizer("sgd", flat, 0.1, learning_rate=schedule, power_t=0.3)
    theirs = SGDOptimizer([flat.numpy()], 0.1, lr_schedule=schedule, power_t=0.3)
    rates, stops = [], []
    for epoch in range(1, 19):
        ours.iteration_ends(epoch * 70)
        theirs.iteration_ends(epoch * 70)
        if epoch % 2 == 0:  # a plateau every other epoch
            stops.append((ours.trigger_stopping(), theirs.trigger_stopping("", False)))
        rates.append((ours.lr, theirs.learning_rate))
    assert [a for a, _ in rates] == pytest.approx([b for _, b in rates], rel=1e-15)
    assert [a for a, _ in stops] == [b for _, b in stops]
    assert ours.fixed_lr == (schedule == "constant")
    if schedule == "adaptive":  # divided by 5 until at most 1e-6, then a stop
        assert [a for a, _ in stops] == [False] * 8 + [True]
        assert ours.lr == pytest.approx(0.1 / 5**8)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_inference_into_reused_buffers_equals_forward(activation):
    mlp = MLP(
        n_inputs=5, n_outputs=3, hidden_layer_sizes=(7, 6), activation=activation, dropout=0.3
    ).eval()
    X = torch.randn(300, 5, generator=torch.Generator().manual_seed(0))
    buffers = mlp.inference_buffers(128)
    addresses = [b.data_ptr() for b in buffers]
    with torch.inference_mode():
        outs = [mlp.forward_reusing(X[i : i + 128], buffers) for i in range(0, 300, 128)]
        expected = mlp(X)
    # equal, not close: the same kernels; earlier batches' outputs are not overwritten
    assert torch.equal(torch.cat(outs), expected)
    assert [b.data_ptr() for b in buffers] == addresses


class FirstColumn(nn.Module):
    """A backbone whose output is a view of its input."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x[:, :1]


class ShiftedMLP(MLP):
    """A subclass with its own forward, which batched inference must call."""

    def forward(self, x):
        return super().forward(x) + 100.0


SEEDED = dict(n_inputs=3, n_outputs=1, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("backbone", [FirstColumn(), MLP(**SEEDED), ShiftedMLP(**SEEDED)])
def test_predict_in_batches_covers_every_row_once(backbone):
    X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    copy_in = lambda rows, out: out.copy_(torch.from_numpy(rows))  # noqa: E731
    plan = _plan_for(backbone, n_rows=10**9)  # float32, as X
    out = predict_in_batches(backbone, X, copy_in, 3, plan, batch_size=4)
    with torch.no_grad():
        expected = backbone(torch.from_numpy(X))
    # a missing, repeated or overwritten row (a view of the reused input buffer would
    # hold the last batch's rows) is off by O(1); batches of 4 and of 10 rows may round
    # differently (other BLAS kernels) by a few float32 ulps
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def _blas_threads():
    return {
        lib["filepath"]: lib["num_threads"]
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    }


class RecordsBlasThreads(nn.Module):
    """A backbone that records the BLAS thread counts it runs under."""

    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)
        self.seen = []

    def forward(self, x):
        self.seen.append(_blas_threads())
        return self.linear(x)


def test_fit_holds_numpy_and_scipy_blas_at_one_thread_then_restores_them():
    X = np.random.default_rng(0).normal(size=(300, 4))
    y = X @ np.arange(4.0)
    # two threads whatever this machine's default, so that both changes are visible
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before and set(before.values()) == {2}
        for solver in ("lbfgs", "adam"):
            est = TorchRegressor(module=RecordsBlasThreads, solver=solver, max_iter=3).fit(X, y)
            seen = est.module_.backbone.seen
            assert len(seen) > 3 and all(set(s.values()) == {1} for s in seen)
            assert _blas_threads() == before


def _openblas_at_two_threads():
    """numpy's and scipy's OpenBLAS set to two threads, then left to any thread (as a
    user's ``with threadpool_limits`` leaves them), and the limiter to restore them."""
    from threadpoolctl import ThreadpoolController

    limiter = ThreadpoolController().select(internal_api="openblas").limit(limits=2)
    _release_openblas()
    return limiter


def _release_openblas():
    from threadpoolctl import OpenBLASController

    OpenBLASController.clear_controlling_thread(force=True)


def test_the_blas_limit_ends_in_whichever_thread_ends_the_last_fit():
    # A starts, B starts, A ends (its thread lives on, as a pool's worker does), B
    # ends: OpenBLAS takes limits from the thread that set them only, so B's restore
    # was dropped and numpy kept one thread for good; and after any fit, a user's own
    # limit in another thread was dropped the same way
    limiter = _openblas_at_two_threads()
    try:
        a_in, b_in, a_out, b_out = (threading.Event() for _ in range(4))

        def a():
            with ONE_BLAS_THREAD:
                a_in.set()
                b_in.wait(10)
            a_out.set()
            b_out.wait(10)

        def b():
            a_in.wait(10)
            with ONE_BLAS_THREAD:
                b_in.set()
                a_out.wait(10)
            b_out.set()

        threads = [threading.Thread(target=f) for f in (a, b)]
        for t in threads:
            t.start()
        b_out.wait(10)
        assert set(_blas_threads().values()) == {2}
        for t in threads:
            t.join()
        seen = []
        user = threading.Thread(target=lambda: seen.append(_limited_in_a_thread()))
        user.start()
        user.join()
        assert seen == [{1}]
    finally:
        limiter.restore_original_limits()
        _release_openblas()


def _limited_in_a_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        return set(_blas_threads().values())


def test_a_fit_in_a_thread_leaves_that_threads_torch_setting():
    # the limiter restored every library it had read, torch's per-thread OpenMP pool
    # included, from the setting read in another thread: a user's
    # torch.set_num_threads(1) came back as the core count in the fit's thread
    X = np.random.default_rng(0).normal(size=(50, 3))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seen = []

        def fit():
            TorchRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5).fit(X, X[:, 0])
            seen.append(torch.get_num_threads())

        worker = threading.Thread(target=fit)
        worker.start()
        worker.join()
        assert seen == [1]
    finally:
        torch.set_num_threads(previous)


def test_blas_limit_is_shared_by_nested_and_concurrent_users():
    with threadpool_limits(limits=2, user_api="blas"):
        with ONE_BLAS_THREAD:
            with ONE_BLAS_THREAD:
                pass
            # the inner exit does not restore while the outer fit still runs
            assert set(_blas_threads().values()) == {1}
        assert set(_blas_threads().values()) == {2}
        barrier = threading.Barrier(4)

        def fit_like():
            with ONE_BLAS_THREAD:
                barrier.wait()  # all four inside at once, leaving in any order

        threads = [threading.Thread(target=fit_like) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(_blas_threads().values()) == {2}


def test_lbfgs_ends_every_epoch_it_began_on_the_kept_weights():
    """An abnormal line search makes scipy evaluate after its last iteration: the epoch
    that begins then is ended here, on the kept weights (it was left for the fit's
    close, which had no fitted estimator to give a callback)."""
    from types import SimpleNamespace

    from torchsk.training.lbfgs import train_lbfgs

    flat = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    flat.grad = torch.zeros(2, dtype=torch.float64)
    calls = [0]

    def objective(X, y, w):  # its gradient turns inconsistent after 5 evaluations
        calls[0] += 1
        d = flat.detach() - torch.tensor([3.0, -2.0], dtype=torch.float64)
        flat.grad.copy_(4 * d**3 if calls[0] <= 5 else -4 * d**3)
        return float((d**4).sum())

    log = []
    hooks = SimpleNamespace(
        begin=lambda: log.append("b"), end=lambda history: log.append("e") or False
    )
    penalty = SimpleNamespace(value=lambda t: 0.0, add_grad=lambda t: None)
    data = SimpleNamespace(X=torch.zeros(4, 1), y=torch.zeros(4), w=None)
    settings = SimpleNamespace(max_iter=50, max_fun=15000, tol=1e-12, verbose=False)
    history = train_lbfgs(nn.Linear(1, 1), objective, penalty, flat, data, settings, hooks, False)
    assert history.stopped == "abnormal" and calls[0] > history.n_iter  # warned of
    assert history.solver_status[0] == 2
    assert "".join(log) == "be" * log.count("b")
