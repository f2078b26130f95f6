"""Unit tests for labs.vision: loaders (offline, with file:// fixtures), the generated
chest X-rays and scoring class activation maps (the maps themselves are the Part 3 notebook's TODO)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from autograder.notebooks import run_solution_cells
from labs import vision
from labs.data import DatasetUnavailable, RemoteFile

CAM_SOLUTION = Path(__file__).resolve().parents[1] / "lab2_vision" / "solutions" / "Part3_CAM.ipynb"


def _write_fake_mnist(path: Path, num_train: int = 30, num_test: int = 10) -> str:
    """Write a small file in mnist.npz's format and return its sha256."""
    generator = np.random.default_rng(0)
    np.savez(
        path,
        x_train=generator.integers(0, 256, size=(num_train, 28, 28), dtype=np.uint8),
        y_train=generator.integers(0, 10, size=num_train, dtype=np.uint8),
        x_test=generator.integers(0, 256, size=(num_test, 28, 28), dtype=np.uint8),
        y_test=generator.integers(0, 10, size=num_test, dtype=np.uint8),
    )
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def no_offline_flag(monkeypatch):
    monkeypatch.delenv("LABS_OFFLINE", raising=False)


def test_sklearn_digits_look_like_mnist():
    dataset = vision.load_sklearn_digits()
    assert dataset.train_images.shape[1:] == (28, 28, 1)
    assert dataset.train_images.dtype == np.float32
    assert 0.0 <= dataset.train_images.min() and dataset.train_images.max() <= 1.0
    assert len(dataset.train_images) + len(dataset.test_images) == 1797
    assert set(np.unique(dataset.test_labels)) == set(range(10))
    # MNIST-style framing: the digit lives in the central 20x20, the 4-pixel border is empty.
    assert dataset.train_images[:, :4].max() == 0.0 and dataset.train_images[:, :, 24:].max() == 0.0
    assert "scikit-learn" in dataset.name


def test_resize_keeps_constant_images_constant_and_matches_pixel_centres():
    constant = np.full((2, 8, 8), 0.25)
    assert np.allclose(vision.resize_images(constant, 20), 0.25)
    matrix = vision.resize_matrix(2, 4)
    # Target pixel centres 0.5, 1.5, 2.5, 3.5 map to source -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    assert np.allclose(matrix, [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])


def test_load_mnist_reads_a_verified_file_from_a_file_url(tmp_path, no_offline_flag, capsys):
    source = tmp_path / "source" / "mnist.npz"
    source.parent.mkdir()
    digest = _write_fake_mnist(source)
    remote = RemoteFile("mnist.npz", source.as_uri(), digest)
    dataset = vision.load_mnist(fallback=False, directory=tmp_path / "cache", remote=remote)
    assert dataset.name == "MNIST"
    assert dataset.train_images.shape == (30, 28, 28, 1) and dataset.test_labels.shape == (10,)
    assert (tmp_path / "cache" / "mnist.npz").exists()
    assert "MNIST: 30 training and 10 test images" in capsys.readouterr().out


