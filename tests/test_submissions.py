"""autograder.submissions: files matched to the course by name; unusable files, bad archive entries, links and folders refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import grading_fixtures as fixtures
from autograder.batch import grade_batch
from autograder.grading import parse_submission
from autograder.submissions import Submitted, canonical_notebook_name, course_from_sources, match
from grading_helpers import SETTINGS, fixture_course, grades_csv_rows, write_submissions


def test_copy_names_map_to_the_original_notebook():
    assert canonical_notebook_name("Copy of Part1_Fixture.ipynb") == "Part1_Fixture"
    assert canonical_notebook_name("Copy of Copy of Part1_Fixture (2).ipynb") == "Part1_Fixture"
    assert canonical_notebook_name("Part1_Fixture-Copy1.ipynb") == "Part1_Fixture"
    assert canonical_notebook_name("my homework.ipynb") == "my homework"


def test_file_names_are_matched_to_the_course_or_rejected_with_a_reason(tmp_path):
    fixtures.write_course(tmp_path)
    course = course_from_sources(sorted(tmp_path.glob("lab*/solutions/*.ipynb")))
    def submitted(assignment, name):
        return Submitted("s1", assignment, name, tmp_path / name)
    assert match(submitted(fixtures.ASSIGNMENT, "Copy of Part1_Fixture.ipynb"), course) == ("Part1_Fixture", None)
    assert "belongs to lab8_other" in match(submitted(fixtures.ASSIGNMENT, "Part1_Other.ipynb"), course)[1]
    assert "unknown assignment folder 'lab5'" in match(submitted("lab5", "Part1_Fixture.ipynb"), course)[1]
    assert "is not a notebook of" in match(submitted(fixtures.ASSIGNMENT, "notes.ipynb"), course)[1]


@pytest.mark.parametrize("data, reason", [
    (b"", "the file is empty"),
    (b"   \n", "the file is empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON but not a notebook"),
    (json.dumps({"nbformat": 3, "cells": []}).encode(), "notebook format 3 is not supported"),
])
def test_unusable_files_are_refused_with_a_one_line_reason(data, reason):
    with pytest.raises(ValueError, match=reason) as error:
        parse_submission(data)
    assert "\n" not in str(error.value)


def _zip_with_a_corrupt_entry(path: Path, good: dict[str, bytes], corrupt: str) -> None:
    """A zip holding ``good`` entries and one more, ``corrupt``, whose compressed bytes were altered."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as bundle:
        for name, data in good.items():
            bundle.writestr(name, data)
        bundle.writestr(corrupt, b"{" + b"x" * 4000 + b"}")
    data = bytearray(path.read_bytes())
    start = data.index(b"x" * 4000)
    data[start + 100:start + 110] = b"y" * 10
    path.write_bytes(bytes(data))


def test_a_corrupt_or_conflicting_archive_entry_is_refused_with_a_reason_and_the_rest_unpacked(tmp_path):
    from autograder.submissions import extract_zip

    archive = tmp_path / "class.zip"
    good = {"ana/lab9_fixture/Part1_Fixture.ipynb": b"{}", "bo/lab9_fixture": b"a file", "bo/lab9_fixture/x.ipynb": b"{}"}
    _zip_with_a_corrupt_entry(archive, good, "cy/lab9_fixture/Part1_Fixture.ipynb")
    folder, refused = extract_zip(archive, tmp_path / "unzipped")
    assert (folder / "ana" / "lab9_fixture" / "Part1_Fixture.ipynb").read_bytes() == b"{}"
    assert set(refused) == {"bo/lab9_fixture/x.ipynb", "cy/lab9_fixture/Part1_Fixture.ipynb"}
    assert "a file and a folder of the same name" in refused["bo/lab9_fixture/x.ipynb"]
    assert "damaged or lies about its size" in refused["cy/lab9_fixture/Part1_Fixture.ipynb"]
    assert not (folder / "cy" / "lab9_fixture" / "Part1_Fixture.ipynb").exists()


@pytest.mark.notebook
def test_links_folders_and_damaged_entries_each_get_one_invalid_row_and_are_never_followed(tmp_path):
    course = fixture_course(tmp_path)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_submissions(submissions, ["full"])
    source = next((tmp_path / "course").glob("lab*/solutions/Part1_Fixture.ipynb"))
    for student, target in [("copier", source), ("snoop", Path("/etc/shadow"))]:
        (submissions / student / fixtures.ASSIGNMENT).mkdir(parents=True)
        (submissions / student / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").symlink_to(target)
    (submissions / "folder" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").mkdir(parents=True)
    (submissions / ".hidden" / fixtures.ASSIGNMENT).mkdir(parents=True)
    (submissions / ".hidden" / fixtures.ASSIGNMENT / "Part1_Fixture.ipynb").write_bytes(fixtures.CASES["partial"]().data)

    summary = grade_batch(submissions, out, course, workers=1, settings=SETTINGS, show_progress=False)

    rows = {(r["student_id"], r["notebook"]): (r["score"], r["status"], r["detail"]) for r in grades_csv_rows(out)}
    assert rows[("full", "Part1_Fixture")][:2] == ("10", "ok")
    assert rows[(".hidden", "Part1_Fixture")][:2] == ("7", "ok")
    for student in ["copier", "snoop"]:
        assert rows[(student, "Part1_Fixture.ipynb")][:2] == ("0", "invalid")
        assert "symbolic link" in rows[(student, "Part1_Fixture.ipynb")][2]
    assert "a folder named like a notebook" in rows[("folder", "Part1_Fixture.ipynb")][2]
    assert summary.rows == 5
    again = grade_batch(submissions, out, course, workers=1, settings=SETTINGS, show_progress=False)
    assert (again.graded, again.skipped) == (0, 5)
