"""Large data: torch tensors in without copies, array-API outputs, Dask streaming."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning

import torchsk.estimators.base as base
import torchsk.estimators.fitdata as fitdata
from torchsk import TorchClassifier, TorchRegressor
from torchsk.data.dask import DaskSource
from torchsk.inputs.stage import build_input_stage
from torchsk.training.devices import HostToDevice, transfer_rows

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
SMALL = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)


def _data(n=600, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * [1.0, 10.0, 0.1, 3.0][:d] + [0.0, 5.0, -2.0, 1.0][:d]
    return X, X[:, 0] - 0.5 * X[:, 1] + rng.normal(scale=0.1, size=n)


class Spy:
    """Records the X each call of a wrapped function received."""

    def __init__(self, monkeypatch, name):
        module = fitdata if name == "fit_network" else base  # where each is called from
        self.seen, original = [], getattr(module, name)

        def spy(*args, **kwargs):
            self.seen.append(args[1] if name == "predict_in_batches" else args[5])
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)


def _address(a) -> int:
    return a.data_ptr() if isinstance(a, torch.Tensor) else a.__array_interface__["data"][0]


# ---------------------------------------------------------------- tensors in
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tensor_fit_and_predict_share_the_users_storage(monkeypatch, dtype):
    X, y = _data()
    Xt = torch.as_tensor(X, dtype=dtype)
    fits, predicts = Spy(monkeypatch, "fit_network"), Spy(monkeypatch, "predict_in_batches")
    est = TorchRegressor(**SMALL).fit(Xt, torch.as_tensor(y))
    pred = est.predict(Xt)
    # the engine reads the user's memory: no numpy round trip, no host copy
    assert _address(fits.seen[0]) == Xt.data_ptr()
    assert _address(predicts.seen[0]) == Xt.data_ptr()
    assert fits.seen[0].dtype == np.dtype(str(dtype).removeprefix("torch."))
    # the same model as a fit on the numpy array of the same values
    ref = TorchRegressor(**SMALL).fit(Xt.numpy(), y)
    np.testing.assert_array_equal(pred, ref.predict(Xt.numpy()))
    assert isinstance(pred, np.ndarray)


def test_non_contiguous_and_integer_tensors():
    X, y = _data()
    wide = torch.as_tensor(np.repeat(X, 2, axis=1))[:, ::2]  # a strided view
    assert not wide.is_contiguous()
    est = TorchRegressor(**SMALL).fit(wide, y)
    ref = TorchRegressor(**SMALL).fit(X, y)
    # a strided read may sum in another order: equal to rounding, not bit for bit
    np.testing.assert_allclose(est.predict(wide), ref.predict(X), rtol=1e-9)
    ints = torch.as_tensor(np.round(X * 10), dtype=torch.int64)
    pred = TorchRegressor(**SMALL).fit(ints, y).predict(ints)
    ref = TorchRegressor(**SMALL).fit(np.round(X * 10), y).predict(np.round(X * 10))
    np.testing.assert_array_equal(pred, ref)


def test_tensors_requiring_grad_are_detached_on_every_path():
    X, y = _data()
    X[:, 0] = np.arange(len(X)) % 3  # codes
    Xg, yg = (torch.tensor(a, requires_grad=True) for a in (X, y))
    ref = TorchRegressor(**SMALL, categorical_features=[0]).fit(X, y).predict(X)
    est = TorchRegressor(**SMALL, categorical_features=[0]).fit(Xg, y)  # through the table
    np.testing.assert_array_equal(est.predict(Xg), ref)
    numeric = TorchRegressor(**SMALL).fit(X, y).predict(X)
    for X_in in (X, Xg):  # a tensor y beside numpy X too
        np.testing.assert_array_equal(TorchRegressor(**SMALL).fit(X_in, yg).predict(X), numeric)
    labels = torch.tensor((y > y.mean()).astype(float), requires_grad=True)
    assert TorchClassifier(**SMALL).fit(X, labels).classes_.tolist() == [0.0, 1.0]


def test_bad_tensors_get_scikit_learns_errors():
    X, y = _data()
    bad = torch.as_tensor(X).clone()
    bad[3, 1] = torch.inf
    with pytest.raises(ValueError, match="infinity"):
        TorchRegressor(**SMALL).fit(bad, y)
    with pytest.raises(ValueError, match="2D"):
        TorchRegressor(**SMALL).fit(torch.as_tensor(X[:, 0]), y)
    with pytest.raises(ValueError, match="0 sample"):
        TorchRegressor(**SMALL).fit(torch.zeros((0, 4)), y[:0])
    est = TorchRegressor(**SMALL).fit(torch.as_tensor(X), y)
    with pytest.raises(ValueError, match="features"):
        est.predict(torch.as_tensor(X[:, :3]))
    with pytest.raises(ValueError, match="inconsistent"):
        TorchRegressor(**SMALL).fit(torch.as_tensor(X), y[:-1])
    # no values at all: said so (torch's own error had come from deep inside)
    with pytest.raises(ValueError, match="'meta' device"):
        TorchRegressor(**SMALL).fit(torch.empty(X.shape, device="meta"), y)
    with pytest.raises(ValueError, match="'meta' device"):
        est.predict(torch.empty(X.shape, device="meta"))


def test_bfloat16_targets_and_weights_fit_as_their_float64_values():
    X, y = _data()
    half, w = torch.as_tensor(y).to(torch.bfloat16), torch.ones(len(y), dtype=torch.bfloat16)
    ours = TorchRegressor(**SMALL).fit(X, half, sample_weight=w)
    theirs = TorchRegressor(**SMALL).fit(X, half.to(torch.float64).numpy())
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    # and score reads them too (scikit-learn's metrics cannot convert bfloat16)
    assert ours.score(X, half, sample_weight=w) == theirs.score(X, half.to(torch.float64).numpy())
    labels = TorchClassifier(**SMALL).fit(X, y > 0)
    accuracy = labels.score(X, torch.as_tensor(y > 0).to(torch.bfloat16), w)
    assert accuracy == labels.score(X, y > 0)
    with pytest.raises(ValueError, match="'meta' device"):
        ours.score(X, torch.empty(len(y), device="meta"))


def test_float32_numpy_x_stays_float32_without_a_copy(monkeypatch):
    X, y = _data()
    X32 = X.astype(np.float32)
    fits = Spy(monkeypatch, "fit_network")
    TorchRegressor(**SMALL).fit(X32, y)
    assert fits.seen[0].dtype == np.float32 and np.shares_memory(fits.seen[0], X32)


def test_memmap_is_read_in_place_with_exact_statistics(tmp_path, monkeypatch):
    X, y = _data()
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=X.shape)
    mm[:] = X
    mm.flush()
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    fits = Spy(monkeypatch, "fit_network")
    est = TorchRegressor(**SMALL).fit(mm, y)
    assert np.shares_memory(fits.seen[0], mm)  # not copied, not converted to float64
    ref = TorchRegressor(**SMALL).fit(np.array(mm), y)
    scaling, ref_scaling = est.module_.inputs.scaling, ref.module_.inputs.scaling
    torch.testing.assert_close(scaling.center, ref_scaling.center, rtol=0, atol=0)
    torch.testing.assert_close(scaling.scale, ref_scaling.scale, rtol=0, atol=0)


# ---------------------------------------------------------------- array-API outputs
def test_outputs_follow_the_input_under_array_api_dispatch(monkeypatch):
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")  # scikit-learn checks it is set
    X, y = _data()
    Xt = torch.as_tensor(X, dtype=torch.float32)
    labels = np.where(y > 0, "yes", "no")
    reg = TorchRegressor(**SMALL).fit(Xt, y)
    clf = TorchClassifier(**SMALL).fit(Xt, (y > 0).astype(int))
    named = TorchClassifier(**SMALL).fit(Xt, labels)
    indicator = sp.csr_matrix(np.c_[y > 0, X[:, 0] > 0].astype(int))
    sparse_labels = TorchClassifier(**SMALL).fit(Xt, indicator)
    with sklearn.config_context(array_api_dispatch=True):
        for out in (reg.predict(Xt), clf.predict(Xt), clf.predict_proba(Xt)):
            assert isinstance(out, torch.Tensor) and out.device == Xt.device
        torch.testing.assert_close(
            clf.predict_proba(Xt).sum(1), torch.ones(len(X), dtype=torch.float64)
        )
        assert isinstance(named.predict(Xt), np.ndarray)  # strings have no tensor
        # a sparse multilabel y's predictions stay sparse (their conversion had failed)
        assert sp.issparse(sparse_labels.predict(Xt))
        assert isinstance(reg.predict(X), np.ndarray)  # numpy in, numpy out
        # Dask: computed block by block into numpy, as without dispatch (docs/large-data)
        lazy = da.from_array(X, chunks=50)
        frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")), npartitions=2)
        plain = TorchRegressor(**SMALL).fit(X, y)
        for data in (lazy, frame):
            assert isinstance(plain.predict(data), np.ndarray)
        assert plain.score(lazy, da.from_array(y, chunks=50)) == pytest.approx(plain.score(X, y))
    assert isinstance(reg.predict(Xt), np.ndarray)  # without dispatch: numpy as always


# ---------------------------------------------------------------- CUDA set-up, by decision
def test_statistics_on_a_tensor_match_the_numpy_stage():
    """The torch reductions a CUDA tensor's fit uses, run here on a CPU tensor."""
    X, _ = _data()
    X[::7, 1] = np.nan
    sw = np.random.default_rng(1).uniform(0, 2, len(X))
    sw[:5] = 0
    mask = np.zeros(X.shape[1], dtype=bool)
    for method, bins in (("auto", None), ("standard", None), ("minmax", None), (None, None),
                         ("standard", 8), ("robust", None)):  # fmt: skip
        ref = build_input_stage(
            X, mask, [], scaling=method, impute=True, sample_weight=sw, seed=0, numeric_bins=bins
        )
        got = build_input_stage(
            torch.as_tensor(X), mask, [], scaling=method, impute=True, sample_weight=sw,
            seed=0, numeric_bins=bins,
        )  # fmt: skip
        assert got.state_dict().keys() == ref.state_dict().keys()
        for key, value in ref.state_dict().items():
            torch.testing.assert_close(got.state_dict()[key], value, rtol=1e-12, atol=1e-12)


