"""autograder.lms: the gradebook export an LMS imports, one row per student."""

from __future__ import annotations

import csv
import io

import pytest

import grading_fixtures as fixtures
from autograder.lms import lms_csv
from grading_helpers import FIXTURE_NOTEBOOKS, ledger_entry


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_lms_export_has_canvas_columns_one_row_per_student_and_missing_work_as_zero():
    entries = [ledger_entry("ada", 7.0), ledger_entry("ada", 1.0, assignment=fixtures.OTHER_ASSIGNMENT,
                                          notebook=fixtures.OTHER_NOTEBOOK),
               ledger_entry("bob", 0.0, "missing"),
               ledger_entry("=cmd|' /C calc'!A0", 4.0)]
    text = lms_csv(entries, FIXTURE_NOTEBOOKS)
    header = text.splitlines()[0].split(",")
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", fixtures.OTHER_ASSIGNMENT,
                      fixtures.ASSIGNMENT, "Final Points", "Missing"]
    rows = {row["SIS User ID"]: row for row in _rows(text)}
    assert set(rows) == {"ada", "bob", "'=cmd|' /C calc'!A0"}
    assert (rows["ada"][fixtures.ASSIGNMENT], rows["ada"]["Final Points"], rows["ada"]["Missing"]) == ("7", "8", "")
    assert rows["bob"]["Final Points"] == "0"
    assert rows["bob"]["Missing"] == (f"{fixtures.OTHER_ASSIGNMENT} (not submitted); "
                                      f"{fixtures.ASSIGNMENT}/{fixtures.NOTEBOOK} (not submitted)")
    assert all(row["ID"] == "" and row["Student"] == row["SIS User ID"] for row in rows.values())


def test_lms_export_puts_the_id_in_the_column_asked_for_and_refuses_a_column_that_cannot_hold_it():
    text = lms_csv([ledger_entry("ada", 7.0)], FIXTURE_NOTEBOOKS, id_column="Email address")
    assert text.splitlines()[0] == f"Email address,{fixtures.OTHER_ASSIGNMENT},{fixtures.ASSIGNMENT},Final Points,Missing"
    assert _rows(text)[0]["Email address"] == "ada"
    assert _rows(lms_csv([ledger_entry("ada", 7.0)], FIXTURE_NOTEBOOKS, id_column="SIS Login ID"))[0]["SIS Login ID"] == "ada"
    for column in ["Section", "Final Points", " "]:
        with pytest.raises(ValueError, match="cannot hold the student id"):
            lms_csv([], FIXTURE_NOTEBOOKS, id_column=column)
