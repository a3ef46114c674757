"""Members on the comparison suite: the defaults against ensembles with and without
``member_rows="folds"`` and early stopping, and against a batched search over ``alpha``
and ``learning_rate_init`` (``BatchedSearchCV``, with and without greedy ensemble
selection), on the suite's own folds.

    ./dev python benchmarks/members_suite.py            # every data set, every variant
    ./dev python benchmarks/members_suite.py diabetes   # those whose name matches
    ./dev python benchmarks/members_suite.py --variants defaults search diabetes

Prints, per data set, each variant's mean held-out score (R² or accuracy) over the
suite's 5 folds and its median fit time, then each variant's mean rank and its wins
against the defaults. The peers' figures are in ``docs/comparison.md`` (same folds).
Figures for choosing defaults, not a cache: nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from statistics import median

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from compare import fit_and_score, folds_of  # noqa: E402
from compare_suite import SEED, load_suite  # noqa: E402

from torchsk import BatchedSearchCV, TorchClassifier, TorchRegressor  # noqa: E402

#: The grid of the search variants: 8 candidates around the defaults.
GRID = {"alpha": [0.03, 0.3, 1.0, 3.0], "learning_rate_init": [1e-3, 3e-3]}


def _search(estimator_params=None, **search_params):
    """A variant that searches ``GRID`` (5 folds) around the defaults (with
    ``estimator_params`` on top); classifiers select on log-loss."""

    def build(cls):
        scoring = "neg_log_loss" if cls is TorchClassifier else None
        est = cls(random_state=SEED, **(estimator_params or {}))
        return BatchedSearchCV(est, GRID, scoring=scoring, **search_params)

    return build


#: The variants, by name: keyword arguments on top of the defaults, or a builder.
VARIANTS = {
    "defaults": {},
    "8 members": {"n_ensemble": 8},
    "8 folds": {"n_ensemble": 8, "member_rows": "folds"},
    "8 folds + early stopping": {"n_ensemble": 8, "member_rows": "folds", "early_stopping": True},
    "search": _search(),
    "search + greedy": _search(ensemble="greedy"),
    "search + greedy, fold members": _search(ensemble="greedy", refit=False),
    "search + early stopping + greedy": _search({"early_stopping": True}, ensemble="greedy"),
}


def _build(cls, variant):
    spec = VARIANTS[variant]
    return spec(cls) if callable(spec) else cls(random_state=SEED, **spec)


def run(names: list[str], variants=tuple(VARIANTS)) -> pd.DataFrame:
    """One row per (data set, variant): mean score and median fit time over the folds."""
    suite = load_suite()
    rows = []
    for name, data in suite.items():
        if names and not any(n.lower() in name.lower() for n in names):
            continue
        cls = TorchRegressor if data.task == "regression" else TorchClassifier
        for variant in variants:
            results = [
                fit_and_score(_build(cls, variant), data, train, test)
                for train, test in folds_of(data)
            ]
            rows.append({
                "data set": name, "variant": variant,
                "score": float(np.mean([r["score"] for r in results])),
                "fit_s": median(r["fit_s"] for r in results),
            })  # fmt: skip
            print(f"{name:40s} {variant:26s} {rows[-1]['score']:.4f} {rows[-1]['fit_s']:.2f}s",
                  flush=True)  # fmt: skip
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean rank (1 = best) and wins over the defaults, per variant."""
    scores = table.pivot(index="data set", columns="variant", values="score")
    ranks = scores.rank(axis=1, ascending=False).mean()
    wins = (scores.sub(scores["defaults"], axis=0) > 0).sum()
    times = table.pivot(index="data set", columns="variant", values="fit_s").median()
    return pd.DataFrame({"mean rank": ranks, "wins vs defaults": wins, "median fit s": times})


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="data set name substrings (default: all)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    table = run(args.names, args.variants)
    print()
    print(summary(table).round(3).to_string())