def test_pinned_staging_is_planned_for_large_host_data_bound_for_cuda():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    big, small = 64 * 2**20, 2**20
    assert HostToDevice(cuda, big).stages(np.zeros((2, 2)))
    assert HostToDevice(cuda, big).stages(torch.zeros(2, 2))  # a CPU tensor
    assert not HostToDevice(cuda, small).stages(np.zeros((2, 2)))  # inference batches
    assert not HostToDevice(cpu, big).stages(np.zeros((2, 2)))
    assert transfer_rows(50, cuda) == 64 * 2**20 // (50 * 8)  # larger transfers to a GPU
    assert transfer_rows(50, cpu) * 50 * 8 <= 2**20
    rows = np.arange(6.0).reshape(3, 2)
    assert HostToDevice(cpu, big)(rows).data_ptr() == _address(rows)  # no copy on the CPU


# ---------------------------------------------------------------- Dask
def _constants(est):
    return {k: v for k, v in est.module_.state_dict().items() if not k.startswith("backbone")}


def test_dask_array_fit_matches_the_in_memory_fit():
    X, y = _data(n=4000)
    X[::11, 2] = np.nan
    sw = np.random.default_rng(2).uniform(0.5, 2, len(X))
    Xd, yd = da.from_array(X, chunks=(700, 2)), da.from_array(y, chunks=700)
    # numeric_bins="auto" bins data in memory only: the same stage needs None here
    settings = dict(hidden_layer_sizes=(16,), max_iter=8, random_state=0, numeric_bins=None)
    streamed = TorchRegressor(**settings).fit(Xd, yd, sample_weight=sw)
    ref = TorchRegressor(**settings).fit(X, y, sample_weight=sw)
    for key, value in _constants(ref).items():
        torch.testing.assert_close(_constants(streamed)[key], value, rtol=1e-12, atol=1e-12)
    assert streamed.n_features_in_ == 4 and streamed.n_iter_ == ref.n_iter_
    # the same model trained on rows in another order: scores agree within noise
    assert abs(streamed.score(Xd, yd) - ref.score(X, y)) < 0.02
    assert isinstance(streamed.predict(Xd), np.ndarray) and streamed.predict(Xd).shape == y.shape


