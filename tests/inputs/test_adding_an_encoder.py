"""An input encoder is one class plus one line in ``inputs.stage.STEPS``: here one with
statistics of its own is added the way docs/architecture.md says, and is fitted alike
on numpy, tensor and Dask sources, persisted as plain data and exported."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes

from torchsk import TorchRegressor
from torchsk.inputs import stage
from torchsk.inputs.encoder import InputEncoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class ZeroIndicators(InputEncoder):
    """Appends a 0/1 column "the raw value was 0" for each numeric column where at least
    a tenth of the training weight sits on 0 (a zero-inflated column). Its statistic,
    the weight on 0 per column, is one the stage does not otherwise collect."""

    def __init__(self, *, n_inputs, columns=(), zeros=None):
        super().__init__()
        self.config = {"n_inputs": int(n_inputs), "columns": [int(c) for c in columns]}
        self.n_outputs = n_inputs + len(columns)
        self.register_buffer("column", torch.tensor(self.config["columns"], dtype=torch.long))
        self.register_buffer("zero", torch.zeros(len(columns), dtype=torch.float64))
        if zeros is not None:  # from_config builds it without: a state dict loads them
            self.zero.copy_(torch.as_tensor(np.asarray(zeros, dtype=np.float64)))

    @staticmethod
    def block_sums(X, w, ops):
        return (w @ ops.float64(X == 0), w.sum())

    @classmethod
    def from_statistics(cls, stats, options, n_inputs):
        on_zero, total = stats.sums["zeros"]
        columns = np.flatnonzero((on_zero >= 0.1 * total) & stats.layout.numeric)
        # the stage's last step sees scaled values: raw 0 is -center / scale there
        zeros = -stats.center[columns] / stats.scale[columns]
        return cls(n_inputs=n_inputs, columns=columns, zeros=zeros)

    def forward(self, x, dtype=None):
        flags = torch.isclose(x.index_select(1, self.column), self.zero.to(x.dtype))
        out = torch.cat([x, flags.to(x.dtype)], dim=1)
        return out if dtype is None else out.to(dtype)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(stage.STEPS, "zeros", ZeroIndicators)  # the one registry line


def _data():
    X, y = load_diabetes(return_X_y=True)
    X[::3, 2] = 0.0  # a third of column 2 on 0: flagged; no other column is
    return X, y


def _fit(X, y):
    return TorchRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)


def test_a_registered_encoder_is_fitted_on_its_own_statistics_from_every_source(registered):
    X, y = _data()
    fitted = {"numpy": _fit(X, y), "tensor": _fit(torch.as_tensor(X), y)}
    dask = pytest.importorskip("dask.array")
    fitted["dask"] = _fit(dask.from_array(X, chunks=(100, X.shape[1])), y)
    for est in fitted.values():
        zeros = est.module_.inputs.zeros
        assert zeros.config["columns"] == [2]
        scaling = est.module_.inputs.scaling
        assert float(zeros.zero) == pytest.approx(float(-scaling.center[2] / scaling.scale[2]))
    # the indicator reads raw zeros: the encoded rows with x[2] == 0 carry a 1
    encoded = fitted["numpy"].module_.inputs(torch.as_tensor(X))
    np.testing.assert_array_equal(encoded[:, -1].numpy(), (X[:, 2] == 0).astype(float))
    reference = fitted["numpy"].module_.inputs.state_dict()
    for name in ("tensor", "dask"):
        for key, value in fitted[name].module_.inputs.state_dict().items():
            torch.testing.assert_close(value, reference[key], rtol=1e-12, atol=1e-12)


def test_a_registered_encoder_persists_as_plain_data_and_exports(registered, tmp_path):
    X, y = _data()
    est = _fit(X, y)
    stored = est.__getstate__()["module_"]
    assert isinstance(stored, dict)  # described, not pickled as a torch module
    assert [step[:2] for step in stored["inputs"]][-1] == ["zeros", "ZeroIndicators"]
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(loaded.predict(X), est.predict(X), rtol=1e-12)
    ort = pytest.importorskip("onnxruntime")
    from torchsk import export_onnx

    session = ort.InferenceSession(export_onnx(est, tmp_path / "model.onnx"))
    name = session.get_inputs()[0].name
    (out,) = session.run(None, {name: est.to_module_input(X).numpy().astype(np.float32)})
    np.testing.assert_allclose(out.ravel(), est.predict(X), rtol=1e-4, atol=1e-3)


def test_an_unregistered_encoder_class_is_not_rebuilt_from_a_file():
    from torchsk.io.persistence import _encoder_classes

    assert "ZeroIndicators" not in _encoder_classes()
    assert set(_encoder_classes()) == {cls.__name__ for cls in stage.STEPS.values()}
