"""The honest comparison: torchsk's defaults on raw tables against its peers.

5-fold cross-validation on data shipped by packages (``compare_suite.py``); every model
sees the same folds. Each regression's extrapolation variant has two folds instead, ordered
by one numeric column: its lowest and its highest fifth as test rows (``edge_folds``).
Results are cached per (data set, model, fold) as JSON under ``benchmarks/results/``, keyed
by a fingerprint of the model's configuration, of the package versions it depends on, of
the fold's data and, for torchsk, of the torchsk source: a rerun refits only what changed.
Writes ``docs/comparison.md`` and ``docs/comparison.png`` from the cache (``compare_report.py``).

    ./dev compare                               # fit what is missing, rewrite the doc
    ./dev compare --models torchsk              # after a change to torchsk
    ./dev compare --datasets titanic digits     # a few data sets (name or slug substrings)
    ./dev compare --folds shuffled              # leave out the extrapolation variants
    ./dev compare --time-limit 600              # start no fit after 10 minutes
    ./dev compare --doc-only                    # rebuild the doc from the cache, fit nothing
    ./dev compare --models hgb --refit          # time again what the cache has
    ./dev compare --no-doc --results /tmp/r     # fit into another folder, no doc

After a change to torchsk that should leave every result as it was, keep the cache
instead of refitting it: ``./dev python benchmarks/rekey_cache.py <the commit before>``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.metadata
import json
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.model_selection import KFold, StratifiedKFold

sys.path.insert(0, str(Path(__file__).parent))
from compare_suite import (  # noqa: E402
    MODELS,
    SEED,
    SEED_MODELS,
    Dataset,
    ModelSpec,
    edge_folds,
    load_suite,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FOLDS = 5


# ------------------------------------------------------------------------------ fingerprints
def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_hash(package_dir: Path | None = None) -> str:
    """Hash of a package's code (by default, the torchsk this process imports): every
    ``.py`` file's path and syntax tree, in path order. Comments, docstrings and
    layout leave it as it is: they cannot change a result, and a fix to the prose
    should not throw away an hour of cached fits."""
    if package_dir is None:
        import torchsk

        package_dir = Path(torchsk.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(str(path.relative_to(package_dir)).encode())
        digest.update(code_of(path.read_text()).encode())
    return digest.hexdigest()[:16]


class _NoDocstrings(ast.NodeTransformer):
    """Drops every statement that is a bare string (docstrings, attribute notes)."""

    def generic_visit(self, node):
        super().generic_visit(node)
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and any(_is_text(s) for s in body):
                kept = [s for s in body if not _is_text(s)]
                setattr(node, field, kept or ([ast.Pass()] if field == "body" else []))
        return node


def _is_text(statement) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def code_of(source: str) -> str:
    """``source``'s syntax tree without its bare strings, as text (no positions, no
    comments): what the code does, not how it reads."""
    return ast.dump(_NoDocstrings().visit(ast.parse(source)))


def estimator_text(estimator) -> str:
    """The estimator's full ``repr`` (every parameter), memory addresses removed."""
    with sklearn.config_context(print_changed_only=False):
        text = estimator.__repr__(N_CHAR_MAX=1_000_000)
    return re.sub(r"\s+at 0x[0-9a-fA-F]+", "", re.sub(r"\s+", " ", text))


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def model_config(spec: ModelSpec, task: str, n_classes: int, source: str | None = None) -> dict:
    """Everything that defines a model's results apart from the data.

    Parameters
    ----------
    spec : ModelSpec
    task : {"regression", "classification"}
    n_classes : int
    source : str, optional
        torchsk's :func:`source_hash`, computed here when not given.

    Returns
    -------
    dict
        ``estimator`` (its full repr), ``versions`` of ``spec.packages``, ``revision`` and,
        for torchsk, ``torchsk_source`` (:func:`source_hash`).
    """
    config = {
        "estimator": estimator_text(spec.build(task, n_classes)),
        "versions": {p: _version(p) for p in spec.packages},
        "revision": spec.revision,
    }
    if spec.slug.startswith("torchsk"):
        config["torchsk_source"] = source or source_hash()
    return config