def test_a_dask_fit_of_the_defaults_scores_as_the_in_memory_fit_on_20000_rows():
    """The same estimator, the same kind of model in memory and on Dask: held-out R²
    within 0.01 (with numeric_bins="auto" as the default, 0.985 against 0.918)."""
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=24_000, n_features=12, random_state=0)
    train, test = slice(0, 20_000), slice(20_000, None)
    settings = dict(hidden_layer_sizes=(32,), batch_size=256, max_iter=5, random_state=0)
    memory = TorchRegressor(**settings).fit(X[train], y[train])
    chunks = da.from_array(X[train], chunks=(2500, 12)), da.from_array(y[train], chunks=2500)
    streamed = TorchRegressor(**settings).fit(*chunks)
    scores = [est.score(X[test], y[test]) for est in (memory, streamed)]
    assert scores[0] > 0.7 and abs(scores[0] - scores[1]) < 0.01, scores


def test_streamed_fits_bin_nothing_by_default_and_refuse_explicit_bins():
    X, y = _data(n=1000)
    Xd = da.from_array(X, chunks=(250, 4))
    reg = TorchRegressor(numeric_bins="auto", **SMALL).fit(Xd, y)
    assert "bins" not in dict(reg.module_.inputs.named_children())
    binned = TorchRegressor(numeric_bins="auto", **SMALL).fit(X, y)
    assert "bins" in dict(binned.module_.inputs.named_children())
    with pytest.raises(ValueError, match="numeric_bins=8 needs the data sorted"):
        TorchRegressor(numeric_bins=8, **SMALL).fit(Xd, y)


