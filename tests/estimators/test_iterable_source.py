"""A fit on an iterable of batches (a torch DataLoader): read in passes, the input
stage's statistics exact, trained in the iterable's order, refused where it cannot be
done right."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris
from torch.utils.data import DataLoader, TensorDataset

from torchsk import TorchClassifier, TorchRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _regression():
    X, y = load_diabetes(return_X_y=True)
    X[::5, 3] = np.nan  # the imputer's statistics too
    return X, y


def _loader(X, y, *extra, batch_size=64, shuffle=True):
    tensors = [torch.as_tensor(a) for a in (X, y, *extra)]
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(*tensors), batch_size, shuffle=shuffle, generator=generator)


class Batches:
    """Batches from numpy arrays, iterated afresh each time, counting its passes."""

    def __init__(self, X, y, size=30, w=None):
        self.X, self.y, self.w, self.size, self.passes = X, y, w, size, 0

    def __iter__(self):
        self.passes += 1
        for i in range(0, len(self.X), self.size):
            rows = slice(i, i + self.size)
            batch = (self.X[rows], self.y[rows])
            yield batch if self.w is None else (*batch, self.w[rows])


def _constants(est):
    return {k: v for k, v in est.module_.state_dict().items() if not k.startswith("backbone")}


def test_a_dataloader_fit_has_the_in_memory_fits_input_statistics_and_quality():
    X, y = _regression()
    loaded = TorchRegressor(max_iter=40, random_state=0).fit(_loader(X, y))
    memory = TorchRegressor(max_iter=40, random_state=0).fit(X, y)
    assert loaded.n_features_in_ == X.shape[1]
    for key, value in _constants(memory).items():  # imputer, scaling, target scaling
        torch.testing.assert_close(_constants(loaded)[key], value, rtol=1e-9, atol=1e-12)
    assert loaded.score(X, y) > memory.score(X, y) - 0.05
    assert loaded.n_iter_ == 40 and len(loaded.loss_curve_) == 40


def test_batches_are_read_in_passes_never_held_and_in_their_own_order():
    X, y = _regression()
    batches = Batches(X, y)
    TorchRegressor(max_iter=3, random_state=0).fit(batches)
    # a first pass (targets), two for the statistics (sums, then squares), one per epoch
    assert batches.passes == 1 + 2 + 3
    minmax = Batches(X, y)
    TorchRegressor(max_iter=3, random_state=0, input_scaling="minmax").fit(minmax)
    assert minmax.passes == 1 + 1 + 3  # no second pass without standard scaling


def test_weighted_batches_train_as_the_same_blocks_streamed_from_dask():
    da = pytest.importorskip("dask.array")
    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    settings = dict(max_iter=20, random_state=0, class_weight={0: 2.0}, shuffle=False)
    batched = TorchClassifier(**settings).fit(Batches(X, y, 30, w))
    dask = TorchClassifier(**settings).fit(da.from_array(X, chunks=(30, 4)), y, sample_weight=w)
    np.testing.assert_array_equal(batched.classes_, dask.classes_)
    # the same blocks in the same order, the same weights: the same training
    np.testing.assert_allclose(batched.loss_curve_, dask.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(batched.predict_proba(X), dask.predict_proba(X), atol=1e-10)


def test_balanced_class_weights_are_refused_as_partial_fit_refuses_them():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="balanced"):
        TorchClassifier(class_weight="balanced").fit(Batches(X, y))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(solver="lbfgs"), "mini-batch solver"),
        (dict(early_stopping=True), "validation set"),
        (dict(input_scaling="robust"), "sorted"),
        (dict(numeric_bins=8), "sorted"),
        (dict(categorical_features=[0]), "encode categories"),
    ],
)
def test_what_needs_the_rows_at_once_is_refused_before_fitting(params, message):
    X, y = _regression()
    est = TorchRegressor(max_iter=2, **params)
    with pytest.raises(ValueError, match=message):
        est.fit(_loader(X, y))
    assert not hasattr(est, "module_")


def test_bad_batches_get_clear_errors():
    X, y = _regression()
    with pytest.raises(ValueError, match="read once"):
        TorchRegressor(max_iter=1).fit(iter(Batches(X, y)))
    with pytest.raises(ValueError, match="without y"):
        TorchRegressor(max_iter=1).fit(Batches(X, y), y)
    with pytest.raises(ValueError, match=r"\(X, y, sample_weight\) batches"):
        TorchRegressor(max_iter=1).fit(Batches(X, y), sample_weight=np.ones(len(y)))
    with pytest.raises(ValueError, match="features"):
        TorchRegressor(max_iter=1).fit(_Ragged(X, y))
    with pytest.raises(ValueError, match="infinity"):
        TorchRegressor(max_iter=1).fit(Batches(np.where(X > 0.1, np.inf, X), y))
    # sparse batches (len() of a sparse matrix had raised a TypeError), and Dask's
    # sparse chunks (numpy's "ufunc 'isinf' not supported" before)
    import scipy.sparse as sp

    sparse = DataLoader([(sp.csr_matrix(X[:50]), y[:50]), (sp.csr_matrix(X[50:]), y[50:])],
                        batch_size=None)  # fmt: skip
    with pytest.raises(ValueError, match="Batch 0's X is sparse"):
        TorchRegressor(max_iter=1).fit(sparse)
    empty = DataLoader([(X[:50], y[:50]), (X[:0], y[:0])], batch_size=None)
    with pytest.raises(ValueError, match="Batch 1 has no rows"):  # scikit-learn's, unnamed
        TorchRegressor(max_iter=1).fit(empty)
    da = pytest.importorskip("dask.array")
    chunks = da.from_array(sp.csr_matrix(X), chunks=(100, X.shape[1]), asarray=False)
    with pytest.raises(ValueError, match="sparse chunks is not supported"):
        TorchRegressor(max_iter=1).fit(chunks, y)
    # single rows (batch_size=None), batches as a validation set, batches to the search
    rows = DataLoader(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), batch_size=None)
    with pytest.raises(ValueError, match="X has 1 dimension.*give it a batch_size"):
        TorchRegressor(max_iter=1).fit(rows)
    stopping = TorchRegressor(max_iter=1, early_stopping=True)
    with pytest.raises(ValueError, match="X_val is an iterable of batches"):
        stopping.fit(X, y, X_val=_loader(X, y), y_val=y)
    from torchsk import BatchedSearchCV

    with pytest.raises(ValueError, match="needs dense rows in memory"):
        BatchedSearchCV(TorchRegressor(max_iter=1), {"alpha": [1.0]}, cv=2).fit(_loader(X, y))


class _Ragged:
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        yield self.X[:30], self.y[:30]
        yield self.X[30:60, :5], self.y[30:60]


def test_an_iterable_whose_batches_change_between_passes_is_refused():
    X, y = _regression()

    class Shrinking(Batches):
        def __iter__(self):
            self.size -= 1
            yield from super().__iter__()

    with pytest.raises(ValueError, match="same batch"):
        TorchRegressor(max_iter=2, input_scaling="minmax").fit(Shrinking(X, y, 40))


def test_a_dataloader_fit_takes_a_validation_set_for_early_stopping():
    X, y = _regression()
    est = TorchRegressor(max_iter=200, early_stopping=True, n_iter_no_change=3, random_state=0)
    est.fit(_loader(X[:350], y[:350]), X_val=X[350:], y_val=y[350:])
    assert est.best_validation_score_ is not None and est.n_iter_ < 200


def test_every_batch_is_checked_as_fit_checks_x_and_y():
    X, y = _regression()
    as_lists = [(X[i : i + 50].tolist(), y[i : i + 50].tolist()) for i in range(0, 400, 50)]

    class Lists:
        def __iter__(self):
            return iter(as_lists)

    est = TorchRegressor(max_iter=2, random_state=0).fit(Lists())  # lists are arrays
    assert est.n_features_in_ == X.shape[1]
    bad_y = y.copy()
    bad_y[100] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        TorchRegressor(max_iter=1).fit(Batches(X, bad_y))


def test_only_iterables_of_batches_are_taken_for_batches():
    from torchsk.estimators.iterable import is_batches

    X, y = _regression()
    assert is_batches(_loader(X, y)) and is_batches(Batches(X, y))
    for data in (X, X.tolist(), range(10), {1, 2}, torch.as_tensor(X), pd.DataFrame(X)):
        assert not is_batches(data)


def test_partial_fit_on_batches_is_an_epoch_of_fit_on_them():
    """partial_fit(loader) takes the loader as fit does (y=None): each call one
    epoch over all its batches; without shuffling, three calls give fit's three
    epochs exactly (the optimizer and the stopping count carry over)."""
    X, y = _regression()
    loader = _loader(X, y, shuffle=False)
    fitted = TorchRegressor(max_iter=3, shuffle=False, random_state=0).fit(loader)
    calls = TorchRegressor(shuffle=False, random_state=0)
    for k in range(1, 4):
        calls.partial_fit(loader)
        assert calls.n_iter_ == 1 and calls.t_ == k * len(X)
    assert calls.loss_curve_ == fitted.loss_curve_
    np.testing.assert_array_equal(calls.predict(X), fitted.predict(X))
    for key, value in _constants(fitted).items():  # statistics over every batch
        torch.testing.assert_close(_constants(calls)[key], value)


def test_partial_fit_on_batches_mixes_with_arrays_and_names_what_to_do():
    X, y = load_iris(return_X_y=True)
    clf = TorchClassifier(random_state=0).partial_fit(Batches(X, y), classes=[0, 1, 2])
    clf.partial_fit(X[:50], y[:50])  # then one batch at a time, as arrays
    clf.partial_fit(Batches(X, y))
    assert clf.t_ == 2 * len(X) + 50 and len(clf.loss_curve_) == 3
    with pytest.raises(ValueError, match=r"partial_fit\(batches\) without y"):
        clf.partial_fit(Batches(X, y), y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        clf.partial_fit(X)  # arrays need their y
    with pytest.raises(ValueError, match="classes must be passed"):
        TorchClassifier().partial_fit(Batches(X, y))


def test_batches_in_a_list_are_refused_naming_what_to_pass():
    # a list is rows of X to scikit-learn; the in-memory fit said "requires y to be
    # passed", which pointed nowhere near the batches
    X, y = load_diabetes(return_X_y=True)
    batches = [(X[i : i + 100], y[i : i + 100]) for i in range(0, 400, 100)]
    kw = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=r"list or tuple is read as rows of X.*DataLoader"):
        TorchRegressor(**kw).fit(batches)
    # the advice works; rows given as a list of tuples are still rows
    TorchRegressor(**kw).fit(DataLoader(batches, batch_size=None))
    assert TorchRegressor(**kw).fit([(1.0, 2.0), (3.0, 4.0)], [1.0, 2.0]).n_features_in_ == 2


@pytest.mark.parametrize("second", [(20, 2), (20,)])
def test_batches_whose_y_changes_shape_are_refused_by_name(second):
    """numpy's concatenation error had said neither the batch nor y."""
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(20, 3)), rng.normal(size=(20, 3))),
               (rng.normal(size=(20, 3)), rng.normal(size=second))]  # fmt: skip
    with pytest.raises(ValueError, match=r"Batch 1's y has shape"):
        TorchRegressor(max_iter=1).fit(DataLoader(batches, batch_size=None))


