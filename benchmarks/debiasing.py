"""Bias of the standard CNN face detector and of the DB-VAE, on the generated face set.

Runs the solution notebook lab2_vision/solutions/Part2_Debiasing.ipynb headless, top
to bottom, with its full parameters and a different ``seed`` each time (the seed sets
the generated data and the weights), and reads the per-group results the notebook
computed. Prints one markdown table: every seed, then the mean over seeds, and the
targets of issue 5 checked on every seed. After the notebook's last cell, its own
cells that train and evaluate the standard CNN run once more, with faces sampled half
dark, half light by their true skin tone, to show how much of the gap rarity explains.
The notebook runs through ``autograder.execute.run_for_figures``, the executor
``labs run`` uses.

The notebook's prose quotes one run at its own defaults (seed 1 is the parameters
cell's seed); about 1.5 minutes on a quiet 2-core CPU:

    python benchmarks/debiasing.py --seeds 1

More seeds show how much the figures move between training runs (about 3 minutes each
on a quiet 2-core CPU), e.g. ``--seeds 0 1 2``. Add ``--small`` to check the script
itself with the notebook's SMALL_RUN_VALUES, ``--set NAME=VALUE`` (repeatable) to try
other full-run values, e.g. ``--set dark_fraction=0.05``, and ``--save-notebooks FOLDER``
to keep each executed notebook (its printed lines and figures).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import nbformat

from autograder.execute import run_for_figures
from autograder.notebooks import nbgrader_metadata, read_notebook
from labs_cli.cli import project_root

ROOT = project_root(Path(__file__).parent)
NOTEBOOK = ROOT / "lab2_vision" / "solutions" / "Part2_Debiasing.ipynb"
GROUP_COLUMNS = [
    ("light skin, short hair", "light/short"),
    ("light skin, long hair", "light/long"),
    ("dark skin, short hair", "dark/short"),
    ("dark skin, long hair", "dark/long"),
]
BALANCED = "CNN balanced by true tone"
FIGURES = "figures = {'results': results, 'epoch_seconds': epoch_seconds, 'dark_share': dark_share}"


def notebook_cell(notebook: nbformat.NotebookNode, text: str) -> str:
    """The source of the one ungraded code cell of the notebook that contains ``text``."""
    found = [cell.source for cell in notebook.cells
             if cell.cell_type == "code" and text in cell.source and not nbgrader_metadata(cell)]
    if len(found) != 1:
        raise ValueError(f"{NOTEBOOK.name} has {len(found)} code cells containing {text!r}, not one; "
                         "update benchmarks/debiasing.py to the notebook.")
    return found[0]


def balanced_baseline(notebook: nbformat.NotebookNode) -> str:
    """Code that runs the notebook's own standard-CNN training and evaluation cells again, with faces
    drawn half dark, half light by their true skin tone (labels a real data set does not have); its
    results and seconds per epoch go under :data:`BALANCED`. Its gap is what is left when rarity
    is taken away: the part no resampling can remove."""
    training = notebook_cell(notebook, "def standard_train_step")
    evaluation = notebook_cell(notebook, 'results = {"standard CNN"')
    return f"""
