"""Plots shared by all labs: a live training curve and an image grid.

Domain-specific pictures (piano rolls, activation maps, Pong frames) live in
their domain modules. Nothing here changes matplotlib's global settings.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np


def smooth(values: Sequence[float], weight: float = 0.9) -> np.ndarray:
    """Exponential moving average of ``values`` (same length), ``weight`` in [0, 1)."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"weight must be in [0, 1), got {weight}; 0.9 is a good default.")
    values = np.asarray(values, dtype=float)
    smoothed = np.empty_like(values)
    running = values[0] if len(values) else 0.0
    for index, value in enumerate(values):
        running = weight * running + (1.0 - weight) * value
        smoothed[index] = running
    return smoothed


class LivePlot:
    """A training curve that redraws in place in Jupyter and Colab.

    Call :meth:`update` with the new value every step; the picture refreshes at most
    every ``redraw_every`` calls (drawing is slower than a small training step). It is a
    PNG, so that Jupyter keeps no figure per redraw. Outside IPython there is nowhere to
    show it: IPython's ``display`` prints a one-line placeholder instead.
    """

    def __init__(
        self,
        title: str = "Training",
        xlabel: str = "iteration",
        ylabel: str = "loss",
        redraw_every: int = 10,
        smoothing: float = 0.0,
    ) -> None:
        if redraw_every < 1:
            raise ValueError(f"redraw_every must be at least 1, got {redraw_every}.")
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.redraw_every = redraw_every
        self.smoothing = smoothing
        self.values: list[float] = []
        self._handle = None

    def update(self, value: float) -> None:
        """Record one value and redraw if it is time to."""
        self.values.append(float(value))
        if len(self.values) % self.redraw_every == 0:
            self._draw()

    def figure(self):
        """Return a matplotlib figure of the curve so far, outside pyplot's list of open figures.

        Jupyter's inline backend keeps every pyplot figure made during a cell until the cell
        ends, even a closed one (about 2 MB each), so a curve redrawn hundreds of times in one
        training cell would hold hundreds of them; a figure pyplot never saw is freed at once.
        """
        from matplotlib.figure import Figure

        figure = Figure(figsize=(7, 3.5))
        axis = figure.add_subplot()
        steps = np.arange(1, len(self.values) + 1)
        axis.plot(steps, self.values, color="tab:blue", alpha=0.4 if self.smoothing else 1.0, label="raw")
        if self.smoothing and self.values:
            axis.plot(steps, smooth(self.values, self.smoothing), color="tab:blue", label="smoothed")
            axis.legend(loc="best")
        axis.set(title=self.title, xlabel=self.xlabel, ylabel=self.ylabel)
        axis.grid(alpha=0.3)
        figure.tight_layout()
        return figure

    def _draw(self) -> None:
        from IPython.display import Image, display

        buffer = io.BytesIO()
        # Drawn at twice the size it is shown, so that it stays sharp on high-resolution screens.
        self.figure().savefig(buffer, format="png", dpi=200, bbox_inches="tight")
        picture = Image(data=buffer.getvalue(), format="png", retina=True)
        if self._handle is None:
            self._handle = display(picture, display_id=True)
        else:
            self._handle.update(picture)

    def show(self) -> None:
        """Draw the final curve."""
        self._draw()


def image_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    columns: int = 8,
    cmap: str | None = None,
    title_colors: Sequence[str] | None = None,
    size: float = 1.6,
):
    """Show images of shape (N, H, W) or (N, H, W, C) in a grid; return the figure.

    ``titles`` and ``title_colors`` (one per image) label each picture, e.g. with
    the predicted class in red when it is wrong.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}.")
    count = len(images)
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows + 0.3), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        image = images[index]
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        axis.imshow(image, cmap=cmap if cmap is not None else ("gray" if image.ndim == 2 else None))
        if titles is not None:
            color = title_colors[index] if title_colors is not None else "black"
            axis.set_title(titles[index], fontsize=9, color=color)
    figure.tight_layout()
    return figure
