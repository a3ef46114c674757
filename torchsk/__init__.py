"""torchsk: scikit-learn estimators backed by PyTorch MLPs that scale their own data."""

from ._classifier import TorchClassifier
from ._display import LossCurveDisplay
from ._export import export_onnx
from ._modules import ReusedBackbone
from ._regressor import TorchRegressor

__version__ = "0.1.0"

# What ``skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)`` needs to load a torchsk
# model with the built-in network: the estimators, their task objects and target
# encoders, and the table encoder of a model fitted on categorical columns (its
# per-column OrdinalEncoders are scikit-learn's, which skops trusts). Anything else in
# a file (a user's module, a torch loss object) is refused until trusted.
SKOPS_TRUSTED_TYPES = [
    "torchsk._classifier.TorchClassifier",
    "torchsk._losses.LossOptions",
    "torchsk._regressor.TorchRegressor",
    "torchsk._tables.TableEncoder",
    "torchsk._tasks.ClassificationTask",
    "torchsk._tasks.RegressionTask",
    "torchsk._validation.ClassificationTarget",
    "torchsk._validation.RegressionTarget",
]

__all__ = [
    "SKOPS_TRUSTED_TYPES",
    "LossCurveDisplay",
    "ReusedBackbone",
    "TorchClassifier",
    "TorchRegressor",
    "__version__",
    "export_onnx",
]