def test_each_epoch_streams_every_block_once_in_a_shuffled_order(monkeypatch):
    X, y = _data(n=3000)
    Xd = da.from_array(X, chunks=(300, 4))
    loads, original = [], DaskSource.load
    monkeypatch.setattr(DaskSource, "load", lambda self, k: loads.append(k) or original(self, k))
    TorchRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(Xd, y)
    epochs = [loads[i : i + 10] for i in range(0, 30, 10)]
    assert len(loads) == 30 and all(sorted(e) == list(range(10)) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2]


def test_batches_are_drawn_across_blocks_not_sized_by_the_smallest():
    # 1,001 rows in blocks of 100 leave a block of one row: an epoch still takes the
    # ceil(1001 / batch_size) steps of the data in memory, each row seen once
    X, y = _data(n=1001)
    Xd = da.from_array(X, chunks=(100, 4))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*larger than")  # "... the 1 samples"
        for batch_size, steps in (("auto", 16), (256, 4), (64, 16), (1001, 1)):
            est = TorchRegressor(**{**SMALL, "max_iter": 2}, batch_size=batch_size).fit(Xd, y)
            assert int(est._optimizer.steps) == 2 * steps and est.t_ == 2 * 1001
    # without shuffling, with weights: the batches of the data in memory (those of
    # zero weight only, the first 4, take no step)
    sw = np.r_[np.zeros(300), np.ones(701)]
    est = TorchRegressor(**SMALL, shuffle=False).fit(Xd, y, sample_weight=sw)
    ref = TorchRegressor(**SMALL, shuffle=False).fit(X, y, sample_weight=sw)
    assert int(est._optimizer.steps) == int(ref._optimizer.steps) == 3 * 12
    np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-5, atol=1e-5)


def test_blocks_a_filter_left_empty_are_skipped_in_fit_and_predict():
    X, y = _data(n=1000)
    X[:, 0] = np.arange(1000) / 100
    Xd, yd = da.from_array(X, chunks=(100, 4)), da.from_array(y, chunks=100)
    keep = (Xd[:, 0] < 2) | (Xd[:, 0] >= 9.5)  # blocks 2 to 8 hold no row
    est = TorchRegressor(**SMALL).fit(Xd[keep], yd[keep])
    ref = TorchRegressor(**SMALL, shuffle=False).fit(Xd[keep], yd[keep])
    rows = (X[:, 0] < 2) | (X[:, 0] >= 9.5)
    assert est.predict(Xd[keep]).shape == (250,) and est.t_ == 3 * 250
    np.testing.assert_allclose(ref.predict(Xd[keep]), ref.predict(X[rows]), rtol=1e-6)
    assert TorchRegressor(**SMALL).fit(X, y).predict(Xd[keep]).shape == (250,)
    df = pd.DataFrame(X, columns=list("abcd")).assign(
        color=pd.Categorical(np.resize(["red", "blue"], 1000))
    )
    ddf = dd.from_pandas(df, npartitions=10)
    frame = TorchRegressor(**SMALL).fit(ddf[ddf["a"] < 2], y[:200])
    assert frame.predict(ddf[ddf["a"] < 2]).shape == (200,)
    # no row at all: scikit-learn's error, as in memory
    with pytest.raises(ValueError, match="0 sample"):
        est.predict(Xd[Xd[:, 0] > 100])


