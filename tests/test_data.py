"""Unit tests of common.data: shapes, dtypes, ranges, determinism, clear errors, MNIST cache."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import threading
import time

from common import data

import numpy as np
import pytest

SYNTHETIC_CLASSIFIERS = [
    (data.make_moons, {}),
    (data.make_circles, {}),
    (data.make_spirals, {"n_classes": 3}),
    (data.make_xor, {}),
]


@pytest.mark.parametrize(("make", "kwargs"), SYNTHETIC_CLASSIFIERS)
def test_synthetic_classification_sets(make, kwargs):
    x, y = make(200, seed=1, **kwargs)
    assert x.shape == (200, 2) and x.dtype == np.float32
    assert y.shape == (200,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(kwargs.get("n_classes", 2)))
    x_again, y_again = make(200, seed=1, **kwargs)
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_array_equal(y, y_again)
    x_other, _ = make(200, seed=2, **kwargs)
    assert not np.array_equal(x, x_other)


def test_xor_labels_are_the_sign_products():
    x, y = data.make_xor(4, noise=0.0)
    np.testing.assert_array_equal(y, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(int))
    x, y = data.make_xor(400, noise=0.1, seed=3)
    assert np.mean(y == (np.sign(x[:, 0]) != np.sign(x[:, 1]))) > 0.99
    assert np.bincount(y).tolist() == [200, 200]


def test_spirals_are_balanced_and_bounded():
    x, y = data.make_spirals(601, n_classes=3, noise=0.0)
    assert sorted(np.bincount(y).tolist()) == [200, 200, 201]
    assert np.all(np.linalg.norm(x, axis=1) <= 1.0 + 1e-6)


@pytest.mark.parametrize("function", sorted(data.TRUE_FUNCTIONS))
def test_regression_1d_returns_its_truth(function):
    x, y, f = data.make_regression_1d(500, function=function, noise=0.1, seed=4)
    assert x.shape == y.shape == (500,) and x.dtype == y.dtype == np.float32
    assert np.all((x >= -1) & (x <= 1))
    residual = y - f(x)
    assert abs(residual.std() - 0.1) < 0.02 and abs(residual.mean()) < 0.02
    _, y_noiseless, _ = data.make_regression_1d(50, function=function, noise=0.0, seed=4)
    x50, _, _ = data.make_regression_1d(50, function=function, noise=0.0, seed=4)
    np.testing.assert_allclose(y_noiseless, f(x50), atol=1e-6)


def test_polynomial_data_matches_its_coefficients():
    x, y, f = data.make_polynomial_data(40, coefficients=(1.0, -2.0, 0.5), noise=0.0, seed=0)
    np.testing.assert_allclose(y, 1.0 - 2.0 * x + 0.5 * x**2, atol=1e-5)
    np.testing.assert_allclose(f(np.array([2.0])), [1.0 - 4.0 + 2.0])


def test_teacher_student():
    x, y, teacher = data.make_teacher_student(300, input_dim=5, hidden_units=(16, 8), seed=2)
    assert x.shape == (300, 5) and y.shape == (300,) and x.dtype == y.dtype == np.float32
    np.testing.assert_allclose(y, teacher(x), rtol=1e-5, atol=1e-5)
    assert 0.05 < y.std() < 5.0  # activations of order one, as the 1/fan_in scaling promises


def test_digits_split():
    split = data.load_digits(seed=0)
    sizes = (len(split.x_train), len(split.x_val), len(split.x_test))
    assert sum(sizes) == 1797 and sizes == (1077, 360, 360)
    assert split.x_train.shape[1] == 64 and split.x_train.dtype == np.float32
    assert split.y_train.dtype == np.int64 and split.num_classes == 10
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    # The parts are disjoint: no image appears in two of them.
    rows = {part.tobytes() for part in split.x_test}
    assert not any(row.tobytes() in rows for row in split.x_train[:200])
    # Same seed, same split; another seed, another split.
    np.testing.assert_array_equal(split.x_val, data.load_digits(seed=0).x_val)
    assert not np.array_equal(split.x_val, data.load_digits(seed=1).x_val)
    images = data.load_digits(flatten=False, n_train=100, seed=0)
    assert images.x_train.shape == (100, 8, 8) and np.bincount(images.y_train).min() >= 9
    np.testing.assert_array_equal(images.x_val.reshape(-1, 64), split.x_val)


@pytest.mark.parametrize(
    ("load", "n_features", "n_total"),
    [
        (data.load_iris, 4, 150),
        (data.load_breast_cancer, 30, 569),
        (data.load_diabetes, 10, 442),
    ],
)
def test_bundled_sets(load, n_features, n_total):
    split = load(seed=0)
    assert split.x_train.shape[1] == n_features
    assert len(split.x_train) + len(split.x_val) + len(split.x_test) == n_total
    assert split.x_train.dtype == np.float32
    np.testing.assert_allclose(split.x_train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(split.x_train.std(axis=0), 1.0, atol=1e-3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.make_moons(0), "n must be an integer >= 2, got 0"),
        (lambda: data.make_moons(100, noise=-1.0), "noise must be a number"),
        (lambda: data.make_regression_1d(10, function="tan"), "function must be one of"),
        (lambda: data.make_regression_1d(10, x_range=(1, -1)), "x_range"),
        (lambda: data.make_spirals(100, n_classes=1), "n_classes must be an integer >= 2"),
        (lambda: data.make_circles(100, factor=1.0), "factor must lie strictly between"),
        (lambda: data.load_digits(val_fraction=0.6, test_fraction=0.5), "< 1"),
        (lambda: data.load_digits(n_train=5000), "n_train must be at most 1077"),
        (lambda: data.load_digits(seed=-1), "seed must be an integer >= 0, got -1"),
        (lambda: data.load_digits(seed=1.5), "seed must be an integer"),
        (lambda: data.load_mnist("cifar10"), "kind must be one of 'mnist', 'fashion_mnist'"),
        (lambda: data.load_mnist(timeout=60), "timeout must be a number in [0.1, 15.0]"),
        (lambda: data.split_dataset(np.zeros(3), np.zeros(4)), "same length"),
    ],
)
def test_bad_arguments_give_clear_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


# --- MNIST / Fashion-MNIST through the Keras cache, with small files written by the tests ---


def _fake_mnist_npz(path, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=np.arange(n_train, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=np.arange(n_test, dtype=np.uint8) % 10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def _idx_gz(array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return gzip.compress(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, and a download address where nothing listens."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with socket.socket() as probe:  # a free local port: connecting to it is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(data, "DOWNLOAD_BASE_URL", f"http://127.0.0.1:{port}/")
    return tmp_path / "keras" / "datasets"


def test_mnist_valid_cached_file(keras_home, monkeypatch):
    digest = _fake_mnist_npz(keras_home / "mnist.npz")
    monkeypatch.setitem(data.DATASET_FILES, "mnist", ("", [("mnist.npz", "sha256", digest)]))
    split = data.load_mnist(val_size=2, seed=0)
    assert split.name == "mnist"
    assert split.x_train.shape == (10, 28, 28) and split.x_val.shape == (2, 28, 28)
    assert split.x_test.shape == (5, 28, 28) and split.x_train.dtype == np.float32
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    assert split.y_train.dtype == np.int64
    flat = data.load_mnist(val_size=2, flatten=True, seed=0)
    assert flat.x_train.shape == (10, 784)
    np.testing.assert_array_equal(flat.x_val.reshape(2, 28, 28), split.x_val)


def test_fashion_mnist_valid_cached_files(keras_home, monkeypatch):
    rng = np.random.default_rng(1)
    arrays = {
        "train-labels-idx1-ubyte.gz": np.arange(8) % 10,
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (8, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(3) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28)),
    }
    files = []
    for name, array in arrays.items():
        blob = _idx_gz(array)
        (keras_home / "fashion-mnist").mkdir(parents=True, exist_ok=True)
        (keras_home / "fashion-mnist" / name).write_bytes(blob)
        files.append((name, "md5", hashlib.md5(blob).hexdigest()))
    monkeypatch.setitem(data.DATASET_FILES, "fashion_mnist", ("fashion-mnist", files))
    split = data.load_mnist("fashion_mnist", val_size=3, seed=0)
    assert split.name == "fashion_mnist"
    assert split.x_train.shape == (5, 28, 28) and split.x_test.shape == (3, 28, 28)
    np.testing.assert_array_equal(split.y_test, [0, 1, 2])


def test_corrupt_cached_file_is_refused_and_kept(keras_home):
    path = keras_home / "mnist.npz"
    _fake_mnist_npz(path)  # valid npz, but not the real MNIST: fails the published checksum
    before = path.read_bytes()
    with pytest.raises(data.DatasetError, match="fails its sha256 checksum") as error:
        data.load_mnist()
    assert str(path) in str(error.value)
    assert path.read_bytes() == before, "a cached file must never be deleted or changed"


def test_corrupt_file_is_not_silently_replaced_by_digits(keras_home):
    _fake_mnist_npz(keras_home / "mnist.npz")
    with pytest.warns(UserWarning, match="checksum"):
        split = data.load_mnist(fallback_to_digits=True)
    assert split.name == "digits"


def test_missing_file_with_network_unreachable(keras_home):
    start = time.monotonic()
    with pytest.raises(data.DatasetError) as error:
        data.load_mnist(timeout=2)
    message = str(error.value)
    assert "not in the Keras cache" in message and str(keras_home / "mnist.npz") in message
    assert "fallback_to_digits=True" in message
    assert time.monotonic() - start < 5
    assert not list(keras_home.glob("**/*.part")), "no partial download is left behind"


def test_missing_file_falls_back_to_digits_when_asked(keras_home):
    with pytest.warns(UserWarning, match="Falling back to digits"):
        split = data.load_mnist(fallback_to_digits=True, timeout=2)
    assert split.name == "digits" and split.x_train.shape[1:] == (8, 8)


def test_download_that_stalls_is_abandoned_at_the_deadline(keras_home, monkeypatch):
    """A server that accepts the connection and then sends nothing: no hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    monkeypatch.setattr(data, "DOWNLOAD_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}/")
    start = time.monotonic()
    try:
        with pytest.raises(data.DatasetError, match="could not be downloaded"):
            data.load_mnist(timeout=1)
    finally:
        for connection, _ in accepted:
            connection.close()
        server.close()
    assert time.monotonic() - start < 4
    assert not (keras_home / "mnist.npz").exists()


