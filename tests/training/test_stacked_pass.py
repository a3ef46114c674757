"""The stacked members' torch pass: which fits take it, on how many threads, and that
computing only the members still training (a batched search's) changes nothing."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, make_friedman1
from test_engine import _Net, _plan_for, _squared_error

from torchsk import BatchedSearchCV, TorchRegressor
from torchsk.nn.ensemble import EnsembleMLP
from torchsk.training import plan as plan_module
from torchsk.training.plan import STACKED_TORCH_PARAMS, make_plan
from torchsk.training.stacked import ManualEnsembleObjective, NumpyEnsembleObjective

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _stack(n_members, widths=(7, 6)):
    return EnsembleMLP(
        n_inputs=5, n_outputs=1, hidden_layer_sizes=widths, n_members=n_members,
        generator=torch.Generator().manual_seed(0), dtype=torch.float64,
    ).train()  # fmt: skip


@pytest.mark.filterwarnings("error")  # torch warns of an array resized to fit: no such step
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize(("widths", "n_outputs"), [((7, 6), 1), ((7,), 3), ((), 2)])
def test_passes_that_keep_their_arrays_compute_what_a_fresh_pass_does(
    activation, widths, n_outputs
):
    # both passes keep their arrays between steps, per batch size (and, in torch, per
    # count of computed members): batches of alternating sizes (an epoch's last batch
    # is smaller) and members that stop must not mix them up
    stack = EnsembleMLP(
        n_inputs=5, n_outputs=n_outputs, hidden_layer_sizes=widths, n_members=3,
        activation=activation, generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    ).train()  # fmt: skip
    output_grad = _squared_error().output_grad
    numpy_pass = NumpyEnsembleObjective(stack, output_grad)
    torch_pass = ManualEnsembleObjective(stack, output_grad)
    active = np.array([True, False, True])
    gen = torch.Generator().manual_seed(2)
    for step, rows in enumerate((11, 4, 11, 4, 11, 4)):
        X = torch.randn(rows, 5, generator=gen, dtype=torch.float64)
        y = torch.randn(rows, n_outputs, generator=gen, dtype=torch.float64)
        w = torch.rand(rows, 3, generator=gen, dtype=torch.float64)
        fresh = ManualEnsembleObjective(stack, output_grad)
        if step >= 4:  # a member stopped: fewer members computed from now on
            torch_pass.keep_members(active)
            fresh.keep_members(active)
        kept = _gradients(numpy_pass if step < 4 else torch_pass, stack, X, y, w)
        if step < 4:
            torch_kept = _gradients(torch_pass, stack, X, y, w)
            np.testing.assert_allclose(torch_kept[2], kept[2], rtol=1e-12)
        loss, grads, members = kept
        expected_loss, expected, expected_members = _gradients(fresh, stack, X, y, w)
        assert loss == pytest.approx(expected_loss, rel=1e-12)
        np.testing.assert_allclose(members, expected_members, rtol=1e-12)
        for g, g_expected in zip(grads, expected, strict=True):
            torch.testing.assert_close(g, g_expected, rtol=1e-10, atol=1e-14)


@pytest.mark.filterwarnings("error")
def test_passes_over_batches_of_many_sizes_keep_two_sets_of_arrays():
    # data in blocks (Dask partitions) end each block with a batch of its own size:
    # the passes keep the arrays of the two sizes used last, and still compute right
    stack = _stack(3)
    output_grad = _squared_error().output_grad
    passes = [
        NumpyEnsembleObjective(stack, output_grad),
        ManualEnsembleObjective(stack, output_grad),
    ]
    gen = torch.Generator().manual_seed(3)
    for rows in (11, 7, 11, 5, 11, 3, 11, 7, 2):
        X = torch.randn(rows, 5, generator=gen, dtype=torch.float64)
        y = torch.randn(rows, 1, generator=gen, dtype=torch.float64)
        w = torch.rand(rows, 3, generator=gen, dtype=torch.float64)
        _, expected, _ = _gradients(ManualEnsembleObjective(stack, output_grad), stack, X, y, w)
        for objective in passes:
            _, grads, _ = _gradients(objective, stack, X, y, w)
            for g, g_expected in zip(grads, expected, strict=True):
                if isinstance(objective, ManualEnsembleObjective):  # the same arithmetic
                    assert torch.equal(g, g_expected)
                else:
                    torch.testing.assert_close(g, g_expected, rtol=1e-10, atol=1e-14)
            assert len(objective._layers._arrays) <= 2
    assert [key for key in passes[1]._layers._arrays] == [(3, 7), (3, 2)]
    assert len(passes[0]._targets._arrays) == 2


def test_a_large_stack_takes_the_torch_pass_a_small_one_numpy():
    small, large = _stack(2), _stack(4, widths=(100, 100))
    assert sum(p.numel() for p in large.parameters()) >= STACKED_TORCH_PARAMS
    assert _plan_for(small).objective == "numpy"
    plan = _plan_for(large)
    assert (plan.objective, plan.dtype, plan.n_members) == ("manual", torch.float64, 4)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with plan.threads(64):  # batches of 64 rows: work enough for two threads
            assert torch.get_num_threads() == 2
        with plan.threads(1):  # too little work a step: threads would only contend
            assert torch.get_num_threads() == 1
        with _plan_for(small).threads(64):
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_stack_on_a_gpu_keeps_autograd_its_torch_pass_untried_there():
    # make_plan reads the device's type only: no GPU is needed to plan for one
    stack = _Net(_stack(4, widths=(100, 100)))
    assert make_plan(stack, torch.device("cpu"), 10, analytic_grad=True).objective == "manual"
    cuda = make_plan(stack, torch.device("cuda"), 10, analytic_grad=True)
    assert cuda.objective == "autograd"


def _gradients(objective, stack, X, y, w):
    with torch.no_grad():
        loss = float(objective(X, y, w))
    return loss, [p.grad.clone() for p in stack.parameters()], objective.take_member_losses()


def test_computing_only_the_active_members_gives_them_the_same_gradients():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(30, 1, generator=gen, dtype=torch.float64)
    w = torch.rand(30, 5, generator=gen, dtype=torch.float64)
    stack = _stack(5)
    loss_fn = _squared_error()
    full_loss, full, full_members = _gradients(
        ManualEnsembleObjective(stack, loss_fn.output_grad), stack, X, y, w
    )
    active = np.array([True, False, True, True, False])
    compact = ManualEnsembleObjective(stack, loss_fn.output_grad)
    compact.keep_members(active)
    for _ in range(2):  # the targets cached for three members are reused
        loss, grads, members = _gradients(compact, stack, X, y, w)
    assert loss == pytest.approx(np.nansum(full_members[active]), rel=1e-12)
    assert full_loss == pytest.approx(full_members.sum(), rel=1e-12)
    np.testing.assert_allclose(members[active], full_members[active], rtol=1e-12)
    assert np.isnan(members[~active]).all()
    for p, g_full, g in zip(stack.parameters(), full, grads, strict=True):
        rows_full, rows = g_full.view(5, -1), g.view(5, -1)
        torch.testing.assert_close(rows[active], rows_full[active], rtol=1e-12, atol=0)
        assert (rows[~active] == 0).all(), p.shape


def test_the_computed_members_follow_every_mask():
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(12, 1, generator=gen, dtype=torch.float64)
    w = torch.rand(12, 3, generator=gen, dtype=torch.float64)
    stack, loss_fn = _stack(3), _squared_error()
    full = _gradients(ManualEnsembleObjective(stack, loss_fn.output_grad), stack, X, y, w)
    objective = ManualEnsembleObjective(stack, loss_fn.output_grad)
    for mask in ([True, False, True], [False, True, True], [True, True, True]):
        objective.keep_members(np.array(mask))
        loss, grads, members = _gradients(objective, stack, X, y, w)
        assert loss == pytest.approx(full[2][mask].sum(), rel=1e-12)
        for g, g_full in zip(grads, full[1], strict=True):
            expected = g_full.view(3, -1) * torch.tensor(mask, dtype=g.dtype)[:, None]
            torch.testing.assert_close(g.view(3, -1), expected, rtol=1e-12, atol=0)
    objective.keep_members(np.zeros(3, dtype=bool))  # all done: nothing to compute
    loss, grads, _ = _gradients(objective, stack, X, y, w)
    assert loss == 0.0 and all((g == 0).all() for g in grads)


def test_a_batched_search_scores_alike_through_the_numpy_and_the_torch_pass(monkeypatch):
    X, y = load_diabetes(return_X_y=True)
    grid = {"alpha": [1e-3, 1.0], "learning_rate_init": [1e-3, 3e-2]}

    def search():
        est = TorchRegressor(hidden_layer_sizes=(16,), max_iter=40, tol=1e-3, random_state=0)
        return BatchedSearchCV(est, grid, cv=3, refit=False).fit(X, y)

    monkeypatch.setattr(plan_module, "STACKED_TORCH_PARAMS", 10**9)
    numpy_pass = search()
    monkeypatch.setattr(plan_module, "STACKED_TORCH_PARAMS", 0)
    computed, keep = [], ManualEnsembleObjective.keep_members

    def recording(self, active):
        computed.append(int(active.sum()))
        keep(self, active)

    monkeypatch.setattr(ManualEnsembleObjective, "keep_members", recording)
    torch_pass = search()
    # members stopped at different epochs: the last ones were computed alone
    assert any(0 < n < 12 for n in computed) and computed[0] == 12
    np.testing.assert_allclose(
        torch_pass.cv_results_["mean_test_score"],
        numpy_pass.cv_results_["mean_test_score"], rtol=1e-8,
    )  # fmt: skip
    assert torch_pass.best_params_ == numpy_pass.best_params_


def test_a_large_stack_trains_in_float32_unless_its_members_stand_for_separate_fits():
    # 4 members of (100, 100) on 1,000 rows: arithmetic-bound as one network of their
    # 43k parameters (float32), though each member alone would train in float64
    stack, cpu = _Net(_stack(4, widths=(100, 100))), torch.device("cpu")
    assert make_plan(stack, cpu, 1000, analytic_grad=True).dtype == torch.float32
    as_fits = make_plan(stack, cpu, 1000, analytic_grad=True, members_as_fits=True)
    assert (as_fits.dtype, as_fits.objective) == (torch.float64, "manual")
    # a stack small enough for the numpy pass counts each member once
    assert _plan_for(_stack(2), n_rows=1000).dtype == torch.float64


def test_a_searchs_shared_stack_trains_in_float32_its_separate_folds_in_their_fits_dtype(
    monkeypatch,
):
    from torchsk.estimators import base

    dtypes, plan = [], base.make_plan

    def recording(*args, **kwargs):
        made = plan(*args, **kwargs)
        dtypes.append(made.dtype)
        return made

    monkeypatch.setattr(base, "make_plan", recording)
    X, y = make_friedman1(n_samples=900, n_features=20, random_state=0)
    grid = {"alpha": [1e-4, 1e-3, 1e-2, 1e-1], "learning_rate_init": [1e-3, 2e-3, 5e-3, 1e-2]}
    est = TorchRegressor(max_iter=2, random_state=0)
    # 48 members of (100,): 106k parameters on 900 rows; a fold's 16 on its 600
    # rows would be float32 too if counted whole, float64 one by one (a separate fit)
    BatchedSearchCV(est, grid, cv=3, refit=False).fit(X, y)
    assert dtypes == [torch.float32]
    dtypes.clear()
    BatchedSearchCV(est, grid, cv=3, refit=True, separate_folds=True).fit(X, y)
    assert dtypes == [torch.float64] * 4  # three splits' networks and the refit