def data_fingerprint(X: pd.DataFrame, y, train, test) -> str:
    """Hash of the fold's content: values, dtypes, train and test rows."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    digest.update(str(list(X.dtypes.astype(str))).encode())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(np.asarray(train).tobytes() + b"|" + np.asarray(test).tobytes())
    return digest.hexdigest()[:16]


def fold_key(config: dict, data_fp: str) -> str:
    """Cache key of one fit: the model's configuration and the fold's data."""
    return _sha(json.dumps(config, sort_keys=True) + data_fp)


# ------------------------------------------------------------------------------ cache
class ResultCache:
    """Fold results in ``<root>/<data set slug>/<model slug>.json``.

    A file holds the latest configuration of that model on that data set and one entry
    per fold, each with the key it was computed under. An entry counts only while its key
    matches the current one; a refit overwrites it (git keeps the history).

    Parameters
    ----------
    root : pathlib.Path
    """

    def __init__(self, root: Path = RESULTS):
        self.root = Path(root)

    def _path(self, dataset: str, model: str) -> Path:
        return self.root / dataset / f"{model}.json"

    def _read(self, dataset: str, model: str) -> dict:
        path = self._path(dataset, model)
        return json.loads(path.read_text()) if path.exists() else {"folds": {}}

    def get(self, dataset: str, model: str, fold: int, key: str) -> dict | None:
        """The cached result of a fold, or None when absent or computed under another key."""
        entry = self._read(dataset, model)["folds"].get(str(fold))
        return entry if entry is not None and entry["key"] == key else None

    def put(self, dataset: str, model: str, fold: int, key: str, result: dict, config: dict):
        """Store a fold's result (and the configuration it was computed with)."""
        content = self._read(dataset, model)
        content["config"] = config
        content["folds"][str(fold)] = {"key": key, **result}
        path = self._path(dataset, model)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")


# ------------------------------------------------------------------------------ fitting
def folds_of(data: Dataset, n_folds: int = FOLDS) -> list:
    """The (train, test) row indices every model gets.

    Shuffled ``n_folds`` folds, stratified for classification; for an extrapolation variant
    (``data.order_by`` set) the two folds of :func:`compare_suite.edge_folds` on that column.
    """
    if data.order_by is not None:
        return edge_folds(data.X[data.order_by])
    cls = StratifiedKFold if data.task == "classification" else KFold
    return list(cls(n_folds, shuffle=True, random_state=SEED).split(data.X, data.y))


def fit_and_score(model, data: Dataset, train, test) -> dict:
    """Fit on the training rows, score on the test rows.

    Returns
    -------
    dict
        ``score`` (R² or accuracy), ``log_loss`` (classification), ``fit_s``, ``predict_s``,
        ``n_train``, ``date``.
    """
    X_train, X_test = data.X.iloc[train], data.X.iloc[test]
    start = time.perf_counter()
    model.fit(X_train, data.y[train])
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = model.predict(X_test)
    out = {"n_train": len(train), "date": time.strftime("%F")}
    if data.task == "regression":
        out["score"] = float(r2_score(data.y[test], pred))
    else:
        out["score"] = float(accuracy_score(data.y[test], pred))
        proba = np.clip(model.predict_proba(X_test), 1e-15, 1)
        out["log_loss"] = float(log_loss(data.y[test], proba, labels=model.classes_))
    out["predict_s"] = time.perf_counter() - start
    out["fit_s"] = fit_s
    return out


def plan(suite: dict, specs: list, n_folds: int = FOLDS):
    """Every (data set, model, fold) with its configuration and cache key.

    Yields
    ------
    tuple
        ``(data, spec, fold, train, test, config, key)``, data sets in suite order (smallest
        first), then models, then folds.
    """
    # hashed once, as the plan starts: an edit made during a long run must not relabel
    # the results of the code imported before it (and each hash takes 0.3 s)
    source = source_hash()
    for data in suite.values():
        folds = folds_of(data, n_folds)
        fps = [data_fingerprint(data.X, data.y, tr, te) for tr, te in folds]
        for spec in specs:
            config = model_config(spec, data.task, data.n_classes, source)
            for fold, (train, test) in enumerate(folds):
                yield data, spec, fold, train, test, config, fold_key(config, fps[fold])


