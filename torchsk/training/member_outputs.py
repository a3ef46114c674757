"""The outputs of stacked members (``nn.ensemble.EnsembleMLP``) through the trained
module: every member's on the same rows, or each member's on its own fold's rows."""

from __future__ import annotations

import numpy as np
import torch


def held_out_outputs(trained, X: torch.Tensor, folds: np.ndarray) -> torch.Tensor:
    """Each row's raw output by the member that held it out, ``(rows, outputs)``: member
    ``m`` runs on its own fold's rows only (each row once, not once per member)."""
    ensemble, before = _ensemble(trained), _before_ensemble(trained)
    out = None
    for m in range(ensemble.n_members):
        rows = torch.as_tensor(np.flatnonzero(folds == m), device=X.device)
        x = X.index_select(0, rows)
        for layer in before:
            x = layer(x)
        z = ensemble.member(m, x)
        if out is None:
            out = z.new_empty((len(X), z.shape[1]))
        out[rows] = z
    return out


def _ensemble(trained):
    """The ``EnsembleMLP`` at the end of the trained module."""
    return trained[-1] if isinstance(trained, torch.nn.Sequential) else trained


def _before_ensemble(trained) -> list:
    """The trainable input encoders the trained module runs before the ensemble."""
    return list(trained)[:-1] if isinstance(trained, torch.nn.Sequential) else []


def members_output(trained, x: torch.Tensor) -> torch.Tensor:
    """Every member's output on ``x``, ``(members, rows, outputs)``, through the
    trained module's encoders (each member's own embeddings) and the ensemble."""
    for layer in _before_ensemble(trained):
        x = layer(x)
    return _ensemble(trained).members(x)
