"""Reinforcement-learning infrastructure: environments, parallel games, episodes,
evaluation and pictures (training checkpoints are in :mod:`labs.checkpoints`,
videos in :mod:`labs.video`).

The learning itself (policy network, action sampling, memory, returns, loss,
training step) and, for Pong, the frame preprocessing and the collection of
rallies are what the student writes in the notebooks; the functions here take
those pieces as arguments and never implement them.

gymnasium, ale-py and TensorFlow are imported inside the functions that use them.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Sequence

import numpy as np

from labs.runtime import native_logs_filtered

PONG_ID = "ALE/Pong-v5"
#: ALE action numbers the Pong agent chooses between: index 0 = RIGHT (paddle up), 1 = LEFT (paddle down).
PONG_ACTIONS = np.array([2, 3])
#: Shape of a raw Pong screen: rows, columns, colour channels.
PONG_SCREEN_SHAPE = (210, 160, 3)

_PACKAGE_FOR_NAMESPACE = {"ALE": "ale-py (pip install ale-py)"}


# --------------------------------------------------------------------------- environments


def _register_atari() -> None:
    """Make the ``ALE/...`` ids known to gymnasium, or say which package provides them."""
    try:
        import ale_py
    except ImportError as error:
        raise ImportError(
            "Atari environments such as 'ALE/Pong-v5' come from the ale-py package, which is "
            "not installed: run `pip install ale-py` (its wheels include the game ROMs)."
        ) from error
    import gymnasium as gym

    gym.register_envs(ale_py)


#: The banner the Atari emulator prints once per process.
_ALE_BANNER = ("A.L.E: Arcade Learning Environment", "[Powered by Stella]")


def make_env(env_id: str, seed: int | None = None, render_mode: str | None = None, **kwargs: Any):
    """Create one gymnasium environment, e.g. ``"CartPole-v1"`` or ``"ALE/Pong-v5"``.

    ``render_mode="rgb_array"`` makes ``env.render()`` return frames (H, W, 3) uint8
    for videos, with no display. ``seed`` seeds the first reset and the action space.
    Raises ValueError for an id gymnasium does not know and ImportError, naming the
    package, when Atari support is missing.
    """
    import gymnasium as gym

    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a string such as 'CartPole-v1', got {type(env_id).__name__}.")
    namespace = env_id.split("/", 1)[0] if "/" in env_id else None
    if namespace == "ALE":
        _register_atari()
    if render_mode == "rgb_array":
        # Frames are drawn off-screen: SDL (pygame) needs no display, and without one it complains on stderr.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        with native_logs_filtered(_ALE_BANNER):
            env = gym.make(env_id, render_mode=render_mode, **kwargs)
    except gym.error.NameNotFound as error:
        provider = _PACKAGE_FOR_NAMESPACE.get(namespace, "gymnasium")
        raise ValueError(
            f"Unknown environment id '{env_id}': {provider} provides no such environment; "
            f"check the spelling (gymnasium says: {error})."
        ) from None
    except gym.error.Error as error:
        raise ValueError(f"Cannot create environment '{env_id}': {error}") from None
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def describe_env(env) -> str:
    """One paragraph describing an environment's observation and action spaces."""
    return (
        f"{env.spec.id}: observations {env.observation_space}, actions {env.action_space}"
        + (f" ({', '.join(env.unwrapped.get_action_meanings())})" if hasattr(env.unwrapped, "get_action_meanings") else "")
    )


# --------------------------------------------------------------------------- Pong


def _preprocessed_space(preprocess: Callable[[np.ndarray], np.ndarray]):
    """The observation space of ``preprocess``'s output, found by preprocessing a blank screen.

    Calling the student's function here, in the notebook's process, makes a mistake in
    it fail at once with its own traceback instead of inside a worker process.
    """
    import gymnasium as gym

    if not callable(preprocess):
        raise TypeError(f"preprocess must be a function from a screen (210, 160, 3) to a frame, got {type(preprocess).__name__}.")
    sample = np.asarray(preprocess(np.zeros(PONG_SCREEN_SHAPE, dtype=np.uint8)), dtype=np.float32)
    return gym.spaces.Box(-np.inf, np.inf, sample.shape, dtype=np.float32)