def test_partitions_whose_rows_change_between_passes_are_refused():
    """y is sliced by the first pass's partition lengths: a source whose partitions
    come back shorter (rewritten, an unseeded random filter) had trained silently on
    misaligned rows."""
    X, y = _data(n=300)
    reads = {"n": 0}

    def shrinking(part):  # from the 11th read (an epoch) on, a partition loses a row
        reads["n"] += 1
        return part.iloc[1:] if reads["n"] > 10 else part

    frame = pd.DataFrame(X, columns=list("abcd"))
    ddf = dd.from_pandas(frame, npartitions=3).map_partitions(shrinking)
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(ValueError, match="rows changed during the fit"):
            TorchRegressor(**SMALL).fit(ddf, y)


def test_a_streamed_fit_worse_than_a_constant_says_so_as_in_memory():
    """The in-memory fit's warning, judged on the last block read (a streamed or
    iterable fit had been silent)."""
    X, _ = _data(n=2000)
    y = X[:, 0] * 1000 + 5000
    est = TorchRegressor(max_iter=3, learning_rate_init=10.0, random_state=0)

    class Batches:  # an iterable of (X, y) batches, read afresh each pass
        def __iter__(self):
            return ((X[i : i + 500], y[i : i + 500]) for i in range(0, 2000, 500))

    for source, target in ((da.from_array(X, chunks=500), y), (Batches(), None)):
        with pytest.warns(ConvergenceWarning, match="worse than that of predicting"):
            est.fit(source, target)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", ".*worse than", ConvergenceWarning)
        TorchRegressor(max_iter=20, random_state=0).fit(da.from_array(X, chunks=500), y)


