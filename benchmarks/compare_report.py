"""From cached fold results to ``docs/comparison.md`` and ``docs/comparison.png``.

Everything the report states is computed here from the fold results that ``compare.py``
collects: per data set and model the mean ± std over folds, the ranks, the per-model
summary and how torchsk's defaults stand against the goals set for them.

"Within one standard deviation" compares the gap between two models' mean scores with
the larger of their two standard deviations over the folds. "Within 0.01" compares the same
gap with a fixed margin, on the shuffled folds and on the extrapolation variants' folds.

Ranks, summary, figure and the one-std criteria use the shuffled folds only; the
extrapolation variants have their own section.
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from compare_suite import EDGE_SHARE, MODELS, PEERS  # noqa: E402

FOLDS = 5
TORCHSK, LINEAR, HGB, REALMLP = "torchsk", "linear", "hgb", "realmlp-td"
SEARCH = "torchsk-search"  # the tuned and ensembled torchsk (BatchedSearchCV)
SHUFFLED, EXTRAPOLATION = "shuffled", "extrapolation"
#: The fixed margin of the "within 0.01 of the linear model" criterion.
MARGIN = 0.01
_EPS = 1e-9  # float noise: 0.20 - 0.19 is a gap of 0.01
_METRIC = {"regression": "R²", "classification": "accuracy"}


# ------------------------------------------------------------------------------ tables
def per_dataset(folds: pd.DataFrame, n_folds: int = FOLDS) -> pd.DataFrame:
    """Mean and std over folds per (data set, model), complete runs only, with ranks.

    Parameters
    ----------
    folds : pandas.DataFrame
        One row per fold: ``dataset, task, model, slug, family, fold, score, log_loss,
        fit_s, predict_s, n_train`` and optionally ``folds`` (``"shuffled"`` or
        ``"extrapolation"``, shuffled where absent) and ``n_folds`` (the data set's number of
        folds).
    n_folds : int
        Where ``folds`` has no ``n_folds`` column: a (data set, model) with fewer folds is
        left out.

    Returns
    -------
    pandas.DataFrame
        One row per (data set, model): ``folds``, ``n_folds``, ``score, score_std,
        log_loss, log_loss_std, fit_s`` (mean per fold), ``total_s`` (fit and predict, all
        folds), ``rank`` (1 = best score on that data set, among the models that have it)
        and ``neural_rank`` (among the neural models).
    """
    if "folds" not in folds:
        folds = folds.assign(folds=SHUFFLED)
    if "n_folds" not in folds:
        folds = folds.assign(n_folds=n_folds)
    keys = ["dataset", "task", "model", "slug", "family", "folds", "n_folds"]
    grouped = folds.groupby(keys, sort=False)
    table = grouped.agg(
        n=("fold", "nunique"), score=("score", "mean"), score_std=("score", "std"),
        log_loss=("log_loss", "mean"), log_loss_std=("log_loss", "std"), fit_s=("fit_s", "mean"),
        total_s=("fit_s", "sum"), predict_s=("predict_s", "sum"),
    ).reset_index()  # fmt: skip
    table["total_s"] += table.pop("predict_s")
    table = table[table["n"] >= table["n_folds"]].drop(columns="n").reset_index(drop=True)
    table["rank"] = table.groupby("dataset")["score"].rank(ascending=False)
    neural = table["family"] == "neural"
    table.loc[neural, "neural_rank"] = (
        table[neural].groupby("dataset")["score"].rank(ascending=False)
    )
    return table


def common_datasets(table: pd.DataFrame, slugs) -> list:
    """The data sets on which every model in ``slugs`` has a complete result."""
    have = table.groupby("dataset")["slug"].agg(set)
    return [d for d, s in have.items() if set(slugs) <= s]


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: data sets, mean ranks, median fit time, measured time.

    Returns
    -------
    pandas.DataFrame
        Indexed by model name, in ``MODELS`` order: ``datasets`` (count), ``mean_rank`` (over
        its data sets), ``common_rank`` (over the data sets every model has, ranked among
        all models), ``median_fit_s`` (median over its data sets of the mean fit time per
        fold), ``total_s``, and ``within_linear``, ``within_hgb``, ``within_log_loss``: on how
        many of its data sets it is within one std of the linear model, of HGB, and of the
        logistic regression's log-loss (see :func:`gaps`).
    """
    common = common_datasets(table, table["slug"].unique())
    on_common = table[table["dataset"].isin(common)]
    rows = []
    for spec in MODELS:
        part = table[table["slug"] == spec.slug]
        if part.empty:
            continue
        ranks = on_common[on_common["slug"] == spec.slug]["rank"]
        rows.append({
            "model": spec.name, "slug": spec.slug, "family": spec.family,
            "datasets": len(part), "mean_rank": part["rank"].mean(),
            "common_rank": ranks.mean() if len(ranks) else np.nan,
            "median_fit_s": part["fit_s"].median(), "total_s": part["total_s"].sum(),
            **_counts(table, spec.slug),
        })  # fmt: skip
    out = pd.DataFrame(rows).set_index("model")
    out.attrs["common"] = common
    return out


