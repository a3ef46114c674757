"""Plain-data form of a fitted estimator, for pickle, joblib and skops.

A fitted estimator pickles ``module_`` as a description of the built-in network plus
its tensors as numpy arrays, and its execution plan as builtins, so that:

- a model trained on a GPU unpickles on a machine without one (it lands on the CPU);
- ``skops.io`` can store it: numpy arrays and builtins only, no torch objects.

The input stage is described step by step from each encoder's ``config``, so a new
encoder needs no code here (its line in ``inputs.stage.STEPS`` names it). A
user-supplied backbone (``module=``) is pickled as the module object itself.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import nn

from torchsk.data.columns import comparable_spec
from torchsk.inputs.encoder import InputEncoder
from torchsk.inputs.scaling import Scaling
from torchsk.inputs.stage import STEPS, InputStage
from torchsk.nn.backbone import backbone_class, is_built_in
from torchsk.nn.heads import BinarySigmoid, Exp, Softmax, Softplus
from torchsk.nn.net import TabularNet
from torchsk.training.inference import numpy_holds
from torchsk.training.optim_state import from_plain, to_plain
from torchsk.training.plan import ExecutionPlan

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


_PARTS = {
    cls.__name__: cls for cls in (nn.Identity, Exp, Softplus, BinarySigmoid, Softmax, nn.Sigmoid)
}


def _encoder_classes() -> dict[str, type[InputEncoder]]:
    """The input stage's registered encoders by class name (only these are rebuilt
    from a file: ``inputs.stage.STEPS``)."""
    return {cls.__name__: cls for cls in STEPS.values()}


def describe(net: TabularNet, plan: ExecutionPlan) -> dict | None:
    """Builtins-and-numpy description of a network with a built-in backbone (``MLP``,
    ``EnsembleMLP``; not a subclass) and known parts, else None."""
    parts = [type(net.link).__name__] + ([] if net.head is None else [type(net.head).__name__])
    encoders = net.inputs.describe()
    known = _encoder_classes()
    if not is_built_in(net.backbone) or any(p not in _PARTS for p in parts):
        return None
    if any(cls not in known for _, cls, _ in encoders) or not all(
        numpy_holds(t) for t in net.state_dict().values()
    ):  # a module_ moved to bfloat16: pickled as a torch module
        return None
    return {
        "inputs": [list(step) for step in encoders],
        "backbone": dict(net.backbone.config),
        "backbone_class": type(net.backbone).__name__,
        "link": parts[0],
        "head": parts[1] if net.head is not None else None,
        "target_scaling": net.target_scaling is not None,
        "dtype": str(plan.dtype).removeprefix("torch."),
        "tensors": {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()},
    }


def rebuild(description: dict, device: torch.device) -> TabularNet:
    """The network a ``describe`` output stands for, on ``device``.

    The network is first built on the meta device (no memory, no random draws: loading
    leaves torch's global generator alone), and its tensor shapes checked against the
    stored tensors, so an edited file (``hidden_layer_sizes`` of 10**6 in a skops file)
    fails with a ``ValueError`` before anything is allocated. Only then does the
    network get memory, filled from the stored tensors.
    """
    tensors = description["tensors"]
    try:
        with torch.device("meta"):
            net = _assemble(description, tensors)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ValueError(f"The stored network's description is not valid: {exc!r}") from None
    _check_shapes(net, tensors)
    net = net.to_empty(device="cpu")
    # copies, not views: loaded arrays may be read-only memory maps
    state = {k: torch.tensor(np.asarray(v)) for k, v in tensors.items()}
    for name, param in net.named_parameters():
        if not state[name].is_floating_point():  # an edited file: int or complex weights
            raise ValueError(f"The stored weights {name!r} are {state[name].dtype}, not floats.")
        # parameters take the saved dtype before loading, else load_state_dict rounds
        # them: an embedding trained in float64 is rebuilt as float32 by nn.Embedding
        param.data = param.data.to(state[name].dtype)
    for name, buffer in net.named_buffers():
        # and buffers: a module_.float() (after the fit) saved float32 scaling constants
        if name in state and buffer.is_floating_point() and state[name].is_floating_point():
            buffer.data = buffer.data.to(state[name].dtype)
    net.load_state_dict(state)
    return net.to(device).freeze()


def _assemble(description: dict, tensors: dict) -> TabularNet:
    """The described network, tensors uninitialized (built on the meta device)."""
    known = _encoder_classes()
    inputs = InputStage(
        **{name: known[cls].from_config(**config) for name, cls, config in description["inputs"]}
    )
    target_scaling = None
    if description["target_scaling"]:
        target_scaling = Scaling.from_config(len(tensors["target_scaling.center"]))
    head = description["head"]
    if description["dtype"] not in _DTYPES:
        raise ValueError(f"unknown dtype {description['dtype']!r}")
    net = TabularNet(
        inputs,
        # files written before ensembles existed name no class: the MLP
        backbone_class(description.get("backbone_class", "MLP"))(
            **description["backbone"], generator=torch.Generator()
        ),
        link=_PARTS[description["link"]](),
        target_scaling=target_scaling,
        head=None if head is None else _PARTS[head](),
    )
    net.backbone.to(dtype=_DTYPES[description["dtype"]])  # the inputs stay float64
    return net


def _check_shapes(net: TabularNet, tensors: dict) -> None:
    """Refuse stored tensors that are not exactly the ones the configuration makes."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    stored = {k: tuple(np.shape(v)) for k, v in tensors.items()}
    if expected != stored:
        wrong = sorted(
            f"{k}: {stored.get(k, 'missing')} stored, {expected.get(k, 'none')} configured"
            for k in expected.keys() | stored.keys()
            if expected.get(k) != stored.get(k)
        )
        raise ValueError(
            "The stored network does not match its configuration (an edited or damaged "
            f"file?): {'; '.join(wrong[:5])}."
        )


def _trainable(module: nn.Module) -> nn.Module:
    """A pickled module (a user's) with its tensors copied out of inference mode, where
    unpickling inside ``torch.inference_mode()`` made them (no fit could train them);
    a tensor that layers share (tied weights) is copied once and stays shared."""
    copies = {}
    for part in module.modules():
        for store in (part._parameters, part._buffers):
            for name, tensor in store.items():
                if tensor is not None and tensor.is_inference():
                    if id(tensor) not in copies:
                        copy = tensor.clone()
                        if isinstance(tensor, nn.Parameter):
                            copy = nn.Parameter(copy, tensor.requires_grad)
                        copies[id(tensor)] = copy
                    store[name] = copies[id(tensor)]
    return module


class PicklesPlainData:
    """``__getstate__`` / ``__setstate__`` of the estimators: their fitted network as
    plain data (``describe``), rebuilt on loading (``rebuild``)."""

    def __copy__(self):
        """A shallow copy, attributes shared, as ``object``'s: not pickling's round
        trip, which would rebuild the network (and freeze a user's module, shared
        with the original). ``sklearn.callback`` copies the estimator being trained
        at every epoch to score it."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __getstate__(self):
        """Plain data for pickle/joblib/skops: the network as a description + numpy
        arrays (see ``io.persistence``), the plan and the optimizer's state as builtins
        and numpy arrays (a ``partial_fit`` after loading continues it, as
        scikit-learn's does)."""
        state = dict(super().__getstate__())  # a copy: it may be our own __dict__
        if "module_" in state:
            plan = state["_plan"]
            description = describe(state["module_"], plan)
            if description is not None:
                state["module_"] = description
            state["_plan"] = plan.to_state()
            optimizer = state.get("_optimizer")
            state["_optimizer"] = None if optimizer is None else to_plain(optimizer)
        return state

    def __setstate__(self, state):
        """Rebuild the network, on the saved device if this machine has it, else the CPU.
        Inside ``torch.inference_mode()`` too, as tensors that can train again."""
        state = dict(state)
        # saved before numeric_bins existed: those networks had no bins
        state.setdefault("numeric_bins", None)
        if isinstance(state.get("_build_params"), dict):
            built = state["_build_params"]
            built.setdefault("numeric_bins", None)
            if "categorical_features" in built:  # saved before a mask was read as indices
                spec, width = built["categorical_features"], state.get("n_features_in_")
                built["categorical_features"] = comparable_spec(spec, width)
        for name, parameter in inspect.signature(type(self).__init__).parameters.items():
            if parameter.default is not inspect.Parameter.empty:  # saved before it existed
                state.setdefault(name, parameter.default)
        with torch.inference_mode(False):  # a model loaded to serve can still partial_fit
            self._rebuild_fitted(state)
        super().__setstate__(state)

    @staticmethod
    def _rebuild_fitted(state: dict) -> None:
        """The fitted network, plan and optimizer from their plain data, in place."""
        if "module_" in state:
            # saved before best_validation_score_ was None without early stopping
            state.setdefault("best_validation_score_", None)
            plan = ExecutionPlan.from_state(state["_plan"])
            module = state["module_"]
            if isinstance(module, dict):
                module = rebuild(module, plan.device)
            else:
                module = _trainable(module).to(plan.device)
            state["module_"] = module.freeze()  # eval mode, no gradients, as after fit
            state["_plan"] = plan
            if isinstance(state.get("_optimizer"), dict):
                size = sum(p.numel() for p in module.parameters())
                state["_optimizer"] = from_plain(state["_optimizer"], plan.device, size)
