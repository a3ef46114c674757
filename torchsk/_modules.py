"""The ``nn.Module`` pieces: the MLP backbone and the assembled network.

``TabularNet`` = input stage (``_inputs``) → backbone → output end (link and target
scaling, or a probability head). Everything here is plain PyTorch, so a trained
network can be saved, exported and used without scikit-learn.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._inputs import InputStage, Scaling

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


class MLP(nn.Module):
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
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not one of {sorted(ACTIVATIONS)}.")
        layers: list[nn.Module] = []
        width = n_inputs
        for size in hidden_layer_sizes:
            layers += [_linear(width, size, dtype), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        self.output = _linear(width, n_outputs, dtype)
        self.activation = activation
        self.config = dict(
            n_inputs=n_inputs,
            n_outputs=n_outputs,
            hidden_layer_sizes=list(hidden_layer_sizes),
            activation=activation,
            dropout=float(dropout),
        )
        if generator is None:  # like torch's own layers: draw from the global generator
            generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
        self.reset_parameters(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map scaled inputs to raw outputs (logits, or targets in scaled units)."""
        return self.output(self.hidden(x))

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


class ReusedBackbone:
    """Start a new estimator from a fitted one's backbone: ``module=ReusedBackbone(est)``.

    Called by the new estimator as ``builder(n_inputs, n_outputs)``, it returns a copy
    of the fitted backbone with its trained hidden layers (warm weights) and, when
    the number of outputs differs, a fresh output layer of the right width — the way
    to turn a regression network into a classifier, or the other way round. The new
    estimator encodes X as ``estimator`` does (``input_stage``, ``table``: the same
    bin edges, scaling, categories and slots, on every fold of a search), whatever
    its own ``input_scaling``, ``numeric_bins`` and ``categorical_features``.

    Parameters
    ----------
    estimator : TorchRegressor or TorchClassifier
        A fitted estimator whose ``module_.backbone`` is the built-in ``MLP`` (or any
        module with a final ``nn.Linear`` named ``output``).
    """

    def __init__(self, estimator) -> None:
        net = estimator.module_
        if not isinstance(getattr(net.backbone, "output", None), nn.Linear):
            raise ValueError(
                f"ReusedBackbone needs a backbone whose last layer is an nn.Linear named "
                f"'output' (the built-in MLP); {type(net.backbone).__name__} has none "
                "(an n_ensemble > 1 network: reuse needs n_ensemble=1)."
            )
        self.backbone = net.backbone
        # the donor's input encoding, which the new estimator reuses whole (``input_stage``,
        # ``table``): its backbone learned on these bin edges, categorical slots and
        # missing indicators, which a refit on other rows (a CV fold) would change
        self.inputs = copy.deepcopy(net.inputs).cpu()
        self.table = copy.deepcopy(getattr(estimator, "_table", None))
        self.n_features = estimator.n_features_in_
        bins = getattr(net.inputs, "bins", None)  # read by pickles made before the above
        self.numeric_bins = max(bins.config["n_bins"], default=None) if bins else None
        # what the fitted network never trained stays fixed; the rest trains again
        self.fixed = {
            name.removeprefix("backbone.")
            for name in getattr(net, "fixed_parameters", ())
            if name.startswith("backbone.")
        }

    def input_stage(self, n_features: int) -> nn.Module:
        """A copy of the donor's fitted input stage, for ``n_features`` columns."""
        if n_features != self.n_features:
            raise ValueError(
                f"The reused backbone's input stage takes {self.n_features} columns, but X "
                f"has {n_features}: encode X as the fitted estimator did (the same columns "
                "and categorical_features)."
            )
        return copy.deepcopy(self.inputs)

    def __call__(self, n_inputs: int, n_outputs: int) -> nn.Module:
        """Copy the backbone, re-heading it with ``n_outputs`` outputs if needed."""
        width = (
            self.backbone.linears()[0].in_features if hasattr(self.backbone, "linears") else None
        )
        if width is not None and width != n_inputs:
            raise ValueError(
                f"The reused backbone takes {width} inputs, but this estimator's input "
                f"stage makes {n_inputs}: encode X as the fitted estimator did (the same "
                "columns and categorical_features)."
            )
        backbone = copy.deepcopy(self.backbone).cpu()
        for name, p in backbone.named_parameters():  # a fitted module's are frozen
            p.requires_grad_(name not in self.fixed)
        if backbone.output.out_features != n_outputs:
            old = backbone.output
            backbone.output = nn.Linear(old.in_features, n_outputs, dtype=old.weight.dtype)
        return backbone


