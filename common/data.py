"""Datasets for the lectures: synthetic sets with their ground truth, scikit-learn's bundled
sets with seeded splits, and MNIST / Fashion-MNIST read from the Keras cache.

Conventions (every loader):

- Inputs are float32 NumPy arrays; class labels are int64 vectors of shape (n,); regression
  targets are float32 vectors of shape (n,).
- Everything random takes a `seed`; the same seed gives the same arrays.
- Bad arguments raise `ValueError` naming the argument, the bad value and what is allowed.
- Nothing here imports Keras or touches the network, except `load_mnist`, which tries one
  download with a hard deadline when the file is not cached.

To use your own data in a lecture script, replace the loader call by your arrays with the same
shapes, for example ``split = split_dataset(x, y, seed=SEED)``.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import os
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

Array = np.ndarray
TrueFunction = Callable[[Array], Array]

# ---------------------------------------------------------------------------------------------
# Argument checks


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name: str, value: object, minimum: float, maximum: float = np.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ValueError(f"{name} must be a number in [{minimum}, {maximum}], got {value!r}")
    value = float(value)
    if not (minimum <= value <= maximum) or np.isnan(value):
        raise ValueError(f"{name} must be a number in [{minimum}, {maximum}], got {value!r}")
    return value


def _check_choice(name: str, value: object, allowed: list[str] | tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return str(value)


# ---------------------------------------------------------------------------------------------
# Splits


@dataclass(frozen=True)
class Split:
    """A train / validation / test split. `name` says which dataset the arrays come from."""

    x_train: Array
    y_train: Array
    x_val: Array
    y_val: Array
    x_test: Array
    y_test: Array
    name: str = ""

    @property
    def num_classes(self) -> int:
        """Number of classes (for integer labels): 1 + the largest label seen."""
        return int(max(self.y_train.max(), self.y_val.max(), self.y_test.max())) + 1


def split_dataset(
    x: Array,
    y: Array,
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
    name: str = "",
) -> Split:
    """Split (x, y) into train / validation / test parts, deterministically from `seed`.

    With `stratify=True` (classification) every part keeps the class proportions.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    val_fraction = _check_float("val_fraction", val_fraction, 0.0, 0.9)
    test_fraction = _check_float("test_fraction", test_fraction, 0.0, 0.9)
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )
    seed = _check_int("seed", seed, 0)
    labels = y if stratify else None
    empty_x, empty_y = x[:0], y[:0]
    if test_fraction > 0:
        x_rest, x_test, y_rest, y_test = train_test_split(
            x, y, test_size=test_fraction, random_state=seed, stratify=labels
        )
    else:
        x_rest, y_rest, x_test, y_test = x, y, empty_x, empty_y
    if val_fraction > 0:
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest,
            y_rest,
            test_size=val_fraction / (1.0 - test_fraction),
            random_state=seed + 1,
            stratify=y_rest if stratify else None,
        )
    else:
        x_train, y_train, x_val, y_val = x_rest, y_rest, empty_x, empty_y
    return Split(x_train, y_train, x_val, y_val, x_test, y_test, name)


def _subsample_train(split: Split, n_train: int | None, seed: int) -> Split:
    """Keep a stratified subset of `n_train` training examples (validation and test unchanged)."""
    if n_train is None:
        return split
    n_available = len(split.x_train)
    n_train = _check_int("n_train", n_train, 1)
    if n_train > n_available:
        raise ValueError(f"n_train must be at most {n_available} here, got {n_train}")
    if n_train == n_available:
        return split
    x_train, _, y_train, _ = train_test_split(
        split.x_train,
        split.y_train,
        train_size=n_train,
        random_state=seed + 2,
        stratify=split.y_train if n_train >= split.num_classes else None,
    )
    return Split(x_train, y_train, split.x_val, split.y_val, split.x_test, split.y_test, split.name)


def _standardize(split: Split) -> Split:
    """Scale every input column to mean 0 and standard deviation 1 on the training part."""
    mean = split.x_train.mean(axis=0)
    std = split.x_train.std(axis=0)
    std[std == 0] = 1.0

    def scale(a: Array) -> Array:
        return ((a - mean) / std).astype(np.float32)

    return Split(
        scale(split.x_train),
        split.y_train,
        scale(split.x_val),
        split.y_val,
        scale(split.x_test),
        split.y_test,
        split.name,
    )


# ---------------------------------------------------------------------------------------------
# Synthetic data with known ground truth

