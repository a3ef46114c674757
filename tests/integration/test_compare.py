"""The comparison (benchmarks/compare.py): baselines, result cache and summary; no slow fits."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import KFold, cross_val_score

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import compare  # noqa: E402
import compare_report  # noqa: E402
from compare_suite import Dataset, ModelSpec, NumericImputer, prepare  # noqa: E402


def _spec(slug):
    return next(m for m in compare.MODELS if m.slug == slug)


def test_scaled_mlp_regressor_baseline_scales_the_target_too():
    data = compare.load_suite(["penguins body mass"])["penguins body mass"]
    baseline = _spec("sklearn-mlp").build("regression", 1)
    folds = KFold(5, shuffle=True, random_state=compare.SEED)
    # with X scaled but grams as the target, the same network scored R² -27.8 here
    assert cross_val_score(baseline, data.X, data.y, cv=folds).mean() >= 0.75


# ------------------------------------------------------------------------------ cache
@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.choice(["x", "y", None], size=40)})
    return Dataset("tiny table", "regression", prepare(X), rng.normal(size=40), "test")


def _dummy(strategy="mean", revision=0):
    return ModelSpec(
        "dummy", "dummy", "neural", lambda task, n: DummyRegressor(strategy=strategy),
        revision=revision,
    )  # fmt: skip


def test_unchanged_model_is_not_refitted(table, tmp_path):
    cache, suite = compare.ResultCache(tmp_path), {table.name: table}
    assert compare.run(suite, [_dummy()], cache, log=lambda m: None) == compare.FOLDS
    assert compare.run(suite, [_dummy()], cache, log=lambda m: None) == 0
    assert compare.run(suite, [_dummy()], cache, log=lambda m: None, refit=True) == compare.FOLDS
    folds = compare.collect(suite, [_dummy()], cache)
    assert sorted(folds["fold"]) == list(range(compare.FOLDS))
    assert (tmp_path / "tiny-table" / "dummy.json").exists()


@pytest.mark.parametrize("changed", [_dummy(strategy="median"), _dummy(revision=1)])
def test_changed_configuration_refits_and_hides_the_stale_results(table, tmp_path, changed):
    cache, suite = compare.ResultCache(tmp_path), {table.name: table}
    compare.run(suite, [_dummy()], cache, log=lambda m: None)
    assert compare.collect(suite, [changed], cache).empty  # stale: not reported
    assert compare.run(suite, [changed], cache, log=lambda m: None) == compare.FOLDS


def test_changed_data_refits(table, tmp_path):
    cache, suite = compare.ResultCache(tmp_path), {table.name: table}
    compare.run(suite, [_dummy()], cache, log=lambda m: None)
    table.y = table.y + 1.0
    assert compare.run(suite, [_dummy()], cache, log=lambda m: None) == compare.FOLDS


def test_time_limit_stops_before_the_next_fit(table, tmp_path):
    cache = compare.ResultCache(tmp_path)
    done = compare.run({table.name: table}, [_dummy()], cache, time_limit=0, log=lambda m: None)
    assert done == 0


def test_torchsk_fingerprint_follows_its_source(tmp_path):
    (tmp_path / "mod.py").write_text("x = 1\n")
    before = compare.source_hash(tmp_path)
    assert compare.source_hash(tmp_path) == before
    (tmp_path / "mod.py").write_text("x = 2\n")
    assert compare.source_hash(tmp_path) != before
    config = compare.model_config(_spec("torchsk"), "regression", 1)
    assert config["torchsk_source"] == compare.source_hash()


def test_estimator_text_has_no_memory_addresses():
    text = compare.estimator_text(_spec("linear").build("classification", 3))
    assert " at 0x" not in text and "LogisticRegressionCV" in text


def test_classifier_fold_reports_log_loss(tmp_path):
    X = prepare(pd.DataFrame({"a": np.arange(30.0)}))
    data = Dataset("c", "classification", X, np.arange(30) % 3, "test")
    train, test = compare.folds_of(data)[0]
    result = compare.fit_and_score(DummyClassifier().fit(X, data.y), data, train, test)
    assert result["log_loss"] == pytest.approx(np.log(3), rel=1e-3)


# ------------------------------------------------------------------------------ summary
def _fold_rows(dataset, task, scores, log_losses=None):
    """Synthetic fold results: model slug -> its five fold scores."""
    families = {s.slug: (s.name, s.family) for s in compare.MODELS}
    rows = []
    for slug, values in scores.items():
        for fold, value in enumerate(values):
            name, family = families[slug]
            ll = log_losses[slug][fold] if log_losses else np.nan
            rows.append(dict(
                dataset=dataset, task=task, model=name, slug=slug, family=family, fold=fold,
                score=value, log_loss=ll, fit_s=1.0 if slug == "torchsk" else 20.0,
                predict_s=0.0, n_train=100,
            ))  # fmt: skip
    return rows


@pytest.fixture
def synthetic():
    a = _fold_rows("A", "regression", {
        "linear": [0.50] * 5, "hgb": [0.60] * 4 + [0.65], "torchsk": [0.58, 0.62] * 2 + [0.60],
        "realmlp-td": [0.55] * 5,
    })  # fmt: skip
    b = _fold_rows(
        "B", "classification",
        {"linear": [0.90, 0.92] * 2 + [0.91], "hgb": [0.95] * 5, "torchsk": [0.80] * 5},
        {"linear": [0.30] * 5, "hgb": [0.20] * 5, "torchsk": [0.50, 0.52] * 2 + [0.51]},
    )  # fmt: skip
    incomplete = _fold_rows("B", "classification", {"realmlp-td": [0.99] * 3})
    return pd.DataFrame(a + b + incomplete)


def test_per_dataset_keeps_complete_runs_and_ranks_them(synthetic):
    table = compare_report.per_dataset(synthetic).set_index(["dataset", "slug"])
    assert ("B", "realmlp-td") not in table.index  # 3 of 5 folds
    assert table.loc[("A", "hgb"), "score"] == pytest.approx(0.61)
    expected_std = np.std([0.58, 0.62] * 2 + [0.6], ddof=1)
    assert table.loc[("A", "torchsk"), "score_std"] == pytest.approx(expected_std)
    assert table.loc[("A", "hgb"), "rank"] == 1 and table.loc[("B", "torchsk"), "rank"] == 3
    assert table.loc[("A", "torchsk"), "neural_rank"] == 1


def test_summary_ranks_times_and_common_data_sets(synthetic):
    summ = compare_report.summary(compare_report.per_dataset(synthetic)).set_index("slug")
    assert summ.attrs["common"] == ["A"]
    assert summ.loc["torchsk", "mean_rank"] == pytest.approx(2.5)  # 2nd on A, 3rd on B
    assert summ.loc["torchsk", "common_rank"] == pytest.approx(2)
    assert summ.loc["realmlp-td", "datasets"] == 1
    assert summ.loc["torchsk", "median_fit_s"] == 1.0
    assert summ.loc["hgb", "total_s"] == pytest.approx(200.0)


def test_gaps_and_acceptance(synthetic):
    table = compare_report.per_dataset(synthetic)
    ours = compare_report.gaps(table)
    assert ours.loc["A", "ok_linear"] and ours.loc["A", "ok_hgb"]  # 0.01 behind, std 0.022
    assert not ours.loc["B", "ok_linear"] and not ours.loc["B", "ok_log_loss"]
    assert ours.loc["B", "gap_log_loss"] == pytest.approx(0.21)
    verdicts = {what.split(" (")[0]: (measured, ok) for what, measured, ok in
                compare_report.acceptance(table)}  # fmt: skip
    assert verdicts["best mean rank among the neural models"][1]
    assert verdicts["median fit time at most 1/10 of RealMLP-TD's"] == ("ratio 0.050", True)
    linear = verdicts["within 1 std of the scaled linear model on every data set"]
    assert linear == ("1 of 2", False)


def test_markdown_lists_what_is_missing(synthetic):
    suite = {name: Dataset(name, "regression", pd.DataFrame({"a": [1.0]}), np.ones(1), "t")
             for name in ("A", "B")}  # fmt: skip
    text = compare_report.to_markdown(suite, synthetic)
    assert "- RealMLP-TD: B" in text and "## How torchsk stands against its goals" in text
    # narrow enough for a docs page: the summary's nine columns come as two tables
    widths = [line.count("|") - 1 for line in text.splitlines() if line.startswith("|---")]
    assert max(widths) <= 7 and "issue" not in text.lower()


def test_summary_counts_data_sets_within_one_std(synthetic):
    summ = compare_report.summary(compare_report.per_dataset(synthetic)).set_index("slug")
    assert summ.loc["torchsk", ["within_linear", "within_hgb", "within_log_loss"]].tolist() == [
        "1/2", "1/2", "0/1",
    ]  # fmt: skip
    assert summ.loc["hgb", "within_linear"] == "2/2"


def test_numeric_imputer_fills_a_test_fold_missing_what_training_did_not():
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, None, 3.0]})
    test = pd.DataFrame({"a": [None, 5.0], "b": [None, 1.0]})
    out = NumericImputer().fit(train).transform(test)
    assert not out.isna().any().any()
    assert list(out.columns) == ["a", "b", "b_missing"]  # indicators: training's only
    assert out["a"].tolist() == [2.0, 5.0] and out["b_missing"].tolist() == [1.0, 0.0]
