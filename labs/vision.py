"""Images for Lab 2: handwritten digits, chest X-rays and class activation maps.

Data sets
---------
* **MNIST** (:data:`MNIST`): 70,000 handwritten digits, 28x28 grey levels, from the
  copy Keras serves (same URL and sha256 as ``keras.datasets.mnist``). It is
  downloaded once into the cache of :mod:`labs.data`.
* **scikit-learn's digits** (:func:`load_sklearn_digits`): 1,797 real handwritten
  digits, 8x8, that ship inside scikit-learn (UCI "Optical Recognition of
  Handwritten Digits"). Without a network, or with ``LABS_OFFLINE=1``,
  :func:`load_mnist` uses them instead, upsampled to 20x20 and centred in a 28x28
  frame as MNIST digits are, and says so.
* **PneumoniaMNIST** (:data:`PNEUMONIA_MNIST`): 5,856 paediatric chest X-rays,
  28x28, from MedMNIST v2 (CC BY 4.0), downloaded once and checked against the MD5
  MedMNIST publishes (it publishes no sha256).
* **Generated chest X-rays** (:func:`generate_chest_xrays`): a synthetic set in which
  the label is decided by an opacity at a known place, so that a class activation
  map can be checked against the opacity's box.

Class activation maps (Zhou et al., "Learning Deep Features for Discriminative
Localization", CVPR 2016) are computed by the student in Part 3; this module only
scores them (:func:`cam_peaks`, :func:`cam_hits`) and draws them (:func:`plot_cam`).
The ROC curve of the Part 3 classifier is the student's too; :func:`plot_roc` draws it.

All images here are float32 arrays in [0, 1] of shape (N, H, W, 1); labels are
int64 arrays of shape (N,). Boxes are int arrays (top, left, bottom, right) in
pixels, bottom and right exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from labs.data import DatasetUnavailable, RemoteFile, fetch, npz_check

# mnist.npz as Keras serves it (11,490,434 bytes); Keras' earlier S3 address served a file of that size
# too, so it is tried second, and the sha256 decides whether its copy is used.
MNIST = RemoteFile(
    name="mnist.npz",
    url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    licence="MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0; the npz copy served for keras.datasets.mnist",
    size=11_490_434,
    mirrors=("https://s3.amazonaws.com/img-datasets/mnist.npz",),
    check=npz_check({
        "x_train": ((60_000, 28, 28), "uint8"),
        "y_train": ((60_000,), "uint8"),
        "x_test": ((10_000, 28, 28), "uint8"),
        "y_test": ((10_000,), "uint8"),
    }),
)

# MedMNIST v2 publishes the MD5 (medmnist's INFO table), not a sha256; record 10519652 is the
# current Zenodo record and 6496656 the earlier one with the same 28x28 file.
PNEUMONIA_MNIST_URL = "https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1"
PNEUMONIA_MNIST_MD5 = "28209eda62fecd6e6a2d98b1501bb15f"
PNEUMONIA_MNIST_LICENCE = "PneumoniaMNIST from MedMNIST v2 (Yang et al., Scientific Data 2023), CC BY 4.0"
PNEUMONIA_MNIST = RemoteFile(
    name="pneumoniamnist.npz",
    url=PNEUMONIA_MNIST_URL,
    md5=PNEUMONIA_MNIST_MD5,
    licence=PNEUMONIA_MNIST_LICENCE,
    mirrors=("https://zenodo.org/records/6496656/files/pneumoniamnist.npz?download=1",),
    check=npz_check({
        f"{split}_{kind}": ((count, *shape), dtype)
        for split, count in (("train", 4_708), ("val", 524), ("test", 624))
        for kind, shape, dtype in (("images", (28, 28), "uint8"), ("labels", (1,), "integer"))
    }),
    manual="https://doi.org/10.5281/zenodo.10519652",
)

DIGIT_NAMES = tuple(str(digit) for digit in range(10))
GENERATED_XRAY_CLASSES = ("normal", "opacity")
PNEUMONIA_CLASSES = ("normal", "pneumonia")


@dataclass
class ImageDataset:
    """A labelled image set split into training and test images.

    Attributes:
        train_images, test_images: float32 arrays (N, H, W, 1) in [0, 1].
        train_labels, test_labels: int64 arrays (N,) of class indices.
        class_names: one name per class index.
        name: which data set this really is (say it when reporting results).
        test_boxes: for generated sets, int array (N_test, 4) of the object box
            (top, left, bottom, right) per test image, -1 where there is none.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    name: str
    test_boxes: np.ndarray | None = None

    def describe(self) -> str:
        """One line: data set name, image size and split sizes."""
        height, width = self.train_images.shape[1:3]
        return (
            f"{self.name}: {len(self.train_images):,} training and {len(self.test_images):,} test images "
            f"of {height}x{width} pixels, {len(self.class_names)} classes."
        )


