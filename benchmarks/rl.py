"""Lab 3 benchmark: Cart-Pole time to solve, Pong rollout speed, and a Pong learning curve.

The REINFORCE pieces (Part 1: policy network, choose_action, Memory, returns,
loss, train_step; Part 2: frame preprocessing, policy network, returns, rollout,
training batch) and the full-run parameter values are taken from the solution
notebooks themselves (the cells with those nbgrader grade ids and the cell tagged
``parameters``), so the figures measure the notebooks' code; the training loops
below repeat the notebooks' loops with a clock and fixed seeds added.

Reproduce (about 15 minutes plus ``--minutes`` on a 2-core CPU)::

    python benchmarks/rl.py --seeds 1 2 3 --minutes 60

Parts can be skipped with ``--skip-cartpole``, ``--skip-speed`` and ``--minutes 0``.
Prints one markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from autograder.notebooks import run_solution_cells

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "lab3_rl" / "solutions"


def notebook_namespace(notebook: str, grade_ids: set[str]) -> dict:
    """Run the notebook's parameters cell and the solution cells with these grade ids; return the namespace."""
    import keras
    import tensorflow as tf

    import labs.rl

    return run_solution_cells(
        SOLUTIONS / notebook, grade_ids, {"np": np, "tf": tf, "keras": keras, "labs": labs}, with_parameters=True
    )


#: Part 2's cells that the Pong measurements run.
PONG_CELLS = {"preprocess", "create_pong_model", "discount_rewards_pong", "rollout", "training_batch"}


def cartpole_run(seed: int, max_cpu_minutes: float) -> dict:
    """Train as Part 1 does until solved (mean of last 100 returns >= 475); evaluate on 100 episodes."""
    import keras
    import tensorflow as tf
    from tqdm.auto import tqdm

    import labs
    from labs import rl

    part1 = notebook_namespace(
        "Part1_CartPole.ipynb", {"create_cartpole_model", "choose_action", "memory", "returns", "compute_loss", "train_step"}
    )
    labs.set_seed(seed)
    model = part1["create_cartpole_model"](part1["hidden_units"])
    optimizer = keras.optimizers.Adam(part1["learning_rate"])
    per_update, gamma = part1["episodes_per_update"], part1["gamma"]
    envs = rl.make_vector_env("CartPole-v1", per_update)

    policy = tf.function(model, reduce_retracing=True)

    def act(observations):
        return part1["choose_action"](policy, observations, single=False)

    returns_so_far: list[float] = []
    solved_at = None
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    bar = tqdm(range(part1["max_updates"]), desc=f"Cart-Pole seed {seed}", unit="update")
    for update in bar:
        memories = [part1["Memory"]() for _ in range(per_update)]
        returns, _ = rl.play_episodes(envs, act, seed=seed * 1_000_003 + 1000 * update, memories=memories, progress=False)
        batch = rl.batch_from_memories(memories, lambda rewards: part1["discount_rewards"](rewards, gamma), part1["normalize"])
        part1["train_step"](model, optimizer, *batch)
        returns_so_far.extend(float(value) for value in returns)
        bar.set_postfix(episodes=len(returns_so_far), last_100=f"{np.mean(returns_so_far[-100:]):.0f}")
        if len(returns_so_far) >= 100 and np.mean(returns_so_far[-100:]) >= 475:
            solved_at = len(returns_so_far)
            break
        if time.process_time() - cpu_start > 60 * max_cpu_minutes:
            break
    bar.close()
    wall_minutes = (time.perf_counter() - wall_start) / 60
    cpu_minutes = (time.process_time() - cpu_start) / 60
    envs.close()
    evaluation = rl.evaluate("CartPole-v1", act, num_episodes=100, seed=50_000 + seed, progress=False)
    greedy = rl.evaluate(
        "CartPole-v1", lambda batch: np.argmax(policy(batch), axis=1), num_episodes=100, seed=50_000 + seed, progress=False
    )
    return {
        "seed": seed, "solved_at": solved_at, "episodes": len(returns_so_far), "wall_minutes": wall_minutes,
        "cpu_minutes": cpu_minutes, "last_100": float(np.mean(returns_so_far[-100:])), "evaluation": float(evaluation.mean()),
        "greedy": float(greedy.mean()),
    }


def pong_speed(num_envs: int, steps: int) -> tuple[float, float]:
    """Env steps per second of Part 2's rollout: 1 game vs ``num_envs`` games in parallel processes.

    Both run the notebook's ``PongRollout.collect``: preprocessing (in the games' processes),
    frame differences, the batched policy call, sampling and the rallies' bookkeeping.
    """
    import tensorflow as tf

    import labs
    from labs import rl

    part2 = notebook_namespace("Part2_Pong.ipynb", PONG_CELLS)
    labs.set_seed(0)
    model = part2["create_pong_model"]()
    policy = tf.function(model, reduce_retracing=True)
    rates = []
    for count, asynchronous in ((1, False), (num_envs, True)):
        envs = rl.make_pong_vector_env(count, part2["preprocess_frame"], asynchronous=asynchronous)
        rollout = part2["PongRollout"](envs, policy, seed=0)
        rollout.collect(20)
        start = time.perf_counter()
        rollout.collect(steps)
        rates.append(count * steps / (time.perf_counter() - start))
        envs.close()
    return rates[0], rates[1]


