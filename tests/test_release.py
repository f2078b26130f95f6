"""autograder.release: sources are validated, then released without solutions or hidden tests."""

from __future__ import annotations

import stat

import nbformat
import pytest

import grading_fixtures as fixtures
from autograder.release import release
from autograder.submissions import course_from_sources


def _course(root):
    fixtures.write_course(root)
    return course_from_sources(sorted(root.glob("lab*/solutions/*.ipynb")))


@pytest.mark.notebook
def test_release_writes_student_notebooks_without_answers_and_keeps_the_sources_private(tmp_path):
    course = _course(tmp_path / "course")

    problems = release(course, tmp_path / "out", show_progress=False)

    assert problems == []
    released = (tmp_path / "out" / "release" / fixtures.ASSIGNMENT / f"{fixtures.NOTEBOOK}.ipynb").read_text()
    assert "### BEGIN HIDDEN TESTS" not in released and "np.clip" not in released
    assert "NotImplementedError" in released
    assert nbformat.reads(released, as_version=4).cells
    source_folder = tmp_path / "out" / "source"
    assert stat.S_IMODE(source_folder.stat().st_mode) == 0o700, "the sources hold the hidden tests"


@pytest.mark.notebook
def test_a_source_whose_solution_fails_its_own_tests_is_reported_and_nothing_is_released(tmp_path):
    course = _course(tmp_path / "course")
    source = course.sources[(fixtures.ASSIGNMENT, fixtures.NOTEBOOK)]
    source.write_text(source.read_text().replace("np.clip(", "np.minimum("))

    problems = release(course, tmp_path / "out", show_progress=False)

    assert len(problems) == 1 and fixtures.NOTEBOOK in problems[0]
    assert not (tmp_path / "out" / "release").exists()