def test_downloaded_file_is_verified(keras_home, monkeypatch):
    """A download that succeeds but delivers the wrong bytes is refused, not loaded."""
    import http.server

    payload = b"not the dataset"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    monkeypatch.setattr(data, "DOWNLOAD_BASE_URL", f"http://127.0.0.1:{server.server_port}/")
    try:
        with pytest.raises(data.DatasetError, match="fails its sha256 checksum"):
            data.load_mnist(timeout=5)
    finally:
        server.server_close()
    assert not (keras_home / "mnist.npz").exists(), "a wrong download must not be cached"


# --- Digits on a larger canvas and synthetic shapes (convolutional networks) ---


def test_digits_canvas_holds_the_digits_centred_and_shifted():
    plain = data.load_digits(flatten=False, seed=0)
    split = data.load_digits_canvas(canvas_size=16, seed=0)
    assert split.x_train.shape == (1077, 16, 16, 1) and split.x_test.shape == (360, 16, 16, 1)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    np.testing.assert_array_equal(split.y_test, plain.y_test)
    # Centred: the 8x8 digit occupies rows and columns 4..11, the margin is zero.
    np.testing.assert_array_equal(split.x_test[:, 4:12, 4:12, 0], plain.x_test)
    assert split.x_test.sum() == plain.x_test.sum()
    # A shift by (rows, columns) = (2, -3) is a translation of the centred canvas.
    moved = data.load_digits_canvas(canvas_size=16, shift=(2, -3), seed=0)
    np.testing.assert_array_equal(moved.x_test, np.roll(split.x_test, (2, -3), axis=(1, 2)))
    flat = data.load_digits_canvas(canvas_size=16, shift=1, flatten=True, seed=0)
    np.testing.assert_array_equal(
        flat.x_val, np.roll(split.x_val, (1, 1), axis=(1, 2)).reshape(-1, 256)
    )


