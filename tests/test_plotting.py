"""Shared plots: smoothing, the live curve, the image grid."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from labs.plotting import LivePlot, image_grid, smooth


def test_smooth_keeps_length_and_converges_to_a_constant():
    values = np.full(200, 5.0)
    smoothed = smooth(values, 0.9)
    assert smoothed.shape == values.shape and smoothed[-1] == pytest.approx(5.0)


def test_smooth_rejects_a_weight_of_one():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        smooth([1.0, 2.0], 1.0)


def test_live_plot_records_values_and_draws_a_figure():
    plot = LivePlot(redraw_every=1000)
    for value in [3.0, 2.0, 1.0]:
        plot.update(value)
    figure = plot.figure()
    assert plot.values == [3.0, 2.0, 1.0]
    assert list(figure.axes[0].lines[0].get_ydata()) == [3.0, 2.0, 1.0]


def test_live_plot_redraws_as_png_pictures_and_leaves_no_pyplot_figure_open(monkeypatch):
    import IPython.display
    import matplotlib.pyplot as plt

    shown = []

    class Handle:
        def update(self, picture):
            shown.append(picture)

    def display(picture, display_id=False):
        shown.append(picture)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    open_before = plt.get_fignums()
    plot = LivePlot(redraw_every=2)
    for value in [3.0, 2.0, 1.0, 0.5]:
        plot.update(value)
    plot.show()
    assert len(shown) == 3
    assert all(isinstance(picture, IPython.display.Image) and picture.data.startswith(b"\x89PNG") for picture in shown)
    assert plt.get_fignums() == open_before


def test_image_grid_lays_out_every_image_with_its_title():
    figure = image_grid(np.zeros((5, 8, 8)), titles=list("abcde"), columns=3)
    titled = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titled == list("abcde") and len(figure.axes) == 6


def test_image_grid_rejects_a_single_image():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        image_grid(np.zeros((8, 8)))
