"""Where a notebook runs: device report, seeding, Colab detection, quiet native start-up logs."""

from __future__ import annotations

import contextlib
import os
import random
import sys
import tempfile
from collections.abc import Iterator, Sequence

#: Start-up lines TensorFlow's C++ core writes on a machine without a GPU; they are not errors.
TENSORFLOW_START_UP_NOISE = (
    "absl::InitializeLog()",
    "cudart_stub.cc",
    "failed call to cuInit",
    "cuda_driver.cc",
    "oneDNN custom operations",
    "Unable to register cu",
    "computation_placer",
    "TF-TRT Warning",
    "This TensorFlow binary is optimized",
    "rebuild TensorFlow with the appropriate compiler flags",
)


def in_colab() -> bool:
    """Return True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def report_device() -> str:
    """Print and return one line saying whether TensorFlow sees a GPU.

    Notebooks call this from their set-up cell; they never require a GPU.
    """
    with native_logs_filtered(TENSORFLOW_START_UP_NOISE):
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


@contextlib.contextmanager
def native_logs_filtered(noise: Sequence[str]) -> Iterator[None]:
    """Drop the lines that compiled libraries write to this process's stderr and that contain one of ``noise``.

    Libraries such as TensorFlow's C++ core or the Atari emulator write straight to
    file descriptor 2, which Jupyter shows in red under the cell. Inside this block
    that descriptor points at a temporary file; afterwards every line that matches
    none of ``noise`` is written to stderr, so a real error is never hidden.
    """
    sys.stderr.flush()
    saved_descriptor = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved_descriptor, 2)
            os.close(saved_descriptor)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines()
            kept = [line for line in lines if not any(pattern in line for pattern in noise)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
