"""torchsk: scikit-learn estimators backed by PyTorch MLPs that scale their own data."""

from torchsk.estimators.classifier import TorchClassifier
from torchsk.estimators.display import LossCurveDisplay
from torchsk.estimators.regressor import TorchRegressor
from torchsk.estimators.search import BatchedSearchCV
from torchsk.io.export import export_onnx
from torchsk.io.legacy import TRUSTED_BEFORE, install
from torchsk.nn.reuse import ReusedBackbone

__version__ = "0.1.0"

install()  # models saved before the layers name the flat modules (torchsk._regressor, ...)

# What ``skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)`` needs to load a torchsk
# model with the built-in network: the estimators, their task objects and target
# encoders, and the table encoder of a model fitted on categorical columns (its
# per-column OrdinalEncoders are scikit-learn's, which skops trusts). Anything else in
# a file (a user's module, a torch loss object) is refused until trusted. Each type is
# listed under its module and under the flat module that held it before the layers.
# A BatchedSearchCV adds itself and its selected ensembles; its scorer (scikit-learn's
# scorer types and metric functions) is left to the user to trust, as skops leaves a
# GridSearchCV's.
SKOPS_TRUSTED_TYPES = [
    "torchsk.estimators.search.BatchedSearchCV",
    "torchsk.estimators.selection.Blend",
    "torchsk.estimators.classifier.TorchClassifier",
    "torchsk.training.losses.LossOptions",
    "torchsk.estimators.regressor.TorchRegressor",
    "torchsk.data.tables.TableEncoder",
    "torchsk.estimators.tasks.ClassificationTask",
    "torchsk.estimators.tasks.RegressionTask",
    "torchsk.estimators.targets.ClassificationTarget",
    "torchsk.estimators.targets.RegressionTarget",
    "torch.device",  # the device parameter may be one (making one runs no code of a file's)
    *TRUSTED_BEFORE,
]

__all__ = [
    "BatchedSearchCV",
    "SKOPS_TRUSTED_TYPES",
    "LossCurveDisplay",
    "ReusedBackbone",
    "TorchClassifier",
    "TorchRegressor",
    "__version__",
    "export_onnx",
]
