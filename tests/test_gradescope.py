"""The Gradescope autograder: the zip ``labs gradescope`` writes, unpacked into a root that mirrors /autograder/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as fixtures
from autograder.feedback import gradescope_results
from autograder.gradescope import CONFIG_NAME, PYTHON_VARIABLE, ROOT_VARIABLE, build_autograder, find_assignment
from autograder.submissions import course_from_sources
from labs_cli.cli import main

REPOSITORY = Path(__file__).resolve().parent.parent
HIDDEN_SNIPPETS = ["square([-2, 5])", "mean_rows(np.eye(2) * 4)", "clip_unit([3.0, -0.25, 0.75])", "HIDDEN TESTS"]
TEST_NAMES = [f"{fixtures.NOTEBOOK}: test_{name}" for name in ("square", "mean_rows", "clip_unit")]

# Gradescope's documented results.json fields (gradescope-autograders.readthedocs.io, "Autograder Specifications").
TOP_LEVEL_FIELDS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                    "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
               "visibility", "extra_data"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def check_gradescope_fields(results: dict) -> None:
    """Fail unless ``results`` uses only Gradescope's documented fields, each with a value of its documented kind."""
    assert set(results) <= TOP_LEVEL_FIELDS, set(results) - TOP_LEVEL_FIELDS
    assert isinstance(results["score"], (int, float)) and isinstance(results["execution_time"], int)
    assert isinstance(results["output"], str) and results.get("output_format", "text") in FORMATS
    assert results.get("stdout_visibility", "hidden") in VISIBILITIES and isinstance(results.get("extra_data", {}), dict)
    assert isinstance(results["tests"], list) and results["tests"]
    for test in results["tests"]:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert isinstance(test["name"], str) and isinstance(test["number"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"] or test["max_score"] == 0
        assert test["visibility"] in VISIBILITIES and test["status"] in {"passed", "failed"}
    assert results["score"] == pytest.approx(sum(test["score"] for test in results["tests"]))


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    course_root = fixtures.write_course(tmp_path_factory.mktemp("course"))
    course = course_from_sources(sorted(course_root.glob("lab*/solutions/*.ipynb")))
    return build_autograder(REPOSITORY, course, "lab9", tmp_path_factory.mktemp("zip"), cell_timeout=8,
                            notebook_timeout=40)


def _unpack(archive: Path, root: Path) -> Path:
    """Lay out ``root`` as Gradescope does: the zip in source/, run_autograder copied up, submission/ empty."""
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(root / "source")
        for entry in bundle.infolist():
            if entry.external_attr >> 16 & 0o111:
                os.chmod(root / "source" / entry.filename, 0o755)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def _run_autograder(root: Path) -> tuple[dict, str]:
    environment = dict(os.environ, **{ROOT_VARIABLE: str(root), PYTHON_VARIABLE: sys.executable})
    finished = subprocess.run([str(root / "run_autograder")], cwd=root, env=environment, capture_output=True,
                              text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    text = (root / "results" / "results.json").read_text()
    assert not any(snippet in text for snippet in HIDDEN_SNIPPETS)
    results = json.loads(text)
    return results, finished.stdout


def _grade_submission(archive: Path, tmp_path: Path, file_name: str, data: bytes) -> tuple[dict, str]:
    """Unpack the autograder, submit ``data`` as ``submission/<file_name>`` and run it; (results, stdout)."""
    root = _unpack(archive, tmp_path / "autograder")
    path = root / "submission" / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return _run_autograder(root)


def test_the_zip_holds_gradescopes_two_scripts_the_sources_and_this_package_at_its_version(autograder_zip, tmp_path):
    from autograder.gradescope import package_version

    version = package_version(REPOSITORY)
    with zipfile.ZipFile(autograder_zip) as bundle:
        names = set(bundle.namelist())
        modes = {entry.filename: entry.external_attr >> 16 for entry in bundle.infolist()}
        setup, run = bundle.read("setup.sh").decode(), bundle.read("run_autograder").decode()
        config = json.loads(bundle.read(CONFIG_NAME))
        bundle.extract(f"dist/intro_deep_learning_labs-{version}.tar.gz", tmp_path)
    assert {"setup.sh", "run_autograder", f"course/{fixtures.ASSIGNMENT}/solutions/{fixtures.NOTEBOOK}.ipynb"} <= names
    assert f"course/{fixtures.OTHER_ASSIGNMENT}/solutions/{fixtures.OTHER_NOTEBOOK}.ipynb" not in names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    for script in ("setup.sh", "run_autograder"):
        (tmp_path / script).write_text(setup if script == "setup.sh" else run)
        assert subprocess.run(["bash", "-n", str(tmp_path / script)]).returncode == 0, f"{script} is not valid bash"
    assert f'dist/intro_deep_learning_labs-{version}.tar.gz[grading]"' in setup and "python3 -m venv" in setup
    assert config == {"assignment": fixtures.ASSIGNMENT, "package": "intro-deep-learning-labs", "version": version,
                      "cell_timeout": 8, "notebook_timeout": 40}
    with tarfile.open(tmp_path / "dist" / f"intro_deep_learning_labs-{version}.tar.gz") as archive:
        members = set(archive.getnames())
    base = f"intro_deep_learning_labs-{version}"
    assert {f"{base}/pyproject.toml", f"{base}/labs/checks.py", f"{base}/autograder/grading.py",
            f"{base}/autograder/gradescope.py"} <= members
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in members)


@pytest.mark.notebook
def test_a_solution_saved_by_colab_scores_full_marks_with_every_test_visible_after_publication(autograder_zip, tmp_path):
    results, stdout = _grade_submission(autograder_zip, tmp_path, f"Copy of {fixtures.NOTEBOOK}.ipynb",
                                        fixtures.CASES["full"]().data)
    assert results["score"] == 10
    assert [(t["name"], t["number"], t["score"], t["max_score"], t["status"], t["visibility"]) for t in results["tests"]] == [
        (TEST_NAMES[0], "1.1", 2, 2, "passed", "after_published"),
        (TEST_NAMES[1], "1.2", 3, 3, "passed", "after_published"),
        (TEST_NAMES[2], "1.3", 5, 5, "passed", "after_published")]
    assert "[PASS] square of [1, 2, 3]" in results["tests"][0]["output"]
    assert "test_square (2 points): visible checks passed" in results["output"]
    assert "Student code runs with" in stdout and "10/10 (ok)" in stdout


@pytest.mark.notebook
def test_a_blank_notebook_scores_zero_and_says_which_visible_checks_failed(autograder_zip, tmp_path):
    results, _ = _grade_submission(autograder_zip, tmp_path, f"{fixtures.NOTEBOOK}.ipynb",
                                   fixtures.CASES["blank"]().data)
    assert results["score"] == 0 and [t["status"] for t in results["tests"]] == ["failed"] * 3
    assert "test_square (2 points): visible checks failed: NameError: name 'square' is not defined" in results["output"]
    assert all("the hidden tests did not run" in t["output"] for t in results["tests"])


@pytest.mark.notebook
def test_a_partly_right_notebook_in_a_folder_is_recognised_by_its_cells_and_hides_which_hidden_test_failed(
        autograder_zip, tmp_path):
    results, _ = _grade_submission(autograder_zip, tmp_path, "my work/homework.ipynb",
                                   fixtures.CASES["visible_only"]().data)
    assert results["score"] == 7
    assert {t["name"]: (t["score"], t["status"]) for t in results["tests"]} == {
        TEST_NAMES[0]: (2, "passed"), TEST_NAMES[1]: (0, "failed"), TEST_NAMES[2]: (5, "passed")}
    mean_rows = results["tests"][1]
    assert mean_rows["visibility"] == "after_published" and "hidden tests failed" in mean_rows["output"]
    assert "[PASS] row means" in mean_rows["output"]
    assert "recognised as Part1_Fixture.ipynb by its cells" in results["output"]
    assert "test_mean_rows (3 points): visible checks passed" in results["output"]
    assert "failed tests" not in results["output"] and "hidden tests failed" not in results["output"]


@pytest.mark.notebook
def test_a_broken_file_scores_zero_and_the_missing_notebook_is_listed(autograder_zip, tmp_path):
    results, _ = _grade_submission(autograder_zip, tmp_path, f"{fixtures.NOTEBOOK}.ipynb",
                                   fixtures.CASES["invalid_json"]().data)
    assert results["score"] == 0
    assert [(t["name"], t["visibility"]) for t in results["tests"]] == [(fixtures.NOTEBOOK, "visible")]
    assert "not valid JSON" in results["tests"][0]["output"] and results["tests"][0]["max_score"] == 10


def test_an_empty_submission_lists_every_notebook_as_not_submitted(autograder_zip, tmp_path):
    root = _unpack(autograder_zip, tmp_path / "autograder")
    results, _ = _run_autograder(root)
    assert [(t["name"], t["score"], t["max_score"]) for t in results["tests"]] == [(fixtures.NOTEBOOK, 0, 10)]
    assert "was not submitted" in results["tests"][0]["output"]


def test_labs_grade_results_keep_their_format_with_numbers_and_statuses():
    rows = [{"notebook": "Part1", "score": 2.0, "max_score": 5.0, "status": "ok", "detail": "failed tests: b",
             "tests": {"a": (2.0, 2.0), "b": (0.0, 3.0)}}]
    results = json.loads(gradescope_results(rows))
    assert [(t["name"], t["number"], t["status"], t["visibility"]) for t in results["tests"]] == [
        ("Part1: a", "1.1", "passed", "visible"), ("Part1: b", "1.2", "failed", "visible")]
    assert results["score"] == 2 and results["output"] == "Part1: 2/5 (ok)"


def test_the_lab_is_named_by_its_folder_or_a_unique_start_of_it(tmp_path):
    course = course_from_sources(sorted(fixtures.write_course(tmp_path).glob("lab*/solutions/*.ipynb")))
    assert find_assignment(course, "lab9") == find_assignment(course, "lab9_fixture") == fixtures.ASSIGNMENT
    with pytest.raises(ValueError, match="no single lab matches 'lab'"):
        find_assignment(course, "lab")


def test_labs_gradescope_writes_the_zip_of_a_real_lab_and_refuses_an_unknown_one(tmp_path, capsys):
    assert main(["--course", str(REPOSITORY), "gradescope", "lab1", "--out", str(tmp_path)]) == 0
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        assert "course/lab1_music/solutions/Part1_TensorFlow.ipynb" in bundle.namelist()
        assert nbformat.reads(bundle.read("course/lab1_music/solutions/Part1_TensorFlow.ipynb").decode(), as_version=4)
    assert "keep it private" in capsys.readouterr().out
    assert main(["--course", str(REPOSITORY), "gradescope", "lab7", "--out", str(tmp_path)]) == 2
    assert "no single lab matches 'lab7'" in capsys.readouterr().err


def _test_cell(grade_id: str, source: str, outputs: list, executed: bool = True) -> nbformat.NotebookNode:
    meta = {"grade": True, "grade_id": grade_id, "points": 1, "solution": False, "locked": True, "schema_version": 3}
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta}, execution_count=1 if executed else None)
    cell.outputs = [nbformat.from_dict(output) for output in outputs]
    return cell


