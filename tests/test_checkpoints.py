"""Tests of labs.checkpoints: a training run saved and restored."""

from __future__ import annotations

import numpy as np
import pytest

from labs import checkpoints



def test_checkpoint_round_trip_restores_weights_optimizer_and_state(tmp_path):
    import keras

    def make():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    model, optimizer = make(), keras.optimizers.Adam(0.1)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=2, verbose=0)
    checkpoints.save_checkpoint(tmp_path / "run", model, optimizer, {"update": 7, "game_returns": [-21.0, -20.0]})
    assert checkpoints.has_checkpoint(tmp_path / "run")

    restored_model, restored_optimizer = make(), keras.optimizers.Adam(0.1)
    state = checkpoints.load_checkpoint(tmp_path / "run", restored_model, restored_optimizer)
    assert state == {"update": 7, "game_returns": [-21.0, -20.0]}
    for saved, loaded in zip(model.weights, restored_model.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    for saved, loaded in zip(optimizer.variables, restored_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(loaded))
    assert int(restored_optimizer.iterations.numpy()) == int(optimizer.iterations.numpy()) > 0


def test_saving_again_replaces_the_checkpoint(tmp_path):
    import keras

    model, optimizer = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), keras.optimizers.Adam()
    checkpoints.save_checkpoint(tmp_path / "run", model, optimizer, {"update": 1})
    checkpoints.save_checkpoint(tmp_path / "run", model, optimizer, {"update": 2})
    assert checkpoints.load_checkpoint(tmp_path / "run", model, keras.optimizers.Adam()) == {"update": 2}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


def test_loading_a_missing_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No complete checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "nothing", None, None)


def test_checkpoint_state_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        checkpoints.save_checkpoint(tmp_path / "run", None, None, {"returns": np.zeros(2)})
