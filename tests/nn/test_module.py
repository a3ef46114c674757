"""``module_`` is a self-contained nn.Module that carries its own scaling."""

import io
import pickle
import warnings
from copy import deepcopy

import numpy as np
import pytest
import torch
from torch import nn

from torchsk import TorchClassifier, TorchRegressor

pytestmark = pytest.mark.short_fits  # tiny max_iter keeps the fits fast


def test_module_maps_raw_float32_x_to_predictions_in_y_units(body_mass):
    X, y = body_mass
    reg = TorchRegressor(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0).fit(X, y)
    out = reg.module_(torch.as_tensor(X, dtype=torch.float32)).detach().numpy().ravel()
    np.testing.assert_allclose(out, reg.predict(X), rtol=1e-6)
    assert 2500 < out.mean() < 6500  # grams, not standardized units


def test_module_returns_logits_on_raw_x(species):
    X, y = species
    clf = TorchClassifier(max_iter=50, random_state=0).fit(X, y)
    logits = clf.module_(torch.as_tensor(X, dtype=torch.float32)).detach().numpy()
    # float32 input rounding is the only difference from the float64 path
    np.testing.assert_allclose(logits, clf.decision_function(X), rtol=1e-5, atol=1e-4)


def test_float32_module_on_raw_x_matches_predict():
    # predict scales batches itself (_scale_into); the module scales on its own
    rng = np.random.default_rng(0)
    X = rng.normal(loc=50.0, scale=10.0, size=(20_000, 6))
    y = np.sin(X[:, 0] / 10) + X[:, 1] / 10
    reg = TorchRegressor(hidden_layer_sizes=(64, 64), max_iter=2, random_state=0).fit(X, y)
    assert reg.module_.compute_dtype == torch.float32
    assert reg.module_.inputs.scaling.center.dtype == torch.float64
    with torch.no_grad():
        out = reg.module_(torch.as_tensor(X)).numpy().ravel()
    np.testing.assert_allclose(out, reg.predict(X), rtol=0, atol=1e-5 * y.std())