def test_digits_canvas_upsampling_and_random_shifts():
    plain = data.load_digits(flatten=False, n_train=50, seed=2)
    big = data.load_digits_canvas(canvas_size=24, upsample=2, n_train=50, seed=2)
    assert big.x_train.shape == (50, 24, 24, 1)
    np.testing.assert_array_equal(big.x_train[:, 4:20:2, 4:20:2, 0], plain.x_train)
    np.testing.assert_array_equal(big.x_train[:, 5:20:2, 5:20:2, 0], plain.x_train)
    jittered = data.load_digits_canvas(canvas_size=20, random_shift=3, seed=2)
    again = data.load_digits_canvas(canvas_size=20, random_shift=3, seed=2)
    np.testing.assert_array_equal(jittered.x_train, again.x_train)
    # Every image is its centred digit moved by some offset in {-3, ..., 3}^2, and the offsets
    # vary: the images' centres of mass spread over several pixels.
    centred = data.load_digits_canvas(canvas_size=20, seed=2)
    assert jittered.x_train.sum() == pytest.approx(centred.x_train.sum(), rel=1e-6)
    rows = np.arange(20)
    mass = jittered.x_train[..., 0].sum(axis=(1, 2))
    row_centre = (jittered.x_train[..., 0].sum(axis=2) @ rows) / mass
    row_centre0 = (centred.x_train[..., 0].sum(axis=2) @ rows) / mass
    moves = row_centre - row_centre0
    np.testing.assert_allclose(moves, np.round(moves), atol=1e-4)
    assert set(np.round(moves).astype(int)) == set(range(-3, 4))