def test_a_streamed_fit_that_rose_or_diverged_says_its_weights_were_not_measured():
    """Streamed data is not read again to measure which weights to keep, but the
    warning described the in-memory rule ("those of the lowest training loss"); a
    fit that diverged in its first epoch named iterations it never had."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    y = X[:, 0] * 3 + rng.normal(size=2000)

    class Batches:  # an iterable of (X, y) batches, read afresh each pass
        def __iter__(self):
            return ((X[i : i + 500], y[i : i + 500]) for i in range(0, 2000, 500))

    def said(lr, source, target):
        est = TorchRegressor(solver="sgd", learning_rate_init=lr, max_iter=20,
                             hidden_layer_sizes=(8,), random_state=0)  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(source, target)
        return " ".join(str(w.message) for w in caught)

    assert "loss rose" in said(0.5, Batches(), None)
    assert "from its lowest-loss iteration (streamed data is not read" in said(
        0.5, Batches(), None
    )
    assert "those of the lowest training loss were kept" in said(0.5, X, y)
    for source, target in ((Batches(), None), (X, y)):  # diverged in its first epoch
        assert "after 0 iterations; the weights it started from were kept" in said(
            5.0, source, target
        )


def test_a_partition_whose_columns_are_not_the_metas_is_refused():
    """Blocks are read by position: a partition built with the columns in another
    order (metadata checks off) had trained silently on swapped columns."""
    X, y = _data(n=300)
    frame = pd.DataFrame(X, columns=list("abcd"))

    def part(i):
        rows = frame.iloc[i * 150 : (i + 1) * 150]
        return rows if i == 0 else rows[list("badc")]

    ddf = dd.from_map(part, [0, 1], meta=frame.iloc[:0], enforce_metadata=False)
    est = TorchRegressor(**SMALL)
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(ValueError, match=r"Partition 1 .*\['b', 'a', 'd', 'c'\]"):
            est.fit(ddf, y)
    assert not hasattr(est, "module_")


def test_a_boolean_dask_array_fits_and_predicts_as_its_0_1_values():
    X = np.random.default_rng(0).random((400, 3)) < 0.5
    y = X[:, 0] * 2.0 - X[:, 1]
    Xd = da.from_array(X, chunks=(100, 3))
    est = TorchRegressor(**SMALL).fit(Xd, y)
    ref = TorchRegressor(**SMALL).fit(da.from_array(X.astype(float), chunks=(100, 3)), y)
    np.testing.assert_array_equal(est.predict(Xd), ref.predict(X.astype(float)))
    np.testing.assert_array_equal(est.predict(X), est.predict(torch.as_tensor(X)))
    clf = TorchClassifier(**SMALL).fit(Xd, X[:, 0])
    assert clf.predict_proba(Xd).shape == (400, 2)


@pytest.mark.parametrize("strings", [False, True])
def test_a_dask_dataframe_refuses_the_columns_pandas_does(strings):
    df = pd.DataFrame({"x": np.arange(20.0), "c": pd.date_range("2020", periods=20)})
    if strings:
        df["s"] = np.resize(["a", "b"], 20)
    with pytest.raises(ValueError, match="Column 'c' of X holds dates"):
        TorchRegressor(**SMALL).fit(dd.from_pandas(df, npartitions=2), np.arange(20.0))


def test_dask_dataframe_vocabularies_and_imputation_are_exact():
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n) * 3 + 1,
            "color": rng.choice(
                ["red", "green", "blue", "teal"], size=n, p=[0.5, 0.3, 0.199, 0.001]
            ),
            "b": rng.normal(size=n),
        }
    )
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    df.loc[rng.random(n) < 0.05, "color"] = None
    df["color"] = df["color"].astype("category")
    # "teal" sits in one partition only: the vocabulary comes from all of them
    y = np.where(df["color"] == "red", 1, 0) + np.nan_to_num(df["a"]) > 1
    ddf = dd.from_pandas(df, npartitions=5)
    streamed = TorchClassifier(**SMALL).fit(ddf, dd.from_pandas(pd.Series(y), npartitions=5))
    ref = TorchClassifier(**SMALL).fit(df, y)
    np.testing.assert_array_equal(streamed.categories_[1], ref.categories_[1])
    assert list(streamed.feature_names_in_) == ["a", "color", "b"]
    for key, value in _constants(ref).items():
        torch.testing.assert_close(_constants(streamed)[key], value, rtol=1e-12, atol=1e-12)
    assert streamed.predict_proba(ddf).shape == (n, 2)
    assert abs(streamed.score(ddf, y) - ref.score(df, y)) < 0.05


def test_streamed_level_counts_weigh_rows_as_in_memory():
    # level "a" is 2 rows of weight 3 (kept), "b" 10 rows of weight 0.3 (rare), "c"
    # rows of weight 0 (unseen, so rare too); Dask counts as numpy does
    df = pd.DataFrame({"level": list("aa" + "b" * 10 + "ccccc"), "x": np.arange(17.0)})
    df["level"] = df["level"].astype("category")
    w = np.r_[3.0, 3.0, np.full(10, 0.3), np.zeros(5)]
    y = np.arange(17.0)
    streamed = TorchRegressor(**SMALL).fit(dd.from_pandas(df, npartitions=3), y, sample_weight=w)
    ref = TorchRegressor(**SMALL).fit(df, y, sample_weight=w)
    # codes a, b, c, missing, unseen -> one-hot slot 0 (a), 1 (rare), 2 (no slot)
    assert ref.module_.inputs.categorical.table.tolist() == [0, 1, 1, 2, 1]
    assert streamed.module_.inputs.categorical.config == ref.module_.inputs.categorical.config
    torch.testing.assert_close(
        streamed.module_.inputs.categorical.table, ref.module_.inputs.categorical.table
    )


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(solver="lbfgs"), "mini-batch solver"),
        (dict(early_stopping=True), "early_stopping"),
        (dict(input_scaling="robust"), "robust"),
    ],
)
def test_what_a_streamed_fit_cannot_do_is_refused(params, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        TorchRegressor(**SMALL, **params).fit(da.from_array(X, chunks=100), y)


def test_a_worker_with_less_memory_than_the_data_completes_the_fit():
    distributed = pytest.importorskip("distributed")
    n, d = 1_000_000, 40  # 320 MB of float64, generated block by block on the worker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, memory_limit="250MB", processes=True,
            dashboard_address=None,
        )  # fmt: skip
    with cluster, distributed.Client(cluster):
        X = da.random.RandomState(0).normal(size=(n, d), chunks=(50_000, d))
        assert X.nbytes > 250e6
        y = X[:, 0] - 2 * X[:, 1]
        est = TorchRegressor(hidden_layer_sizes=(16,), batch_size=2048, max_iter=1, random_state=0)
        est.fit(X, y)
        Xs, ys = X[:20_000].compute(), y[:20_000].compute()
    assert est.n_iter_ == 1 and est.score(Xs, ys) > 0.9


def test_a_first_partial_fit_on_dask_gives_exact_statistics_for_later_chunks():
    X, y = _data(n=2000)
    est = TorchRegressor(**SMALL).partial_fit(da.from_array(X, chunks=500), y)
    est.partial_fit(X[:100], y[:100])  # a later chunk keeps the constants
    ref = TorchRegressor(**SMALL).fit(X, y)
    for key in ("inputs.scaling.center", "inputs.scaling.scale"):
        torch.testing.assert_close(_constants(est)[key], _constants(ref)[key], rtol=1e-12, atol=0)
    assert len(est.loss_curve_) == 2


def test_a_dask_series_or_a_loader_is_refused_as_scikit_learn_refuses_a_series():
    """A Dask Series as X had raised "'Series' object has no attribute 'columns'";
    a DataLoader given to predict, "float() argument must be ... not 'DataLoader'"."""
    import dask.dataframe as dd
    from torch.utils.data import DataLoader, TensorDataset

    frame = pd.DataFrame({"a": np.arange(30.0), "b": np.arange(30.0)})
    series = dd.from_pandas(frame, npartitions=3).a
    with pytest.raises(ValueError, match="2-dimensional container.*single row .*single column"):
        TorchRegressor(max_iter=2).fit(series, frame.b.to_numpy())
    X = torch.as_tensor(frame.to_numpy())
    loader = DataLoader(TensorDataset(X, X[:, 0]), batch_size=10)
    est = TorchRegressor(max_iter=2).fit(X, X[:, 0])
    for method in (est.predict, est.to_module_input):
        with pytest.raises(ValueError, match="predict takes X itself"):
            method(loader)


@pytest.mark.parametrize("categorical_features", [None, ["k"]])
def test_a_dask_fit_names_a_string_column_to_mark_as_an_in_memory_fit_does(
    categorical_features,
):
    """Without a table, numpy's bare "could not convert string to float" had come
    out; with one, the advice of predict ("It was numeric when the model was fitted")
    on a first fit."""
    import dask.dataframe as dd

    frame = pd.DataFrame({"a": np.arange(30.0), "s": ["u", "v", "w"] * 10, "k": [0, 1, 2] * 10})
    est = TorchRegressor(max_iter=2, categorical_features=categorical_features)
    with pytest.raises(ValueError, match="Column 's' of X is not numeric.*Mark it categorical"):
        est.fit(dd.from_pandas(frame, npartitions=3), np.arange(30.0))


def test_a_dask_warm_start_may_name_its_categorical_columns_anew():
    """Names where the fit had indices (or "auto") had been refused on a Dask
    DataFrame alone: the spelling was compared, not the columns it selects."""
    import dask.dataframe as dd

    frame = pd.DataFrame({"a": np.arange(30.0), "s": ["u", "v", "w"] * 10})
    X = dd.from_pandas(frame, npartitions=3)
    est = TorchRegressor(max_iter=2, warm_start=True, categorical_features=["s"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, np.arange(30.0))
        est.set_params(categorical_features=[1]).fit(X, np.arange(30.0))
        est.set_params(categorical_features="auto").fit(X, np.arange(30.0))
    with pytest.raises(ValueError, match="categorical_features"):
        est.set_params(categorical_features=[0, 1]).fit(X, np.arange(30.0))


def test_a_streamed_fit_s_sample_of_targets_weighs_blocks_of_unit_weights_too():
    """A block whose weights are all 1 has none on the device: the sample of every
    block's targets had then dropped the other blocks' weights too."""
    from torchsk.training.batches import Data
    from torchsk.training.fit import _every, _sampled_targets

    weighted = Data(None, torch.tensor([[10.0]]), _every(torch.tensor([100.0]), 1, 1))
    unit = Data(None, torch.zeros(3, 1), _every(None, 1, 3))
    joined = _sampled_targets([weighted, unit])
    np.testing.assert_array_equal(joined.w.numpy(), [100.0, 1.0, 1.0, 1.0])
    assert _every(torch.arange(5.0), 2, 5).tolist() == [0.0, 2.0, 4.0]
