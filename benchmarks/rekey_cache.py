"""Keep the comparison's cached torchsk folds across a change to torchsk that leaves
their results as they were.

``compare.py`` keys every fold by the hash of torchsk's code (``compare.source_hash``):
any change under ``torchsk/`` orphans every cached torchsk fold, and refitting them
takes hours (the batched search's column alone, about three on 2 cores). A change
that cannot move a result (a refactoring, a speed-up that computes the same numbers,
a fix on a path the suite never takes) can keep them, once shown to: this script fits
a sample of the suite's torchsk folds with ``OLD``'s torchsk (a commit, checked out in
a worktree) and with this checkout's, side by side with the same harness, each into a
results folder of its own, and when every sampled fold's score and log-loss agree,
files each cached fold computed under ``OLD``'s hash under this code's. Folds the
sample disagrees on are reported, and nothing is re-keyed.

    ./dev python benchmarks/rekey_cache.py e89ad02
    ./dev python benchmarks/rekey_cache.py e89ad02 --tolerance 1e-12

Then ``./dev compare --doc-only``: ``docs/comparison.md`` should be as it was. About
15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import compare  # noqa: E402
from compare_suite import MODELS, SEED_MODELS, load_suite  # noqa: E402

HERE = Path(__file__).resolve().parent
#: the sample: (compare.py's arguments, what they fit): the defaults on four data sets
#: with their extrapolation variants (26 folds), the search on three (15 folds)
SAMPLE = (
    ["--models", "torchsk", "--datasets", "wine", "diabetes", "cps1985", "penguins body"],
    ["--models", "torchsk-search", "--folds", "shuffled",
     "--datasets", "wine", "penguins body", "diabetes"],
)  # fmt: skip


def fit_sample(torchsk_root: Path, results: Path) -> subprocess.Popen:
    """Start this harness fitting ``SAMPLE`` with the torchsk under ``torchsk_root``,
    into ``results`` (an empty folder: everything is fitted), one run after another."""
    env = {**os.environ, "PYTHONPATH": str(torchsk_root)}
    runs = [
        [sys.executable, str(HERE / "compare.py"), *args, "--results", str(results), "--no-doc"]
        for args in SAMPLE
    ]
    script = " && ".join(" ".join(f"'{a}'" for a in run) for run in runs)
    log = open(f"{results}.log", "w")  # noqa: SIM115 (the child writes it)
    return subprocess.Popen(["nice", "bash", "-c", script], env=env, stdout=log, stderr=log)


def fold_scores(results: Path) -> dict:
    """``{(data set, model, fold): (score, log_loss)}`` of every fold in ``results``."""
    out = {}
    for path in sorted(results.glob("*/*.json")):
        for fold, entry in json.loads(path.read_text())["folds"].items():
            out[path.parent.name, path.stem, fold] = (entry["score"], entry.get("log_loss"))
    return out


def disagreements(old: dict, new: dict, tolerance: float) -> list[str]:
    """The sampled folds whose scores differ by more than ``tolerance`` (relative),
    or that one side lacks."""

    def same(a, b) -> bool:
        if a is None or b is None:
            return a is b
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tolerance * max(abs(a), 1)

    keys = sorted(set(old) | set(new))
    one_side = [k for k in keys if (k in old) != (k in new)]
    missing = [f"{k}: only {'old' if k in old else 'new'}" for k in one_side]
    return missing + [
        f"{k}: {old[k]} -> {new[k]}"
        for k in keys
        if k in old and k in new and not all(map(same, old[k], new[k]))
    ]


def rekey(cache: compare.ResultCache, suite: dict, specs: list, old_hash: str):
    """File each fold of ``specs`` on ``suite`` that ``cache`` holds under torchsk's
    ``old_hash`` under this code's hash; ``(moved, missing, already)``: missing folds
    were never cached under ``old_hash``."""
    moved = missing = already = 0
    for data, spec, fold, train, test, config, key in compare.plan(suite, specs):
        if cache.get(data.slug, spec.slug, fold, key) is not None:
            already += 1
            continue
        old_config = {**config, "torchsk_source": old_hash}
        fp = compare.data_fingerprint(data.X, data.y, train, test)
        entry = cache.get(data.slug, spec.slug, fold, compare.fold_key(old_config, fp))
        if entry is None:
            missing += 1
            continue
        result = {k: v for k, v in entry.items() if k != "key"}
        cache.put(data.slug, spec.slug, fold, key, result, config)
        moved += 1
    return moved, missing, already


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the commit whose torchsk the cache was computed with")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="relative difference allowed (default 0: identical)")  # fmt: skip
    args = parser.parse_args()
    new_hash = compare.source_hash()
    with tempfile.TemporaryDirectory(prefix="rekey-") as tmp:
        tmp = Path(tmp)
        old_tree = tmp / "tree"
        subprocess.run(["git", "-C", str(compare.ROOT), "worktree", "add", "--detach",
                        "--quiet", str(old_tree), args.old], check=True)  # fmt: skip
        try:
            old_hash = compare.source_hash(old_tree / "torchsk")
            print(f"cache under {old_hash} ({args.old}); this code {new_hash}", flush=True)
            if old_hash == new_hash:
                print("the same code: nothing to re-key")
                return 0
            runs = [fit_sample(old_tree, tmp / "old"), fit_sample(compare.ROOT, tmp / "new")]
            if any(run.wait() for run in runs):
                for log in sorted(tmp.glob("*.log")):
                    print(f"{log.name}:", *log.read_text().splitlines()[-5:], sep="\n")
                return 1
            old, new = fold_scores(tmp / "old"), fold_scores(tmp / "new")
        finally:
            subprocess.run(["git", "-C", str(compare.ROOT), "worktree", "remove", "--force",
                            str(old_tree)], check=False)  # fmt: skip
    differ = disagreements(old, new, args.tolerance)
    print(f"sample: {len(new)} folds, {len(differ)} disagree")
    if differ or not new:
        print("\n".join(differ) + "\nnothing re-keyed: refit what the change moves")
        return 1
    specs = [s for s in MODELS + SEED_MODELS if s.slug.startswith("torchsk")]
    moved, missing, already = rekey(compare.ResultCache(), load_suite(), specs, old_hash)
    print(f"re-keyed {moved} folds ({missing} never cached under {old_hash}, {already} "
          "already current); now ./dev compare --doc-only")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
