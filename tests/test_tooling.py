"""The notebook tooling on a tiny generated lab: build, small runs, errors, CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from autograder.build import REPOSITORY_URL, build, colab_url, setup_prelude
from autograder.execute import run_notebook
from autograder.notebooks import NotebookError, inject_small_values, read_notebook, small_run_values
from notebook_factory import tiny_source, write_tiny_lab


def _source_text(notebook) -> str:
    return "\n".join(cell.source for cell in notebook.cells)


def test_build_writes_a_student_version_with_stubs_and_no_hidden_tests(tiny_lab: Path):
    built, errors = build(tiny_lab, show_progress=False)
    assert errors == []
    student = read_notebook(built[0])
    text = _source_text(student)
    assert built[0] == tiny_lab / "lab9_tiny" / "Part1_Tiny.ipynb"
    assert "raise NotImplementedError(" in text
    assert "return 2 * np.asarray(values)" not in text
    assert "double([-7])" not in text, "hidden test leaked"
    assert "double([1, 2])" in text, "visible test lost"
    assert colab_url("lab9_tiny/Part1_Tiny.ipynb") in student.cells[0].source


def test_build_stamps_the_repository_url_and_badges_into_sources_and_readme(tiny_lab: Path):
    source = tiny_lab / "lab9_tiny" / "solutions" / "Part1_Tiny.ipynb"
    notebook = read_notebook(source)
    notebook.cells[1].source = notebook.cells[1].source.replace(REPOSITORY_URL, "https://example.invalid/old")
    nbformat.write(notebook, source)
    build(tiny_lab, show_progress=False)
    stamped = read_notebook(source)
    assert stamped.cells[1].source.startswith(setup_prelude())
    assert colab_url("lab9_tiny/solutions/Part1_Tiny.ipynb") in stamped.cells[0].source
    assert colab_url("lab9_tiny/Part1_Tiny.ipynb") in (tiny_lab / "README.md").read_text()


@pytest.mark.parametrize("title_cell", ["# Tiny lab\n\nA notebook for testing the tooling.", "# Title only"])
def test_build_is_idempotent(tiny_lab: Path, title_cell: str):
    notebook = tiny_source()
    notebook.cells[0].source = title_cell
    write_tiny_lab(tiny_lab, notebook)
    build(tiny_lab, show_progress=False)
    first = {path: path.read_text() for path in tiny_lab.rglob("*.ipynb")}
    build(tiny_lab, show_progress=False)
    assert {path: path.read_text() for path in tiny_lab.rglob("*.ipynb")} == first


def test_one_broken_source_is_reported_and_the_others_still_build(tiny_lab: Path):
    broken = tiny_source()
    broken.cells[2].metadata["tags"] = []  # no parameters cell any more
    write_tiny_lab(tiny_lab, broken, name="Part2_Broken")
    built, errors = build(tiny_lab, show_progress=False)
    assert [path.name for path in built] == ["Part1_Tiny.ipynb"]
    assert len(errors) == 1 and "Part2_Broken" in errors[0] and "parameters" in errors[0]


def test_small_values_are_injected_after_the_parameters_cell():
    notebook = inject_small_values(tiny_source())
    assert notebook.cells[3].metadata["tags"] == ["injected-parameters"]
    assert "num_steps = 5" in notebook.cells[3].source
    assert "Small run" in notebook.cells[3].source


def test_small_values_must_name_parameters_the_cell_assigns():
    notebook = tiny_source()
    notebook.cells[2].source = "num_steps = 10\nSMALL_RUN_VALUES = {'num_stepz': 1}"
    with pytest.raises(NotebookError, match="num_stepz"):
        small_run_values(notebook)


@pytest.mark.parametrize(
    "content, reason",
    [("", "empty"), ("{not json", "not valid JSON"), (json.dumps({"nbformat": 3, "cells": []}), "format 3")],
)
def test_unreadable_notebooks_get_one_sentence(tmp_path: Path, content: str, reason: str):
    path = tmp_path / "bad.ipynb"
    path.write_text(content)
    with pytest.raises(NotebookError, match=reason):
        read_notebook(path)


@pytest.mark.notebook
def test_run_saves_the_executed_copy_and_artifacts(tiny_lab: Path, tmp_path: Path):
    notebook = tiny_source([nbformat.v4.new_code_cell("open('artifact.txt', 'w').write(str(total))")])
    source = write_tiny_lab(tiny_lab, notebook, name="Part3_Artifact")
    result = run_notebook(source, tmp_path / "out", small=True, show_progress=False)
    assert result.ok, result.first_error()
    assert (tmp_path / "out" / "Part3_Artifact" / "artifact.txt").read_text() == "10"
    executed = read_notebook(result.output)
    printed = "".join(output.get("text", "") for cell in executed.cells for output in cell.get("outputs", []))
    assert "Small run" in printed and "[PASS] double" in printed


@pytest.mark.notebook
def test_a_failing_run_names_the_cell_and_keeps_what_ran_under_an_incomplete_name(tiny_lab: Path, tmp_path: Path):
    notebook = tiny_source([
        nbformat.v4.new_code_cell("open('artifact.txt', 'w').write('half')"),
        nbformat.v4.new_code_cell("raise ValueError('the tune is empty')"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ])
    source = write_tiny_lab(tiny_lab, notebook, name="Part4_Fails")
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "labs_cli", "run", str(source), "--small", "--out", str(out)],
        capture_output=True, text=True, cwd=tiny_lab,
    )
    assert completed.returncode == 1
    last_line = completed.stderr.strip().splitlines()[-1]
    assert "Part4_Fails.ipynb" in last_line and "cell 9 " in last_line and "ValueError: the tune is empty" in last_line
    assert [path.name for path in out.iterdir()] == ["Part4_Fails.incomplete"]
    kept = out / "Part4_Fails.incomplete"
    assert str(kept / "Part4_Fails.incomplete.ipynb") in last_line
    assert (kept / "artifact.txt").read_text() == "half"
    executed = read_notebook(kept / "Part4_Fails.incomplete.ipynb")
    errors = [output for cell in executed.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert [error.evalue for error in errors] == ["the tune is empty"]
    assert not executed.cells[-1].get("outputs")


def test_run_with_a_wrong_path_exits_non_zero_with_one_line(tmp_path: Path):
    completed = subprocess.run(
        [sys.executable, "-m", "labs_cli", "run", str(tmp_path / "nope.ipynb")], capture_output=True, text=True
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0 and "no such notebook" in completed.stderr


def test_run_refuses_a_notebook_without_parameters_cell(tiny_lab: Path, tmp_path: Path):
    notebook = tiny_source()
    notebook.cells[2].metadata["tags"] = []
    source = write_tiny_lab(tiny_lab, notebook, name="Part5_NoParameters")
    with pytest.raises(NotebookError, match="no code cell tagged 'parameters'"):
        run_notebook(source, tmp_path / "out", small=True)
    assert not (tmp_path / "out").exists()


def test_help_starts_without_tensorflow_or_nbgrader():
    code = (
        "import sys, contextlib, io\n"
        "from labs_cli.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        "heavy = [name for name in ('tensorflow', 'nbgrader', 'nbclient', 'music21', 'gymnasium') if name in sys.modules]\n"
        "print(heavy)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_importing_labs_has_no_side_effects():
    code = "import sys, labs\nprint(sorted(m for m in ('tensorflow', 'nbgrader', 'matplotlib') if m in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]" and completed.stderr == ""


@pytest.mark.notebook
def test_demo_runs_and_grades_the_written_parts_and_lists_the_missing_ones(tmp_path: Path, capsys, monkeypatch):
    from autograder.demo import COURSE, demo

    (tmp_path / "pyproject.toml").write_text("")
    write_tiny_lab(tmp_path)
    part1 = tmp_path / "lab1_music" / "solutions" / "Part1_TensorFlow.ipynb"
    part1.parent.mkdir(parents=True)
    (tmp_path / "lab9_tiny" / "solutions" / "Part1_Tiny.ipynb").rename(part1)
    monkeypatch.chdir(tmp_path)
    exit_code = demo(tmp_path, Path("runs"), grade=True)  # relative, as `labs demo` passes it
    table = capsys.readouterr().out
    assert exit_code == 0, table
    row = next(line for line in table.splitlines() if "Part1_TensorFlow" in line)
    assert "| ok " in row and "| 3 / 3" in row
    missing_rows = [line for line in table.splitlines() if "not written yet" in line]
    assert len(missing_rows) == sum(len(parts) for parts in COURSE.values()) - 1
    assert (tmp_path / "lab1_music" / "Part1_TensorFlow.ipynb").exists()


def _without_the_grading_extra(folder: Path) -> dict[str, str]:
    """An environment whose Python cannot import what only the grading extra installs."""
    blocker = folder / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('nbgrader', 'nbconvert'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    return dict(os.environ, PYTHONPATH=str(folder))


@pytest.mark.notebook
def test_labs_run_needs_only_the_base_install(tiny_lab: Path, tmp_path: Path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    source = tiny_lab / "lab9_tiny" / "solutions" / "Part1_Tiny.ipynb"
    completed = subprocess.run([sys.executable, "-m", "labs_cli", "run", str(source), "--small", "--out",
                                str(tmp_path / "runs")], capture_output=True, text=True,
                               env=_without_the_grading_extra(blocked))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert list((tmp_path / "runs").rglob("*.ipynb")), completed.stdout[-2000:]


@pytest.mark.parametrize("command", [["build"], ["release", "--out", "OUT"], ["grade", "SUBMISSIONS", "--out", "OUT"],
                                     ["mutate", "--out", "OUT"], ["demo", "--out", "OUT"]])
def test_an_instructor_command_without_the_grading_extra_names_the_extra_in_one_line_before_any_work(
        tmp_path: Path, command: list[str]):
    env = _without_the_grading_extra(tmp_path)
    (tmp_path / "SUBMISSIONS").mkdir()
    arguments = [str(tmp_path / word) if word in ("OUT", "SUBMISSIONS") else word for word in command]
    completed = subprocess.run([sys.executable, "-m", "labs_cli", *arguments], capture_output=True, text=True,
                               env=env, cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0
    assert "grading extra" in completed.stderr and "pip install 'intro-deep-learning-labs[grading]'" in completed.stderr
    assert not (tmp_path / "OUT").exists()


def test_course_option_points_every_command_at_a_checkout_from_anywhere(tiny_lab: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tiny_lab / "pyproject.toml").write_text("")
    (tiny_lab / "labs").mkdir(exist_ok=True)
    built = subprocess.run([sys.executable, "-m", "labs_cli", "--course", str(tiny_lab), "build"],
                           capture_output=True, text=True, cwd=elsewhere)
    assert built.returncode == 0, built.stderr
    assert "built lab" in built.stdout and next(tiny_lab.glob("lab*/Part1_Tiny.ipynb")).exists()
    wrong = subprocess.run([sys.executable, "-m", "labs_cli", "--course", str(elsewhere), "build"],
                           capture_output=True, text=True, cwd=elsewhere)
    assert wrong.returncode != 0 and "--course" in wrong.stderr and wrong.stderr.strip().count("\n") == 0


def _discussion(text: str, points: int) -> nbformat.NotebookNode:
    meta = {"grade": True, "solution": True, "locked": False, "points": points, "grade_id": "discussion_why",
            "schema_version": 3}
    return nbformat.v4.new_markdown_cell(text, metadata={"nbgrader": meta})


def test_a_discussion_answer_reaches_students_as_the_stub_and_its_rubric_stays_in_the_source(tmp_path: Path):
    answer = "**Rubric (2 points).** One point each for: the sign; the size.\n\n**A full answer:** squares are signless."
    write_tiny_lab(tmp_path, tiny_source([nbformat.v4.new_markdown_cell("**Question 1.** Why square?"),
                                          _discussion(answer, 2)]))
    built, errors = build(tmp_path, show_progress=False)
    assert errors == []
    student = read_notebook(built[0])
    assert student.cells[-1].source == "YOUR ANSWER HERE" and "signless" not in _source_text(student)
    assert student.cells[-2].source == "**Question 1.** Why square?"


@pytest.mark.parametrize("text, points, problem", [
    ("Squares are signless.", 2, "must start with '**Rubric (2 points).**'"),
    ("**Rubric (3 points).** sign, size, scale.", 2, "has a rubric for 3 points but is worth 2"),
])
def test_a_discussion_answer_without_a_matching_rubric_stops_the_build(tmp_path: Path, text: str, points: int,
                                                                        problem: str):
    write_tiny_lab(tmp_path, tiny_source([_discussion(text, points)]))
    _, errors = build(tmp_path, show_progress=False)
    assert len(errors) == 1 and problem in errors[0]


# --- the set-up cell's install block ------------------------------------------------------------

def _fake_distribution(site: Path, name: str, version: str) -> None:
    """A minimal installed distribution ``name`` ``version`` providing the module ``name`` (in ``site``)."""
    for old in site.glob(f"{name}-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(f"{name}\n")


def _run_prelude(tmp_path: Path, monkeypatch, upgrade: str | None, in_colab: bool) -> tuple[str, list]:
    """Run the set-up block as in a fresh runtime without labs; pip "installs" by upgrading ``upgrade``."""
    import importlib.util

    site = tmp_path / "site"
    for name in ("fakeloaded", "fakeidle"):
        _fake_distribution(site, name, "1.0")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(sys.modules, "fakeloaded", types.ModuleType("fakeloaded"))
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "labs" else real_find_spec(name, *rest))
    pip_calls, kills = [], []

    def fake_pip(command, check=False, **options):
        pip_calls.append(command)
        if upgrade:
            _fake_distribution(site, upgrade, "2.0")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_pip)
    monkeypatch.setattr(os, "kill", lambda pid, signal_number: kills.append((pid, signal_number)))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(setup_prelude().replace("labs.report_device()", ""), {})
    assert pip_calls and pip_calls[0][-1] == f"git+{REPOSITORY_URL}"
    return printed.getvalue(), kills


def test_the_setup_block_says_in_one_line_that_nothing_installed_was_changed(tmp_path, monkeypatch):
    printed, kills = _run_prelude(tmp_path, monkeypatch, upgrade=None, in_colab=True)
    assert printed == "Installed the course helpers (labs); nothing already installed was changed.\n" and kills == []


def test_the_setup_block_names_an_upgraded_package_and_restarts_colab_only_when_it_was_imported(tmp_path, monkeypatch):
    printed, kills = _run_prelude(tmp_path, monkeypatch, upgrade="fakeidle", in_colab=True)
    assert printed == "Installed the course helpers (labs); changed the version of fakeidle.\n" and kills == []

    printed, kills = _run_prelude(tmp_path, monkeypatch, upgrade="fakeloaded", in_colab=True)
    assert "changed the version of fakeloaded." in printed and "Restarting the runtime" in printed
    assert kills == [(os.getpid(), 9)]

    printed, kills = _run_prelude(tmp_path, monkeypatch, upgrade="fakeloaded", in_colab=False)
    assert "Restart the kernel to load the new fakeloaded" in printed and kills == []


def test_the_course_is_the_checkout_around_the_current_folder_not_where_the_package_is_installed(tmp_path: Path):
    from labs_cli.cli import project_root

    checkout = tmp_path / "my-course"
    (checkout / "labs").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    inside = checkout / "lab1_music" / "solutions"
    inside.mkdir(parents=True)
    assert project_root(start=inside) == checkout.resolve()
    assert project_root(start=tmp_path, course=str(checkout)) == checkout.resolve()
    with pytest.raises(SystemExit, match="--course DIR"):
        project_root(start=tmp_path)  # outside any checkout, even though this package is installed from one
