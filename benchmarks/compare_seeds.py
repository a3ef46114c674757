"""torchsk's defaults at other seeds: how much of the comparison's criteria is the seed's.

The comparison fits every model once, torchsk's defaults at ``random_state=0``. A
difference of a few thousandths on one seed (an accuracy over a few hundred rows, an R²
over two extrapolation folds) can be the seed's alone, so the defaults are fitted again
at ``compare_suite.SPREAD_SEEDS`` (``./dev compare --models torchsk-seeds``, cached as
every model is) and the criteria that hold their mean score against a peer's are counted
again at each seed and on the mean over the seeds. The peers keep their one fit each.
"""

from __future__ import annotations

import pandas as pd
from compare_report import (
    _EPS,
    EXTRAPOLATION,
    LINEAR,
    MARGIN,
    REALMLP,
    SHUFFLED,
    TORCHSK,
    _fmt,
    _md_table,
    per_dataset,
)

TABM = "tabm-d"
_PEERS = ((TABM, "TabM-D"), (REALMLP, "RealMLP-TD"))


def seed_scores(table: pd.DataFrame, seeds: pd.DataFrame) -> pd.DataFrame:
    """torchsk's mean score per seed on each (data set, folds) it has at every seed.

    Parameters
    ----------
    table : pandas.DataFrame
        ``compare_report.per_dataset`` of the compared models.
    seeds : pandas.DataFrame
        The fold results of ``compare_suite.SEED_MODELS`` (``compare.collect``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(dataset, folds)``: one column per seed (0 is the comparison's fit),
        ``mean`` and ``spread`` (largest minus smallest) over them, and the linear
        model's, RealMLP-TD's and TabM-D's scores where they ran.
    """
    others = per_dataset(seeds)
    others = others.assign(seed=others["slug"].str.removeprefix(f"{TORCHSK}-seed").astype(int))
    ours = table[table["slug"] == TORCHSK].assign(seed=0)
    wide = pd.concat([ours, others]).pivot_table(
        index=["dataset", "folds"], columns="seed", values="score", sort=False
    )
    wide = wide.dropna()  # every seed there
    scores = wide.assign(mean=wide.mean(axis=1), spread=wide.max(axis=1) - wide.min(axis=1))
    peers = table.pivot_table(index=["dataset", "folds"], columns="slug", values="score")
    wanted = [slug for slug in (LINEAR, REALMLP, TABM) if slug in peers]
    return scores.join(peers[wanted], how="left")


def _seed_columns(scores: pd.DataFrame) -> list:
    return [c for c in scores.columns if isinstance(c, int)]


def criteria(scores: pd.DataFrame) -> list[tuple]:
    """``(criterion, count at each seed, count on the mean over seeds)``: better than
    TabM-D and RealMLP-TD (shuffled folds), and no more than ``MARGIN`` below the linear
    model's score (shuffled; extrapolation)."""
    seeds = _seed_columns(scores)
    rows = []
    shuffled = scores.xs(SHUFFLED, level="folds")
    for slug, name in _PEERS:
        if slug not in shuffled:
            continue
        have = shuffled[shuffled[slug].notna()]
        count = [int((have[c] > have[slug]).sum()) for c in (*seeds, "mean")]
        rows.append((f"better than {name} (of {len(have)} data sets)", count[:-1], count[-1]))
    for folds in (SHUFFLED, EXTRAPOLATION):
        if LINEAR not in scores or folds not in scores.index.get_level_values("folds"):
            continue
        part = scores.xs(folds, level="folds")
        count = [int((part[c] >= part[LINEAR] - MARGIN - _EPS).sum()) for c in (*seeds, "mean")]
        rows.append((f"score never more than {MARGIN} below the linear model's, {folds} folds "
                     f"(of {len(part)} data sets)", count[:-1], count[-1]))  # fmt: skip
    return rows


def seeds_section(table: pd.DataFrame, seeds: pd.DataFrame) -> list[str]:
    """The report's section on the seeds (empty without their results)."""
    if seeds is None or seeds.empty:
        return []
    scores = seed_scores(table, seeds)
    if scores.empty:
        return []
    columns = _seed_columns(scores)
    label = ", ".join(str(c) for c in columns)
    lines = [
        "## torchsk's defaults at other seeds", "",
        f"The defaults fitted again with `random_state` {label} (0 is the comparison's fit), "
        "the same folds; the peers keep their one fit. A criterion that moves with the seed "
        "holds, or fails, by the seed's luck: read its count on the mean over the seeds. "
        "The margin to the linear model is taken on the score alone here (the acceptance "
        "table also holds the classifiers' log-loss to it).", "",
    ]  # fmt: skip
    counted = [[name, ", ".join(map(str, at)), str(mean)] for name, at, mean in criteria(scores)]
    lines += _md_table(["criterion", f"count at seeds {label}", "on the mean over seeds"], counted)
    others = ", ".join(str(c) for c in columns[1:])
    rows = [
        [dataset, folds, _fmt(r[0]), ", ".join(_fmt(r[c]) for c in columns[1:]),
         f"{_fmt(r['mean'])} ({_fmt(r['spread'])})", _fmt(r.get(LINEAR)), _fmt(r.get(TABM))]
        for (dataset, folds), r in scores.iterrows()
    ]  # fmt: skip
    header = ["data set", "folds", "seed 0", f"seeds {others}", "mean (spread)", "linear",
              "TabM-D"]  # fmt: skip
    return [*lines, "", *_md_table(header, rows), ""]
