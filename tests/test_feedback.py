"""autograder.feedback: hidden tests scrubbed from sources and tracebacks, test output capped and kept as text."""

from __future__ import annotations

import nbformat

import grading_fixtures as fixtures
from autograder.feedback import TEST_OUTPUT_CAP, scrub_hidden_tests
from autograder.restore import restore
from grading_helpers import HIDDEN_SNIPPETS


def test_scrubbing_removes_hidden_tests_from_sources_and_tracebacks():
    source = fixtures.source_notebook()
    executed = restore(fixtures.blank(), source).notebook
    cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square")
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="",
        traceback=["Traceback", "\x1b[0;32m----> 3\x1b[0m assert np.array_equal(square([-2, 5]), np.array([4, 25]))"])]
    scrubbed = nbformat.writes(scrub_hidden_tests(executed, source))
    for snippet in HIDDEN_SNIPPETS:
        assert snippet not in scrubbed
    assert "square of [1, 2, 3]" in scrubbed


def test_a_test_cell_keeps_only_capped_text_output_in_feedback():
    source = fixtures.source_notebook()
    executed = restore(fixtures.blank(), source).notebook
    cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="[PASS] square\n" + "A" * 50_000),
                    nbformat.v4.new_output("display_data", data={"text/html": "<b>" + "B" * 10_000 + "</b>"}),
                    nbformat.v4.new_output("error", ename="AssertionError", evalue="C" * 10_000, traceback=["T" * 10_000])]
    kept = next(c for c in scrub_hidden_tests(executed, source).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square").outputs
    assert [output.output_type for output in kept] == ["stream", "error"]
    assert kept[0].text.startswith("[PASS] square") and len(kept[0].text) < TEST_OUTPUT_CAP + 100
    assert kept[1].evalue == "" and all(len(line) <= TEST_OUTPUT_CAP for line in kept[1].traceback)
