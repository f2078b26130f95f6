"""``OUT/lms.csv``: the batch's grades as one row per student, for a Canvas or Moodle gradebook import.

Columns, in Canvas's order (Canvas reads its first columns by position):
``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
assignment holding the student's total points in it, ``Final Points`` (the
course total; Canvas ignores a column of that name on import) and ``Missing``
(the work that counted as 0 because it was not handed in). The student id (the
submission folder's name) goes into the column named by ``id_column``; the
other identity columns stay empty, except ``Student``, which repeats the id.
With an ``id_column`` that Canvas does not know (``Email address`` for Moodle,
say), the file starts with that single column instead. Moodle maps columns by
hand on import, so either layout works there. Totals hold autograded points
only: written answers awaiting a person (``manual_grading`` in grades.csv) are
added in the LMS once graded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from autograder.gradebook import spreadsheet_safe
from autograder.notebooks import write_text_atomically

#: The identity columns of a Canvas gradebook export, in the order its importer requires.
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
#: Columns that can hold the student id in a Canvas import (``ID`` is Canvas's own numeric user id).
CANVAS_ID_COLUMNS = ("ID", "SIS User ID", "SIS Login ID")
DEFAULT_ID_COLUMN = "SIS User ID"
TOTAL_COLUMN = "Final Points"
MISSING_COLUMN = "Missing"
#: Ledger rows of placeholders, not students (an archive entry that could not be unpacked).
NOT_STUDENTS = frozenset({"(archive)"})


@dataclass
class StudentTotals:
    """One student's points per assignment, the course total and what was not handed in."""

    student_id: str
    assignments: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        """Points over the whole course; missing work counts as 0."""
        return sum(self.assignments.values())


def class_totals(entries: Iterable[dict], notebooks: dict[str, list[str]]) -> list[StudentTotals]:
    """Every student of the ledger ``entries`` with their totals, sorted by id.

    ``notebooks`` maps each assignment of the course to its notebooks: an assignment a student
    handed nothing in for, or a notebook recorded as ``missing``, scores 0 and is listed as missing;
    a notebook whose grading failed (``error``) is listed too, to be graded again.
    """
    by_student: dict[str, list[dict]] = {}
    for entry in entries:
        if entry["student_id"] not in NOT_STUDENTS:
            by_student.setdefault(entry["student_id"], []).append(entry)
    totals = []
    for student in sorted(by_student):
        rows = by_student[student]
        row = StudentTotals(student)
        for assignment in sorted(notebooks):
            mine = [e for e in rows if e["assignment"] == assignment]
            row.assignments[assignment] = float(sum(e["score"] for e in mine))
            if not mine:
                row.missing.append(f"{assignment} (not submitted)")
            for entry in mine:
                if entry["status"] == "missing":
                    row.missing.append(f"{assignment}/{entry['notebook']} (not submitted)")
                elif entry["status"] == "error":
                    row.missing.append(f"{assignment}/{entry['notebook']} (grader error: run labs grade again)")
        totals.append(row)
    return totals


def header(assignments: list[str], id_column: str = DEFAULT_ID_COLUMN) -> list[str]:
    """The header row of ``lms.csv`` for these assignments."""
    identity = CANVAS_IDENTITY if id_column in CANVAS_ID_COLUMNS else [id_column]
    return identity + assignments + [TOTAL_COLUMN, MISSING_COLUMN]


def check_id_column(id_column: str) -> None:
    """Raise ValueError when ``id_column`` cannot hold the student id (empty, or a Canvas column for something else)."""
    if not id_column.strip() or id_column in (*CANVAS_IDENTITY, TOTAL_COLUMN, MISSING_COLUMN) \
            and id_column not in CANVAS_ID_COLUMNS:
        raise ValueError(f"--lms-id-column {id_column!r} cannot hold the student id; use one of "
                         f"{', '.join(CANVAS_ID_COLUMNS)} (Canvas) or a column name of your own (Moodle).")


def lms_csv(entries: Iterable[dict], notebooks: dict[str, list[str]], id_column: str = DEFAULT_ID_COLUMN) -> str:
    """The text of ``lms.csv`` (see the module docstring); every cell is :func:`spreadsheet_safe`."""
    check_id_column(id_column)
    assignments = sorted(notebooks)
    columns = header(assignments, id_column)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([spreadsheet_safe(name) for name in columns])
    for student in class_totals(entries, notebooks):
        identity = {name: "" for name in columns[: len(columns) - len(assignments) - 2]}
        identity[id_column] = student.student_id
        if "Student" in identity:
            identity["Student"] = student.student_id
        points = [f"{student.assignments[a]:g}" for a in assignments]
        cells = list(identity.values()) + points + [f"{student.total:g}", "; ".join(student.missing)]
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return buffer.getvalue()


def write_lms_csv(out: Path, entries: Iterable[dict], notebooks: dict[str, list[str]],
                  id_column: str = DEFAULT_ID_COLUMN) -> Path:
    """Write ``out/lms.csv`` atomically; return its path."""
    destination = Path(out) / "lms.csv"
    write_text_atomically(destination, lms_csv(entries, notebooks, id_column))
    return destination
