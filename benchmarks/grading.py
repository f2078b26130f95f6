"""Grading throughput: our grader with 1 and 2 workers against executing the notebooks and `nbgrader autograde`.

Forty submissions of the fixture notebook from ``tests/grading_fixtures.py``
(10 blank, 10 partial, 10 full, 10 hostile: crashes, cheats, repairs, huge
allocation and output; no infinite loops, which would only measure the time
limit) are graded four ways, each from scratch:

- ``execute``: every restored notebook run by the shared executor
  (``autograder.execute.execute``, as ``labs run`` runs a notebook), one after
  the other, no sandbox, no scoring: the cost of the notebooks themselves;
- ``grader, 1 worker`` and ``grader, 2 workers``: ``grade_batch`` end to end
  (sandbox, guards, gradebook, feedback, CSV, exports);
- ``nbgrader autograde``: the nbgrader CLI on the same files in a course folder.

Prints one table: seconds, notebooks per minute, and the ratios.

Then a synthetic class (``tests/synthetic_class.py``, default 200 students: full,
partial, blank, broken, missing and copied work) is graded with 2 workers, and
what ``labs grade`` does after a batch is timed on it: the class report, the LMS
export and the similarity check; and the similarity check alone on 300
submissions of one notebook. Prints a second table. Run with
``python benchmarks/grading.py [--count 40] [--class-size 200]`` (0 skips a part).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labs_cli.cli import project_root

sys.path.insert(0, str(project_root(Path(__file__).parent) / "tests"))

import grading_fixtures as fixtures  # noqa: E402
import synthetic_class  # noqa: E402

MIX = (["blank"] * 10 + ["partial"] * 10 + ["full"] * 10
       + ["sys_exit", "os_exit", "segfault", "patched_checks", "input_transformer", "exception_handler",
          "huge_allocation", "huge_output", "edited_test", "colab_copy"])


def write_submissions(folder: Path, count: int) -> list[Path]:
    """``count`` submissions cycling through :data:`MIX`, one student each; return their paths."""
    paths = []
    for number in range(count):
        case = fixtures.CASES[MIX[number % len(MIX)]]()
        path = folder / f"student{number:03d}" / fixtures.ASSIGNMENT / f"{fixtures.NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)
        paths.append(path)
    return paths


def time_execute(paths: list[Path], scratch: Path) -> float:
    """Seconds to run every restored notebook with small values through the shared executor, sequentially.

    Every cell runs, errors or not, 60 s at most each; a kernel that dies (``os._exit``,
    segfault) ends that notebook's run, as it does for the grader.
    """
    from autograder.execute import execute
    from autograder.notebooks import inject_small_values, read_notebook
    from autograder.restore import restore

    source = fixtures.source_notebook()
    started = time.perf_counter()
    for path in paths:
        notebook = inject_small_values(restore(read_notebook(path), source).notebook)
        execute(notebook, scratch, path.parent.parent.name, cell_timeout=60, stop_on_error=False, show_progress=False)
    return time.perf_counter() - started


def time_grader(submissions: Path, out: Path, course, workers: int) -> float:
    """Seconds for ``grade_batch`` end to end into a fresh ``out``."""
    from autograder.batch import grade_batch
    from autograder.settings import Settings

    started = time.perf_counter()
    grade_batch(submissions, out, course, workers=workers, settings=Settings(notebook_timeout=120, cell_timeout=60), show_progress=False)
    return time.perf_counter() - started


def time_nbgrader(submissions: Path, course_root: Path) -> float:
    """Seconds for ``nbgrader autograde`` on the same files (assignment generated beforehand, not timed)."""
    from autograder.gradebook import CONFIG_TEMPLATE
    from autograder.notebooks import write_notebook

    course_root.mkdir(parents=True)
    shutil.copyfile(CONFIG_TEMPLATE, course_root / "nbgrader_config.py")
    source = course_root / "source" / fixtures.ASSIGNMENT / f"{fixtures.NOTEBOOK}.ipynb"
    source.parent.mkdir(parents=True)
    write_notebook(fixtures.source_notebook(), source)
    shutil.copytree(submissions, course_root / "submitted")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run(nbgrader + ["generate_assignment", fixtures.ASSIGNMENT, "--force"], cwd=course_root, env=env,
                   check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(nbgrader + ["autograde", fixtures.ASSIGNMENT, "--create"], cwd=course_root, env=env,
                   capture_output=True)
    return time.perf_counter() - started


def _answers(folder: Path) -> dict[str, dict[str, str]]:
    """Student -> answer cells of every fixture notebook under ``folder`` that parses (read as the class report reads them)."""
    import json

    from autograder.report import answer_sources

    answers = {}
    for path in sorted(folder.glob(f"*/{fixtures.ASSIGNMENT}/{fixtures.NOTEBOOK}.ipynb")):
        try:
            answers[path.parts[-3]] = answer_sources(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
    return answers


def time_class(scratch: Path, course, size: int) -> None:
    """Grade a synthetic class of ``size``, time the report, export and similarity check; print the table."""
    from autograder.batch import Ledger, grade_batch
    from autograder.settings import Settings
    from autograder.build import CODE_STUB
    from autograder.lms import write_lms_csv
    from autograder.report import class_stats, write_report
    from autograder.similarity import DEFAULT_THRESHOLD, reference_of, similar_pairs, stub_of

    students = synthetic_class.write_class(scratch / "class", size)
    out = scratch / "class-out"
    timings = {}
    started = time.perf_counter()
    grade_batch(scratch / "class", out, course, workers=2, settings=Settings(notebook_timeout=120, cell_timeout=60), show_progress=False)
    timings[f"grade the class of {size}, 2 workers"] = time.perf_counter() - started
    entries = list(Ledger(out / ".grading" / "ledger.jsonl").latest.values())
    notebooks = {assignment: course.notebooks(assignment) for assignment in course.assignments()}
    started = time.perf_counter()
    write_report(out, course, entries)
    timings["class report (report.html)"] = time.perf_counter() - started
    started = time.perf_counter()
    write_lms_csv(out, entries, notebooks)
    timings["LMS export (lms.csv)"] = time.perf_counter() - started
    started = time.perf_counter()
    write_report(out, course, entries, DEFAULT_THRESHOLD)
    timings["class report with --similarity"] = time.perf_counter() - started
    _, stats = class_stats(out, course, entries, DEFAULT_THRESHOLD)
    flagged = {frozenset((pair.first, pair.second)) for notebook in stats for pair in notebook.pairs or []}

    class300 = synthetic_class.write_class(scratch / "class300", 360)
    answers = dict(list(_answers(scratch / "class300").items())[:300])
    copies300 = {pair for pair in synthetic_class.copied_pairs(class300) if pair <= set(answers)}
    source = [c for c in fixtures.source_notebook().cells if c.metadata.get("nbgrader", {}).get("solution")]
    stubs = {c.metadata.nbgrader.grade_id: stub_of(c.source, CODE_STUB) for c in source}
    references = {c.metadata.nbgrader.grade_id: reference_of(c.source) for c in source}
    started = time.perf_counter()
    pairs = similar_pairs(answers, stubs, references)
    timings[f"similarity alone, {len(answers)} submissions of one notebook"] = time.perf_counter() - started

    found = {frozenset((pair.first, pair.second)) for pair in pairs} & copies300
    copies = synthetic_class.copied_pairs(students)
    print(f"\nA synthetic class of {size} ({len(copies)} copied notebooks): after the batch")
    print(f"{'step':52} {'seconds':>8}")
    for name, seconds in timings.items():
        print(f"{name:52} {seconds:8.2f}")
    print(f"pairs flagged at {DEFAULT_THRESHOLD:g}: {len(flagged)} in the class of {size} ({len(flagged & copies)} of its "
          f"{len(copies)} copies); {len(pairs)} in the {len(answers)} submissions ({len(found)} of its {len(copies300)} copies)")


def main() -> None:
    """Run the measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="number of submissions (default 40; 0 skips)")
    parser.add_argument("--class-size", type=int, default=200, help="students of the synthetic class (default 200; 0 skips)")
    arguments = parser.parse_args()
    from autograder.sandbox import choose_isolation
    from autograder.submissions import course_from_sources

    with tempfile.TemporaryDirectory(prefix="grading-bench-") as scratch_name:
        scratch = Path(scratch_name)
        fixtures.write_course(scratch / "course")
        course = course_from_sources(sorted((scratch / "course").glob("lab*/solutions/*.ipynb")))
        if arguments.class_size:
            time_class(scratch, course, arguments.class_size)
        if not arguments.count:
            return
        submissions = scratch / "submissions"
        paths = write_submissions(submissions, arguments.count)
        (scratch / "run").mkdir()
        timings = {
            "execute (no sandbox, no grading)": time_execute(paths, scratch / "run"),
            "grader, 1 worker": time_grader(submissions, scratch / "out1", course, 1),
            "grader, 2 workers": time_grader(submissions, scratch / "out2", course, 2),
            "nbgrader autograde (CLI)": time_nbgrader(submissions, scratch / "nbgrader"),
        }
    count = arguments.count
    base = timings["execute (no sandbox, no grading)"]
    one = timings["grader, 1 worker"]
    print(f"Grading {count} fixture submissions; student kernels: {choose_isolation().describe()}.")
    print(f"{'run':40} {'seconds':>8} {'notebooks/min':>14}")
    for name, seconds in timings.items():
        print(f"{name:40} {seconds:8.1f} {60 * count / seconds:14.1f}")
    print(f"grader overhead over executing the notebooks (1 worker): {100 * (one - base) / base:+.0f}%")
    print(f"2 workers vs 1 worker: {one / timings['grader, 2 workers']:.2f}x")
    print(f"grader (2 workers) vs nbgrader autograde: "
          f"{timings['nbgrader autograde (CLI)'] / timings['grader, 2 workers']:.2f}x")


if __name__ == "__main__":
    main()
