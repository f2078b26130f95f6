"""Tests of labs.rl and of the REINFORCE pieces in the lab 3 solution notebooks."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.notebooks import run_solution_cells
from labs import rl

SOLUTIONS = Path(__file__).resolve().parents[1] / "lab3_rl" / "solutions"


def solution_functions(notebook: str, grade_ids: set[str]) -> dict:
    """Execute the solution cells with these nbgrader grade ids and return their namespace."""
    import keras
    import tensorflow as tf

    return run_solution_cells(SOLUTIONS / notebook, grade_ids, {"np": np, "tf": tf, "keras": keras})


@pytest.fixture(scope="module")
def part1():
    return solution_functions("Part1_CartPole.ipynb", {"returns", "memory"})


@pytest.fixture(scope="module")
def part2():
    import keras
    import tensorflow as tf

    import labs.rl

    return run_solution_cells(
        SOLUTIONS / "Part2_Pong.ipynb", {"preprocess", "discount_rewards_pong", "rollout", "training_batch"},
        {"np": np, "tf": tf, "keras": keras, "labs": labs},
    )


def always_action_0(frames):
    """A stand-in policy: logits that choose action 0 for every frame."""
    return np.tile(np.array([[30.0, -30.0]], dtype=np.float32), (len(frames), 1))


class Memory:
    """Minimal episode memory with the interface play_episodes and batch_from_memories use."""

    def __init__(self):
        self.observations, self.actions, self.rewards = [], [], []

    def add_to_memory(self, observation, action, reward):
        self.observations.append(observation)
        self.actions.append(action)
        self.rewards.append(reward)


def pong_screens(steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two consecutive real ALE Pong screens (previous, current) after ``steps`` steps."""
    env = rl.make_env(rl.PONG_ID, seed=3)
    frame, _ = env.reset(seed=3)
    previous = frame
    for _ in range(steps):
        previous = frame
        frame, *_ = env.step(rl.PONG_ACTIONS[0])
    env.close()
    return previous, frame


def red_field(screen: np.ndarray) -> np.ndarray:
    """A stand-in preprocessing for tests of the infrastructure: the red channel of rows 35-194, every 4th pixel, (40, 40, 1)."""
    return (screen[35:195:4, ::4, :1] > 0).astype(np.float32)


# ----------------------------------------------------------------------------- returns


def test_discounted_returns_match_hand_computed_values(part1):
    # G_2 = 1, G_1 = 1 + 0.5 * 1 = 1.5, G_0 = 1 + 0.5 * 1.5 = 1.75
    np.testing.assert_allclose(part1["discount_rewards"]([1.0, 1.0, 1.0], 0.5), [1.75, 1.5, 1.0])
    # G_3 = 1, G_2 = -1 + 0.5, G_1 = 0 + 0.5 * -0.5, G_0 = 2 + 0.5 * -0.25
    np.testing.assert_allclose(part1["discount_rewards"]([2.0, 0.0, -1.0, 1.0], 0.5), [1.875, -0.25, -0.5, 1.0])


def test_normalized_returns_have_mean_zero_and_unit_spread(part1):
    values = part1["normalize"]([1.0, 2.0, 3.0])
    np.testing.assert_allclose(values, [-np.sqrt(1.5), 0.0, np.sqrt(1.5)], rtol=1e-5)


def test_pong_discounting_restarts_at_each_point(part2):
    discount = part2["discount_rewards_pong"]
    np.testing.assert_allclose(discount([0.0, 0.0, 1.0, 0.0, -1.0], 0.5), [0.25, 0.5, 1.0, -0.5, -1.0])
    # Without the reset, step 0 would also get 0.9**4 * -1 from the second rally.
    np.testing.assert_allclose(discount([0.0, -1.0, 0.0, 0.0, -1.0], 0.9), [-0.9, -1.0, -0.81, -0.9, -1.0], rtol=1e-6)


def test_batch_from_memories_never_discounts_across_episodes(part1):
    first, second = part1["Memory"](), part1["Memory"]()
    for reward in (0.0, 1.0):
        first.add_to_memory(np.zeros(2), 0, reward)
    second.add_to_memory(np.ones(2), 1, 5.0)
    observations, actions, returns = rl.batch_from_memories(
        [first, second], lambda rewards: part1["discount_rewards"](rewards, 0.5), lambda values: np.asarray(values)
    )
    assert observations.shape == (3, 2) and observations.dtype == np.float32
    np.testing.assert_array_equal(actions, [0, 0, 1])
    np.testing.assert_allclose(returns, [0.5, 1.0, 5.0])


def test_batch_from_memories_rejects_all_empty_memories():
    with pytest.raises(ValueError, match="play at least one step"):
        rl.batch_from_memories([Memory(), Memory()], np.asarray, np.asarray)


# ----------------------------------------------------------------------------- Pong frames (the notebook's solution)


