"""Candidate defaults on the comparison suite, against the current ones, same folds.

    ./dev python benchmarks/tune_defaults.py '{"alpha": 1.0}'
    ./dev python benchmarks/tune_defaults.py '{"n_ensemble": 4}' --datasets diabetes wine
    ./dev python benchmarks/tune_defaults.py '{"reg:alpha": "auto", "clf:alpha": 0.1}'
    ./dev python benchmarks/tune_defaults.py '{"alpha": 1.0}' --seeds 5 --datasets cps1985

Parameters prefixed ``reg:`` or ``clf:`` apply to the regressor or the classifier only.
Prints, per data set, torchsk's defaults and the candidate (mean score over the folds of
``compare.py``) and the cached peers' scores, then the mean change. Nothing is cached:
this is how ``docs/defaults.md`` was measured.

``--seeds N`` fits both with ``random_state`` 0 to N-1 and compares their means over
the seeds, printing the spread between seeds beside them: a change smaller than that
spread is the seed's, not the candidate's (``docs/defaults.md``, 2026-12-06: the
defaults' CPS1985 extrapolation R² spans 0.077 to 0.126 over seeds 0-4).
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


def mean_score(data, params: dict, seed: int = 0) -> float:
    """Mean score over ``compare.py``'s folds of torchsk with ``params``."""
    cls = TorchRegressor if data.task == "regression" else TorchClassifier
    scores = [
        fit_and_score(cls(random_state=seed, **params), data, train, test)["score"]
        for train, test in folds_of(data)
    ]
    return float(np.mean(scores))


def over_seeds(data, params: dict, seeds: int) -> tuple[float, float]:
    """The mean over ``random_state`` 0 to ``seeds - 1`` of ``mean_score``, and its
    spread (largest minus smallest)."""
    scores = [mean_score(data, params, seed) for seed in range(seeds)]
    return float(np.mean(scores)), float(np.ptp(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("candidate", help="JSON object of parameters")
    parser.add_argument("--datasets", nargs="*", help="slug substrings (default: all)")
    parser.add_argument("--seeds", type=int, default=1, help="random_state 0 to N-1 (default: 0)")
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
        now, now_spread = over_seeds(data, {}, args.seeds)
        new, new_spread = over_seeds(data, params_for(candidate, data.task), args.seeds)
        changes.append(new - now)
        others = "  ".join(
            f"{slug} {peer_means[(name, slug)]:.3f}"
            for slug in PEERS
            if (name, slug) in peer_means
        )
        spread = f" (seeds spread {now_spread:.3f}, {new_spread:.3f})" if args.seeds > 1 else ""
        print(
            f"{data.slug[:28]:28s} defaults {now:.3f}  candidate {new:.3f}{spread}  {others}",
            flush=True,
        )
    better = sum(c > 0.001 for c in changes)
    worse = sum(c < -0.001 for c in changes)
    print(f"mean change {np.mean(changes):+.4f}; better on {better}, worse on {worse} "
          f"of {len(changes)}")  # fmt: skip


if __name__ == "__main__":
    main()
