"""Which hand-written passes a backbone has, and the objective a plan chose.

The registry is by class name; the passes apply where the class itself declares
``HAND_WRITTEN`` (``nn.backbone.hand_written``: a subclass that changes ``forward``
does not inherit them).
"""

from __future__ import annotations

from torch import nn

from torchsk.training.losses import LossFunctions
from torchsk.training.objectives import AutogradObjective, ManualMLPObjective, NumpyMLPObjective
from torchsk.training.stacked import ManualEnsembleObjective, NumpyEnsembleObjective

#: The hand-written objectives by backbone class name: (torch pass, numpy pass).
HAND_WRITTEN_PASSES = {
    "MLP": (ManualMLPObjective, NumpyMLPObjective),
    "EnsembleMLP": (ManualEnsembleObjective, NumpyEnsembleObjective),
}


def hand_written_kinds(backbone: nn.Module) -> set[str]:
    """The hand-written objectives ``backbone``'s class has: ``"manual"``, ``"numpy"``."""
    torch_pass, numpy_pass = HAND_WRITTEN_PASSES.get(type(backbone).__name__, (None, None))
    return {kind for kind, cls in (("manual", torch_pass), ("numpy", numpy_pass)) if cls}


def make_objective(kind: str, backbone: nn.Module, loss: LossFunctions, params):
    """The objective the plan chose (``ExecutionPlan.objective``): ``"numpy"``,
    ``"manual"`` (a built-in backbone's hand-written passes) or ``"autograd"``."""
    if kind == "autograd":
        return AutogradObjective(backbone, loss.per_sample, params)
    torch_pass, numpy_pass = HAND_WRITTEN_PASSES[type(backbone).__name__]
    cls = numpy_pass if kind == "numpy" else torch_pass
    return cls(backbone, loss.output_grad)