import functools
notebook_results, notebook_epoch_seconds = results, epoch_seconds
dark_faces = train_set.face_tone == 1
p_balanced = np.where(dark_faces, 0.5 / dark_faces.sum(), 0.5 / (~dark_faces).sum())
uniform_get_batch = train_set.get_batch
train_set.get_batch = functools.partial(uniform_get_batch, p_pos=p_balanced)
# The notebook's training cell, then its evaluation cell:
{training}
{evaluation}
train_set.get_batch = uniform_get_batch
notebook_results[{BALANCED!r}] = results["standard CNN"]
notebook_epoch_seconds[{BALANCED!r}] = epoch_seconds["standard CNN"]
results, epoch_seconds = notebook_results, notebook_epoch_seconds
"""


def _parse_setting(text: str) -> tuple[str, object]:
    """Turn ``NAME=VALUE`` (VALUE a Python literal) into ``(NAME, value)``."""
    name, separator, value = text.partition("=")
    if not separator or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"--set expects NAME=VALUE, for example dark_fraction=0.05, not {text!r}.")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(f"--set {name}: {value!r} is not a Python literal such as 0.05 or 4.") from None


def run_once(seed: int, small: bool, cell_timeout: float, settings: dict | None = None,
             save_to: Path | None = None) -> dict:
    """Execute the notebook with ``seed`` (small values if ``small``, then ``settings``); return its results.

    With ``save_to`` (a folder), the executed notebook is also written there as
    ``Part2_Debiasing_seed<seed>.ipynb``, so that its printed lines and figures can be read.
    """
    figures_code = balanced_baseline(read_notebook(NOTEBOOK)) + FIGURES
    figures, _ = run_for_figures(NOTEBOOK, figures_code, small=small, values=dict(settings or {}, seed=seed),
                                 cell_timeout=cell_timeout, save_to=save_to, label=f"{NOTEBOOK.stem}_seed{seed}")
    return figures


def _row(label: str, model: str, result: dict, seconds: float | None) -> str:
    cells = [label, model, f"{100 * result['overall']:.1f}"]
    cells += [f"{100 * result[key]:.1f}" for key, _ in GROUP_COLUMNS]
    cells += [f"{100 * result['non-faces']:.1f}", f"{100 * result['worst group']:.1f}", f"{100 * result['gap']:.1f}"]
    cells.append("" if seconds is None else f"{seconds:.0f}")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42],
                        help="seeds to run (default: 42, the notebook's own)")
    parser.add_argument("--small", action="store_true", help="use the notebook's SMALL_RUN_VALUES")
    parser.add_argument("--cell-timeout", type=float, default=1800, help="seconds any one cell may take")
    parser.add_argument("--set", dest="settings", type=_parse_setting, action="append", default=[],
                        metavar="NAME=VALUE", help="override one full-run parameter of the notebook")
    parser.add_argument("--save-notebooks", type=Path, default=None, metavar="FOLDER",
                        help="also write each executed notebook to FOLDER, to read its outputs and figures")
    arguments = parser.parse_args()
    settings = dict(arguments.settings)
    if settings:
        print(f"Parameters changed from the notebook's: {settings}")

    runs, started = {}, time.perf_counter()
    for seed in arguments.seeds:
        runs[seed] = run_once(seed, arguments.small, arguments.cell_timeout, settings, arguments.save_notebooks)
        print(f"seed {seed} done: {json.dumps(runs[seed])}", file=sys.stderr, flush=True)
    total_minutes = (time.perf_counter() - started) / 60

    models = ["standard CNN", "DB-VAE", BALANCED]
    header = ["seed", "model", "overall %"] + [f"{short} %" for _, short in GROUP_COLUMNS]
    header += ["non-faces %", "worst group %", "gap (pts)", "s/epoch"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for seed, run in runs.items():
        for model in models:
            print(_row(str(seed), model, run["results"][model], run["epoch_seconds"][model]))
    for model in models:
        keys = run["results"][model].keys()
        mean = {key: sum(r["results"][model][key] for r in runs.values()) / len(runs) for key in keys}
        seconds = sum(r["epoch_seconds"][model] for r in runs.values()) / len(runs)
        print(_row("mean", model, mean, seconds))

    print()
    print("| seed | CNN worst group >= 5 pts below best | DB-VAE gap <= half the CNN's | "
          "DB-VAE overall within 1 pt (or better) | dark share of DB-VAE samples by epoch |")
    print("|---|---|---|---|---|")
    for seed, run in runs.items():
        cnn, dbvae = run["results"]["standard CNN"], run["results"]["DB-VAE"]
        shares = ", ".join(f"{100 * share:.0f}%" for share in run["dark_share"])
        print(f"| {seed} | {'yes' if cnn['gap'] >= 0.05 else 'NO'} ({100 * cnn['gap']:.1f}) "
              f"| {'yes' if dbvae['gap'] <= cnn['gap'] / 2 else 'NO'} ({100 * dbvae['gap']:.1f} vs {100 * cnn['gap']:.1f}) "
              f"| {'yes' if dbvae['overall'] >= cnn['overall'] - 0.01 else 'NO'} "
              f"({100 * (dbvae['overall'] - cnn['overall']):+.1f}) | {shares} |")
    print()
    print(f"'{BALANCED}': the standard CNN trained with faces sampled half dark, half light by their "
          "true skin tone; its gap is the part that does not come from rarity.")
    print(f"{'Small' if arguments.small else 'Full'} parameters, seeds {arguments.seeds}; "
          f"total wall time {total_minutes:.1f} min including data generation and plots.")


if __name__ == "__main__":
    main()
