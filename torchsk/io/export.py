"""ONNX export of a fitted estimator's network, scaling and head included."""

from __future__ import annotations

import copy
import os

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn


class _Probabilities(nn.Module):
    """Raw X → class probabilities through the network's head."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.predict_proba(x)


def export_onnx(estimator, path: str | os.PathLike) -> str:
    """Write an ONNX model of ``estimator.module_`` that runs on raw float32 X.

    The graph holds the input stage (imputation, scaling, categorical encoding), the
    backbone, the head and (regressor) the target scaling, so ONNX Runtime's output
    needs no post-processing. Its input is ``estimator.to_module_input(X)`` as float32:
    the numbers of X as they are for all-numeric X, NaN for missing values, category
    codes for categorical columns (strings never enter the graph).

    Parameters
    ----------
    estimator : TorchRegressor, TorchClassifier or BatchedSearchCV
        A fitted estimator; a search exports its ``module_`` (the selected ensemble's
        weighted average, or the refitted best candidate's network).
    path : str or path-like
        Where to write the ``.onnx`` file.

    Returns
    -------
    path : str
        The file written, self-contained (the weights inside it: copy it alone;
        ONNX's protobuf format caps it at 2 GB). Its input is ``"X"``, float32 of shape
        ``(n_samples, n_features_in_)``; its output is ``"prediction"`` of shape
        ``(n_samples, n_outputs)`` for a regressor (``predict`` in y's units) or
        ``"probabilities"`` of shape ``(n_samples, n_classes)`` for a classifier
        (``predict_proba``).

    Examples
    --------
    >>> import numpy as np, onnxruntime
    >>> from torchsk import TorchRegressor, export_onnx
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> reg = TorchRegressor(hidden_layer_sizes=(8,), solver="lbfgs").fit(X, X[:, 0])
    >>> path = export_onnx(reg, "reg.onnx")  # doctest: +SKIP
    """
    check_is_fitted(estimator)  # then module_ says why a fitted one has none (refit=False)
    net = copy.deepcopy(estimator.module_).cpu().float().eval()
    classifier = net.head is not None
    model, output = (_Probabilities(net), "probabilities") if classifier else (net, "prediction")
    model.eval()  # the wrapper too: exporting in training mode warns
    example = torch.zeros(2, estimator.n_features_in_, dtype=torch.float32)  # whatever the default
    torch.onnx.export(
        model,
        (example,),
        os.fspath(path),
        input_names=["X"],
        output_names=[output],
        dynamic_shapes=({0: torch.export.Dim("n_samples")},),
        dynamo=True,
        external_data=False,  # one self-contained file: torch's default puts the
        verbose=False,  # larger weights in a second file that must travel with it
    )
    return os.fspath(path)
