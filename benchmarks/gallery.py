"""scikit-learn's MLP gallery scripts, as written and with only the class swapped.

    ./dev python benchmarks/gallery.py PATH/TO/scikit-learn/examples [NAME ...]

The scripts stay in scikit-learn's checkout (they are not copied here): pass its
``examples/`` directory; NAMEs pick scripts whose path contains one of them. Each
script runs twice, each time in its own process: as written, and with
``sklearn.neural_network.MLPRegressor`` / ``MLPClassifier`` replaced by
``TorchRegressor`` / ``TorchClassifier`` before it starts, so its own
``from sklearn.neural_network import MLPClassifier`` gets torchsk's class and
nothing else in it changes. Both runs get:

- matplotlib's non-interactive Agg backend (``plt.show()`` draws nothing);
- bundled data for what the scripts download: ``fetch_openml("mnist_784")`` gives
  ``benchmarks/mnist_shaped.py``'s 70,000 MNIST-shaped rows (scikit-learn's digits
  zoomed into 28 × 28), ``fetch_california_housing`` a synthetic table of California
  housing's shape, column names and ranges (``california_shaped``). Their scores
  compare the two runs with each other, not with the gallery's published ones;
- a record of every ``score`` an estimator computes (``ClassifierMixin.score``,
  ``RegressorMixin.score``: also a pipeline's last step), in order.

It prints, per script: ran ok or the error, the wall time, and the scores of the
MLP (or torchsk) estimators of both runs side by side, with the largest drop.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: The gallery scripts, relative to scikit-learn's ``examples/``.
SCRIPTS = (
    "neural_networks/plot_mlp_alpha.py",
    "neural_networks/plot_mlp_training_curves.py",
    "neural_networks/plot_mnist_filters.py",
    "inspection/plot_partial_dependence.py",
    "miscellaneous/plot_partial_dependence_visualization_api.py",
    "classification/plot_classifier_comparison.py",
)

MLP_NAMES = {"MLPClassifier", "MLPRegressor", "TorchClassifier", "TorchRegressor"}

#: A swapped score this much below the original's is reported as worse.
WORSE_BY = 0.02

CALIFORNIA_COLUMNS = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population",
                      "AveOccup", "Latitude", "Longitude"]  # fmt: skip


# ---------------------------------------------------------------- bundled data
def california_shaped(n: int = 20_640, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic rows with California housing's columns, rough ranges and skew
    (incomes and occupancies log-normal with far outliers, ages capped at 52, two
    coastal price centres), and a median house value in $100,000s capped at 5 as
    the census data is: mostly income, location and occupancy, with an interaction
    of occupancy and age, and noise."""
    rng = np.random.default_rng(seed)
    income = np.clip(rng.lognormal(np.log(3.5), 0.45, n), 0.5, 15.0)
    age = np.minimum(rng.integers(1, 60, n), 52).astype(float)
    rooms = rng.lognormal(np.log(5.2), 0.25, n) * np.where(rng.random(n) < 0.005, 8, 1)
    bedrooms = rooms * np.clip(rng.normal(0.21, 0.03, n), 0.1, 0.5)
    population = np.round(rng.lognormal(np.log(1166), 0.7, n))
    occupancy = rng.lognormal(np.log(2.9), 0.25, n) * np.where(rng.random(n) < 0.002, 30, 1)
    latitude = np.where(rng.random(n) < 0.55, rng.normal(34.1, 0.6, n), rng.normal(37.8, 1.0, n))
    latitude = np.clip(latitude, 32.5, 42.0)
    longitude = -118.2 - 1.1 * (latitude - 34.1) + rng.normal(0, 0.8, n)
    coast = np.exp(-(((latitude - 34.0) / 0.5) ** 2)) + np.exp(-(((latitude - 37.7) / 0.4) ** 2))
    inland = np.clip(longitude + 118.2 + 1.1 * (latitude - 34.1), 0, None)
    value = (0.4 * income + 0.9 * coast - 0.5 * inland
             - 0.4 * np.log(occupancy) * (1 + (age < 20)) + 0.004 * age
             + rng.normal(0, 0.45, n) + 0.6)  # fmt: skip
    X = np.c_[income, age, rooms, bedrooms, population, occupancy, latitude, longitude]
    return X, np.clip(value, 0.15, 5.0)


def fetch_california_housing(*, return_X_y=False, as_frame=False, **_):
    """``sklearn.datasets.fetch_california_housing`` on ``california_shaped`` rows."""
    from sklearn.utils import Bunch

    X, y = california_shaped()
    frame = None
    if as_frame:
        import pandas as pd

        X, y = pd.DataFrame(X, columns=CALIFORNIA_COLUMNS), pd.Series(y, name="MedHouseVal")
        frame = pd.concat([X, y], axis=1)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, frame=frame, feature_names=CALIFORNIA_COLUMNS,
                 target_names=["MedHouseVal"], DESCR="California-shaped, synthetic")  # fmt: skip


