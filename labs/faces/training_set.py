"""The real face-detection training set: one HDF5 file of CelebA faces and ImageNet non-faces."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from labs.faces.dataset import IMAGE_SIZE, FaceDataset, FaceImages

TRAIN_FACES_URL = "https://www.dropbox.com/s/hlz8atheyozp1yx/train_face.h5?dl=1"
# The address the reference course used before; tried when the first one fails.
TRAIN_FACES_MIRRORS = ("https://www.dropbox.com/s/l5iqduhe0gwxumq/train_face.h5?dl=1",)
# No checksum is published for the course's file and none could be recorded from the
# build machines: a download is verified by its structure (check_face_hdf5) instead,
# plus this sha256 once it is filled in (or one passed as sha256= / LABS_FACES_SHA256).
TRAIN_FACES_SHA256 = ""
TRAIN_FACES_PAGE = "https://github.com/MITDeepLearning/introtodeeplearning"
TRAIN_FACES_LICENCE = (
    "Faces from CelebA (Liu et al. 2015, non-commercial research use) and non-faces from ImageNet, "
    "as packaged by MIT 6.S191 (Amini et al.)"
)
_EXPECTED_LAYOUT = (
    "an HDF5 file with datasets 'images' of shape (N, 64, 64, 3), dtype uint8, "
    "and 'labels' of shape (N, 1) holding 1 for a face and 0 for a non-face"
)


def _open_checked(path: Path):
    """Open ``path`` with h5py after checking its layout from the headers; return the open file."""
    import h5py

    if not path.is_file():
        raise FileNotFoundError(f"No face data at {path}; expected {_EXPECTED_LAYOUT}.")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise ValueError(f"{path} is not a readable HDF5 file (corrupt or partial?); expected {_EXPECTED_LAYOUT}.") from None
    try:
        missing = [key for key in ("images", "labels") if key not in handle]
        if missing:
            raise ValueError(
                f"{path} has no {' or '.join(repr(k) for k in missing)} dataset (found {sorted(handle.keys())}); "
                f"expected {_EXPECTED_LAYOUT}."
            )
        images_node, labels_node = handle["images"], handle["labels"]
        if not isinstance(images_node, h5py.Dataset) or not isinstance(labels_node, h5py.Dataset):
            raise ValueError(f"{path}: 'images' and 'labels' must be datasets, not groups; expected {_EXPECTED_LAYOUT}.")
        images_shape, labels_shape = tuple(images_node.shape), tuple(labels_node.shape)
        if len(images_shape) != 4 or images_shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3) or images_node.dtype != np.uint8:
            raise ValueError(
                f"{path}: 'images' has shape {images_shape} and dtype {images_node.dtype}; expected {_EXPECTED_LAYOUT}."
            )
        if labels_shape not in ((images_shape[0], 1), (images_shape[0],)):
            raise ValueError(
                f"{path}: 'labels' has shape {labels_shape} for {images_shape[0]} images; expected {_EXPECTED_LAYOUT}."
            )
    except BaseException:
        handle.close()
        raise
    return handle


def check_face_hdf5(path: str | os.PathLike) -> None:
    """Structural check of a face-detection HDF5 file from its headers (no image is read).

    Used to verify a download, since no checksum is published for the course's file.

    Raises:
        FileNotFoundError, ValueError: one sentence naming the problem and the expected layout.
    """
    with _open_checked(Path(path)):
        pass


def load_face_hdf5(path: str | os.PathLike, channel_order: str = "bgr") -> FaceImages:
    """Read a face-detection HDF5 file into memory and check its layout.

    Args:
        path: the HDF5 file.
        channel_order: ``"bgr"`` for the course's file (stored in OpenCV's order,
            flipped here to RGB) or ``"rgb"``.

    Raises:
        FileNotFoundError, ValueError: one sentence naming the problem and the
            expected layout (never an error from inside h5py).
    """
    if channel_order not in ("bgr", "rgb"):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}.")
    path = Path(path)
    with _open_checked(path) as handle:
        images_node, labels_node = handle["images"], handle["labels"]
        try:
            images = images_node[()]
            labels = np.asarray(labels_node[()], dtype=np.float32).reshape(-1, 1)
        except (OSError, TypeError, ValueError):
            raise ValueError(f"{path}: the data could not be read (truncated file?); expected {_EXPECTED_LAYOUT}.") from None
    if not np.all(np.isin(labels, (0.0, 1.0))):
        raise ValueError(f"{path}: 'labels' holds values other than 0 and 1; expected {_EXPECTED_LAYOUT}.")
    if channel_order == "bgr":
        images = np.ascontiguousarray(images[..., ::-1])
    return FaceImages(images, labels)


def real_training_set(
    path: str | os.PathLike | None = None,
    url: str | None = None,
    sha256: str | None = None,
    seed: int | None = None,
) -> FaceDataset:
    """The course's real face-detection training set (CelebA faces, ImageNet non-faces).

    With ``path``, reads that file. Otherwise downloads it once with
    :func:`labs.data.fetch` (progress bar, resumed transfers, cache in
    ``$LABS_DATA_DIR`` or ``~/.cache/intro-deep-learning-labs``) from ``url``, or
    ``$LABS_FACES_URL``, or :data:`TRAIN_FACES_URL` then its mirrors, and verifies it by
    its structure (:func:`check_face_hdf5`) plus ``sha256`` when one is given. The file
    has no skin-tone labels: per-group accuracy needs a labelled test set (the
    generated one, or real faces from :func:`labs.faces.fairface_faces`).
    """
    from labs.data import RemoteFile, fetch

    if path is None:
        remote = RemoteFile(
            "train_face.h5",
            url or os.environ.get("LABS_FACES_URL") or TRAIN_FACES_URL,
            sha256=sha256 or os.environ.get("LABS_FACES_SHA256") or TRAIN_FACES_SHA256,
            licence=TRAIN_FACES_LICENCE,
            mirrors=() if url else TRAIN_FACES_MIRRORS,
            check=check_face_hdf5,
            manual=TRAIN_FACES_PAGE,
        )
        path = fetch(remote)
    return FaceDataset(load_face_hdf5(path), name="CelebA/ImageNet faces", seed=seed)
