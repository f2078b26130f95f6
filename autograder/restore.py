"""Rebuild a trustworthy notebook from a student submission and its source.

The student owns the answer cells and any cells they add; everything the grade
depends on comes from the source: the set-up and parameters cells, and every
test cell (matched by nbgrader ``grade_id``, by its released text when the
metadata was lost, or re-inserted when it was deleted). Duplicated cells, as a
Colab copy/paste makes, keep a single owner of each grade id.

Everything here is pure: notebooks in, notebook and notes out.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat

from autograder.guard import GUARD_TAG, TOKEN_KEYS
from autograder.notebooks import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    INJECTED_TAG,
    PARAMETERS_TAG,
    SETUP_TAG,
    cell_tags,
    is_answer,
    is_graded,
    nbgrader_metadata,
    split_marked_lines,
)

GRADER_TAGS = (SETUP_TAG, PARAMETERS_TAG, GUARD_TAG, INJECTED_TAG)


@dataclass
class Restored:
    """A submission rebuilt for grading, and what had to be repaired."""

    notebook: nbformat.NotebookNode
    notes: list[str] = field(default_factory=list)


def strip_hidden_tests(source: str) -> str:
    """The text of a test cell as students see it: hidden-test blocks removed."""
    return "\n".join(split_marked_lines(source, HIDDEN_BEGIN, HIDDEN_END)[1])


def hidden_test_lines(source: str) -> list[str]:
    """The stripped, non-blank lines of the hidden-test blocks of a test cell."""
    return [line.strip() for line in split_marked_lines(source, HIDDEN_BEGIN, HIDDEN_END)[0] if line.strip()]


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines() if line.strip())


def grade_ids(notebook: nbformat.NotebookNode) -> set[str]:
    """Every nbgrader grade id present in ``notebook``."""
    return {nbgrader_metadata(cell).get("grade_id") for cell in notebook.cells} - {None}


def _test_cells(source: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {nbgrader_metadata(cell)["grade_id"]: cell for cell in source.cells if is_graded(cell)}


def _trusted_tag(cell: nbformat.NotebookNode) -> str | None:
    for tag in (SETUP_TAG, PARAMETERS_TAG):
        if tag in cell_tags(cell):
            return tag
    return None


def _plain(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of a student cell without nbgrader metadata, grader tags or guard tokens."""
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    for key in TOKEN_KEYS:
        cell.metadata.pop(key, None)
    tags = [tag for tag in cell_tags(cell) if tag not in GRADER_TAGS]
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)
    return cell


def _classify(student: nbformat.NotebookNode, source: nbformat.NotebookNode) -> tuple[list, list[str]]:
    """Label each student cell: ('trusted', key) for a source cell it stands for, else ('student', cell)."""
    tests = _test_cells(source)
    released_text = {_normalise(strip_hidden_tests(cell.source)): grade_id for grade_id, cell in tests.items()}
    answer_types = {nbgrader_metadata(cell)["grade_id"]: cell.cell_type for cell in source.cells if is_answer(cell)}
    seen: set[str] = set()
    labelled, notes = [], []
    for cell in student.cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        tag = _trusted_tag(cell)
        if cell.cell_type == "code" and grade_id is None and tag is None:
            grade_id = released_text.get(_normalise(cell.source))
            if grade_id is not None and grade_id not in seen:
                notes.append(f"test cell {grade_id} had lost its nbgrader metadata; restored from the source")
        if tag is not None:
            key = f"tag:{tag}"
            if key not in seen:
                seen.add(key)
                labelled.append(("trusted", key))
            continue
        if grade_id in tests:
            if grade_id in seen:
                notes.append(f"duplicate of test cell {grade_id} ignored")
                continue
            seen.add(grade_id)
            original = tests[grade_id].source
            if _normalise(cell.source) not in (_normalise(strip_hidden_tests(original)), _normalise(original)):
                notes.append(f"test cell {grade_id} was edited; the original was restored")
            labelled.append(("trusted", grade_id))
            continue
        if grade_id not in seen and answer_types.get(grade_id) == cell.cell_type:
            seen.add(grade_id)
            answer = _plain(cell)
            answer.metadata["nbgrader"] = copy.deepcopy(
                next(c for c in source.cells if nbgrader_metadata(c).get("grade_id") == grade_id).metadata["nbgrader"]
            )
            answer.metadata["nbgrader"].pop("checksum", None)
            labelled.append(("student", answer))
            continue
        labelled.append(("student", _plain(cell)))
    return labelled, notes


def _source_key(cell: nbformat.NotebookNode) -> str | None:
    tag = _trusted_tag(cell)
    if tag is not None:
        return f"tag:{tag}"
    grade_id = nbgrader_metadata(cell).get("grade_id")
    if grade_id is not None and (is_graded(cell) or is_answer(cell)):
        return grade_id
    return None


def restore(student: nbformat.NotebookNode, source: nbformat.NotebookNode) -> Restored:
    """Return the notebook to grade: the student's cells with every trusted cell taken from ``source``.

    Trusted cells missing from the submission are inserted right after the cell
    that precedes them in the source (or at the top when none does).
    """
    labelled, notes = _classify(student, source)
    by_key = {key: cell for cell in source.cells if (key := _source_key(cell)) is not None}
    trusted_keys = [key for key in by_key if key.startswith("tag:") or is_graded(by_key[key])]
    cells: list[nbformat.NotebookNode] = []
    position: dict[str, int] = {}
    for kind, value in labelled:
        if kind == "trusted":
            cells.append(copy.deepcopy(by_key[value]))
            position[value] = len(cells) - 1
        else:
            cells.append(value)
            key = nbgrader_metadata(value).get("grade_id")
            if key is not None:
                position[key] = len(cells) - 1
    ordered_keys = list(by_key)
    for key in trusted_keys:
        if key in position:
            continue
        earlier = [k for k in ordered_keys[: ordered_keys.index(key)] if k in position]
        insert_at = position[earlier[-1]] + 1 if earlier else 0
        cells.insert(insert_at, copy.deepcopy(by_key[key]))
        position = {k: (i + 1 if i >= insert_at else i) for k, i in position.items()}
        position[key] = insert_at
        if not key.startswith("tag:"):
            notes.append(f"test cell {key} was missing; restored from the source")
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    restored = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(source.metadata))
    return Restored(restored, notes)
