"""The penguins walkthrough: torchsk against scikit-learn on raw, unscaled data.

Regression: flipper length → body mass (training R², as the course reports it).
Classification: bill length and depth → species (5-fold cross-validated accuracy).
Prints a table and writes ``docs/penguins.png``: the fitted curves of MLPRegressor and
TorchRegressor for seeds 0-4 side by side, with each seed's R², and the classifiers'
decision regions.

Run: ``./dev demo`` (or ``python benchmarks/penguins.py --out PATH``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from palmerpenguins import load_penguins  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.inspection import DecisionBoundaryDisplay  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

from torchsk import TorchClassifier, TorchRegressor  # noqa: E402

SEED = 0
SEEDS = range(5)  # MLPRegressor on raw data ends at R² 0.0, 0.76 or 0.78 across these
LINE_STYLES = ["-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2))]
MLP_SETTINGS = dict(hidden_layer_sizes=(5,), solver="lbfgs", alpha=0.0, max_iter=1000)


def penguins():
    """Penguins rows with the four measurements and the species, NaN rows dropped."""
    cols = ["flipper_length_mm", "body_mass_g", "bill_length_mm", "bill_depth_mm"]
    return load_penguins().dropna(subset=cols + ["species"]).reset_index(drop=True)


def regressors():
    """The course's regression models, all on raw inputs."""
    return {
        "LinearRegression": LinearRegression(),
        "MLPRegressor (5,) lbfgs": MLPRegressor(**MLP_SETTINGS, random_state=SEED),
        "TorchRegressor (5,) lbfgs": TorchRegressor(**MLP_SETTINGS, random_state=SEED),
        "TorchRegressor () linear": TorchRegressor(
            hidden_layer_sizes=(), solver="lbfgs", alpha=0.0, random_state=SEED
        ),
    }


def classifiers():
    """The course's classification models, all on raw inputs."""
    return {
        "LogisticRegression": LogisticRegression(max_iter=1000),
        "MLPClassifier": MLPClassifier(random_state=SEED, max_iter=1000),
        "TorchClassifier": TorchClassifier(random_state=SEED),
    }


def timed_fit(model, X, y, repeats: int = 3):
    """Fit ``model`` ``repeats`` times; return the median wall time in seconds.

    The median keeps one-off costs (torch's lazy initialization on a first fit) out.
    """
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def seed_fits(X, y) -> dict[str, list]:
    """MLPRegressor and TorchRegressor with the course's settings, fitted once per seed."""
    return {
        name: [cls(**MLP_SETTINGS, random_state=seed).fit(X, y) for seed in SEEDS]
        for name, cls in [("MLPRegressor", MLPRegressor), ("TorchRegressor", TorchRegressor)]
    }


def plot_seeds(ax, name: str, fits: list, X, y, reference) -> list[float]:
    """One fitted curve per seed, R² in the legend, over the data; return the R² values."""
    grid = np.linspace(X.min() - 5, X.max() + 5, 300).reshape(-1, 1)
    ax.scatter(X, y, s=12, c="lightgrey", label="penguins")
    ax.plot(grid, reference.predict(grid), c="black", lw=1,
            label=f"LinearRegression: R² {reference.score(X, y):.3f}")  # fmt: skip
    scores = [model.score(X, y) for model in fits]
    for seed, model, score, style in zip(SEEDS, fits, scores, LINE_STYLES, strict=True):
        ax.plot(grid, model.predict(grid), ls=style, lw=2.5, label=f"seed {seed}: R² {score:.3f}")
    ax.set(xlabel="flipper length (mm)", ylabel="body mass (g)")
    ax.set_title(f"{name} (5,) lbfgs, raw data: R² {min(scores):.3f} to {max(scores):.3f}")
    ax.legend(loc="upper left", fontsize=11)
    return scores


def run(out: Path) -> tuple[list[tuple[str, str, float, float]], dict[str, list[float]]]:
    """Fit every model, print the tables, write the figure.

    Returns the table's rows ``(task, model, score, fit seconds)`` and, per network,
    the training R² of each seed in ``SEEDS``.
    """
    df = penguins()
    Xr, yr = df[["flipper_length_mm"]].to_numpy(), df["body_mass_g"].to_numpy()
    Xc, yc = df[["bill_length_mm", "bill_depth_mm"]].to_numpy(), df["species"].to_numpy()
    rows = []
    with plt.rc_context({"font.size": 13, "axes.titlesize": 14}):
        fig = plt.figure(figsize=(16, 10.5), layout="constrained")
        grid = fig.add_gridspec(2, 6)
        top = [fig.add_subplot(grid[0, :3])]
        top.append(fig.add_subplot(grid[0, 3:], sharey=top[0]))
        bottom = [fig.add_subplot(grid[1, 2 * i : 2 * i + 2]) for i in range(3)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for name, model in regressors().items():
                seconds = timed_fit(model, Xr, yr)
                rows.append(("body mass", name, model.score(Xr, yr), seconds))
            linear = LinearRegression().fit(Xr, yr)
            by_seed = {
                name: plot_seeds(ax, name, fits, Xr, yr, linear)
                for ax, (name, fits) in zip(top, seed_fits(Xr, yr).items(), strict=True)
            }
            for ax, (name, model) in zip(bottom, classifiers().items(), strict=True):
                cv = cross_val_score(model, Xc, yc, cv=5)
                seconds = timed_fit(model, Xc, yc)
                rows.append(("species", name, cv.mean(), seconds))
                plot_regions(ax, model, Xc, yc)
                ax.set_title(f"{name}: 5-fold accuracy {cv.mean():.3f}")
        bottom[0].legend(loc="lower left", fontsize=11)
        fig.suptitle(
            "Raw, unscaled penguins: flipper length → body mass (top, seeds 0–4), "
            "bill length and depth → species (bottom)",
            fontsize=16,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
        plt.close(fig)
    print_table(rows)
    print_seeds(by_seed)
    print(f"\nfigure written to {out}")
    return rows, by_seed


def plot_regions(ax, model, X, y) -> None:
    """The fitted model's decision regions with the penguins over them."""
    DecisionBoundaryDisplay.from_estimator(
        model, X, ax=ax, alpha=0.3, response_method="predict",
        xlabel="bill length (mm)", ylabel="bill depth (mm)",
    )  # fmt: skip
    for species in np.unique(y):
        mask = y == species
        ax.scatter(X[mask, 0], X[mask, 1], s=10, label=species)


def print_table(rows) -> None:
    """Print the comparison as a markdown table."""
    print("| task | model | score | fit time (ms, median of 3) |")
    print("|---|---|---|---|")
    for task, name, score, seconds in rows:
        metric = "train R²" if task == "body mass" else "5-fold accuracy"
        print(f"| {task} | {name} | {metric} {score:.3f} | {1000 * seconds:.1f} |")


def print_seeds(by_seed: dict[str, list[float]]) -> None:
    """Print the training R² of each seed as a markdown table."""
    names = list(by_seed)
    print("\nBody mass, (5,) lbfgs on raw data: training R² by seed\n")
    print(f"| seed | {' | '.join(names)} |")
    print("|---" * (len(names) + 1) + "|")
    for seed, scores in zip(SEEDS, zip(*by_seed.values(), strict=True), strict=True):
        print(f"| {seed} | " + " | ".join(f"{score:.3f}" for score in scores) + " |")


def main(argv=None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/penguins.png"))
    run(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
