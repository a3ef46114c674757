"""``EnsembleMLP``: several MLPs of one shape trained side by side, outputs averaged.

What ``n_ensemble`` builds. The members see the same mini-batches (one shuffle, one
step for all) but start from their own random weights, so they end in different
minima; averaging them removes much of the variance a single network's fit has on
small, noisy tables (TabM, Gorishniy et al. 2024, measured the same with BatchEnsemble
heads). Each layer holds the members' weights as one ``(members, in, out)`` tensor, so
a step is a few batched matrix products instead of a loop over networks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from torchsk.nn.backbone import ACTIVATIONS, IN_PLACE_ACTIVATIONS, Backbone
from torchsk.nn.mlp import Dropout, init_bound


class EnsembleMLP(Backbone):
    """``n_members`` MLPs (``Linear → activation → dropout`` blocks, then a linear
    output) of the same widths, trained on the same batches and averaged.

    In training mode ``forward`` returns every member's output, shape
    ``(n_members, rows, n_outputs)``: the objective trains each member on its own
    loss (``training.objectives`` sums them, so each gets the gradient it would get alone).
    In eval mode it returns their mean, ``(rows, n_outputs)``,
    like any backbone: the mean of the regression outputs, or of the logits.

    Parameters
    ----------
    n_members : int
        Number of networks.
    generator : torch.Generator, default=None
        Source of the initial weights; torch's global generator when None.
    dtype : torch.dtype, default=None
        Parameter dtype; torch's default when None.
    **shape
        ``n_inputs``, ``n_outputs``, ``hidden_layer_sizes`` (``()``: linear members),
        ``activation``, ``dropout``: each member's, as ``Backbone`` takes them.
    """

    # its passes: training.stacked
    HAND_WRITTEN = True

    def __init__(
        self,
        *,
        n_members: int = 4,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        **shape,
    ) -> None:
        # the shape (widths, activation, dropout) is checked and recorded by Backbone
        super().__init__(n_members=int(n_members), **shape)
        config = self.config
        widths = [config["n_inputs"], *config["hidden_layer_sizes"], config["n_outputs"]]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(n_members, a, b, dtype=dtype))
            for a, b in zip(widths, widths[1:], strict=False)
        )
        # 1-d, viewed as (members, 1, out) in forward: the L2 penalty (``alpha``) takes
        # the matrices only, and skips biases by their shape
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(n_members * b, dtype=dtype)) for b in widths[1:]
        )
        self.act = ACTIVATIONS[self.activation]()
        dropout = config["dropout"]
        self.drop = Dropout(dropout) if dropout > 0 else nn.Identity()
        self.n_members = n_members
        self.initialize(generator)

    def members(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's output on ``x``: shape ``(n_members, rows, n_outputs)``.
        ``x`` is the members' shared input ``(rows, n_inputs)`` or one per member
        ``(n_members, rows, n_inputs)`` (each member's own embeddings)."""
        last = len(self.weights) - 1
        h = x
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            bias = bias.view(self.n_members, 1, -1)
            # the first layer broadcasts the shared input over the members
            h = torch.baddbmm(bias, h, weight) if h.ndim == 3 else torch.matmul(h, weight) + bias
            if i < last:
                h = self.drop(self.act(h))
        return h

    def member(self, m: int, x: torch.Tensor) -> torch.Tensor:
        """Member ``m``'s output on ``x`` alone: shape ``(rows, n_outputs)`` (a
        cross-fitted member's held-out rows are its own: ``training.folds``). ``x``
        may be every member's input, ``(n_members, rows, n_inputs)``."""
        last = len(self.weights) - 1
        h = x[m] if x.ndim == 3 else x
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.addmm(bias.view(self.n_members, -1)[m], h, weight[m])
            if i < last:
                h = self.drop(self.act(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Members' outputs while training; their mean otherwise."""
        return self.members(x) if self.training else self.mean_output(x)

    def mean_output(self, x: torch.Tensor) -> torch.Tensor:
        """The members' mean output in eval mode (no dropout): ``members(x).mean(0)``
        to float rounding, computed as one wide network where the layout allows.

        The shared input meets every member's first layer in one product whose
        ``(rows, members * width)`` result holds the members side by side; with one
        hidden layer, the mean of the members' linear outputs is then one product over
        all their units (weights divided by the member count). ``members`` broadcasts
        the input into a product per member and stacks ``(members, rows, out)``
        outputs to average: 8 members of (100,) predicted 20,000 rows in 18x one
        network's time, 4.7x this way (with ``inference``'s smaller chunks; T7 of
        ``benchmarks/bench_speed.py``). A subclass with its own ``members`` is averaged
        through it.
        """
        weights, biases, k = list(self.weights), list(self.biases), self.n_members
        own = type(self).members is not EnsembleMLP.members
        if own:
            return self.members(x).mean(dim=0)
        if torch.onnx.is_in_onnx_export():  # each member its own 2-D products: ONNX
            # Runtime's graph optimizer had crashed the process (SIGFPE) on a batch of 0
            # rows through the stacked products of members of two or more hidden layers
            return torch.stack([self.member(m, x) for m in range(k)]).mean(dim=0)
        if x.ndim == 3 or len(weights) == 1:  # members' own inputs, linear members
            return self.members(x).mean(dim=0)
        act = IN_PLACE_ACTIVATIONS[self.activation]
        side_by_side = weights[0].permute(1, 0, 2).reshape(x.shape[-1], -1)
        h = act(torch.addmm(biases[0], x, side_by_side))
        if len(weights) == 2:  # (members * width, out): member m's rows m * width...
            last, bias = weights[1].reshape(-1, weights[1].shape[-1]), biases[1].view(k, -1)
            # the weights divided, not addmm's alpha: ONNX keeps alpha in float32 only
            return torch.addmm(bias.mean(dim=0), h, last / k)
        # (members, rows, width), a view; rows as -1 (not len(x)): a traced or exported
        # graph keeps its row count free, and 0 rows stay 0
        h = h.view(-1, k, weights[0].shape[-1]).transpose(0, 1)
        for i, (weight, bias) in enumerate(zip(weights[1:], biases[1:], strict=True), start=2):
            h = torch.baddbmm(bias.view(k, 1, -1), h, weight)
            if i < len(weights):
                h = act(h)
        return h.mean(dim=0)

    @torch.no_grad()
    def hold_constant(self, columns: torch.Tensor, value: torch.Tensor) -> None:
        """Make every member output ``value`` on the boolean mask ``columns``, whatever
        the input: zero output weights, the bias at the value (a constant target
        column, which training then leaves there)."""
        self.weights[-1][:, :, columns] = 0.0
        bias = self.biases[-1].view(self.n_members, -1)
        bias[:, columns] = value.to(bias.dtype)

    def set_member_dropout(self, rates) -> None:
        """Give each member its own dropout rate (a batched search's candidates,
        ``training.members.MemberRows``); all 0 leaves the network without dropout.

        The rates are not part of the saved configuration: they act in training only,
        and a reloaded network predicts alike (dropout is off in eval mode)."""
        rates = torch.as_tensor(rates, dtype=torch.float64)
        if len(rates) != self.n_members:
            raise ValueError(f"Got {len(rates)} dropout rates for {self.n_members} members.")
        self.drop = MemberDropout(rates) if bool((rates > 0).any()) else nn.Identity()

    @torch.no_grad()
    def reset_member(self, m: int, generator: torch.Generator) -> None:
        """Member ``m`` initialized as ``reset_parameters`` does, from ``generator``
        alone: members reset from equally seeded generators start equal, whatever
        their place or number (a batched search's candidates of one fold)."""
        for weight, bias in zip(self.weights, self.biases, strict=True):
            _, fan_in, fan_out = weight.shape
            bound = init_bound(self.activation, fan_in, fan_out)
            # drawn on the CPU (the generator's device), whatever the member's, in
            # ``MLP``'s (out, in) order: a member of seed s starts as ``MLP`` of seed s
            weight[m].copy_(_uniform(weight[m].T, bound, generator).T)
            b = 1.0 / math.sqrt(fan_in)
            member_bias = bias.view(self.n_members, -1)[m]
            member_bias.copy_(_uniform(member_bias, b, generator))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Each member initialized as ``MLP`` initializes its layers (``init_bound``)."""
        for weight, bias in zip(self.weights, self.biases, strict=True):
            _, fan_in, fan_out = weight.shape
            bound = init_bound(self.activation, fan_in, fan_out)
            weight.uniform_(-bound, bound, generator=generator)
            b = 1.0 / math.sqrt(fan_in)
            bias.uniform_(-b, b, generator=generator)


def _uniform(like: torch.Tensor, bound: float, generator: torch.Generator) -> torch.Tensor:
    """Uniform draws in ``[-bound, bound]`` of ``like``'s shape and dtype, on the CPU."""
    out = torch.empty(like.shape, dtype=like.dtype)
    return out.uniform_(-bound, bound, generator=generator)


class MemberDropout(Dropout):
    """Dropout at one rate per member, on the members' stacked activations
    ``(members, rows, width)``: member ``m``'s units drop with probability
    ``rates[m]`` (those of rate 0 never), the others scaled up by ``1 / (1 - rate)``.
    Its masks come from the fit's generator, as ``Dropout``'s (``nn.mlp.use_generators``).
    """

    def __init__(self, rates: torch.Tensor) -> None:
        super().__init__(float(rates.max()))  # p > 0: the plan sees dropout (autograd)
        self.rates = rates  # a plain attribute: not saved in the state_dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zero each member's units at its rate and rescale the others (training)."""
        if not self.training:
            return x
        keep = (1.0 - self.rates).to(x).view(-1, *([1] * (x.ndim - 1))).expand_as(x)
        mask = torch.bernoulli(keep, generator=self.generator)
        return x * mask.div_(keep)
