"""Each kind of addition goes in one place: here a backbone (one class and one line in
the registry) is added the way docs/architecture.md says, and works everywhere a
built-in one does: fitting, constant targets, persistence, ONNX export, reuse."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes
from torch import nn

from torchsk import ReusedBackbone, TorchRegressor, export_onnx
from torchsk.nn.backbone import BACKBONES, Backbone, hold_output

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class TinyBackbone(Backbone):
    """One hidden layer of tanh units: a backbone written the way the contract asks."""

    def __init__(self, *, n_inputs, n_outputs, hidden_layer_sizes=(4,), activation="tanh",
                 dropout=0.0, generator=None, dtype=None):  # fmt: skip
        super().__init__(
            n_inputs=n_inputs, n_outputs=n_outputs, hidden_layer_sizes=hidden_layer_sizes,
            activation=activation, dropout=dropout,
        )  # fmt: skip
        (width,) = hidden_layer_sizes
        self.hidden = nn.Linear(n_inputs, width, dtype=dtype)
        self.output = nn.Linear(width, n_outputs, dtype=dtype)
        self.initialize(generator)

    def forward(self, x):
        return self.output(torch.tanh(self.hidden(x)))

    def linears(self):
        return [self.hidden, self.output]

    @torch.no_grad()
    def reset_parameters(self, generator):
        for layer in self.linears():
            bound = layer.in_features**-0.5
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)

    def hold_constant(self, columns, value):
        hold_output(self.output, columns, value)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(BACKBONES, "TinyBackbone", __name__)  # the one registry line


def _tiny(n_inputs, n_outputs):
    return TinyBackbone(n_inputs=n_inputs, n_outputs=n_outputs)


def test_a_registered_backbone_trains_persists_as_plain_data_and_reloads(registered):
    X, y = load_diabetes(return_X_y=True)
    Y = np.column_stack([y, np.full_like(y, 7.0)])  # a constant column: held at 7
    est = TorchRegressor(module=_tiny, max_iter=30, random_state=0).fit(X, Y)
    assert np.corrcoef(est.predict(X)[:, 0], y)[0, 1] > 0.5  # it learned the target
    np.testing.assert_allclose(est.predict(X)[:, 1], 7.0, atol=1e-9)
    stored = est.__getstate__()["module_"]
    assert isinstance(stored, dict) and stored["backbone_class"] == "TinyBackbone"
    loaded = pickle.loads(pickle.dumps(est))
    assert type(loaded.module_.backbone) is TinyBackbone
    np.testing.assert_allclose(loaded.predict(X), est.predict(X), rtol=1e-12)


def test_an_unregistered_backbone_is_pickled_whole_not_described():
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(module=_tiny, max_iter=3, random_state=0).fit(X, y)
    assert not isinstance(est.__getstate__()["module_"], dict)


def test_a_registered_backbone_exports_and_is_reused(registered, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    X, y = load_diabetes(return_X_y=True)
    est = TorchRegressor(module=_tiny, max_iter=30, random_state=0).fit(X, y)
    session = ort.InferenceSession(export_onnx(est, tmp_path / "tiny.onnx"))
    name = session.get_inputs()[0].name
    (out,) = session.run(None, {name: est.to_module_input(X).numpy().astype(np.float32)})
    np.testing.assert_allclose(out.ravel(), est.predict(X), rtol=1e-4, atol=1e-2)
    again = TorchRegressor(module=ReusedBackbone(est), max_iter=1, random_state=0)
    again.fit(X, y)
    assert type(again.module_.backbone) is TinyBackbone
