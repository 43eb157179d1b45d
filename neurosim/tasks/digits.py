"""The handwritten-digits data set shipped with neurosim, a split, and non-spiking baselines.

``load_digits()`` reads ``neurosim/tasks/data/digits.csv.gz``: 1,797 images of 8 x 8 pixels
(integers 0-16) with their labels 0-9, the test set of the UCI *Optical Recognition of
Handwritten Digits* data (Alpaydin & Kaynak 1998, CC BY 4.0; the file scikit-learn ships for
``load_digits``; see ``data/README.md``). Nothing is downloaded.

Baselines (NumPy, on the same split as the spiking network): nearest class centroid, and
k-means with as many clusters as the network has neurons, each cluster labelled with the class
of most of its training images (the non-spiking counterpart of the network's label assignment).
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "digits.csv.gz"
N_CLASSES = 10


@lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(DATA, "rt") as f:
        a = np.loadtxt(f, delimiter=",", dtype=np.int64)
    images, labels = a[:, :-1].astype(np.uint8), a[:, -1].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: uint8 ``(1797, 64)`` pixel values 0-16 (rows of the 8 x 8 image)
    and int64 labels 0-9 (read-only arrays)."""
    return _load()


def split(n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint index arrays (train, test) drawn by a seeded permutation of the 1,797 images."""
    images, _ = _load()
    if n_train + n_test > len(images):
        raise ValueError(f"split(): n_train + n_test must be at most {len(images)}, got "
                         f"{n_train} + {n_test}")
    perm = np.random.default_rng(seed).permutation(len(images))
    return perm[:n_train], perm[n_train:n_train + n_test]


def nearest_centroid_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of the nearest class mean (Euclidean)."""
    cent = np.stack([x_train[y_train == c].mean(axis=0) for c in range(N_CLASSES)])
    d = ((x_test[:, None, :] - cent[None]) ** 2).sum(-1)
    return float((d.argmin(axis=1) == y_test).mean())


def kmeans_accuracy(x_train, y_train, x_test, y_test, k: int, seed: int,
                    iters: int = 50) -> float:
    """Test accuracy of k-means (k-means++ start, Lloyd iterations) with each cluster labelled by
    the majority class of its training images; an empty cluster keeps its centre, unlabelled."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x_train, float)
    cent = [x[rng.integers(len(x))]]
    for _ in range(1, k):                                   # k-means++
        d = np.min(((x[:, None, :] - np.array(cent)[None]) ** 2).sum(-1), axis=1)
        cent.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
    cent = np.array(cent)
    for _ in range(iters):
        a = ((x[:, None, :] - cent[None]) ** 2).sum(-1).argmin(axis=1)
        new = cent.copy()
        for j in range(k):
            if (a == j).any():
                new[j] = x[a == j].mean(axis=0)
        if np.allclose(new, cent):
            break
        cent = new
    a = ((x[:, None, :] - cent[None]) ** 2).sum(-1).argmin(axis=1)
    lab = np.full(k, -1)
    for j in range(k):
        if (a == j).any():
            lab[j] = np.bincount(y_train[a == j], minlength=N_CLASSES).argmax()
    keep = lab >= 0
    d = ((np.asarray(x_test, float)[:, None, :] - cent[keep][None]) ** 2).sum(-1)
    return float((lab[keep][d.argmin(axis=1)] == y_test).mean())
