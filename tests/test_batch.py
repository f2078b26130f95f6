"""autograder.batch: a class graded into a signed ledger, CSV, feedback and gradebook, resumed after kills, regraded only on change."""

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
from autograder.sandbox import isolation_available, throwaway_user_problem
from autograder.settings import Settings
from autograder.submissions import course_from_sources
from grading_helpers import (
    HIDDEN_SNIPPETS,
    NO_ISOLATION,
    SANDBOX,
    SETTINGS,
    fixture_course,
    grades_csv_rows,
    processes_running,
    write_submissions,
)


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


BATCH = ["full", "partial", "blank", "invalid_json", "odd_file_name", "stderr_warnings", "colab_copy"]


def _vandal(out: Path, submissions: Path, source: Path) -> bytes:
    """A submission that tries to rewrite the gradebook, the ledger and its key, another student's feedback and
    submission, and the solution source."""
    targets = [out / "gradebook.db", out / "feedback" / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.html",
               submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb", out / "grades.csv",
               out / ".grading" / "ledger.jsonl", out / ".grading" / "ledger.key", source]
    code = "for target in %r:\n    try:\n        open(target, 'w').write('owned')\n    except OSError:\n        pass" % [
        str(t) for t in targets]
    notebook = fixtures._insert_after(fixtures.with_answers(fixtures.SOLUTIONS), "test_clip_unit", code)
    return nbformat.writes(notebook).encode()


@pytest.mark.notebook
def test_a_batch_writes_csv_feedback_gradebook_and_exports_then_regrades_only_changes(tmp_path):
    course = fixture_course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_submissions(submissions, BATCH)
    (submissions / "absent" / fixtures.OTHER_ASSIGNMENT).mkdir(parents=True)
    (submissions / "absent" / fixtures.OTHER_ASSIGNMENT / "notes.txt").write_text("no notebook here")
    full_before = (submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").read_bytes()
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in submissions.rglob("*"):
            if path.is_file():
                bundle.write(path, path.relative_to(submissions))

    summary = grade_batch(archive, out, course, workers=2, settings=SETTINGS, show_progress=False)

    rows = {(r["student_id"], r["notebook"]): r for r in grades_csv_rows(out)}
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
    assert {(r["student_id"], r["score"]) for r in grades_csv_rows(out)} >= {("blank", "10"), ("partial", "7")}
    assert len(grades_csv_rows(out)) == 7


def _path_without(program: str, folder: Path) -> str:
    """A PATH in which ``program`` does not exist: links to everything else on this PATH, in ``folder``."""
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for found in Path(directory).glob("*") if Path(directory).is_dir() else []:
            if found.name != program and not (folder / found.name).exists():
                (folder / found.name).symlink_to(found)
    return str(folder)


@pytest.mark.notebook
@pytest.mark.parametrize("sandbox", ["none", "none as the grader's own user", "auto"])
def test_student_code_cannot_touch_the_records_or_another_submission(sandbox, tmp_path, monkeypatch):
    """Isolated, or graded as root without a sandbox, the kernel cannot write them; graded as the grader's own user
    (``--sandbox none``, not root: here forced by hiding setpriv) it can, and the coordinator puts them back."""
    if sandbox == "auto" and not isolation_available():
        pytest.skip(NO_ISOLATION)
    if sandbox == "none as the grader's own user":
        monkeypatch.setenv("PATH", _path_without("setpriv", tmp_path / "bin"))
    exposed = bool(throwaway_user_problem()) and sandbox != "auto"
    settings = dataclasses.replace(SETTINGS, sandbox="auto" if sandbox == "auto" else "none")
    course = fixture_course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_submissions(submissions, ["full", "partial"])
    full_before = (submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").read_bytes()
    grade_batch(submissions, out, course, workers=1, settings=settings, show_progress=False)
    vandal = submissions / "vandal" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb"
    vandal.parent.mkdir(parents=True)
    source = course.sources[(fixtures.ASSIGNMENT, fixtures.NOTEBOOK)]
    source_before = source.read_bytes()
    vandal.write_bytes(_vandal(out, submissions, source))

    summary = grade_batch(submissions, out, course, workers=1, settings=settings, show_progress=False)

    assert summary.graded == 1
    assert {r["student_id"]: (r["score"], r["status"]) for r in grades_csv_rows(out)} == {
        "full": ("10", "ok"), "partial": ("7", "ok"), "vandal": ("10", "ok")}
    repairs = [note for note in summary.notes if note.startswith("Student code changed")]
    assert len(repairs) == (3 if exposed else 0), summary.notes
    assert Ledger(out / ".grading" / "ledger.jsonl").rejected == 0
    assert source.read_bytes() == source_before
    assert (submissions / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").read_bytes() == full_before
    for target in [out / "gradebook.db", out / "feedback" / "full" / fixtures.ASSIGNMENT / "Part1_Fixture.html"]:
        assert not target.read_bytes().startswith(b"owned")
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions(fixtures.ASSIGNMENT)}
    assert scores == {"full": 10, "partial": 7, "vandal": 10}


@pytest.mark.notebook
def test_a_damaged_gradebook_and_forged_ledger_lines_are_repaired_from_the_signed_ledger(tmp_path):
    course = fixture_course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_submissions(submissions, ["full", "partial"])
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
    assert {r["student_id"]: r["score"] for r in grades_csv_rows(out)} == {"full": "10", "partial": "7"}
    assert len(list(out.glob("gradebook.db.damaged-*"))) == 1
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions(fixtures.ASSIGNMENT)}
    assert scores == {"full": 10, "partial": 7}


def _needing_a_person(out: Path, student: str) -> set[str]:
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gradebook:
        submitted = gradebook.find_submission_notebook(fixtures.NOTEBOOK, fixtures.ASSIGNMENT, student)
        return {grade.name for grade in submitted.grades if grade.needs_manual_grade}


@pytest.mark.notebook
def test_tests_passed_after_code_that_can_forge_a_pass_are_withheld_for_a_person_in_every_record(tmp_path):
    course = fixture_course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_submissions(submissions, ["full", "hunted_both_guards"])

    grade_batch(submissions, out, course, workers=1, settings=SETTINGS, show_progress=False)

    rows = {r["student_id"]: r for r in grades_csv_rows(out)}
    assert (rows["full"]["score"], rows["hunted_both_guards"]["score"]) == ("10", "0")
    tests = "test_square, test_mean_rows, test_clip_unit"
    assert f"withheld until reviewed (0 points until then): {tests}" in rows["hunted_both_guards"]["manual_grading"]
    assert "withheld" not in rows["full"]["manual_grading"]
    assert _needing_a_person(out, "hunted_both_guards") == {"test_square", "test_mean_rows", "test_clip_unit"}
    assert _needing_a_person(out, "full") == {fixtures.DISCUSSION_ID}
    results = json.loads((out / "gradescope" / "hunted_both_guards" / fixtures.ASSIGNMENT / "results.json").read_text())
    assert f"until your instructor has reviewed it: Part1_Fixture: {tests}" in results["output"]
    assert "passed tests are withheld" in (out / "report.html").read_text()

    (out / "gradebook.db").write_bytes(b"owned" * 100)
    grade_batch(submissions, out, course, workers=1, settings=SETTINGS, show_progress=False)
    assert _needing_a_person(out, "hunted_both_guards") == {"test_square", "test_mean_rows", "test_clip_unit"}


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
    write_submissions(submissions, ["full"])
    other = submissions / "full" / fixtures.OTHER_ASSIGNMENT / "Copy of Part1_Other.ipynb"
    other.parent.mkdir(parents=True)
    other.write_text("{}")
    grade_batch(submissions, tmp_path / "out", course, workers=1, settings=SETTINGS, show_progress=False)
    rows = {(r["assignment"], r["notebook"]): (r["score"], r["max_score"], r["status"]) for r in grades_csv_rows(tmp_path / "out")}
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
            for r in grades_csv_rows(tmp_path / "out")}
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
    course = fixture_course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    names = ["full", "partial", "blank", "stderr_warnings"]
    write_submissions(submissions, names)
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
    rows = grades_csv_rows(out)
    assert sorted(r["student_id"] for r in rows) == sorted(names)
    assert {r["student_id"]: r["score"] for r in rows} == {"full": "10", "partial": "7", "blank": "0",
                                                          "stderr_warnings": "10"}
    assert left_behind and not any(folder.exists() for folder in left_behind)