TRUE_FUNCTIONS: dict[str, TrueFunction] = {
    "sin": lambda x: np.sin(np.pi * x),
    "cubic": lambda x: x**3 - 0.5 * x,
    "runge": lambda x: 1.0 / (1.0 + 25.0 * x**2),
    "step": lambda x: np.where(x < 0.0, -0.5, 0.5),
}


def make_regression_1d(
    n: int = 30,
    *,
    function: str = "sin",
    noise: float = 0.2,
    x_range: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
) -> tuple[Array, Array, TrueFunction]:
    """Noisy samples y = f(x) + noise * eps, eps ~ N(0, 1), x uniform on `x_range`.

    Returns x and y of shape (n,), float32, and the true function f (NumPy in, NumPy out), so
    a lesson can draw it and measure bias against it. `function` is one of TRUE_FUNCTIONS.
    """
    n = _check_int("n", n, 1)
    _check_choice("function", function, tuple(TRUE_FUNCTIONS))
    noise = _check_float("noise", noise, 0.0)
    low, high = x_range
    if not low < high:
        raise ValueError(f"x_range must be (low, high) with low < high, got {x_range!r}")
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    f = TRUE_FUNCTIONS[function]
    x = rng.uniform(low, high, size=n)
    y = f(x) + noise * rng.standard_normal(n)
    return x.astype(np.float32), y.astype(np.float32), f


def make_polynomial_data(
    n: int = 30,
    *,
    coefficients: tuple[float, ...] = (0.0, 1.0, 0.0, -2.0),
    noise: float = 0.1,
    x_range: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
) -> tuple[Array, Array, TrueFunction]:
    """Noisy samples of the polynomial sum_k coefficients[k] * x**k (lowest degree first).

    Returns x and y of shape (n,), float32, and the true polynomial as a function.
    """
    n = _check_int("n", n, 1)
    if len(coefficients) == 0:
        raise ValueError("coefficients must hold at least one number, got an empty sequence")
    noise = _check_float("noise", noise, 0.0)
    low, high = x_range
    if not low < high:
        raise ValueError(f"x_range must be (low, high) with low < high, got {x_range!r}")
    coefficients = tuple(float(c) for c in coefficients)

    def f(x: Array) -> Array:
        return np.polynomial.polynomial.polyval(x, coefficients)

    rng = np.random.default_rng(_check_int("seed", seed, 0))
    x = rng.uniform(low, high, size=n)
    y = f(x) + noise * rng.standard_normal(n)
    return x.astype(np.float32), y.astype(np.float32), f


def make_moons(n: int = 400, *, noise: float = 0.2, seed: int = 0) -> tuple[Array, Array]:
    """Two interleaving half circles: x of shape (n, 2) float32, labels y in {0, 1}."""
    n = _check_int("n", n, 2)
    noise = _check_float("noise", noise, 0.0)
    x, y = sk_datasets.make_moons(n, noise=noise, random_state=_check_int("seed", seed, 0))
    return x.astype(np.float32), y.astype(np.int64)


def make_circles(
    n: int = 400, *, noise: float = 0.1, factor: float = 0.5, seed: int = 0
) -> tuple[Array, Array]:
    """A small circle (label 1) inside a large one (label 0): x (n, 2) float32, y in {0, 1}."""
    n = _check_int("n", n, 2)
    noise = _check_float("noise", noise, 0.0)
    factor = _check_float("factor", factor, 0.0, 1.0)
    if factor in (0.0, 1.0):
        raise ValueError(f"factor must lie strictly between 0 and 1, got {factor}")
    x, y = sk_datasets.make_circles(
        n, noise=noise, factor=factor, random_state=_check_int("seed", seed, 0)
    )
    return x.astype(np.float32), y.astype(np.int64)


