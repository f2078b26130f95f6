"""What ``labs release`` and ``labs grade`` run (the argument parsing lives in ``labs_cli/cli.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

from autograder.submissions import Course, course_from_sources


def repository_course(root: Path) -> Course:
    """The course made of every ``lab*/solutions/*.ipynb`` under ``root``."""
    from autograder.build import solution_sources

    return course_from_sources(solution_sources(root))


def _print_summary(summary, out: Path) -> None:
    counts = ", ".join(f"{count} {status}" for status, count in sorted(summary.by_status.items()))
    print(f"Graded {summary.graded} notebook(s), {summary.skipped} unchanged since the last run. "
          f"{summary.rows} row(s) in {out / 'grades.csv'} ({counts or 'none'}); "
          f"feedback in {out / 'feedback'}, gradebook {out / 'gradebook.db'}.")
    pairs = "" if summary.similar_pairs is None else f" ({summary.similar_pairs} similar pair(s) flagged)"
    print(f"Class report: {out / 'report.html'}{pairs}; LMS grades: {out / 'lms.csv'}.")
    for note in summary.notes:
        print(note)


def grade_command(submissions: Path, out: Path, *, root: Path, workers: int | None, cell_timeout: float | None,
                  notebook_timeout: float | None, force: bool, scheduler: str | None, sandbox: str,
                  similarity: bool = False, similarity_threshold: float | None = None,
                  lms_id_column: str = "SIS User ID") -> int:
    """``labs grade``: grade SUBMISSIONS into OUT; 0 once the batch completed, 2 for a usage error.

    ``similarity_threshold`` alone also turns the similarity check on.
    """
    from autograder.batch import grade_batch
    from autograder.settings import Settings
    from autograder.lms import check_id_column
    from autograder.sandbox import SandboxUnavailable, choose_isolation
    from autograder.similarity import DEFAULT_THRESHOLD

    if workers is not None and workers < 1:
        print("labs grade: --workers must be at least 1.", file=sys.stderr)
        return 2
    if similarity_threshold is not None and not 0 <= similarity_threshold <= 1:
        print(f"labs grade: --similarity-threshold must be between 0 and 1 (a share of the code), "
              f"not {similarity_threshold:g}.", file=sys.stderr)
        return 2
    if similarity and similarity_threshold is None:
        similarity_threshold = DEFAULT_THRESHOLD
    try:
        check_id_column(lms_id_column)
    except ValueError as error:
        print(f"labs grade: {error}", file=sys.stderr)
        return 2
    try:
        isolation = choose_isolation(sandbox)
    except SandboxUnavailable as error:
        print(f"labs grade: {error}", file=sys.stderr)
        return 2
    course = repository_course(root)
    if not course.sources:
        print(f"labs grade: no lab*/solutions/*.ipynb under {root}; grade from the course's checkout or pass --course.",
              file=sys.stderr)
        return 2
    limits = {"cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout}
    settings = Settings(sandbox=isolation.mode, **{name: value for name, value in limits.items() if value is not None})
    if isolation.mode == "none":
        print("labs grade: warning: grading without a sandbox, as asked (--sandbox none).", file=sys.stderr)
    print(f"Student code runs with: {isolation.describe()}.")
    try:
        summary = grade_batch(Path(submissions), Path(out), course, workers, settings, force, scheduler,
                              similarity_threshold=similarity_threshold, lms_id_column=lms_id_column)
    except ValueError as error:
        print(f"labs grade: {error}", file=sys.stderr)
        return 2
    _print_summary(summary, Path(out).resolve())
    return 0


def release_command(out: Path | None, root: Path) -> int:
    """``labs release``: validate every source, then write the nbgrader course with its release folder."""
    from autograder.release import release

    destination = Path(out) if out is not None else root / "release"
    try:
        problems = release(repository_course(root), destination)
    except ValueError as error:
        print(f"labs release: {error}", file=sys.stderr)
        return 2
    if problems:
        for problem in problems:
            print(f"labs release: {problem}", file=sys.stderr)
        return 1
    print(f"Released to {destination / 'release'} (nbgrader course in {destination}).")
    return 0