def _error(line: int, message: str) -> dict:
    return {"output_type": "error", "ename": "AssertionError", "evalue": message,
            "traceback": ["\x1b[31mAssertionError\x1b[39m", f"\x1b[36mCell\x1b[39m \x1b[32mIn[7]\x1b[39m\x1b[32m, line {line}\x1b[39m\n"
                          "----> assert secret_value(3) == 9"]}


def test_each_test_cell_is_reported_by_where_it_failed_without_hidden_text():
    from autograder.gradescope import cell_reports

    hidden = "check(1)\n### BEGIN HIDDEN TESTS\nassert secret_value(3) == 9\n### END HIDDEN TESTS"
    stdout = {"output_type": "stream", "name": "stdout", "text": "[PASS] one\nassert secret_value(3) == 9\n"}
    notebook = nbformat.v4.new_notebook(cells=[
        _test_cell("plain", "check(1)\ncheck(2)", [_error(2, "[FAIL] two")]),
        _test_cell("hidden_failed", hidden, [stdout, _error(3, "secret_value(3) was 8, not 9")]),
        _test_cell("visible_failed", hidden, [_error(1, "[FAIL] one")]),
        _test_cell("never_ran", hidden, [], executed=False),
        _test_cell("passed", hidden, [stdout]),
    ])
    tests = {"plain": (0.0, 1.0), "hidden_failed": (0.0, 1.0), "visible_failed": (0.0, 1.0), "never_ran": (0.0, 1.0),
             "passed": (1.0, 1.0)}
    source = nbformat.v4.new_notebook(cells=[_test_cell("hidden_failed", hidden, [])])
    reports = cell_reports(nbformat.writes(notebook), source, "Part1", tests)
    summary = {grade_id: (r.hidden, r.visible_result) for (_, grade_id), r in reports.items()}
    assert summary == {"plain": (False, "failed: AssertionError: [FAIL] two"), "hidden_failed": (True, "passed"),
                       "visible_failed": (True, "failed: AssertionError: [FAIL] one"),
                       "never_ran": (True, "not run (see the notes in the submission's output)"), "passed": (True, "passed")}
    text = json.dumps([r.output for r in reports.values()])
    assert "secret_value" not in text and "was 8" not in text
    assert reports[("Part1", "hidden_failed")].output.startswith("[PASS] one\n[hidden test line]\nfailed: hidden tests")
    results = json.loads(gradescope_results([{"notebook": "Part1", "score": 1.0, "max_score": 5.0, "status": "ok",
                                              "detail": "failed tests: plain", "tests": tests}], reports, 3.4))
    check_gradescope_fields(results)
    assert [t["visibility"] for t in results["tests"]] == ["visible"] + ["after_published"] * 4
    assert results["execution_time"] == 3 and "failed tests" not in results["output"]


