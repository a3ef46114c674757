"""Shared fixtures (small real data sets, a Ctrl-C at an epoch), the ``short_fits``
marker and the test workers' share of the cores."""

import os

import numpy as np
import pytest
import torch
from palmerpenguins import load_penguins
from sklearn.datasets import load_diabetes, load_iris

# Fits cut short on purpose (a few epochs keep the suite fast) end with scikit-learn's
# "Maximum iterations (N) reached" ConvergenceWarning; tests marked ``short_fits`` ignore
# exactly that one. Other warnings, a diverging fit's ConvergenceWarning included, still show.
SHORT_FITS = r"ignore:.*Maximum iterations \(\d+\) reached:sklearn.exceptions.ConvergenceWarning"


def pytest_configure(config):
    """Give each pytest-xdist worker its share of torch's threads.

    Every worker would otherwise start as many torch threads as the machine has cores:
    ``./dev test -n 2`` on CI's two cores ran four, and torch's threads wait for each
    other by spinning: in a run that shared the cores with a benchmark, a test of the
    stacked torch pass that takes 6 s alone took 17 minutes. Subprocesses (the docs'
    scripts) inherit the share through ``OMP_NUM_THREADS``. Tests of the thread rule
    set their own counts.
    """
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        # torch's own count (what each worker would start), never more than before
        share = max(1, torch.get_num_threads() // int(workers))
        torch.set_num_threads(share)
        os.environ.setdefault("OMP_NUM_THREADS", str(share))


def pytest_collection_modifyitems(items):
    """Give every test marked ``short_fits`` the warning filter ``SHORT_FITS``."""
    for item in items:
        if item.get_closest_marker("short_fits"):
            item.add_marker(pytest.mark.filterwarnings(SHORT_FITS))


@pytest.fixture(scope="session")
def penguins():
    """Penguins rows with the measurements and species, NaN rows dropped."""
    cols = ["flipper_length_mm", "body_mass_g", "bill_length_mm", "bill_depth_mm", "species"]
    return load_penguins().dropna(subset=cols).reset_index(drop=True)


@pytest.fixture(scope="session")
def body_mass(penguins):
    """Raw flipper length (mm) → body mass (g)."""
    return penguins[["flipper_length_mm"]].to_numpy(), penguins["body_mass_g"].to_numpy()


@pytest.fixture(scope="session")
def species(penguins):
    """Raw bill length and depth (mm) → species name."""
    return (
        penguins[["bill_length_mm", "bill_depth_mm"]].to_numpy(),
        penguins["species"].to_numpy(),
    )


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def iris():
    """scikit-learn's iris: 150 × 4, three classes."""
    return load_iris(return_X_y=True)


@pytest.fixture(scope="session")
def diabetes():
    """scikit-learn's diabetes: 442 × 10 regression."""
    return load_diabetes(return_X_y=True)


@pytest.fixture
def interrupt_epoch(monkeypatch):
    """``interrupt_epoch(n)``: from then on, the ``n``-th training epoch raises
    ``KeyboardInterrupt`` (Ctrl-C); it returns the list that counts the epochs (clear
    it to count again)."""
    from torchsk.training import loop

    run_epoch = loop._run_epoch

    def patch(n: int) -> list:
        calls = []

        def interrupted(*args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return run_epoch(*args, **kwargs)

        monkeypatch.setattr(loop, "_run_epoch", interrupted)
        return calls

    return patch
