"""Plain-data form of a fitted estimator, for pickle, joblib and skops.

A fitted estimator pickles ``module_`` as a description of the built-in network plus
its tensors as numpy arrays, so that:

- a model trained on a GPU unpickles on a machine without one (it lands on the CPU);
- ``skops.io`` can store it: numpy arrays and builtins only, no torch objects.

A user-supplied backbone (``module=``) is pickled as the module object itself.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._heads import BinarySigmoid, Exp, Softmax, Softplus
from ._modules import MLP, Scaling, TabularNet

_PARTS = {
    cls.__name__: cls for cls in (nn.Identity, Exp, Softplus, BinarySigmoid, Softmax, nn.Sigmoid)
}


def describe(net: TabularNet) -> dict | None:
    """Builtins-and-numpy description of a network with the built-in MLP, else None."""
    if type(net.backbone) is not MLP or type(net.link).__name__ not in _PARTS:
        return None
    head = None if net.head is None else type(net.head).__name__
    if head is not None and head not in _PARTS:
        return None
    return {
        "backbone": dict(net.backbone.config),
        "link": type(net.link).__name__,
        "head": head,
        "target_scaling": net.target_scaling is not None,
        "dtype": str(net.compute_dtype).removeprefix("torch."),
        "tensors": {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()},
    }


def rebuild(description: dict, device: torch.device) -> TabularNet:
    """The network a ``describe`` output stands for, on ``device``."""
    tensors = description["tensors"]
    config = description["backbone"]

    def scaling(prefix):
        return Scaling(tensors[f"{prefix}.center"], tensors[f"{prefix}.scale"])

    head = description["head"]
    net = TabularNet(
        scaling("input_scaling"),
        MLP(**config),
        link=_PARTS[description["link"]](),
        target_scaling=scaling("target_scaling") if description["target_scaling"] else None,
        head=None if head is None else _PARTS[head](),
    )
    net.backbone.to(dtype=getattr(torch, description["dtype"]))  # scaling stays float64
    # copies, not views: loaded arrays may be read-only memory maps
    net.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in tensors.items()})
    return net.to(device).eval()


def available_device(device: str) -> torch.device:
    """``device`` if this machine has it, else the CPU (a GPU model loaded elsewhere)."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        return torch.device("cpu")
    return device
