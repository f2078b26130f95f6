"""After a batch: the class report (a synthetic class of 12), with its LMS export and similarity flags."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as fixtures
import synthetic_class
from autograder.batch import grade_batch
from autograder.report import write_report
from autograder.submissions import course_from_sources
from grading_helpers import FIXTURE_NOTEBOOKS, SETTINGS, ledger_entry


def _autograded(out: Path, student: str, error: str | None) -> None:
    """An autograded fixture notebook whose test_square cell shows ``error`` (None: it passed)."""
    notebook = fixtures.with_answers(fixtures.SOLUTIONS)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_square":
            cell.execution_count = 5
            if error:
                name, value = error.split(": ", 1)
                cell.outputs = [nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[])]
    path = out / "autograded" / student / fixtures.ASSIGNMENT / f"{fixtures.NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def test_the_report_counts_statuses_pass_shares_and_the_commonest_error_line(tmp_path):
    course = course_from_sources([fixtures.write_course(tmp_path / "course") / fixtures.ASSIGNMENT / "solutions"
                                  / f"{fixtures.NOTEBOOK}.ipynb"])
    out = tmp_path / "out"
    full = {"test_square": (2, 2), "test_mean_rows": (3, 3), "test_clip_unit": (5, 5)}
    wrong = dict(full, test_square=(0, 2))
    entries = [dict(ledger_entry("a", 10.0, tests=full, seconds=2.0), manual={fixtures.DISCUSSION_ID: 2.0}),
               dict(ledger_entry("b", 8.0, tests=wrong, seconds=3.5), manual={fixtures.DISCUSSION_ID: 2.0}),
               ledger_entry("c", 8.0, tests=wrong, seconds=2.5), ledger_entry("d", 8.0, "timeout", tests=wrong, seconds=40.0),
               ledger_entry("e", 0.0, "invalid"), ledger_entry("f", 0.0, "error"),
               ledger_entry("g", 1.0, assignment=fixtures.OTHER_ASSIGNMENT, notebook=fixtures.OTHER_NOTEBOOK)]
    _autograded(out, "a", None)
    _autograded(out, "b", "AssertionError: [FAIL] square of [1, 2, 3]: expected [1 4 9], got [2 4 6]")
    _autograded(out, "c", "AssertionError: [FAIL] square of [1, 2, 3]: expected [1 4 9], got [2 4 6]")
    _autograded(out, "d", "NameError: name 'square' is not defined")

    report = write_report(out, course, entries)

    page = report.path.read_text()
    assert report.students == 7 and report.similar_pairs is None
    text = re.sub(r"<[^>]+>", " ", page)
    assert "7 students: 3 ok, 1 timeout, 1 invalid, 1 missing, 1 error" in " ".join(text.split())
    square = re.search(r"<code>test_square</code>.*?</tr>", page.split('id="lab9_fixture/Part1_Fixture"')[1]).group(0)
    assert "17%" in square and "1 of 6" in square
    assert "AssertionError: [FAIL] square of [1, 2, 3]: expected [1 4 9], got [2 4 6]" in square and "(2)" in square
    assert "median 3.0 s" in page and "40.0 s (d)" in page
    assert "2 written answers await manual grading" in " ".join(text.split())
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1 and all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert not re.search(r'(src|href)="(https?:)?//', page)


# --- a synthetic class, graded --------------------------------------------------------------

@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    fixtures.write_course(root / "course")
    course = course_from_sources(sorted((root / "course").glob("lab*/solutions/*.ipynb")))
    students = synthetic_class.write_class(root / "submissions", 12)
    summary = grade_batch(root / "submissions", root / "out", course, workers=2, settings=SETTINGS,
                          show_progress=False, similarity_threshold=0.5, lms_id_column="SIS Login ID")
    return root / "out", students, summary


@pytest.mark.notebook
def test_a_synthetic_class_gets_its_expected_grades_and_time_per_notebook(graded_class):
    out, students, summary = graded_class
    with open(out / "grades.csv", newline="") as stream:
        rows = {(r["student_id"], r["assignment"], r["notebook"]): (float(r["score"]), r["status"])
                for r in csv.DictReader(stream)}
    expected = {(s.student_id, *key): result for s in students for key, result in s.expected.items()}
    assert rows == expected
    assert {s.kind for s in students} == {"full", "partial", "blank", "broken", "missing", "copied"}
    ledger = [json.loads(line) for line in (out / ".grading" / "ledger.jsonl").read_text().splitlines()]
    ran = [entry for entry in ledger if entry["status"] in ("ok", "crashed")]
    assert ran and all(entry["seconds"] > 0 for entry in ran)


@pytest.mark.notebook
def test_a_synthetic_class_gets_an_lms_row_per_student_with_missing_work_named(graded_class):
    out, students, _ = graded_class
    rows = {row["SIS Login ID"]: row for row in csv.DictReader(open(out / "lms.csv", newline=""))}
    assert list(rows) == [s.student_id for s in students]
    for student in students:
        total = sum(score for score, _ in student.expected.values())
        assert float(rows[student.student_id]["Final Points"]) == total
        missing = {a for a in FIXTURE_NOTEBOOKS if (a, FIXTURE_NOTEBOOKS[a][0]) not in student.expected}
        assert rows[student.student_id]["Missing"] == "; ".join(f"{a} (not submitted)" for a in sorted(missing))


@pytest.mark.notebook
def test_the_class_report_flags_exactly_the_copies_and_opens_in_a_browser(graded_class, tmp_path):
    out, students, summary = graded_class
    page = (out / "report.html").read_text()
    flagged = set(re.findall(r"<h4>(s\d+) and (s\d+): \d+% similar</h4>", page))
    assert {frozenset(pair) for pair in flagged} == synthetic_class.copied_pairs(students)
    assert summary.similar_pairs == len(flagged) == 2
    assert "NameError: name &#x27;clip_unit&#x27; is not defined" in page
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium here (apt-get install chromium) to open the report in a browser")
    screenshot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={screenshot}",
                    "--window-size=1200,2000", (out / "report.html").as_uri()], capture_output=True, timeout=120)
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 50_000
