"""Face detection data, bias measurement and pictures for the debiasing lab.

Two sources of 64x64 RGB images share one interface (:class:`FaceDataset`):

* the real training set, one HDF5 file with ``images`` (N, 64, 64, 3) uint8 and
  ``labels`` (N, 1) with 1 = face, 0 = not a face, downloaded once with
  :func:`labs.data.fetch` (:func:`load_face_hdf5`, :func:`real_training_set`);
* a generated set drawn with NumPy by :func:`generate_faces`, whose faces have
  known attributes (skin tone light/dark, hair short/long), so that a detector's
  accuracy can be measured exactly per group (:func:`generated_face_sets`).

Images are float32 in [0, 1] once loaded, channels last (RGB). Nothing here runs
at import time; TensorFlow is never imported by this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

IMAGE_SIZE = 64
SKIN_TONES = ("light", "dark")
HAIR_STYLES = ("short", "long")
GROUPS = tuple(f"{tone} skin, {hair} hair" for tone in SKIN_TONES for hair in HAIR_STYLES)
# Pixel noise of the generated images (0-255 units), the same for every group.
NOISE_STD = 14.0
# How much darker than the skin the eyes are (0-255 units, on every channel; the mouth
# takes less red), the same on light and dark skin.
FEATURE_CONTRAST = 55.0
# Largest random shift of a training image when batches are augmented, in pixels.
MAX_SHIFT = 4

# Base skin colours (RGB, 0-255). Each face jitters its base colour a little.
_LIGHT_SKIN = np.array([[236, 198, 170], [226, 182, 150], [242, 210, 186], [218, 170, 138]], dtype=float)
_DARK_SKIN = np.array([[128, 88, 68], [112, 78, 66], [102, 70, 66], [140, 98, 74]], dtype=float)
_HAIR = np.array([[40, 30, 26], [70, 46, 30], [120, 80, 44], [196, 160, 96], [24, 22, 22]], dtype=float)


# --------------------------------------------------------------------------- generated faces


@dataclass
class FaceImages:
    """A labelled set of images with optional per-image attributes.

    Attributes:
        images: (N, 64, 64, 3) uint8, RGB.
        labels: (N, 1) float32, 1.0 for a face and 0.0 for a non-face.
        tone: (N,) int, 0 = light skin, 1 = dark skin (-1 when unknown, e.g. real data).
        hair: (N,) int, 0 = short hair, 1 = long hair (-1 when unknown).
    """

    images: np.ndarray
    labels: np.ndarray
    tone: np.ndarray = field(default=None)  # type: ignore[assignment]
    hair: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        count = len(self.images)
        if self.tone is None:
            self.tone = np.full(count, -1, dtype=int)
        if self.hair is None:
            self.hair = np.full(count, -1, dtype=int)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def group(self) -> np.ndarray:
        """(N,) int group index into :data:`GROUPS` (tone * 2 + hair), -1 when unknown."""
        known = (self.tone >= 0) & (self.hair >= 0)
        return np.where(known, self.tone * 2 + self.hair, -1)


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy, cx, ry, rx) -> np.ndarray:
    """Boolean mask (n, H, W) of ellipses with per-image centre and radii of shape (n, 1, 1)."""
    dy = (yy - cy) / ry
    dx = (xx - cx) / rx
    dy *= dy
    dx *= dx
    dy += dx
    return dy <= 1.0


def _column(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)[:, None, None]


# Layers of the drawing, painted back to front into a label map; 0 is the background.
_HAIR_LAYER, _SKIN_LAYER, _EYE_LAYER, _MOUTH_LAYER = 1, 2, 3, 4


def feature_colours(skin: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Eye and mouth colours (n, 3) for faces of skin colours ``skin`` (n, 3), 0-255 units.

    Both are the skin colour minus a fixed amount (:data:`FEATURE_CONTRAST`, the mouth
    less so in red), so the features stand out from the skin by the same number of
    grey levels on every skin tone: no group is harder to see than another, and a
    difference in accuracy between groups can only come from training. The palettes
    are chosen so that no channel goes below 0.
    """
    jitter = rng.uniform(0.9, 1.1, size=(len(skin), 1))
    eye = skin - FEATURE_CONTRAST * jitter
    mouth = skin - FEATURE_CONTRAST * np.array([0.5, 1.0, 0.9]) * jitter
    return eye, mouth