def test_corrupt_mnist_download_is_deleted_reported_and_replaced_by_sklearn_digits(tmp_path, no_offline_flag, capsys):
    source = tmp_path / "mnist.npz"
    _write_fake_mnist(source)
    remote = RemoteFile("mnist.npz", source.as_uri(), "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(DatasetUnavailable, match="corrupt"):
        vision.load_mnist(fallback=False, directory=cache, remote=remote)
    assert list(cache.iterdir()) == []
    dataset = vision.load_mnist(fallback=True, directory=cache, remote=remote)
    output = capsys.readouterr().out
    assert "corrupt" in output and "scikit-learn" in output
    assert "scikit-learn" in dataset.name and list(cache.iterdir()) == []


def test_missing_mnist_says_what_was_tried_and_how_to_provide_the_file(tmp_path, no_offline_flag):
    missing = tmp_path / "nowhere" / "mnist.npz"
    remote = RemoteFile("mnist.npz", missing.as_uri(), "0" * 64)
    with pytest.raises(DatasetUnavailable) as error:
        vision.load_mnist(fallback=False, directory=tmp_path / "cache", remote=remote)
    message = str(error.value)
    assert missing.as_uri() in message and "LABS_DATA_DIR" in message
    assert str(tmp_path / "cache" / "mnist.npz") in message


def test_offline_flag_never_tries_the_url(tmp_path, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("the loader tried the network although LABS_OFFLINE is set")

    monkeypatch.setenv("LABS_OFFLINE", "1")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    remote = RemoteFile("mnist.npz", "https://example.invalid/mnist.npz", "0" * 64)
    with pytest.raises(DatasetUnavailable, match="LABS_OFFLINE"):
        vision.load_mnist(fallback=False, directory=tmp_path / "cache", remote=remote)


def _small_pneumonia_file(path: Path) -> None:
    """A PneumoniaMNIST-shaped npz (12 training, 4 test images) at ``path``."""
    generator = np.random.default_rng(1)
    np.savez(
        path,
        train_images=generator.integers(0, 256, size=(12, 28, 28), dtype=np.uint8),
        train_labels=generator.integers(0, 2, size=(12, 1), dtype=np.uint8),
        test_images=generator.integers(0, 256, size=(4, 28, 28), dtype=np.uint8),
        test_labels=np.array([[0], [1], [1], [0]], dtype=np.uint8),
    )


def test_pneumonia_loader_needs_no_argument_and_checks_the_published_md5(tmp_path):
    source = tmp_path / "pneumoniamnist.npz"
    _small_pneumonia_file(source)
    stand_in = replace(vision.PNEUMONIA_MNIST, md5=hashlib.md5(source.read_bytes()).hexdigest(), check=None)

    dataset = vision.load_pneumonia_mnist(directory=tmp_path / "cache", url=source.as_uri(), remote=stand_in)

    assert dataset.train_images.shape == (12, 28, 28, 1)
    assert dataset.test_labels.tolist() == [0, 1, 1, 0]
    assert dataset.class_names == ("normal", "pneumonia")
    wrong = replace(stand_in, md5="0" * 32)
    with pytest.raises(DatasetUnavailable, match="pneumoniamnist.npz"):
        vision.load_pneumonia_mnist(directory=tmp_path / "other", url=source.as_uri(), remote=wrong)


def test_pneumonia_loader_refuses_a_sha256_that_is_not_64_hex_digits(tmp_path):
    with pytest.raises(ValueError, match="64 hex digits"):
        vision.load_pneumonia_mnist("abc", directory=tmp_path)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) in LeCun's IDX format, gzipped when ``path`` ends in .gz."""
    import gzip

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(size.to_bytes(4, "big") for size in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_read_mnist_idx_reads_the_original_files_plain_or_gzipped(tmp_path):
    generator = np.random.default_rng(2)
    train_images = generator.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    test_images = generator.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", train_images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([5, 0, 4, 1, 9, 2], dtype=np.uint8))
    _write_idx(tmp_path / "t10k-images.idx3-ubyte", test_images)
    _write_idx(tmp_path / "t10k-labels.idx1-ubyte", np.array([7, 2, 1], dtype=np.uint8))
    dataset = vision.read_mnist_idx(tmp_path)
    assert dataset.name == "MNIST"
    assert dataset.train_images.shape == (6, 28, 28, 1) and dataset.train_images.dtype == np.float32
    assert np.allclose(dataset.test_images[..., 0], test_images / 255.0)
    assert dataset.train_labels.tolist() == [5, 0, 4, 1, 9, 2] and dataset.test_labels.tolist() == [7, 2, 1]


def test_read_mnist_idx_names_a_missing_or_truncated_file(tmp_path):
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        vision.read_mnist_idx(tmp_path)
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    for name, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", np.zeros(2, np.uint8)),
                        ("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))):
        _write_idx(tmp_path / name, array)
    truncated = tmp_path / "t10k-images-idx3-ubyte"
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        vision.read_mnist_idx(tmp_path)
    _write_idx(truncated, images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="layout"):
        vision.read_mnist_idx(tmp_path)


def test_generated_xrays_put_the_opacity_inside_its_box_and_only_in_positives():
    images, labels, boxes = vision.generate_chest_xrays(40, image_size=48, seed=3)
    assert images.shape == (40, 48, 48, 1) and images.dtype == np.float32
    assert labels.tolist() == [0, 1] * 20
    assert (boxes[labels == 0] == -1).all() and (boxes[labels == 1] >= 0).all()
    clean, _, _ = vision.generate_chest_xrays(40, image_size=48, seed=3)
    assert np.array_equal(images, clean), "the same seed must give the same images"
    for image, box in zip(images[labels == 1], boxes[labels == 1]):
        top, left, bottom, right = box
        inside = image[top:bottom, left:right, 0]
        # The opacity is the brightest compact thing in the lung: its box is much brighter than the image.
        assert inside.mean() > image.mean() + 0.1


def test_generated_xrays_reject_bad_sizes():
    with pytest.raises(ValueError, match="num_images"):
        vision.generate_chest_xrays(0)
    with pytest.raises(ValueError, match="image_size"):
        vision.generate_chest_xrays(4, image_size=8)


def test_cam_hits_counts_peaks_inside_boxes():
    cams = np.zeros((3, 10, 10))
    cams[0, 2, 3] = 1.0
    cams[1, 8, 8] = 1.0
    cams[2, 5, 5] = 1.0
    boxes = np.array([[1, 2, 4, 5], [0, 0, 5, 5], [5, 5, 6, 6]])
    assert vision.cam_hits(cams, boxes).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="one per map"):
        vision.cam_hits(cams, boxes[:2])


def test_plots_return_figures_without_error():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = vision.load_sklearn_digits()
    probabilities = np.full((6, 10), 0.01)
    probabilities[np.arange(6), [int(label) for label in dataset.test_labels[:5]] + [0]] = 0.91
    for figure in (
        vision.plot_digits(dataset.test_images, dataset.test_labels, count=6),
        vision.plot_predictions(dataset.test_images[:6], dataset.test_labels[:6], probabilities, count=6, columns=3),
        vision.plot_cam(dataset.test_images[:2], dataset.test_images[:2, ..., 0], titles=["a", "b"],
                        boxes=np.array([[4, 4, 10, 10], [-1, -1, -1, -1]])),
    ):
        assert figure.axes
        plt.close(figure)


def test_cam_figure_has_one_colour_bar_from_0_to_1_and_roc_figure_draws_the_chance_diagonal():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, _, boxes = vision.generate_chest_xrays(3, image_size=32, seed=0)
    figure = vision.plot_cam(images, np.random.default_rng(0).random((3, 32, 32)) * 50 - 10, boxes=boxes)
    colour_bars = [axis for axis in figure.axes if axis.get_label() == "<colorbar>"]
    assert len(colour_bars) == 1 and colour_bars[0].get_ylim() == (0.0, 1.0)
    plt.close(figure)
    figure = vision.plot_roc([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0], area=0.875, operating_point=(0.0, 0.5))
    lines = figure.axes[0].get_lines()
    assert [[0, 0], [1, 1]] in [line.get_xydata().tolist() for line in lines], "no chance diagonal"
    assert "0.875" in " ".join(text.get_text() for text in figure.axes[0].get_legend().get_texts())
    plt.close(figure)
    with pytest.raises(ValueError, match="same length"):
        vision.plot_roc([0.0, 1.0], [0.0, 0.5, 1.0])


def test_part3_solution_roc_and_area_agree_with_scikit_learn_on_tied_scores():
    from sklearn.metrics import roc_auc_score, roc_curve

    solution = run_solution_cells(CAM_SOLUTION, {"roc_curve", "area_under_curve"}, {"np": np})
    generator = np.random.default_rng(11)
    labels = generator.integers(0, 2, size=200)
    scores = np.round(generator.normal(labels * 0.8, 1.0), 1)
    false_rates, true_rates, thresholds = solution["roc_curve"](labels, scores)
    expected_false, expected_true, expected_thresholds = roc_curve(labels, scores, drop_intermediate=False)
    assert np.allclose(false_rates, expected_false) and np.allclose(true_rates, expected_true)
    assert np.array_equal(thresholds, expected_thresholds)
    assert np.isclose(solution["area_under_curve"](false_rates, true_rates), roc_auc_score(labels, scores))


def test_cam_of_a_quickly_trained_gap_cnn_peaks_on_the_opacity():
    """End to end on the generated set: a small GAP CNN, 6 epochs on 400 images of 32x32, and the
    Part 3 solution's ``compute_cam``.

    The box covers about 4% of the image, so a CAM that ignored the opacity would hit
    about 4% of the time; this run hits about 80%.
    """
    keras = pytest.importorskip("keras")
    import tensorflow as tf

    compute_cam = run_solution_cells(CAM_SOLUTION, {"compute_cam"}, {"np": np, "tf": tf})["compute_cam"]
    keras.utils.set_random_seed(0)
    images, labels, _ = vision.generate_chest_xrays(400, image_size=32, seed=1)
    test_images, test_labels, test_boxes = vision.generate_chest_xrays(100, image_size=32, seed=2)
    inputs = keras.Input((32, 32, 1))
    hidden = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    hidden = keras.layers.MaxPooling2D()(keras.layers.Conv2D(16, 3, padding="same", activation="relu")(hidden))
    hidden = keras.layers.MaxPooling2D()(keras.layers.Conv2D(32, 3, padding="same", activation="relu")(hidden))
    features = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(hidden)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=6, batch_size=32, verbose=0)
    feature_model = keras.Model(inputs, features)
    weights = model.layers[-1].kernel.numpy()
    positives = test_labels == 1
    cams = np.stack([
        compute_cam(maps, weights, 1, (32, 32))
        for maps in feature_model.predict(test_images[positives], verbose=0)
    ])
    hit_rate = vision.cam_hits(cams, test_boxes[positives]).mean()
    assert hit_rate >= 0.6, f"CAM peak inside the opacity's box for {hit_rate:.0%} of positives"
