"""Data sets: scikit-learn's 8x8 digits (ships with scikit-learn, offline) and MNIST from IDX files.

Digits: 1797 images of 64 pixels with values 0..16. The split is fixed and stratified:
``train_test_split(test_size=0.25, stratify=y, random_state=0)`` -> 1347 train / 450 test images.

MNIST IDX format (LeCun): big-endian header ``0x00 0x00 <type> <ndim>``, then ``ndim`` uint32 sizes, then
the data in row-major order. Types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64. Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIGITS_TEST_SIZE = 0.25
DIGITS_SPLIT_SEED = 0

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class Split:
    """Raw (unscaled) pixels and labels of a fixed train/test split."""

    name: str
    x_train: np.ndarray  # (N, D) pixels
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pixel_max: float
    meta: dict
    x_val: np.ndarray | None = None  # held out of the training data for model selection (see hold_out)
    y_val: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _indices_hash(idx: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


def digits_split(test_size: float = DIGITS_TEST_SIZE, seed: int = DIGITS_SPLIT_SEED) -> Split:
    """The fixed stratified digits split (see module docstring)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    idx = np.arange(len(d.target))
    tr, te = train_test_split(idx, test_size=test_size, stratify=d.target, random_state=seed)
    X = d.data.astype(np.int64)
    y = d.target.astype(np.int64)
    meta = {
        "dataset": "sklearn.datasets.load_digits",
        "split": "train_test_split(stratify=y)",
        "test_size": test_size,
        "random_state": seed,
        "n_train": int(len(tr)),
        "n_test": int(len(te)),
        "test_indices_sha256_16": _indices_hash(te),
    }
    return Split("digits", X[tr], y[tr], X[te], y[te], 16.0, meta)


def hold_out(split: Split, frac: float = 0.2, seed: int = 0) -> Split:
    """Carve a stratified validation set of ``frac`` of the training images out of ``split``.

    The validation set is what model selection looks at (which TQ setting, which uniform width); the test
    set is only reported. ``frac`` must lie in (0, 0.5]; the split is fixed by ``seed``.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < frac <= 0.5:
        raise ValueError(f"val_frac={frac} is out of range: allowed (0, 0.5]")
    if split.x_val is not None:
        raise ValueError("split already has a validation set")
    idx = np.arange(len(split.y_train))
    counts = np.bincount(split.y_train)
    strat = split.y_train if counts[counts > 0].min() >= 2 else None
    tr, va = train_test_split(idx, test_size=frac, stratify=strat, random_state=seed)
    meta = dict(split.meta, n_train=int(len(tr)), n_val=int(len(va)), val_frac=frac, val_random_state=seed,
                val_split="train_test_split(train part, stratify=y)", val_indices_sha256_16=_indices_hash(va))
    return Split(split.name, split.x_train[tr], split.y_train[tr], split.x_test, split.y_test, split.pixel_max,
                 meta, split.x_train[va], split.y_train[va])


def load_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into an array of its declared shape and type."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic must start with two zero bytes)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX data type 0x{type_code:02X}; expected one of "
                         + ", ".join(f"0x{k:02X}" for k in _IDX_TYPES))
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header (ndim={ndim})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dt = np.dtype(_IDX_TYPES[type_code])
    need = int(np.prod(shape)) * dt.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != need:
        raise ValueError(f"{path}: IDX body has {len(body)} bytes, shape {shape} of {dt} needs {need}")
    return np.frombuffer(body, dtype=dt).reshape(shape).astype(dt.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise FileNotFoundError(f"{directory}: no {stem}[.gz]")


def mnist_split(directory: str | Path) -> Split:
    """MNIST from the four standard IDX files in ``directory``; images flattened to 784 pixels 0..255."""
    d = Path(directory)
    xs = {}
    for part, n in (("train", "train"), ("test", "t10k")):
        img = load_idx(_find(d, f"{n}-images-idx3-ubyte"))
        lab = load_idx(_find(d, f"{n}-labels-idx1-ubyte"))
        if img.ndim != 3 or lab.ndim != 1 or img.shape[0] != lab.shape[0]:
            raise ValueError(f"{d}: {part} images {img.shape} and labels {lab.shape} do not match")
        xs[part] = (img.reshape(img.shape[0], -1).astype(np.int64), lab.astype(np.int64))
    meta = {"dataset": "mnist-idx", "directory": str(d), "n_train": len(xs["train"][1]), "n_test": len(xs["test"][1])}
    return Split("mnist", *xs["train"], *xs["test"], 255.0, meta)