def resize_matrix(source_size: int, target_size: int) -> np.ndarray:
    """Linear-interpolation matrix of shape (target_size, source_size).

    Pixel centres are aligned as in ``tf.image.resize(..., "bilinear")``:
    target pixel ``i`` samples source coordinate ``(i + 0.5) * source / target - 0.5``,
    clamped to the image. ``M @ image @ M.T`` resizes a square image.
    """
    if source_size < 1 or target_size < 1:
        raise ValueError(f"sizes must be positive, got {source_size} -> {target_size}.")
    coordinates = (np.arange(target_size) + 0.5) * source_size / target_size - 0.5
    coordinates = np.clip(coordinates, 0.0, source_size - 1)
    lower = np.floor(coordinates).astype(int)
    upper = np.minimum(lower + 1, source_size - 1)
    fraction = coordinates - lower
    matrix = np.zeros((target_size, source_size))
    rows = np.arange(target_size)
    np.add.at(matrix, (rows, lower), 1.0 - fraction)
    np.add.at(matrix, (rows, upper), fraction)
    return matrix


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of square images (N, S, S) to (N, size, size), float32."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (N, S, S), got {images.shape}.")
    matrix = resize_matrix(images.shape[1], size)
    return np.einsum("ij,njk,lk->nil", matrix, images, matrix).astype(np.float32)


def _split(images: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int):
    """Stratified shuffle split: returns train_images, train_labels, test_images, test_labels."""
    generator = np.random.default_rng(seed)
    test_indices = []
    for label in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == label))
        test_indices.extend(members[: int(round(test_fraction * len(members)))])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_indices] = True
    train_order = generator.permutation(np.flatnonzero(~is_test))
    test_order = generator.permutation(np.flatnonzero(is_test))
    return images[train_order], labels[train_order], images[test_order], labels[test_order]


def load_sklearn_digits(test_fraction: float = 0.25, seed: int = 0) -> ImageDataset:
    """scikit-learn's 1,797 handwritten digits, made MNIST-like: (N, 28, 28, 1) in [0, 1].

    The 8x8 images (grey levels 0-16) are upsampled to 20x20 and centred in a
    28x28 frame, the way MNIST centres its 20x20 digits. The split is stratified
    by digit and fixed by ``seed``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images.astype(np.float32) / 16.0
    images = np.zeros((len(small), 28, 28), dtype=np.float32)
    images[:, 4:24, 4:24] = np.clip(resize_images(small, 20), 0.0, 1.0)
    labels = digits.target.astype(np.int64)
    train_x, train_y, test_x, test_y = _split(images[..., None], labels, test_fraction, seed)
    return ImageDataset(
        train_x, train_y, test_x, test_y, DIGIT_NAMES,
        name="scikit-learn digits (UCI handwritten digits, 8x8 upsampled to 28x28)",
    )


def read_mnist_npz(path: str | Path) -> ImageDataset:
    """Read an ``mnist.npz`` (keys x_train, y_train, x_test, y_test; uint8 images 28x28)."""
    with np.load(path, allow_pickle=False) as archive:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(archive.files)
        if missing:
            raise ValueError(f"{path} is not an MNIST npz file (missing {sorted(missing)}); delete it and fetch it again.")
        arrays = {key: archive[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    return _mnist_dataset(arrays)


def _mnist_dataset(arrays: dict[str, np.ndarray]) -> ImageDataset:
    """MNIST's four uint8 arrays (``x_train`` (N, 28, 28), ``y_train`` (N,), ...) as an ImageDataset in [0, 1]."""
    return ImageDataset(
        (arrays["x_train"].astype(np.float32) / 255.0)[..., None],
        arrays["y_train"].astype(np.int64),
        (arrays["x_test"].astype(np.float32) / 255.0)[..., None],
        arrays["y_test"].astype(np.int64),
        DIGIT_NAMES,
        name="MNIST",
    )


