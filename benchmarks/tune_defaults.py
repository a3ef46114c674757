"""Candidate defaults on the comparison suite, against the current ones, same folds.

    ./dev python benchmarks/tune_defaults.py '{"alpha": 1.0}'
    ./dev python benchmarks/tune_defaults.py '{"n_ensemble": 4}' --datasets diabetes wine
    ./dev python benchmarks/tune_defaults.py '{"reg:alpha": "auto", "clf:alpha": 0.1}'

Parameters prefixed ``reg:`` or ``clf:`` apply to the regressor or the classifier only.
Prints, per data set, torchsk's defaults and the candidate (mean score over the folds of
``compare.py``) and the cached peers' scores, then the mean change. Nothing is cached:
this is how ``docs/defaults.md`` was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from compare import ResultCache, collect, fit_and_score, folds_of  # noqa: E402
from compare_suite import MODELS, load_suite  # noqa: E402

from torchsk import TorchClassifier, TorchRegressor  # noqa: E402

PEERS = ("linear", "hgb", "realmlp-td", "tabm-d")


def params_for(candidate: dict, task: str) -> dict:
    """The candidate's parameters for ``task``, prefixes resolved."""
    mine = "reg:" if task == "regression" else "clf:"
    out = {k: v for k, v in candidate.items() if not k.startswith(("reg:", "clf:"))}
    out.update({k[4:]: v for k, v in candidate.items() if k.startswith(mine)})
    return out


def mean_score(data, params: dict) -> float:
    """Mean score over ``compare.py``'s folds of torchsk with ``params``."""
    cls = TorchRegressor if data.task == "regression" else TorchClassifier
    scores = [
        fit_and_score(cls(random_state=0, **params), data, train, test)["score"]
        for train, test in folds_of(data)
    ]
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("candidate", help="JSON object of parameters")
    parser.add_argument("--datasets", nargs="*", help="slug substrings (default: all)")
    args = parser.parse_args()
    candidate = json.loads(args.candidate)
    warnings.filterwarnings("ignore")
    suite = load_suite()
    peers = collect(suite, [m for m in MODELS if m.slug in PEERS], ResultCache())
    peer_means = peers.groupby(["dataset", "slug"])["score"].mean()
    changes = []
    for name, data in suite.items():
        if args.datasets and not any(d in data.slug for d in args.datasets):
            continue
        now = mean_score(data, {})
        new = mean_score(data, params_for(candidate, data.task))
        changes.append(new - now)
        others = "  ".join(
            f"{slug} {peer_means[(name, slug)]:.3f}"
            for slug in PEERS
            if (name, slug) in peer_means
        )
        print(
            f"{data.slug[:28]:28s} defaults {now:.3f}  candidate {new:.3f}  {others}", flush=True
        )
    better = sum(c > 0.001 for c in changes)
    worse = sum(c < -0.001 for c in changes)
    print(f"mean change {np.mean(changes):+.4f}; better on {better}, worse on {worse} "
          f"of {len(changes)}")  # fmt: skip


if __name__ == "__main__":
    main()
