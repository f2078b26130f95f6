"""Helpers for the introductory deep-learning labs.

Importing this package is cheap and has no side effects: TensorFlow, music21 and
gymnasium are imported only by the modules and functions that need them.
"""

from labs.runtime import report_device, set_seed

__all__ = ["report_device", "set_seed"]
__version__ = "0.1.0"