class _Preprocessed:
    """``preprocess`` applied to a screen, as float32 (a picklable callable for worker processes)."""

    def __init__(self, preprocess: Callable[[np.ndarray], np.ndarray]) -> None:
        self.preprocess = preprocess

    def __call__(self, screen: np.ndarray) -> np.ndarray:
        return np.asarray(self.preprocess(screen), dtype=np.float32)


def make_pong_env(
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None, seed: int | None = None, render_mode: str | None = None
):
    """``ALE/Pong-v5``, whose observations are ``preprocess(screen)`` (float32) when a function is given.

    Without ``preprocess`` the observations are the raw screens (210, 160, 3) uint8.
    With ``render_mode="rgb_array"``, ``env.render()`` returns the full colour screen either way.
    """
    from gymnasium.wrappers import TransformObservation

    space = None if preprocess is None else _preprocessed_space(preprocess)
    env = make_env(PONG_ID, seed=seed, render_mode=render_mode)
    if preprocess is None:
        return env
    return TransformObservation(env, _Preprocessed(preprocess), space)


def make_pong_vector_env(
    num_envs: int, preprocess: Callable[[np.ndarray], np.ndarray] | None = None, asynchronous: bool = True
):
    """``num_envs`` Pong games stepped together; observations ``preprocess(screen)`` of each game.

    ``asynchronous=True`` runs each game in its own process (gymnasium's
    AsyncVectorEnv), so games advance, and their screens are preprocessed, in
    parallel on several cores while the policy chooses all their actions in one
    batched call. When a game ends, the same step already returns the first
    observation of the next game ("same-step" autoreset), so every step is a real
    move. Seed it with ``envs.reset(seed=...)``.
    """
    import gymnasium as gym

    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}.")
    _register_atari()
    if preprocess is not None:
        _preprocessed_space(preprocess)
    factories = [functools.partial(make_pong_env, preprocess)] * num_envs
    autoreset = gym.vector.AutoresetMode.SAME_STEP
    if asynchronous:
        return gym.vector.AsyncVectorEnv(factories, autoreset_mode=autoreset)
    return gym.vector.SyncVectorEnv(factories, autoreset_mode=autoreset)


