"""Builds a tiny, complete lab notebook source for testing the notebook tooling."""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.build import setup_prelude


def _answer(source: str, grade_id: str):
    meta = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": True, "task": False}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def _test(source: str, grade_id: str, points: int):
    meta = {"grade": True, "grade_id": grade_id, "locked": True, "points": points, "schema_version": 3,
            "solution": False, "task": False}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def tiny_source(extra_cells: list | None = None) -> nbformat.NotebookNode:
    """A two-TODO notebook that follows every convention (set-up, parameters, tests)."""
    cells = [
        nbformat.v4.new_markdown_cell("# Tiny lab\n\nA notebook for testing the tooling."),
        nbformat.v4.new_code_cell(setup_prelude() + "\nimport numpy as np", metadata={"tags": ["setup"]}),
        nbformat.v4.new_code_cell(
            "num_steps = 1000\nscale = 3\nSMALL_RUN_VALUES = {\"num_steps\": 5}", metadata={"tags": ["parameters"]}
        ),
        _answer(
            "def double(values):\n    \"\"\"Return 2 * values.\"\"\"\n    # TODO: return the values doubled.\n"
            "    ### BEGIN SOLUTION\n    return 2 * np.asarray(values)\n    ### END SOLUTION",
            "double",
        ),
        _test(
            "assert list(double([1, 2])) == [2, 4], 'double([1, 2]) should be [2, 4]'\nprint('[PASS] double')\n"
            "### BEGIN HIDDEN TESTS\nassert list(double([-7])) == [-14]\n### END HIDDEN TESTS",
            "test_double",
            2,
        ),
        _answer("# TODO: set total to the sum of range(num_steps).\n### BEGIN SOLUTION\ntotal = sum(range(num_steps))\n### END SOLUTION",
                "total"),
        _test("assert total == num_steps * (num_steps - 1) // 2\nprint('[PASS] total')", "test_total", 1),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells + list(extra_cells or []))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def write_tiny_lab(root: Path, notebook: nbformat.NotebookNode | None = None, name: str = "Part1_Tiny") -> Path:
    """Write a tiny lab under ``root/lab9_tiny/solutions/`` and return the source path."""
    path = Path(root) / "lab9_tiny" / "solutions" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook or tiny_source(), path)
    return path
