"""scikit-learn's ``plot_mnist_filters`` settings on MNIST-shaped data, per input scaling.

MNIST itself is a download; this builds data of its shape from scikit-learn's bundled
digits: each 8 × 8 image zoomed to 20 × 20, centred in 28 × 28 with MNIST's blank
border, shifted by up to 2 pixels, 0-255 with some noise on the ink; 30,000 rows, 70%
for training as the gallery script splits. Many pixels are almost always 0 (the
"rare-nonzero" columns that standardization turns into large values when they are
not). Prints the held-out accuracy of ``MLPClassifier`` and of ``TorchClassifier`` with
each ``input_scaling``, and of scalings applied before the model (smooth clipping as
RealMLP does it), all with the script's settings.

    ./dev python benchmarks/mnist_shaped.py             # every model (~5 min on 2 cores)
    ./dev python benchmarks/mnist_shaped.py robust None  # the models whose name has one
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from scipy.ndimage import shift, zoom
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from torchsk import TorchClassifier

# plot_mnist_filters.py's model
SETTINGS = dict(hidden_layer_sizes=(40,), max_iter=8, alpha=1e-4, solver="sgd",
                random_state=1, learning_rate_init=0.2)  # fmt: skip


def mnist_shaped(n: int = 30_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of 784 pixels in [0, 255] and their digit labels."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(digits.images), n)
    small = np.clip(np.stack([zoom(im, 2.5, order=1) for im in digits.images]), 0, 16) * 255 / 16
    out = np.zeros((n, 28, 28))
    for k, i in enumerate(idx):
        canvas = np.zeros((28, 28))
        canvas[4:24, 4:24] = small[i]
        canvas = shift(canvas, rng.integers(-2, 3, 2), order=0)
        ink = canvas > 0
        canvas[ink] = np.clip(canvas[ink] * rng.uniform(0.8, 1.2), 0, 255)
        out[k] = np.round(canvas)
    return out.reshape(n, 784), digits.target[idx]


def smooth_clip(z: np.ndarray) -> np.ndarray:
    """RealMLP's smooth clipping: about z near 0, never beyond ±3."""
    return z / np.sqrt(1 + (z / 3) ** 2)


def standard_clipped(X: np.ndarray):
    mean, std = X.mean(axis=0), X.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return lambda A: smooth_clip((A - mean) / std)


def robust_clipped(X: np.ndarray):
    """RealMLP's robust scaling: the median, and the interquartile range where it is
    positive, else half the range; then smooth clipping."""
    q1, q2, q3 = np.quantile(X, [0.25, 0.5, 0.75], axis=0)
    span = np.ptp(X, axis=0)
    scale = np.where(q3 > q1, q3 - q1, np.where(span > 0, span / 2, 1.0))
    return lambda A: smooth_clip((A - q2) / scale)


def models(X_train: np.ndarray) -> dict:
    """name -> (estimator, transformation of X applied before it)."""
    same = lambda A: A  # noqa: E731
    out = {"MLPClassifier": (MLPClassifier(**SETTINGS), same)}
    for scaling in ["auto", "standard", None, "robust", "minmax"]:
        out[f"TorchClassifier input_scaling={scaling!r}"] = (
            TorchClassifier(**SETTINGS, input_scaling=scaling), same)  # fmt: skip
    out["TorchClassifier input_scaling=None batch_size=200"] = (
        TorchClassifier(**SETTINGS, input_scaling=None, batch_size=200), same)  # fmt: skip
    for name, scale in [("standard", standard_clipped), ("robust", robust_clipped)]:
        out[f"TorchClassifier input_scaling=None after {name} + smooth clip"] = (
            TorchClassifier(**SETTINGS, input_scaling=None), scale(X_train))  # fmt: skip
    return out


def main(names: list[str]) -> None:
    X, y = mnist_shaped()
    X = X / 255.0  # as the gallery script does
    rare = int(((X > 0).mean(axis=0) < 0.01).sum())
    print(f"{X.shape}, zero pixels {np.mean(X == 0):.1%}, columns nonzero in < 1% of rows: {rare}")
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, test_size=0.3)
    for name, (model, scale) in models(X_train).items():
        if names and not any(n in name for n in names):
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # 8 epochs, on purpose
            model.fit(scale(X_train), y_train)
        print(f"{name}: held-out accuracy {model.score(scale(X_test), y_test):.3f}, "
              f"fit {time.perf_counter() - start:.1f} s, last loss "
              f"{model.loss_curve_[-1]:.3g}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