def make_spirals(
    n: int = 600,
    *,
    n_classes: int = 2,
    turns: float = 1.5,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[Array, Array]:
    """Interleaved Archimedean spirals, one arm per class, in the unit disc.

    Returns x of shape (n, 2) float32 and labels y in {0, ..., n_classes - 1}; the classes have
    sizes that differ by at most one.
    """
    n = _check_int("n", n, 2)
    n_classes = _check_int("n_classes", n_classes, 2)
    turns = _check_float("turns", turns, 0.1, 10.0)
    noise = _check_float("noise", noise, 0.0)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    y = np.arange(n) % n_classes
    radius = rng.uniform(0.05, 1.0, size=n)
    angle = 2.0 * np.pi * (turns * radius + y / n_classes)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x += noise * rng.standard_normal(x.shape)
    order = rng.permutation(n)
    return x[order].astype(np.float32), y[order].astype(np.int64)


def make_xor(n: int = 200, *, noise: float = 0.1, seed: int = 0) -> tuple[Array, Array]:
    """The XOR problem: points around the corners (+-1, +-1); label 1 where the signs differ.

    n is rounded down to a multiple of 4 (the same number of points at each corner); with
    noise=0 and n=4 these are exactly the four corners.
    """
    n = _check_int("n", n, 4)
    noise = _check_float("noise", noise, 0.0)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0])
    per_corner = n // 4
    x = np.repeat(corners, per_corner, axis=0) + noise * rng.standard_normal((4 * per_corner, 2))
    y = np.repeat(labels, per_corner)
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order].astype(np.int64)


