"""ONNX export of a fitted estimator's network, scaling and head included."""

from __future__ import annotations

import copy
import os

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from torchsk._warnings import warn


class _Probabilities(nn.Module):
    """Raw X → class probabilities through the network's head."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.predict_proba(x)


def export_onnx(estimator, path: str | os.PathLike, *, input_dtype: str = "float32") -> str:
    """Write an ONNX model of ``estimator.module_`` that runs on raw X (float32, or
    float64 with ``input_dtype="float64"``).

    The graph holds the input stage (imputation, scaling, categorical encoding), the
    backbone, the head and (regressor) the target scaling, so ONNX Runtime's output
    needs no post-processing. Its input is ``estimator.to_module_input(X)`` (as float32
    by default): the numbers of X as they are for all-numeric X, NaN for missing
    values, category codes for categorical columns (strings never enter the graph).

    Parameters
    ----------
    estimator : TorchRegressor, TorchClassifier or BatchedSearchCV
        A fitted estimator; a search exports its ``module_`` (the selected ensemble's
        weighted average, or the refitted best candidate's network).
    path : str or path-like
        Where to write the ``.onnx`` file.
    input_dtype : {"float32", "float64"}, default="float32"
        The graph's input and arithmetic. ``"float64"`` keeps X's precision where
        float32 would lose it: a column far from zero against its spread (a Unix
        timestamp rounds to steps of 128 s in float32; the export warns about it).

    Returns
    -------
    path : str
        The file written, self-contained (the weights inside it: copy it alone;
        ONNX's protobuf format caps it at 2 GB). Its input is ``"X"``, of
        ``input_dtype`` and shape ``(n_samples, n_features_in_)``; its output (of
        the same dtype) is ``"prediction"`` of shape
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
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if input_dtype not in dtypes:
        raise ValueError(f"input_dtype must be 'float32' or 'float64'; got {input_dtype!r}.")
    if input_dtype == "float32":
        _warn_if_float32_loses_inputs(estimator.module_)
    net = copy.deepcopy(estimator.module_).cpu().to(dtypes[input_dtype]).eval()
    classifier = net.head is not None
    model, output = (_Probabilities(net), "probabilities") if classifier else (net, "prediction")
    model.eval()  # the wrapper too: exporting in training mode warns
    example = torch.zeros(2, estimator.n_features_in_, dtype=dtypes[input_dtype])
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
    if input_dtype == "float64":
        _warn_if_runtime_lacks_float64(os.fspath(path))
    return os.fspath(path)


# operators onnxruntime's CPU provider (1.31) has no float64 kernel for, or expands into
# one it lacks (Gelu into Erf, Mish into Softplus): the activations gelu, elu,
# leaky_relu, mish, selu, the regressor's head="softplus", a user module's hard ones
NO_FLOAT64_KERNEL = frozenset(
    {"Gelu", "Erf", "Elu", "LeakyRelu", "Mish", "Softplus", "Selu", "HardSwish", "HardSigmoid"}
)


def _warn_if_runtime_lacks_float64(path: str) -> None:
    """Warn where a float64 graph holds operators onnxruntime cannot run in float64:
    a valid file that onnxruntime refuses to load ("NOT_IMPLEMENTED"), found only
    when serving."""
    import onnx  # torch's ONNX exporter needs it: there whenever an export ran

    model = onnx.load(path, load_external_data=False)
    nodes = [*model.graph.node, *(n for f in model.functions for n in f.node)]
    lacking = sorted({n.op_type for n in nodes} & NO_FLOAT64_KERNEL)
    if lacking:
        warn(
            f"The float64 graph holds {', '.join(lacking)}, which onnxruntime's CPU "
            "provider cannot run in float64 (it refuses to load the file): export with "
            "input_dtype='float32' to serve it with onnxruntime, or use a runtime that "
            "implements them in double."
        )


def _warn_if_float32_loses_inputs(net: nn.Module) -> None:
    """Warn where a numeric input (or a regressor's target, whose scaling the graph
    undoes in float32) rounds, in float32, by more than 0.001 of its scale:
    the module keeps X in float64 before scaling (a timestamp of 1.7e9 with an hour's
    spread), the float32 graph cannot (its predictions were 0.11 off, in silence).
    Every network's input stage (a search's blend holds several, each its own
    constants), in one warning."""
    nets = [part for part in net.modules() if hasattr(part, "inputs")]
    for what in ("inputs", "target"):  # a regressor's output: y of 1e8 with a spread of 10
        pairs = []
        for part in nets:
            scaling = getattr(part.inputs, "scaling", None) if what == "inputs" else None
            scaling = getattr(part, "target_scaling", None) if what == "target" else scaling
            center, scale = getattr(scaling, "center", None), getattr(scaling, "scale", None)
            if center is not None and scale is not None:
                pairs.append((center.detach().double().cpu(), scale.detach().double().cpu()))
        if pairs:
            center, scale = (torch.cat(p) for p in zip(*pairs, strict=True))
            _warn_if_rounded(center, scale, what)


def _warn_if_rounded(center: torch.Tensor, scale: torch.Tensor, what: str) -> None:
    lost = torch.where(scale > 0, center.abs() * 2.0**-24 / scale, 0.0)
    if len(lost) and float(lost.max()) > 1e-3:
        j = int(lost.argmax())
        which = "A numeric input" if what == "inputs" else "The target"
        offset = "that column" if what == "inputs" else "y"
        warn(
            f"{which} (centre {float(center[j]):.4g}, scale {float(scale[j]):.4g}) "
            f"rounds in float32 by up to {float(lost[j]):.2g} of its scale, which the "
            "float32 graph's predictions inherit; export with input_dtype='float64' to "
            f"keep its precision (or subtract an offset from {offset} before the fit)."
        )