MNIST_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _read_idx(path: Path) -> np.ndarray:
    """One IDX file (LeCun's format: magic, dimension sizes, uint8 data), optionally gzipped, as a uint8 array."""
    import gzip

    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes; use the original MNIST files.")
    num_dimensions = data[3]
    header_bytes = 4 + 4 * num_dimensions
    shape = tuple(int.from_bytes(data[4 + 4 * axis: 8 + 4 * axis], "big") for axis in range(num_dimensions))
    if len(data) != header_bytes + int(np.prod(shape)):
        raise ValueError(f"{path} is truncated or padded: its header announces shape {shape}; fetch it again.")
    return np.frombuffer(data, dtype=np.uint8, offset=header_bytes).reshape(shape)


def read_mnist_idx(directory: str | Path) -> ImageDataset:
    """Read MNIST from the four original IDX files in ``directory`` (each may also end in ``.gz``).

    The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` as LeCun, Cortes and
    Burges distribute them (a dot instead of the dash before ``idx`` works too).

    Raises:
        ValueError: a file is missing, is not an IDX file, or images and labels disagree in number.
    """
    directory = Path(directory)
    arrays = {}
    for key, name in MNIST_IDX_FILES.items():
        candidates = [directory / (spelled + suffix) for spelled in (name, name.replace("-idx", ".idx"))
                      for suffix in ("", ".gz")]
        found = next((candidate for candidate in candidates if candidate.is_file()), None)
        if found is None:
            raise ValueError(f"{directory} has no {name} (or {name}.gz): it must hold the four MNIST IDX files.")
        arrays[key] = _read_idx(found)
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
            raise ValueError(f"{directory}: {split} images {images.shape} and labels {labels.shape} are not "
                             "MNIST's layout (N, 28, 28) and (N,).")
    return _mnist_dataset(arrays)


def load_mnist(
    fallback: bool = True, directory: str | Path | None = None, remote: RemoteFile = MNIST
) -> ImageDataset:
    """Load MNIST (downloaded once, checked, cached); print which data set is used.

    The file is checked against its sha256, size and layout, and comes from
    the first source of :data:`MNIST` that delivers it (see :func:`labs.data.fetch`).
    With ``fallback=True``, when MNIST cannot be had (no network, ``LABS_OFFLINE=1``
    with no cached copy, or only corrupt downloads, which :func:`labs.data.fetch`
    deletes), the reason is printed and scikit-learn's digits are returned instead
    (:func:`load_sklearn_digits`); ``dataset.name`` says which one you got.

    Raises:
        DatasetUnavailable: MNIST cannot be had and ``fallback`` is False.
    """
    try:
        dataset = read_mnist_npz(fetch(remote, directory=directory))
    except (DatasetUnavailable, ValueError, OSError) as error:
        if not fallback:
            raise
        print(f"MNIST is not available here. {error}")
        dataset = load_sklearn_digits()
        print(f"Using {dataset.name} instead of MNIST: accuracies are not comparable with MNIST's.")
    print(dataset.describe())
    return dataset


def load_pneumonia_mnist(
    sha256: str | None = None,
    directory: str | Path | None = None,
    url: str | None = None,
    remote: RemoteFile = PNEUMONIA_MNIST,
) -> ImageDataset:
    """PneumoniaMNIST chest X-rays (28x28; 4,708 training, 624 test images), labels 0 normal, 1 pneumonia.

    Downloaded once into the cache of :mod:`labs.data` and checked against the
    MD5 that MedMNIST publishes (:data:`PNEUMONIA_MNIST_MD5`) and the layout of
    :data:`PNEUMONIA_MNIST`; nothing needs to be passed. Offline, save
    ``pneumoniamnist.npz`` in that cache (or pass ``url="file:///path/to/it"``).

    Args:
        sha256: optional 64-hex-digit sha256 that the file must also have (for a
            copy you checked yourself); ``None`` or ``""`` to rely on the MD5.
        directory: cache directory (default :func:`labs.data.cache_dir`).
        url: the only source to try, instead of the Zenodo records.
        remote: the file description (tests pass a small stand-in).

    Raises:
        ValueError: ``sha256`` is given but is not 64 hex digits.
        DatasetUnavailable: no source delivered a valid file and there is no
            valid cached copy; the message says where to save the file by hand.
    """
    if sha256:
        if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower()):
            raise ValueError(f"sha256 must be 64 hex digits (or None to rely on MedMNIST's MD5), got {sha256!r}.")
        remote = replace(remote, sha256=sha256.lower())
    path = fetch(remote, directory=directory, url=url)
    with np.load(path, allow_pickle=False) as archive:
        needed = {"train_images", "train_labels", "test_images", "test_labels"}
        if not needed <= set(archive.files):
            raise ValueError(f"{path} is not a PneumoniaMNIST npz file (keys {archive.files}); delete it and fetch it again.")
        arrays = {key: archive[key] for key in needed}
    return ImageDataset(
        (arrays["train_images"].astype(np.float32) / 255.0)[..., None],
        arrays["train_labels"].reshape(-1).astype(np.int64),
        (arrays["test_images"].astype(np.float32) / 255.0)[..., None],
        arrays["test_labels"].reshape(-1).astype(np.int64),
        PNEUMONIA_CLASSES,
        name="PneumoniaMNIST (MedMNIST v2, CC BY 4.0)",
    )


