"""Grading throughput: our grader with 1 and 2 workers against executing the notebooks and `nbgrader autograde`.

Forty submissions of the fixture notebook from ``tests/grading_fixtures.py``
(10 blank, 10 partial, 10 full, 10 hostile: crashes, cheats, repairs, huge
allocation and output; no infinite loops, which would only measure the time
limit) are graded four ways, each from scratch:

- ``execute``: every restored notebook run by plain nbclient, one after the
  other, no sandbox, no scoring: the cost of the notebooks themselves;
- ``grader, 1 worker`` and ``grader, 2 workers``: ``grade_batch`` end to end
  (sandbox, guards, gradebook, feedback, CSV, exports);
- ``nbgrader autograde``: the nbgrader CLI on the same files in a course folder.

Prints one table: seconds, notebooks per minute, and the ratios. Run with
``python benchmarks/grading.py [--count 40]``.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import nbformat  # noqa: E402

import grading_fixtures as fixtures  # noqa: E402

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
    """Seconds to run every restored notebook with small values through plain nbclient, sequentially.

    A kernel that dies (``os._exit``, segfault) ends that notebook's run, as it does for the grader.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from autograder.notebooks import inject_small_values
    from autograder.restore import restore

    source = fixtures.source_notebook()
    started = time.perf_counter()
    for path in paths:
        notebook = inject_small_values(restore(nbformat.read(path, as_version=4), source).notebook)
        client = NotebookClient(notebook, timeout=60, allow_errors=True, resources={"metadata": {"path": str(scratch)}})
        try:
            client.execute()
        except DeadKernelError:
            pass
    return time.perf_counter() - started


def time_grader(submissions: Path, out: Path, course, workers: int) -> float:
    """Seconds for ``grade_batch`` end to end into a fresh ``out``."""
    from autograder.batch import Settings, grade_batch

    started = time.perf_counter()
    grade_batch(submissions, out, course, workers=workers, settings=Settings(120, 60), show_progress=False)
    return time.perf_counter() - started


def time_nbgrader(submissions: Path, course_root: Path) -> float:
    """Seconds for ``nbgrader autograde`` on the same files (assignment generated beforehand, not timed)."""
    from autograder.gradebook import CONFIG_TEMPLATE

    course_root.mkdir(parents=True)
    shutil.copyfile(CONFIG_TEMPLATE, course_root / "nbgrader_config.py")
    source = course_root / "source" / fixtures.ASSIGNMENT / f"{fixtures.NOTEBOOK}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(fixtures.source_notebook(), source)
    shutil.copytree(submissions, course_root / "submitted")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run(nbgrader + ["generate_assignment", fixtures.ASSIGNMENT, "--force"], cwd=course_root, env=env,
                   check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(nbgrader + ["autograde", fixtures.ASSIGNMENT, "--create"], cwd=course_root, env=env,
                   capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    """Run the four measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="number of submissions (default 40)")
    arguments = parser.parse_args()
    from autograder.sandbox import choose_isolation
    from autograder.submissions import course_from_sources

    with tempfile.TemporaryDirectory(prefix="grading-bench-") as scratch_name:
        scratch = Path(scratch_name)
        fixtures.write_course(scratch / "course")
        course = course_from_sources(sorted((scratch / "course").glob("lab*/solutions/*.ipynb")))
        submissions = scratch / "submissions"
        paths = write_submissions(submissions, arguments.count)
        (scratch / "run").mkdir()
        timings = {
            "execute (plain nbclient, no grading)": time_execute(paths, scratch / "run"),
            "grader, 1 worker": time_grader(submissions, scratch / "out1", course, 1),
            "grader, 2 workers": time_grader(submissions, scratch / "out2", course, 2),
            "nbgrader autograde (CLI)": time_nbgrader(submissions, scratch / "nbgrader"),
        }
    count = arguments.count
    base = timings["execute (plain nbclient, no grading)"]
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
