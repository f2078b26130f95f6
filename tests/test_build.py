"""autograder.build: student versions with stubs and no hidden tests, stamped sources, rubrics, the set-up install block."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from autograder.build import REPOSITORY_URL, build, colab_url, setup_prelude
from autograder.notebooks import read_notebook
from notebook_factory import tiny_source, write_tiny_lab


def joined_sources(notebook) -> str:
    return "\n".join(cell.source for cell in notebook.cells)


def test_build_writes_a_student_version_with_stubs_and_no_hidden_tests(tiny_lab: Path):
    built, errors = build(tiny_lab, show_progress=False)
    assert errors == []
    student = read_notebook(built[0])
    text = joined_sources(student)
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
    assert student.cells[-1].source == "YOUR ANSWER HERE" and "signless" not in joined_sources(student)
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