@pytest.mark.notebook
def test_dask_cluster_grades_with_the_coordinator_as_only_writer(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    course = fixture_course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_submissions(submissions, ["full", "partial"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = grade_batch(submissions, out, course, settings=SETTINGS, scheduler=cluster.scheduler_address,
                              show_progress=False)
    assert summary.graded == 2
    assert {r["student_id"]: r["score"] for r in grades_csv_rows(out)} == {"full": "10", "partial": "7"}


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
    course = fixture_course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_submissions(submissions, ["full", "partial"])
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
    rows = {r["student_id"]: (r["score"], r["status"]) for r in grades_csv_rows(out)}
    assert rows == {"full": ("10", "ok"), "partial": ("7", "ok"), "victim": ("0", "error")}
    detail = next(r["detail"] for r in grades_csv_rows(out) if r["student_id"] == "victim")
    assert detail.endswith("times; run labs grade again") and detail.count("labs grade again") == 1, detail
    assert _orphaned_kernels(since) == [], "a kernel outlived its worker"
    assert processes_running(marker) == []
    again, _ = grade_while_killing_the_victims_worker()
    assert (again.graded, again.skipped) == (1, 2), "an error row is graded again on the next run"


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_disarmed(tmp_path):
    from autograder.batch import write_csv

    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.append({"student_id": "=HYPERLINK(\"http://x\")", "assignment": "lab9_fixture", "notebook": "@SUM(A1)",
                   "score": 0.0, "max_score": 10.0, "status": "invalid", "detail": "+1 cell", "hash": "h", "tests": {}})
    write_csv(tmp_path, ledger)
    row = grades_csv_rows(tmp_path)[0]
    assert (row["student_id"], row["notebook"], row["detail"]) == ("'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'+1 cell")


@pytest.mark.notebook
def test_a_row_graded_without_isolation_says_so_and_is_graded_again_with_isolation(tmp_path):
    course = fixture_course(tmp_path)
    write_submissions(tmp_path / "submissions", ["full"])
    unisolated = Settings(notebook_timeout=40, cell_timeout=8, sandbox="none")
    grade_batch(tmp_path / "submissions", tmp_path / "out", course, workers=1, settings=unisolated,
                show_progress=False)
    (row,) = [r for r in grades_csv_rows(tmp_path / "out") if r["notebook"] == fixtures.NOTEBOOK]
    assert UNISOLATED_NOTE in row["detail"] and row["score"] == "10"
    if not isolation_available():
        pytest.skip(NO_ISOLATION)
    summary = grade_batch(tmp_path / "submissions", tmp_path / "out", course, workers=1, settings=SETTINGS,
                          show_progress=False)
    assert summary.graded == 1, "a row graded without isolation must be graded again when isolation exists"
    (row,) = [r for r in grades_csv_rows(tmp_path / "out") if r["notebook"] == fixtures.NOTEBOOK]
    assert UNISOLATED_NOTE not in row["detail"] and row["score"] == "10"
