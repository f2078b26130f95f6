"""The generated face set: cartoon faces and non-faces whose groups are known exactly.

Drawn with NumPy by :func:`generate_faces`; every face has a known skin tone
(light/dark) and hair style (short/long), so that a detector's accuracy can be
measured exactly per group (:func:`generated_face_sets`).
"""

from __future__ import annotations

import numpy as np

from labs.faces.dataset import IMAGE_SIZE, FaceDataset, FaceImages

# Pixel noise of the generated images (0-255 units), the same for every group.
NOISE_STD = 14.0
# How much darker than the skin the eyes are (0-255 units, on every channel; the mouth
# takes less red), the same on light and dark skin.
FEATURE_CONTRAST = 55.0

# Base skin colours (RGB, 0-255). Each face jitters its base colour a little.
_LIGHT_SKIN = np.array([[236, 198, 170], [226, 182, 150], [242, 210, 186], [218, 170, 138]], dtype=float)
_DARK_SKIN = np.array([[128, 88, 68], [112, 78, 66], [102, 70, 66], [140, 98, 74]], dtype=float)
_HAIR = np.array([[40, 30, 26], [70, 46, 30], [120, 80, 44], [196, 160, 96], [24, 22, 22]], dtype=float)


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
