"""The input statistics' blocks: their float64 temporaries stay small on wide X."""

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning

from torchsk import TorchRegressor
from torchsk.inputs.statistics import BLOCK_ROWS, BLOCK_VALUES, Blocks, scaling_statistics


def test_a_wide_x_is_read_in_blocks_of_bounded_size_and_a_narrow_one_as_before():
    """A block was 16,384 rows whatever the width: on 8,192 x 10,000 it was all of X,
    and the statistics' temporaries took 3x X's memory and most of a one-epoch fit
    (10.9 s against MLPRegressor's 2.0 s; 2.8 s in blocks)."""
    w = np.ones(3000)
    wide = Blocks(np.zeros((3000, 20_000)), w)
    assert wide.rows * 20_000 <= BLOCK_VALUES
    assert max(len(x) for x, _ in wide) * 20_000 <= BLOCK_VALUES
    assert sum(len(x) for x, _ in wide) == 3000  # every row read once
    assert Blocks(np.zeros((3000, 128)), w).rows == BLOCK_ROWS  # narrow: unchanged
    assert Blocks(torch.zeros(3000, 300), w).rows == BLOCK_VALUES // 300  # tensors alike
    wider_than_a_block = np.broadcast_to(np.float64(0), (5, BLOCK_VALUES + 1))
    assert Blocks(wider_than_a_block, np.ones(5)).rows == 1  # at least a row, not 0


def test_the_scaling_read_in_blocks_is_the_scaling_of_all_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=3.0, scale=2.0, size=(600, 5000))
    X[::7, 3] = np.nan
    est = TorchRegressor(hidden_layer_sizes=(4,), max_iter=1, input_scaling="standard")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch: not the point
        net = est.fit(X, X[:, 0]).module_
    center, scale = net.inputs.scaling.center, net.inputs.scaling.scale
    np.testing.assert_allclose(center[:5].numpy(), np.nanmean(X[:, :5], axis=0), rtol=1e-12)
    np.testing.assert_allclose(scale[[0, 1]].numpy(), X[:, [0, 1]].std(axis=0), rtol=1e-10)


def test_values_whose_squares_overflow_are_standardized_by_their_deviation():
    """Past ~1e154 the squares overflow float64 where the range does not (below
    ~1e-154 they underflow to 0): the scale had silently been the range (4.4
    deviations), of X's columns and of y alike."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = X @ [2.0, 1.0, 0.0]
    for big in (1e160, 1e200, 1e-170):  # squares past float64's range, or under it
        for x in (X * big, torch.as_tensor(X * big), sp.csr_array(X * big)):
            scale = scaling_statistics(x, "standard")[1] if not sp.issparse(x) else None
            if scale is None:  # sparse X: through the estimator's input stage
                est = TorchRegressor(hidden_layer_sizes=(), max_iter=1, input_scaling="standard")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    scale = est.fit(x, y).module_.inputs.scaling.scale.numpy()
            np.testing.assert_allclose(np.asarray(scale) / big, X.std(0), rtol=1e-12)
        est = TorchRegressor(hidden_layer_sizes=(), max_iter=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning; y's loss units overflow
            scale = est.fit(X, y * big).module_.target_scaling.scale.numpy()
        np.testing.assert_allclose(scale / big, y.std(), rtol=1e-12)
