"""Lab 3 benchmark: Cart-Pole episodes to solve, Pong rollout speed, and a Pong learning curve.

Cart-Pole and the Pong learning curve are the solution notebooks themselves, run top
to bottom headless with their full-run values (``autograder.execute.run_for_figures``,
the executor ``labs run`` uses), reading the figures from the notebooks' own
variables. Cart-Pole runs once per seed: a cell after the parameters cell calls
``labs.set_seed(seed)``, which sets the initial weights and the sampled actions (the
games start as the notebook seeds them). Pong runs with ``--pong-updates`` gradient
steps (default: the notebook's ``max_updates``). The training time is the wall time
of the notebook's training cell (nbclient's timing of that cell).

The rollout speed runs Part 2's own ``preprocess``, ``create_pong_model`` and
``rollout`` cells (by nbgrader grade id, with its parameters cell) on 1 game and on
``--speed-envs`` games in parallel processes.

Reproduce (on a 2-core CPU: Cart-Pole about 10 minutes per seed, Pong about 31 minutes
for the notebook's 800 updates)::

    python benchmarks/rl.py --skip-speed --pong-updates 0 --seeds 1 2 3   # Cart-Pole
    python benchmarks/rl.py --skip-cartpole --pong-updates 0              # rollout speed
    python benchmarks/rl.py --skip-speed --skip-cartpole                  # Pong learning curve
    python benchmarks/rl.py --skip-speed --skip-cartpole --pong-seed 1    # ... with another seed
    python benchmarks/rl.py --small                                       # checks this script; figures meaningless

Prints one markdown table.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

import nbformat
import numpy as np

from autograder.execute import run_for_figures
from autograder.notebooks import nbgrader_metadata, run_solution_cells
from labs_cli.cli import project_root

ROOT = project_root(Path(__file__).parent)
SOLUTIONS = ROOT / "lab3_rl" / "solutions"

#: Binds ``figures`` from the executed Cart-Pole notebook's variables.
CARTPOLE_FIGURES = """
import resource
figures = {
    "episode_returns": [float(value) for value in episode_returns],
    "evaluation": float(evaluation_returns.mean()),
    "greedy": float(greedy_returns.mean()),
    "num_eval_episodes": int(num_eval_episodes),
    "peak_memory_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,  # the kernel's, KB on Linux
}
"""

#: Binds ``figures`` from the executed Pong notebook's variables.
PONG_FIGURES = """
import resource
figures = {
    "game_returns": [float(value) for value in history["game_returns"]],
    "updates": int(history["update"]),
    "random_returns": [float(value) for value in random_returns],
    "peak_memory_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,  # the kernel's, KB on Linux
}
"""


def notebook_namespace(notebook: str, grade_ids: set[str]) -> dict:
    """Run the notebook's parameters cell and the solution cells with these grade ids; return the namespace."""
    import keras
    import tensorflow as tf

    import labs.rl

    return run_solution_cells(
        SOLUTIONS / notebook, grade_ids, {"np": np, "tf": tf, "keras": keras, "labs": labs}, with_parameters=True
    )


def training_minutes(executed: nbformat.NotebookNode, call: str) -> float:
    """Wall minutes of the executed notebook's training cell: its code cell without a grade id that calls ``call``.

    Read from the cell's timing metadata, which nbclient records.
    """
    for cell in executed.cells:
        if cell.cell_type == "code" and f"{call}(" in cell.source and not nbgrader_metadata(cell).get("grade_id"):
            timing = cell.metadata["execution"]
            start, end = (datetime.fromisoformat(timing[key].replace("Z", "+00:00"))  # Python 3.10 reads no "Z"
                          for key in ("iopub.execute_input", "shell.execute_reply"))
            return (end - start).total_seconds() / 60
    raise ValueError(f"the notebook has no training cell calling {call}(); update training_minutes' caller.")


#: Part 2's cells that the rollout speed measurement runs.
ROLLOUT_CELLS = {"preprocess", "create_pong_model", "rollout"}


def cartpole_run(seed: int, small: bool, keep: Path | None) -> dict:
    """Run Part 1 with ``seed``; return episodes played, whether and when it was solved, evaluations and times."""
    figures, run = run_for_figures(SOLUTIONS / "Part1_CartPole.ipynb", CARTPOLE_FIGURES, small=small,
                                   after_parameters=[f"labs.set_seed({seed})  # benchmark: this run's seed"],
                                   save_to=keep, label=f"Part1_CartPole_seed{seed}")
    returns = figures.pop("episode_returns")
    # The notebook's stopping rule: the mean of the last 100 returns reaches 475.
    solved = len(returns) >= 100 and np.mean(returns[-100:]) >= 475
    return dict(figures, seed=seed, episodes=len(returns), solved_at=len(returns) if solved else None,
                last_100=float(np.mean(returns[-100:])), training_minutes=training_minutes(run.executed, "train_step"),
                notebook_minutes=run.seconds / 60)


