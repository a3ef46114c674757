"""``n_ensemble``: several MLPs trained side by side on the same batches, averaged."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_regression

from torchsk import TorchClassifier, TorchRegressor, export_onnx
from torchsk.nn.ensemble import EnsembleMLP
from torchsk.nn.mlp import MLP
from torchsk.nn.reuse import ReusedBackbone
from torchsk.training.batches import Data
from torchsk.training.loop import train
from torchsk.training.objectives import AutogradObjective
from torchsk.training.settings import TrainSettings
from torchsk.training.step import Penalty

pytestmark = pytest.mark.short_fits

FAST = dict(hidden_layer_sizes=(16,), learning_rate_init=1e-2, max_iter=30, random_state=0)


def test_n_ensemble_builds_members_and_averages_them(diabetes):
    X, y = diabetes
    single = TorchRegressor(**FAST).fit(X, y)
    assert type(single.module_.backbone) is MLP
    reg = TorchRegressor(n_ensemble=3, **FAST).fit(X, y)
    backbone = reg.module_.backbone
    assert type(backbone) is EnsembleMLP and backbone.n_members == 3
    x = reg.module_.inputs(torch.as_tensor(X[:20]), reg.module_.compute_dtype)
    members = backbone.members(x)
    assert members.shape == (3, 20, 1)
    # each member trained from its own start: they disagree, and eval returns their mean
    assert (members[0] - members[1]).abs().max() > 1e-3
    torch.testing.assert_close(backbone(x), members.mean(dim=0))


@pytest.mark.parametrize("hidden", [(), (7,), (7, 5), (7, 5, 3)])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_eval_output_is_the_members_mean_at_every_depth(hidden, activation):
    # eval computes the mean as one wide network where it can (EnsembleMLP.mean_output)
    g = torch.Generator().manual_seed(0)
    net = EnsembleMLP(n_members=3, n_inputs=4, n_outputs=2, hidden_layer_sizes=hidden,
                      activation=activation, generator=g, dtype=torch.float64).eval()  # fmt: skip
    x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    expected = net.members(x).mean(dim=0)
    torch.testing.assert_close(net(x), expected, rtol=1e-12, atol=1e-12)
    own = x.expand(3, 50, 4) + torch.arange(3.0, dtype=torch.float64)[:, None, None]
    each = torch.stack([net.member(m, own) for m in range(3)])  # one member at a time
    torch.testing.assert_close(net(own), each.mean(dim=0))


def test_a_subclass_with_its_own_members_is_averaged_through_them():
    class Doubled(EnsembleMLP):
        def members(self, x):
            return 2 * super().members(x)

    g = torch.Generator().manual_seed(0)
    net = Doubled(n_members=2, n_inputs=3, n_outputs=1, hidden_layer_sizes=(4,),
                  generator=g, dtype=torch.float64).eval()  # fmt: skip
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(net(x), net.members(x).mean(dim=0))


def test_ensemble_predicts_the_same_in_chunks_of_any_size(diabetes):
    # a stack predicts in smaller chunks than one network (training.inference)
    X, y = diabetes
    reg = TorchRegressor(n_ensemble=8, hidden_layer_sizes=(16, 8), max_iter=3, random_state=0)
    reg.fit(X, y)
    big = np.tile(X, (5, 1))  # 2,210 rows: several chunks of 1,024
    expected = np.concatenate([reg.predict(big[i : i + 300]) for i in range(0, len(big), 300)])
    np.testing.assert_allclose(reg.predict(big), expected, rtol=1e-12)


def test_each_member_gets_the_gradient_it_would_get_alone():
    torch.manual_seed(0)
    ens = EnsembleMLP(n_inputs=3, n_outputs=1, hidden_layer_sizes=(5,), n_members=2,
                      dtype=torch.float64).train()  # fmt: skip
    singles = []
    for k in range(2):
        mlp = MLP(n_inputs=3, n_outputs=1, hidden_layer_sizes=(5,), dtype=torch.float64)
        with torch.no_grad():
            for layer, (w, b) in zip(
                mlp.linears(), zip(ens.weights, ens.biases, strict=True), strict=True
            ):
                layer.weight.copy_(w[k].T)
                layer.bias.copy_(b.view(2, -1)[k])
        singles.append(mlp)
    X, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)

    def grads(module):
        params = list(module.parameters())
        for p in params:
            p.grad = torch.zeros_like(p)
        AutogradObjective(module, lambda z, t: (z - t).pow(2).sum(1), params)(X, y, None)
        Penalty(params, alpha=0.7).add_grad(len(X))
        return params

    ens_grad = grads(ens)[0].grad  # first layer, (members, in, out)
    for k, mlp in enumerate(singles):
        alone = grads(mlp)[0].grad.T
        # the ensemble's objective sums the members': each gets its own gradient
        torch.testing.assert_close(ens_grad[k], alone)


def test_averaging_members_cuts_the_variance_between_seeds():
    X, y = make_regression(n_samples=150, n_features=8, noise=40.0, random_state=0)
    X_new = np.random.default_rng(1).normal(size=(200, 8))

    def spread(n_ensemble):
        preds = [
            TorchRegressor(n_ensemble=n_ensemble, hidden_layer_sizes=(32,), alpha=1e-4,
                           max_iter=100, random_state=seed).fit(X, y).predict(X_new)
            for seed in range(4)
        ]  # fmt: skip
        return np.std(preds, axis=0).mean()

    assert spread(8) < 0.6 * spread(1)


def test_ensemble_classifier_probabilities_come_from_the_mean_logits(iris):
    X, y = iris
    clf = TorchClassifier(n_ensemble=4, **FAST).fit(X, y)
    net = clf.module_
    x = net.inputs(torch.as_tensor(X), net.compute_dtype)
    logits = net.backbone.members(x).mean(dim=0)
    np.testing.assert_allclose(
        clf.predict_proba(X), torch.softmax(logits.double(), dim=1).numpy(), atol=1e-6
    )
    assert clf.score(X, y) > 0.9


def test_ensemble_is_reproducible_and_survives_pickle_and_skops(diabetes, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = diabetes
    reg = TorchRegressor(n_ensemble=3, **FAST).fit(X, y)
    again = TorchRegressor(n_ensemble=3, **FAST).fit(X, y)
    np.testing.assert_array_equal(reg.predict(X), again.predict(X))
    loaded = pickle.loads(pickle.dumps(reg))
    assert type(loaded.module_.backbone) is EnsembleMLP
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    path = tmp_path / "ens.skops"
    sio.dump(reg, path)
    trusted = sio.get_untrusted_types(file=path)
    np.testing.assert_array_equal(sio.load(path, trusted=trusted).predict(X), reg.predict(X))


def test_warm_start_refuses_another_ensemble_size(diabetes):
    X, y = diabetes
    reg = TorchRegressor(n_ensemble=2, warm_start=True, **FAST).fit(X, y)
    reg.set_params(n_ensemble=3)
    with pytest.raises(ValueError, match="n_ensemble"):
        reg.fit(X, y)


@pytest.mark.parametrize("hidden", [(16,), (6, 4)])
def test_onnx_export_of_an_ensemble(tmp_path, diabetes, hidden):
    ort = pytest.importorskip("onnxruntime")
    X, y = diabetes
    reg = TorchRegressor(n_ensemble=3, **{**FAST, "hidden_layer_sizes": hidden}).fit(X, y)
    session = ort.InferenceSession(export_onnx(reg, tmp_path / "ens.onnx"))
    # any row count, not the export's example's; 0 rows had crashed ONNX Runtime (SIGFPE)
    for rows in (X, X[:1], X[:7], X[:0]):
        (out,) = session.run(None, {"X": rows.astype(np.float32)})
        if not len(rows):  # predict refuses 0 rows
            assert out.shape == (0, 1)
            continue
        expected = reg.predict(rows)
        np.testing.assert_allclose(
            out.ravel(), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()
        )
    # float64 keeps float64's precision with 3 members (1/3 is no float32 constant)
    path = export_onnx(reg, tmp_path / "ens64.onnx", input_dtype="float64")
    (out,) = ort.InferenceSession(path).run(None, {"X": X})
    np.testing.assert_allclose(out.ravel(), reg.predict(X), rtol=1e-12)


@pytest.mark.parametrize("hidden", [(5,), (5, 4)])
def test_an_ensemble_exports_for_any_row_count_and_takes_no_rows(hidden):
    net = EnsembleMLP(n_members=3, n_inputs=4, n_outputs=2, hidden_layer_sizes=hidden,
                      generator=torch.Generator().manual_seed(0)).eval()  # fmt: skip
    assert net(torch.randn(0, 4)).shape == (0, 2)
    rows = torch.export.Dim("rows")
    exported = torch.export.export(net, (torch.randn(2, 4),), dynamic_shapes=({0: rows},))
    x = torch.randn(7, 4)
    torch.testing.assert_close(exported.module()(x), net(x))


def test_sgd_moves_each_member_as_far_as_it_would_alone():
    """SGD's step scales with the gradient: a member must get its lone gradient."""
    torch.manual_seed(0)
    X, y = torch.randn(64, 3, dtype=torch.float64), torch.randn(64, 1, dtype=torch.float64)
    ens = EnsembleMLP(n_inputs=3, n_outputs=1, hidden_layer_sizes=(5,), n_members=3,
                      dtype=torch.float64)  # fmt: skip
    mlp = MLP(n_inputs=3, n_outputs=1, hidden_layer_sizes=(5,), dtype=torch.float64)
    with torch.no_grad():
        for layer, w, b in zip(mlp.linears(), ens.weights, ens.biases, strict=True):
            layer.weight.copy_(w[0].T)
            layer.bias.copy_(b.view(3, -1)[0])
    settings = TrainSettings(solver="sgd", learning_rate_init=0.05, alpha=0.5, batch_size=16,
                             max_iter=3, shuffle=False)  # fmt: skip
    for module in (ens, mlp):
        params = list(module.parameters())
        objective = AutogradObjective(module, lambda z, t: (z - t).pow(2).sum(-1), params)
        train(module, objective, Data(X, y), settings)
    torch.testing.assert_close(ens.weights[0][0], mlp.linears()[0].weight.T)


def test_constant_target_columns_stay_constant_in_every_member(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, np.full_like(y, 5.0)])
    reg = TorchRegressor(n_ensemble=3, **FAST).fit(X, Y)
    np.testing.assert_allclose(reg.predict(X)[:, 1], 5.0, rtol=1e-9)


def test_reused_backbone_refuses_an_ensemble_clearly(diabetes):
    X, y = diabetes
    reg = TorchRegressor(n_ensemble=2, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="n_ensemble=1"):
        ReusedBackbone(reg)


def test_member_dropout_drops_each_members_units_at_its_own_rate():
    from torchsk.nn.ensemble import MemberDropout

    drop = MemberDropout(torch.tensor([0.0, 0.5], dtype=torch.float64)).train()
    drop.generator = torch.Generator().manual_seed(0)
    x = torch.ones(2, 400, 50, dtype=torch.float64)
    out = drop(x)
    assert torch.equal(out[0], x[0])  # rate 0: every unit kept, unscaled
    kept = out[1] != 0
    assert 0.45 < kept.double().mean() < 0.55 and (out[1][kept] == 2.0).all()
    assert torch.equal(drop.eval()(x), x)
