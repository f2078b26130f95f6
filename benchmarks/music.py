"""Benchmark for Lab 1, Part 2: audio rendering of the corpus and the notebook's full run.

It measures, and prints as one markdown table:

1. the share of O'Neill's 2,009 tunes that render to audio (``labs.audio.render_tune``);
2. rendering speed, seconds of music per second of CPU time, both for the whole path
   (music21 parsing + synthesis) and for the NumPy synthesis alone;
3. the notebook's full run (``lab1_music/solutions/Part2_Music_Generation.ipynb`` executed
   with its full parameters through ``autograder.execute.run_for_figures``, the
   executor ``labs run`` uses): wall time, training seconds per iteration,
   held-out bits per character, the share of complete generated tunes (at the
   notebook's temperature) that parse and render, the duplicates dropped from the corpus,
   and how well generated tunes (sampled freely and with the bar-keeping sampler of
   section 6.4) and real tunes keep their metre and key (``labs.music.summarize_forms``).
   The figures are read from the executed
   notebook's own variables, so they are the notebook's results, not a re-implementation.

Reproduce with::

    nice -n 5 python benchmarks/music.py            # everything (about 15-50 minutes)
    python benchmarks/music.py --skip-notebook      # corpus rendering only (a few minutes)
    python benchmarks/music.py --skip-corpus        # the notebook's full run only
    python benchmarks/music.py --skip-notebook --sample 500   # a random sample of the corpus
    python benchmarks/music.py --small --sample 20  # checks this script in a minute or two; figures meaningless
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from labs_cli.cli import project_root

ROOT = project_root(Path(__file__).parent)
NOTEBOOK = ROOT / "lab1_music" / "solutions" / "Part2_Music_Generation.ipynb"

#: Binds ``figures`` in the executed notebook, from the notebook's own variables.
FIGURES = """
figures = {
    "seconds_per_iteration": float(seconds_per_iteration),
    "num_training_iterations": int(num_training_iterations),
    "held_out_bits": float(held_out_bits),
    "training_bits": float(np.mean(live_plot.values[-100:])),
    "generated_tunes": len(generated_tunes),
    "valid_tunes": len(playable),
    "temperature": float(temperature),
    "generation_length": int(generation_length),
    "duplicates_dropped": int(duplicates_dropped),
    "generated_form": generated_form.__dict__,
    "form_in_metre": form_in_metre.__dict__,
    "real_form": real_form.__dict__,
}
"""


def measure_corpus(sample: int | None = None) -> dict:
    """Render every corpus tune (or a random ``sample`` of them, seed 0); return counts and speeds."""
    from tqdm.auto import tqdm

    from labs import audio, music

    tunes = music.load_tunes()
    if sample is not None:
        chosen = np.random.default_rng(0).choice(len(tunes), size=min(sample, len(tunes)), replace=False)
        tunes = [tunes[index] for index in sorted(chosen)]
    rendered, music_seconds, total_cpu, synth_cpu = 0, 0.0, 0.0, 0.0
    failures: list[str] = []
    for tune in tqdm(tunes, desc="rendering corpus"):
        start = time.process_time()
        try:
            notes = music.tune_notes(tune)
            synth_start = time.process_time()
            waveform = audio.synthesize(notes)
            synth_cpu += time.process_time() - synth_start
        except Exception as error:  # count the failure and carry on
            failures.append(f"{music.tune_title(tune)}: {error}")
            total_cpu += time.process_time() - start
            continue
        total_cpu += time.process_time() - start
        rendered += 1
        music_seconds += len(waveform) / audio.SAMPLE_RATE
    return {
        "tunes": len(tunes),
        "rendered": rendered,
        "music_seconds": music_seconds,
        "speed_total": music_seconds / total_cpu,
        "speed_synthesis": music_seconds / synth_cpu,
        "failures": failures,
    }


def run_notebook(small: bool = False, cell_timeout: float = 7200, keep: Path | None = None) -> dict:
    """Execute the solution notebook with its full parameters (``small``: its SMALL_RUN_VALUES); return its figures and wall time.

    ``keep``: also write the executed notebook to this folder, to look at its figures.
    """
    from autograder.execute import run_for_figures

    figures, run = run_for_figures(NOTEBOOK, FIGURES, small=small, cell_timeout=cell_timeout, save_to=keep)
    return dict(figures, wall_seconds=run.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-notebook", action="store_true", help="only measure corpus rendering")
    parser.add_argument("--skip-corpus", action="store_true", help="only run the notebook")
    parser.add_argument("--sample", type=int, default=None, help="render a random sample of N corpus tunes")
    parser.add_argument("--small", action="store_true",
                        help="run the notebook with its SMALL_RUN_VALUES: checks this script, figures meaningless")
    parser.add_argument("--keep", type=Path, help="write the executed notebook to this folder")
    arguments = parser.parse_args()

    rows = []
    corpus = {"failures": [], "music_seconds": 0.0}
    if not arguments.skip_corpus:
        corpus = measure_corpus(arguments.sample)
        rows += [
            (
                "corpus tunes that render to audio",
                f"{corpus['rendered']}/{corpus['tunes']} = {corpus['rendered'] / corpus['tunes']:.1%}",
                ">= 97%",
            ),
            ("rendering speed, parse + synthesis (music s / CPU s)", f"{corpus['speed_total']:.0f}x", ">= 100x"),
            ("rendering speed, synthesis only (music s / CPU s)", f"{corpus['speed_synthesis']:.0f}x", ""),
        ]
    if not arguments.skip_notebook:
        figures = run_notebook(arguments.small, keep=arguments.keep)
        share = figures["valid_tunes"] / figures["generated_tunes"] if figures["generated_tunes"] else float("nan")
        rows += [
            ("notebook full run, wall time", f"{figures['wall_seconds'] / 60:.1f} min", "< 15 min"),
            (
                "training time per iteration",
                f"{figures['seconds_per_iteration']:.2f} s ({figures['num_training_iterations']} iterations)",
                "",
            ),
            ("duplicate tunes dropped from O'Neill's files", str(figures["duplicates_dropped"]), ""),
            ("held-out bits per character (100 unseen tunes)", f"{figures['held_out_bits']:.3f}", "<= 1.6"),
            ("training bits per character (last 100 iterations, dropout on)", f"{figures['training_bits']:.3f}", ""),
            (
                f"generated tunes that parse and render (T={figures['temperature']:g}, {figures['generation_length']} chars)",
                f"{figures['valid_tunes']}/{figures['generated_tunes']} = {share:.0%}",
                ">= 60%",
            ),
        ]
        for name, form, targets in [("generated (free sampling)", figures["generated_form"], ("", "")),
                                    ("generated (bar-keeping sampling)", figures["form_in_metre"], (">= 97%", ">= 50%")),
                                    ("real, held out", figures["real_form"], ("", ""))]:
            rows += [
                (f"{name} tunes: inner bars of the right length ({form['tunes']} tunes)",
                 f"{form['bars_right_share']:.1%}", targets[0]),
                (f"{name} tunes: every inner bar right", f"{form['every_bar_right_share']:.0%}", targets[1]),
                (f"{name} tunes: last note on the tonic", f"{form['tonic_ending_share']:.0%}", ""),
            ]
    if arguments.small:
        print("Small run (--small): the notebook's figures check the script and mean nothing.")
    print("| measure | value | target |\n|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    if corpus["failures"]:
        print(f"\nTunes that failed to render ({len(corpus['failures'])}):")
        for failure in corpus["failures"][:10]:
            print(f"- {failure[:160]}")
    if corpus["music_seconds"]:
        print(f"\n{corpus['music_seconds'] / 3600:.1f} hours of music rendered.")
    print("Figures from a shared 2-core CPU vary with its load.")


if __name__ == "__main__":
    main()