def _draw_chunk(
    is_face: np.ndarray, tone: np.ndarray, hair: np.ndarray, rng: np.random.Generator, noise_std: float
) -> np.ndarray:
    """Draw one chunk of images; the arrays have shape (n,). Returns (n, 64, 64, 3) uint8."""
    n = len(is_face)
    size = IMAGE_SIZE
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy, xx = yy[None], xx[None]

    # Background: a random colour with a linear gradient, the same for faces and non-faces.
    base = rng.uniform(50, 205, size=(n, 3))
    slope = rng.uniform(-1.2, 1.2, size=(n, 2))
    gradient = (slope[:, 0, None, None] * (yy - size / 2) + slope[:, 1, None, None] * (xx - size / 2))
    background = (base[:, None, None, :] + gradient[..., None]).astype(np.float32)
    layers = np.zeros((n, size, size), dtype=np.int8)

    palette = np.where(tone[:, None] == 1, _DARK_SKIN[rng.integers(0, 4, n)], _LIGHT_SKIN[rng.integers(0, 4, n)])
    skin = palette * rng.uniform(0.92, 1.08, size=(n, 1))
    hair_colour = _HAIR[rng.integers(0, len(_HAIR), n)] * rng.uniform(0.85, 1.15, size=(n, 1))

    cy = _column(size / 2 + 2 + rng.uniform(-3, 3, n))
    cx = _column(size / 2 + rng.uniform(-3, 3, n))
    ry = _column(rng.uniform(21, 25, n))
    rx = _column(rng.uniform(16, 19, n))

    # Long hair: a wide ellipse behind the head reaching below the chin.
    long_hair = _ellipse(yy, xx, cy + 4, cx, ry + 6, rx + 6) & (hair[:, None, None] == 1)
    layers[long_hair] = _HAIR_LAYER

    # The head is an ellipse for every face and for most non-faces; a quarter of
    # the non-faces get a skin-coloured rounded rectangle instead.
    boxy = (~is_face) & (rng.random(n) < 0.25)
    head = _ellipse(yy, xx, cy, cx, ry, rx)
    rectangle = (np.abs(yy - cy) <= ry * 0.9) & (np.abs(xx - cx) <= rx * 0.9)
    head = np.where(boxy[:, None, None], rectangle, head)
    layers[head] = _SKIN_LAYER

    # Hair on top of the head (both styles): the head's upper cap.
    cap = _ellipse(yy, xx, cy - ry * 0.55, cx, ry * 0.55, rx * 1.05) & (yy < cy - ry * 0.45)
    layers[cap] = _HAIR_LAYER

    eye_colour, mouth_colour = feature_colours(skin, rng)
    eye_y = cy - ry * rng.uniform(0.12, 0.22, n)[:, None, None]
    eye_dx = rx * rng.uniform(0.36, 0.46, n)[:, None, None]
    mouth_y = cy + ry * rng.uniform(0.42, 0.52, n)[:, None, None]
    eye_ry, eye_rx = _column(rng.uniform(1.8, 2.6, n)), _column(rng.uniform(2.4, 3.4, n))
    mouth_ry, mouth_rx = _column(rng.uniform(1.6, 2.4, n)), _column(rng.uniform(4.5, 6.5, n))

    # Non-faces carry the same parts in an arrangement that is not a face:
    # kind 0: upside down (mouth above the eyes); kind 1: parts at random places;
    # kind 2: one eye and a mouth; kind 3: no parts at all.
    kind = rng.integers(0, 4, n)
    random_y = cy + ry * rng.uniform(-0.6, 0.6, size=(n, 3))[..., None]
    random_x = cx + rx * rng.uniform(-0.6, 0.6, size=(n, 3))[..., None]
    face = is_face[:, None, None]

    def pick(face_value, upside_down, random_value):
        nonface_value = np.where((kind == 0)[:, None, None], upside_down, random_value)
        return np.where(face, face_value, nonface_value)

    left_y = pick(eye_y, 2 * cy - eye_y, random_y[:, 0:1])
    left_x = pick(cx - eye_dx, cx - eye_dx, random_x[:, 0:1])
    right_y = pick(eye_y, 2 * cy - eye_y, random_y[:, 1:2])
    right_x = pick(cx + eye_dx, cx + eye_dx, random_x[:, 1:2])
    lips_y = pick(mouth_y, 2 * cy - mouth_y, random_y[:, 2:3])
    lips_x = pick(cx, cx, random_x[:, 2:3])

    show_left = is_face | (kind < 3)
    show_right = is_face | (kind < 2)
    show_mouth = is_face | (kind < 3)
    layers[_ellipse(yy, xx, left_y, left_x, eye_ry, eye_rx) & show_left[:, None, None]] = _EYE_LAYER
    layers[_ellipse(yy, xx, right_y, right_x, eye_ry, eye_rx) & show_right[:, None, None]] = _EYE_LAYER
    layers[_ellipse(yy, xx, lips_y, lips_x, mouth_ry, mouth_rx) & show_mouth[:, None, None]] = _MOUTH_LAYER

    colours = np.zeros((n, 5, 3), dtype=np.float32)
    colours[:, _HAIR_LAYER], colours[:, _SKIN_LAYER] = hair_colour, skin
    colours[:, _EYE_LAYER], colours[:, _MOUTH_LAYER] = eye_colour, mouth_colour
    painted = colours[np.arange(n)[:, None, None], layers]
    canvas = np.where(layers[..., None] > 0, painted, background)

    # Lighting and sensor noise, identical for every group.
    canvas *= rng.uniform(0.85, 1.15, size=(n, 1, 1, 1)).astype(np.float32)
    canvas += noise_std * rng.standard_normal(size=canvas.shape, dtype=np.float32)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def generate_faces(
    num_faces: int,
    num_non_faces: int,
    dark_fraction: float = 0.1,
    long_hair_fraction: float = 0.5,
    non_face_dark_fraction: float = 0.5,
    noise_std: float = NOISE_STD,
    seed: int = 0,
    chunk_size: int = 256,
) -> FaceImages:
    """Draw a labelled set of synthetic faces and non-faces (64x64 RGB).

    A face is a skin-coloured oval with hair, two eyes side by side above a mouth.
    A non-face uses the same skin and hair palettes, the same backgrounds and the
    same parts, arranged so that they are not a face (upside down, scattered, one
    eye, or no parts), so colour alone cannot tell the classes apart.

    Args:
        num_faces: number of faces (label 1).
        num_non_faces: number of non-faces (label 0).
        dark_fraction: fraction of the faces with dark skin, in [0, 1].
        long_hair_fraction: fraction of faces and non-faces with long hair, in [0, 1].
        non_face_dark_fraction: fraction of the non-faces drawn with the dark palette.
        noise_std: standard deviation of the Gaussian pixel noise, in 0-255 units.
        seed: random seed; the same arguments always give the same images.
        chunk_size: images drawn per vectorised step (memory, not results); sets of
            4096 images or more show a progress bar.

    Returns:
        A :class:`FaceImages` with faces first, then non-faces, in a shuffled order.
    """
    for name, value in (("num_faces", num_faces), ("num_non_faces", num_non_faces)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    for name, value in (
        ("dark_fraction", dark_fraction),
        ("long_hair_fraction", long_hair_fraction),
        ("non_face_dark_fraction", non_face_dark_fraction),
    ):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}.")
    if noise_std < 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std!r}.")
    rng = np.random.default_rng(seed)
    total = int(num_faces) + int(num_non_faces)
    is_face = np.zeros(total, dtype=bool)
    is_face[:num_faces] = True
    tone = np.zeros(total, dtype=int)
    tone[:num_faces] = _exact_split(num_faces, dark_fraction, rng)
    tone[num_faces:] = _exact_split(num_non_faces, non_face_dark_fraction, rng)
    hair = np.zeros(total, dtype=int)
    for stratum in (is_face & (tone == 0), is_face & (tone == 1), ~is_face & (tone == 0), ~is_face & (tone == 1)):
        hair[stratum] = _exact_split(int(stratum.sum()), long_hair_fraction, rng)
    order = rng.permutation(total)
    is_face, tone, hair = is_face[order], tone[order], hair[order]
    images = np.empty((total, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    starts = range(0, total, chunk_size)
    if total >= 4096:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"Drawing {total} images", unit="chunk", leave=False)
    for start in starts:
        stop = min(start + chunk_size, total)
        images[start:stop] = _draw_chunk(is_face[start:stop], tone[start:stop], hair[start:stop], rng, noise_std)
    return FaceImages(images, is_face.astype(np.float32)[:, None], tone, hair)


def _exact_split(count: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(count,) int array with exactly round(fraction * count) ones, in random order."""
    values = np.zeros(count, dtype=int)
    values[: int(round(fraction * count))] = 1
    return rng.permutation(values)


def generated_face_sets(
    num_train_faces: int = 4000,
    num_test_faces_per_group: int = 250,
    dark_fraction: float = 0.1,
    noise_std: float = NOISE_STD,
    seed: int = 0,
) -> tuple["FaceDataset", FaceImages]:
    """The generated training set (imbalanced) and test set (balanced per group).

    Training: ``num_train_faces`` faces, ``dark_fraction`` of them dark-skinned,
    half of them with long hair, plus as many non-faces drawn half with each
    palette. Test: ``num_test_faces_per_group`` faces in each of the four groups
    of :data:`GROUPS`, plus as many non-faces, half with each palette. Both use
    pixel noise of standard deviation ``noise_std`` (0-255 units).

    Returns:
        (training :class:`FaceDataset`, test :class:`FaceImages`). The two use
        different random streams, so no test image repeats a training image.
    """
    if num_train_faces < 2 or num_test_faces_per_group < 1:
        raise ValueError(
            f"need at least 2 training faces and 1 test face per group, got {num_train_faces} and "
            f"{num_test_faces_per_group}; use larger sizes."
        )
    train = generate_faces(num_train_faces, num_train_faces, dark_fraction=dark_fraction, noise_std=noise_std, seed=seed)
    num_test_faces = 4 * num_test_faces_per_group
    test = generate_faces(num_test_faces, num_test_faces, dark_fraction=0.5, noise_std=noise_std, seed=seed + 1_000_003)
    return FaceDataset(train, name="generated faces", seed=seed), test


# --------------------------------------------------------------------------- the loader


class FaceDataset:
    """Training images behind the loader interface the notebook uses.

    Holds uint8 images and converts only the requested batch to float32 in
    [0, 1], so the real set (about 1.4 GB as uint8) fits in memory. Faces are
    numbered 0 .. num_faces-1 in a fixed order: ``p_pos`` and :meth:`faces`
    use that order.
    """

    def __init__(self, data: FaceImages, name: str = "faces", seed: int | None = None) -> None:
        labels = np.asarray(data.labels).reshape(-1)
        self.data = data
        self.name = name
        self.face_indices = np.flatnonzero(labels == 1)
        self.non_face_indices = np.flatnonzero(labels == 0)
        if len(self.face_indices) == 0 or len(self.non_face_indices) == 0:
            raise ValueError(
                f"{name} needs both faces (label 1) and non-faces (label 0), got {len(self.face_indices)} "
                f"faces and {len(self.non_face_indices)} non-faces; check the labels."
            )
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def num_faces(self) -> int:
        """How many faces the set holds (the length ``p_pos`` must have)."""
        return len(self.face_indices)

    @property
    def face_tone(self) -> np.ndarray:
        """(num_faces,) skin tone of each face (0 light, 1 dark, -1 unknown)."""
        return self.data.tone[self.face_indices]

    @property
    def face_hair(self) -> np.ndarray:
        """(num_faces,) hair style of each face (0 short, 1 long, -1 unknown)."""
        return self.data.hair[self.face_indices]

    def _check_p_pos(self, p_pos: np.ndarray | None) -> np.ndarray | None:
        if p_pos is None:
            return None
        p_pos = np.asarray(p_pos, dtype=float).reshape(-1)
        if p_pos.shape != (self.num_faces,):
            raise ValueError(
                f"p_pos must hold one probability per face ({self.num_faces}), got shape {p_pos.shape}."
            )
        if not np.all(np.isfinite(p_pos)) or np.any(p_pos < 0) or p_pos.sum() <= 0:
            raise ValueError("p_pos must be finite, non-negative and not all zero; normalise your weights.")
        return p_pos / p_pos.sum()

    def get_batch(
        self, n: int, only_faces: bool = False, p_pos: np.ndarray | None = None, augment: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw a random batch.

        Args:
            n: batch size.
            only_faces: if True, all ``n`` images are faces; otherwise half are faces
                and half non-faces (``n // 2`` faces), shuffled together.
            p_pos: optional (num_faces,) sampling probabilities for the faces (they are
                normalised here); non-faces are always drawn uniformly.
            augment: if True, mirror and shift each image at random
                (:func:`augment_images`), so an image drawn many times is never
                seen twice in exactly the same place.

        Returns:
            images (n, 64, 64, 3) float32 in [0, 1] and labels (n, 1) float32.
        """
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer batch size, got {n!r}.")
        p_pos = self._check_p_pos(p_pos)
        num_faces = n if only_faces else n // 2
        chosen_faces = self.face_indices[self.rng.choice(self.num_faces, size=num_faces, p=p_pos)]
        chosen_non_faces = self.rng.choice(self.non_face_indices, size=n - num_faces)
        chosen = self.rng.permutation(np.concatenate([chosen_faces, chosen_non_faces]))
        images = self.images_at(chosen)
        if augment:
            images = augment_images(images, self.rng)
        return images, self.data.labels[chosen].astype(np.float32).reshape(-1, 1)

    def images_at(self, indices: np.ndarray) -> np.ndarray:
        """Images at ``indices`` (into the whole set) as float32 in [0, 1], (k, 64, 64, 3)."""
        return np.asarray(self.data.images[indices], dtype=np.float32) / 255.0

    def faces(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Faces number ``indices`` (default all), float32 in [0, 1], (k, 64, 64, 3)."""
        chosen = self.face_indices if indices is None else self.face_indices[np.asarray(indices)]
        return self.images_at(chosen)

    def iterate_faces(self, batch_size: int = 256):
        """Yield every face in order, in float32 batches of at most ``batch_size``."""
        for start in range(0, self.num_faces, batch_size):
            yield self.images_at(self.face_indices[start : start + batch_size])


def augment_images(images: np.ndarray, rng: np.random.Generator, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """Mirror and shift each image at random, for training.

    Each image is mirrored left to right with probability 1/2, then moved by a whole
    number of pixels drawn uniformly from -max_shift..max_shift, down and across
    independently; the pixels that come into view repeat the image's edge.

    Args:
        images: (n, H, W, C) array, any dtype.
        rng: the random generator to draw the flips and shifts from.
        max_shift: the largest shift in pixels, 0 or more (0: mirror only).

    Returns:
        A new (n, H, W, C) array of the same dtype.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, height, width, channels), got shape {images.shape}.")
    if not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative whole number of pixels, got {max_shift!r}.")
    count, height, width, _ = images.shape
    mirror = rng.random(count) < 0.5
    images = np.where(mirror[:, None, None, None], images[:, :, ::-1], images)
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
    top = rng.integers(0, 2 * max_shift + 1, count)
    left = rng.integers(0, 2 * max_shift + 1, count)
    rows = top[:, None] + np.arange(height)
    columns = left[:, None] + np.arange(width)
    return padded[np.arange(count)[:, None, None], rows[:, :, None], columns[:, None, :]]


# --------------------------------------------------------------------------- the real data set

TRAIN_FACES_URL = "https://www.dropbox.com/s/hlz8atheyozp1yx/train_face.h5?dl=1"
# The checksum of the course's file has not been recorded yet on a machine with
# access to it; pass ``sha256=`` or set LABS_FACES_SHA256 until it is filled in.
TRAIN_FACES_SHA256 = ""
TRAIN_FACES_LICENCE = (
    "Faces from CelebA (Liu et al. 2015, non-commercial research use) and non-faces from ImageNet, "
    "as packaged by MIT 6.S191 (Amini et al.)"
)
_EXPECTED_LAYOUT = (
    "an HDF5 file with datasets 'images' of shape (N, 64, 64, 3), dtype uint8, "
    "and 'labels' of shape (N, 1) holding 1 for a face and 0 for a non-face"
)


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
    import h5py

    if channel_order not in ("bgr", "rgb"):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No face data at {path}; expected {_EXPECTED_LAYOUT}.")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise ValueError(f"{path} is not a readable HDF5 file (corrupt or partial?); expected {_EXPECTED_LAYOUT}.") from None
    with handle:
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
    :func:`labs.data.fetch` (progress bar, sha256 check, cache in
    ``$LABS_DATA_DIR`` or ``~/.cache/intro-deep-learning-labs``) from ``url``, or
    ``$LABS_FACES_URL``, or :data:`TRAIN_FACES_URL`. The file has no skin-tone
    labels, so per-group accuracy needs the generated test set.
    """
    from labs.data import RemoteFile, fetch

    if path is None:
        checksum = sha256 or os.environ.get("LABS_FACES_SHA256") or TRAIN_FACES_SHA256
        if not checksum:
            raise ValueError(
                "The face file's sha256 is not recorded yet, so a download cannot be verified; pass "
                "real_training_set(path=...) for a file you have, or sha256=... (or set LABS_FACES_SHA256)."
            )
        remote = RemoteFile("train_face.h5", url or os.environ.get("LABS_FACES_URL") or TRAIN_FACES_URL, checksum,
                            TRAIN_FACES_LICENCE)
        path = fetch(remote)
    return FaceDataset(load_face_hdf5(path), name="CelebA/ImageNet faces", seed=seed)


# --------------------------------------------------------------------------- measuring bias


def group_counts(data: FaceImages) -> dict[str, int]:
    """Number of faces per group of :data:`GROUPS`, plus ``"non-faces"``."""
    is_face = np.asarray(data.labels).reshape(-1) == 1
    counts = {name: int(np.sum(is_face & (data.group == index))) for index, name in enumerate(GROUPS)}
    counts["non-faces"] = int(np.sum(~is_face))
    return counts


def predict_logits(predict, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Run ``predict`` (images float32 batch -> (b, 1) face logits) over uint8 or float images.

    Returns (N,) float logits; positive means "face".
    """
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size])
        if batch.dtype == np.uint8:
            batch = batch.astype(np.float32) / 255.0
        logits = predict(batch)
        logits = logits.numpy() if hasattr(logits, "numpy") else np.asarray(logits)
        outputs.append(logits.reshape(len(batch), -1)[:, 0])
    return np.concatenate(outputs) if outputs else np.zeros(0)


