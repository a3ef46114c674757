"""The engine: the hand-written MLP gradients equal autograd's, solvers, penalty,
batched inference, the thread policy."""

import threading

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits
from torch import nn

from torchsk import TorchRegressor
from torchsk._engine import (
    ONE_BLAS_THREAD,
    Data,
    TrainSettings,
    _epoch,
    _flatten,
    _Penalty,
    predict_in_batches,
    train,
)
from torchsk._graphs import GraphedSteps
from torchsk._heads import (
    CLASSIFIER_HEADS,
    classifier_loss,
    classifier_output_grad,
    regression_loss,
    regression_output_grad,
)
from torchsk._modules import ACTIVATIONS, MLP
from torchsk._objectives import (
    AutogradObjective,
    ManualMLPObjective,
    NumpyMLPObjective,
    make_objective,
)
from torchsk._optim import make_optimizer


def _mlp(activation, n_out, seed=0):
    mlp = MLP(n_inputs=5, n_outputs=n_out, hidden_layer_sizes=(7, 6), activation=activation)
    mlp.reset_parameters(torch.Generator().manual_seed(seed))
    return mlp.double()


def _grads(objective, mlp, X, y, w):
    with torch.set_grad_enabled(objective.needs_autograd):
        loss = objective(X, y, w)
    return float(loss), [p.grad.clone() for p in mlp.parameters()]