def _chest_background(generator: np.random.Generator, size: int) -> np.ndarray:
    """One synthetic frontal chest image (size, size) in [0, 1]: body, two lungs, ribs, spine."""
    rows, cols = np.mgrid[0:size, 0:size] / size
    body = ((cols - 0.5) / 0.42) ** 2 + ((rows - 0.5) / 0.44) ** 2 < 1.0
    image = np.where(body, 0.55, 0.08)
    for side in (-1, 1):
        centre_col = 0.5 + side * generator.uniform(0.17, 0.2)
        centre_row = generator.uniform(0.47, 0.53)
        lung = ((cols - centre_col) / generator.uniform(0.12, 0.14)) ** 2 + (
            (rows - centre_row) / generator.uniform(0.26, 0.3)
        ) ** 2 < 1.0
        image = np.where(lung, 0.42, image)
    rib_phase = generator.uniform(0, 2 * np.pi)
    ribs = 0.05 * np.clip(np.sin(2 * np.pi * 7 * rows + 3.0 * (cols - 0.5) ** 2 + rib_phase), 0, 1)
    image = image + np.where(image < 0.45, ribs, 0.0)
    spine = np.abs(cols - 0.5) < 0.04
    image = np.where(spine & body, image + 0.08, image)
    return image


def generate_chest_xrays(
    num_images: int, image_size: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate chest-X-ray-like images whose label is decided by a local opacity.

    Every image shows a body, two dark lungs, ribs and a spine with random jitter
    and noise; half of the images carry one or two bright thin "tubes"
    (distractors, in both classes). Label 1 images have a round opacity of radius
    about ``image_size / 12`` inside a lung; label 0 images have none. The classes
    alternate, so any prefix is balanced.

    Returns:
        images: float32 (num_images, image_size, image_size, 1) in [0, 1].
        labels: int64 (num_images,), 1 where there is an opacity.
        boxes: int64 (num_images, 4), the opacity's (top, left, bottom, right),
            bottom/right exclusive; all -1 for label 0.
    """
    if num_images < 1:
        raise ValueError(f"num_images must be at least 1, got {num_images}.")
    if image_size < 24:
        raise ValueError(f"image_size must be at least 24 pixels, got {image_size}.")
    generator = np.random.default_rng(seed)
    images = np.empty((num_images, image_size, image_size), dtype=np.float32)
    labels = (np.arange(num_images) % 2).astype(np.int64)
    boxes = np.full((num_images, 4), -1, dtype=np.int64)
    rows, cols = np.mgrid[0:image_size, 0:image_size].astype(float)
    for index in range(num_images):
        image = _chest_background(generator, image_size)
        if generator.random() < 0.5:
            for _ in range(generator.integers(1, 3)):
                start = generator.uniform(0.15, 0.85, size=2) * image_size
                angle = generator.uniform(0, np.pi)
                direction = np.array([np.sin(angle), np.cos(angle)])
                offset_rows, offset_cols = rows - start[0], cols - start[1]
                along = offset_rows * direction[0] + offset_cols * direction[1]
                across = np.abs(offset_rows * direction[1] - offset_cols * direction[0])
                tube = (across < 0.8) & (along > 0) & (along < image_size * 0.35)
                image = np.where(tube, image + 0.35, image)
        if labels[index] == 1:
            radius = image_size / 12 * generator.uniform(0.85, 1.2)
            side = generator.choice([-1, 1])
            centre_row = generator.uniform(0.32, 0.68) * image_size
            centre_col = (0.5 + side * generator.uniform(0.15, 0.21)) * image_size
            distance = np.hypot(rows - centre_row, cols - centre_col)
            image = image + 0.4 * np.clip(1.2 - distance / radius, 0.0, 1.0) ** 0.5
            boxes[index] = [
                max(int(np.floor(centre_row - radius)), 0),
                max(int(np.floor(centre_col - radius)), 0),
                min(int(np.ceil(centre_row + radius)) + 1, image_size),
                min(int(np.ceil(centre_col + radius)) + 1, image_size),
            ]
        image = image + generator.normal(0.0, 0.04, size=image.shape)
        images[index] = np.clip(image, 0.0, 1.0)
    return images[..., None], labels, boxes


def load_chest_xrays(
    source: str = "generated",
    num_train: int = 2000,
    num_test: int = 400,
    image_size: int = 64,
    sha256: str | None = None,
    directory: str | Path | None = None,
) -> ImageDataset:
    """Chest X-rays for Part 3: ``"generated"`` (boxes known) or ``"pneumoniamnist"``.

    ``num_train``/``num_test`` and ``image_size`` apply to the generated set;
    PneumoniaMNIST comes as published, checked against MedMNIST's MD5 and, if
    given, ``sha256`` (see :func:`load_pneumonia_mnist`). Prints which data set is used.
    """
    if source == "pneumoniamnist":
        dataset = load_pneumonia_mnist(sha256 or "", directory=directory)
    elif source == "generated":
        train_x, train_y, _ = generate_chest_xrays(num_train, image_size, seed=1)
        test_x, test_y, test_boxes = generate_chest_xrays(num_test, image_size, seed=2)
        dataset = ImageDataset(
            train_x, train_y, test_x, test_y, GENERATED_XRAY_CLASSES,
            name="generated chest X-rays (class decided by an opacity at a known place)",
            test_boxes=test_boxes,
        )
    else:
        raise ValueError(f"source must be 'generated' or 'pneumoniamnist', got {source!r}.")
    print(dataset.describe())
    return dataset


def cam_peaks(cams: np.ndarray) -> np.ndarray:
    """Arg-max (row, column) of each map in ``cams`` (N, H, W); int array (N, 2)."""
    cams = np.asarray(cams)
    if cams.ndim != 3:
        raise ValueError(f"cams must have shape (N, H, W), got {cams.shape}.")
    flat = cams.reshape(len(cams), -1).argmax(axis=1)
    return np.stack(np.unravel_index(flat, cams.shape[1:]), axis=1)


def cam_hits(cams: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Bool array (N,): the arg-max of each CAM lies inside its box (top, left, bottom, right)."""
    peaks = cam_peaks(cams)
    boxes = np.asarray(boxes)
    if boxes.shape != (len(peaks), 4):
        raise ValueError(f"boxes must have shape ({len(peaks)}, 4), one per map, got {boxes.shape}.")
    return (
        (peaks[:, 0] >= boxes[:, 0]) & (peaks[:, 0] < boxes[:, 2])
        & (peaks[:, 1] >= boxes[:, 1]) & (peaks[:, 1] < boxes[:, 3])
    )


def plot_digits(images: np.ndarray, labels: Sequence[int], count: int = 24, columns: int = 8):
    """Grid of the first ``count`` digits (N, 28, 28, 1) titled with their labels; returns the figure."""
    from labs.plotting import image_grid

    count = min(count, len(images))
    return image_grid(images[:count], titles=[f"label {int(label)}" for label in labels[:count]], columns=columns)


def plot_predictions(
    images: np.ndarray,
    labels: Sequence[int],
    probabilities: np.ndarray,
    class_names: Sequence[str] = DIGIT_NAMES,
    count: int = 12,
    columns: int = 4,
):
    """Each image with its predicted class and confidence, and a bar chart of all classes.

    The title and the predicted bar are red where the prediction is wrong; the
    true class's bar is blue. ``probabilities`` has shape (N, num_classes).
    """
    import matplotlib.pyplot as plt

    probabilities = np.asarray(probabilities)
    count = min(count, len(images))
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, 2 * columns, figsize=(3.2 * columns, 1.9 * rows), squeeze=False,
                                gridspec_kw={"width_ratios": [1, 1.3] * columns})
    for axis in axes.flat:
        axis.axis("off")
    for index in range(count):
        image_axis = axes[index // columns, 2 * (index % columns)]
        bar_axis = axes[index // columns, 2 * (index % columns) + 1]
        predicted, truth = int(np.argmax(probabilities[index])), int(labels[index])
        color = "black" if predicted == truth else "red"
        image_axis.imshow(images[index][..., 0], cmap="gray")
        image_axis.set_title(f"{class_names[predicted]} ({probabilities[index, predicted]:.0%})", color=color, fontsize=9)
        bar_colors = ["lightgray"] * probabilities.shape[1]
        bar_colors[predicted] = "red" if predicted != truth else "tab:blue"
        bar_colors[truth] = "tab:blue"
        bar_axis.axis("on")
        bar_axis.bar(range(probabilities.shape[1]), probabilities[index], color=bar_colors)
        bar_axis.set_ylim(0, 1)
        bar_axis.set_xticks(range(probabilities.shape[1]))
        bar_axis.set_xticklabels(class_names, fontsize=6)
        bar_axis.set_yticks([])
    figure.tight_layout()
    return figure


def plot_cam(
    images: np.ndarray,
    cams: np.ndarray,
    titles: Sequence[str] | None = None,
    boxes: np.ndarray | None = None,
    title_colors: Sequence[str] | None = None,
    columns: int = 4,
):
    """Overlay each class activation map on its image as a heat map; returns the figure.

    ``images`` (N, H, W, 1), ``cams`` (N, H, W). Each map is scaled to [0, 1] for
    display (the colour bar says so); a white cross marks its arg-max and, if ``boxes``
    are given, a green rectangle marks the object (rows with -1 are skipped).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    count = len(images)
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns + 0.8, 2.7 * rows), squeeze=False,
                                layout="constrained")
    peaks = cam_peaks(np.asarray(cams))
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        cam = np.asarray(cams[index], dtype=float)
        spread = cam.max() - cam.min()
        scaled = (cam - cam.min()) / spread if spread > 0 else np.zeros_like(cam)
        axis.imshow(images[index][..., 0], cmap="gray")
        heat = axis.imshow(scaled, cmap="jet", alpha=0.4, vmin=0.0, vmax=1.0)
        axis.plot(peaks[index, 1], peaks[index, 0], "w+", markersize=10, markeredgewidth=2)
        if boxes is not None and boxes[index][0] >= 0:
            top, left, bottom, right = boxes[index]
            axis.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top,
                                     fill=False, edgecolor="lime", linewidth=1.5))
        if titles is not None:
            axis.set_title(titles[index], fontsize=9, color=title_colors[index] if title_colors else "black")
    if count:
        colour_bar = figure.colorbar(heat, ax=axes, fraction=0.04, pad=0.02)
        colour_bar.set_label("map value, scaled per image\n(0 = its lowest, 1 = its highest)", fontsize=8)
        colour_bar.set_ticks([0.0, 0.5, 1.0])
    return figure


def plot_roc(
    false_positive_rates: np.ndarray,
    true_positive_rates: np.ndarray,
    area: float | None = None,
    operating_point: tuple[float, float] | None = None,
    positive_name: str = "positive",
    negative_name: str = "negative",
):
    """Draw a ROC curve with the chance diagonal; returns the figure.

    Args:
        false_positive_rates, true_positive_rates: arrays (T,) in [0, 1], one point
            per threshold, from the strictest threshold (0, 0) to the most lenient (1, 1).
        area: the area under the curve, shown in the legend if given.
        operating_point: (false positive rate, true positive rate) of the classifier's
            own decision rule, marked with a dot if given.
        positive_name, negative_name: class names for the axis labels.
    """
    import matplotlib.pyplot as plt

    false_positive_rates = np.asarray(false_positive_rates, dtype=float)
    true_positive_rates = np.asarray(true_positive_rates, dtype=float)
    if false_positive_rates.shape != true_positive_rates.shape or false_positive_rates.ndim != 1:
        raise ValueError(
            f"the two rates must be 1-D arrays of the same length, got shapes {false_positive_rates.shape} "
            f"and {true_positive_rates.shape}."
        )
    figure, axis = plt.subplots(figsize=(4.6, 4.4))
    label = "classifier" if area is None else f"classifier (area {area:.3f})"
    axis.plot(false_positive_rates, true_positive_rates, color="tab:blue", linewidth=2, label=label)
    axis.plot([0, 1], [0, 1], linestyle="--", color="gray", label="chance (area 0.5)")
    if operating_point is not None:
        axis.plot(*operating_point, "o", color="tab:red", label="its decision (probability >= 0.5)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.01)
    axis.set_aspect("equal")
    axis.set_xlabel(f"false positive rate\n(share of {negative_name} images called {positive_name})")
    axis.set_ylabel(f"true positive rate\n(share of {positive_name} images found)")
    axis.set_title("ROC curve on the test images")
    axis.legend(loc="lower right", fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