def show_pong_preprocessing(screen: np.ndarray, frame: np.ndarray | None = None, difference: np.ndarray | None = None):
    """Figure: a raw Pong screen, then (if given) its preprocessed frame and a frame difference.

    Args:
        screen: raw screen (210, 160, 3) uint8; drawn with its row numbers, the playing field
            (rows 35 to 194) between dashed lines.
        frame: preprocessed frame, e.g. (80, 80, 1) in {0, 1}; drawn in grey (0 black, 1 white).
        difference: current frame minus previous frame, values in {-1, 0, 1}; drawn in blue,
            white and red with a colour key.
    """
    import matplotlib.pyplot as plt

    screen = np.asarray(screen)
    if screen.shape != PONG_SCREEN_SHAPE:
        raise ValueError(f"A Pong screen has shape {PONG_SCREEN_SHAPE}, got {screen.shape}; pass a raw observation of {PONG_ID}.")
    panels = [panel for panel in (frame, difference) if panel is not None]
    figure, axes = plt.subplots(1, 1 + len(panels), figsize=(3.6 * (1 + len(panels)) + 1.2, 4.0), squeeze=False)
    axes = axes[0]
    axes[0].imshow(screen, interpolation="nearest")
    for row in (35, 195):
        axes[0].axhline(row - 0.5, color="yellow", linestyle="--", linewidth=1)
    axes[0].set_yticks([0, 35, 195, 209])
    axes[0].set_xticks([0, 159])
    axes[0].set_title(f"raw screen {screen.shape[0]}x{screen.shape[1]}x3\n(dashed: playing field, rows 35-194)", fontsize=9)
    index = 1
    if frame is not None:
        frame = np.squeeze(np.asarray(frame, dtype=np.float32))
        shown = axes[index].imshow(frame, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[index].set_title(f"preprocessed {'x'.join(map(str, frame.shape))}", fontsize=9)
        key = figure.colorbar(shown, ax=axes[index], fraction=0.046, pad=0.04, ticks=[0, 1])
        key.ax.set_yticklabels(["0: background", "1: paddle or ball"], fontsize=8)
        index += 1
    if difference is not None:
        difference = np.squeeze(np.asarray(difference, dtype=np.float32))
        shown = axes[index].imshow(difference, cmap="bwr", vmin=-1, vmax=1, interpolation="nearest")
        axes[index].set_title("difference: current - previous", fontsize=9)
        key = figure.colorbar(shown, ax=axes[index], fraction=0.046, pad=0.04, ticks=[-1, 0, 1])
        key.ax.set_yticklabels(["-1: was here", "0: no change", "+1: is now here"], fontsize=8)
    for axis in axes[1:]:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return figure


class PongPlayer:
    """Play Pong one frame at a time with a policy over frame differences (for videos).

    Call it with the observations of one game from :func:`make_pong_env` with a
    ``preprocess`` function; it gives ``choose`` the difference
    ``difference(frame, previous frame)`` (a frame of zeros before the first frame)
    and returns the ALE action for ``choose``'s action index (0 = up, 1 = down).
    Make a new player for every game: it remembers the previous frame.
    """

    def __init__(self, choose: Callable[[np.ndarray], int], difference: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.choose, self.difference = choose, difference
        self.previous: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> int:
        frame = np.asarray(frame, dtype=np.float32)
        previous = np.zeros_like(frame) if self.previous is None else self.previous
        self.previous = frame
        return int(PONG_ACTIONS[int(self.choose(self.difference(frame, previous)))])


class ScriptedGames:
    """A stand-in for a vector env of games, for checking a rollout on known data.

    Game ``i`` pays ``rewards[i][t]`` at its step ``t`` and ends after its last scripted
    reward; the next game starts in the same step ("same-step" autoreset, like
    :func:`make_pong_vector_env`) and follows the same script. Observations are
    (1, 1, 1) float32 frames holding the step number within the current game, so
    consecutive frames differ by 1 except where a new game starts. The actions
    received are kept in :attr:`actions` (one array per step).
    """

    def __init__(self, rewards: Sequence[Sequence[float]]) -> None:
        if not rewards or any(len(script) == 0 for script in rewards):
            raise ValueError("Give every game a non-empty list of rewards, one per step.")
        self.rewards = [list(script) for script in rewards]
        self.num_envs = len(self.rewards)
        self.steps = [0] * self.num_envs
        self.actions: list[np.ndarray] = []

    def _frames(self) -> np.ndarray:
        return np.array(self.steps, dtype=np.float32).reshape(self.num_envs, 1, 1, 1)

    def reset(self, seed: int | None = None):
        """Start every game afresh; returns (frames (num_envs, 1, 1, 1), info)."""
        self.steps = [0] * self.num_envs
        return self._frames(), {}

    def step(self, actions):
        """One step of every game; returns (frames, rewards, terminated, truncated, info)."""
        self.actions.append(np.asarray(actions).copy())
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        for index, script in enumerate(self.rewards):
            rewards[index] = script[self.steps[index]]
            self.steps[index] += 1
            if self.steps[index] == len(script):
                terminated[index], self.steps[index] = True, 0
        return self._frames(), rewards, terminated, np.zeros(self.num_envs, dtype=bool), {}

    def close(self) -> None:
        """Nothing to release (the same interface as a gymnasium vector env)."""

def make_vector_env(env_id: str, num_envs: int):
    """``num_envs`` copies of ``env_id`` stepped together in this process (SyncVectorEnv)."""
    import gymnasium as gym

    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}.")
    make_env(env_id).close()
    return gym.vector.SyncVectorEnv([lambda: make_env(env_id)] * num_envs)


# --------------------------------------------------------------------------- playing episodes


def play_episodes(
    envs,
    act: Callable[[np.ndarray], np.ndarray],
    seed: int | None = None,
    memories: Sequence[Any] | None = None,
    action_map: np.ndarray | None = None,
    max_steps: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Play one episode in every sub-environment of a vector env at once.

    Each step, ``act`` receives the observations of all sub-environments as one
    batch (num_envs, ...) and returns one action index per environment (num_envs,);
    one batched call is much faster than num_envs single calls.

    Args:
        envs: a gymnasium vector env (e.g. from :func:`make_pong_vector_env`).
        act: batch of observations -> batch of action indices.
        seed: seed of the reset (sub-env i gets ``seed + i``).
        memories: optional, one per sub-env; ``memories[i].add_to_memory(observation,
            action, reward)`` is called for each step of episode i while it lasts.
        action_map: optional array mapping action indices to the env's actions
            (e.g. :data:`PONG_ACTIONS`).
        max_steps: stop every episode after this many steps (None: play to the end).
        progress: show a tqdm bar of steps.
    Returns:
        (returns, lengths): total reward (num_envs,) float and steps (num_envs,) int of each episode.
    """
    from tqdm.auto import tqdm

    num_envs = envs.num_envs
    if memories is not None and len(memories) != num_envs:
        raise ValueError(f"Pass one memory per environment: {num_envs} expected, got {len(memories)}.")
    observations, _ = envs.reset(seed=seed)
    returns = np.zeros(num_envs)
    lengths = np.zeros(num_envs, dtype=int)
    active = np.ones(num_envs, dtype=bool)
    bar = tqdm(total=max_steps, desc="playing", unit="step", leave=False, disable=not progress)
    step = 0
    while active.any() and (max_steps is None or step < max_steps):
        inputs = np.asarray(observations, dtype=np.float32)
        actions = np.asarray(act(inputs)).reshape(num_envs)
        env_actions = action_map[actions] if action_map is not None else actions
        observations, rewards, terminated, truncated, _ = envs.step(env_actions)
        for index in np.flatnonzero(active):
            if memories is not None:
                memories[index].add_to_memory(inputs[index], actions[index], float(rewards[index]))
            returns[index] += rewards[index]
            lengths[index] += 1
        active &= ~(terminated | truncated)
        step += 1
        bar.update(1)
    bar.total = bar.n  # every episode ended before max_steps: the bar ends at 100%
    bar.refresh()
    bar.close()
    return returns, lengths


def random_policy_returns(envs, num_actions: int, seed: int = 0, max_steps: int | None = None, **kwargs: Any) -> np.ndarray:
    """Returns (num_envs,) of a policy choosing uniformly among ``num_actions`` actions."""
    generator = np.random.default_rng(seed)
    returns, _ = play_episodes(
        envs, lambda batch: generator.integers(num_actions, size=len(batch)), seed=seed, max_steps=max_steps, **kwargs
    )
    return returns


def evaluate(
    env_id: str, act: Callable[[np.ndarray], np.ndarray], num_episodes: int = 100, seed: int = 10_000, progress: bool = True
) -> np.ndarray:
    """Returns (num_episodes,) of ``act`` on fresh episodes of ``env_id`` (seeds ``seed``, ``seed + 1``, ...).

    All episodes run side by side in one vector env, so ``act`` is called with a
    batch (num_episodes, ...) and must return one action index per row.
    """
    if not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be a positive int, got {num_episodes!r}.")
    envs = make_vector_env(env_id, num_episodes)
    try:
        returns, _ = play_episodes(envs, act, seed=seed, progress=progress)
    finally:
        envs.close()
    return returns


def batch_from_memories(
    memories: Sequence[Any],
    discount: Callable[[Sequence[float]], np.ndarray],
    normalize: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn several episodes into one training batch.

    Each memory needs ``observations``, ``actions`` and ``rewards`` lists of equal
    length. ``discount`` maps one episode's rewards to its returns (so discounting
    never crosses from one episode into the next); the returns of all episodes are
    then normalised together with ``normalize``.

    Returns:
        (observations (T, ...) float32, actions (T,) int32, returns (T,) float32),
        T being the total number of steps.
    """
    memories = [memory for memory in memories if len(memory.actions) > 0]
    if not memories:
        raise ValueError("All memories are empty; play at least one step before training.")
    for memory in memories:
        if not len(memory.observations) == len(memory.actions) == len(memory.rewards):
            raise ValueError(
                "A memory has lists of different lengths; add_to_memory must append one observation, "
                "one action and one reward per step."
            )
    observations = np.concatenate([np.asarray(memory.observations, dtype=np.float32) for memory in memories])
    actions = np.concatenate([np.asarray(memory.actions, dtype=np.int32) for memory in memories])
    returns = np.concatenate([np.asarray(discount(memory.rewards), dtype=np.float32) for memory in memories])
    return observations, actions, np.asarray(normalize(returns), dtype=np.float32)
