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

import nbformat

from autograder.notebooks import is_graded, nbgrader_metadata
from autograder.restore import hidden_test_lines, strip_hidden_tests

HIDDEN_NOTE = "# (hidden tests ran here; their text is not shown)"
HIDDEN_LINE = "[hidden test line]"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LINE_PREFIX = re.compile(r"^\s*(-*>)?\s*\d+\s")


def _mentions_hidden(line: str, hidden: list[str]) -> bool:
    plain = _LINE_PREFIX.sub("", _ANSI.sub("", line)).strip()
    return bool(plain) and any(h in plain or (len(plain) > 8 and plain in h) for h in hidden)


def _scrub_text(text: str, hidden: list[str]) -> str:
    return "\n".join(HIDDEN_LINE if _mentions_hidden(line, hidden) else line for line in text.split("\n"))


def scrub_hidden_tests(notebook: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` in which no line of any hidden test of ``source`` appears."""
    hidden = [line for cell in source.cells if is_graded(cell) for line in hidden_test_lines(cell.source)]
    hidden_ids = {nbgrader_metadata(c)["grade_id"] for c in source.cells if is_graded(c) and hidden_test_lines(c.source)}
    scrubbed = copy.deepcopy(notebook)
    if not hidden:
        return scrubbed
    for cell in scrubbed.cells:
        if nbgrader_metadata(cell).get("grade_id") in hidden_ids:
            cell.source = strip_hidden_tests(cell.source).rstrip() + "\n" + HIDDEN_NOTE
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                output.traceback = [_scrub_text(entry, hidden) for entry in output.traceback]
                output.evalue = _scrub_text(output.evalue, hidden)
            elif output.output_type == "stream":
                output.text = _scrub_text(output.text, hidden)
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


def gradescope_results(rows: list[dict]) -> str:
    """Gradescope's ``results.json`` for one student's assignment from its notebooks' ledger rows.

    Each test is named ``<Notebook>: <grade id>``; notebooks that were not run
    appear as one zero-point test carrying the reason.
    """
    tests = []
    for row in sorted(rows, key=lambda r: r["notebook"]):
        if row["tests"]:
            for grade_id, (points, available) in row["tests"].items():
                tests.append({"name": f"{row['notebook']}: {grade_id}", "score": points, "max_score": available,
                              "visibility": "visible"})
        else:
            tests.append({"name": row["notebook"], "score": 0.0, "max_score": row["max_score"],
                          "output": f"{row['status']}: {row['detail']}", "visibility": "visible"})
        if row["tests"] and row["status"] != "ok":
            tests[-1]["output"] = f"{row['status']}: {row['detail']}"
    summary = "; ".join(f"{r['notebook']}: {r['score']:g}/{r['max_score']:g} ({r['status']})" for r in rows)
    result = {"score": sum(r["score"] for r in rows), "output": summary, "tests": tests}
    return json.dumps(result, indent=2) + "\n"
