"""A user's backbone given as ``module``: built from a class with ``module__*``
parameters (as skorch does), and refused where its output is already a probability.

The ``module__*`` parameters are stored on the estimator as attributes of those names,
so ``get_params`` / ``set_params`` / ``clone`` / ``GridSearchCV`` see them
(``BaseTorchEstimator.get_params``); this module turns them into the backbone.
"""

from __future__ import annotations

import copy
import inspect

import torch
from torch import nn

from torchsk._warnings import warn

PREFIX = "module__"


# keyword names under which a module class gets the input and output widths: torchsk's
# own (a builder's ``module(n_inputs, n_outputs)``), nn.Linear's, skorch.toy.MLPModule's,
# and the common ``input_dim`` / ``output_dim``
WIDTH_NAMES = (
    ("n_inputs", "n_outputs"),
    ("in_features", "out_features"),
    ("input_units", "output_units"),
    ("input_dim", "output_dim"),
)


PROBABILITY_LAYERS = (nn.Sigmoid, nn.LogSigmoid, nn.Softmax, nn.LogSoftmax)


def module_params(estimator) -> dict:
    """The estimator's ``module__*`` parameters, with their full names."""
    return {k: v for k, v in vars(estimator).items() if k.startswith(PREFIX)}


def check_module_params(owner: str, params: dict) -> None:
    """Refuse, as Python would, a keyword ``__init__`` does not take. (``module__``
    itself, the name of ``__init__``'s ``**module__``, passes, and fails at fit.)"""
    for key in params:
        if not key.startswith(PREFIX):
            raise TypeError(f"{owner}.__init__() got an unexpected keyword argument {key!r}")


def build_module(module, n_inputs: int, n_outputs: int, params: dict) -> nn.Module:
    """The backbone from ``module`` (a class or a builder) and the ``module__*``
    parameters ``params`` (full names), following the rule in ``estimators.docs``'s ``module``."""
    kwargs = {k.removeprefix(PREFIX): _copied(v) for k, v in params.items()}
    if not isinstance(module, type):  # a builder: it may return one module every time
        return _copied(module(n_inputs, n_outputs, **kwargs))
    args, kwargs = _class_arguments(module, n_inputs, n_outputs, kwargs)
    return module(*args, **kwargs)


def _copied(value):
    """A copy of a module (or tensor) that a fit would otherwise train, cast and
    freeze in place: a module__act=nn.PReLU(), or a builder's ``lambda i, o: net``,
    whose next fit (a CV fold's) had started from them, frozen. A module that cannot
    be copied (``weight_norm``'s, whose weight is computed) is used as it is."""
    if not isinstance(value, nn.Module | torch.Tensor):
        return value
    try:
        return copy.deepcopy(value)
    except (RuntimeError, TypeError):
        return value


def _class_arguments(cls: type, n_inputs: int, n_outputs: int, kwargs: dict):
    """``(args, kwargs)`` to build ``cls`` with: the widths as keywords under the first
    pair of ``WIDTH_NAMES`` its ``__init__`` names (those of them it names and
    ``module__*`` does not set), else as the first two positional arguments when two
    required ones are left or its first parameter is ``*args``."""
    signature = inspect.signature(cls)
    args, kwargs = _with_widths(signature.parameters, (n_inputs, n_outputs), kwargs)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(
            f"Cannot build module={cls.__name__} with module__* parameters "
            f"{sorted(kwargs)}: {error}. A module class is called with its module__* "
            "parameters, plus the input and output widths as keywords it names "
            f"({', '.join('/'.join(p) for p in WIDTH_NAMES)}), or else as its first two "
            "positional arguments."
        ) from None
    return args, kwargs


