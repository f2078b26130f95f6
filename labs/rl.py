"""Reinforcement-learning helpers: environments, Pong frames, parallel episodes
and evaluation (training checkpoints are in :mod:`labs.checkpoints`).

The learning algorithm itself (policy network, action sampling, memory, returns,
loss, training step) is what the student writes in the notebooks; the functions
here take those pieces as arguments and never implement them.

gymnasium, ale-py and TensorFlow are imported inside the functions that use them.

Pong preprocessing follows the recipe of A. Karpathy, "Deep Reinforcement
Learning: Pong from Pixels" (2016): crop the playing field, keep every second
pixel, erase the background, and feed the network the difference of two frames
so that it can see which way the ball moves.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from labs.runtime import native_logs_filtered

PONG_ID = "ALE/Pong-v5"
#: ALE action numbers the Pong agent chooses between: index 0 = RIGHT (paddle up), 1 = LEFT (paddle down).
PONG_ACTIONS = np.array([2, 3])
#: Rows of the 210x160 Pong screen that hold the playing field (score and borders removed).
PONG_CROP_ROWS = (35, 195)
#: Background colours of the Pong screen (red channel), erased by preprocessing.
PONG_BACKGROUND = (144, 109)
#: Side of the square frame the Pong policy sees after preprocessing.
PONG_FRAME_SIZE = 80

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


# --------------------------------------------------------------------------- Pong frames


def _check_pong_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.shape != (210, 160, 3):
        raise ValueError(
            f"A Pong screen has shape (210, 160, 3), got {frame.shape}; pass the raw observation of ALE/Pong-v5."
        )
    return frame


def pong_stages(frame: np.ndarray) -> dict[str, np.ndarray]:
    """The preprocessing of one Pong screen, stage by stage.

    Args:
        frame: raw screen (210, 160, 3) uint8.
    Returns:
        ``{"raw": (210, 160, 3) uint8, "cropped": (160, 160, 3) uint8,
        "downsampled": (80, 80) uint8 red channel, "binary": (80, 80) float32 in {0, 1}}``.
    """
    frame = _check_pong_frame(frame)
    top, bottom = PONG_CROP_ROWS
    cropped = frame[top:bottom]
    downsampled = cropped[::2, ::2, 0]
    binary = np.ones(downsampled.shape, dtype=np.float32)
    binary[np.isin(downsampled, PONG_BACKGROUND) | (downsampled == 0)] = 0.0
    return {"raw": frame, "cropped": cropped, "downsampled": downsampled, "binary": binary}


def preprocess_pong(frame: np.ndarray) -> np.ndarray:
    """Crop, downsample and binarise one Pong screen.

    Args:
        frame: raw screen (210, 160, 3) uint8.
    Returns:
        (80, 80, 1) float32, 1 where a paddle or the ball is, 0 elsewhere.
    """
    return pong_stages(frame)["binary"][..., None]


def frame_difference(current: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Motion image: ``current - previous`` (values in {-1, 0, 1}); ``current`` alone when there is no previous frame."""
    current = np.asarray(current, dtype=np.float32)
    if previous is None:
        return current
    previous = np.asarray(previous, dtype=np.float32)
    if previous.shape != current.shape:
        raise ValueError(f"Both frames must have the same shape, got {current.shape} and {previous.shape}.")
    return current - previous


def show_pong_stages(frame: np.ndarray, previous_frame: np.ndarray):
    """Figure with the five stages: raw, cropped, downsampled, binary, difference with ``previous_frame``."""
    import matplotlib.pyplot as plt

    stages = pong_stages(frame)
    difference = frame_difference(stages["binary"], pong_stages(previous_frame)["binary"])
    panels = [
        ("raw 210x160x3", stages["raw"], None, None),
        ("cropped 160x160x3", stages["cropped"], None, None),
        ("every 2nd pixel, red 80x80", stages["downsampled"], "gray", None),
        ("binary {0,1}", stages["binary"], "gray", (0, 1)),
        ("difference {-1,0,1}", difference, "bwr", (-1, 1)),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels) + 0.8, 3.4))
    for axis, (title, image, cmap, limits) in zip(axes, panels):
        vmin, vmax = limits if limits else (None, None)
        shown = axis.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    key = figure.colorbar(shown, ax=axes[-1], fraction=0.046, pad=0.04, ticks=[-1, 0, 1])
    key.ax.set_yticklabels(["-1: was here", "0: no change", "+1: is now here"], fontsize=8)
    figure.tight_layout()
    return figure


def _preprocess_pong_uint8(frame: np.ndarray) -> np.ndarray:
    """Worker-side preprocessing: (80, 80, 1) uint8 in {0, 1} (4x fewer bytes to send than float32)."""
    return preprocess_pong(frame).astype(np.uint8)


def make_pong_env(seed: int | None = None, render_mode: str | None = None):
    """``ALE/Pong-v5`` whose observations are preprocessed frames (80, 80, 1) uint8 in {0, 1}.

    With ``render_mode="rgb_array"``, ``env.render()`` still returns the full colour screen.
    """
    import gymnasium as gym
    from gymnasium.wrappers import TransformObservation

    env = make_env(PONG_ID, seed=seed, render_mode=render_mode)
    space = gym.spaces.Box(0, 1, (PONG_FRAME_SIZE, PONG_FRAME_SIZE, 1), dtype=np.uint8)
    return TransformObservation(env, _preprocess_pong_uint8, space)


def _make_pong_worker():
    return make_pong_env()