def pong_speed(num_envs: int, steps: int) -> tuple[float, float]:
    """Env steps per second of Part 2's rollout: 1 game vs ``num_envs`` games in parallel processes.

    Both run the notebook's ``PongRollout.collect``: preprocessing (in the games' processes),
    frame differences, the batched policy call, sampling and the rallies' bookkeeping.
    """
    import tensorflow as tf

    import labs
    from labs import rl

    part2 = notebook_namespace("Part2_Pong.ipynb", ROLLOUT_CELLS)
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


def pong_training(updates: int | None, small: bool, keep: Path | None, seed: int | None = None) -> dict:
    """Run Part 2 (with ``updates`` gradient steps, None: the notebook's; ``seed``, None: the notebook's).

    Returns the game returns, a random policy's returns and the times.
    """
    after = [f"labs.set_seed({seed})  # benchmark: this run's seed"] if seed is not None else []
    figures, run = run_for_figures(SOLUTIONS / "Part2_Pong.ipynb", PONG_FIGURES, small=small,
                                   values={"max_updates": updates} if updates is not None else None, save_to=keep,
                                   after_parameters=after, label=f"Part2_Pong_seed{seed}" if seed is not None else None)
    return dict(figures, training_minutes=training_minutes(run.executed, "training_batch"),
                notebook_minutes=run.seconds / 60)


def curve(values: list[float], blocks: int = 6) -> str:
    """Mean of consecutive blocks of values, e.g. ``-20.6 (1-40) → -20.1 (41-80)``."""
    chunks = np.array_split(np.arange(len(values)), min(blocks, len(values)))
    means = [np.mean(np.asarray(values)[chunk]) for chunk in chunks]
    return " → ".join(f"{mean:.1f} ({chunk[0] + 1}-{chunk[-1] + 1})" for mean, chunk in zip(means, chunks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="Cart-Pole runs, one per seed")
    parser.add_argument("--skip-cartpole", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-envs", type=int, default=16, help="Pong games in parallel for the speed comparison")
    parser.add_argument("--speed-steps", type=int, default=400, help="steps per game timed for the speed comparison")
    parser.add_argument("--pong-updates", type=int, default=None,
                        help="gradient steps of the Pong run (default: the notebook's max_updates; 0: skip it)")
    parser.add_argument("--pong-seed", type=int, default=None,
                        help="seed of the Pong run's weights and sampled actions (default: the notebook's, 42)")
    parser.add_argument("--small", action="store_true",
                        help="the notebooks' SMALL_RUN_VALUES and a short speed test: checks this script, figures meaningless")
    parser.add_argument("--keep", type=Path, help="write the executed notebooks to this folder")
    arguments = parser.parse_args()
    if arguments.small:
        print("Small run (--small): these figures check the script and mean nothing.")
        arguments.speed_envs, arguments.speed_steps = 2, 20

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
            run = cartpole_run(seed, arguments.small, arguments.keep)
            runs.append(run)
            if run["solved_at"]:
                solved = f"solved after {run['solved_at']} episodes"
            else:
                solved = f"not solved in {run['episodes']} episodes (last 100: {run['last_100']:.0f})"
            add((
                f"Cart-Pole seed {run['seed']}",
                f"{solved}, training {run['training_minutes']:.1f} min (whole notebook {run['notebook_minutes']:.1f} min); "
                f"evaluation mean {run['evaluation']:.1f} sampling / {run['greedy']:.1f} greedy "
                f"({run['num_eval_episodes']} episodes)",
                "< 10 min, evaluation >= 475",
            ), (f"Cart-Pole seed {run['seed']}: kernel's peak resident memory", f"{run['peak_memory_gb']:.1f} GB", ""))
        evaluations = [run["evaluation"] for run in runs]
        greedy = [run["greedy"] for run in runs]
        add(("Cart-Pole evaluation over seeds",
             f"sampling: mean {np.mean(evaluations):.1f}, min {np.min(evaluations):.1f}; "
             f"greedy: mean {np.mean(greedy):.1f}, min {np.min(greedy):.1f}",
             ">= 475 each"))
    if arguments.pong_updates != 0:
        result = pong_training(arguments.pong_updates, arguments.small, arguments.keep, arguments.pong_seed)
        games = result["game_returns"]
        random_mean = float(np.mean(result["random_returns"]))
        add((f"Pong random policy ({len(result['random_returns'])} games)", f"mean return {random_mean:.1f}", ""))
        if games:
            last = games[-50:]
            add(
                (f"Pong training, {result['updates']} updates in {result['training_minutes']:.0f} min, {len(games)} games",
                 curve(games), ""),
                (f"Pong last {len(last)} games", f"mean {np.mean(last):.1f} ({np.mean(last) - random_mean:+.1f} vs random)",
                 ">= +2"),
            )
        else:
            add((f"Pong training, {result['updates']} updates in {result['training_minutes']:.0f} min",
                 "no game finished", ""))
        add(("Pong kernel's peak resident memory", f"{result['peak_memory_gb']:.1f} GB", "< 12 GB (Colab)"))


if __name__ == "__main__":
    main()