def evaluate_groups(logits: np.ndarray, data: FaceImages) -> dict[str, float]:
    """Accuracy of face/non-face decisions (logit > 0 means face), overall and per group.

    Args:
        logits: (N,) face logits for ``data``'s images.
        data: a test set with known groups (e.g. from :func:`generated_face_sets`).

    Returns:
        ``{"overall", "non-faces", <each group of GROUPS>, "worst group", "gap"}``,
        accuracies in [0, 1]; a group's accuracy is the fraction of its faces
        detected, ``gap`` is best minus worst group.
    """
    logits = np.asarray(logits, dtype=float).reshape(-1)
    labels = np.asarray(data.labels).reshape(-1)
    if logits.shape != labels.shape:
        raise ValueError(f"need one logit per image ({labels.shape[0]}), got shape {logits.shape}.")
    correct = (logits > 0) == (labels == 1)
    is_face = labels == 1
    result = {"overall": float(correct.mean()), "non-faces": float(correct[~is_face].mean())}
    per_group = []
    for index, name in enumerate(GROUPS):
        members = is_face & (data.group == index)
        if members.any():
            result[name] = float(correct[members].mean())
            per_group.append(result[name])
    if not per_group:
        raise ValueError("the test set has no faces with known groups; use the generated test set.")
    result["worst group"] = min(per_group)
    result["gap"] = max(per_group) - min(per_group)
    return result