def _with_widths(names, widths: tuple, kwargs: dict):
    for pair in WIDTH_NAMES:
        if any(name in names for name in pair):
            given = zip(pair, widths, strict=True)
            return (), {**{k: v for k, v in given if k in names and k not in kwargs}, **kwargs}
    required = [
        p
        for p in names.values()
        if p.default is p.empty
        and p.name not in kwargs
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    # a subclass forwarding (*args, **kwargs) to its parent's widths takes them so
    # too, where no parameter before *args would take them instead (hidden=8, *args)
    kinds = [p.kind for p in names.values()]
    forwards = bool(kinds) and kinds[0] == inspect.Parameter.VAR_POSITIONAL
    return (widths if len(required) >= 2 or forwards else ()), kwargs


def run_recording_last_layer(backbone: nn.Module, run):
    """``(run(), (module, output))``: what ``run`` returns, and the last leaf module of
    ``backbone`` it called with that call's output (``(None, None)`` if none ran)."""
    calls = []
    leaves = [m for m in backbone.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda m, i, o: calls.append((m, o))) for m in leaves]
    try:
        out = run()
    finally:
        for hook in hooks:
            hook.remove()
    return out, (calls[-1] if calls else (None, None))


def refuse_probability_layer(last: nn.Module | None, last_out, out: torch.Tensor) -> None:
    """A classifier's backbone whose output is that of a layer turning logits into
    probabilities: the last leaf module its forward ran, returned as it is."""
    if isinstance(last, PROBABILITY_LAYERS) and last_out is out:
        _refuse(f"The module's last layer is nn.{type(last).__name__}")


def refuse_probability_output(out: torch.Tensor) -> None:
    """A classifier's backbone whose outputs on a probe batch are rows of
    probabilities (or log-probabilities): softmax applied in ``forward``."""
    if out.ndim != 2 or out.shape[1] < 2 or not torch.isfinite(out).all():
        return
    ones = torch.ones(len(out), dtype=out.dtype, device=out.device)
    tol = dict(rtol=0, atol=1e-5)
    if (out >= 0).all() and torch.allclose(out.sum(dim=1), ones, **tol):
        _refuse("The module's outputs are rows of probabilities (softmax)")
    if (out <= 0).all() and torch.allclose(out.logsumexp(dim=1), ones - 1, **tol):
        _refuse("The module's outputs are rows of log-probabilities (log-softmax)")


def warn_if_bounded(out: torch.Tensor, far) -> None:
    """Warn where a trained classifier's module squashes its logits into [0, 1] (a
    sigmoid in its ``forward``): its outputs on the training rows all lie there, and
    either spread over half of it at least (a sigmoid's spread from the first epochs)
    or stay there on inputs far outside the data (``far()``: a sigmoid's do, where an
    undertrained network's logits, near their start all in [0, 1], leave it). A
    sigmoid trained on imbalanced classes kept its outputs together above 0.5: the
    head predicted the minority class for every row, with no warning."""
    if len(out) < 8 or not _in_unit(out):
        return
    if float(out.max() - out.min()) >= 0.5 or _far_in_unit(far):
        warn(
            "The module's outputs stayed within [0, 1] on the training rows after "
            "training: they look like probabilities (a sigmoid in its forward?), but "
            "torchsk applies the classifier's head to them as logits, a second "
            "activation (one logit in [0, 1] predicts classes_[1] for every row). "
            "Remove the final activation: the module must return logits."
        )


def _in_unit(out: torch.Tensor) -> bool:
    return bool(((out >= 0) & (out <= 1)).all())


def _far_in_unit(far) -> bool:
    """``_in_unit(far())``; False where the module cannot take such inputs (one that
    indexes an embedding with an input column): a probe never fails the fit."""
    try:
        return _in_unit(far())
    except (RuntimeError, IndexError, ValueError):
        return False


def _refuse(what: str) -> None:
    raise ValueError(
        f"{what}: it already outputs probabilities, and torchsk applies the classifier's "
        "head (sigmoid or softmax, see `head`) to the module's outputs itself, so it "
        "would train through a second activation. Remove the final activation: the "
        "module must return logits (one per class, or one for a binary target with the "
        "default sigmoid head)."
    )


class ModuleParams:
    """skorch's ``module__*`` parameters in ``get_params`` / ``set_params`` (a mixin of
    ``BaseTorchEstimator``): arguments of a ``module`` class or builder."""

    def get_params(self, deep=True):
        """The estimator's parameters, with the ``module__*`` ones given at
        construction or by ``set_params``."""
        return {**super().get_params(deep=deep), **module_params(self)}

    def set_params(self, **params):
        """Set parameters; ``module__*`` ones (new ones too) are arguments of a
        ``module`` class or builder."""
        for name in [name for name in params if name.startswith(PREFIX)]:
            setattr(self, name, params.pop(name))
        return super().set_params(**params)