# ------------------------------------------------------------------------------ goals
def _within(a: pd.Series, b: pd.Series, col: str, higher_is_better: bool = True):
    """Gap of b behind a on ``col`` and whether it is within one std (the larger one)."""
    gap = a[col] - b[col] if higher_is_better else b[col] - a[col]
    tolerance = max(a[f"{col}_std"], b[f"{col}_std"])
    return gap, bool(gap <= tolerance)


def gaps(table: pd.DataFrame, slug: str = TORCHSK) -> pd.DataFrame:
    """Per data set: how far a model is behind the linear model and HGB, and if within 1 std.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`per_dataset`'s output.
    slug : str
        The model (torchsk by default).

    Returns
    -------
    pandas.DataFrame
        Indexed by data set: ``score``, ``gap_linear``, ``ok_linear``, ``gap_hgb``,
        ``ok_hgb``, and for classification ``gap_log_loss`` (the model's log-loss minus the
        logistic regression's) and ``ok_log_loss``; positive gaps are the model behind.
    """
    rows = {}
    for dataset, part in table.groupby("dataset", sort=False):
        by = part.set_index("slug")
        if slug not in by.index:
            continue
        ours, row = by.loc[slug], {"score": by.loc[slug, "score"]}
        for peer, label in ((LINEAR, "linear"), (HGB, "hgb")):
            if peer in by.index:
                row[f"gap_{label}"], row[f"ok_{label}"] = _within(by.loc[peer], ours, "score")
        if part["task"].iloc[0] == "classification" and LINEAR in by.index:
            gap, ok = _within(by.loc[LINEAR], ours, "log_loss", higher_is_better=False)
            row["gap_log_loss"], row["ok_log_loss"] = gap, ok
        rows[dataset] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _counts(table: pd.DataFrame, slug: str) -> dict:
    """``"k/n"`` data sets within 1 std of linear, of HGB, and on log-loss, for one model."""
    g, out = gaps(table, slug), {}
    for label in ("linear", "hgb", "log_loss"):
        ok = g[f"ok_{label}"].dropna().astype(bool) if f"ok_{label}" in g else []
        out[f"within_{label}"] = f"{int(sum(ok))}/{len(ok)}" if len(ok) else ""
    return out


def neural_ranks(table: pd.DataFrame) -> tuple[pd.Series, list]:
    """Mean rank among the neural models on the data sets where all of them ran."""
    neural = table[table["family"] == "neural"]
    common = common_datasets(neural, neural["slug"].unique())
    part = neural[neural["dataset"].isin(common)]
    # ranked again among the models given (the caller may have left some out)
    ranks = part.groupby("dataset")["score"].rank(ascending=False)
    return ranks.groupby(part["model"]).mean().sort_values(), common


