"""Cross-fitted members on the comparison suite: the defaults against ensembles with and
without ``member_rows="folds"`` and early stopping, on the suite's own folds.

    ./dev python benchmarks/members_suite.py            # every data set
    ./dev python benchmarks/members_suite.py diabetes   # those whose name matches

Prints, per data set, each variant's mean held-out score (R² or accuracy) over the
suite's 5 folds and its median fit time, then each variant's mean rank and its wins
against the defaults. The peers' figures are in ``docs/comparison.md`` (same folds).
Figures for choosing defaults, not a cache: nothing is written.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from statistics import median

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from compare import fit_and_score, folds_of  # noqa: E402
from compare_suite import SEED, load_suite  # noqa: E402

from torchsk import TorchClassifier, TorchRegressor  # noqa: E402

#: The variants, by name: keyword arguments on top of the defaults.
VARIANTS = {
    "defaults": {},
    "8 members": {"n_ensemble": 8},
    "8 folds": {"n_ensemble": 8, "member_rows": "folds"},
    "8 folds + early stopping": {"n_ensemble": 8, "member_rows": "folds", "early_stopping": True},
}


def run(names: list[str]) -> pd.DataFrame:
    """One row per (data set, variant): mean score and median fit time over the folds."""
    suite = load_suite()
    rows = []
    for name, data in suite.items():
        if names and not any(n.lower() in name.lower() for n in names):
            continue
        cls = TorchRegressor if data.task == "regression" else TorchClassifier
        for variant, params in VARIANTS.items():
            results = [
                fit_and_score(cls(random_state=SEED, **params), data, train, test)
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
    table = run(sys.argv[1:])
    print()
    print(summary(table).round(3).to_string())