def test_shapes_are_seeded_balanced_and_controlled():
    x, y = data.make_shapes(101, size=16, seed=3)
    assert x.shape == (101, 16, 16, 1) and x.dtype == np.float32 and y.dtype == np.int64
    assert sorted(np.bincount(y).tolist()) == [25, 25, 25, 26]
    assert set(np.unique(x)) <= {0.0, 1.0}  # no noise: binary images
    # Without shifts or rotations, every image of a class is the same image.
    for label in range(4):
        assert np.all(x[y == label] == x[y == label][0])
    x_again, y_again = data.make_shapes(101, size=16, seed=3)
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_array_equal(y, y_again)
    # The disk of radius r covers about pi r^2 of the image, the square 2 r^2, up to pixels cut
    # along the edges: the square's side, 27.2 pixels here, is rounded to a whole number of
    # pixels, at most 2 / 27.2 = 7 % of its area.
    x, y = data.make_shapes(8, size=64, shapes=("disk", "square"), radius=0.3)
    area = x[..., 0].mean(axis=(1, 2))
    assert np.allclose(area[y == 0], np.pi * 0.09, rtol=0.03)
    assert np.allclose(area[y == 1], 2 * 0.09, rtol=0.08)
    moved, _ = data.make_shapes(40, size=16, max_shift=0.2, max_angle=90, noise=0.1, seed=1)
    assert 0.0 <= moved.min() and moved.max() <= 1.0
    assert len({image.tobytes() for image in moved}) == 40


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.load_digits_canvas(canvas_size=7), "canvas_size must be an integer >= 8"),
        (
            lambda: data.load_digits_canvas(canvas_size=12, upsample=2),
            "canvas_size must be an integer >= 16",
        ),
        (lambda: data.load_digits_canvas(shift=5), "shift 5 with random_shift 0 moves"),
        (lambda: data.load_digits_canvas(shift=2, random_shift=3), "must lie in [-4, 4]"),
        (lambda: data.load_digits_canvas(shift=(1, 2, 3)), "shift must be an integer or a pair"),
        (lambda: data.load_digits_canvas(shift=1.5), "shift must be an integer or a pair"),
        (lambda: data.load_digits_canvas(random_shift=-1), "random_shift must be an integer"),
        (lambda: data.place_on_canvas(np.zeros((2, 8, 8)), 10, offsets=(2, 0)), "offsets must"),
        (lambda: data.place_on_canvas(np.zeros((2, 8, 6)), 10), "images must have shape"),
        (lambda: data.make_shapes(10, shapes=("square", "star")), "shapes entries must be one"),
        (lambda: data.make_shapes(10, shapes=()), "shapes must be distinct"),
        (lambda: data.make_shapes(10, radius=0.4, max_shift=0.2), "max_shift must be a number"),
        (lambda: data.make_shapes(10, max_angle=270), "max_angle must be a number"),
    ],
)
def test_canvas_and_shapes_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_adding_problem_marks_two_numbers_and_sums_them():
    x, y = data.make_adding_problem(2000, length=20, seed=4)
    assert x.shape == (2000, 20, 2) and x.dtype == np.float32
    assert y.shape == (2000,) and y.dtype == np.float32
    markers = x[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    np.testing.assert_array_equal(markers[:, :10].sum(axis=1), 1.0)  # one in the first half
    np.testing.assert_array_equal(markers[:, 10:].sum(axis=1), 1.0)  # one in the second
    np.testing.assert_allclose(y, np.sum(x[..., 0] * markers, axis=1), rtol=1e-6)
    assert 0.0 <= x[..., 0].min() and x[..., 0].max() <= 1.0
    # The sum of two uniform numbers: mean 1, variance 1/6, kurtosis 2.4, so the sample variance
    # has standard error (1/6) sqrt(1.4 / n); both within 5 standard errors for n = 2000.
    assert abs(y.mean() - 1.0) <= 5 * (1 / 6 / 2000) ** 0.5
    assert abs(y.var() - 1 / 6) <= 5 * (1 / 6) * (1.4 / 2000) ** 0.5
    x_again, y_again = data.make_adding_problem(2000, length=20, seed=4)
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_array_equal(y, y_again)


@pytest.mark.parametrize("task", ["reverse", "sort", "copy"])
def test_token_sequences(task):
    x, y = data.make_token_sequences(500, length=6, vocab_size=7, task=task, seed=1)
    assert x.shape == y.shape == (500, 6) and x.dtype == y.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 6 and len(np.unique(x)) == 7
    expected = {"reverse": x[:, ::-1], "sort": np.sort(x, axis=1), "copy": x}[task]
    np.testing.assert_array_equal(y, expected)
    # y is a rearrangement of x: the same multiset of tokens in every row
    np.testing.assert_array_equal(np.sort(y, axis=1), np.sort(x, axis=1))
    x_again, _ = data.make_token_sequences(500, length=6, vocab_size=7, task=task, seed=1)
    np.testing.assert_array_equal(x, x_again)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_token_sequences_uniform_and_independent(seed):
    # Pearson chi-square tests at level 0.001 each: the tokens are uniform over the vocabulary
    # (counts of all n * length tokens, vocab - 1 = 6 degrees of freedom), and the tokens of
    # every pair of positions are jointly uniform, hence independent (a 7 x 7 table of the n
    # pairs against n / 49 each, 48 degrees of freedom), at level 0.001 / 15 per pair for the
    # 15 pairs (Bonferroni). A fixed seed makes each test deterministic; under the hypothesis
    # each would fail for about one seed in a thousand.
    from scipy import stats

    n, length, vocab = 20000, 6, 7
    x, _ = data.make_token_sequences(n, length=length, vocab_size=vocab, task="copy", seed=seed)
    counts = np.bincount(x.ravel(), minlength=vocab)
    assert stats.chisquare(counts).pvalue > 1e-3
    pairs = [(i, j) for i in range(length) for j in range(i + 1, length)]
    for i, j in pairs:
        table = np.bincount(x[:, i] * vocab + x[:, j], minlength=vocab * vocab)
        assert stats.chisquare(table).pvalue > 1e-3 / len(pairs), (i, j)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.make_adding_problem(10, length=1), "length must be an integer >= 2"),
        (lambda: data.make_adding_problem(0), "n must be an integer >= 1"),
        (lambda: data.make_token_sequences(10, task="shuffle"), "task must be one of"),
        (lambda: data.make_token_sequences(10, vocab_size=1), "vocab_size must be an integer"),
        (lambda: data.make_token_sequences(10, length=0), "length must be an integer >= 1"),
    ],
)
def test_sequence_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