def make_teacher_student(
    n: int = 500,
    *,
    input_dim: int = 10,
    hidden_units: tuple[int, ...] = (32,),
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[Array, Array, TrueFunction]:
    """Regression targets produced by a random "teacher" network with tanh hidden layers.

    Teacher weights are N(0, 1/fan_in) (so activations stay of order one), biases zero, and a
    linear scalar output. Returns x of shape (n, input_dim) with x ~ N(0, I), y = teacher(x) +
    noise * eps of shape (n,), both float32, and the teacher as a NumPy function.
    """
    n = _check_int("n", n, 1)
    input_dim = _check_int("input_dim", input_dim, 1)
    for units in hidden_units:
        _check_int("hidden_units entries", units, 1)
    noise = _check_float("noise", noise, 0.0)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    sizes = [input_dim, *hidden_units, 1]
    weights = [
        rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        for fan_in, fan_out in itertools.pairwise(sizes)
    ]

    def teacher(x: Array) -> Array:
        h = np.asarray(x, dtype=np.float64)
        for w in weights[:-1]:
            h = np.tanh(h @ w)
        return (h @ weights[-1])[:, 0]

    x = rng.standard_normal((n, input_dim))
    y = teacher(x) + noise * rng.standard_normal(n)
    return x.astype(np.float32), y.astype(np.float32), teacher


# ---------------------------------------------------------------------------------------------
# Synthetic sequences for recurrent networks and attention

SEQUENCE_TASKS = ("reverse", "sort", "copy")


def make_adding_problem(n: int = 1000, *, length: int = 50, seed: int = 0) -> tuple[Array, Array]:
    """The adding problem: add the two marked numbers.

    Returns x of shape (n, length, 2) float32 and y of shape (n,) float32. Channel 0 holds
    numbers uniform on [0, 1]; channel 1 marks two positions with 1 (the rest 0): one in the
    first half of the sequence, one in the second. The target is the sum of the two marked
    numbers, with mean 1 and variance 1/6: predicting 1 always has mean squared error 1/6.

    This is the variant of Le, Jaitly and Hinton (2015), also used by Arjovsky, Shah and Bengio
    (2016). The original problem of Hochreiter and Schmidhuber (1997) differs: its numbers are
    uniform on [-1, 1], the first marker lies among the first ten positions and the second
    before the middle of the sequence, and the target is 0.5 + (X1 + X2) / 4.
    """
    n = _check_int("n", n, 1)
    length = _check_int("length", length, 2)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    values = rng.uniform(0.0, 1.0, size=(n, length))
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    y = values[np.arange(n), first] + values[np.arange(n), second]
    return np.stack([values, markers], axis=-1).astype(np.float32), y.astype(np.float32)


def make_token_sequences(
    n: int = 1000, *, length: int = 8, vocab_size: int = 10, task: str = "reverse", seed: int = 0
) -> tuple[Array, Array]:
    """Random token sequences and a sequence-to-sequence target, position by position.

    Returns x and y, both int64 of shape (n, length) with tokens in {0, ..., vocab_size - 1},
    drawn independently and uniformly. The target y is x reversed (`task="reverse"`:
    y_i = x_{length-1-i}), sorted in increasing order (`"sort"`), or x itself (`"copy"`).
    """
    n = _check_int("n", n, 1)
    length = _check_int("length", length, 1)
    vocab_size = _check_int("vocab_size", vocab_size, 2)
    task = _check_choice("task", task, SEQUENCE_TASKS)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    x = rng.integers(0, vocab_size, size=(n, length))
    if task == "reverse":
        y = x[:, ::-1]
    elif task == "sort":
        y = np.sort(x, axis=1)
    else:
        y = x.copy()
    return x.astype(np.int64), np.ascontiguousarray(y).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# scikit-learn's bundled datasets (no download)


def load_digits(
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    n_train: int | None = None,
    flatten: bool = True,
    seed: int = 0,
) -> Split:
    """The 1,797 8x8 handwritten digits bundled with scikit-learn, the default image set.

    Pixels are scaled from 0..16 to [0, 1]; x has shape (n, 64) (flatten=True) or (n, 8, 8);
    labels are 0..9. The split is stratified and deterministic in `seed`; `n_train` keeps a
    stratified subset of the training part (validation and test parts stay the same).
    """
    bunch = sk_datasets.load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    if not flatten:
        x = x.reshape(-1, 8, 8)
    split = split_dataset(
        x,
        bunch.target.astype(np.int64),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        name="digits",
    )
    return _subsample_train(split, n_train, seed)


# ---------------------------------------------------------------------------------------------
# Images on a larger canvas: digits and synthetic shapes for convolutional networks


def _check_shift(name: str, value: object) -> tuple[int, int]:
    """An integer shift, the same on both axes, or a pair (rows, columns) of integer shifts."""
    pair = (value, value) if isinstance(value, int | np.integer) else value
    if (
        not isinstance(pair, tuple | list)
        or len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in pair)
    ):
        raise ValueError(
            f"{name} must be an integer or a pair (rows, columns) of integers, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def place_on_canvas(
    images: Array,
    canvas_size: int,
    *,
    offsets: Array | tuple[int, int] = (0, 0),
) -> Array:
    """Paste square images of shape (n, h, h) into the centre of zero canvases, then shift them.

    `offsets` is one (rows, columns) shift for every image or an integer array of shape (n, 2),
    one shift per image; positive values move an image down and to the right. The result has
    shape (n, canvas_size, canvas_size) and the dtype of `images`; a shift that would push part
    of an image off the canvas raises a ValueError (nothing is ever cut off). When
    `canvas_size - h` is odd, the extra row and column of margin are at the bottom and right.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (n, h, h), got {images.shape}")
    n, size = images.shape[0], images.shape[1]
    canvas_size = _check_int("canvas_size", canvas_size, size)
    offsets = np.asarray(offsets)
    if offsets.shape == (2,):
        offsets = np.broadcast_to(offsets, (n, 2))
    if offsets.shape != (n, 2) or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError(f"offsets must be integers of shape (2,) or ({n}, 2), got {offsets!r}")
    top = (canvas_size - size) // 2
    low, high = -top, canvas_size - size - top  # allowed range of every shift
    if n and (offsets.min() < low or offsets.max() > high):
        raise ValueError(
            f"offsets must lie in [{low}, {high}] for {size}x{size} images on a "
            f"{canvas_size}x{canvas_size} canvas, got values in [{offsets.min()}, {offsets.max()}]"
        )
    canvas = np.zeros((n, canvas_size, canvas_size), dtype=images.dtype)
    for i, (dy, dx) in enumerate(offsets):
        row, col = top + dy, top + dx
        canvas[i, row : row + size, col : col + size] = images[i]
    return canvas


def load_digits_canvas(
    *,
    canvas_size: int = 16,
    upsample: int = 1,
    shift: int | tuple[int, int] = 0,
    random_shift: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    n_train: int | None = None,
    flatten: bool = False,
    seed: int = 0,
) -> Split:
    """scikit-learn's 8x8 digits placed on a larger zero canvas, for convolutional networks.

    Each digit is enlarged `upsample` times by pixel repetition (an 8*upsample square image),
    pasted into the centre of a `canvas_size` x `canvas_size` canvas, moved by `shift` (one
    integer for both axes or a pair (rows, columns); positive is down and right) and then by a
    random offset per image, each coordinate uniform on {-random_shift, ..., random_shift}
    (drawn from `seed`). A placement that would cut off part of a digit raises a ValueError.

    x has shape (n, canvas_size, canvas_size, 1) (channels last, ready for `Conv2D`), or
    (n, canvas_size**2) with flatten=True; pixels in [0, 1], float32; labels 0..9, int64. The
    split is the one of `load_digits` with the same `seed`, `val_fraction`, `test_fraction` and
    `n_train`: the same digits land in the same part whatever the canvas and the shifts, so
    loading twice with different `shift` gives the same test digits, shifted.
    """
    upsample = _check_int("upsample", upsample, 1)
    canvas_size = _check_int("canvas_size", canvas_size, 8 * upsample)
    dy, dx = _check_shift("shift", shift)
    random_shift = _check_int("random_shift", random_shift, 0)
    seed = _check_int("seed", seed, 0)
    top = (canvas_size - 8 * upsample) // 2
    low, high = -top, canvas_size - 8 * upsample - top
    if not (low <= dy - random_shift and dy + random_shift <= high) or not (
        low <= dx - random_shift and dx + random_shift <= high
    ):
        raise ValueError(
            f"shift {shift!r} with random_shift {random_shift} moves a {8 * upsample}x"
            f"{8 * upsample} digit off a {canvas_size}x{canvas_size} canvas: every shift plus or "
            f"minus random_shift must lie in [{low}, {high}]"
        )
    split = load_digits(
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        n_train=n_train,
        flatten=False,
        seed=seed,
    )
    rng = np.random.default_rng([seed, 10])

    def prepare(x: Array) -> Array:
        big = np.repeat(np.repeat(x, upsample, axis=1), upsample, axis=2)
        offsets = np.array([dy, dx]) + rng.integers(-random_shift, random_shift + 1, (len(x), 2))
        placed = place_on_canvas(big, canvas_size, offsets=offsets)
        return placed.reshape(len(x), -1) if flatten else placed[..., np.newaxis]

    return Split(
        prepare(split.x_train),
        split.y_train,
        prepare(split.x_val),
        split.y_val,
        prepare(split.x_test),
        split.y_test,
        f"digits on a {canvas_size}x{canvas_size} canvas",
    )


SHAPES = ("square", "disk", "triangle", "cross")


def make_shapes(
    n: int = 400,
    *,
    size: int = 16,
    shapes: tuple[str, ...] = SHAPES,
    radius: float = 0.25,
    max_shift: float = 0.0,
    max_angle: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[Array, Array]:
    """Filled geometric shapes (label = index in `shapes`) on a `size` x `size` grid.

    Each image shows one shape of circumradius `radius` (a fraction of the image side) centred
    at the image centre moved by a random offset, each coordinate uniform on
    [-max_shift, max_shift] (fractions of the side), and rotated by an angle uniform on
    [-max_angle, max_angle] degrees; Gaussian pixel noise of standard deviation `noise` is added
    and the pixels are clipped to [0, 1]. Shapes: "square", "disk", "triangle" (equilateral,
    pointing up at angle 0), "cross" (a plus sign of bar width radius/2). Every shape lies
    inside its circumcircle, so with max_shift <= 0.5 - radius none leaves the image. Classes
    have sizes that differ by at most one. Returns x of shape (n, size, size, 1), float32, and
    y, int64.
    """
    n = _check_int("n", n, 1)
    size = _check_int("size", size, 4)
    if len(shapes) == 0 or len(set(shapes)) != len(shapes):
        raise ValueError(f"shapes must be distinct names from {SHAPES}, got {shapes!r}")
    for shape in shapes:
        _check_choice("shapes entries", shape, SHAPES)
    radius = _check_float("radius", radius, 0.05, 0.5)
    max_shift = _check_float("max_shift", max_shift, 0.0, 0.5 - radius)
    max_angle = _check_float("max_angle", max_angle, 0.0, 180.0)
    noise = _check_float("noise", noise, 0.0)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    y = np.arange(n) % len(shapes)
    centres = 0.5 + rng.uniform(-max_shift, max_shift, (n, 2))
    angles = np.deg2rad(rng.uniform(-max_angle, max_angle, n))
    grid = (np.arange(size) + 0.5) / size  # pixel centres in the unit square
    rows, cols = np.meshgrid(grid, grid, indexing="ij")
    x = np.zeros((n, size, size))
    for i in range(n):
        # Coordinates relative to the centre, rotated by -angle (rotating the shape by +angle),
        # in units of the radius; "up" is the negative row direction.
        u, v = (cols - centres[i, 1]) / radius, (centres[i, 0] - rows) / radius
        c, s = np.cos(angles[i]), np.sin(angles[i])
        u, v = c * u + s * v, -s * u + c * v
        name = shapes[y[i]]
        if name == "disk":
            inside = u**2 + v**2 <= 1.0
        elif name == "square":  # circumradius 1: half side 1/sqrt(2)
            inside = np.maximum(np.abs(u), np.abs(v)) <= 1.0 / np.sqrt(2.0)
        elif name == "triangle":  # vertices at angles 90, 210, 330 degrees on the unit circle
            inside = (v >= -0.5) & (np.sqrt(3.0) * u + v <= 1.0) & (-np.sqrt(3.0) * u + v <= 1.0)
        else:  # cross: two bars of half-width 1/4 and half-length sqrt(15)/4, so that the
            # bar corners (sqrt(15)/4, 1/4) lie on the unit circle (circumradius 1)
            half = np.sqrt(15.0) / 4.0
            inside = ((np.abs(u) <= 0.25) & (np.abs(v) <= half)) | (
                (np.abs(v) <= 0.25) & (np.abs(u) <= half)
            )
        x[i] = inside
    x = np.clip(x + noise * rng.standard_normal(x.shape), 0.0, 1.0)
    order = rng.permutation(n)
    return x[order, ..., np.newaxis].astype(np.float32), y[order].astype(np.int64)


def _load_bundled(
    name: str, *, val_fraction: float, test_fraction: float, standardize: bool, seed: int
) -> Split:
    """One of scikit-learn's bundled tables, split (stratified for classes) and standardized."""
    bunch = getattr(sk_datasets, f"load_{name}")()
    is_regression = name == "diabetes"
    split = split_dataset(
        bunch.data.astype(np.float32),
        bunch.target.astype(np.float32 if is_regression else np.int64),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        stratify=not is_regression,
        name=name,
    )
    return _standardize(split) if standardize else split


