"""What students get back: feedback HTML with hidden tests scrubbed, and Gradescope results.

nbgrader renders feedback from the autograded notebook and the gradebook; by
design it shows the whole test cell and the traceback, which can quote hidden
tests. :func:`scrub_hidden_tests` removes every hidden line from cell sources,
outputs and tracebacks before nbgrader sees the notebook.
"""

from __future__ import annotations

import copy
import html
import json
import re
from dataclasses import dataclass

import nbformat

from autograder.notebooks import is_graded, manual_grading_note, nbgrader_metadata
from autograder.restore import hidden_test_lines, strip_hidden_tests

HIDDEN_NOTE = "# (hidden tests ran here; their text is not shown)"
HIDDEN_LINE = "[hidden test line]"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LINE_PREFIX = re.compile(r"^\s*(-*>)?\s*\d+\s")


def _mentions_hidden(line: str, hidden: list[str]) -> bool:
    plain = _LINE_PREFIX.sub("", _ANSI.sub("", line)).strip()
    return bool(plain) and any(h in plain or (len(plain) > 8 and plain in h) for h in hidden)


def scrub_text(text: str, hidden: list[str]) -> str:
    """``text`` with every line that quotes one of the ``hidden`` test lines replaced by a placeholder."""
    return "\n".join(HIDDEN_LINE if _mentions_hidden(line, hidden) else line for line in text.split("\n"))


#: Characters of output a test cell keeps in feedback (its text: [PASS]/[FAIL] lines and the error).
TEST_OUTPUT_CAP = 2000
SHORTENED = "\n[grader] the rest of this test's output is not shown\n"


def _cap_test_outputs(cell: nbformat.NotebookNode) -> None:
    """Keep a test cell's text outputs up to :data:`TEST_OUTPUT_CAP` characters in all; drop its rich outputs.

    What a test prints runs the student's code, so it is capped like any student output;
    images and HTML from a test cell would be a way around the cap.
    """
    budget, kept = TEST_OUTPUT_CAP, []
    for output in cell.outputs:
        if output.output_type == "stream":
            text = output.text
            output.text = text[:budget] + (SHORTENED if len(text) > budget else "")
            budget = max(0, budget - len(text))
            kept.append(output)
        elif output.output_type == "error":
            output.evalue = output.evalue[:budget]
            output.traceback = [line[:budget] for line in output.traceback[-8:]]
            budget = max(0, budget - len(output.evalue))
            kept.append(output)
    cell.outputs = kept


