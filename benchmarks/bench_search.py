"""The batched search against GridSearchCV, side by side (issue 27's case a).

24 candidates (6 ``alpha`` × 4 ``learning_rate_init``) × 5 folds on diabetes (442 × 10)
and on a 3,000 × 20 friedman1 table, each contestant once per round, in turns:

- ``BatchedSearchCV(TorchRegressor(...))``: the 120 (candidate, fold) fits as the
  members of one stacked network; with ``separate_folds=True`` one network per fold
  (24 members on the fold's rows: GridSearchCV's scores to float rounding); with
  ``n_jobs=2``, two networks of 12 candidates × 5 folds, one in each of two processes;
- ``GridSearchCV(TorchRegressor(...))`` with ``n_jobs=1`` and ``n_jobs=2``;
- ``GridSearchCV(MLPRegressor(...))`` on the same grid, ``n_jobs=1``.

Every estimator has the defaults but ``max_iter`` (the epochs each fit may run) and
``random_state``. Prints each one's median wall time, the ratios to the batched
search, each search's ``best_params_`` and whether the batched search's best is
GridSearchCV's, or within one fold standard deviation of its best score. Exits
non-zero when the batched search misses its targets (with ``n_jobs=2``, ≤ 1/8 of
``GridSearchCV(n_jobs=2)`` over ``TorchRegressor``; in one process, ≤ 1/3 of
``GridSearchCV`` over ``MLPRegressor``).

    ./dev bench search                  # both problems, 3 rounds
    ./dev bench search --max-iter 20 --repeats 1   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPRegressor

from torchsk import BatchedSearchCV, TorchRegressor

sys.path.insert(0, str(Path(__file__).parent))
from bench_speed import interleaved  # noqa: E402

warnings.filterwarnings("ignore")  # the fixed-epoch fits' ConvergenceWarnings

GRID = {
    "alpha": [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0],
    "learning_rate_init": [3e-4, 1e-3, 3e-3, 1e-2],
}
FOLDS = KFold(5, shuffle=True, random_state=0)


def problems() -> dict:
    """The two tables of the case."""
    return {
        "diabetes": load_diabetes(return_X_y=True),
        "friedman1_3000x20": make_friedman1(n_samples=3000, n_features=20, noise=1.0,
                                            random_state=0),
    }  # fmt: skip


def contestants(X, y, max_iter: int) -> dict:
    """The searches, each a callable that fits and returns the fitted search."""
    torch_est = TorchRegressor(max_iter=max_iter, random_state=0)
    mlp = MLPRegressor(max_iter=max_iter, random_state=0)
    return {
        "batched": lambda: BatchedSearchCV(torch_est, GRID, cv=FOLDS, refit=False).fit(X, y),
        "batched_2jobs": lambda: BatchedSearchCV(
            torch_est, GRID, cv=FOLDS, refit=False, n_jobs=2
        ).fit(X, y),
        "batched_separate": lambda: BatchedSearchCV(
            torch_est, GRID, cv=FOLDS, refit=False, separate_folds=True
        ).fit(X, y),
        "grid_torchsk_1": lambda: GridSearchCV(torch_est, GRID, cv=FOLDS, refit=False).fit(X, y),
        "grid_torchsk_2": lambda: GridSearchCV(
            torch_est, GRID, cv=FOLDS, refit=False, n_jobs=2
        ).fit(X, y),
        "grid_mlp_1": lambda: GridSearchCV(mlp, GRID, cv=FOLDS, refit=False).fit(X, y),
    }


def agreement(batched, grid) -> str:
    """Whether the batched search's best is the grid's, or within one fold standard
    deviation of the grid's best score (scored by the grid's own fits)."""
    if batched.best_params_ == grid.best_params_:
        return "same best_params_"
    mine = grid.cv_results_["mean_test_score"][batched.best_index_]
    gap = grid.best_score_ - mine
    std = grid.cv_results_["std_test_score"][grid.best_index_]
    return f"other best, {gap:.4f} below the grid's best ({'within' if gap <= std else 'beyond'} one std {std:.4f})"  # noqa: E501


def main(argv=None) -> int:
    """Run the case; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"date {time.strftime('%F')}, max_iter={args.max_iter}, {args.repeats} rounds")
    ok = True
    for name, (X, y) in problems().items():
        res = interleaved(contestants(X, y, args.max_iter), args.repeats)
        base = res["batched"].median
        times = ", ".join(f"{k} {v.median:.2f} s" for k, v in res.items())
        ratios = {k: res[k].median / base for k in res if k != "batched"}
        print(f"{name}: {times}")
        print("  times / batched: " + ", ".join(f"{k} {r:.2f}x" for k, r in ratios.items()))
        b, g = res["batched"].result, res["grid_torchsk_1"].result
        print(f"  best: batched {b.best_params_} ({b.best_score_:.4f}),")
        print(f"  GridSearchCV {g.best_params_} ({g.best_score_:.4f}): {agreement(b, g)}")
        sep = res["batched_separate"].result
        diff = max(abs(sep.cv_results_[k] - g.cv_results_[k]).max()
                   for k in g.cv_results_ if k.startswith("split"))  # fmt: skip
        print(f"  separate_folds=True: {agreement(sep, g)}; its split scores are "
              f"GridSearchCV's within {diff:.1e}")  # fmt: skip
        print(f"  MLPRegressor's best: {res['grid_mlp_1'].result.best_params_} "
              f"({res['grid_mlp_1'].result.best_score_:.4f})")  # fmt: skip
        # two processes against two: the batched search with n_jobs=2 (its candidates cut
        # into two networks) against GridSearchCV's n_jobs=2
        two = res["grid_torchsk_2"].median / res["batched_2jobs"].median
        print(f"  GridSearchCV(n_jobs=2) / batched_2jobs: {two:.2f}x")
        ok &= two >= 8 and ratios["grid_mlp_1"] >= 3
    print("targets (>= 8x GridSearchCV(n_jobs=2), both with n_jobs=2; >= 3x MLPRegressor's):",
          "met" if ok else "MISS")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
