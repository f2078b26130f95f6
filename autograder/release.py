"""Release the labs as nbgrader assignments, after checking that every source passes its own tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

from autograder.submissions import Course


def validate_source(source: Path, scratch: Path) -> str | None:
    """Grade ``source`` against itself with small values; return a problem sentence, or None when it scores full.

    The source is the instructor's own code, so it runs without a sandbox, under the grader's time limits.
    """
    from autograder.grading import grade_notebook
    from autograder.settings import Settings

    result = grade_notebook(source, source, scratch, settings=Settings(sandbox="none"))
    if result.status == "ok" and result.score == result.max_score:
        return None
    return f"{source} does not pass its own tests ({result.score:g}/{result.max_score:g}, {result.status}: {result.detail})."


def release(course: Course, out: Path, show_progress: bool = True) -> list[str]:
    """Validate every source, then generate ``out/release/<assignment>/`` with nbgrader; return the problems."""
    from tqdm.auto import tqdm

    from autograder import gradebook

    if not course.sources:
        raise ValueError("no solution sources found; release from the course's checkout (lab*/solutions/*.ipynb).")
    problems = []
    with tempfile.TemporaryDirectory(prefix="labs-release-") as scratch:
        for path in tqdm(sorted(course.sources.values()), desc="validating", unit="notebook", disable=not show_progress):
            problem = validate_source(path, Path(scratch))
            if problem:
                problems.append(problem)
    if not problems:
        gradebook.prepare_course(Path(out), course, course.assignments())
    return problems