def test_the_installed_package_must_be_the_version_that_built_the_autograder(autograder_zip, tmp_path):
    root = _unpack(autograder_zip, tmp_path / "autograder")
    check = [sys.executable, "-m", "autograder.gradescope", "check", "--root", str(root)]
    assert subprocess.run(check, capture_output=True).returncode == 0
    config = json.loads((root / "source" / CONFIG_NAME).read_text())
    (root / "source" / CONFIG_NAME).write_text(json.dumps(dict(config, version="0.0.1")))
    finished = subprocess.run(check, capture_output=True, text=True)
    assert finished.returncode == 1 and "this autograder was built with 0.0.1; run setup.sh again" in finished.stderr


def test_when_the_grader_itself_fails_gradescope_gets_a_results_file_that_blames_the_grader(autograder_zip, tmp_path):
    root = _unpack(autograder_zip, tmp_path / "autograder")
    (root / "source" / CONFIG_NAME).unlink()
    environment = dict(os.environ, **{ROOT_VARIABLE: str(root), PYTHON_VARIABLE: sys.executable})
    finished = subprocess.run([str(root / "run_autograder")], cwd=root, env=environment, capture_output=True, text=True)
    assert finished.returncode != 0 and "labs_gradescope.json is missing" in finished.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["tests"] == [] and "The autograder failed, not your notebook" in results["output"]
    assert set(results) <= TOP_LEVEL_FIELDS


