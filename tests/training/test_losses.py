"""The loss registry: every entry's analytic gradient equals autograd's, every pairing is
accepted or refused as the registry says, and a loss added through the registry alone
is picked up by these tests and by the estimators."""

import contextlib
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from test_engine import _fastest, _mlp, _plan_for, _squared_error

from torchsk import TorchRegressor
from torchsk.estimators.tasks import ClassificationTask, RegressionTask
from torchsk.nn.ensemble import EnsembleMLP
from torchsk.nn.heads import CLASSIFIER_HEADS, REGRESSION_LINKS
from torchsk.nn.mlp import MLP
from torchsk.training.losses import (
    CLASSIFICATION,
    LOSSES,
    REGRESSION,
    Loss,
    LossOptions,
    elementwise,
    identity_link_only,
    loss_functions,
    register_loss,
    unregister_loss,
)
from torchsk.training.objectives import AutogradObjective, ManualMLPObjective, NumpyMLPObjective
from torchsk.training.passes import make_objective
from torchsk.training.stacked import ManualEnsembleObjective, NumpyEnsembleObjective

OPTIONS = [LossOptions(huber_delta=0.7, quantile=0.8), LossOptions(label_smoothing=0.2)]
TARGET_TYPES = ("binary", "multiclass", "multilabel-indicator")


def _grads(objective, mlp, X, y, w):
    with torch.set_grad_enabled(objective.needs_autograd):
        loss = objective(X, y, w)
    return float(loss), [p.grad.clone() for p in mlp.parameters()]


def _check_same_gradients(module, loss, y, classes=(ManualMLPObjective, NumpyMLPObjective)):
    """Each hand-written objective of ``classes`` against autograd on ``module``."""
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    w = torch.rand(40, generator=gen, dtype=torch.float64)
    params = list(module.parameters())
    cases = [w, None]
    if isinstance(module, EnsembleMLP):  # each member its own rows (training.members)
        folds = torch.arange(40) % module.n_members
        cases.append(w[:, None] * (folds[:, None] != torch.arange(module.n_members)))
    for weights in cases:
        auto = _grads(AutogradObjective(module, loss.per_sample, params), module, X, y, weights)
        for cls in classes:
            manual = _grads(cls(module, loss.output_grad), module, X, y, weights)
            assert manual[0] == pytest.approx(auto[0], rel=1e-10)
            for gm, ga in zip(manual[1], auto[1], strict=True):
                torch.testing.assert_close(gm, ga, rtol=1e-9, atol=1e-12)


def _sample_targets(loss: Loss, output: str, target: str):
    """(number of outputs, targets) of a kind ``loss`` trains on through ``output``."""
    gen = torch.Generator().manual_seed(2)
    if loss.task == REGRESSION:  # non-negative: fits every regression loss
        return 2, torch.rand(40, 2, generator=gen, dtype=torch.float64) * 3
    if output == "sigmoid":
        n_out = 1 if target == "binary" else 3
        return n_out, torch.randint(0, 2, (40, n_out), generator=gen).double()
    n_out = 2 if target == "binary" else 4
    return n_out, torch.randint(0, n_out, (40,), generator=gen)


def _ensemble(activation: str, n_out: int) -> EnsembleMLP:
    """Three stacked members in training mode (each returns its own outputs)."""
    return EnsembleMLP(
        n_inputs=5, n_outputs=n_out, hidden_layer_sizes=(7, 6), activation=activation,
        n_members=3, generator=torch.Generator().manual_seed(0), dtype=torch.float64,
    ).train()  # fmt: skip


