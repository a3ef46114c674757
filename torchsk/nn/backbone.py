"""The backbone contract, the built-in backbones' registry and their activations.

A backbone maps the input stage's output (``n_inputs`` columns) to the network's raw
outputs (``n_outputs``: targets in scaled units, or logits). Any ``nn.Module`` that
does so works (a user's ``module``) and trains through autograd. A built-in one is a
``Backbone``, which the rest of torchsk may also ask for:

- ``config``: plain values; ``cls(**config, generator=g)`` builds the same shapes
  (``io.persistence`` stores and rebuilds it so);
- ``reset_parameters(generator)``: draws the initial weights;
- ``hold_constant(columns, value)``: outputs ``value`` on the boolean mask ``columns``
  whatever the input (a constant target column, ``estimators.tasks``);
- ``HAND_WRITTEN``, declared on the class itself (a subclass that changes ``forward``
  does not inherit it): the hand-written training passes that
  ``training.passes.HAND_WRITTEN_PASSES`` lists for the class apply, and so does
  inference into reused buffers where the class has ``forward_reusing``
  (``training.plan``).

A new backbone is one file in ``nn/`` with a ``Backbone`` subclass and one line in
``BACKBONES`` (so that a saved model names it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Each built-in backbone by class name, with its module (imported when first needed).
BACKBONES = {"MLP": "torchsk.nn.mlp", "EnsembleMLP": "torchsk.nn.ensemble"}

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "identity": nn.Identity,
    "relu": lambda: nn.ReLU(inplace=True),  # in place: saves a pass over memory
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "mish": nn.Mish,
    "selu": nn.SELU,
}


# The same functions, overwriting their input: applied to a layer's fresh output, which
# nothing else holds (the hand-written training pass, inference into reused buffers).
# GELU has no in-place form in torch; it allocates.
IN_PLACE_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda h: h,
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "logistic": torch.sigmoid_,
    "gelu": F.gelu,
    "silu": lambda h: F.silu(h, inplace=True),
    "elu": lambda h: F.elu(h, inplace=True),
    "leaky_relu": lambda h: F.leaky_relu(h, inplace=True),
    "mish": lambda h: F.mish(h, inplace=True),
    "selu": lambda h: F.selu(h, inplace=True),
}


def backbone_class(name: str) -> type[Backbone]:
    """The built-in backbone class named ``name`` (a saved model's), else ValueError."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; torchsk builds {sorted(BACKBONES)}")
    return getattr(importlib.import_module(BACKBONES[name]), name)


def is_built_in(backbone: nn.Module) -> bool:
    """Whether ``backbone`` is exactly a registered class (not a subclass)."""
    cls = type(backbone)
    return BACKBONES.get(cls.__name__) == cls.__module__


def hand_written(backbone: nn.Module) -> bool:
    """Whether the hand-written passes apply: ``HAND_WRITTEN`` on its own class."""
    return bool(vars(type(backbone)).get("HAND_WRITTEN", False))


def constant_holder(backbone: nn.Module) -> Callable | None:
    """``hold_constant`` of ``backbone``: its own for a ``Backbone``; for another
    module whose last layer is an ``nn.Linear`` named ``output`` (a user's copy of the
    MLP), the same on that layer; else None (nothing is held)."""
    if isinstance(backbone, Backbone):
        return backbone.hold_constant
    out = getattr(backbone, "output", None)
    if isinstance(out, nn.Linear):
        return lambda columns, value: hold_output(out, columns, value)
    return None


@torch.no_grad()
def hold_output(layer: nn.Linear, columns: torch.Tensor, value: torch.Tensor) -> None:
    """Zero ``layer``'s weights into ``columns`` and set their bias to ``value``: those
    outputs are ``value`` whatever the input (a minimum of every loss, so training
    leaves them there)."""
    layer.weight[columns] = 0.0
    layer.bias[columns] = value.to(layer.bias.dtype)


class Backbone(nn.Module):
    """Base of the built-in backbones: checks the shared settings, records ``config``.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Widths of the input and of the output layer.
    hidden_layer_sizes : sequence of int, default=(100,)
        Widths of the hidden layers; ``()`` gives a linear model.
    activation : str, default="relu"
        A key of ``ACTIVATIONS``.
    dropout : float, default=0.0
        Dropout rate after each hidden activation.
    **extra
        The subclass's own settings, recorded in ``config`` too.
    """

    def __init__(self, *, n_inputs: int, n_outputs: int,
                 hidden_layer_sizes: Sequence[int] = (100,), activation: str = "relu",
                 dropout: float = 0.0, **extra) -> None:  # fmt: skip
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not one of {sorted(ACTIVATIONS)}.")
        self.activation = activation
        self.config = dict(
            n_inputs=n_inputs, n_outputs=n_outputs, hidden_layer_sizes=list(hidden_layer_sizes),
            activation=activation, dropout=float(dropout), **extra,
        )  # fmt: skip

    def initialize(self, generator: torch.Generator | None) -> None:
        """``reset_parameters`` from ``generator``; without one, from a generator seeded
        by torch's global one (as torch's own layers draw from it)."""
        if generator is None:
            generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the initial weights from ``generator``."""
        raise NotImplementedError

    def hold_constant(self, columns: torch.Tensor, value: torch.Tensor) -> None:
        """Output ``value`` on the boolean mask ``columns``, whatever the input."""
        raise NotImplementedError
