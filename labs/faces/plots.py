"""Pictures for the debiasing lab: example grids, per-group accuracy, rare faces, the latent space."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from labs.faces.dataset import GROUPS, HAIR_STYLES, SKIN_TONES, FaceImages

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


SUMMARY_KEYS = ("overall", "worst group", "gap", "non-faces")


def plot_group_accuracy(results: dict[str, dict[str, float]], title: str = "Face detection rate per group"):
    """Bar chart comparing models per group (and on non-faces when measured), with each model's gap.

    The accuracy axis starts at 0, so the bars' heights compare honestly; the legend
    sits below the axes, where it covers no bar.

    Args:
        results: model name -> the dict returned by :func:`labs.faces.evaluate_groups` or
            :func:`labs.faces.evaluate_labelled_groups` (accuracies in [0, 1]).
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results is empty; pass {model name: evaluate_groups(...)} for at least one model.")
    first = next(iter(results.values()))
    categories = [key for key in first if key not in SUMMARY_KEYS and all(key in r for r in results.values())]
    if all("non-faces" in r for r in results.values()):
        categories.append("non-faces")
    width = 0.8 / len(results)
    figure, axis = plt.subplots(figsize=(9, 4.4), layout="constrained")
    positions = np.arange(len(categories))
    for offset, (model, result) in enumerate(results.items()):
        heights = [100 * result[c] for c in categories]
        label = f"{model} (gap {100 * result['gap']:.1f} pts, worst group {100 * result['worst group']:.1f}%)"
        bars = axis.bar(positions + (offset - (len(results) - 1) / 2) * width, heights, width, label=label)
        axis.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    axis.set_ylim(0, 108)
    axis.set_yticks(np.arange(0, 101, 20))
    axis.set_xticks(positions, [c.replace(", ", "\n").replace("_", " ") for c in categories])
    axis.set(ylabel="accuracy (%)", title=title)
    axis.grid(axis="y", alpha=0.3)
    figure.legend(loc="outside lower center", fontsize=8, ncols=1, frameon=False)
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
