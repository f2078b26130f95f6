"""``labs demo``: build, run every solution notebook with small values, grade the
runs, and print one table row per lab part."""

from __future__ import annotations

import time
from pathlib import Path

from autograder.build import build
from autograder.execute import run_notebook
from autograder.notebooks import NotebookError
from autograder.settings import DEMO_CELL_TIMEOUT, Settings

#: Every part the course has, in teaching order; parts not written yet show as such.
COURSE = {
    "lab1_music": ["Part1_TensorFlow", "Part2_Music_Generation"],
    "lab2_vision": ["Part1_MNIST", "Part2_Debiasing", "Part3_CAM"],
    "lab3_rl": ["Part1_CartPole", "Part2_Pong"],
}


def _grade(source: Path, workdir: Path) -> tuple[str, bool]:
    """Grade the solution as a submission, with ``labs grade``'s limits; return ('score / max' or the problem, full marks?).

    The solution is trusted code: it runs in the strongest sandbox available, or without one.
    """
    from autograder.grading import grade_notebook
    from autograder.sandbox import isolation_available

    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(sandbox="auto" if isolation_available() else "none")
    result = grade_notebook(source, source, workdir, settings=settings)
    if result.status != "ok":
        return f"{result.status}: {result.detail}", False
    return f"{result.score:g} / {result.max_score:g}", result.score == result.max_score


def format_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A markdown table with aligned columns."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(str(cell).ljust(width) for cell, width in zip(header, widths)) + " |",
             "|" + "|".join("-" * (width + 2) for width in widths) + "|"]
    lines += ["| " + " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + " |" for row in rows]
    return "\n".join(lines)


def demo(root: Path, out: Path, grade: bool = True, cell_timeout: float = DEMO_CELL_TIMEOUT) -> int:
    """Run the whole demo; print the table; return 0 when every written part ran and its
    solution earned full marks."""
    started = time.monotonic()
    print("Building the student notebooks ...")
    _, build_errors = build(root)
    for error in build_errors:
        print(f"build error: {error}")
    rows, failed = [], bool(build_errors)
    for lab, parts in COURSE.items():
        for part in parts:
            source = root / lab / "solutions" / f"{part}.ipynb"
            if not source.exists():
                rows.append((lab, part, "not written yet", "", ""))
                continue
            try:
                result = run_notebook(source, out / lab, small=True, cell_timeout=cell_timeout)
            except NotebookError as error:
                rows.append((lab, part, f"error: {error}", "", ""))
                failed = True
                continue
            status = "ok" if result.ok else result.errors[0].describe()
            score = ""
            if result.ok and grade:
                score, full_marks = _grade(source, out / "grading" / lab / part)
                failed = failed or not full_marks
            failed = failed or not result.ok
            rows.append((lab, part, status, f"{result.seconds:.0f}", score))
    print()
    print(format_table(rows, ("lab", "part", "small run", "seconds", "score")))
    print(f"\nExecuted notebooks are in {out}/; the whole demo took {time.monotonic() - started:.0f} s.")
    return 1 if failed else 0