def test_a_string_column_in_a_batch_is_named_with_what_batches_take():
    """numpy's bare "could not convert string to float" had been all a user of batches
    got; the in-memory fit's advice (categorical_features) is not theirs to follow."""
    X = np.array([[1.0, "a"], [2.0, "b"]] * 20, dtype=object)
    with pytest.raises(ValueError, match=r"index 1 of X is not numeric.*batch 0.*before batching"):
        TorchRegressor(max_iter=2).fit(Batches(X, np.arange(40.0), size=10))
    frame = pd.DataFrame({"x": [1.0, 2.0] * 20, "q": ["a", "b"] * 20})
    with pytest.raises(ValueError, match="Column 'q' of X is not numeric.*categorical_features"):
        TorchRegressor(max_iter=2, categorical_features=None).fit(frame, np.arange(40.0))


def test_batches_of_float32_predict_float32_as_an_in_memory_float32_fit():
    """The fit's X (MLPRegressor's rule: float32 predictions where it was float32)
    is read from the first batch: the iterable itself has no dtype."""
    X, y = _regression()
    X32 = np.nan_to_num(X).astype(np.float32)
    batches = Batches(X32, y, size=50)
    assert TorchRegressor(max_iter=2).fit(batches).predict(X32).dtype == np.float32
    assert TorchRegressor(max_iter=2).fit(X32, y).predict(X32).dtype == np.float32
    assert TorchRegressor(max_iter=2).fit(batches).predict(X32.astype(float)).dtype == np.float64


