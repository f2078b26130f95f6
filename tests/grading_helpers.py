"""Settings and helpers the grader's tests share: the isolation used here, hidden-test snippets, a batch's submissions and rows."""

from __future__ import annotations

import csv
from pathlib import Path

import grading_fixtures as fixtures
from autograder.sandbox import isolation_available
from autograder.settings import Settings
from autograder.submissions import course_from_sources


HIDDEN_SNIPPETS = ["square([-2, 5])", "mean_rows(np.eye(2) * 4)", "clip_unit([3.0, -0.25, 0.75])"]
#: Scoring tests grade with the strongest isolation here, or explicitly without one where none exists.
SANDBOX = "auto" if isolation_available() else "none"
NO_ISOLATION = "no isolation for student code here (install bubblewrap, or use Linux 5.13+ with Landlock)"
SETTINGS = Settings(notebook_timeout=40, cell_timeout=8, sandbox=SANDBOX)


def processes_running(*commands: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if command in commands:
            found.append(command)
    return found


def write_submissions(folder: Path, names: list[str]) -> None:
    for name in names:
        case = fixtures.CASES[name]()
        path = folder / name / case.assignment / case.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)
        for file_name, data in case.extra_files.items():
            (path.parent / file_name).write_bytes(data)


def grades_csv_rows(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def fixture_course(tmp_path: Path):
    fixtures.write_course(tmp_path / "course")
    return course_from_sources(sorted((tmp_path / "course").glob("lab*/solutions/*.ipynb")))


#: The fixture course's notebooks per assignment (what the LMS export and the report list).
FIXTURE_NOTEBOOKS = {fixtures.ASSIGNMENT: [fixtures.NOTEBOOK], fixtures.OTHER_ASSIGNMENT: [fixtures.OTHER_NOTEBOOK]}


def ledger_entry(student, score, status="ok", assignment=fixtures.ASSIGNMENT, notebook=fixtures.NOTEBOOK, tests=None,
                 seconds=None):
    """One ledger entry as the batch writes it (``tests``: grade id -> (earned, available))."""
    entry = {"student_id": student, "assignment": assignment, "notebook": notebook, "score": score,
             "max_score": 10.0, "status": status, "detail": "", "hash": "", "tests": tests or {}}
    if seconds is not None:
        entry["seconds"] = seconds
    return entry
