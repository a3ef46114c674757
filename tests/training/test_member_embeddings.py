"""Members with rows of their own behind a categorical column wide enough for
embeddings: each member trains a table of its own (``inputs.member_embedding``)."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import GridSearchCV

from torchsk import BatchedSearchCV, TorchRegressor
from torchsk.inputs.categorical import CategoricalEncoder
from torchsk.inputs.member_embedding import MemberEmbedding
from torchsk.training.folds import assign_folds

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

K = 4


def _wide_table():
    """Diabetes twice over with a column of 70 levels of 12 rows or more (more slots
    than one-hot takes, in two thirds of the rows too: an embedding) on which the
    target depends."""
    X, y = load_diabetes(return_X_y=True)
    X, y = np.vstack([X, X]), np.concatenate([y, y[::-1]])
    level = np.arange(len(y)) % 70
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 2], "id": [f"c{i}" for i in level]})
    return frame, y + 40 * np.sin(level)


def _members(**params):
    settings = dict(n_ensemble=K, member_rows="folds", hidden_layer_sizes=(16,), random_state=0)
    return settings | params


def _table(est) -> np.ndarray:
    return est.module_.inputs.categorical.embedding.weight.detach().numpy()


def test_each_member_trains_a_table_of_its_own_and_never_on_its_own_fold():
    frame, y = _wide_table()
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)  # as _fit draws it
    folds = assign_folds(K, y, False, seed)
    changed = np.where(folds == 0, -y, y)  # member 0's fold gets other targets
    a = TorchRegressor(**_members(max_iter=20, target_scaling=None)).fit(frame, y)
    b = TorchRegressor(**_members(max_iter=20, target_scaling=None)).fit(frame, changed)
    assert isinstance(a.module_.inputs.categorical.embedding, MemberEmbedding)
    assert _table(a).shape[0] == K
    np.testing.assert_array_equal(_table(a)[0], _table(b)[0])  # member 0: the same
    assert not np.allclose(_table(a)[1], _table(b)[1])  # the others learned the change
    assert not np.allclose(_table(a)[1], _table(a)[2])  # each its own table
    assert np.all(_table(a)[:, 0] == 0.0)  # the "no slot" rows stay zero


def test_cross_fitted_members_with_embeddings_predict_alike_in_batches_reloaded_and_exported(
    tmp_path,
):
    frame, y = _wide_table()
    est = TorchRegressor(**_members(max_iter=20, early_stopping=True)).fit(frame, y)
    assert len(est.best_epochs_) == K and np.isfinite(est.oof_score_)
    few = est.predict(frame.iloc[:5])  # straight through the module
    many = est.predict(pd.concat([frame] * 3, ignore_index=True))  # in reused batches
    np.testing.assert_allclose(many[:5], few, rtol=1e-12)
    np.testing.assert_allclose(many[: len(y)], est.predict(frame), rtol=1e-12)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(frame), many[: len(y)])
    onnxruntime = pytest.importorskip("onnxruntime")
    from torchsk.io.export import export_onnx

    session = onnxruntime.InferenceSession(export_onnx(est, tmp_path / "members.onnx"))
    (given,) = session.get_inputs()
    x = est.to_module_input(frame).numpy()
    (out,) = session.run(
        None, {given.name: x.astype(np.float32 if given.type == "tensor(float)" else np.float64)}
    )
    np.testing.assert_allclose(out.ravel(), many[: len(y)], rtol=1e-4)


def test_a_batched_search_over_a_wide_column_scores_as_gridsearchcv():
    frame, y = _wide_table()
    # members that stop on their own (tol) at different epochs, as separate fits do
    est = TorchRegressor(hidden_layer_sizes=(16,), max_iter=30, tol=1e-2, n_iter_no_change=2,
                         random_state=0)  # fmt: skip
    split = TorchRegressor(max_iter=1).fit(frame.iloc[: 2 * len(y) // 3], y[: 2 * len(y) // 3])
    assert split.module_.inputs.categorical.embedding is not None  # each fit embeds
    # a rate far too large beside sane ones: members stay independent
    grid = {"learning_rate_init": [1e-3, 3.0, 1e-2, 3e-2], "alpha": [0.1]}
    reference = GridSearchCV(est, grid, cv=3).fit(frame, y)
    separate = BatchedSearchCV(est, grid, cv=3, separate_folds=True).fit(frame, y)
    for k in range(3):
        key = f"split{k}_test_score"
        np.testing.assert_allclose(separate.cv_results_[key], reference.cv_results_[key],
                                   rtol=0, atol=1e-9)  # fmt: skip
    batched = BatchedSearchCV(est, grid, cv=3).fit(frame, y)
    assert batched.best_params_ == reference.best_params_


def test_a_member_back_at_its_best_epoch_is_the_member_trained_that_long():
    # its kept weights, embeddings included, are copies in the dtype it trains in
    frame, y = _wide_table()
    params = _members(learning_rate_init=0.05, n_iter_no_change=1000)
    est = TorchRegressor(**params, early_stopping=True, max_iter=25).fit(frame, y)
    assert est._plan.dtype == torch.float64 and len(set(est.best_epochs_)) > 1
    for m, epoch in enumerate(est.best_epochs_):
        alone = TorchRegressor(**params, max_iter=epoch).fit(frame, y)
        np.testing.assert_array_equal(_table(est)[m], _table(alone)[m])


def test_an_encoder_for_members_starts_each_member_from_its_own_copy():
    X = np.column_stack([np.linspace(0, 1, 700), np.arange(700) % 70])
    shared = CategoricalEncoder.fit(X, [False, True], [70], generator=torch.Generator())
    assert shared.embedding is not None
    members = shared.for_members(3)
    x = torch.as_tensor(np.vstack([X[:5], [[0.5, np.nan], [0.5, 99.0]]]))
    out = members(x)
    assert out.shape == (3, 7, shared.n_outputs) and members.n_members == 3
    for m in range(3):
        torch.testing.assert_close(out[m], shared(x))
    assert members.for_members(3) is members
    with pytest.raises(ValueError, match="for 3 members, not 5"):
        members.for_members(5)
    narrow = CategoricalEncoder.fit(X[:, :1], [False], [])  # no embedding: nothing to split
    assert narrow.for_members(3) is narrow