@pytest.mark.parametrize("k", [0, 1])
def test_a_batch_whose_object_column_holds_pd_na_trains_as_the_table_reads_it(k):
    """An ``object`` column with ``pd.NA`` (numbers otherwise) is a missing value in
    memory; in batch 0 it had raised numpy's bare TypeError ("float() argument must
    be ... not 'NAType'"), in a later batch it passed the check and failed in training."""
    rng = np.random.default_rng(0)
    frames = [pd.DataFrame(rng.normal(size=(20, 2)), columns=["a", "b"]) for _ in range(3)]
    ys = [rng.normal(size=20) for _ in frames]
    frames[k].loc[3, "b"] = np.nan
    filled = [(f.copy(), y) for f, y in zip(frames, ys, strict=True)]  # pd.NA as NaN
    frames[k]["b"] = frames[k]["b"].astype(object)
    frames[k].loc[3, "b"] = pd.NA
    batches = list(zip(frames, ys, strict=True))
    est = TorchRegressor(max_iter=2, random_state=0).fit(DataLoader(batches, batch_size=None))
    assert list(est.feature_names_in_) == ["a", "b"]
    same = TorchRegressor(max_iter=2, random_state=0).fit(DataLoader(filled, batch_size=None))
    np.testing.assert_array_equal(est.predict(filled[1][0]), same.predict(filled[1][0]))
    frames[k].loc[4, "b"] = "x"
    with pytest.raises(ValueError, match=rf"Column 'b' of X is not numeric.*batch {k}"):
        TorchRegressor(max_iter=2).fit(DataLoader(batches, batch_size=None))


