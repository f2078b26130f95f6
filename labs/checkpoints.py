"""Training checkpoints: a model's weights, its optimizer's state and a JSON progress record.

A long run (Pong trains for hours on a CPU) saves one of these every few updates, so
that an interrupted run resumes where it stopped instead of starting over.
TensorFlow is used through the objects passed in; this module does not import it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

_WEIGHTS_FILE = "model.weights.h5"
_OPTIMIZER_FILE = "optimizer.npz"
_STATE_FILE = "state.json"


def save_checkpoint(directory: str | os.PathLike, model, optimizer, state: dict) -> Path:
    """Save model weights, optimizer state and a JSON-able ``state`` dict (e.g. iteration, reward history).

    The checkpoint is written to a temporary directory and then moved into place, so
    an interrupted save never leaves a half-written checkpoint. Returns the directory.
    """
    directory = Path(directory)
    try:
        state_text = json.dumps(state)
    except TypeError as error:
        raise TypeError(f"state must hold only JSON types (numbers, strings, lists, dicts): {error}.") from None
    directory.parent.mkdir(parents=True, exist_ok=True)
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    staging = Path(tempfile.mkdtemp(prefix=".checkpoint-", dir=directory.parent))
    model.save_weights(staging / _WEIGHTS_FILE)
    np.savez(staging / _OPTIMIZER_FILE, *[np.asarray(variable) for variable in optimizer.variables])
    (staging / _STATE_FILE).write_text(state_text)
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        directory.rename(old)
        staging.rename(directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(directory)
    return directory


def has_checkpoint(directory: str | os.PathLike) -> bool:
    """True when ``directory`` holds a complete checkpoint written by :func:`save_checkpoint`."""
    directory = Path(directory)
    return all((directory / name).is_file() for name in (_WEIGHTS_FILE, _OPTIMIZER_FILE, _STATE_FILE))


def load_checkpoint(directory: str | os.PathLike, model, optimizer) -> dict:
    """Restore what :func:`save_checkpoint` saved into ``model`` and ``optimizer``; return the state dict.

    ``model`` must have the same architecture as the saved one.
    """
    directory = Path(directory)
    if not has_checkpoint(directory):
        raise FileNotFoundError(f"No complete checkpoint in {directory}; train first or check the path.")
    model.load_weights(directory / _WEIGHTS_FILE)
    optimizer.build(model.trainable_variables)
    with np.load(directory / _OPTIMIZER_FILE) as saved:
        values = [saved[f"arr_{index}"] for index in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise ValueError(
            f"The checkpoint holds {len(values)} optimizer variables but this optimizer has "
            f"{len(optimizer.variables)}; use the same optimizer class as the saved run."
        )
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    return json.loads((directory / _STATE_FILE).read_text())
