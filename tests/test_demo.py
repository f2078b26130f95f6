"""autograder.demo (``labs demo``): the written parts run small and graded, the missing ones listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from notebook_factory import write_tiny_lab


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
