"""The gallery runner (benchmarks/gallery.py): a script runs as written and with the
class swapped, its scores recorded; the stand-ins for downloads have the shapes the
scripts expect. The gallery scripts themselves are not here: a small one stands in."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import gallery  # noqa: E402

SCRIPT = """
import warnings
from sklearn.datasets import fetch_california_housing
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = fetch_california_housing(return_X_y=True)
X, y = X[:400], y[:400]
est = make_pipeline(StandardScaler(), MLPRegressor(max_iter=30, random_state=0))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    est.fit(X, y)
print("class:", type(est[-1]).__name__)
print("R2:", est.score(X, y))
"""


def test_a_script_runs_as_written_and_with_torchsk_s_class(tmp_path):
    script = tmp_path / "plot_tiny.py"
    script.write_text(SCRIPT)
    results = gallery.run_twice(script, tmp_path)
    (theirs, *_), (ours, *_) = (results[k]["scores"] for k in ("original", "torchsk"))
    assert results["original"]["ok"] and results["torchsk"]["ok"]
    assert theirs[0] == "MLPRegressor" and ours[0] == "TorchRegressor"  # the pipeline's step
    assert "class: TorchRegressor" in (tmp_path / "plot_tiny.torchsk.log").read_text()
    assert "largest drop" in gallery.report("plot_tiny.py", results)


def test_a_failing_script_is_reported_with_its_error(tmp_path):
    script = tmp_path / "plot_broken.py"
    script.write_text("from sklearn.datasets import fetch_openml\nfetch_openml('iris')\n")
    results = gallery.run_twice(script, tmp_path)
    assert not results["torchsk"]["ok"] and "no bundled stand-in" in results["torchsk"]["error"]
    assert "error: ValueError" in gallery.report("plot_broken.py", results)


def test_a_drop_beyond_the_threshold_is_flagged():
    def run(*scores):
        return {"ok": True, "seconds": 1.0, "scores": [["MLPClassifier", s] for s in scores]}

    text = gallery.report("x.py", {"original": run(0.9, 0.9), "torchsk": run(0.9, 0.85)})
    assert "+0.050 (score 2)  <-- worse" in text
    text = gallery.report("x.py", {"original": run(0.9), "torchsk": run(0.89)})
    assert "worse" not in text


def test_the_california_stand_in_has_the_data_set_s_shape_and_columns():
    bunch = gallery.fetch_california_housing(as_frame=True)
    assert bunch.data.shape == (20_640, 8)
    assert list(bunch.data.columns) == gallery.CALIFORNIA_COLUMNS
    assert bunch.target.between(0.15, 5.0).all()
    X, _ = gallery.fetch_california_housing(return_X_y=True)
    assert isinstance(X, np.ndarray) and X.shape == (20_640, 8)