def run(
    suite: dict, specs: list, cache: ResultCache, time_limit=None, log=print, refit=False
) -> int:
    """Fit every (data set, model, fold) the cache lacks; store each result as it comes.

    Parameters
    ----------
    suite : dict
        Data set name -> :class:`Dataset`.
    specs : list of ModelSpec
    cache : ResultCache
    time_limit : float, optional
        Seconds after which no new fit starts.
    log : callable
    refit : bool
        Fit even what the cache has (to time it again on a quieter machine).

    Returns
    -------
    int
        Number of fits done.
    """
    start, done, failed = time.perf_counter(), 0, set()
    for data, spec, fold, train, test, config, key in plan(suite, specs):
        if (data.slug, spec.slug) in failed:
            continue
        if not refit and cache.get(data.slug, spec.slug, fold, key) is not None:
            continue
        if time_limit is not None and time.perf_counter() - start > time_limit:
            log(f"time limit reached after {done} fits")
            break
        try:
            result = fit_and_score(spec.build(data.task, data.n_classes), data, train, test)
        except ValueError as error:  # a model that refuses a data set: none of its folds
            log(f"{data.name} | {spec.name}: refused ({error})")
            failed.add((data.slug, spec.slug))
            continue
        cache.put(data.slug, spec.slug, fold, key, result, config)
        done += 1
        log(f"{data.name} | {spec.name} | fold {fold}: score {result['score']:.3f}, "
            f"fit {result['fit_s']:.1f} s")  # fmt: skip
    return done


def collect(suite: dict, specs: list, cache: ResultCache) -> pd.DataFrame:
    """The cached fold results that match the current configurations, one row per fold.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, task, model, slug, family, fold, score, log_loss, fit_s,
        predict_s, n_train``, ``folds`` (``"shuffled"`` or ``"extrapolation"``) and
        ``n_folds`` (the data set's number of folds).
    """
    rows = []
    n_folds = {name: len(folds_of(data)) for name, data in suite.items()}
    for data, spec, fold, _, _, _, key in plan(suite, specs):
        entry = cache.get(data.slug, spec.slug, fold, key)
        if entry is None:
            continue
        rows.append({
            "dataset": data.name, "task": data.task, "model": spec.name, "slug": spec.slug,
            "family": spec.family, "fold": fold, "score": entry["score"],
            "log_loss": entry.get("log_loss", np.nan), "fit_s": entry["fit_s"],
            "predict_s": entry["predict_s"], "n_train": entry["n_train"],
            "folds": "shuffled" if data.order_by is None else "extrapolation",
            "n_folds": n_folds[data.name],
        })  # fmt: skip
    return pd.DataFrame(rows)


def _select_models(keys) -> list:
    """The models ``--models`` names (all the compared ones by default);
    ``torchsk-seeds`` names the defaults at every other seed (``SEED_MODELS``)."""
    if not keys:
        return list(MODELS)
    keys = [k.lower() for k in keys]
    chosen = [m for m in MODELS + SEED_MODELS
              if any(k in (m.slug, m.name.lower()) for k in keys)
              or (m.family == "seeds" and "torchsk-seeds" in keys)]  # fmt: skip
    if not chosen:
        known = [m.slug for m in MODELS] + ["torchsk-seeds"]
        raise SystemExit(f"no model matches {keys}; models: {known}")
    return chosen


def main(argv=None) -> None:
    """Fit what the cache lacks (or nothing, with ``--doc-only``), then write the doc."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="model slugs (default: all)")
    parser.add_argument("--datasets", nargs="*", help="name or slug substrings (default: all)")
    parser.add_argument(
        "--folds",
        choices=["all", "shuffled", "extrapolation"],
        default="all",
        help="the shuffled data sets, their extrapolation variants, or both",
    )
    parser.add_argument("--time-limit", type=float, help="start no fit after this many seconds")
    parser.add_argument("--doc-only", action="store_true", help="rebuild the doc, fit nothing")
    parser.add_argument("--refit", action="store_true", help="refit even what the cache has")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--no-doc", action="store_true", help="fit, write no doc")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # the baselines' convergence warnings, fold after fold
    cache = ResultCache(args.results)
    if not args.doc_only:
        suite = load_suite(args.datasets, extrapolation=args.folds != "shuffled")
        if args.folds == "extrapolation":
            suite = {name: d for name, d in suite.items() if d.order_by is not None}
        run(suite, _select_models(args.models), cache, args.time_limit,
            log=lambda m: print(m, flush=True), refit=args.refit)  # fmt: skip
    if args.no_doc:  # a results folder of a few data sets (``rekey_cache.py``)
        return
    import compare_report

    full = load_suite()
    seeds = collect(full, SEED_MODELS, cache)
    compare_report.write(full, collect(full, MODELS, cache), args.out, seeds=seeds)
    print(f"wrote {args.out / 'comparison.md'} and comparison.png")


if __name__ == "__main__":
    main()
