"""The notebook tiers, run on every ``lab*/solutions/*.ipynb`` the repository has.

A new notebook is picked up with no new test code:
- format: sources and student versions are valid, output-free, conventional;
- freshness: a fresh build reproduces the committed student version exactly;
- no leaks: no solution or hidden-test line reaches a student version;
- small run: the solution runs top to bottom with its small values and passes
  its own graded tests (this is nbgrader's validation of the source);
- student run: the student version runs and fails only with NotImplementedError
  in its answer cells.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from autograder.build import build_notebook, solution_sources, student_path, student_version_problems
from autograder.execute import run_notebook
from autograder.notebooks import (
    cells_with_tag,
    is_answer,
    is_graded,
    is_manual,
    nbgrader_metadata,
    read_notebook,
    small_run_values,
    WIDGET_VIEW,
)
from conftest import ROOT

SOURCES = solution_sources(ROOT)
IDS = [source.relative_to(ROOT).as_posix() for source in SOURCES]


def test_every_lab_notebook_has_its_student_version():
    missing = [path for path in map(student_path, SOURCES) if not path.exists()]
    assert not missing, f"run `labs build`: student versions missing for {missing}"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_source_follows_the_notebook_conventions(source: Path):
    notebook = read_notebook(source)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "setup" in code_cells[0].metadata.get("tags", []), "the first code cell must be the set-up cell"
    assert len(cells_with_tag(notebook, "parameters")) == 1
    assert small_run_values(notebook, source.name), "SMALL_RUN_VALUES must change at least one value"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {index} has outputs"
    grade_ids = [nbgrader_metadata(cell)["grade_id"] for cell in notebook.cells if nbgrader_metadata(cell)]
    duplicates = [grade_id for grade_id, count in Counter(grade_ids).items() if count > 1]
    assert not duplicates, f"grade ids used twice: {duplicates}"
    assert any(is_graded(cell) for cell in notebook.cells), "a lab notebook needs graded test cells"
    for cell in notebook.cells:
        if is_graded(cell):
            assert nbgrader_metadata(cell).get("points", 0) > 0, f"{nbgrader_metadata(cell)['grade_id']} has no points"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_source_is_colab_compatible_by_construction(source: Path):
    text = "\n".join(cell.source for cell in read_notebook(source).cells)
    for local in ("/work/", "/home/", "/tmp/", "/root/", "C:\\"):
        assert local not in text, f"local path {local!r} in {source.name}: use paths relative to the working folder"
    assert "ipywidgets" not in text, "widgets need a front-end extension; use plots, Audio or HTML instead"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_every_todo_is_followed_by_a_graded_test(source: Path):
    cells = read_notebook(source).cells
    answers = [index for index, cell in enumerate(cells) if is_answer(cell) and cell.cell_type == "code"]
    for position, index in enumerate(answers):
        following = answers[position + 1] if position + 1 < len(answers) else len(cells)
        tests = [cell for cell in cells[index + 1 : following] if is_graded(cell)]
        grade_id = nbgrader_metadata(cells[index])["grade_id"]
        assert tests, f"answer cell {grade_id} has no graded test cell before the next TODO"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_each_lab_part_ends_with_two_to_four_discussion_questions(source: Path):
    cells = read_notebook(source).cells
    headings = [(index, line) for index, cell in enumerate(cells) if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ")]
    assert headings, "the notebook has no '## ' sections"
    start, heading = headings[-1]
    assert heading.strip() == "## Discussion", f"the last section is {heading!r}, not '## Discussion'"
    code = [index for index in range(start + 1, len(cells)) if cells[index].cell_type == "code"]
    assert not code, f"the discussion must end the notebook, but code cells {code} follow it"
    answers = [cell for cell in cells[start + 1:] if is_manual(cell)]
    assert 2 <= len(answers) <= 4, f"the discussion holds {len(answers)} manually graded answers, not 2 to 4"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_committed_student_version_is_fresh(source: Path, tmp_path: Path):
    relative = source.relative_to(ROOT)
    scratch_source = tmp_path / relative
    scratch_source.parent.mkdir(parents=True)
    shutil.copy(source, scratch_source)
    fresh = build_notebook(scratch_source, tmp_path)
    assert scratch_source.read_text() == source.read_text(), "the source is not stamped: run `labs build`"
    committed = student_path(source)
    assert fresh.read_text() == committed.read_text(), f"{committed.relative_to(ROOT)} is stale: run `labs build`"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_student_version_leaks_nothing_and_has_stubs(source: Path):
    student = student_path(source)
    problems = student_version_problems(read_notebook(source), read_notebook(student), student.name)
    assert not problems, "\n".join(problems)


@pytest.mark.notebook
@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_solution_runs_with_small_values_and_passes_its_tests(source: Path, tmp_path: Path):
    result = run_notebook(source, tmp_path, small=True, show_progress=False)
    assert result.ok, result.first_error()
    assert any("Small run" in str(output.get("text", "")) for cell in result.executed.cells
               for output in cell.get("outputs", [])), "the run does not say it used small values"
    for index, cell in enumerate(result.executed.cells):
        for output in cell.get("outputs", []):
            shown = output.get("text") or output.get("data", {}).get("text/plain", "")
            assert output.get("name") != "stderr", f"cell {index + 1} writes to stderr: {shown[:300]!r}"
            assert not set(shown) & {"\r", "\b"}, f"cell {index + 1} leaves redraw characters: {shown[:300]!r}"
            assert WIDGET_VIEW not in output.get("data", {}), f"cell {index + 1} leaves a widget: {shown[:300]!r}"
    page = _html(result.executed)
    assert not set(page) & {"\b", "\r", "\x1b"}, "the HTML a student receives holds control characters"
    for bar in re.findall(r"(\d+)%\|", page):
        assert bar == "100", f"a progress bar ends at {bar}% in the HTML a student receives"


def _html(notebook: nbformat.NotebookNode) -> str:
    """The notebook rendered as nbconvert's HTML: the form feedback and shared copies take."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    return body


@pytest.mark.notebook
@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_student_version_fails_only_with_not_implemented_error(source: Path, tmp_path: Path):
    student = student_path(source)
    result = run_notebook(student, tmp_path, small=True, stop_on_error=False, show_progress=False, keep_on_error=True)
    assert result.errors, "the student version ran without error: are the TODOs really stubbed?"
    assert result.errors[0].name == "NotImplementedError", f"first error: {result.errors[0].describe()}"
    stubbed_before = False
    for error in result.errors:
        # Every cell, not only the answers: a stub fails loudly where it is called, and a cell may
        # only miss a name that a cell stopped by an earlier stub would have defined.
        allowed = ("NotImplementedError", "NameError") if stubbed_before else ("NotImplementedError",)
        assert error.name in allowed, error.describe()
        stubbed_before = stubbed_before or error.name == "NotImplementedError"
    answer_ids = {nbgrader_metadata(cell)["grade_id"] for cell in nbformat.read(student, as_version=4).cells
                  if is_answer(cell)}
    assert answer_ids, "a student version needs answer cells"
