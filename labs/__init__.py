"""Helpers for the introductory deep-learning labs.

Importing this package is cheap and has no side effects: submodules such as
``labs.checks`` or ``labs.music`` load on first use, and TensorFlow, music21
and gymnasium are imported only by the functions that need them.
"""

import importlib

from labs.runtime import report_device, set_seed

__all__ = ["report_device", "set_seed"]
__version__ = "0.1.0"

_SUBMODULES = {"audio", "checkpoints", "checks", "data", "faces", "keys", "metre", "music", "plotting", "rl", "runtime", "video",
               "vision"}


def __getattr__(name: str):
    """Load ``labs.<submodule>`` on first attribute access (PEP 562)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"labs.{name}")
    raise AttributeError(f"module 'labs' has no attribute {name!r}")