def _check_same_gradients(mlp, loss_fn, output_grad, y):
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    w = torch.rand(40, generator=gen, dtype=torch.float64)
    params = list(mlp.parameters())
    for weights in (w, None):
        auto = _grads(AutogradObjective(mlp, loss_fn, params), mlp, X, y, weights)
        for cls in (ManualMLPObjective, NumpyMLPObjective):
            manual = _grads(cls(mlp, output_grad), mlp, X, y, weights)
            assert manual[0] == pytest.approx(auto[0], rel=1e-10)
            for gm, ga in zip(manual[1], auto[1], strict=True):
                torch.testing.assert_close(gm, ga, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize(
    ("loss", "link"),
    [("squared_error", "identity"), ("absolute_error", "identity"), ("huber", "identity"),
     ("quantile", "identity"), ("poisson", "exp")],
)  # fmt: skip
def test_manual_regression_gradients_equal_autograd(activation, loss, link):
    y = torch.rand(40, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    kw = dict(epsilon=0.7, quantile=0.8)
    _check_same_gradients(
        _mlp(activation, 2), regression_loss(loss, link, **kw),
        regression_output_grad(loss, link, **kw), y,
    )  # fmt: skip


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize(
    "head", ["softmax", "log_softmax", "sigmoid-binary", "sigmoid-multilabel"]
)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_manual_classifier_gradients_equal_autograd(activation, head, smoothing):
    gen = torch.Generator().manual_seed(3)
    name = head.split("-")[0]
    spec = CLASSIFIER_HEADS[name]
    if head == "sigmoid-binary":
        n_out, y = 1, torch.randint(0, 2, (40, 1), generator=gen).double()
    elif head == "sigmoid-multilabel":
        n_out, y = 3, torch.randint(0, 2, (40, 3), generator=gen).double()
    else:
        n_out, y = 4, torch.randint(0, 4, (40,), generator=gen)
    _check_same_gradients(
        _mlp(activation, n_out), classifier_loss(spec, "auto", smoothing),
        classifier_output_grad(spec, "auto", smoothing), y,
    )  # fmt: skip


def test_fast_path_is_used_only_where_it_is_exact():
    grad = regression_output_grad("squared_error", "identity", epsilon=1, quantile=0.5)
    loss = regression_loss("squared_error", "identity", epsilon=1, quantile=0.5)
    mlp = _mlp("relu", 1)
    # float64 on the CPU (the small problems): the numpy version; float32: torch's
    assert type(make_objective(mlp, loss, grad, [])) is NumpyMLPObjective
    assert type(make_objective(mlp.float(), loss, grad, [])) is ManualMLPObjective
    mlp.double()
    assert isinstance(make_objective(_mlp("gelu", 1), loss, grad, []), AutogradObjective)
    assert isinstance(make_objective(mlp, loss, None, []), AutogradObjective)
    dropout = MLP(n_inputs=5, n_outputs=1, hidden_layer_sizes=(4,), dropout=0.5)
    assert isinstance(make_objective(dropout, loss, grad, []), AutogradObjective)
    assert isinstance(make_objective(torch.nn.Linear(5, 1), loss, grad, []), AutogradObjective)


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd", "rprop", "lbfgs"])
def test_train_reduces_the_loss_with_every_solver(solver):
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=gen, dtype=torch.float64)
    y = (X[:, :1] * 2 - X[:, 1:2]).clone()
    mlp = _mlp("tanh", 1)
    loss = regression_loss("squared_error", "identity", epsilon=1, quantile=0.5)
    grad = regression_output_grad("squared_error", "identity", epsilon=1, quantile=0.5)
    objective = make_objective(mlp, loss, grad, list(mlp.parameters()))
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
        loss = regression_loss("squared_error", "identity", epsilon=1, quantile=0.5)
        objective = AutogradObjective(mlp, loss, list(mlp.parameters()))
        settings = TrainSettings(solver="lbfgs", alpha=alpha, max_iter=100)
        train(mlp, objective, Data(X, y, torch.ones(100, dtype=torch.float64)), settings)
        norms.append(sum(float(p.pow(2).sum()) for p in mlp.parameters() if p.ndim == 2))
    assert norms[1] < 0.5 * norms[0]


def test_zero_weight_batches_are_skipped():
    X = torch.randn(8, 5, dtype=torch.float64)
    w = torch.tensor([0.0] * 4 + [1.0] * 4, dtype=torch.float64)
    mlp = _mlp("relu", 1)
    loss = regression_loss("squared_error", "identity", epsilon=1, quantile=0.5)
    settings = TrainSettings(batch_size=4, shuffle=False, max_iter=3)
    objective = AutogradObjective(mlp, loss, list(mlp.parameters()))
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
    loss = regression_loss("squared_error", "identity", epsilon=1, quantile=0.5)
    grad = regression_output_grad("squared_error", "identity", epsilon=1, quantile=0.5)
    settings = TrainSettings(solver=solver, batch_size=64, shuffle=shuffle)
    runs = []
    for graph in (False, True):
        mlp = _mlp("relu", 1).float()
        params = list(mlp.parameters())
        objective = make_objective(mlp, loss, grad, params)
        flat = _flatten(params)
        penalty, optimizer = _Penalty(params, 1e-3), make_optimizer(solver, flat, 1e-2)
        steps = GraphedSteps(objective, penalty, optimizer, X, y, 64, capture=False)
        order_gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            losses = [
                _epoch(objective, penalty, optimizer, Data(X, y), settings, order_gen,
                       steps if graph else None)
                for _ in range(2)
            ]  # fmt: skip
        runs.append((losses, flat.detach().clone()))
    (eager_losses, eager_flat), (graph_losses, graph_flat) = runs
    assert graph_losses == pytest.approx(eager_losses, rel=1e-6)
    torch.testing.assert_close(graph_flat, eager_flat, rtol=1e-6, atol=1e-7)
    assert graph_losses[1] < graph_losses[0]  # it trained


TORCH_OPTIMIZERS = {
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr, fused=True),
    "adamw": lambda p, lr: torch.optim.AdamW(p, lr=lr, fused=True),
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
    "rprop": lambda p, lr: torch.optim.Rprop(p, lr=lr),
}


@pytest.mark.parametrize("solver", sorted(TORCH_OPTIMIZERS))
def test_flat_optimizers_match_torch_optim_step_for_step(solver):
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(30, generator=gen, dtype=torch.float64)
    ours = start.clone()
    theirs = torch.nn.Parameter(start.clone())
    ours.grad = torch.zeros_like(ours)
    optimizer = make_optimizer(solver, ours, 0.01)
    reference = TORCH_OPTIMIZERS[solver]([theirs], 0.01)
    for _ in range(25):
        grad = torch.randn(30, generator=gen, dtype=torch.float64)
        ours.grad.copy_(grad)
        theirs.grad = grad.clone()
        optimizer.step()
        reference.step()
    # the same kernels on the same state: equal to the last bit
    torch.testing.assert_close(ours, theirs.detach(), rtol=0, atol=0)
    assert not torch.equal(ours, start)


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
    out = predict_in_batches(backbone, X, copy_in, batch_size=4)
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