def load_iris(
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    standardize: bool = True,
    seed: int = 0,
) -> Split:
    """Iris: 150 flowers, 4 measurements, 3 classes; inputs standardized on the training part."""
    return _load_bundled(
        "iris",
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        standardize=standardize,
        seed=seed,
    )


def load_breast_cancer(
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    standardize: bool = True,
    seed: int = 0,
) -> Split:
    """Breast cancer (Wisconsin): 569 cases, 30 features, labels 0 (malignant) / 1 (benign)."""
    return _load_bundled(
        "breast_cancer",
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        standardize=standardize,
        seed=seed,
    )


def load_diabetes(
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    standardize: bool = True,
    seed: int = 0,
) -> Split:
    """Diabetes: 442 patients, 10 features, a real-valued disease progression target (float32)."""
    return _load_bundled(
        "diabetes",
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        standardize=standardize,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST from the Keras cache


class DatasetError(RuntimeError):
    """A dataset file is missing and cannot be downloaded, or a cached file is not valid."""


DOWNLOAD_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# (file name, hash algorithm, expected hex digest) per dataset, as Keras caches them:
# MNIST is one .npz file; Fashion-MNIST is four gzipped IDX files (the published MD5 sums).
DATASET_FILES: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "mnist": (
        "",
        [
            (
                "mnist.npz",
                "sha256",
                "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            )
        ],
    ),
    "fashion_mnist": (
        "fashion-mnist",
        [
            ("train-labels-idx1-ubyte.gz", "md5", "25c81989df183df01b3e8a0aad5dffbe"),
            ("train-images-idx3-ubyte.gz", "md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("t10k-labels-idx1-ubyte.gz", "md5", "bb300cfdad3c16e7a12a480ee83cd310"),
            ("t10k-images-idx3-ubyte.gz", "md5", "bef4ecab320f06d8554ea6380940ec79"),
        ],
    ),
}


def keras_cache_dir() -> Path:
    """Where Keras caches datasets: `$KERAS_HOME/datasets`, by default `~/.keras/datasets`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, target: Path, timeout: float, algorithm: str, expected: str) -> None:
    """Download `url` to `target` within `timeout` seconds in total, verified, or raise.

    The data goes to a temporary file next to the target first and is renamed only once its
    checksum matches, so an interrupted or wrong download never appears under the real name.
    """
    deadline = time.monotonic() + timeout
    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            while block := response.read(1 << 16):
                out.write(block)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the download took longer than {timeout:g} s")
        found = _file_digest(partial, algorithm)
        if found != expected:
            raise DatasetError(
                f"the file downloaded from {url} fails its {algorithm} checksum (expected "
                f"{expected}, found {found}); it was discarded"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _cached_file(
    dataset: str, subdir: str, fname: str, algorithm: str, expected: str, timeout: float
) -> Path:
    """Return the verified path of one dataset file, downloading it once if it is missing."""
    folder = keras_cache_dir() / subdir if subdir else keras_cache_dir()
    path = folder / fname
    url = DOWNLOAD_BASE_URL + fname
    if not path.exists():
        try:
            _download(url, path, timeout, algorithm, expected)
        except DatasetError:
            raise
        except (OSError, urllib.error.URLError, ValueError) as error:
            raise DatasetError(
                f"{dataset}: {fname} is not in the Keras cache and could not be downloaded "
                f"({error}). Download {url} on a machine with internet access and put it at "
                f"{path} (the folder comes from $KERAS_HOME, default ~/.keras), or use "
                f"fallback_to_digits=True to run on scikit-learn's digits instead."
            ) from error
    found = _file_digest(path, algorithm)
    if found != expected:
        raise DatasetError(
            f"{dataset}: the cached file {path} fails its {algorithm} checksum (expected "
            f"{expected}, found {found}); it was not loaded and has been left in place. Move it "
            f"away and download it again from {url}."
        )
    return path


def _read_idx(path: Path, expected_dims: int) -> Array:
    """Read a gzipped IDX file (the original MNIST format) into a uint8 array."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    magic = int.from_bytes(raw[:4], "big")
    dims = magic & 0xFF
    if magic >> 8 != 0x08 or dims != expected_dims:
        raise DatasetError(f"{path} is not an IDX file of {expected_dims} dimension(s)")
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise DatasetError(f"{path} holds {data.size} values, its header says {shape}")
    return data.reshape(shape)


def _read_mnist_files(kind: str, paths: list[Path]) -> tuple[Array, Array, Array, Array]:
    if kind == "mnist":
        with np.load(paths[0], allow_pickle=False) as f:
            return f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    y_train, x_train, y_test, x_test = (
        _read_idx(paths[0], 1),
        _read_idx(paths[1], 3),
        _read_idx(paths[2], 1),
        _read_idx(paths[3], 3),
    )
    return x_train, y_train, x_test, y_test


def load_mnist(
    kind: str = "mnist",
    *,
    val_size: int = 10_000,
    flatten: bool = False,
    fallback_to_digits: bool = False,
    timeout: float = 15.0,
    seed: int = 0,
) -> Split:
    """MNIST or Fashion-MNIST (`kind="fashion_mnist"`) from the Keras cache.

    Files are read from `$KERAS_HOME/datasets` (default `~/.keras/datasets`), the place
    `keras.datasets` caches them, and verified against their published checksums; a file that
    fails its checksum is never loaded and never deleted. A missing file is downloaded once,
    within `timeout` seconds (at most 15). If that fails, a `DatasetError` says where to put the
    file, unless `fallback_to_digits=True`, which warns and returns `load_digits` instead
    (check `split.name`).

    Pixels are scaled to [0, 1]: x has shape (n, 28, 28), or (n, 784) with flatten=True.
    `val_size` examples of the official training set, chosen by `seed`, form the validation
    part; the official test set is the test part.
    """
    _check_choice("kind", kind, tuple(DATASET_FILES))
    timeout = _check_float("timeout", timeout, 0.1, 15.0)
    seed = _check_int("seed", seed, 0)
    subdir, files = DATASET_FILES[kind]
    try:
        paths = [
            _cached_file(kind, subdir, fname, algorithm, expected, timeout)
            for fname, algorithm, expected in files
        ]
    except DatasetError as error:
        if not fallback_to_digits:
            raise
        warnings.warn(f"{error} Falling back to digits.", stacklevel=2)
        return load_digits(flatten=flatten, seed=seed)
    x_train, y_train, x_test, y_test = _read_mnist_files(kind, paths)
    val_size = _check_int("val_size", val_size, 0)
    if val_size >= len(x_train):
        raise ValueError(f"val_size must be below {len(x_train)}, got {val_size}")

    def prepare(x: Array) -> Array:
        x = x.astype(np.float32) / 255.0
        return x.reshape(len(x), -1) if flatten else x

    order = np.random.default_rng(seed).permutation(len(x_train))
    val, train = order[:val_size], order[val_size:]
    return Split(
        prepare(x_train[train]),
        y_train[train].astype(np.int64),
        prepare(x_train[val]),
        y_train[val].astype(np.int64),
        prepare(x_test),
        y_test.astype(np.int64),
        kind,
    )
