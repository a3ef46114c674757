"""torchsk: scikit-learn estimators backed by PyTorch MLPs that scale their own data."""

from ._classifier import TorchClassifier
from ._modules import ReusedBackbone
from ._regressor import TorchRegressor

__version__ = "0.1.0"

__all__ = ["ReusedBackbone", "TorchClassifier", "TorchRegressor", "__version__"]
