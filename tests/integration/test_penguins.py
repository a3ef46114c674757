"""The course's penguins problems on raw, unscaled data (issue acceptance figures)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, cross_val_score

from torchsk import TorchClassifier, TorchRegressor

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))


COURSE = dict(hidden_layer_sizes=(5,), solver="lbfgs", alpha=0, max_iter=1000)


@pytest.mark.parametrize("seed", range(10))
def test_lbfgs_5_units_fits_raw_body_mass_smoothly_for_every_seed(body_mass, seed):
    """The course's settings with the defaults for the rest: a good fit and a smooth
    curve (total variation over the data range at most 1.2 times its net rise; binned
    inputs made it zig-zag at twice its rise)."""
    X, y = body_mass
    reg = TorchRegressor(random_state=seed, **COURSE).fit(X, y)
    assert reg.score(X, y) >= 0.775
    curve = reg.predict(np.linspace(X.min(), X.max(), 400)[:, None])
    assert np.abs(np.diff(curve)).sum() <= 1.2 * abs(curve[-1] - curve[0])


def test_lbfgs_5_units_generalizes_at_least_as_well_as_a_straight_line(body_mass):
    X, y = body_mass
    cv = KFold(5, shuffle=True, random_state=0)
    ours = cross_val_score(TorchRegressor(random_state=0, **COURSE), X, y, cv=cv).mean()
    assert ours >= cross_val_score(LinearRegression(), X, y, cv=cv).mean()


def test_no_hidden_layer_reproduces_linear_regression(body_mass):
    X, y = body_mass
    linear = LinearRegression().fit(X, y).predict(X)
    # alpha=0 as in the walkthrough: the default's penalty makes it a ridge regression
    torch_linear = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", alpha=0, random_state=0)
    pred = torch_linear.fit(X, y).predict(X)
    assert np.max(np.abs(pred - linear)) <= 0.01 * np.std(y)
    ridge = TorchRegressor(hidden_layer_sizes=(), solver="lbfgs", random_state=0).fit(X, y)
    assert 0 < np.ptp(ridge.predict(X)) < np.ptp(linear)  # shrunk toward the mean


@pytest.mark.short_fits  # the default 200 epochs, like MLPClassifier's, stop before tol is met
def test_classifier_predicts_species_names_with_high_cv_accuracy(species):
    X, y = species
    scores = cross_val_score(TorchClassifier(random_state=0), X, y, cv=5)
    assert scores.mean() >= 0.93
    labels = TorchClassifier(random_state=0).fit(X, y).predict(X)
    assert set(labels) == {"Adelie", "Chinstrap", "Gentoo"}


def test_demo_prints_table_and_writes_figure(tmp_path, capsys):
    import penguins as demo

    out = tmp_path / "penguins.png"
    rows, by_seed = demo.run(out)
    assert out.stat().st_size > 10_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    for _, name, score, _ in rows:
        assert name in printed
        assert np.isfinite(score)
    assert set(by_seed) == {"MLPRegressor", "TorchRegressor"}
    for scores in zip(*by_seed.values(), strict=True):
        assert " | ".join(f"{score:.3f}" for score in scores) in printed
    assert min(by_seed["TorchRegressor"]) >= 0.775
    scores = {name: score for _, name, score, _ in rows}
    assert scores["TorchRegressor (5,) lbfgs"] > scores["LinearRegression"]
    assert scores["TorchClassifier"] >= 0.93