def test_preprocessing_a_real_ale_screen_gives_an_80x80_binary_image(part2):
    previous, screen = pong_screens()
    processed = part2["preprocess_frame"](screen)
    assert processed.shape == (80, 80, 1) and processed.dtype == np.float32
    assert set(np.unique(processed)) == {0.0, 1.0}
    # Only the paddles and the ball remain: a few dozen of the 6,400 pixels.
    assert 10 <= processed.sum() <= 200
    difference = part2["frame_difference"](processed, part2["preprocess_frame"](previous))
    assert set(np.unique(difference)) <= {-1.0, 0.0, 1.0}
    assert np.any(difference != 0)


def test_pong_preprocessing_figure_has_a_colour_key_for_the_difference(part2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    previous, screen = pong_screens()
    frame = part2["preprocess_frame"](screen)
    figure = rl.show_pong_preprocessing(screen, frame, part2["frame_difference"](frame, part2["preprocess_frame"](previous)))
    labels = [text.get_text() for axis in figure.axes for text in axis.get_yticklabels()]
    assert "-1: was here" in labels and "+1: is now here" in labels and "1: paddle or ball" in labels
    plt.close(figure)
    alone = rl.show_pong_preprocessing(screen)
    assert len(alone.axes) == 1
    plt.close(alone)
    with pytest.raises(ValueError, match=r"\(210, 160, 3\)"):
        rl.show_pong_preprocessing(frame)


def test_pong_player_feeds_differences_with_a_zero_first_frame_and_returns_ale_actions():
    seen = []
    player = rl.PongPlayer(lambda difference: seen.append(difference.copy()) or 1, lambda current, previous: current - previous)
    first, second = np.full((2, 2, 1), 1.0), np.full((2, 2, 1), 3.0)
    assert player(first) == rl.PONG_ACTIONS[1]
    assert player(second) == rl.PONG_ACTIONS[1]
    np.testing.assert_array_equal(seen[0], first)
    np.testing.assert_array_equal(seen[1], second - first)


# ----------------------------------------------------------------------------- environments and rollouts


def test_unknown_environment_id_says_which_package_provides_the_namespace():
    with pytest.raises(ValueError, match=r"Unknown environment id 'ALE/Pongg-v5': ale-py"):
        rl.make_env("ALE/Pongg-v5")
    with pytest.raises(ValueError, match=r"Unknown environment id 'CartPol-v1': gymnasium"):
        rl.make_env("CartPol-v1")


def test_missing_atari_support_names_the_ale_py_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)
    with pytest.raises(ImportError, match="pip install ale-py"):
        rl.make_env("ALE/Pong-v5")


def test_make_env_rejects_an_id_that_is_not_a_string():
    with pytest.raises(TypeError, match="must be a string"):
        rl.make_env(42)


def test_play_episodes_fills_one_memory_per_environment():
    envs = rl.make_vector_env("CartPole-v1", 3)
    memories = [Memory() for _ in range(3)]
    returns, lengths = rl.play_episodes(envs, lambda batch: np.zeros(len(batch), dtype=int), seed=0, memories=memories, progress=False)
    envs.close()
    assert returns.shape == (3,) and lengths.shape == (3,)
    # Cart-Pole pays +1 per step, so an episode's return is its length.
    np.testing.assert_array_equal(returns, lengths)
    for memory, length in zip(memories, lengths):
        assert len(memory.actions) == len(memory.rewards) == len(memory.observations) == length
        assert np.asarray(memory.observations).shape == (length, 4)


def test_play_episodes_ends_its_progress_bar_at_100_percent_when_every_episode_ends_early(capsys):
    envs = rl.make_vector_env("CartPole-v1", 2)
    _, lengths = rl.play_episodes(envs, lambda batch: np.zeros(len(batch), dtype=int), seed=0, max_steps=300)
    envs.close()
    assert lengths.max() < 300
    assert re.findall(r"(\d+)%\|", capsys.readouterr().err)[-1] == "100"


@pytest.mark.parametrize("asynchronous", [False, True])
def test_pong_vector_env_preprocesses_every_game_with_the_given_function(asynchronous):
    envs = rl.make_pong_vector_env(2, red_field, asynchronous=asynchronous)
    assert envs.single_observation_space.shape == (40, 40, 1)
    frames, _ = envs.reset(seed=1)
    assert frames.shape == (2, 40, 40, 1) and frames.dtype == np.float32
    frames, rewards, terminated, truncated, _ = envs.step(rl.PONG_ACTIONS[[0, 1]])
    envs.close()
    assert frames.shape == (2, 40, 40, 1) and set(np.unique(frames)) <= {0.0, 1.0}
    assert rewards.shape == terminated.shape == truncated.shape == (2,)


def test_pong_vector_env_without_preprocessing_gives_raw_screens_to_play_episodes():
    envs = rl.make_pong_vector_env(2, asynchronous=False)
    memories = [Memory() for _ in range(2)]
    returns, lengths = rl.play_episodes(envs, lambda batch: np.ones(len(batch), dtype=int), seed=1, memories=memories,
                                        action_map=rl.PONG_ACTIONS, max_steps=3, progress=False)
    envs.close()
    np.testing.assert_array_equal(lengths, [3, 3])
    assert np.asarray(memories[0].observations).shape == (3, 210, 160, 3)
    assert memories[0].actions == [1, 1, 1]


