"""The penguins walkthrough: torchsk against scikit-learn on raw, unscaled data.

Regression: flipper length → body mass (training R², as the course reports it).
Classification: bill length and depth → species (5-fold cross-validated accuracy).
Prints a table and writes ``docs/penguins.png`` (fitted curves, decision regions).

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


def run(out: Path) -> list[tuple[str, str, float, float]]:
    """Fit every model, print the table, write the figure; return the table rows."""
    df = penguins()
    Xr, yr = df[["flipper_length_mm"]].to_numpy(), df["body_mass_g"].to_numpy()
    Xc, yc = df[["bill_length_mm", "bill_depth_mm"]].to_numpy(), df["species"].to_numpy()
    rows = []
    fig, axes = plt.subplots(1, 4, figsize=(22, 5))
    axes[0].scatter(Xr, yr, s=8, c="grey", alpha=0.5, label="penguins")
    grid = np.linspace(Xr.min() - 5, Xr.max() + 5, 300).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, model in regressors().items():
            seconds = timed_fit(model, Xr, yr)
            rows.append(("body mass", name, model.score(Xr, yr), seconds))
            axes[0].plot(grid, model.predict(grid), label=name)
        for ax, (name, model) in zip(axes[1:], classifiers().items(), strict=True):
            cv = cross_val_score(model, Xc, yc, cv=5)
            seconds = timed_fit(model, Xc, yc)
            rows.append(("species", name, cv.mean(), seconds))
            DecisionBoundaryDisplay.from_estimator(
                model, Xc, ax=ax, alpha=0.3, response_method="predict",
                xlabel="bill length (mm)", ylabel="bill depth (mm)",
            )  # fmt: skip
            for species in np.unique(yc):
                mask = yc == species
                ax.scatter(Xc[mask, 0], Xc[mask, 1], s=8, label=species)
            ax.set_title(f"{name}: CV accuracy {cv.mean():.3f}")
    axes[0].set(xlabel="flipper length (mm)", ylabel="body mass (g)", title="Regression")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    print_table(rows)
    print(f"\nfigure written to {out}")
    return rows


def print_table(rows) -> None:
    """Print the comparison as a markdown table."""
    print("| task | model | score | fit time (ms, median of 3) |")
    print("|---|---|---|---|")
    for task, name, score, seconds in rows:
        metric = "train R²" if task == "body mass" else "5-fold accuracy"
        print(f"| {task} | {name} | {metric} {score:.3f} | {1000 * seconds:.1f} |")


def main(argv=None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/penguins.png"))
    run(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
