"""Models saved before the layers load: the flat ``torchsk._*`` modules as aliases.

Until 2026-12-03 torchsk was 29 flat modules (``torchsk._regressor``,
``torchsk._tables``, ...). A pickle, joblib or skops file names the module of each
class it holds, so files saved then name those modules. ``install`` registers each
old name in ``sys.modules`` as a module that finds a name in the modules its contents
moved to, so ``pickle.load`` resolves ``torchsk._regressor.TorchRegressor`` to
``torchsk.estimators.regressor.TorchRegressor``. Nothing is imported until a name is
looked up.
"""

from __future__ import annotations

import importlib
import sys
import types

#: Each flat module of before the layers, and the modules its contents moved to.
MOVED = {
    "_arrays": ("data.tensors",),
    "_base": ("estimators.base",),
    "_bins": ("inputs.bins",),
    "_callbacks": ("estimators.callbacks",),
    "_classifier": ("estimators.classifier",),
    "_display": ("estimators.display",),
    "_docs": ("estimators.docs",),
    "_encoders": ("inputs.categorical", "inputs.encoder", "inputs.impute"),
    "_engine": (
        "training.loop", "training.settings", "training.batches", "training.lbfgs",
        "training.inference",
    ),
    "_ensemble": ("nn.ensemble",),
    "_export": ("io.export",),
    "_fitstate": ("estimators.fitstate",),
    "_graphs": ("training.graphs",),
    "_heads": ("nn.heads",),
    "_inputs": ("inputs.stage", "inputs.scaling"),
    "_losses": ("training.losses",),
    "_modules": ("nn.mlp", "nn.net", "nn.reuse"),
    "_objectives": ("training.objectives",),
    "_optim": ("training.optim",),
    "_persistence": ("io.persistence",),
    "_plan": ("training.plan", "training.devices"),
    "_regressor": ("estimators.regressor",),
    "_streaming": ("data.dask", "inputs.statistics", "estimators.streamed"),
    "_tables": ("data.tables", "data.columns"),
    "_tasks": ("estimators.tasks",),
    "_training": ("training.fit", "training.settings"),
    "_validation": ("estimators.targets", "data.checks"),
}  # fmt: skip

#: The types of a saved model that ``SKOPS_TRUSTED_TYPES`` listed under their old names.
TRUSTED_BEFORE = [
    "torchsk._classifier.TorchClassifier",
    "torchsk._losses.LossOptions",
    "torchsk._regressor.TorchRegressor",
    "torchsk._tables.TableEncoder",
    "torchsk._tasks.ClassificationTask",
    "torchsk._tasks.RegressionTask",
    "torchsk._validation.ClassificationTarget",
    "torchsk._validation.RegressionTarget",
]


class _Moved(types.ModuleType):
    """An old module name: each attribute found in the modules its contents moved to."""

    def __getattr__(self, name: str):
        old = self.__name__.rsplit(".", 1)[1]
        for new in MOVED[old]:
            module = importlib.import_module(f"torchsk.{new}")
            if name in vars(module):
                return vars(module)[name]
        raise AttributeError(f"module {self.__name__!r} (moved to {MOVED[old]}) has no {name!r}")


def install() -> None:
    """Register every old module name (once; an import of torchsk calls it)."""
    for old, new in MOVED.items():
        name = f"torchsk.{old}"
        doc = f"Moved to {', '.join('torchsk.' + n for n in new)}."
        sys.modules.setdefault(name, _Moved(name, doc))