def test_a_traced_module_and_torch_func_keep_the_missing_value_handling():
    """Fitted without NaN, the imputer takes a shortcut on complete rows: a
    torch.jit.trace on complete rows had kept it (NaN predicted for a row with a
    missing value, which predict fills) and torch.func.vmap had refused it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    reg = TorchRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    reg.fit(X, X[:, 0] * 3 + X[:, 1] ** 2)
    probe = X[:3].copy()
    probe[0, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates trace
        warnings.simplefilter("error", torch.jit.TracerWarning)  # a branch on the data
        traced = torch.jit.trace(reg.module_, torch.as_tensor(X[:5]))
    np.testing.assert_allclose(
        traced(torch.as_tensor(probe)).numpy().ravel(), reg.predict(probe), rtol=1e-12
    )
    saliency = torch.func.vmap(torch.func.grad(lambda x: reg.module_(x[None])[0, 0]))
    x = torch.as_tensor(X[:4]).requires_grad_()
    (grad,) = torch.autograd.grad(reg.module_(x).sum(), x)
    torch.testing.assert_close(saliency(torch.as_tensor(X[:4])), grad)


def test_scaling_constants_are_buffers_fitted_on_training_data(body_mass):
    X, y = body_mass
    reg = TorchRegressor(max_iter=5, random_state=0).fit(X, y)
    state = reg.module_.state_dict()
    for key in ["inputs.scaling.center", "inputs.scaling.scale"]:
        assert key in state
    np.testing.assert_allclose(state["inputs.scaling.center"].numpy(), X.mean(axis=0))
    np.testing.assert_allclose(state["inputs.scaling.scale"].numpy(), X.std(axis=0))
    np.testing.assert_allclose(state["target_scaling.center"].numpy(), [y.mean()])
    np.testing.assert_allclose(state["target_scaling.scale"].numpy(), [y.std()])
    before = {k: v.clone() for k, v in state.items()}
    reg.predict(X * 10)  # predicting on other data must not refit the scaling
    for k, v in reg.module_.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize("method", ["auto", "standard", "minmax", "robust", None])
def test_constant_columns_do_not_produce_nan(method, rng):
    X = np.column_stack([rng.normal(size=60), np.full(60, 7.0)])
    y = X[:, 0] * 3 + 1
    reg = TorchRegressor(input_scaling=method, max_iter=20, random_state=0).fit(X, y)
    assert np.isfinite(reg.module_.inputs.scaling.scale.numpy()).all()
    assert np.isfinite(reg.predict(X)).all()
    const_y = TorchRegressor(solver="lbfgs", random_state=0).fit(X, np.full(60, 2.5))
    np.testing.assert_allclose(const_y.predict(X), 2.5, atol=0.05)


@pytest.mark.parametrize("method", ["minmax", "robust"])
def test_input_scaling_methods(method, rng):
    X = rng.normal(5, 100, size=(200, 2))
    reg = TorchRegressor(input_scaling=method, max_iter=5, random_state=0).fit(X, X[:, 0])
    scaled = reg.module_.inputs.scaling(torch.as_tensor(X)).numpy()
    if method == "minmax":
        np.testing.assert_allclose(scaled.min(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(scaled.max(axis=0), 1, atol=1e-12)
    else:
        np.testing.assert_allclose(np.median(scaled, axis=0), 0, atol=0.02)


def _zero_inflated(rng, n=400):
    """85% zeros, 15% near 10, three readings of 1e9: a zero interquartile range."""
    x = np.zeros(n)
    x[3 : 3 + 3 * n // 20] = 10.0 + rng.normal(size=3 * n // 20)
    x[:3] = 1e9
    return rng.permutation(x)


@pytest.mark.filterwarnings("ignore:.*predicting a constant")  # 2 epochs, inputs of 3e8
def test_robust_input_scaling_of_a_zero_inflated_column_ignores_its_outliers(rng):
    X = np.column_stack([_zero_inflated(rng), rng.normal(size=400)])
    reg = TorchRegressor(input_scaling="robust", max_iter=2, random_state=0).fit(X, X[:, 1])
    scale = reg.module_.inputs.scaling.scale.numpy()
    assert 1 < scale[0] < 10  # the spread of the 0s and 10s (the range: 1e9)


def test_robust_losses_fit_ordinary_rows_of_a_zero_inflated_target(rng):
    X = rng.normal(size=(400, 2))
    y = _zero_inflated(rng)
    reg = TorchRegressor(loss="absolute_error", solver="lbfgs", random_state=0).fit(X, y)
    assert 1 < reg.module_.target_scaling.scale.item() < 10  # not 7e8
    ordinary = y < 1e9
    assert np.median(np.abs(reg.predict(X[ordinary]) - y[ordinary])) < 1  # 1e6 or more before


def test_a_target_of_95_percent_zeros_is_scaled_in_its_own_units(rng):
    """The 5th to 95th percentiles one value (0), the robust scale fell back to 1 in
    y's units: claims in dollars and in units of 1e5 dollars fitted two models
    (huber_delta $1 against $100k; mean predictions $0.05 against $4,208)."""
    X = rng.normal(size=(400, 3))
    claims = np.where(rng.random(400) < 0.02, rng.lognormal(np.log(1e5), 0.5, 400), 0.0)
    kw = dict(loss="huber", hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    dollars = TorchRegressor(**kw).fit(X, claims)
    units = TorchRegressor(**kw).fit(X, claims * 1e-5)
    assert dollars.module_.target_scaling.scale.item() > 1e3  # the claims' spread
    np.testing.assert_allclose(units.predict(X) * 1e5, dollars.predict(X), rtol=1e-6)
    # an input of one 1 among 5,000 zeros is floored at a quarter of its range (the
    # rows' spread alone made the 1 a value of 52)
    rare = np.zeros((5000, 2))
    rare[0, 0], rare[:, 1] = 1.0, rng.normal(size=5000)
    reg = TorchRegressor(input_scaling="robust", max_iter=1, random_state=0)
    scaled = reg.fit(rare, rare[:, 1]).module_.inputs.scaling(torch.as_tensor(rare[:1]))
    assert float(scaled[0, 0]) <= 4.0 + 1e-9
    # nor set by outliers: three targets of 1e9 among zeros and readings near 10 (the
    # rows' spread had made the scale 1.9e8); nor by rounding residue about 0.1
    spiky = np.zeros(1000)
    spiky[3:40], spiky[:3] = 10.0 + rng.normal(size=37), 1e9
    huber = TorchRegressor(loss="huber", max_iter=1, random_state=0).fit(X[:1], [0.0])
    huber.fit(rng.normal(size=(1000, 3)), spiky)
    assert 1 < huber.module_.target_scaling.scale.item() < 100
    ulps = np.nextafter(0.1, 1.0) - 0.1
    residue = np.where(np.arange(1000) < 950, 0.1 + ulps * (np.arange(1000) % 4), 5.0)
    assert huber.fit(rng.normal(size=(1000, 3)), residue).module_.target_scaling.scale > 1
    # and one sentinel far away leaves an ordinary spread alone (a residue threshold
    # on the largest value had made it the scale: 1e13)
    sentinel = np.r_[rng.normal(size=999), 1e13]
    scale = huber.fit(rng.normal(size=(1000, 3)), sentinel).module_.target_scaling.scale
    assert 1 < float(scale) < 2


def test_state_dict_and_pickle_carry_the_scaling(body_mass):
    X, y = body_mass
    reg = TorchRegressor(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0).fit(X, y)
    buf = io.BytesIO()
    torch.save(reg.module_.state_dict(), buf)
    buf.seek(0)
    clone = pickle.loads(pickle.dumps(reg.module_))
    clone.load_state_dict(torch.load(buf, weights_only=True))
    np.testing.assert_allclose(
        clone(torch.as_tensor(X)).detach().numpy().ravel(), reg.predict(X), rtol=1e-12
    )


@pytest.mark.parametrize("Estimator", [TorchRegressor, TorchClassifier])
def test_a_module_moved_to_bfloat16_predicts_pickles_and_copies(body_mass, Estimator):
    # a CPU serving dtype numpy has no counterpart of: predict, pickle and deepcopy had
    # raised numpy's bare "Got unsupported ScalarType BFloat16"
    X, y = body_mass
    est = Estimator(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    est.fit(X, y if Estimator is TorchRegressor else y > np.median(y))
    est.module_.to(torch.bfloat16)
    with torch.no_grad():
        own = est.module_(torch.as_tensor(X)).float().numpy()
    if Estimator is TorchRegressor:  # the module on raw X, in its dtype
        np.testing.assert_array_equal(est.predict(X), own.ravel())
    for copy in (pickle.loads(pickle.dumps(est)), deepcopy(est)):
        assert copy.module_.backbone.output.weight.dtype == torch.bfloat16
        np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    np.testing.assert_array_equal(est.predict(X[:3]), est.predict(X)[:3])  # few rows too


def test_user_backbone_module_and_builder_are_wrapped_by_scaling(body_mass):
    X, y = body_mass
    built = []

    def builder(n_in, n_out):
        built.append((n_in, n_out))
        return nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out))

    reg = TorchRegressor(module=builder, solver="lbfgs", random_state=0).fit(X, y)
    assert built == [(1, 1)]
    assert reg.score(X, y) > 0.7
    user = nn.Linear(1, 1)
    weight = user.weight.detach().clone()
    reg = TorchRegressor(module=user, solver="lbfgs", random_state=0).fit(X, y)
    assert torch.equal(user.weight, weight)  # the user's object is not trained in place
    assert reg.score(X, y) > 0.7


def test_user_backbone_with_wrong_output_width_is_refused(species):
    X, y = species
    with pytest.raises(ValueError, match=r"\(n_samples, 3\) outputs"):
        TorchClassifier(module=nn.Linear(2, 2)).fit(X, y)


def _frozen(net):
    """In eval mode throughout, and no parameter requires gradients."""
    return not any(m.training for m in net.modules()) and not any(
        p.requires_grad for p in net.parameters()
    )


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_fitted_module_is_in_eval_mode_and_builds_no_autograd_graph(solver, species):
    X, y = species
    clf = TorchClassifier(hidden_layer_sizes=(8,), dropout=0.2, solver=solver, max_iter=5)
    clf.fit(X, y)
    assert clf.module_.training is False and _frozen(clf.module_)
    logits = clf.module_(torch.as_tensor(X, dtype=torch.float32))
    assert logits.grad_fn is None and not logits.requires_grad
    # deterministic: dropout is off without a predict call first
    torch.testing.assert_close(logits, clf.module_(torch.as_tensor(X, dtype=torch.float32)))
    for loaded in (pickle.loads(pickle.dumps(clf)), pickle.loads(pickle.dumps(clf.module_))):
        net = getattr(loaded, "module_", loaded)
        assert _frozen(net) and net(torch.as_tensor(X)).grad_fn is None


def test_warm_start_and_partial_fit_still_train_the_frozen_module(body_mass):
    X, y = body_mass
    reg = TorchRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    for refit in (
        lambda: reg.set_params(warm_start=True).fit(X, y),
        lambda: reg.partial_fit(X, y),
    ):
        before = [p.detach().clone() for p in reg.module_.parameters()]
        refit()
        after = list(reg.module_.parameters())
        assert all(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
        assert _frozen(reg.module_)


def test_frozen_layers_of_a_user_backbone_stay_fixed_in_every_fit(body_mass):
    X, y = body_mass
    user = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    user[0].requires_grad_(False)  # a pretrained first layer
    reg = TorchRegressor(module=user, max_iter=3, warm_start=True, random_state=0)
    for _ in range(2):  # the first fit, then a warm start from the frozen module_
        reg.fit(X, y)
        assert torch.equal(reg.module_.backbone[0].weight.float(), user[0].weight)
        assert not torch.equal(reg.module_.backbone[2].weight.float(), user[2].weight)
    assert reg.module_.fixed_parameters == {"backbone.0.weight", "backbone.0.bias"}


def test_a_fitted_module_as_backbone_asks_for_reused_backbone(body_mass):
    X, y = body_mass
    reg = TorchRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="ReusedBackbone"):
        TorchRegressor(module=reg.module_.backbone, max_iter=3).fit(X, y)


def test_scaling_constants_given_by_hand_are_the_modules_buffers(body_mass):
    """The penguins document's hand-picked constants, as its register_buffer layers
    hold them: input_scaling=(200, 10) and target_scaling=(4200, 800)."""
    X, y = body_mass
    settings = dict(hidden_layer_sizes=(5,), solver="lbfgs", alpha=0, random_state=0)
    reg = TorchRegressor(input_scaling=(200, 10), target_scaling=(4200, 800), **settings)
    reg.fit(X, y)
    scaling, target = reg.module_.inputs.scaling, reg.module_.target_scaling
    assert scaling.center.tolist() == [200.0] and scaling.scale.tolist() == [10.0]
    assert target.center.tolist() == [4200.0] and target.scale.tolist() == [800.0]
    assert reg.score(X, y) > 0.75
    raw = reg.module_(torch.as_tensor(X, dtype=torch.float32)).numpy().ravel()
    np.testing.assert_allclose(raw, reg.predict(X), rtol=1e-4)
    # the same constants on a tensor, one value per column, and a warm start keeps them
    two = np.c_[X, X / 10]
    per_column = dict(input_scaling=([200.0, 20.0], [10.0, 1.0]), max_iter=3, random_state=0)
    tensor = TorchRegressor(**per_column).fit(torch.as_tensor(two), y)
    assert tensor.module_.inputs.scaling.center.tolist() == [200.0, 20.0]
    warm = TorchRegressor(warm_start=True, **per_column).fit(two, y)
    warm.set_params(input_scaling=([200.0, 20.0], [10.0, 2.0]))
    with pytest.raises(ValueError, match="input_scaling"):
        warm.fit(two, y)


@pytest.mark.parametrize(
    ("constants", "message"),
    [((1.0,), "a pair"), ((0.0, 0.0), "positive scale"), ((0.0, np.nan), "finite"),
     (([1.0, 2.0, 3.0], 1.0), "one value per scaled column")],
)  # fmt: skip
def test_bad_scaling_constants_are_refused_before_fitting(body_mass, constants, message):
    X, y = body_mass
    with pytest.raises(ValueError, match=message):
        TorchRegressor(input_scaling=constants, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match=message):
        TorchRegressor(target_scaling=constants, max_iter=1).fit(X, y)


def test_target_constants_given_as_tensors_that_require_grad_are_read():
    """The loss-module check read the center with numpy, which refuses a tensor that
    requires grad (a regression of this session's check: 93ab4cf fitted it)."""
    X = np.random.default_rng(0).normal(size=(50, 2))
    center = torch.tensor(5.0, requires_grad=True)
    reg = TorchRegressor(max_iter=2, target_scaling=(center, torch.tensor(3.0)), random_state=0)
    reg.fit(X, X[:, 0] * 3 + 5)
    assert float(reg.module_.target_scaling.center) == 5.0