def test_the_sources_can_be_deleted_before_student_code_runs_and_the_results_still_count_every_notebook(
        autograder_zip, tmp_path):
    from autograder.gradescope import grade_submission

    root = _unpack(autograder_zip, tmp_path / "autograder")
    results = grade_submission(root, forget_sources=True)
    assert not (root / "source" / "course").exists()
    assert [(t["name"], t["max_score"]) for t in results["tests"]] == [(fixtures.NOTEBOOK, 10)]
    assert json.loads((root / "results" / "results.json").read_text()) == results


def test_a_notebook_whose_kernel_did_not_start_tells_the_student_to_tell_the_instructor(autograder_zip, tmp_path,
                                                                                         monkeypatch):
    from autograder import grading
    from autograder.gradescope import grade_submission

    def failed_start(job):
        return grading.GradeOutcome(grading.GradeResult(
            0.0, 10, "error", "the grader failed, not the notebook: the kernel did not start (Kernel died), 2 times"))

    monkeypatch.setattr(grading, "grade_job", failed_start)
    root = _unpack(autograder_zip, tmp_path / "autograder")
    (root / "submission" / f"{fixtures.NOTEBOOK}.ipynb").write_bytes(fixtures.CASES["full"]().data)
    results = grade_submission(root)
    assert results["score"] == 0
    assert "tell your instructor (your submission was kept)" in json.dumps(results)