def reuses_encoding(module) -> bool:
    """``module=ReusedBackbone(est)`` holding ``est``'s input stage (not one pickled
    before it kept it)."""
    return isinstance(module, ReusedBackbone) and getattr(module, "inputs", None) is not None


class TabularNet(nn.Module):
    """Input stage → backbone → output end, in one module.

    Called on raw ``X`` it returns predictions in the target's units (regression) or
    logits (classification). ``raw_output`` is what training sees: the backbone's
    output before the link and target scaling.

    Parameters
    ----------
    inputs : InputStage
        The encoders from raw inputs to the backbone's input (scaling, ...).
    backbone : nn.Module
        Maps the encoded inputs to ``n_outputs`` raw outputs.
    link : nn.Module, default=None
        Output link (``exp`` for Poisson, ...); identity when None.
    target_scaling : Scaling, default=None
        Maps the linked output back to the target's units; identity when None.
    head : nn.Module, default=None
        Turns logits into probabilities (softmax, sigmoid, ...); classifiers only.

    Attributes
    ----------
    fixed_parameters : frozenset of str
        Names of the parameters that did not require gradients when the network was
        assembled (layers a user's backbone froze): no fit trains them.

    A fitted network is frozen (``freeze``): in eval mode, no parameter requiring
    gradients, so calling it builds no autograd graph. A fit unfreezes it for its
    duration (``unfreeze``); to train it in your own loop, call
    ``net.train().requires_grad_()``.
    """

    def __init__(
        self,
        inputs: InputStage,
        backbone: nn.Module,
        *,
        link: nn.Module | None = None,
        target_scaling: Scaling | None = None,
        head: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.backbone = backbone
        self.link = link if link is not None else nn.Identity()
        self.target_scaling = target_scaling
        self.head = head
        self.fixed_parameters = frozenset(
            name for name, p in self.named_parameters() if not p.requires_grad
        )

    def unfreeze(self) -> TabularNet:
        """Train mode, and gradients for every parameter but ``fixed_parameters``:
        the state a fit trains in."""
        fixed = getattr(self, "fixed_parameters", frozenset())  # older pickles lack it
        for name, p in self.named_parameters():
            p.requires_grad_(name not in fixed)
        return self.train()

    def freeze(self) -> TabularNet:
        """Eval mode, no parameter requiring gradients: the fitted network as users
        get it (after ``fit`` and after loading)."""
        self.requires_grad_(False)
        return self.eval()

    @property
    def compute_dtype(self) -> torch.dtype:
        """The backbone's dtype (float64 for small CPU problems, else float32)."""
        return next(self.backbone.parameters()).dtype

    def raw_output(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone output on raw ``x``: logits, or the target in scaled units."""
        # The input stage's constants stay float64 and x is encoded before it is rounded
        # to the backbone's dtype: a raw feature far from zero (a timestamp, an ID, a
        # price in cents) would otherwise lose its low digits in float32.
        return self.backbone(self.inputs(x, self.compute_dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions in the target's units (regression) or logits (classification)."""
        return self.from_raw(self.raw_output(x))

    def from_raw(self, z: torch.Tensor) -> torch.Tensor:
        """``forward``'s result from the backbone's output ``z`` (link, target scaling)."""
        z = self.link(z)
        return z if self.target_scaling is None else self.target_scaling.inverse(z)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities through the head (classifiers only)."""
        if self.head is None:
            raise AttributeError("This network has no probability head.")
        return self.head(self.forward(x))