def test_random_state_fixes_a_shuffling_dataloaders_order_and_keeps_torchs():
    """A DataLoader draws its shuffle from torch's global generator: two fits with the
    same random_state had trained on other orders (MLPRegressor's shuffle follows
    random_state), and each fit had moved the user's random state."""
    X, y = _regression()
    X = np.nan_to_num(X)
    loader = DataLoader(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), 64, shuffle=True)
    state = torch.get_rng_state()
    fits = [TorchRegressor(max_iter=3, random_state=s).fit(loader).coefs_[0] for s in (0, 0, 1)]
    np.testing.assert_array_equal(fits[0], fits[1])
    assert not np.array_equal(fits[0], fits[2])
    assert torch.equal(torch.get_rng_state(), state)
    # a loader with a generator of its own keeps drawing from it: not reset by a fit
    own = _loader(X, y)
    first, second = (TorchRegressor(max_iter=3, random_state=0).fit(own) for _ in range(2))
    assert not np.array_equal(first.coefs_[0], second.coefs_[0])


def test_a_users_module_trains_on_a_dataloader_whose_passes_start_ahead():
    """A pass starts in the thread that loads batches ahead, while a user's module
    trains holding torch's global generator: seeding the loader under that lock had
    deadlocked the fit (run apart, so that a hang fails the test instead of the run)."""
    script = (
        "import numpy as np, torch\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "from torchsk import TorchRegressor\n"
        "X = torch.randn(64, 3, dtype=torch.float64); y = X.sum(1)\n"
        "loader = DataLoader(TensorDataset(X, y), 16, shuffle=True)\n"
        "build = lambda n_in, n_out: torch.nn.Linear(n_in, n_out)\n"
        "print(TorchRegressor(module=build, max_iter=3).fit(loader).n_iter_)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0 and done.stdout.split()[-1] == "3", done.stderr


def test_random_state_fixes_the_order_of_a_loaders_batch_sampler():
    """A batch sampler's random sampler draws from torch's global generator too."""
    X, y = _regression()
    dataset = TensorDataset(torch.as_tensor(np.nan_to_num(X)), torch.as_tensor(y))
    batches = torch.utils.data.BatchSampler(torch.utils.data.RandomSampler(dataset), 64, False)
    loader = DataLoader(dataset, batch_sampler=batches)
    state = torch.get_rng_state()
    fits = [TorchRegressor(max_iter=2, random_state=0).fit(loader).coefs_[0] for _ in range(2)]
    np.testing.assert_array_equal(*fits)
    assert torch.equal(torch.get_rng_state(), state)


def _constant_warnings(fit) -> list:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [w for w in caught if "worse than that of predicting a constant" in str(w.message)]


def test_a_streamed_fit_is_judged_against_the_constant_of_all_its_rows():
    """The check read the last block alone against that block's own best constant: a
    last block of one row (301 rows in blocks of 100), or of one class (a loader sorted
    by label), beat good models (R² 0.98, accuracy 0.99) with a ConvergenceWarning."""
    import dask.array as da

    rng = np.random.RandomState(0)
    X = rng.normal(size=(301, 3))
    y = X @ [1.0, 2.0, 3.0] + 0.1 * rng.normal(size=301)
    kw = dict(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.01, random_state=0)
    est = TorchRegressor(shuffle=False, **kw)
    dask_fit = lambda: est.fit(da.from_array(X, chunks=100), da.from_array(y, chunks=100))  # noqa: E731
    assert not _constant_warnings(dask_fit) and est.score(X, y) > 0.95
    order = np.argsort(X[:, 0])
    labels = (X[order, 0] > 0).astype(int)
    loader = DataLoader(TensorDataset(torch.as_tensor(X[order]), torch.as_tensor(labels)), 50)
    clf = TorchClassifier(max_iter=30, random_state=0)
    assert not _constant_warnings(lambda: clf.fit(loader)) and clf.score(X[order], labels) > 0.95
    noise = rng.normal(size=301)  # a model worse than the mean still hears of it
    bad = TorchRegressor(
        hidden_layer_sizes=(64,), max_iter=3, learning_rate_init=1.0, random_state=0
    )
    assert _constant_warnings(lambda: bad.fit(da.from_array(X, chunks=100), noise))


def test_a_batch_sampler_given_as_sampler_draws_from_random_state():
    """DataLoader(sampler=BatchSampler(RandomSampler(ds), ...), batch_size=None): the
    wrapped sampler had drawn from torch's global generator, so two fits of one
    random_state differed (by 0.28) and each advanced torch's global state."""
    from torch.utils.data import BatchSampler, RandomSampler

    X = np.random.RandomState(0).normal(size=(256, 3))
    ds = TensorDataset(torch.as_tensor(X), torch.as_tensor(X @ [1.0, 2.0, 3.0]))
    fits = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        sampler = BatchSampler(RandomSampler(ds), 64, drop_last=False)
        loader = DataLoader(ds, sampler=sampler, batch_size=None)
        fits.append(TorchRegressor(max_iter=3, random_state=0).fit(loader).predict(X))
        assert torch.equal(torch.random.get_rng_state(), torch.manual_seed(seed).get_state())
    np.testing.assert_array_equal(fits[0], fits[1])


def test_a_batch_s_weight_of_none_is_unweighted_and_a_scalar_one_is_refused():
    """(X, y, None) had raised "object of type 'NoneType' has no len()"."""
    X = np.random.RandomState(0).normal(size=(128, 3))
    y = X[:, 0]
    batches = [(X[i : i + 64], y[i : i + 64]) for i in (0, 64)]
    kw = dict(max_iter=2, random_state=0)
    loader = lambda batches: DataLoader(batches, batch_size=None)  # noqa: E731
    plain = TorchRegressor(**kw).fit(loader(batches)).predict(X)
    none = TorchRegressor(**kw).fit(loader([(*b, None) for b in batches])).predict(X)
    np.testing.assert_array_equal(none, plain)
    with pytest.raises(ValueError, match="Batch 0's sample_weight is not 1-D"):
        TorchRegressor(**kw).fit(loader([(*b, 1.0) for b in batches]))


def test_labels_a_later_pass_draws_are_blamed_on_the_iterable():
    """A sampler with replacement draws other rows on each pass: a class its first
    pass missed had been refused as "y contains labels [2] not in classes [0, 1]"."""
    from torch.utils.data import RandomSampler

    X = np.random.RandomState(0).normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    y[0] = 2
    ds = TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
    loader = DataLoader(ds, batch_size=50, sampler=RandomSampler(ds, replacement=True))
    with pytest.raises(ValueError, match=r"not in classes \[0, 1\]\. The classes are those of"):
        TorchClassifier(max_iter=2, random_state=0).fit(loader)
