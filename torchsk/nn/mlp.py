"""The built-in backbone: ``MLP`` and the pieces it shares with ``EnsembleMLP``."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch
from torch import nn

from torchsk.nn.backbone import ACTIVATIONS, IN_PLACE_ACTIVATIONS, Backbone, hold_output


class _Linear(nn.Linear):
    """``nn.Linear`` without torch's own initialization: ``MLP`` draws the weights
    from its generator, so building one draws nothing from torch's global generator
    (concurrent fits and the caller's seed share that one)."""

    def reset_parameters(self) -> None:
        """Nothing: ``MLP.reset_parameters`` initializes the layer."""


def _linear(n_in: int, n_out: int, dtype: torch.dtype | None) -> nn.Linear:
    """A linear layer, left uninitialized for ``MLP`` to draw.

    Not ``nn.utils.skip_init``: skipping goes through the meta device and costs ~5x
    more than the default init it saves on small layers.
    """
    return _Linear(n_in, n_out, dtype=dtype)


class Dropout(nn.Dropout):
    """``nn.Dropout`` that draws its masks from ``generator`` when one is set.

    A fit sets it (``use_generators``) so that its masks come from its own seeded
    generator, not torch's global one: concurrent fits in threads then neither race
    on the global generator nor change the caller's random state. Without a
    generator (the module used outside a fit) it is ``nn.Dropout``.
    """

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zero each element with probability ``p`` and rescale the others (training)."""
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        keep = 1.0 - self.p
        mask = torch.empty_like(x).bernoulli_(keep, generator=self.generator)
        return x * mask.div_(keep)


@contextlib.contextmanager
def use_generators(module: nn.Module, seed: int, device: torch.device):
    """``module``'s ``Dropout`` layers draw from one generator seeded with ``seed``
    on ``device`` while the context lasts."""
    layers = [m for m in module.modules() if isinstance(m, Dropout)]
    generator = torch.Generator(device=device).manual_seed(seed) if layers else None
    for layer in layers:
        layer.generator = generator
    try:
        yield
    finally:
        for layer in layers:
            layer.generator = None


def init_bound(activation: str, fan_in: int, fan_out: int) -> float:
    """Half-width of the uniform initial weights of a layer: He-uniform for ReLU-like
    activations, Glorot-uniform (scikit-learn's scheme) for the saturating ones.

    He initialization keeps ReLU units alive over the (scaled) data range; with
    Glorot, 2 of 30 seeds of the penguins (5,)-unit fit ended with dead units.
    """
    if activation not in ("tanh", "logistic", "identity", "selu"):
        return math.sqrt(6.0 / fan_in)
    factor = 2.0 if activation == "logistic" else 6.0
    return math.sqrt(factor / (fan_in + fan_out))


class MLP(Backbone):
    """The built-in backbone: ``Linear → activation → dropout`` blocks, then a linear output.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Widths of the input and of the output layer.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers; ``()`` gives a linear model.
    activation : str
        A key of ``ACTIVATIONS``.
    dropout : float
        Dropout rate after each hidden activation.
    generator : torch.Generator, default=None
        Source of the initial weights; torch's global generator when None.
    dtype : torch.dtype, default=None
        Parameter dtype; torch's default when None.
    """

    HAND_WRITTEN = True  # its hand-written passes (training.objectives) and forward_reusing

    def __init__(
        self,
        *,
        n_inputs: int,
        n_outputs: int,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            n_inputs=n_inputs, n_outputs=n_outputs, hidden_layer_sizes=hidden_layer_sizes,
            activation=activation, dropout=dropout,
        )  # fmt: skip
        layers: list[nn.Module] = []
        width = n_inputs
        for size in hidden_layer_sizes:
            layers += [_linear(width, size, dtype), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        self.output = _linear(width, n_outputs, dtype)
        self.initialize(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map scaled inputs to raw outputs (logits, or targets in scaled units)."""
        return self.output(self.hidden(x))

    def hold_constant(self, columns: torch.Tensor, value: torch.Tensor) -> None:
        """Output ``value`` on the boolean mask ``columns``, whatever the input."""
        hold_output(self.output, columns, value)

    def linears(self) -> list[nn.Linear]:
        """The ``nn.Linear`` layers from input to output (the last is ``self.output``)."""
        return [layer for layer in self.hidden if isinstance(layer, nn.Linear)] + [self.output]

    def inference_buffers(self, rows: int) -> list[torch.Tensor]:
        """One tensor per hidden layer, for ``forward_reusing`` on up to ``rows`` rows."""
        p = self.output.weight
        return [
            torch.empty(rows, layer.out_features, dtype=p.dtype, device=p.device)
            for layer in self.linears()[:-1]
        ]

    def forward_reusing(self, x: torch.Tensor, buffers: list[torch.Tensor]) -> torch.Tensor:
        """``forward`` in eval mode (no dropout, no autograd), writing each hidden
        layer's output into ``buffers`` (from ``inference_buffers``) instead of new memory.

        Batch after batch, fresh activations cost more than the arithmetic: each new
        large tensor is new pages for the kernel to fault in. Predicting 1M rows
        through a (64, 64) network took ~2x as long with them.
        """
        act = IN_PLACE_ACTIVATIONS[self.activation]
        h = x
        for layer, buffer in zip(self.linears()[:-1], buffers, strict=True):
            # what nn.Linear computes for 2-d input, into the buffer
            h = act(torch.addmm(layer.bias, h, layer.weight.T, out=buffer[: len(x)]))
        return self.output(h)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Seeded initialization: weights uniform in ``±init_bound``, biases uniform
        in ``±1/sqrt(fan_in)`` as torch does."""
        for layer in self.linears():
            fan_out, fan_in = layer.weight.shape
            bound = init_bound(self.activation, fan_in, fan_out)
            layer.weight.uniform_(-bound, bound, generator=generator)
            b = 1.0 / math.sqrt(fan_in)
            layer.bias.uniform_(-b, b, generator=generator)
