"""After a batch: the class report, the LMS export and the similarity check (a synthetic class of 12)."""

from __future__ import annotations

import base64
import csv
import io
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
from autograder.settings import Settings
from autograder.build import CODE_STUB
from autograder.lms import lms_csv
from autograder.report import write_report
from autograder.sandbox import isolation_available
from autograder.similarity import canonical_tokens, reference_of, similar_pairs, stub_of
from autograder.submissions import course_from_sources

SETTINGS = Settings(notebook_timeout=40, cell_timeout=8, sandbox="auto" if isolation_available() else "none")
NOTEBOOKS = {fixtures.ASSIGNMENT: [fixtures.NOTEBOOK], fixtures.OTHER_ASSIGNMENT: [fixtures.OTHER_NOTEBOOK]}


def _entry(student, score, status="ok", assignment=fixtures.ASSIGNMENT, notebook=fixtures.NOTEBOOK, tests=None,
           seconds=None):
    entry = {"student_id": student, "assignment": assignment, "notebook": notebook, "score": score,
             "max_score": 10.0, "status": status, "detail": "", "hash": "", "tests": tests or {}}
    if seconds is not None:
        entry["seconds"] = seconds
    return entry


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _fixture_cells() -> tuple[dict[str, str], dict[str, str]]:
    """Stub and reference of each code answer cell of the fixture notebook (written answers are not compared)."""
    answers = [c for c in fixtures.source_notebook().cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    ids = [c.metadata.nbgrader.grade_id for c in answers]
    return ({i: stub_of(c.source, CODE_STUB) for i, c in zip(ids, answers)},
            {i: reference_of(c.source) for i, c in zip(ids, answers)})


def _answer_cells(notebook: nbformat.NotebookNode) -> dict[str, str]:
    return {c.metadata.nbgrader.grade_id: c.source for c in notebook.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


# --- LMS export -----------------------------------------------------------------------------

def test_lms_export_has_canvas_columns_one_row_per_student_and_missing_work_as_zero():
    entries = [_entry("ada", 7.0), _entry("ada", 1.0, assignment=fixtures.OTHER_ASSIGNMENT,
                                          notebook=fixtures.OTHER_NOTEBOOK),
               _entry("bob", 0.0, "missing"),
               _entry("=cmd|' /C calc'!A0", 4.0)]
    text = lms_csv(entries, NOTEBOOKS)
    header = text.splitlines()[0].split(",")
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", fixtures.OTHER_ASSIGNMENT,
                      fixtures.ASSIGNMENT, "Final Points", "Missing"]
    rows = {row["SIS User ID"]: row for row in _rows(text)}
    assert set(rows) == {"ada", "bob", "'=cmd|' /C calc'!A0"}
    assert (rows["ada"][fixtures.ASSIGNMENT], rows["ada"]["Final Points"], rows["ada"]["Missing"]) == ("7", "8", "")
    assert rows["bob"]["Final Points"] == "0"
    assert rows["bob"]["Missing"] == (f"{fixtures.OTHER_ASSIGNMENT} (not submitted); "
                                      f"{fixtures.ASSIGNMENT}/{fixtures.NOTEBOOK} (not submitted)")
    assert all(row["ID"] == "" and row["Student"] == row["SIS User ID"] for row in rows.values())


def test_lms_export_puts_the_id_in_the_column_asked_for_and_refuses_a_column_that_cannot_hold_it():
    text = lms_csv([_entry("ada", 7.0)], NOTEBOOKS, id_column="Email address")
    assert text.splitlines()[0] == f"Email address,{fixtures.OTHER_ASSIGNMENT},{fixtures.ASSIGNMENT},Final Points,Missing"
    assert _rows(text)[0]["Email address"] == "ada"
    assert _rows(lms_csv([_entry("ada", 7.0)], NOTEBOOKS, id_column="SIS Login ID"))[0]["SIS Login ID"] == "ada"
    for column in ["Section", "Final Points", " "]:
        with pytest.raises(ValueError, match="cannot hold the student id"):
            lms_csv([], NOTEBOOKS, id_column=column)


def test_labs_grade_refuses_a_bad_threshold_or_id_column_before_grading(tmp_path, capsys):
    from autograder.cli import grade_command

    common = dict(root=tmp_path, workers=None, cell_timeout=None, notebook_timeout=None, force=False, scheduler=None,
                  sandbox="none")
    assert grade_command(tmp_path, tmp_path / "out", similarity_threshold=1.5, **common) == 2
    assert "--similarity-threshold must be between 0 and 1" in capsys.readouterr().err
    assert grade_command(tmp_path, tmp_path / "out", lms_id_column="Final Points", **common) == 2
    assert "cannot hold the student id" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- similarity -----------------------------------------------------------------------------

def test_canonical_tokens_ignore_names_comments_and_layout_but_not_structure():
    first = "def f(values):\n    # square them\n    result = values * values\n    return result"
    second = "def f( xs ):\n\n  out = xs*xs   # mine\n  return out"
    assert canonical_tokens(first) == canonical_tokens(second)
    assert canonical_tokens(first) != canonical_tokens("def f(values):\n    return values + values")


def test_a_disguised_copy_is_flagged_and_the_stub_the_reference_and_honest_work_are_not():
    stub, reference = _fixture_cells()
    honest = {name: synthetic_class.ALTERNATIVES[name][index] for index, name in enumerate(fixtures.SOLUTIONS)}
    other = {name: synthetic_class.ALTERNATIVES[name][(index + 1) % 3] for index, name in enumerate(fixtures.SOLUTIONS)}
    answers = {"blank1": _answer_cells(fixtures.blank()), "blank2": _answer_cells(fixtures.blank()),
               "reference1": _answer_cells(fixtures.with_answers(fixtures.SOLUTIONS)),
               "reference2": _answer_cells(fixtures.with_answers(fixtures.SOLUTIONS)),
               "honest": _answer_cells(fixtures.with_answers(honest)),
               "other": _answer_cells(fixtures.with_answers(other)),
               "copier": _answer_cells(fixtures.with_answers({k: synthetic_class.disguise(v) for k, v in honest.items()}))}

    pairs = similar_pairs(answers, stub, reference, threshold=0.5)

    assert [(pair.first, pair.second) for pair in pairs] == [("copier", "honest")]
    assert pairs[0].score > 0.8
    assert [cell.grade_id for cell in pairs[0].cells] == list(fixtures.SOLUTIONS)
    assert "worked this out myself" in pairs[0].cells[0].first and "values" in pairs[0].cells[0].second


# --- the class report from a ledger ---------------------------------------------------------

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
    entries = [dict(_entry("a", 10.0, tests=full, seconds=2.0), manual={fixtures.DISCUSSION_ID: 2.0}),
               dict(_entry("b", 8.0, tests=wrong, seconds=3.5), manual={fixtures.DISCUSSION_ID: 2.0}),
               _entry("c", 8.0, tests=wrong, seconds=2.5), _entry("d", 8.0, "timeout", tests=wrong, seconds=40.0),
               _entry("e", 0.0, "invalid"), _entry("f", 0.0, "error"),
               _entry("g", 1.0, assignment=fixtures.OTHER_ASSIGNMENT, notebook=fixtures.OTHER_NOTEBOOK)]
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
        missing = {a for a in NOTEBOOKS if (a, NOTEBOOKS[a][0]) not in student.expected}
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
