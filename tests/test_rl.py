"""Tests of labs.rl and of the REINFORCE pieces in the lab 3 solution notebooks."""

from __future__ import annotations

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
    return solution_functions("Part2_Pong.ipynb", {"discount_rewards_pong"})


class Memory:
    """Minimal episode memory with the interface play_episodes and batch_from_memories use."""

    def __init__(self):
        self.observations, self.actions, self.rewards = [], [], []

    def add_to_memory(self, observation, action, reward):
        self.observations.append(observation)
        self.actions.append(action)
        self.rewards.append(reward)


def pong_screen(steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two consecutive real ALE Pong screens (previous, current) after ``steps`` steps."""
    env = rl.make_env(rl.PONG_ID, seed=3)
    frame, _ = env.reset(seed=3)
    previous = frame
    for _ in range(steps):
        previous = frame
        frame, *_ = env.step(rl.PONG_ACTIONS[0])
    env.close()
    return previous, frame


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


# ----------------------------------------------------------------------------- Pong frames


def test_preprocessing_a_real_ale_frame_gives_an_80x80_binary_image():
    previous, frame = pong_screen()
    stages = rl.pong_stages(frame)
    assert stages["cropped"].shape == (160, 160, 3)
    assert stages["downsampled"].shape == (80, 80)
    processed = rl.preprocess_pong(frame)
    assert processed.shape == (80, 80, 1) and processed.dtype == np.float32
    assert set(np.unique(processed)) == {0.0, 1.0}
    # Only the paddles and the ball remain: a few dozen of the 6,400 pixels.
    assert 10 <= processed.sum() <= 200
    difference = rl.frame_difference(processed, rl.preprocess_pong(previous))
    assert set(np.unique(difference)) <= {-1.0, 0.0, 1.0}
    assert np.any(difference != 0)


def test_preprocessing_rejects_a_frame_that_is_not_a_pong_screen():
    with pytest.raises(ValueError, match=r"\(210, 160, 3\)"):
        rl.preprocess_pong(np.zeros((84, 84, 3), dtype=np.uint8))


def test_frame_difference_without_previous_frame_is_the_frame():
    frame = np.ones((4, 4, 1), dtype=np.float32)
    np.testing.assert_array_equal(rl.frame_difference(frame, None), frame)
    with pytest.raises(ValueError, match="same shape"):
        rl.frame_difference(frame, np.ones((3, 3, 1)))


def test_pong_player_feeds_differences_and_returns_ale_actions():
    seen = []
    player = rl.PongPlayer(lambda difference: seen.append(difference.copy()) or 1)
    previous, frame = pong_screen()
    assert player(previous) == rl.PONG_ACTIONS[1]
    assert player(frame) == rl.PONG_ACTIONS[1]
    np.testing.assert_array_equal(seen[0], rl.preprocess_pong(previous))
    np.testing.assert_array_equal(seen[1], rl.preprocess_pong(frame) - rl.preprocess_pong(previous))


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


@pytest.mark.parametrize("asynchronous", [False, True])
def test_parallel_pong_rollout_gives_difference_frames_of_each_game(asynchronous):
    envs = rl.make_pong_vector_env(2, asynchronous=asynchronous)
    memories = [Memory() for _ in range(2)]
    batches = []

    def act(batch):
        batches.append(batch.shape)
        return np.ones(len(batch), dtype=int)

    returns, lengths = rl.play_episodes(
        envs, act, seed=1, memories=memories, action_map=rl.PONG_ACTIONS, frame_difference_input=True,
        max_steps=6, progress=False,
    )
    envs.close()
    assert batches == [(2, 80, 80, 1)] * 6
    np.testing.assert_array_equal(lengths, [6, 6])
    observations = np.asarray(memories[0].observations)
    assert observations.shape == (6, 80, 80, 1)
    assert set(np.unique(observations[1:])) <= {-1.0, 0.0, 1.0}
    assert memories[0].actions == [1] * 6


class ScriptedGames:
    """A stand-in vector env with same-step autoreset: game i pays ``rewards[i][t]`` at its step t.

    Observations are (1,) arrays holding the step number within the current game, so
    frame differences are 1 except on the first step of a game; a game ends after its
    last scripted reward and the next one starts with the same script.
    """

    def __init__(self, rewards: list[list[float]]):
        self.rewards = rewards
        self.num_envs = len(rewards)
        self.steps = [0] * self.num_envs

    def reset(self, seed=None):
        self.steps = [0] * self.num_envs
        return np.zeros((self.num_envs, 1)), {}

    def step(self, actions):
        rewards, terminated = np.zeros(self.num_envs), np.zeros(self.num_envs, dtype=bool)
        for index, script in enumerate(self.rewards):
            rewards[index] = script[self.steps[index]]
            self.steps[index] += 1
            if self.steps[index] == len(script):
                terminated[index], self.steps[index] = True, 0
        observations = np.array(self.steps, dtype=float)[:, None]
        return observations, rewards, terminated, np.zeros(self.num_envs, dtype=bool), {}


def test_rally_collector_splits_games_at_every_point_and_carries_unfinished_rallies_over():
    games = ScriptedGames([[0, 0, 1, 0, -1], [0, 0, 0, 0, 0, -1, 0, 1]])
    collector = rl.RallyCollector(games, lambda batch: np.zeros(len(batch), dtype=int), Memory, action_map=None)

    rallies, finished = collector.collect(4)
    assert [memory.rewards for memory in rallies] == [[0, 0, 1]]
    assert finished == []

    rallies, finished = collector.collect(4)
    # Game 1's first rally began in the first call and ends in this one; both games end
    # (returns 1 - 1 and -1 + 1) and game 0 starts again and wins its first point.
    assert sorted(memory.rewards for memory in rallies) == [[0, -1], [0, 0, 0, 0, 0, -1], [0, 0, 1], [0, 1]]
    assert finished == [0.0, 0.0]

    rallies, finished = collector.collect(2)
    assert [memory.rewards for memory in rallies] == [[0, -1]] and finished == [0.0]


def test_rally_collector_gives_frame_differences_that_restart_with_each_game():
    collector = rl.RallyCollector(ScriptedGames([[0, 1]]), lambda batch: np.zeros(len(batch), dtype=int), Memory,
                                  action_map=None)
    rallies, _ = collector.collect(4)
    # Step numbers 0,1 | 0,1: the first frame of each game is given as it is (no previous frame).
    assert [np.asarray(memory.observations).ravel().tolist() for memory in rallies] == [[0.0, 1.0], [0.0, 1.0]]
    assert [memory.actions for memory in rallies] == [[0, 0], [0, 0]]


def test_rally_collector_without_differences_keeps_the_last_observation_of_a_game():
    collector = rl.RallyCollector(ScriptedGames([[0, 1]]), lambda batch: np.zeros(len(batch), dtype=int), Memory,
                                  action_map=None, frame_difference_input=False)
    rallies, finished = collector.collect(2)
    assert [np.asarray(memory.observations).ravel().tolist() for memory in rallies] == [[0.0, 1.0]]
    assert finished == [1.0]


def test_rally_collector_on_real_pong_hands_out_rallies_that_end_with_a_point():
    envs = rl.make_pong_vector_env(2, asynchronous=False)
    generator = np.random.default_rng(0)
    collector = rl.RallyCollector(envs, lambda batch: generator.integers(2, size=len(batch)), Memory, seed=0)
    rallies, _ = collector.collect(150)
    envs.close()
    assert rallies, "150 steps of two random games always see a point scored"
    for memory in rallies:
        assert memory.rewards[-1] in (-1.0, 1.0) and not any(memory.rewards[:-1])
        assert np.asarray(memory.observations).shape == (len(memory.rewards), 80, 80, 1)


def test_rally_collector_rejects_a_step_count_that_is_not_positive():
    collector = rl.RallyCollector(ScriptedGames([[1]]), lambda batch: np.zeros(len(batch), dtype=int), Memory,
                                  action_map=None)
    with pytest.raises(ValueError, match="positive int"):
        collector.collect(0)


def test_evaluate_returns_one_return_per_episode():
    returns = rl.evaluate("CartPole-v1", lambda batch: np.zeros(len(batch), dtype=int), num_episodes=4, progress=False)
    assert returns.shape == (4,)
    # Always pushing left topples the pole within a few dozen steps.
    assert np.all((returns >= 5) & (returns < 60))


def test_evaluate_rejects_zero_episodes():
    with pytest.raises(ValueError, match="positive int"):
        rl.evaluate("CartPole-v1", lambda batch: batch, num_episodes=0)
