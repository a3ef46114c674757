"""How far the batched search's default layout scores from GridSearchCV (docs/search.md).

The default layout trains every (candidate, fold) pair as a member of one network that
shares its input statistics, target scaling and mini-batches ("close, not equal");
``separate_folds=True`` gives GridSearchCV's fold scores to float rounding. This
prints, for the bench's grid (``bench_search.GRID``, 24 candidates x 5 folds) on a
regression (diabetes, R²) and a classification (breast cancer, log-loss and accuracy),
how far each candidate's ``mean_test_score`` lies from ``GridSearchCV``'s, whether
the ranks agree, and whether both pick the same best candidate. No timing: run it
beside other work.

    ./dev python benchmarks/search_agreement.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from torchsk import BatchedSearchCV, TorchClassifier, TorchRegressor

sys.path.insert(0, str(Path(__file__).parent))
from bench_search import FOLDS, GRID  # noqa: E402

warnings.filterwarnings("ignore")  # the fixed-epoch fits' ConvergenceWarnings


def cases(max_iter: int) -> dict:
    """(estimator, X, y, cv, scoring) per problem."""
    X, y = load_diabetes(return_X_y=True)
    Xc, yc = load_breast_cancer(return_X_y=True)
    stratified = StratifiedKFold(5, shuffle=True, random_state=0)
    return {
        "diabetes, r2": (TorchRegressor(max_iter=max_iter, random_state=0), X, y, FOLDS, "r2"),
        "breast cancer, neg_log_loss": (
            TorchClassifier(max_iter=max_iter, random_state=0), Xc, yc, stratified,
            "neg_log_loss",
        ),
        "breast cancer, accuracy": (
            TorchClassifier(max_iter=max_iter, random_state=0), Xc, yc, stratified, "accuracy",
        ),
    }  # fmt: skip


def compare(batched, grid) -> str:
    """The gaps between the two searches' mean test scores, one line."""
    b, g = batched.cv_results_["mean_test_score"], grid.cv_results_["mean_test_score"]
    gaps = np.abs(b - g)
    rho = spearmanr(b, g).statistic
    same = batched.best_params_ == grid.best_params_
    mine = g[batched.best_index_]  # the batched search's pick, scored by GridSearchCV
    return (
        f"|mean_test_score gap| median {np.median(gaps):.4f}, max {gaps.max():.4f}; "
        f"ranks' Spearman {rho:.3f}; best_score_ {batched.best_score_:.4f} vs "
        f"{grid.best_score_:.4f}; {'same best_params_' if same else 'other best_params_'}"
        f" (its GridSearchCV score {mine:.4f})"
    )


def main(max_iter: int = 200) -> None:
    """Run both searches on each problem and print how they compare."""
    print(f"date {time.strftime('%F')}, max_iter={max_iter}, grid {GRID}")
    for name, (est, X, y, cv, scoring) in cases(max_iter).items():
        kw = dict(cv=cv, scoring=scoring, refit=False)
        batched = BatchedSearchCV(est, GRID, **kw).fit(X, y)
        grid = GridSearchCV(est, GRID, **kw).fit(X, y)
        print(f"{name}: {compare(batched, grid)}", flush=True)


if __name__ == "__main__":
    main()