def check_registry_gradients(activation: str) -> list[tuple[str, str]]:
    """Check every registered analytic gradient against autograd; returns what ran."""
    checked = []
    for loss in LOSSES.values():
        for output in loss.outputs:
            for options in OPTIONS:
                functions = loss_functions(loss, output, options, linked=True)
                if functions.output_grad is None:
                    continue  # trained through autograd: nothing hand-written to check
                n_out, y = _sample_targets(loss, output, loss.targets[-1])
                _check_same_gradients(_mlp(activation, n_out), functions, y)
                # the members' numpy pass through the stacked ensemble
                _check_same_gradients(
                    _ensemble(activation, n_out),
                    functions,
                    y,
                    (NumpyEnsembleObjective, ManualEnsembleObjective),
                )
                checked.append((loss.name, output))
    return checked


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_analytic_gradients_of_every_registered_loss_equal_autograd(activation):
    checked = check_registry_gradients(activation)
    # the losses whose hand-written gradients the fast paths use
    for name, output in [
        ("squared_error", "identity"), ("absolute_error", "identity"), ("huber", "identity"),
        ("quantile", "identity"), ("poisson", "exp"), ("log_loss", "softmax"),
        ("nll", "log_softmax"), ("binary_cross_entropy", "sigmoid"),
    ]:  # fmt: skip
        assert (name, output) in checked


LABELS = {
    "binary": np.array([0, 1] * 5),
    "multiclass": np.array([0, 1, 2] * 4),
    "multilabel-indicator": np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]]),
}


def _classification_task(loss, head, target):
    y = LABELS[target]
    task = ClassificationTask(head=head, loss=loss, class_weight=None, options=LossOptions())
    task.fit_target(y)
    return task


def check_registry_pairings() -> list[str]:
    """Every registered loss with every output end: valid pairs build their loss,
    the others are refused with a message listing the valid combinations."""
    checked = []
    for loss in LOSSES.values():
        if loss.task == REGRESSION:
            for link in REGRESSION_LINKS:
                task = RegressionTask(
                    loss=loss.name, head=link, target_scaling="standard", options=LossOptions()
                )
                _check_pairing(task, link in loss.outputs)
        else:
            for head in CLASSIFIER_HEADS:
                for target in TARGET_TYPES:
                    task = _classification_task(loss.name, head, target)
                    _check_pairing(task, head in loss.outputs and target in loss.targets)
        checked.append(loss.name)
    return checked


def _check_pairing(task, valid: bool) -> None:
    if valid:
        assert callable(task.loss_functions().per_sample)
        return
    with pytest.raises(ValueError, match="Valid combinations: head=") as info:
        task.loss_functions()
    for name in (n for n, loss in LOSSES.items() if loss.task == task.kind):
        assert f"loss={name!r}" in str(info.value)  # every valid pair is named


def test_every_registered_pairing_is_accepted_or_refused_as_the_registry_says():
    checked = check_registry_pairings()
    assert set(checked) == set(LOSSES)
    assert {LOSSES[n].task for n in checked} == {REGRESSION, CLASSIFICATION}


def _log_cosh(p, y, options):
    return torch.log(torch.cosh(p - y))


def _log_cosh_grad(options, wrong=False):
    def grad(z, y):
        d = z - y
        slope = torch.tanh(d) * (2.0 if wrong else 1.0)
        return torch.log(torch.cosh(d)).mean(dim=1), slope / z.shape[1]

    return grad


@contextlib.contextmanager
def registered(loss):
    register_loss(loss)
    try:
        yield loss
    finally:
        unregister_loss(loss.name)


def _log_cosh_loss(wrong=False):
    return Loss(
        "log_cosh", REGRESSION, tuple(REGRESSION_LINKS), ("real",), elementwise(_log_cosh),
        identity_link_only(lambda o: _log_cosh_grad(o, wrong)), "the log-cosh loss",
    )  # fmt: skip


