"""autograder.notebooks: small-run values injected after the parameters cell, unreadable notebooks refused in one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.notebooks import NotebookError, inject_small_values, read_notebook, small_run_values
from notebook_factory import tiny_source


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