def share_by_tone(p_pos: np.ndarray, face_tone: np.ndarray) -> dict[str, float]:
    """How much sampling probability ``p_pos`` (num_faces,) puts on each skin tone."""
    p_pos = np.asarray(p_pos, dtype=float).reshape(-1)
    face_tone = np.asarray(face_tone).reshape(-1)
    if p_pos.shape != face_tone.shape:
        raise ValueError(f"p_pos and face_tone must both have one entry per face, got {p_pos.shape} and {face_tone.shape}.")
    total = p_pos.sum()
    return {tone: float(p_pos[face_tone == index].sum() / total) for index, tone in enumerate(SKIN_TONES)}


# --------------------------------------------------------------------------- pictures


def _describe(tone: int, hair: int) -> str:
    if tone < 0 or hair < 0:
        return ""
    return f"{SKIN_TONES[tone]}/{HAIR_STYLES[hair]}"


def plot_examples(data: FaceImages, per_row: int = 8, seed: int = 0):
    """Grid with one row of faces per group and one row of non-faces; returns the figure."""
    from labs.plotting import image_grid

    rng = np.random.default_rng(seed)
    is_face = np.asarray(data.labels).reshape(-1) == 1
    rows, titles = [], []
    for index in range(len(GROUPS)):
        members = np.flatnonzero(is_face & (data.group == index))
        chosen = rng.choice(members, size=min(per_row, len(members)), replace=False) if len(members) else []
        rows.extend(chosen)
        titles.extend([_describe(data.tone[i], data.hair[i]) for i in chosen])
    non_faces = np.flatnonzero(~is_face)
    chosen = rng.choice(non_faces, size=min(per_row, len(non_faces)), replace=False)
    rows.extend(chosen)
    titles.extend(["not a face"] * len(chosen))
    return image_grid(data.images[np.asarray(rows, dtype=int)], titles=titles, columns=per_row)


