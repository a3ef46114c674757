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
sample disagrees on or lacks are reported, and nothing is re-keyed.

The sample covers the defaults on small float64 fits (wine, diabetes, CPS1985,
penguins body mass), a binary classifier (breast cancer) and a float32 fit of
thousands of rows (ames), with their extrapolation variants, and the search on three
data sets; not per-member embeddings (wide categorical columns) nor the largest
tables. A re-keyed fold keeps the fit and predict times measured with the old code.
Float32 fits are reproducible on one machine, not across CPUs: the cached ames folds,
fitted on another CPU, differ from this machine's by up to 0.01 R² per fold, for old
and new code alike (which is why the sample compares the two codes here, not the cache).

    ./dev python benchmarks/rekey_cache.py e89ad02
    ./dev python benchmarks/rekey_cache.py e89ad02 --tolerance 1e-12

Then ``./dev compare --doc-only``: ``docs/comparison.md`` should be as it was. 5 to 15
minutes on 2 cores (the sample's two runs side by side).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import compare  # noqa: E402
from compare_suite import MODELS, SEED_MODELS, load_suite  # noqa: E402

HERE = Path(__file__).resolve().parent
#: the sample: (model, data sets, with their extrapolation variants)
SAMPLE = (
    ("torchsk", ["wine", "diabetes", "cps1985", "penguins body", "breast", "ames"], True),
    ("torchsk-search", ["wine", "penguins body", "diabetes"], False),
)


def sample_args(model: str, datasets: list, extrapolation: bool) -> list:
    """``compare.py``'s arguments for one part of the sample."""
    folds = [] if extrapolation else ["--folds", "shuffled"]
    return ["--models", model, *folds, "--datasets", *datasets]


def expected_folds(sample=SAMPLE) -> set:
    """``(data set slug, model, fold)`` of every fold the sample fits."""
    out = set()
    for model, datasets, extrapolation in sample:
        for data in load_suite(datasets, extrapolation=extrapolation).values():
            out |= {(data.slug, model, str(f)) for f in range(len(compare.folds_of(data)))}
    return out


def fit_sample(torchsk_root: Path, results: Path) -> subprocess.Popen:
    """Start this harness fitting ``SAMPLE`` with the torchsk under ``torchsk_root``
    (first on the path), into ``results`` (a new folder: everything is fitted)."""
    env = {**os.environ, "PYTHONPATH": str(torchsk_root)}
    runs = [
        [sys.executable, str(HERE / "compare.py"), *sample_args(*part),
         "--results", str(results), "--no-doc"]
        for part in SAMPLE
    ]  # fmt: skip
    script = " && ".join(shlex.join(run) for run in runs)
    with open(f"{results}.log", "w") as log:  # the child keeps its own handle
        return subprocess.Popen(["nice", "bash", "-c", script], env=env, stdout=log, stderr=log)


def fold_scores(results: Path) -> tuple[dict, set]:
    """``{(data set, model, fold): (score, log_loss)}`` of every fold in ``results``,
    and the torchsk hashes the folds were computed under."""
    out, hashes = {}, set()
    for path in sorted(results.glob("*/*.json")):
        content = json.loads(path.read_text())
        hashes.add(content["config"].get("torchsk_source"))
        for fold, entry in content["folds"].items():
            out[path.parent.name, path.stem, fold] = (entry["score"], entry.get("log_loss"))
    return out, hashes


def disagreements(old: dict, new: dict, tolerance: float, expected=()) -> list[str]:
    """The sampled folds whose scores differ by more than ``tolerance`` times
    ``max(|old score|, 1)`` (absolute for R² and accuracy), or that either side lacks
    (of ``expected`` too)."""

    def same(a, b) -> bool:
        if a is None or b is None:
            return a is b
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tolerance * max(abs(a), 1)

    keys = sorted(set(old) | set(new) | set(expected))
    lacking = [k for k in keys if k not in old or k not in new]
    return [f"{k}: old {old.get(k)}, new {new.get(k)}" for k in lacking] + [
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


def compare_codes(old_ref: str, tmp: Path) -> tuple[str, dict, dict] | None:
    """``(old hash, old scores, new scores)`` of the sample, fitted with ``old_ref``'s
    torchsk (a worktree under ``tmp``) and this checkout's; None where a run failed."""
    tree = tmp / "tree"
    git = ["git", "-C", str(compare.ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", "--quiet", str(tree), old_ref], check=True)
    runs = []
    try:
        old_hash = compare.source_hash(tree / "torchsk")
        if old_hash == compare.source_hash():  # comments or docstrings only: nothing to fit
            return old_hash, {}, {}
        runs = [fit_sample(tree, tmp / "old"), fit_sample(compare.ROOT, tmp / "new")]
        if any([run.wait() for run in runs]):  # a list: wait for both
            for log in sorted(tmp.glob("*.log")):
                print(f"{log.name}:", *log.read_text().splitlines()[-5:], sep="\n")
            return None
        (old, old_hashes), (new, new_hashes) = fold_scores(tmp / "old"), fold_scores(tmp / "new")
        # each run imported the torchsk it was given (PYTHONPATH before an editable install)
        if not (old_hashes <= {old_hash} and new_hashes <= {compare.source_hash()}):
            raise RuntimeError(f"a run imported another torchsk: {old_hashes}, {new_hashes}")
        return old_hash, old, new
    finally:
        for run in runs:
            run.terminate()
            run.wait()
        subprocess.run([*git, "remove", "--force", str(tree)], check=False)
        subprocess.run([*git, "prune"], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the commit whose torchsk the cache was computed with")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="difference allowed, times max(|score|, 1) (default 0)")  # fmt: skip
    args = parser.parse_args()
    new_hash = compare.source_hash()
    with tempfile.TemporaryDirectory(prefix="rekey-") as tmp:
        sampled = compare_codes(args.old, Path(tmp))
    if sampled is None:
        return 1
    old_hash, old, new = sampled
    print(f"cache under {old_hash} ({args.old}); this code {new_hash}")
    if old_hash == new_hash:
        print("the same code: nothing to re-key")
        return 0
    differ = disagreements(old, new, args.tolerance, expected_folds())
    print(f"sample: {len(new)} folds, {len(differ)} disagree or missing")
    if differ:
        print("\n".join(differ) + "\nnothing re-keyed: refit what the change moves")
        return 1
    if compare.source_hash() != new_hash:
        print("torchsk changed while the sample ran: nothing re-keyed")
        return 1
    specs = [s for s in MODELS + SEED_MODELS if s.slug.startswith("torchsk")]
    moved, missing, already = rekey(compare.ResultCache(), load_suite(), specs, old_hash)
    print(f"re-keyed {moved} folds ({missing} never cached under {old_hash}, {already} "
          "already current); now ./dev compare --doc-only")  # fmt: skip
    return 0 if moved or not missing else 1


if __name__ == "__main__":
    sys.exit(main())
