"""The grader: one submission at a time (every fixture case with its exact score), then whole batches."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as fixtures
from autograder.batch import SCRATCH_PREFIX, UNISOLATED_NOTE, WORKER_RETRIES, Ledger, grade_batch
from autograder.feedback import TEST_OUTPUT_CAP, scrub_hidden_tests
from autograder.grading import GradeJob, add_guards, grade_job, parse_submission
from autograder.notebooks import is_graded
from autograder.restore import restore
from autograder.submissions import canonical_notebook_name
from autograder import landlock
from autograder.sandbox import FULL_LANDLOCK_ABI, choose_isolation, isolation_available, throwaway_user_problem
from autograder.settings import Settings
from autograder.submissions import Submitted, course_from_sources, match

OTHERS = {f"{fixtures.OTHER_ASSIGNMENT}/{fixtures.OTHER_NOTEBOOK}": ["other", "test_other"]}
HIDDEN_SNIPPETS = ["square([-2, 5])", "mean_rows(np.eye(2) * 4)", "clip_unit([3.0, -0.25, 0.75])"]
SANDBOX_ONLY = {"reads_secrets", "network"}
#: Scoring tests grade with the strongest isolation here, or explicitly without one where none exists.
SANDBOX = "auto" if isolation_available() else "none"
NO_ISOLATION = "no isolation for student code here (install bubblewrap, or use Linux 5.13+ with Landlock)"
SETTINGS = Settings(notebook_timeout=40, cell_timeout=8, sandbox=SANDBOX)


def _source_text() -> str:
    return nbformat.writes(fixtures.source_notebook())


def _grade_full_answers_with(code: str, tmp_path: Path, settings: Settings = SETTINGS):
    """Grade the full answers with ``code`` in a student cell right after the first test."""
    notebook = fixtures._insert_after(fixtures.with_answers(fixtures.SOLUTIONS), "test_square", code)
    job = GradeJob(submission=nbformat.writes(notebook).encode(), source_text=_source_text(),
                   notebook_name=fixtures.NOTEBOOK, other_notebooks=OTHERS, scratch_root=str(tmp_path),
                   settings=settings)
    return grade_job(job)


def _grade(case: fixtures.Case, tmp_path: Path):
    job = GradeJob(submission=case.data, source_text=_source_text(), notebook_name=fixtures.NOTEBOOK,
                   other_notebooks=OTHERS, scratch_root=str(tmp_path), settings=SETTINGS)
    return grade_job(job)


@pytest.mark.notebook
def test_a_relative_scratch_folder_grades_like_an_absolute_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = fixtures.CASES["full"]()
    job = GradeJob(submission=case.data, source_text=_source_text(), notebook_name=fixtures.NOTEBOOK,
                   other_notebooks=OTHERS, scratch_root="relative/scratch", settings=SETTINGS)
    result = grade_job(job).result
    assert (result.score, result.status) == (case.score, "ok"), result.detail


# --- pure functions, no kernel ---------------------------------------------------------------

def test_copy_names_map_to_the_original_notebook():
    assert canonical_notebook_name("Copy of Part1_Fixture.ipynb") == "Part1_Fixture"
    assert canonical_notebook_name("Copy of Copy of Part1_Fixture (2).ipynb") == "Part1_Fixture"
    assert canonical_notebook_name("Part1_Fixture-Copy1.ipynb") == "Part1_Fixture"
    assert canonical_notebook_name("my homework.ipynb") == "my homework"


def test_file_names_are_matched_to_the_course_or_rejected_with_a_reason(tmp_path):
    fixtures.write_course(tmp_path)
    course = course_from_sources(sorted(tmp_path.glob("lab*/solutions/*.ipynb")))
    def submitted(assignment, name):
        return Submitted("s1", assignment, name, tmp_path / name)
    assert match(submitted(fixtures.ASSIGNMENT, "Copy of Part1_Fixture.ipynb"), course) == ("Part1_Fixture", None)
    assert "belongs to lab8_other" in match(submitted(fixtures.ASSIGNMENT, "Part1_Other.ipynb"), course)[1]
    assert "unknown assignment folder 'lab5'" in match(submitted("lab5", "Part1_Fixture.ipynb"), course)[1]
    assert "is not a notebook of" in match(submitted(fixtures.ASSIGNMENT, "notes.ipynb"), course)[1]


@pytest.mark.parametrize("data, reason", [
    (b"", "the file is empty"),
    (b"   \n", "the file is empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON but not a notebook"),
    (json.dumps({"nbformat": 3, "cells": []}).encode(), "notebook format 3 is not supported"),
])
def test_unusable_files_are_refused_with_a_one_line_reason(data, reason):
    with pytest.raises(ValueError, match=reason) as error:
        parse_submission(data)
    assert "\n" not in str(error.value)


def test_restore_puts_back_edited_deleted_duplicated_and_unlabelled_tests():
    source = fixtures.source_notebook()
    student = fixtures.with_answers(fixtures.SOLUTIONS)
    cells = student.cells
    test_square = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square")
    test_mean = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_mean_rows")
    test_clip = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_clip_unit")
    test_square.source = "pass"
    cells.insert(cells.index(test_mean) + 1, nbformat.from_dict(json.loads(json.dumps(test_mean))))
    del test_clip.metadata["nbgrader"]
    restored = restore(student, source)
    graded = [c for c in restored.notebook.cells if is_graded(c)]
    originals = [c for c in source.cells if is_graded(c)]
    assert [c.source for c in graded] == [c.source for c in originals]
    assert any("test_square was edited" in note for note in restored.notes)
    assert any("duplicate of test cell test_mean_rows" in note for note in restored.notes)
    assert any("test_clip_unit had lost its nbgrader metadata" in note for note in restored.notes)


def test_guards_surround_every_test_and_small_values_are_injected():
    prepared = add_guards(restore(fixtures.blank(), fixtures.source_notebook()).notebook, fixtures.NOTEBOOK)
    tags = [c.metadata.get("tags", []) for c in prepared.cells]
    assert tags[0] == ["grader-guard"]
    assert any("injected-parameters" in t for t in tags)
    for index, cell in enumerate(prepared.cells):
        if is_graded(cell):
            assert "grader_token" in prepared.cells[index - 1].metadata


def test_scrubbing_removes_hidden_tests_from_sources_and_tracebacks():
    source = fixtures.source_notebook()
    executed = restore(fixtures.blank(), source).notebook
    cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square")
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="",
        traceback=["Traceback", "\x1b[0;32m----> 3\x1b[0m assert np.array_equal(square([-2, 5]), np.array([4, 25]))"])]
    scrubbed = nbformat.writes(scrub_hidden_tests(executed, source))
    for snippet in HIDDEN_SNIPPETS:
        assert snippet not in scrubbed
    assert "square of [1, 2, 3]" in scrubbed


def test_a_test_cell_keeps_only_capped_text_output_in_feedback():
    source = fixtures.source_notebook()
    executed = restore(fixtures.blank(), source).notebook
    cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="[PASS] square\n" + "A" * 50_000),
                    nbformat.v4.new_output("display_data", data={"text/html": "<b>" + "B" * 10_000 + "</b>"}),
                    nbformat.v4.new_output("error", ename="AssertionError", evalue="C" * 10_000, traceback=["T" * 10_000])]
    kept = next(c for c in scrub_hidden_tests(executed, source).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square").outputs
    assert [output.output_type for output in kept] == ["stream", "error"]
    assert kept[0].text.startswith("[PASS] square") and len(kept[0].text) < TEST_OUTPUT_CAP + 100
    assert kept[1].evalue == "" and all(len(line) <= TEST_OUTPUT_CAP for line in kept[1].traceback)


def test_ledger_ignores_a_torn_last_line(tmp_path):
    path = tmp_path / "ledger.jsonl"
    entry = {"student_id": "a", "assignment": "x", "notebook": "n", "score": 1.0}
    Ledger(path).append(entry)
    with open(path, "a") as stream:
        stream.write('{"student_id": "b", "assi')
    ledger = Ledger(path)
    assert list(ledger.latest) == [("a", "x", "n")] and ledger.rejected == 1
    ledger.append(dict(entry, student_id="b"))
    assert sorted(Ledger(path).latest) == [("a", "x", "n"), ("b", "x", "n")]


def test_ledger_lines_not_signed_with_the_folders_key_are_ignored(tmp_path):
    path = tmp_path / "ledger.jsonl"
    entry = {"student_id": "a", "assignment": "x", "notebook": "n", "score": 3.0, "tests": {"t": (3.0, 9.0)}}
    Ledger(path).append(entry)
    signed = json.loads(path.read_text())
    forged = [dict(signed, score=9.0), dict(entry, score=9.0), dict(entry, score=9.0, signature="0" * 64)]
    with open(path, "a") as stream:
        stream.writelines(json.dumps(line) + "\n" for line in forged)
    ledger = Ledger(path)
    assert ledger.latest[("a", "x", "n")]["score"] == 3.0 and ledger.rejected == 3
    assert (tmp_path / "ledger.key").stat().st_mode & 0o077 == 0, "the key is readable by others"


# --- one submission, executed ----------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(set(fixtures.CASES) - {"odd_file_name"}))
def test_each_fixture_submission_gets_its_exact_score_and_status(name, tmp_path):
    if name in SANDBOX_ONLY and not isolation_available():
        pytest.skip(NO_ISOLATION)
    case = fixtures.CASES[name]()
    outcome = _grade(case, tmp_path)
    assert (outcome.result.score, outcome.result.max_score, outcome.result.status) == (case.score, 10.0, case.status)
    for words in case.detail_contains:
        assert words in outcome.result.detail
    assert list(tmp_path.iterdir()) == []


#: A setsid child and a double-forked daemon, each sleeping a number of seconds that names the test run.
DAEMONS = """
import os, subprocess, time
subprocess.Popen(['sleep', '{first}'], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp('sleep', ['sleep', '{second}'])
    os._exit(0)
time.sleep(0.5)
"""


def _orphaned_kernels(since: float) -> list[str]:
    """Grading kernels of this installation, started after ``since``, still running although their
    scratch folder is gone (their grader died)."""
    orphans = []
    for entry in Path("/proc").iterdir():
        try:
            arguments = (entry / "cmdline").read_bytes().decode().split("\0")
            started = entry.stat().st_ctime
        except OSError:
            continue
        if started < since or Path(arguments[0]).parent != Path(sys.executable).parent:
            continue
        if "ipykernel_launcher" in " ".join(arguments) and "-f" in arguments:
            connection = Path(arguments[arguments.index("-f") + 1])
            if SCRATCH_PREFIX in str(connection) and not connection.parent.exists():
                orphans.append(" ".join(arguments))
    return orphans


def _processes_running(*commands: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if command in commands:
            found.append(command)
    return found


@pytest.mark.notebook
@pytest.mark.parametrize("sandbox", ["none", SANDBOX])
def test_no_process_a_kernel_started_outlives_its_grading(sandbox, tmp_path):
    first, second = (str(1000 + int.from_bytes(os.urandom(3)) + offset) for offset in (0, 1))
    outcome = _grade_full_answers_with(DAEMONS.format(first=first, second=second), tmp_path, dataclasses.replace(SETTINGS, sandbox=sandbox))
    assert (outcome.result.score, outcome.result.status) == (10, "ok"), outcome.result.detail
    assert _processes_running(f"sleep {first}", f"sleep {second}") == []


def _plain_nbclient_points(notebook: nbformat.NotebookNode, tmp_path: Path) -> float:
    """Points as plain nbgrader scoring would give after a plain nbclient run (no guards, no sandbox)."""
    from nbclient import NotebookClient
    from nbgrader.utils import determine_grade

    NotebookClient(notebook, timeout=60, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}).execute()
    return sum(determine_grade(c)[0] or 0 for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade", False))


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["patched_checks", "input_transformer", "exception_handler", "rebound_numpy"])
def test_each_cheat_would_fool_an_unguarded_run_but_scores_zero_here(name, tmp_path):
    case = fixtures.CASES[name]()
    unguarded = restore(nbformat.reads(case.data.decode(), as_version=4), fixtures.source_notebook()).notebook
    assert _plain_nbclient_points(unguarded, tmp_path) > 0
    assert _grade(case, tmp_path).result.score == 0


@pytest.mark.notebook
def test_hidden_tests_never_reach_the_returned_notebook_after_scrubbing(tmp_path):
    outcome = _grade(fixtures.CASES["partial"](), tmp_path)
    scrubbed = nbformat.writes(scrub_hidden_tests(nbformat.reads(outcome.notebook_json, as_version=4),
                                                  fixtures.source_notebook()))
    for snippet in HIDDEN_SNIPPETS:
        assert snippet not in scrubbed
    assert "NotImplementedError" in scrubbed


# --- batches --------------------------------------------------------------------------------

BATCH = ["full", "partial", "blank", "invalid_json", "odd_file_name", "stderr_warnings", "colab_copy"]


def _write_submissions(folder: Path, names: list[str]) -> None:
    for name in names:
        case = fixtures.CASES[name]()
        path = folder / name / case.assignment / case.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)
        for file_name, data in case.extra_files.items():
            (path.parent / file_name).write_bytes(data)


def _rows(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def _course(tmp_path: Path):
    fixtures.write_course(tmp_path / "course")
    return course_from_sources(sorted((tmp_path / "course").glob("lab*/solutions/*.ipynb")))


def _vandal(out: Path, submissions: Path) -> bytes:
    """A submission that tries to rewrite the gradebook, another student's feedback and submission."""
    targets = [out / "gradebook.db", out / "feedback" / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.html",
               submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb", out / "grades.csv"]
    code = "for target in %r:\n    try:\n        open(target, 'w').write('owned')\n    except OSError:\n        pass" % [
        str(t) for t in targets]
    notebook = fixtures._insert_after(fixtures.with_answers(fixtures.SOLUTIONS), "test_clip_unit", code)
    return nbformat.writes(notebook).encode()


@pytest.mark.notebook
def test_a_batch_writes_csv_feedback_gradebook_and_exports_then_regrades_only_changes(tmp_path):
    course = _course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(submissions, BATCH)
    (submissions / "absent" / fixtures.OTHER_ASSIGNMENT).mkdir(parents=True)
    (submissions / "absent" / fixtures.OTHER_ASSIGNMENT / "notes.txt").write_text("no notebook here")
    full_before = (submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").read_bytes()
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in submissions.rglob("*"):
            if path.is_file():
                bundle.write(path, path.relative_to(submissions))

    summary = grade_batch(archive, out, course, workers=2, settings=SETTINGS, show_progress=False)

    rows = {(r["student_id"], r["notebook"]): r for r in _rows(out)}
    expected = {("full", "Part1_Fixture"): ("10", "ok"), ("partial", "Part1_Fixture"): ("7", "ok"),
                ("blank", "Part1_Fixture"): ("0", "ok"), ("invalid_json", "Part1_Fixture"): ("0", "invalid"),
                ("odd_file_name", "Part1_Fixture"): ("10", "ok"),
                ("stderr_warnings", "Part1_Fixture"): ("10", "ok"), ("colab_copy", "Part1_Fixture"): ("5", "ok")}
    assert {key: (r["score"], r["status"]) for key, r in rows.items()} == expected
    assert all(r["max_score"] == "10" for k, r in rows.items() if k[1] == "Part1_Fixture")
    assert "recognised as Part1_Fixture.ipynb" in rows[("odd_file_name", "Part1_Fixture")]["detail"]
    pending = f"needs manual grading: {fixtures.DISCUSSION_POINTS} points ({fixtures.DISCUSSION_ID})"
    assert {key: r["manual_grading"] for key, r in rows.items() if r["manual_grading"]} == {
        ("full", "Part1_Fixture"): pending}
    assert f"not answered: {fixtures.DISCUSSION_ID}" in rows[("partial", "Part1_Fixture")]["detail"]
    assert summary.graded == 7 and summary.rows == 7
    assert (submissions / "colab_copy" / fixtures.ASSIGNMENT / "numpy.py").exists()
    assert (submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").read_bytes() == full_before

    for student in ["full", "partial", "blank", "invalid_json"]:
        page = (out / "feedback" / student / fixtures.ASSIGNMENT / "Part1_Fixture.html").read_text()
        assert page.lstrip().startswith("<!DOCTYPE html>") and all(snippet not in page for snippet in HIDDEN_SNIPPETS)
    # An unanswered discussion question is 0 of its points; a written one awaits a person and is out of the total.
    assert "Part1_Fixture (Score: 7.0 / 12.0)" in (out / "feedback" / "partial" / fixtures.ASSIGNMENT / "Part1_Fixture.html").read_text()
    full_page = (out / "feedback" / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.html").read_text()
    assert "Part1_Fixture (Score: 10.0 / 10.0)" in full_page and "graded by a person later" in full_page

    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions(fixtures.ASSIGNMENT)}
        awaiting = {s.student.id for s in gradebook.assignment_submissions(fixtures.ASSIGNMENT) if s.needs_manual_grade}
    assert awaiting == {"full"}
    assert scores == {"full": 10, "partial": 7, "blank": 0, "invalid_json": 0, "odd_file_name": 10,
                      "stderr_warnings": 10, "colab_copy": 5}
    export = list(csv.DictReader(open(out / "nbgrader_export.csv")))
    assert {(r["student_id"], float(r["score"])) for r in export} >= {("full", 10.0), ("partial", 7.0)}
    full_results = json.loads((out / "gradescope" / "full" / fixtures.ASSIGNMENT / "results.json").read_text())
    assert full_results["score"] == 10 and pending in full_results["output"]
    results = json.loads((out / "gradescope" / "partial" / fixtures.ASSIGNMENT / "results.json").read_text())
    assert results["score"] == 7 and {t["name"]: t["score"] for t in results["tests"]} == {
        "Part1_Fixture: test_square": 2, "Part1_Fixture: test_mean_rows": 0, "Part1_Fixture: test_clip_unit": 5}

    again = grade_batch(archive, out, course, workers=2, settings=SETTINGS, show_progress=False)
    assert (again.graded, again.skipped) == (0, 7)
    changed = submissions / "blank" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb"
    changed.write_bytes(fixtures.CASES["full"]().data)
    third = grade_batch(submissions, out, course, workers=2, settings=SETTINGS, show_progress=False)
    assert third.graded == 1
    assert {(r["student_id"], r["score"]) for r in _rows(out)} >= {("blank", "10"), ("partial", "7")}
    assert len(_rows(out)) == 7


@pytest.mark.notebook
@pytest.mark.parametrize("sandbox", ["none", "auto"])
def test_student_code_cannot_touch_the_records_or_another_submission(sandbox, tmp_path):
    if sandbox == "auto" and not isolation_available():
        pytest.skip(NO_ISOLATION)
    if sandbox == "none" and throwaway_user_problem():
        pytest.skip(f"--sandbox none protects the records only when grading as root: {throwaway_user_problem()}")
    settings = dataclasses.replace(SETTINGS, sandbox=sandbox)
    course = _course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(submissions, ["full", "partial"])
    full_before = (submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").read_bytes()
    grade_batch(submissions, out, course, workers=1, settings=settings, show_progress=False)
    vandal = submissions / "vandal" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb"
    vandal.parent.mkdir(parents=True)
    vandal.write_bytes(_vandal(out, submissions))

    summary = grade_batch(submissions, out, course, workers=1, settings=settings, show_progress=False)

    assert summary.graded == 1
    assert {r["student_id"]: (r["score"], r["status"]) for r in _rows(out)} == {
        "full": ("10", "ok"), "partial": ("7", "ok"), "vandal": ("10", "ok")}
    assert (submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").read_bytes() == full_before
    for target in [out / "gradebook.db", out / "feedback" / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.html"]:
        assert not target.read_bytes().startswith(b"owned")
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions(fixtures.ASSIGNMENT)}
    assert scores == {"full": 10, "partial": 7, "vandal": 10}


@pytest.mark.notebook
def test_a_damaged_gradebook_and_forged_ledger_lines_are_repaired_from_the_signed_ledger(tmp_path):
    course = _course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(submissions, ["full", "partial"])
    grade_batch(submissions, out, course, workers=2, settings=SETTINGS, show_progress=False)
    (out / "gradebook.db").write_bytes(b"owned" * 100)
    ledger = out / ".grading" / "ledger.jsonl"
    partial = next(json.loads(line) for line in ledger.read_text().splitlines() if '"partial"' in line)
    with open(ledger, "a") as stream:
        stream.write(json.dumps(dict(partial, score=10.0, hash="forged")) + "\n")

    summary = grade_batch(submissions, out, course, workers=2, settings=SETTINGS, show_progress=False)

    assert (summary.graded, summary.skipped) == (0, 2)
    assert any("1 line(s) of the ledger" in note for note in summary.notes)
    assert any("gradebook.db was damaged" in note and "rebuilt from the ledger" in note for note in summary.notes)
    assert {r["student_id"]: r["score"] for r in _rows(out)} == {"full": "10", "partial": "7"}
    assert len(list(out.glob("gradebook.db.damaged-*"))) == 1
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions(fixtures.ASSIGNMENT)}
    assert scores == {"full": 10, "partial": 7}


def _course_with_a_second_notebook(tmp_path: Path):
    """The fixture course whose first assignment also has a one-point Part2_Extra notebook."""
    fixtures.write_course(tmp_path / "course")
    extra = tmp_path / "course" / fixtures.ASSIGNMENT / "solutions" / "Part2_Extra.ipynb"
    nbformat.write(fixtures.other_source_notebook(), extra)
    return course_from_sources(sorted((tmp_path / "course").glob("lab*/solutions/*.ipynb")))


@pytest.mark.notebook
def test_an_unsubmitted_notebook_gets_a_missing_row_and_a_broken_one_an_invalid_row(tmp_path):
    course = _course_with_a_second_notebook(tmp_path)
    submissions = tmp_path / "submissions"
    _write_submissions(submissions, ["full"])
    other = submissions / "full" / fixtures.OTHER_ASSIGNMENT / "Copy of Part1_Other.ipynb"
    other.parent.mkdir(parents=True)
    other.write_text("{}")
    grade_batch(submissions, tmp_path / "out", course, workers=1, settings=SETTINGS, show_progress=False)
    rows = {(r["assignment"], r["notebook"]): (r["score"], r["max_score"], r["status"]) for r in _rows(tmp_path / "out")}
    assert rows == {(fixtures.ASSIGNMENT, "Part1_Fixture"): ("10", "10", "ok"),
                    (fixtures.ASSIGNMENT, "Part2_Extra"): ("0", "1", "missing"),
                    (fixtures.OTHER_ASSIGNMENT, "Part1_Other"): ("0", "1", "invalid")}


@pytest.mark.notebook
def test_a_misnamed_notebook_is_graded_as_the_one_its_cells_are_and_an_unknown_file_costs_no_notebook(tmp_path):
    course = _course_with_a_second_notebook(tmp_path)
    submissions = tmp_path / "submissions"
    misnamed = submissions / "renamed" / fixtures.ASSIGNMENT / "my answers.ipynb"
    misnamed.parent.mkdir(parents=True)
    misnamed.write_bytes(fixtures.CASES["full"]().data)
    stray = submissions / "stray" / fixtures.ASSIGNMENT / "scratch.ipynb"
    stray.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), stray)
    grade_batch(submissions, tmp_path / "out", course, workers=1, settings=SETTINGS, show_progress=False)
    rows = {(r["student_id"], r["notebook"]): (r["score"], r["max_score"], r["status"], r["detail"])
            for r in _rows(tmp_path / "out")}
    assert rows[("renamed", "Part1_Fixture")][:3] == ("10", "10", "ok")
    assert "submitted as my answers.ipynb, recognised as Part1_Fixture.ipynb" in rows[("renamed", "Part1_Fixture")][3]
    assert rows[("renamed", "Part2_Extra")][:3] == ("0", "1", "missing")
    assert rows[("stray", "scratch.ipynb")][:3] == ("0", "0", "invalid")
    assert "is not a notebook of" in rows[("stray", "scratch.ipynb")][3]
    assert rows[("stray", "Part1_Fixture")][:3] == ("0", "10", "missing")
    assert rows[("stray", "Part2_Extra")][:3] == ("0", "1", "missing")
    assert len(rows) == 5


def _scratch_in_use(folder: Path) -> bool:
    """True when a live grader holds the lock of this scratch folder (other tests run batches in parallel)."""
    import fcntl

    try:
        descriptor = os.open(folder / ".lock", os.O_RDWR)
    except FileNotFoundError:
        return True  # just created: its grader has not taken the lock yet
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(descriptor)
    return False


RESUME_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from autograder.batch import grade_batch
from autograder.settings import Settings
from autograder.submissions import course_from_sources
if __name__ == "__main__":
    course = course_from_sources(sorted(Path({course!r}).glob("lab*/solutions/*.ipynb")))
    settings = Settings(notebook_timeout=40, cell_timeout=8, sandbox={sandbox!r})
    grade_batch(Path({submissions!r}), Path({out!r}), course, workers=1, settings=settings, show_progress=False)
"""


@pytest.mark.notebook
def test_a_run_killed_with_sigkill_is_completed_by_the_next_without_lost_or_duplicated_rows(tmp_path):
    course = _course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    names = ["full", "partial", "blank", "stderr_warnings"]
    _write_submissions(submissions, names)
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT.format(tests=str(Path(__file__).parent), course=str(tmp_path / "course"),
                                           submissions=str(submissions), out=str(out), sandbox=SANDBOX))
    earlier = set(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"))
    process = subprocess.Popen([sys.executable, str(script)], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = out / ".grading" / "ledger.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (ledger.exists() and ledger.read_text().count("\n") >= 1):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    started = set(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*")) - earlier
    left_behind = {folder for folder in started if not _scratch_in_use(folder)}
    done_before = ledger.read_text().count("\n")
    assert 1 <= done_before < len(names)

    summary = grade_batch(submissions, out, course, workers=1, settings=SETTINGS, show_progress=False)
    assert summary.skipped == done_before
    rows = _rows(out)
    assert sorted(r["student_id"] for r in rows) == sorted(names)
    assert {r["student_id"]: r["score"] for r in rows} == {"full": "10", "partial": "7", "blank": "0",
                                                          "stderr_warnings": "10"}
    assert left_behind and not any(folder.exists() for folder in left_behind)


@pytest.mark.notebook
def test_dask_cluster_grades_with_the_coordinator_as_only_writer(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    course = _course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(submissions, ["full", "partial"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = grade_batch(submissions, out, course, settings=SETTINGS, scheduler=cluster.scheduler_address,
                              show_progress=False)
    assert summary.graded == 2
    assert {r["student_id"]: r["score"] for r in _rows(out)} == {"full": "10", "partial": "7"}


def test_the_source_itself_restores_without_notes():
    source = fixtures.source_notebook()
    assert restore(source, source).notes == []


def test_student_cells_cannot_pose_as_grader_cells():
    student = fixtures.with_answers(fixtures.SOLUTIONS)
    forged = nbformat.v4.new_code_cell("print('grader-guard-ok:0000')", metadata={
        "tags": ["grader-guard", "injected-parameters"], "grader_token": "0000"})
    student.cells.insert(4, forged)
    restored = restore(student, fixtures.source_notebook()).notebook
    copy = next(c for c in restored.cells if "grader-guard-ok:0000" in c.source)
    assert "grader_token" not in copy.metadata and "tags" not in copy.metadata


# --- entries that are not plain notebook files -------------------------------------------------

def _zip_with_a_corrupt_entry(path: Path, good: dict[str, bytes], corrupt: str) -> None:
    """A zip holding ``good`` entries and one more, ``corrupt``, whose compressed bytes were altered."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as bundle:
        for name, data in good.items():
            bundle.writestr(name, data)
        bundle.writestr(corrupt, b"{" + b"x" * 4000 + b"}")
    data = bytearray(path.read_bytes())
    start = data.index(b"x" * 4000)
    data[start + 100:start + 110] = b"y" * 10
    path.write_bytes(bytes(data))


def test_a_corrupt_or_conflicting_archive_entry_is_refused_with_a_reason_and_the_rest_unpacked(tmp_path):
    from autograder.submissions import extract_zip

    archive = tmp_path / "class.zip"
    good = {"ana/lab9_fixture/Part1_Fixture.ipynb": b"{}", "bo/lab9_fixture": b"a file", "bo/lab9_fixture/x.ipynb": b"{}"}
    _zip_with_a_corrupt_entry(archive, good, "cy/lab9_fixture/Part1_Fixture.ipynb")
    folder, refused = extract_zip(archive, tmp_path / "unzipped")
    assert (folder / "ana" / "lab9_fixture" / "Part1_Fixture.ipynb").read_bytes() == b"{}"
    assert set(refused) == {"bo/lab9_fixture/x.ipynb", "cy/lab9_fixture/Part1_Fixture.ipynb"}
    assert "a file and a folder of the same name" in refused["bo/lab9_fixture/x.ipynb"]
    assert "damaged or lies about its size" in refused["cy/lab9_fixture/Part1_Fixture.ipynb"]
    assert not (folder / "cy" / "lab9_fixture" / "Part1_Fixture.ipynb").exists()


@pytest.mark.notebook
def test_links_folders_and_damaged_entries_each_get_one_invalid_row_and_are_never_followed(tmp_path):
    course = _course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(submissions, ["full"])
    source = next((tmp_path / "course").glob("lab*/solutions/Part1_Fixture.ipynb"))
    for student, target in [("copier", source), ("snoop", Path("/etc/shadow"))]:
        (submissions / student / fixtures.ASSIGNMENT).mkdir(parents=True)
        (submissions / student / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").symlink_to(target)
    (submissions / "folder" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").mkdir(parents=True)
    (submissions / ".hidden" / fixtures.ASSIGNMENT).mkdir(parents=True)
    (submissions / ".hidden" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").write_bytes(fixtures.CASES["partial"]().data)

    summary = grade_batch(submissions, out, course, workers=1, settings=SETTINGS, show_progress=False)

    rows = {(r["student_id"], r["notebook"]): (r["score"], r["status"], r["detail"]) for r in _rows(out)}
    assert rows[("full", "Part1_Fixture")][:2] == ("10", "ok")
    assert rows[(".hidden", "Part1_Fixture")][:2] == ("7", "ok")
    for student in ["copier", "snoop"]:
        assert rows[(student, "Part1_Fixture.ipynb")][:2] == ("0", "invalid")
        assert "symbolic link" in rows[(student, "Part1_Fixture.ipynb")][2]
    assert "a folder named like a notebook" in rows[("folder", "Part1_Fixture.ipynb")][2]
    assert summary.rows == 5
    again = grade_batch(submissions, out, course, workers=1, settings=SETTINGS, show_progress=False)
    assert (again.graded, again.skipped) == (0, 5)


def _parent(pid: int) -> int:
    """The parent process id of ``pid`` (0 when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _command_line(pid: int) -> bytes:
    """The command line of ``pid`` (empty when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _kill_workers_of(marker: str, stop: threading.Event, killed: list[int]) -> None:
    """Until ``stop``: SIGKILL the grading worker (a multiprocessing process) above the process ``marker``."""
    while not stop.is_set():
        for entry in Path("/proc").iterdir():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            if command == marker:
                worker = _parent(int(entry.name))
                while worker > 1 and b"multiprocessing" not in _command_line(worker):
                    worker = _parent(worker)
                if worker > 1 and worker not in killed:
                    killed.append(worker)
                    os.kill(worker, signal.SIGKILL)
        stop.wait(0.2)


@pytest.mark.notebook
def test_a_worker_killed_while_grading_gives_an_error_row_and_costs_classmates_nothing(tmp_path):
    course = _course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    _write_submissions(submissions, ["full", "partial"])
    marker = f"sleep {1000 + int.from_bytes(os.urandom(3))}"
    victim = fixtures._insert_after(fixtures.with_answers(fixtures.SOLUTIONS), "test_square",
                                    f"import subprocess, time\nsubprocess.Popen({marker.split()!r})\ntime.sleep(300)")
    path = submissions / "victim" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb"
    path.parent.mkdir(parents=True)
    path.write_bytes(nbformat.writes(victim).encode())
    settings = Settings(notebook_timeout=200, cell_timeout=100, sandbox="none")
    since = time.time()

    def grade_while_killing_the_victims_worker():
        stop, killed = threading.Event(), []
        killer = threading.Thread(target=_kill_workers_of, args=(marker, stop, killed))
        killer.start()
        try:
            return grade_batch(submissions, out, course, workers=1, settings=settings, show_progress=False), killed
        finally:
            stop.set()
            killer.join()

    summary, killed = grade_while_killing_the_victims_worker()

    assert len(killed) == 1 + WORKER_RETRIES, "the notebook is graded again, alone, in a fresh worker"
    rows = {r["student_id"]: (r["score"], r["status"]) for r in _rows(out)}
    assert rows == {"full": ("10", "ok"), "partial": ("7", "ok"), "victim": ("0", "error")}
    assert _orphaned_kernels(since) == [], "a kernel outlived its worker"
    assert _processes_running(marker) == []
    again, _ = grade_while_killing_the_victims_worker()
    assert (again.graded, again.skipped) == (1, 2), "an error row is graded again on the next run"


@pytest.mark.notebook
def test_a_kernel_cannot_kill_the_worker_that_grades_it(tmp_path):
    # Here the grading worker is this test's own process: only run where the isolation forbids the signal.
    mode = choose_isolation(SANDBOX).mode
    if (mode == "landlock" and landlock.abi_version() < FULL_LANDLOCK_ABI) or (mode == "none" and throwaway_user_problem()):
        pytest.skip(f"--sandbox {mode} here lets a kernel signal its grader")
    outcome = _grade_full_answers_with("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", tmp_path)
    assert (outcome.result.score, outcome.result.status) == (10, "ok"), outcome.result.detail


@pytest.mark.notebook
def test_a_huge_exception_message_is_capped_in_the_autograded_notebook(tmp_path):
    outcome = _grade_full_answers_with("raise ValueError('x' * (20 * 1024**2))", tmp_path,
                                       Settings(cell_timeout=60, notebook_timeout=120, sandbox=SANDBOX))
    assert (outcome.result.score, outcome.result.status) == (10, "ok"), outcome.result.detail
    assert len(outcome.notebook_json) < 1024**2
    assert "more characters dropped" in outcome.notebook_json


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_disarmed(tmp_path):
    from autograder.batch import write_csv

    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.append({"student_id": "=HYPERLINK(\"http://x\")", "assignment": "lab9_fixture", "notebook": "@SUM(A1)",
                   "score": 0.0, "max_score": 10.0, "status": "invalid", "detail": "+1 cell", "hash": "h", "tests": {}})
    write_csv(tmp_path, ledger)
    row = _rows(tmp_path)[0]
    assert (row["student_id"], row["notebook"], row["detail"]) == ("'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'+1 cell")


#: A student cell after the first test prints the input history and the line cache, base64-encoded.
HISTORY_LEAK = """
import base64, linecache
print(base64.b64encode(repr(list(In)).encode()).decode())
print(base64.b64encode(repr([entry[2] for entry in linecache.cache.values()]).encode()).decode())
"""


@pytest.mark.notebook
def test_hidden_tests_cannot_be_printed_from_the_history_or_line_cache_in_any_base64_alignment(tmp_path):
    import base64
    import re

    outcome = _grade_full_answers_with(HISTORY_LEAK, tmp_path)
    assert (outcome.result.score, outcome.result.status) == (10, "ok"), outcome.result.detail
    printed = "".join(output.get("text", "") for cell in nbformat.reads(outcome.notebook_json, as_version=4).cells
                      for output in cell.get("outputs", []))
    tokens = re.findall(r"[A-Za-z0-9+/=]{40,}", printed)
    assert len(tokens) == 2, "the leaking cell did not run"
    decoded = "".join(base64.b64decode(token + "=" * (-len(token) % 4)).decode(errors="replace") for token in tokens)
    assert "square" in decoded or "def " in decoded, "the decoded history holds nothing at all"
    assert not any(snippet in decoded for snippet in HIDDEN_SNIPPETS + ["test_square"])


@pytest.mark.notebook
def test_the_graded_notebook_shows_each_output_as_its_last_redraw_left_it(tmp_path):
    outcome = _grade_full_answers_with("for step in range(3):\n    print(f'\\rstep {step}', end='')\nprint(' done')",
                                       tmp_path)
    assert outcome.result.score == 10
    notebook = nbformat.reads(outcome.notebook_json, as_version=4)
    shown = [output["text"] for cell in notebook.cells if "for step in range(3)" in cell.source
             for output in cell.outputs]
    assert shown == ["step 2 done\n"]


@pytest.mark.notebook
def test_a_row_graded_without_isolation_says_so_and_is_graded_again_with_isolation(tmp_path):
    course = _course(tmp_path)
    _write_submissions(tmp_path / "submissions", ["full"])
    unisolated = Settings(notebook_timeout=40, cell_timeout=8, sandbox="none")
    grade_batch(tmp_path / "submissions", tmp_path / "out", course, workers=1, settings=unisolated,
                show_progress=False)
    (row,) = [r for r in _rows(tmp_path / "out") if r["notebook"] == fixtures.NOTEBOOK]
    assert UNISOLATED_NOTE in row["detail"] and row["score"] == "10"
    if not isolation_available():
        pytest.skip(NO_ISOLATION)
    summary = grade_batch(tmp_path / "submissions", tmp_path / "out", course, workers=1, settings=SETTINGS,
                          show_progress=False)
    assert summary.graded == 1, "a row graded without isolation must be graded again when isolation exists"
    (row,) = [r for r in _rows(tmp_path / "out") if r["notebook"] == fixtures.NOTEBOOK]
    assert UNISOLATED_NOTE not in row["detail"] and row["score"] == "10"
