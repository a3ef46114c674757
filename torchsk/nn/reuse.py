"""``ReusedBackbone``: a fitted estimator's hidden layers as another estimator's backbone."""

from __future__ import annotations

import copy
import warnings

import numpy as np
from sklearn.utils.validation import _get_feature_names, check_is_fitted
from torch import nn


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
        check_is_fitted(estimator)  # scikit-learn's error, not AttributeError
        net = estimator.module_  # a fitted search says why it has none (refit=False)
        if not isinstance(getattr(net.backbone, "output", None), nn.Linear):
            raise ValueError(
                f"ReusedBackbone needs a backbone whose last layer is an nn.Linear named "
                f"'output' (the built-in MLP); {type(net.backbone).__name__} has none "
                "(an n_ensemble > 1 network: reuse needs n_ensemble=1)."
            )
        # a snapshot, as the input stage below: the donor's later training (partial_fit,
        # a warm start) updates its backbone in place
        self.backbone = copy.deepcopy(net.backbone).cpu()
        # the donor's input encoding, which the new estimator reuses whole (``input_stage``,
        # ``table``): its backbone learned on these bin edges, categorical slots and
        # missing indicators, which a refit on other rows (a CV fold) would change
        self.inputs = copy.deepcopy(net.inputs).cpu()
        self.table = copy.deepcopy(getattr(estimator, "_table", None))
        self.n_features = estimator.n_features_in_
        self.feature_names = getattr(estimator, "feature_names_in_", None)
        bins = getattr(net.inputs, "bins", None)  # read by pickles made before the above
        self.numeric_bins = max(bins.config["n_bins"], default=None) if bins else None
        # what the fitted network never trained stays fixed; the rest trains again
        self.fixed = {
            name.removeprefix("backbone.")
            for name in getattr(net, "fixed_parameters", ())
            if name.startswith("backbone.")
        }

    def check_columns(self, X) -> None:
        """Refuse ``X`` whose column names are not the estimator's, as scikit-learn's
        estimators refuse them at predict: the reused encoding reads columns by
        position (a reordered table had its scaling and categories swapped).

        Raises
        ------
        ValueError
            Where both have names and they differ (order included); a warning where
            one of them has none.
        """
        fitted = getattr(self, "feature_names", None)  # None in pickles made before it
        names = _get_feature_names(X)
        if fitted is not None and names is not None and not np.array_equal(fitted, names):
            raise ValueError(
                "The feature names should match those that were passed during fit of the "
                f"ReusedBackbone's estimator: {list(fitted)}, in that order; X has "
                f"{list(names)}."
            )
        if (fitted is None) != (names is None) and hasattr(self, "feature_names"):
            message = (
                "X has feature names, but the ReusedBackbone's estimator was fitted without"
                if fitted is None
                else "X does not have valid feature names, but the ReusedBackbone's "
                "estimator was fitted with"
            )
            warnings.warn(
                f"{message} feature names: columns are matched by position.",
                UserWarning,
                stacklevel=4,
            )

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
            # the configuration a saved model is rebuilt from (io.persistence) says so too
            if isinstance(getattr(backbone, "config", None), dict):
                backbone.config = {**backbone.config, "n_outputs": n_outputs}
        return backbone


def reuses_encoding(module) -> bool:
    """``module=ReusedBackbone(est)`` holding ``est``'s input stage (not one pickled
    before it kept it)."""
    return isinstance(module, ReusedBackbone) and getattr(module, "inputs", None) is not None