def plot_group_accuracy(results: dict[str, dict[str, float]], title: str = "Face detection rate per group"):
    """Bar chart comparing models per group (and on non-faces), with each model's gap.

    Args:
        results: model name -> the dict returned by :func:`evaluate_groups`.
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results is empty; pass {model name: evaluate_groups(...)} for at least one model.")
    categories = [name for name in GROUPS if all(name in r for r in results.values())] + ["non-faces"]
    width = 0.8 / len(results)
    figure, axis = plt.subplots(figsize=(9, 3.8))
    positions = np.arange(len(categories))
    for offset, (model, result) in enumerate(results.items()):
        heights = [100 * result[c] for c in categories]
        label = f"{model} (gap {100 * result['gap']:.1f} pts, worst {100 * result['worst group']:.1f}%)"
        bars = axis.bar(positions + (offset - (len(results) - 1) / 2) * width, heights, width, label=label)
        axis.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    lowest = min(100 * r[c] for r in results.values() for c in categories)
    axis.set_ylim(max(0.0, lowest - 10), 101)
    axis.set_xticks(positions, [c.replace(", ", "\n") for c in categories])
    axis.set(ylabel="accuracy (%)", title=title)
    axis.legend(loc="lower left", fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def plot_ranked_faces(
    images: np.ndarray,
    weights: np.ndarray,
    tone: np.ndarray | None = None,
    hair: np.ndarray | None = None,
    count: int = 8,
):
    """Top row: the ``count`` faces with the highest sampling weight (rarest);
    bottom row: the lowest (most common). ``images`` is (N, 64, 64, 3)."""
    from labs.plotting import image_grid

    weights = np.asarray(weights, dtype=float).reshape(-1)
    if len(weights) != len(images):
        raise ValueError(f"need one weight per image, got {len(weights)} weights for {len(images)} images.")
    order = np.argsort(weights)
    chosen = np.concatenate([order[::-1][:count], order[:count]])
    titles = []
    for rank, index in enumerate(chosen):
        prefix = "rare" if rank < count else "common"
        label = _describe(int(tone[index]), int(hair[index])) if tone is not None and hair is not None else ""
        titles.append(f"{prefix} {label}".strip())
    figure = image_grid(np.asarray(images)[chosen], titles=titles, columns=count)
    figure.suptitle("Rarest (top) and most common (bottom) faces by the DB-VAE's sampling weight", fontsize=10)
    figure.tight_layout()
    return figure


def plot_reconstructions(originals: np.ndarray, reconstructions: np.ndarray):
    """Originals (top row) above their reconstructions (bottom row), both (k, 64, 64, 3) in [0, 1]."""
    from labs.plotting import image_grid

    originals, reconstructions = np.asarray(originals), np.clip(np.asarray(reconstructions), 0, 1)
    if originals.shape != reconstructions.shape:
        raise ValueError(f"originals {originals.shape} and reconstructions {reconstructions.shape} must match.")
    count = len(originals)
    titles = ["original"] * count + ["reconstruction"] * count
    return image_grid(np.concatenate([originals, reconstructions]), titles=titles, columns=count)


def plot_latent_traversal(decode, z: np.ndarray, dimensions: Sequence[int], values: Sequence[float]):
    """Decode ``z`` (latent_dim,) with one dimension at a time set to each of ``values``.

    Args:
        decode: function (k, latent_dim) float32 -> (k, 64, 64, 3) images in [0, 1].
        z: the latent vector to start from, e.g. the mean of one face.
        dimensions: which latent dimensions to vary, one row each.
        values: the values each dimension takes, one column each.
    """
    import matplotlib.pyplot as plt

    z = np.asarray(z, dtype=np.float32).reshape(-1)
    rows, columns = len(dimensions), len(values)
    figure, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.3 * rows + 0.4), squeeze=False)
    for row, dimension in enumerate(dimensions):
        codes = np.repeat(z[None], columns, axis=0)
        codes[:, dimension] = values
        images = decode(codes)
        images = np.clip(images.numpy() if hasattr(images, "numpy") else np.asarray(images), 0, 1)
        for column in range(columns):
            axis = axes[row, column]
            axis.imshow(images[column])
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(f"z[{dimension}]", fontsize=9)
            if row == 0:
                axis.set_title(f"{values[column]:+.1f}", fontsize=9)
    figure.suptitle("Latent traversal: each row varies one latent dimension", fontsize=10)
    figure.tight_layout()
    return figure