def shuffled(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`per_dataset`'s table on shuffled folds."""
    return table[table["folds"] == SHUFFLED] if "folds" in table else table


def linear_margin(table: pd.DataFrame, slug: str = TORCHSK, margin: float = MARGIN):
    """Per data set, shuffled and extrapolation: is a model within ``margin`` of the linear one?

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`per_dataset`'s output.
    slug : str
        The model (torchsk by default).
    margin : float
        The largest gap allowed, on the score and (classification) on the log-loss.

    Returns
    -------
    pandas.DataFrame
        Indexed by data set (those where both models have a complete result), in table
        order: ``folds``, ``score``, ``linear``, ``behind`` (the linear model's score minus
        the model's), ``log_loss_above`` (the model's log-loss minus the logistic
        regression's, classification only) and ``ok`` (both gaps at most ``margin``, up to
        rounding: a gap of 0.01 passes).
    """
    rows = {}
    for dataset, part in table.groupby("dataset", sort=False):
        by = part.set_index("slug")
        if slug not in by.index or LINEAR not in by.index:
            continue
        ours, lin = by.loc[slug], by.loc[LINEAR]
        behind = lin["score"] - ours["score"]
        above = ours["log_loss"] - lin["log_loss"]  # NaN for regression
        rows[dataset] = {
            "folds": ours.get("folds", SHUFFLED), "score": ours["score"],
            "linear": lin["score"], "behind": behind, "log_loss_above": above,
            "ok": bool(behind <= margin + _EPS and (pd.isna(above) or above <= margin + _EPS)),
        }  # fmt: skip
    columns = ["folds", "score", "linear", "behind", "log_loss_above", "ok"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def head_to_head(table: pd.DataFrame, slug: str = TORCHSK) -> list[tuple[str, int, int, int]]:
    """torchsk against each other neural model on the data sets both have.

    Returns
    -------
    list of tuple
        ``(model, data sets, torchsk better, torchsk worse)`` per neural peer; a data set
        where the two mean scores are equal counts as neither.
    """
    neural = table[table["family"] == "neural"]
    names = dict(zip(neural["slug"], neural["model"], strict=False))
    if slug not in names:
        return []
    duels = ((names[peer], *duel(neural, slug, peer)) for peer in sorted(names) if peer != slug)
    return [d for d in duels if d[1]]


def _time_ratio(table: pd.DataFrame, slug: str = TORCHSK):
    """A model's median fit time over RealMLP-TD's, on the data sets where both ran."""
    both = common_datasets(table, [slug, REALMLP])
    if not both:
        return np.nan, 0
    part = table[table["dataset"].isin(both)].groupby("slug")["fit_s"].median()
    return part[slug] / part[REALMLP], len(both)


def duel(table: pd.DataFrame, slug: str, peer: str) -> tuple[int, int, int]:
    """``(data sets both have, slug better, slug worse)`` on mean score (any family)."""
    scores = table.pivot_table(index="dataset", columns="slug", values="score")
    if slug not in scores or peer not in scores:
        return 0, 0, 0
    both = scores[[slug, peer]].dropna()
    diff = both[slug] - both[peer]
    return len(both), int((diff > 0).sum()), int((diff < 0).sum())


def search_goals(table: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """The tuned and ensembled torchsk's goals on the shuffled folds: better than HGB on
    at least 2/3 of the data sets, than RealMLP-TD on at least 3/4, at a median fit time
    no longer than RealMLP-TD's; and, for the record, against the defaults."""
    table = shuffled(table)
    lines = []
    for peer, need, label in ((HGB, 2 / 3, "HistGradientBoosting"), (REALMLP, 3 / 4, "RealMLP-TD"),
                              (TORCHSK, None, "torchsk's defaults")):  # fmt: skip
        n, better, worse = duel(table, SEARCH, peer)
        if n:
            wanted = f" on at least {need:.0%} of them" if need else ""
            lines.append((f"better than {label}{wanted} (data sets both have)",
                          f"better on {better}, worse on {worse} of {n}",
                          better >= need * n if need else better > worse))  # fmt: skip
    ratio, n = _time_ratio(table, SEARCH)
    if n:
        lines.append((f"median fit time at most RealMLP-TD's (on the {n} data sets both have)",
                      f"ratio {ratio:.3f}", bool(ratio <= 1.0)))  # fmt: skip
    return lines


def acceptance(table: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """torchsk's goals on the suite: (criterion, measured, holds) per line.

    Every criterion but the last two is measured on the shuffled folds; the last two, the
    fixed margin to the linear model, once on the shuffled folds and once on the
    extrapolation variants (where the table has them).
    """
    margins = linear_margin(table)
    # the defaults against the peers: the tuned torchsk is ours, not a peer (its own goals
    # are ``search_goals``')
    table = shuffled(table[table["slug"] != SEARCH])
    ours = gaps(table)
    ranks, common = neural_ranks(table)
    names = dict(zip(table["slug"], table["model"], strict=False))
    lines = []
    if len(ranks):
        best = ranks.index[0]
        measured = ", ".join(f"{m} {r:.2f}" for m, r in ranks.items())
        lines.append((
            "best mean rank among the neural models "
            f"(on the {len(common)} data sets all of them have)",
            measured, best == names.get(TORCHSK),
        ))  # fmt: skip
    duels = head_to_head(table)
    if duels:
        measured = "; ".join(f"{m}: better on {w}, worse on {lo} of {n}" for m, n, w, lo in duels)
        lines.append((
            "the same, head to head: better than each neural model on more of the data sets "
            "both have than worse", measured, all(w > lo for _, _, w, lo in duels),
        ))  # fmt: skip
    ratio, n = _time_ratio(table)
    if n:
        lines.append((
            "median fit time at most 1/10 of RealMLP-TD's "
            f"(on the {n} data sets both have)", f"ratio {ratio:.3f}", bool(ratio <= 0.1),
        ))  # fmt: skip
    for label, need, what in (
        ("linear", 1.0, "within 1 std of the scaled linear model on every data set"),
        ("hgb", 2 / 3, "within 1 std of HistGradientBoosting on at least 2/3 of the data sets"),
        ("log_loss", 1.0, "log-loss never worse than the logistic regression's by > 1 std"),
    ):
        column = f"ok_{label}"
        ok = ours[column].dropna().astype(bool) if column in ours else []
        if len(ok):
            lines.append((what, f"{int(ok.sum())} of {len(ok)}", bool(ok.mean() >= need)))
    for kind in (SHUFFLED, EXTRAPOLATION):
        ok = margins.loc[margins["folds"] == kind, "ok"]
        if len(ok):
            lines.append((
                f"never more than {MARGIN:g} below the scaled linear model on any data set "
                f"(score; log-loss never more than {MARGIN:g} above), {kind} folds",
                f"{int(ok.sum())} of {len(ok)}", bool(ok.all()),
            ))  # fmt: skip
    return lines


# ------------------------------------------------------------------------------ markdown
def _fmt(x, digits=3) -> str:
    return "" if pd.isna(x) else f"{x:.{digits}f}"


def _md_table(header: list, rows: list) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _datasets_section(suite: dict) -> list[str]:
    rows = []
    for d in (d for d in suite.values() if d.order_by is None):
        n_cat = sum(isinstance(t, pd.CategoricalDtype) for t in d.X.dtypes)
        missing = d.X.isna().to_numpy().mean()
        rows.append([
            d.name, d.task, f"{len(d.X):,}", f"{d.X.shape[1]} ({n_cat})",
            f"{missing:.1%}" if missing else "", d.source, d.note,
        ])  # fmt: skip
    header = ["data set", "task", "rows", "columns (categorical)", "missing cells", "source",
              "preparation"]  # fmt: skip
    return ["## Data sets", "", *_md_table(header, rows), ""]


def _summary_section(summ: pd.DataFrame) -> list[str]:
    """Two tables, ranks and times then closeness, each narrow enough for a page."""
    common = summ.attrs["common"]
    ranks = [
        [model, r["datasets"], _fmt(r["mean_rank"], 2), _fmt(r["common_rank"], 2),
         _fmt(r["median_fit_s"], 2), f"{r['total_s'] / 60:.1f}"]
        for model, r in summ.iterrows()
    ]  # fmt: skip
    close = [[model, r["within_linear"], r["within_hgb"], r["within_log_loss"]]
             for model, r in summ.iterrows()]  # fmt: skip
    rank_header = ["model", "data sets", "mean rank (its data sets)",
                   f"mean rank ({len(common)} common data sets)",
                   "median fit time per fold (s)", "measured time, all folds (min)"]  # fmt: skip
    close_header = ["model", "within 1 std of linear", "within 1 std of HGB",
                    "log-loss within 1 std of LogReg"]  # fmt: skip
    return [
        "## Summary", "",
        "Rank 1 is the best score on a data set. The first rank column averages over the data "
        "sets the model has (ranked among the models that ran there); the second over the data "
        "sets every model has. Median fit time: the median over data sets of the mean fit time "
        "per fold.", "",
        *_md_table(rank_header, ranks), "",
        "How close each model comes to the baselines: the data sets where its score is within "
        "one standard deviation of the linear model's and of HGB's, and where its log-loss is "
        "within one of the logistic regression's (classification only).", "",
        *_md_table(close_header, close), "",
    ]  # fmt: skip


def _acceptance_section(table: pd.DataFrame) -> list[str]:
    rows = [[what, measured, "yes" if ok else "**no**"] for what, measured, ok in
            acceptance(table)]  # fmt: skip
    detail = []
    for dataset, g in gaps(shuffled(table)).iterrows():
        cells = [dataset, _fmt(g["score"])]
        for label in ("linear", "hgb", "log_loss"):
            ok = g.get(f"ok_{label}")
            mark = "" if ok is None or pd.isna(ok) else (" ✓" if ok else " ✗")
            cells.append(_fmt(g.get(f"gap_{label}")) + mark)
        detail.append(cells)
    header = ["data set", "torchsk score", "behind linear", "behind HGB",
              "log-loss above LogReg"]  # fmt: skip
    margin = []
    for dataset, m in linear_margin(table).iterrows():
        margin.append([
            dataset, m["folds"], _fmt(m["score"]), _fmt(m["linear"]), _fmt(m["behind"]),
            _fmt(m["log_loss_above"]), "yes" if m["ok"] else "**no**",
        ])  # fmt: skip
    margin_header = ["data set", "folds", "torchsk score", "linear score", "behind linear",
                     "log-loss above LogReg", f"within {MARGIN:g}"]  # fmt: skip
    return [
        "## How torchsk stands against its goals", "",
        "Computed from the tables below; torchsk is `TorchRegressor` / `TorchClassifier` with "
        "default parameters on the prepared DataFrame. The criteria are measured on the "
        "shuffled folds, except the last two, which hold torchsk to a fixed margin of "
        f"{MARGIN:g} behind the scaled linear model (mean score; for classifiers also mean "
        "log-loss) once on the shuffled folds and once on the extrapolation variants' folds. "
        "A gap is within one standard deviation (✓) when it is at most the larger of the two "
        "models' standard deviations over folds; positive gaps are torchsk behind.", "",
        *_md_table(["criterion", "measured", "holds"], rows), "",
        "Shuffled folds, against one standard deviation:", "",
        *_md_table(header, detail), "",
        f"Shuffled and extrapolation folds, against the fixed margin of {MARGIN:g}:", "",
        *_md_table(margin_header, margin), "",
    ]  # fmt: skip


def _search_section(table: pd.DataFrame) -> list[str]:
    lines = search_goals(table)
    if not lines:
        return []
    rows = [[what, measured, "yes" if ok else "**no**"] for what, measured, ok in lines]
    return [
        "## The tuned and ensembled torchsk against its goals", "",
        "`BatchedSearchCV` around torchsk's defaults (its row in the model list above), on "
        "the shuffled folds: a data set counts where its mean score is above (below) the "
        "peer's.", "",
        *_md_table(["criterion", "measured", "holds"], rows), "",
    ]  # fmt: skip


def _results_section(table: pd.DataFrame) -> list[str]:
    rows = []
    for _, r in table.iterrows():
        ll = "" if pd.isna(r["log_loss"]) else f"{r['log_loss']:.3f} ± {r['log_loss_std']:.3f}"
        rows.append([
            r["dataset"], _METRIC[r["task"]], r["model"],
            f"{r['score']:.3f} ± {r['score_std']:.3f}", ll, f"{r['fit_s']:.2f}", f"{r['rank']:g}",
        ])  # fmt: skip
    header = ["data set", "metric", "model", "score", "log-loss", "fit time per fold (s)",
              "rank"]  # fmt: skip
    return ["## Per data set", "", *_md_table(header, rows), ""]


def _extrapolation_section(suite: dict, folds: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Each regression's extrapolation variant beside its shuffled figures."""
    variants = [d for d in suite.values() if d.order_by is not None]
    if not variants:
        return []
    scores = table.set_index(["dataset", "slug"])["score"]
    rho = {d.name: d.X[d.order_by].corr(pd.Series(d.y, index=d.X.index), method="spearman")
           for d in variants}  # fmt: skip
    rows = []
    for d in variants:
        for spec in MODELS:
            if (d.name, spec.slug) not in scores.index:
                continue
            part = folds[(folds["dataset"] == d.name) & (folds["slug"] == spec.slug)]
            by_fold = part.set_index("fold")["score"]
            rows.append([
                d.base, f"{d.order_by} (ρ {rho[d.name]:+.2f})", spec.name,
                _fmt(scores.get((d.base, spec.slug))),
                _fmt(scores[d.name, spec.slug]), _fmt(by_fold.get(0)), _fmt(by_fold.get(1)),
            ])  # fmt: skip
    header = ["data set", "folds ordered by", "model", "R² shuffled",
              "R² extrapolation (mean)", "lowest fifth", "highest fifth"]  # fmt: skip
    extra = table[table["folds"] == EXTRAPOLATION]
    have = extra.groupby("slug")["dataset"].nunique()
    complete = have[have == len(variants)].index
    ranks = extra[extra["slug"].isin(complete)].groupby("model")["rank"].mean().sort_values()
    ranked = ", ".join(f"{m} {r:.2f}" for m, r in ranks.items())
    lines = [
        "## Extrapolation", "",
        "Each regression again, with two folds ordered by one numeric column instead of five "
        "shuffled ones: the test rows of the first fold are the lowest values of that column, "
        "those of the second the highest, each cut between two distinct values at the "
        f"boundary nearest to {EDGE_SHARE:.0%} of the rows that have the value; every other "
        "row, and every row missing the value, trains. So every test value lies below (or "
        "above) every training value of that column. The column is chosen by a rule: among "
        "the numeric features that can be cut so (each test fold between "
        f"{EDGE_SHARE / 2:.0%} and {1.5 * EDGE_SHARE:.0%} of the known rows), the one with "
        "the largest absolute Spearman correlation with the target (ρ below) over the whole "
        "table. R² "
        "is computed per test fold (against that fold's own mean) and averaged over the two; "
        "the shuffled R² is the same table's five-fold figure.",
    ]  # fmt: skip
    if len(ranks):
        lines += ["", f"Mean rank over the {len(variants)} extrapolation variants, models that "
                  f"have all of them: {ranked}."]  # fmt: skip
    return [*lines, "", *_md_table(header, rows), ""]


def missing_pairs(suite: dict, table: pd.DataFrame) -> dict:
    """Model name -> the data sets (in suite order) without a complete current result."""
    have = set(zip(table["dataset"], table["slug"], strict=True))
    out = {}
    for spec in MODELS:
        lacking = [d for d in suite if (d, spec.slug) not in have]
        if lacking:
            out[spec.name] = lacking
    return out


def _estimate_missing_s(suite: dict, folds: pd.DataFrame, missing: dict) -> float:
    """Seconds the missing fits would take, at each model's measured time per training row."""

    def train_rows(data) -> float:  # over all folds
        if data.order_by is None:
            return len(data.X) * (FOLDS - 1)
        return len(data.X) * (1 - EDGE_SHARE) * 2

    total = 0.0
    for spec in MODELS:
        part = folds[folds["slug"] == spec.slug]
        if spec.name not in missing or part.empty:
            continue
        per_row = (part["fit_s"] + part["predict_s"]).sum() / part["n_train"].sum()
        total += per_row * sum(train_rows(suite[d]) for d in missing[spec.name])
    return total


def _run_time_section(suite: dict, folds: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    missing = missing_pairs(suite, table)
    measured = (folds["fit_s"] + folds["predict_s"]).sum() if len(folds) else 0.0
    lines = [
        "## Run time and what is missing", "",
        f"Fitting and predicting every cached fold took {measured / 3600:.2f} h on this "
        "machine (the sum over the cache, extrapolation folds included; the summary's last "
        "column has each model's shuffled folds; data loading and fingerprints add about a "
        "minute).",
    ]  # fmt: skip
    if not missing:
        return [*lines, "Every model has every data set.", ""]
    estimate = _estimate_missing_s(suite, folds, missing)
    lines[-1] += (
        f" The missing results below would add about {estimate / 3600:.1f} h at each model's "
        "measured time per training row (an extrapolation), so a full run from an empty "
        f"cache takes about {(measured + estimate) / 3600:.1f} h."
    )
    lines += ["", "Not yet run (or stale since a change of configuration):", ""]
    n_variants = sum(d.order_by is not None for d in suite.values())
    for model, sets in missing.items():
        plain = [d for d in sets if suite[d].order_by is None]
        variants = [suite[d].base for d in sets if suite[d].order_by is not None]
        if len(variants) == n_variants:
            variants = ["every extrapolation variant"]
        elif variants:
            variants = [f"extrapolation variants of {', '.join(variants)}"]
        lines.append(f"- {model}: {'; '.join(x for x in (', '.join(plain), *variants) if x)}")
    return [*lines, ""]


def to_markdown(suite: dict, folds: pd.DataFrame, seeds: pd.DataFrame | None = None) -> str:
    """The whole of ``docs/comparison.md`` (``seeds``: the fold results of torchsk's
    defaults at the other seeds, for ``compare_seeds``' section)."""
    import compare_seeds  # it reads this module's tables

    table = per_dataset(folds)
    peers = [f"- **{spec.name}**: {PEERS[spec.slug]}" for spec in MODELS]
    lines = [
        "# Comparison on real tables", "",
        "Generated by `benchmarks/compare.py` (`./dev compare`) from the fold results cached "
        f"in `benchmarks/results/`; written {time.strftime('%F')}. 5-fold cross-validation "
        "(stratified for classification), the same folds for every model; score = mean ± std "
        "over folds (R² or accuracy), log-loss for classifiers. Every regression also comes "
        "as an extrapolation variant, two folds whose test rows lie outside the training "
        "range of one column: reported in their own section and in the fixed-margin criteria, "
        "left out of the ranks, the summary and the figure. Fit times are wall-clock "
        "seconds per fold on this project's 2-core CPU machine, shared with other jobs while "
        "it ran: read them as orders of magnitude. torchsk's larger fits train in float32, "
        "whose sums depend on the kernels the CPU runs: refitted on another machine than "
        "the one that cached them, some of their scores move (2026-12-07: ames 0.892 to "
        "0.890, loans 0.437 to 0.441, one ames fold by 0.01), where the float64 fits of the "
        "small tables repeat to the last digit.", "",
        "Each model in its fairest form, all on the same prepared tables (strings as "
        "`category` columns, missing values as `NaN`):", "", *peers, "",
        "![mean rank against median fit time](comparison.png)", "",
    ]  # fmt: skip
    lines += _summary_section(summary(shuffled(table)))
    lines += _acceptance_section(table)
    lines += compare_seeds.seeds_section(table, seeds)
    lines += _search_section(table)
    lines += _extrapolation_section(suite, folds, table)
    lines += _run_time_section(suite, folds, table)
    lines += _datasets_section(suite)
    lines += _results_section(shuffled(table))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ figure
def _panel(ax, summ: pd.DataFrame, title: str) -> None:
    colors = {"linear": "tab:gray", "trees": "tab:green", "neural": "tab:blue"}
    for model, r in summ.iterrows():
        color = "tab:red" if r["slug"].startswith(TORCHSK) else colors[r["family"]]
        ax.scatter(r["median_fit_s"], r["mean_rank"], s=70, color=color, zorder=3)
        ax.annotate(model, (r["median_fit_s"], r["mean_rank"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    low, high = summ["median_fit_s"].min(), summ["median_fit_s"].max()
    ax.set_xlim(low / 2, high * 8)  # room for the labels on the right
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylim(len(summ) + 0.5, 0.5)  # rank 1 at the top
    ax.grid(True, which="major", alpha=0.3)
    ax.set(xlabel="median fit time per fold (s, log scale)", ylabel="mean rank (1 = best)")
    ax.set_title(title, fontsize=10)


def plot(folds: pd.DataFrame, out: Path) -> None:
    """Mean rank against median fit time per model, log time.

    The first panel ranks every model on the data sets all of them have; when some models
    lack data sets, a second panel ranks the models that have all of them on all of them.
    Shuffled folds only.
    """
    if "folds" in folds:
        folds = folds[folds["folds"] == SHUFFLED]
    table = per_dataset(folds)
    common = common_datasets(table, table["slug"].unique())
    panels = [(folds[folds["dataset"].isin(common)],
               f"all models, on the {len(common)} data sets every model has")]  # fmt: skip
    counts = table.groupby("slug")["dataset"].nunique()
    complete = counts[counts == counts.max()].index
    if len(complete) < len(counts):
        panels.append((folds[folds["slug"].isin(complete)],
                       f"the models that have all {counts.max()} data sets"))  # fmt: skip
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (part, title) in zip(axes[0], panels, strict=True):
        _panel(ax, summary(per_dataset(part)), title)
    fig.suptitle("Better is up, faster is left: torchsk red, neural peers blue, "
                 "gradient boosting green, linear grey")  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def write(suite: dict, folds: pd.DataFrame, out: Path, seeds: pd.DataFrame | None = None) -> None:
    """Write ``comparison.md`` and ``comparison.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(to_markdown(suite, folds, seeds))
    plot(folds, out / "comparison.png")