def pong_training(minutes: float, seed: int, random_games: int) -> dict:
    """Train as Part 2 does (rallies from parallel games) for ``minutes``; return the game returns and a random policy's."""
    import keras
    import tensorflow as tf
    from tqdm.auto import tqdm

    import labs
    from labs import rl

    part2 = notebook_namespace("Part2_Pong.ipynb", PONG_CELLS)
    labs.set_seed(seed)
    num_envs, gamma = part2["num_envs"], part2["gamma"]
    random_envs = rl.make_pong_vector_env(num_envs)
    generator = np.random.default_rng(seed)
    random_returns = []
    for round_index in range(int(np.ceil(random_games / num_envs))):
        returns, _ = rl.play_episodes(random_envs, lambda screens: generator.integers(2, size=len(screens)),
                                      seed=seed + 100 * round_index, action_map=rl.PONG_ACTIONS, progress=False)
        random_returns.extend(returns)
    random_envs.close()
    model = part2["create_pong_model"]()
    model.compile(optimizer=keras.optimizers.Adam(part2["learning_rate"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    policy = tf.function(model, reduce_retracing=True)
    envs = rl.make_pong_vector_env(num_envs, part2["preprocess_frame"])
    rollout = part2["PongRollout"](envs, policy, seed=seed)
    game_returns: list[float] = []
    rallies_won: list[float] = []
    start = time.perf_counter()
    bar = tqdm(total=int(60 * minutes), desc="Pong training", unit="s")
    update = 0
    while time.perf_counter() - start < 60 * minutes:
        rallies, finished_games = rollout.collect(part2["steps_per_update"])
        if rallies:
            observations, actions, returns = part2["training_batch"](rallies, gamma)
            model.train_on_batch(observations, actions, sample_weight=returns)
            rallies_won.append(float(np.mean([rally["rewards"][-1] > 0 for rally in rallies])))
        game_returns.extend(finished_games)
        update += 1
        bar.n = min(int(time.perf_counter() - start), bar.total)
        bar.set_postfix(updates=update, games=len(game_returns), last_50=f"{np.mean(game_returns[-50:] or [np.nan]):.1f}")
    bar.close()
    envs.close()
    return {"game_returns": game_returns, "random_returns": random_returns, "updates": update,
            "rallies_won": rallies_won, "minutes": (time.perf_counter() - start) / 60}


def curve(values: list[float], blocks: int = 6, percent: bool = False) -> str:
    """Mean of consecutive blocks of values, e.g. ``-20.6 (1-40) → -20.1 (41-80)`` (with ``percent``: ``2.5% (1-40)``)."""
    chunks = np.array_split(np.arange(len(values)), min(blocks, len(values)))
    means = [np.mean(np.asarray(values)[chunk]) for chunk in chunks]
    text = [f"{100 * mean:.1f}%" if percent else f"{mean:.1f}" for mean in means]
    return " → ".join(f"{value} ({chunk[0] + 1}-{chunk[-1] + 1})" for value, chunk in zip(text, chunks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="Cart-Pole training seeds")
    parser.add_argument("--cartpole-limit", type=float, default=20.0, help="give up a Cart-Pole run after this many CPU minutes")
    parser.add_argument("--skip-cartpole", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-envs", type=int, default=16, help="Pong games in parallel for the speed comparison")
    parser.add_argument("--speed-steps", type=int, default=400, help="steps per game timed for the speed comparison")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the Pong training run (0: skip)")
    parser.add_argument("--random-games", type=int, default=16, help="games of the random policy for the Pong baseline")
    arguments = parser.parse_args()

    print("| measurement | result | target |")
    print("|---|---|---|", flush=True)

    def add(*rows: tuple[str, str, str]) -> None:
        for row in rows:
            print("| " + " | ".join(row) + " |", flush=True)

    if not arguments.skip_speed:
        single, parallel = pong_speed(arguments.speed_envs, arguments.speed_steps)
        add(
            ("Pong rollout, 1 game", f"{single:.0f} env steps/s", ""),
            (f"Pong rollout, {arguments.speed_envs} games (AsyncVectorEnv, batched policy)",
             f"{parallel:.0f} env steps/s ({parallel / single:.2f}x)", ">= 1.6x"),
        )
    if not arguments.skip_cartpole:
        runs = []
        for seed in arguments.seeds:
            run = cartpole_run(seed, arguments.cartpole_limit)
            runs.append(run)
            if run["solved_at"]:
                solved = f"solved after {run['solved_at']} episodes"
            else:
                solved = f"not solved in {run['episodes']} episodes (last 100: {run['last_100']:.0f})"
            add((
                f"Cart-Pole seed {run['seed']}",
                f"{solved}, {run['wall_minutes']:.1f} min wall / {run['cpu_minutes']:.1f} min CPU; "
                f"evaluation mean {run['evaluation']:.1f} sampling / {run['greedy']:.1f} greedy (100 episodes)",
                "< 10 min, evaluation >= 475",
            ))
        evaluations = [run["evaluation"] for run in runs]
        greedy = [run["greedy"] for run in runs]
        add(("Cart-Pole evaluation over seeds",
             f"sampling: mean {np.mean(evaluations):.1f}, min {np.min(evaluations):.1f}; "
             f"greedy: mean {np.mean(greedy):.1f}, min {np.min(greedy):.1f}",
             ">= 475 each"))
    if arguments.minutes > 0:
        result = pong_training(arguments.minutes, seed=1, random_games=arguments.random_games)
        games = result["game_returns"]
        last = games[-50:]
        random_mean = float(np.mean(result["random_returns"]))
        add(
            (f"Pong random policy ({len(result['random_returns'])} games)", f"mean return {random_mean:.1f}", ""),
            (f"Pong training, {result['minutes']:.0f} min, {len(games)} games", curve(games), ""),
            (f"Pong rallies won per update ({result['updates']} updates)", curve(result["rallies_won"], percent=True), ""),
            (f"Pong last {len(last)} games", f"mean {np.mean(last):.1f} ({np.mean(last) - random_mean:+.1f} vs random)",
             "+2 after 60 min"),
        )


if __name__ == "__main__":
    main()
