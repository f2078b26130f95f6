"""autograder.restore and the guards added after it: a submission rebuilt around the source's test cells, ready to grade."""

from __future__ import annotations

import json

import nbformat

import grading_fixtures as fixtures
from autograder.grading import add_guards
from autograder.notebooks import is_graded
from autograder.restore import restore


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
