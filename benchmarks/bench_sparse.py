"""Sparse X: fit and predict at 100k x 10k, 0.1% density, against a dense copy's size
and against scikit-learn's MLP on the same data.

Each model runs in a fresh subprocess (its own peak memory: ``ru_maxrss``), on the
same CSR matrix (float32, built there from the same seed), with each library's
defaults and ``max_iter`` epochs. Reported per model: fit and predict seconds, the
training score, the process's peak resident memory, and the rise of that peak over
what the process held once the data were built (imports and X included). The target:
torchsk's peak below the size of a dense float32 copy of X (4 GB). Timings are those
of one run on a shared machine: noisy.

    ./dev bench sparse                    # 100k x 10k, 0.1%, 3 epochs, both tasks
    ./dev bench sparse --rows 20000       # smaller
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

MODELS = {
    "torchsk_classifier": ("torchsk", "TorchClassifier"),
    "sklearn_classifier": ("sklearn.neural_network", "MLPClassifier"),
    "torchsk_regressor": ("torchsk", "TorchRegressor"),
    "sklearn_regressor": ("sklearn.neural_network", "MLPRegressor"),
}


def make_data(n_rows: int, n_cols: int, density: float, seed: int = 0):
    """A CSR float32 X of about ``density`` stored entries (without the dense-sized
    draws ``scipy.sparse.random`` can make), a linear regression target on it, and
    labels (above the median)."""
    rng = np.random.default_rng(seed)
    nnz = int(n_rows * n_cols * density)
    rows, cols = rng.integers(0, n_rows, nnz), rng.integers(0, n_cols, nnz)
    values = rng.normal(size=nnz).astype(np.float32)
    X = sp.csr_matrix((values, (rows, cols)), shape=(n_rows, n_cols), dtype=np.float32)
    X.sum_duplicates()
    y = X @ rng.normal(size=n_cols) + 0.1 * rng.normal(size=n_rows)
    return X, y, (y > np.median(y)).astype(int)


def peak_mb() -> float:
    """This process's peak resident memory so far (Linux: kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(name: str, args) -> dict:
    """Fit and predict one model here (the subprocess's job)."""
    warnings.filterwarnings("ignore")  # ConvergenceWarnings of the fixed-epoch runs
    module, cls = MODELS[name]
    Est = getattr(__import__(module, fromlist=[cls]), cls)
    X, y, labels = make_data(args.rows, args.cols, args.density)
    target = labels if "classifier" in name else y
    held = peak_mb()
    est = Est(max_iter=args.epochs, random_state=0)
    start = time.perf_counter()
    est.fit(X, target)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = est.predict(X)
    predict_s = time.perf_counter() - start
    score = float(est.score(X, target))
    assert len(pred) == args.rows
    peak = peak_mb()
    return dict(
        fit_s=round(fit_s, 1), predict_s=round(predict_s, 2), train_score=round(score, 3),
        peak_mb=round(peak), peak_rise_mb=round(peak - held), data_mb=round(held),
        sparse_mb=round((X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20, 1),
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cols", type=int, default=10_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--one", choices=list(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args)))
        return 0
    dense_mb = args.rows * args.cols * 4 / 2**20
    import torch

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, date "
        f"{time.strftime('%Y-%m-%d')}; X {args.rows} x {args.cols}, density {args.density}, "
        f"{args.epochs} epochs; a dense float32 copy: {dense_mb:.0f} MB"
    )
    results, ok = {}, True
    for name in MODELS:
        cmd = [sys.executable, __file__, "--one", name] + sys.argv[1:]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{name}: FAILED\n{done.stderr[-2000:]}")
            ok = False
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        fields = ", ".join(f"{k}={v}" for k, v in results[name].items())
        print(f"{name}: {fields}")
    for task in ("classifier", "regressor"):
        ours, theirs = results.get(f"torchsk_{task}"), results.get(f"sklearn_{task}")
        if ours is None or theirs is None:
            continue
        passed = ours["peak_mb"] < dense_mb
        ok &= passed
        print(
            f"sparse_{task}: {'PASS' if passed else 'MISS'}  "
            f"peak_vs_dense_copy={ours['peak_mb'] / dense_mb:.3f}, "
            f"peak_vs_sklearn={ours['peak_mb'] / theirs['peak_mb']:.2f}, "
            f"fit_time_vs_sklearn={ours['fit_s'] / theirs['fit_s']:.2f}, "
            f"predict_time_vs_sklearn={ours['predict_s'] / max(theirs['predict_s'], 0.01):.2f}, "
            "target=peak memory below a dense float32 copy of X"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