def scrub_hidden_tests(notebook: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` in which no line of any hidden test of ``source`` appears.

    Test cells also keep only their capped text output (:func:`_cap_test_outputs`).
    """
    hidden = [line for cell in source.cells if is_graded(cell) for line in hidden_test_lines(cell.source)]
    hidden_ids = {nbgrader_metadata(c)["grade_id"] for c in source.cells if is_graded(c) and hidden_test_lines(c.source)}
    scrubbed = copy.deepcopy(notebook)
    for cell in scrubbed.cells:
        if is_graded(cell) and cell.cell_type == "code":
            _cap_test_outputs(cell)
        if nbgrader_metadata(cell).get("grade_id") in hidden_ids:
            cell.source = strip_hidden_tests(cell.source).rstrip() + "\n" + HIDDEN_NOTE
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                output.traceback = [scrub_text(entry, hidden) for entry in output.traceback]
                output.evalue = scrub_text(output.evalue, hidden)
            elif output.output_type == "stream":
                output.text = scrub_text(output.text, hidden)
    return scrubbed


def invalid_feedback_html(student: str, notebook: str, status: str, detail: str) -> str:
    """A short page for a notebook that could not be run (invalid or missing)."""
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>"
        f"{html.escape(notebook)}</title></head><body>\n"
        f"<h1>{html.escape(notebook)}: not graded ({html.escape(status)})</h1>\n"
        f"<p>Student: {html.escape(student)}</p>\n<p>{html.escape(detail)}</p>\n"
        "<p>Score: 0. Fix the problem above and submit again.</p>\n</body></html>\n"
    )


@dataclass(frozen=True)
class CellReport:
    """What one graded test cell tells the student on Gradescope; never any hidden test's text or message.

    ``hidden``: the cell holds hidden tests, so its entry waits until grades are
    published; ``visible_result``: how its visible checks went, as the student
    would see it running the released cell ("passed", "failed: <error>", "not run");
    ``output``: the text of its entry.
    """

    hidden: bool
    visible_result: str
    output: str


#: Parts of a row's detail that would tell a hidden test's result before grades are published.
_SCORE_NOTES = ("failed tests:", "all tests passed")


def _notes(detail: str) -> list[str]:
    """The parts of a row's detail that say nothing about which tests failed (repairs, time limits, crashes)."""
    return [part for part in detail.split("; ") if part and not part.startswith(_SCORE_NOTES)]


def _report_summary(rows: list[dict], reports: dict[tuple[str, str], CellReport]) -> str:
    """The submission's top-level text: per notebook its repairs and each test's visible checks, no hidden result."""
    lines = []
    for row in rows:
        lines.append(f"{row['notebook']}: {'graded' if row['tests'] else 'not graded'} ({row['status']})")
        lines += [f"  note: {note}" for note in _notes(row["detail"])]
        for grade_id, (_, available) in row["tests"].items():
            report = reports.get((row["notebook"], grade_id))
            if report is None:
                continue
            later = "; hidden tests: in this test's result once grades are published" if report.hidden else ""
            lines.append(f"  {grade_id} ({available:g} points): visible checks {report.visible_result}{later}")
    return "\n".join(lines)


def gradescope_results(rows: list[dict], reports: dict[tuple[str, str], CellReport] | None = None,
                       execution_time: float | None = None) -> str:
    """Gradescope's ``results.json`` for one student's assignment from its notebooks' ledger rows.

    Each test is named ``<Notebook>: <grade id>`` and numbered ``<notebook>.<test>``;
    notebooks that were not run appear as one zero-point test carrying the reason.
    With ``reports`` (keyed by notebook and grade id), a test holding hidden tests is
    ``after_published`` and the others ``visible``, each with its report's text, and
    the top-level output lists only what the visible checks did. ``execution_time``
    is in seconds.
    """
    tests = []
    rows = sorted(rows, key=lambda r: r["notebook"])
    for number, row in enumerate(rows, 1):
        entries = []
        for index, (grade_id, (points, available)) in enumerate(row["tests"].items(), 1):
            report = (reports or {}).get((row["notebook"], grade_id))
            entry = {"name": f"{row['notebook']}: {grade_id}", "number": f"{number}.{index}", "score": points,
                     "max_score": available, "status": "passed" if points >= available else "failed",
                     "visibility": "after_published" if report is not None and report.hidden else "visible"}
            if report is not None:
                entry["output"] = report.output
            entries.append(entry)
        if not entries:
            entries.append({"name": row["notebook"], "number": f"{number}.1", "score": 0.0, "max_score": row["max_score"],
                            "status": "failed", "visibility": "visible", "output": f"{row['status']}: {row['detail']}"})
        elif row["status"] != "ok" and reports is None:
            entries[-1]["output"] = f"{row['status']}: {row['detail']}"
        tests += entries
    if reports is None:
        summary = "; ".join(f"{r['notebook']}: {r['score']:g}/{r['max_score']:g} ({r['status']})" for r in rows)
    else:
        summary = _report_summary(rows, reports)
    pending = [f"{r['notebook']}: {manual_grading_note(r['manual'])}" for r in rows if r.get("manual")]
    if pending:
        summary += "\nWritten answers are graded by a person later and are not in this score: " + "; ".join(pending)
    withheld = [f"{r['notebook']}: {', '.join(r['withheld'])}" for r in rows if r.get("withheld")]
    if withheld:
        summary += ("\nThese tests passed after code that reaches into the grader; they score 0 until your "
                    "instructor has reviewed it: " + "; ".join(withheld))
    result = {"score": sum(r["score"] for r in rows), "output": summary, "output_format": "text", "tests": tests}
    if execution_time is not None:
        result["execution_time"] = round(execution_time)
    return json.dumps(result, indent=2) + "\n"
