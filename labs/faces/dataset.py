"""The containers of face images and the training-batch loader.

:class:`FaceImages` holds a labelled set of 64x64 RGB images (uint8) with optional
per-image attributes (skin tone, hair); :class:`FaceDataset` wraps one for training
and draws batches, optionally resampled (``p_pos``) and augmented (:func:`augment_images`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IMAGE_SIZE = 64
SKIN_TONES = ("light", "dark")
HAIR_STYLES = ("short", "long")
GROUPS = tuple(f"{tone} skin, {hair} hair" for tone in SKIN_TONES for hair in HAIR_STYLES)
# Largest random shift of a training image when batches are augmented, in pixels.
MAX_SHIFT = 4


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