def fetch_openml(name=None, *, return_X_y=False, as_frame="auto", **_):
    """``sklearn.datasets.fetch_openml`` for ``"mnist_784"`` only: 70,000 MNIST-shaped
    rows, as OpenML's (pixel columns ``pixel1``..., labels the strings "0"-"9")."""
    if name != "mnist_784":
        raise ValueError(f"gallery.py has no bundled stand-in for OpenML's {name!r}.")
    sys.path.insert(0, str(HERE))
    from mnist_shaped import mnist_shaped
    from sklearn.utils import Bunch

    X, digits = mnist_shaped(70_000)
    y = digits.astype(str).astype(object)
    columns = [f"pixel{k}" for k in range(1, 785)]
    if as_frame in (True, "auto"):  # "auto": a DataFrame for this dense data set
        import pandas as pd

        X = pd.DataFrame(X, columns=columns)
        y = pd.Series(pd.Categorical(y, categories=[str(k) for k in range(10)]), name="class")
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, feature_names=columns, target_names=["class"])


# ---------------------------------------------------------------- one run (a child process)
def _record_scores(scores: list) -> None:
    """Make every estimator's ``score`` append ``[class name, value]`` to ``scores``."""
    from sklearn.base import ClassifierMixin, RegressorMixin

    for mixin in (ClassifierMixin, RegressorMixin):
        original = mixin.score

        def score(self, X, y, sample_weight=None, _original=original, **kwargs):
            value = _original(self, X, y, sample_weight=sample_weight, **kwargs)
            scores.append([type(self).__name__, float(value)])
            return value

        mixin.score = score


def _patch(swap: bool) -> None:
    """Bundled data for both runs; torchsk's classes in place of the MLP's for one."""
    import sklearn.datasets
    import sklearn.neural_network

    sklearn.datasets.fetch_openml = fetch_openml
    sklearn.datasets.fetch_california_housing = fetch_california_housing
    if swap:
        from torchsk import TorchClassifier, TorchRegressor

        sklearn.neural_network.MLPClassifier = TorchClassifier
        sklearn.neural_network.MLPRegressor = TorchRegressor


def run_one(script: Path, swap: bool, out: Path) -> None:
    """Run ``script`` as ``__main__`` in this process and write what happened to ``out``."""
    import runpy
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    scores: list = []
    _record_scores(scores)
    _patch(swap)
    result = {"ok": True, "error": None}
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            runpy.run_path(str(script), run_name="__main__")
        except BaseException as e:  # SystemExit too: the script's outcome is the record
            result = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
            traceback.print_exc()
    result.update(seconds=time.perf_counter() - start, scores=scores,
                  warnings=sorted({f"{w.category.__name__}: {str(w.message)[:160]}"
                                   for w in caught}))  # fmt: skip
    out.write_text(json.dumps(result))


# ---------------------------------------------------------------- both runs, side by side
def run_twice(script: Path, logs: Path) -> dict:
    """Both runs of ``script``, each in a fresh interpreter (its output in ``logs``)."""
    results = {}
    for label, swap in (("original", False), ("torchsk", True)):
        out = logs / f"{script.stem}.{label}.json"
        with open(logs / f"{script.stem}.{label}.log", "w") as log:
            subprocess.run(
                [sys.executable, __file__, "--child", str(script), str(out)]
                + (["--swap"] if swap else []),
                stdout=log, stderr=subprocess.STDOUT, check=False,
                env={**os.environ, "MPLBACKEND": "Agg"},
            )  # fmt: skip
        default = {"ok": False, "error": "the run died (see its log)", "scores": [],
                   "seconds": float("nan"), "warnings": []}  # fmt: skip
        results[label] = json.loads(out.read_text()) if out.exists() else default
    return results


def mlp_scores(result: dict) -> list[float]:
    """The scores a run's MLP (or torchsk) estimators computed, in order."""
    return [value for name, value in result["scores"] if name in MLP_NAMES]


def report(name: str, results: dict) -> str:
    """The lines printed for one script."""
    lines = [name]
    for label, result in results.items():
        outcome = "ok" if result["ok"] else f"error: {result['error']}"
        scores = " ".join(f"{s:.3f}" for s in mlp_scores(result)) or "-"
        lines.append(f"  {label:8s} {result['seconds']:7.1f} s  {outcome}")
        lines.append(f"           scores: {scores}")
    before, after = (mlp_scores(results[k]) for k in ("original", "torchsk"))
    if before and len(before) == len(after):
        drops = np.subtract(before, after)
        worst = int(np.argmax(drops))
        flag = f"  <-- worse by more than {WORSE_BY}" if drops[worst] > WORSE_BY else ""
        lines.append(f"  largest drop: {drops[worst]:+.3f} (score {worst + 1}){flag}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the scripts (all, or those named) twice each and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", type=Path, help="scikit-learn's examples/ directory")
    parser.add_argument("names", nargs="*", help="only the scripts whose path has one")
    parser.add_argument("--logs", type=Path, default=None, help="where the runs' output goes")
    args = parser.parse_args(argv)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="torchsk-gallery-"))
    logs.mkdir(parents=True, exist_ok=True)
    import sklearn
    import torch

    threads = torch.get_num_threads()
    print(f"scikit-learn {sklearn.__version__}, torch {torch.__version__}, {threads} threads, "
          f"{time.strftime('%Y-%m-%d')}; logs: {logs}")  # fmt: skip
    for relative in SCRIPTS:
        if args.names and not any(n in relative for n in args.names):
            continue
        script = args.examples / relative
        if not script.exists():
            print(f"{relative}\n  missing in {args.examples}")
            continue
        print(report(relative, run_twice(script, logs)), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_one(Path(sys.argv[2]), "--swap" in sys.argv, Path(sys.argv[3]))
    else:
        main()
