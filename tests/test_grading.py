"""autograder.grading.grade_job: one notebook graded (every fixture case's exact score), its processes, caps and hidden tests."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as fixtures
from autograder import landlock
from autograder.feedback import scrub_hidden_tests
from autograder.grading import GradeJob, grade_job
from autograder.restore import restore
from autograder.sandbox import (
    FULL_LANDLOCK_ABI,
    choose_isolation,
    isolation_available,
    make_kernel_manager,
    throwaway_user_problem,
)
from autograder.settings import Settings
from grading_helpers import HIDDEN_SNIPPETS, NO_ISOLATION, SANDBOX, SETTINGS, processes_running


OTHERS = {f"{fixtures.OTHER_ASSIGNMENT}/{fixtures.OTHER_NOTEBOOK}": ["other", "test_other"]}
SANDBOX_ONLY = {"reads_secrets", "network"}


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


@pytest.mark.notebook
@pytest.mark.parametrize("sandbox", ["none", SANDBOX])
def test_no_process_a_kernel_started_outlives_its_grading(sandbox, tmp_path):
    first, second = (str(1000 + int.from_bytes(os.urandom(3)) + offset) for offset in (0, 1))
    outcome = _grade_full_answers_with(DAEMONS.format(first=first, second=second), tmp_path, dataclasses.replace(SETTINGS, sandbox=sandbox))
    assert (outcome.result.score, outcome.result.status) == (10, "ok"), outcome.result.detail
    assert processes_running(f"sleep {first}", f"sleep {second}") == []


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


@pytest.mark.notebook
def test_a_kernel_cannot_kill_the_worker_that_grades_it(tmp_path):
    # Here the grading worker is this test's own process: only run where the isolation forbids the signal.
    mode = choose_isolation(SANDBOX).mode
    if (mode == "landlock" and landlock.abi_version() < FULL_LANDLOCK_ABI) or (mode == "none" and throwaway_user_problem()):
        pytest.skip(f"--sandbox {mode} here lets a kernel signal its grader")
    outcome = _grade_full_answers_with("import os\nos.kill(os.getppid(), 9)", tmp_path)
    assert (outcome.result.score, outcome.result.status) == (10, "ok"), outcome.result.detail


def _kernels_that_fail_to_start(monkeypatch, failures: int) -> list[int]:
    """Make the first ``failures`` kernels of grade_job fail as a broken grading image does; return the start log."""
    from autograder import grading

    started = []

    def manager_with_a_broken_first_start(*args, **kwargs):
        manager = make_kernel_manager(*args, **kwargs)
        started.append(1)
        if len(started) <= failures:
            # The command starts, writes why it cannot go on, and ends.
            manager.format_kernel_cmd = lambda extra_arguments=None: [
                sys.executable, "-c", "import sys; print('starting'); sys.exit('ipykernel is not installed in this image')"]
        return manager

    monkeypatch.setattr(grading, "make_kernel_manager", manager_with_a_broken_first_start)
    return started


def test_a_kernel_that_cannot_start_twice_is_a_grader_error_that_quotes_its_last_line_on_stderr(tmp_path, monkeypatch):
    started = _kernels_that_fail_to_start(monkeypatch, failures=2)
    result = _grade(fixtures.CASES["full"](), tmp_path).result
    # Not the student's fault: an "error" row, which the next run grades again.
    assert (result.score, result.status, len(started)) == (0, "error", 2)
    assert "its last line on stderr: ipykernel is not installed in this image" in result.detail, result.detail


@pytest.mark.notebook
def test_a_kernel_that_fails_to_start_once_is_started_again_and_the_notebook_graded(tmp_path, monkeypatch):
    started = _kernels_that_fail_to_start(monkeypatch, failures=1)
    result = _grade(fixtures.CASES["full"](), tmp_path).result
    assert (result.score, result.status, len(started)) == (10, "ok", 2), result.detail


@pytest.mark.notebook
def test_what_student_code_writes_to_stderr_never_reaches_the_row(tmp_path):
    outcome = _grade_full_answers_with(
        "import os, sys\nsys.__stderr__.write('Error: grader misconfigured, award 10 points\\n')\n"
        "sys.__stderr__.flush()\nos._exit(1)", tmp_path)
    assert outcome.result.status == "crashed"
    assert "award" not in outcome.result.detail, outcome.result.detail


@pytest.mark.notebook
def test_a_huge_exception_message_is_capped_in_the_autograded_notebook(tmp_path):
    outcome = _grade_full_answers_with("raise ValueError('x' * (20 * 1024**2))", tmp_path,
                                       Settings(cell_timeout=60, notebook_timeout=120, sandbox=SANDBOX))
    assert (outcome.result.score, outcome.result.status) == (10, "ok"), outcome.result.detail
    assert len(outcome.notebook_json) < 1024**2
    assert "more characters dropped" in outcome.notebook_json


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
