"""Where a notebook runs: device report, seeding, Colab detection."""

from __future__ import annotations

import os
import random
import sys


def in_colab() -> bool:
    """Return True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def report_device() -> str:
    """Print and return one line saying whether TensorFlow sees a GPU.

    Notebooks call this from their set-up cell; they never require a GPU.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = ", ".join(gpu.name for gpu in gpus)
        line = f"TensorFlow {tf.__version__}: GPU visible ({names}); training will use it."
    else:
        line = (
            f"TensorFlow {tf.__version__}: no GPU visible, running on the CPU "
            "(everything works, full runs just take longer)."
        )
    print(line)
    return line


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow/Keras so that a run can be repeated."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}; pass e.g. set_seed(42).")
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(seed)