def make_pong_vector_env(num_envs: int, asynchronous: bool = True):
    """``num_envs`` preprocessed Pong games stepped together.

    ``asynchronous=True`` runs each game in its own process (gymnasium's
    AsyncVectorEnv), so games advance in parallel on several cores while the policy
    chooses all their actions in one batched call. Seed it with ``envs.reset(seed=...)``.
    """
    import gymnasium as gym

    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}.")
    _register_atari()
    factories = [_make_pong_worker] * num_envs
    # SAME_STEP: a finished game's last step already returns the first frame of the next
    # game, so every step the collector records is a real move (no reset-only steps).
    autoreset = gym.vector.AutoresetMode.SAME_STEP
    if asynchronous:
        return gym.vector.AsyncVectorEnv(factories, autoreset_mode=autoreset)
    return gym.vector.SyncVectorEnv(factories, autoreset_mode=autoreset)


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
    frame_difference_input: bool = False,
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
        frame_difference_input: give ``act`` and the memories ``frame - previous frame``
            instead of the frame (Pong).
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
    previous = None
    returns = np.zeros(num_envs)
    lengths = np.zeros(num_envs, dtype=int)
    active = np.ones(num_envs, dtype=bool)
    bar = tqdm(total=max_steps, desc="playing", unit="step", leave=False, disable=not progress)
    step = 0
    while active.any() and (max_steps is None or step < max_steps):
        inputs = np.asarray(observations, dtype=np.float32)
        if frame_difference_input:
            inputs, previous = frame_difference(inputs, previous), inputs
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


class RallyCollector:
    """Keep the games of a vector env running across updates and hand out finished rallies.

    In Pong a rally ends at every point scored (a non-zero reward) and the returns
    restart there, so one rally is a complete episode for REINFORCE. Training on the
    rallies finished so far, instead of waiting for whole games of about a thousand
    steps, gives about twenty policy updates per game instead of one. Games are never
    reset between calls; a rally still in play when :meth:`collect` returns is
    continued and handed out by a later call.

    Args:
        envs: a vector env made with :func:`make_pong_vector_env` (same-step autoreset).
        act: batch of observations (num_envs, ...) -> action indices (num_envs,).
        new_memory: makes an empty memory with ``add_to_memory(observation, action, reward)``
            (the student's ``Memory`` class).
        action_map: optional array mapping action indices to the env's actions.
        frame_difference_input: give ``act`` and the memories frame differences (Pong).
        seed: seed of the first reset (sub-env i gets ``seed + i``).
    """

    def __init__(
        self,
        envs,
        act: Callable[[np.ndarray], np.ndarray],
        new_memory: Callable[[], Any],
        action_map: np.ndarray | None = PONG_ACTIONS,
        frame_difference_input: bool = True,
        seed: int | None = None,
    ) -> None:
        self.envs, self.act, self.new_memory = envs, act, new_memory
        self.action_map, self.frame_difference_input = action_map, frame_difference_input
        self.observations = np.asarray(envs.reset(seed=seed)[0], dtype=np.float32)
        self.previous = np.zeros_like(self.observations)
        self.memories = [new_memory() for _ in range(envs.num_envs)]
        self.game_returns = np.zeros(envs.num_envs)

    def collect(self, num_steps: int, progress: bool = False) -> tuple[list[Any], list[float]]:
        """Step every game ``num_steps`` times.

        Returns:
            (rallies, game_returns): the memories of the rallies that ended during these
            steps, and the total reward of each game that ended (points won - points lost).
        """
        from tqdm.auto import tqdm

        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}.")
        rallies: list[Any] = []
        finished_games: list[float] = []
        for _ in tqdm(range(num_steps), desc="playing", unit="step", leave=False, disable=not progress):
            inputs = self.observations - self.previous if self.frame_difference_input else self.observations
            actions = np.asarray(self.act(inputs)).reshape(self.envs.num_envs)
            env_actions = self.action_map[actions] if self.action_map is not None else actions
            observations, rewards, terminated, truncated, _ = self.envs.step(env_actions)
            self.previous = self.observations
            self.observations = np.asarray(observations, dtype=np.float32)
            for index, reward in enumerate(rewards):
                self.memories[index].add_to_memory(inputs[index], actions[index], float(reward))
                self.game_returns[index] += reward
                if reward != 0:
                    rallies.append(self.memories[index])
                    self.memories[index] = self.new_memory()
                if terminated[index] or truncated[index]:
                    finished_games.append(float(self.game_returns[index]))
                    self.game_returns[index] = 0.0
                    self.memories[index] = self.new_memory()
                    if self.frame_difference_input:
                        # The new game has no previous frame yet. (Without differences,
                        # self.previous is the array the memories' inputs point into.)
                        self.previous[index] = 0.0
        return rallies, finished_games


class PongPlayer:
    """Play Pong one screen at a time with a policy over frame differences.

    ``choose(difference)`` receives one difference frame (80, 80, 1) and returns an
    action index (0 = up, 1 = down); calling the player with a raw screen
    (210, 160, 3) or a preprocessed frame (80, 80, 1) returns the ALE action. Make a
    new player for every game: it remembers the previous frame.
    """

    def __init__(self, choose: Callable[[np.ndarray], int]) -> None:
        self.choose = choose
        self.previous: np.ndarray | None = None

    def __call__(self, observation: np.ndarray) -> int:
        observation = np.asarray(observation)
        frame = preprocess_pong(observation) if observation.shape == (210, 160, 3) else observation.astype(np.float32)
        difference = frame_difference(frame, self.previous)
        self.previous = frame
        return int(PONG_ACTIONS[int(self.choose(difference))])