def test_a_loss_added_through_the_registry_alone_is_tested_and_usable():
    with registered(_log_cosh_loss()):
        assert ("log_cosh", "identity") in check_registry_gradients("tanh")
        assert "log_cosh" in check_registry_pairings()
        X, y = load_diabetes(return_X_y=True)
        reg = TorchRegressor(loss="log_cosh", hidden_layer_sizes=(), solver="lbfgs").fit(X, y)
        assert reg._plan.objective == "numpy"  # its hand-written gradient is used
        assert reg.score(X, y) > 0.45
    with registered(_log_cosh_loss(wrong=True)):  # a wrong gradient does not pass
        with pytest.raises(AssertionError):
            check_registry_gradients("tanh")
    assert "log_cosh" not in LOSSES
    with pytest.raises(ValueError, match="loss"):
        TorchRegressor(loss="log_cosh").fit(X, y)


def test_fast_path_is_used_only_where_it_is_exact():
    loss = _squared_error()
    mlp = _mlp("relu", 1)
    # float64 on the CPU (the small problems): the numpy version; float32: torch's
    assert type(_fastest(mlp, loss, [])) is NumpyMLPObjective
    assert type(_fastest(mlp.float(), loss, [])) is ManualMLPObjective
    mlp.double()
    assert isinstance(_fastest(_mlp("gelu", 1), loss, []), AutogradObjective)
    no_grad = loss_functions(LOSSES["squared_error"], "exp", LossOptions(), linked=True)
    assert no_grad.output_grad is None  # a link the hand-written gradient does not cover
    assert isinstance(_fastest(mlp, no_grad, []), AutogradObjective)
    dropout = MLP(n_inputs=5, n_outputs=1, hidden_layer_sizes=(4,), dropout=0.5).double()
    assert isinstance(_fastest(dropout, loss, []), AutogradObjective)
    linear = torch.nn.Linear(5, 1).double()
    assert _plan_for(linear).objective == "autograd"
    assert isinstance(make_objective("autograd", linear, loss, []), AutogradObjective)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("group", [None, 2 * 97])  # all outputs at once; 2 at a time
def test_each_outputs_loss_in_one_call_equals_one_call_per_output(weighted, group, monkeypatch):
    # training.report reads a several-output fit's losses per output (loss_ in y's
    # units) with the outputs stacked as rows of one column: exact for every registered
    # loss, whose rows are independent; a user's module loss keeps one call per output
    from torchsk.training import report
    from torchsk.training.report import _mean, _output_losses

    if group:
        monkeypatch.setattr(report, "OUTPUT_LOSS_VALUES", group)

    g = torch.Generator().manual_seed(0)
    for loss in (v for v in LOSSES.values() if v.task == REGRESSION):
        for link in loss.outputs:
            fns = loss_functions(loss, link, OPTIONS[0], linked=True)
            assert fns.row_wise
            z = torch.randn(97, 5, generator=g, dtype=torch.float64)
            y = torch.rand(97, 5, generator=g, dtype=torch.float64) * 3
            w = torch.rand(97, generator=g, dtype=torch.float64) if weighted else None
            each = [_mean(fns.per_sample(z[:, [j]], y[:, [j]]), w) for j in range(5)]
            assert _output_losses(fns, z, y, w, 1.0) == (tuple(each), 1.0), (loss.name, link)
    module = loss_functions(torch.nn.L1Loss(reduction="none"), "identity", OPTIONS[0], linked=True)
    assert not module.row_wise


@pytest.mark.parametrize("head", ["exp", "softplus", "identity"])
def test_a_constant_output_stays_exact_under_the_quantile_loss_through_any_link(head):
    """Through a positive link the quantile loss trains by autograd, where
    torch.maximum's tie at a zero residual split its gradient: a constant output of
    5.0 drifted to 4.980-5.003 (the identity link's hand-written gradient held it)."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2)
    Y = np.c_[np.exp(X[:, 0]) + rng.rand(300), np.full(300, 5.0)]
    est = TorchRegressor(hidden_layer_sizes=(16,), loss="quantile", quantile=0.1, head=head,
                         max_iter=50, random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)
    np.testing.assert_allclose(est.predict(X)[:, 1], 5.0, rtol=1e-12)