def test_a_broken_preprocessing_fails_in_the_notebook_process_with_its_own_error():
    def unfinished(screen):
        raise NotImplementedError("preprocess_frame")

    with pytest.raises(NotImplementedError, match="preprocess_frame"):
        rl.make_pong_vector_env(2, unfinished)
    with pytest.raises(TypeError, match="preprocess must be a function"):
        rl.make_pong_env("crop")


def test_scripted_games_follow_their_scripts_and_restart_in_the_same_step():
    games = rl.ScriptedGames([[0, 1], [0, 0, -1]])
    frames, _ = games.reset()
    assert frames.shape == (2, 1, 1, 1) and frames.ravel().tolist() == [0.0, 0.0]
    steps = [games.step(np.array([2, 3])) for _ in range(3)]
    assert [step[1].tolist() for step in steps] == [[0.0, 0.0], [1.0, 0.0], [0.0, -1.0]]
    assert [step[2].tolist() for step in steps] == [[False, False], [True, False], [False, True]]
    assert [step[0].ravel().tolist() for step in steps] == [[1.0, 1.0], [0.0, 2.0], [1.0, 0.0]]
    assert [actions.tolist() for actions in games.actions] == [[2, 3]] * 3
    with pytest.raises(ValueError, match="non-empty"):
        rl.ScriptedGames([[0], []])


# ----------------------------------------------------------------------------- the notebook's rollout and batch


def test_rollout_splits_games_at_every_point_and_carries_unfinished_rallies_over(part2):
    games = rl.ScriptedGames([[0, 0, 1, 0, -1], [0, 0, 0, 0, 0, -1, 0, 1]])
    rollout = part2["PongRollout"](games, always_action_0)

    rallies, finished = rollout.collect(4)
    assert [rally["rewards"] for rally in rallies] == [[0, 0, 1]]
    assert finished == []

    rallies, finished = rollout.collect(4)
    # Game 1's first rally began in the first call and ends in this one; both games end
    # (returns 1 - 1 and -1 + 1) and game 0 starts again and wins its first point.
    assert sorted(rally["rewards"] for rally in rallies) == [[0, -1], [0, 0, 0, 0, 0, -1], [0, 0, 1], [0, 1]]
    assert finished == [0.0, 0.0]
    assert all(rally["actions"] == [0] * len(rally["rewards"]) for rally in rallies)


def test_rollout_on_real_pong_hands_out_rallies_that_end_with_a_point(part2):
    envs = rl.make_pong_vector_env(2, part2["preprocess_frame"], asynchronous=False)
    rollout = part2["PongRollout"](envs, lambda frames: np.zeros((len(frames), 2), dtype=np.float32), seed=0)
    rallies, _ = rollout.collect(150)
    envs.close()
    assert rallies, "150 steps of two random games always see a point scored"
    for rally in rallies:
        assert rally["rewards"][-1] in (-1.0, 1.0) and not any(rally["rewards"][:-1])
        assert np.asarray(rally["observations"]).shape == (len(rally["rewards"]), 80, 80, 1)
    observations, actions, returns = part2["training_batch"](rallies, 0.99)
    assert observations.shape == (sum(len(rally["rewards"]) for rally in rallies), 80, 80, 1)
    assert set(np.unique(actions)) <= {0, 1}
    np.testing.assert_allclose([returns.mean(), returns.std()], [0.0, 1.0], atol=1e-4)


def test_keras_weighted_cross_entropy_takes_the_same_step_as_the_part1_train_step():
    """Part 2 trains with compile + train_on_batch(sample_weight=returns): the same update as Part 1's train_step."""
    import keras

    part1 = solution_functions("Part1_CartPole.ipynb", {"compute_loss", "train_step"})
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(7, 5)).astype(np.float32)
    actions = rng.integers(2, size=7).astype(np.int32)
    returns = rng.normal(size=7).astype(np.float32)

    def model():
        keras.utils.set_random_seed(1)
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])

    by_hand, compiled = model(), model()
    part1_loss = part1["train_step"](by_hand, keras.optimizers.SGD(0.1), observations, actions, returns)
    compiled.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                     jit_compile=False)
    keras_loss = compiled.train_on_batch(observations, actions, sample_weight=returns)
    np.testing.assert_allclose(keras_loss, float(part1_loss), rtol=1e-5)
    for mine, theirs in zip(by_hand.get_weights(), compiled.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-7)


def test_evaluate_returns_one_return_per_episode():
    returns = rl.evaluate("CartPole-v1", lambda batch: np.zeros(len(batch), dtype=int), num_episodes=4, progress=False)
    assert returns.shape == (4,)
    # Always pushing left topples the pole within a few dozen steps.
    assert np.all((returns >= 5) & (returns < 60))


def test_evaluate_rejects_zero_episodes():
    with pytest.raises(ValueError, match="positive int"):
        rl.evaluate("CartPole-v1", lambda batch: batch, num_episodes=0)
