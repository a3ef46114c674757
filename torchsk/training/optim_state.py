"""A fitted model's optimizer as numpy arrays and builtins, for pickle and skops
(``io.persistence``), checked against its network where a file is loaded: a
reloaded estimator's ``partial_fit`` continues it, as a reloaded ``MLPRegressor``'s
continues its optimizer."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from torchsk.training.optim import SGD, Adam, FlatOptimizer, MemberRates, Rprop

#: the classes ``from_plain`` rebuilds, by name
_CLASSES = {cls.__name__: cls for cls in (Adam, SGD, Rprop, MemberRates)}
#: attributes that are not state: rebuilt from the others (``_rebuild_parts``)
_DERIVED = ("update", "before", "made_for")
#: what an edited or damaged file's optimizer state is refused with, then its details
_MISMATCH = "The stored optimizer state does not match its network (an edited or damaged file?)"


def to_plain(optimizer: FlatOptimizer) -> dict:
    """``optimizer``'s state as numpy arrays and builtins, for pickle and skops
    (``io.persistence``): a reloaded estimator's ``partial_fit`` continues it, as a
    reloaded ``MLPRegressor``'s continues its optimizer."""
    skip = (*FlatOptimizer.PARAMETERS, *_DERIVED)
    state = {k: _to_plain(v) for k, v in vars(optimizer).items() if k not in skip}
    flat = optimizer.flat
    return {"class": type(optimizer).__name__, "made_for": getattr(optimizer, "made_for", None),
            "numel": flat.numel(), "dtype": str(flat.dtype).removeprefix("torch."),
            "state": state}  # fmt: skip


def from_plain(plain: dict, device: torch.device | str, max_numel: int) -> FlatOptimizer:
    """The optimizer ``to_plain`` described, on ``device``, over a new flat parameter
    of its size, which ``training.loop.train`` fills with the model's weights and
    keeps (so that ``_continues`` holds).

    Raises
    ------
    ValueError
        A description no fit writes (an edited file): a size above ``max_numel`` (the
        network's parameters: 2e10 would be allocated before any other check), a
        dtype or class that is not one of torchsk's.
    """
    dtype = {"float32": torch.float32, "float64": torch.float64}.get(plain.get("dtype"))
    numel = plain.get("numel")
    if dtype is None or not isinstance(numel, int | np.integer) or not 0 <= numel <= max_numel:
        raise ValueError(
            f"{_MISMATCH}: dtype {plain.get('dtype')!r}, {numel!r} values for a network of "
            f"{max_numel}."
        )
    flat = nn.Parameter(torch.zeros(numel, dtype=dtype, device=device))
    return _rebuild(plain, flat)


def _rebuild(plain: dict, flat: nn.Parameter) -> FlatOptimizer:
    if plain.get("class") not in _CLASSES:
        raise ValueError(f"The stored optimizer's class {plain.get('class')!r} is not torchsk's.")
    optimizer = _CLASSES[plain["class"]].__new__(_CLASSES[plain["class"]])
    optimizer.flat, optimizer.values = flat, flat.detach()
    for k, v in plain["state"].items():
        device = "cpu" if k in optimizer.CPU_STATE else flat.device
        setattr(optimizer, k, _from_plain(v, flat, device))
    _rebuild_parts(optimizer)
    optimizer.made_for = plain["made_for"]
    return optimizer


def _to_plain(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    return to_plain(value) if isinstance(value, FlatOptimizer) else value


def _from_plain(value, flat: torch.Tensor, device):
    if isinstance(value, np.ndarray):
        # a step count, or one value per weight: an edited file's moments of 1 value
        # had been written past their end by the fused Adam kernel (a crash)
        per_weight = value.shape == (flat.numel(),)
        if value.dtype.kind != "f" or not (value.ndim == 0 or per_weight):
            raise ValueError(
                f"{_MISMATCH}: an array of shape {value.shape} and dtype {value.dtype} "
                f"for a network of {flat.numel()} {flat.dtype} values."
            )
        tensor = torch.from_numpy(value.copy()).to(device)
        return tensor.to(flat.dtype) if per_weight else tensor
    if isinstance(value, list):
        return [_from_plain(v, flat, device) for v in value]
    if isinstance(value, dict) and "class" in value:  # MemberRates.inner
        return _rebuild(value, flat)
    return value


def _rebuild_parts(optimizer: FlatOptimizer) -> None:
    """The attributes ``to_plain`` leaves out, which follow from the others."""
    if isinstance(optimizer, Adam):
        decoupled = optimizer.weight_decay != 0.0
        optimizer.update = torch._fused_adamw_ if decoupled else torch._fused_adam_
    if isinstance(optimizer, MemberRates):
        optimizer.scale = optimizer.scale.to(optimizer.values)
        optimizer.before = torch.empty_like(optimizer.values)
