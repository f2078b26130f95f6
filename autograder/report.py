"""``OUT/report.html``: the class at a glance after a batch, one self-contained page.

For each notebook of the course: how the class scored (a histogram), how many
notebooks ended in each status, the time grading took, and per graded test the
share of the class that passed it with the commonest error line of those who
did not. Tests most failed across the course come first; pairs of submissions
flagged by :mod:`autograder.similarity` come last, with their answer cells side
by side. Plots are PNG images embedded in the page, so it opens from disk in any
browser, with no server and nothing fetched.

The class is every student of the ledger, and the notebooks are those of the
assignments it holds. A student with no row for a notebook counts as
``missing``, as one whose ``missing`` row says so; every student but those
whose grading failed (``error``, not a grade) counts in a pass share.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.lms import NOT_STUDENTS
from autograder.notebooks import is_answer, is_graded, nbgrader_metadata, read_notebook, write_text_atomically
from autograder.similarity import DEFAULT_THRESHOLD, SimilarPair, reference_of, similar_pairs, stub_of
from autograder.submissions import Course

STATUS_ORDER = ("ok", "timeout", "crashed", "invalid", "missing", "error")
#: Statuses whose notebook ran, so that an autograded copy with outputs exists.
RAN = ("ok", "timeout", "crashed")
MOST_FAILED = 10
ERROR_LINE_CHARACTERS = 160
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class TestStats:
    """One graded test across the class."""

    grade_id: str
    points: float
    passed: int = 0
    counted: int = 0
    errors: Counter = field(default_factory=Counter)

    @property
    def share(self) -> float:
        """Share of the counted students who earned every point of the test."""
        return self.passed / self.counted if self.counted else 0.0

    def commonest_error(self) -> tuple[str, int]:
        """The error line most students who failed share, and how many they are ('' when none failed)."""
        return self.errors.most_common(1)[0] if self.errors else ("", 0)


@dataclass
class NotebookStats:
    """One notebook of the course across the class."""

    assignment: str
    notebook: str
    max_score: float
    scores: list[float] = field(default_factory=list)
    missing_or_invalid: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    tests: list[TestStats] = field(default_factory=list)
    pairs: list[SimilarPair] | None = None
    #: Written answers (discussion questions) that await a person, over the class.
    awaiting_manual: int = 0
    #: Passed tests withheld for review (code that can forge a pass ran before them).
    withheld: int = 0

    @property
    def title(self) -> str:
        return f"{self.assignment}/{self.notebook}"


@dataclass
class Report:
    """What :func:`write_report` wrote."""

    path: Path
    students: int
    similar_pairs: int | None = None


def _cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def load_autograded(out: Path, student: str, assignment: str, notebook: str) -> dict | None:
    """The autograded notebook of one student as plain JSON (fast to read), or None when there is none."""
    path = Path(out) / "autograded" / student / assignment / f"{notebook}.ipynb"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def error_line(cell: dict, status: str) -> str:
    """The first line of the error a test cell showed: ``AssertionError: [FAIL] ...``.

    A cell without an error did not run (the kernel stopped or timed out before it) or failed silently.
    """
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = _ANSI.sub("", str(output.get("evalue", ""))).strip()
            first = next((line.strip() for line in value.splitlines() if line.strip()), "")
            line = f"{output.get('ename', 'Error')}: {first}" if first else str(output.get("ename", "Error"))
            return line if len(line) <= ERROR_LINE_CHARACTERS else line[: ERROR_LINE_CHARACTERS - 1] + "…"
    if cell.get("execution_count") is None and not cell.get("outputs"):
        return f"not run ({status})"
    return "no error shown"


def _graded_cells(notebook: dict) -> dict[str, dict]:
    cells = {}
    for cell in notebook.get("cells", []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id and grade_id not in cells:
            cells[grade_id] = cell
    return cells


def answer_sources(notebook: dict) -> dict[str, str]:
    """Grade id -> source of every code answer cell of a notebook read as plain JSON (what the similarity check compares)."""
    return {cell["metadata"]["nbgrader"]["grade_id"]: _cell_text(cell) for cell in notebook.get("cells", [])
            if cell.get("cell_type") == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution")
            and cell["metadata"]["nbgrader"].get("grade_id")}


def notebook_stats(out: Path, assignment: str, notebook: str, source: nbformat.NotebookNode,
                   entries: dict[str, dict], students: list[str],
                   similarity_threshold: float | None = None) -> NotebookStats:
    """Statistics of one notebook over ``students``; ``entries`` maps a student to their ledger entry."""
    from autograder.build import CODE_STUB
    from autograder.grading import max_points

    stats = NotebookStats(assignment, notebook, max_points(source))
    stats.tests = [TestStats(nbgrader_metadata(c)["grade_id"], float(nbgrader_metadata(c).get("points", 0)))
                   for c in source.cells if is_graded(c) and nbgrader_metadata(c).get("grade_id")]
    answers: dict[str, dict[str, str]] = {}
    for student in students:
        entry = entries.get(student)
        status = entry["status"] if entry else "missing"
        stats.statuses[status] += 1
        if status == "error":
            continue
        score = float(entry["score"]) if entry else 0.0
        (stats.scores if status in RAN else stats.missing_or_invalid).append(score)
        stats.awaiting_manual += len((entry or {}).get("manual") or {})
        stats.withheld += len((entry or {}).get("withheld") or [])
        if entry and entry.get("seconds") is not None:
            stats.seconds[student] = float(entry["seconds"])
        graded = load_autograded(out, student, assignment, notebook) if status in RAN else None
        cells = _graded_cells(graded) if graded else {}
        if graded and similarity_threshold is not None:
            answers[student] = answer_sources(graded)
        tests = (entry or {}).get("tests") or {}
        for test in stats.tests:
            test.counted += 1
            earned, available = tests.get(test.grade_id, (0.0, test.points))
            if available and earned >= available:
                test.passed += 1
            elif status in RAN:
                test.errors[error_line(cells[test.grade_id], status) if test.grade_id in cells else f"not run ({status})"] += 1
            else:
                test.errors[f"{status}: no notebook ran"] += 1
    if similarity_threshold is not None:
        solutions = [cell for cell in source.cells
                     if cell.cell_type == "code" and is_answer(cell) and nbgrader_metadata(cell).get("grade_id")]
        stubs = {nbgrader_metadata(c)["grade_id"]: stub_of(c.source, CODE_STUB) for c in solutions}
        references = {nbgrader_metadata(c)["grade_id"]: reference_of(c.source) for c in solutions}
        stats.pairs = similar_pairs(answers, stubs, references, similarity_threshold, assignment, notebook)
    return stats


def class_stats(out: Path, course: Course, entries: list[dict],
                similarity_threshold: float | None = None) -> tuple[list[str], list[NotebookStats]]:
    """The students of the ledger and the statistics of every notebook of the assignments it holds."""
    students = sorted({e["student_id"] for e in entries} - NOT_STUDENTS)
    by_notebook: dict[tuple[str, str], dict[str, dict]] = {}
    for entry in entries:
        by_notebook.setdefault((entry["assignment"], entry["notebook"]), {})[entry["student_id"]] = entry
    notebooks = []
    for assignment in [a for a in course.assignments() if any(e["assignment"] == a for e in entries)]:
        for name in course.notebooks(assignment):
            source = read_notebook(course.sources[(assignment, name)])
            notebooks.append(notebook_stats(out, assignment, name, source, by_notebook.get((assignment, name), {}),
                                            students, similarity_threshold))
    return students, notebooks


# --- plots ---------------------------------------------------------------------------------

def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram_png(stats: NotebookStats) -> str:
    """Base64 PNG: how many students got each score, notebooks that ran apart from missing or invalid ones."""
    from matplotlib.figure import Figure

    top = max(stats.max_score, max(stats.scores + stats.missing_or_invalid, default=0.0), 1.0)
    bins = [edge - 0.5 for edge in range(int(top) + 2)] if top <= 40 else 20
    figure = Figure(figsize=(6.4, 2.6))
    axes = figure.add_subplot()
    axes.hist([stats.scores, stats.missing_or_invalid], bins=bins, range=(0, top) if bins == 20 else None,
              stacked=True, color=["#3b7dd8", "#c7c7c7"], label=["graded", "missing or invalid"])
    axes.set_xlabel(f"score (out of {stats.max_score:g})")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False, fontsize="small")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return _png(figure)


# --- HTML ----------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #1d1d1f; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; } th, td { padding: 0.3em 0.7em; text-align: left;
       vertical-align: top; border-bottom: 1px solid #eee; }
th { background: #f4f4f6; font-weight: 600; } td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #eee; width: 120px; height: 0.8em; display: inline-block; vertical-align: middle; margin-right: 0.5em; }
.bar span { background: #3b7dd8; height: 100%; display: block; }
.low .bar span { background: #d8573b; }
td.share { white-space: nowrap; }
code, pre { font: 13px/1.35 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: #f7f7f9; padding: 0.5em; margin: 0; white-space: pre-wrap; word-break: break-word; }
.muted { color: #6e6e73; } .pair { margin: 1em 0 1.5em; } .pair h4 { margin: 0.4em 0; }
.side { display: grid; grid-template-columns: 9em 1fr 1fr; gap: 0.4em; align-items: start; margin-bottom: 0.4em; }
img { max-width: 100%; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _share_cell(share: float) -> str:
    low = " low" if share < 0.5 else ""
    return f'<td class="share{low}"><span class="bar"><span style="width:{100 * share:.0f}%"></span></span>{100 * share:.0f}%</td>'


def _seconds_summary(stats: NotebookStats) -> tuple[str, str]:
    if not stats.seconds:
        return "—", "—"
    values = sorted(stats.seconds.values())
    slowest = max(stats.seconds, key=stats.seconds.get)
    return f"{statistics.median(values):.1f} s", f"{values[-1]:.1f} s ({_e(slowest)})"


def _summary_table(notebooks: list[NotebookStats]) -> str:
    head = "".join(f'<th class="number">{status}</th>' for status in STATUS_ORDER)
    rows = []
    for stats in notebooks:
        everyone = stats.scores + stats.missing_or_invalid
        mean = f"{statistics.mean(everyone):.1f}" if everyone else "—"
        median, slowest = _seconds_summary(stats)
        counts = "".join(f'<td class="number">{stats.statuses.get(status, 0) or ""}</td>' for status in STATUS_ORDER)
        rows.append(f'<tr><td><a href="#{_e(stats.title)}">{_e(stats.title)}</a></td>'
                    f'<td class="number">{mean} / {stats.max_score:g}</td>{counts}'
                    f'<td class="number">{median}</td><td class="number">{slowest}</td></tr>')
    return (f'<table><tr><th>notebook</th><th class="number">mean score</th>{head}'
            f'<th class="number">median time</th><th class="number">slowest</th></tr>{"".join(rows)}</table>')


def _most_failed_table(notebooks: list[NotebookStats]) -> str:
    tests = [(stats, test) for stats in notebooks for test in stats.tests if test.counted and test.passed < test.counted]
    tests.sort(key=lambda pair: (pair[1].share, pair[0].title, pair[1].grade_id))
    if not tests:
        return '<p class="muted">Every student passed every test.</p>'
    rows = []
    for stats, test in tests[:MOST_FAILED]:
        line, count = test.commonest_error()
        rows.append(f"<tr><td>{_e(stats.title)}</td><td><code>{_e(test.grade_id)}</code></td>"
                    f'<td class="number">{test.points:g}</td>{_share_cell(test.share)}'
                    f'<td><code>{_e(line)}</code> <span class="muted">({count} of {test.counted - test.passed})</span></td></tr>')
    return ("<table><tr><th>notebook</th><th>test</th><th class=\"number\">points</th><th>passed</th>"
            f"<th>commonest error among those who failed</th></tr>{''.join(rows)}</table>")


def _tests_table(stats: NotebookStats) -> str:
    rows = []
    for test in stats.tests:
        line, count = test.commonest_error()
        error = f'<code>{_e(line)}</code> <span class="muted">({count})</span>' if count else ""
        rows.append(f'<tr><td><code>{_e(test.grade_id)}</code></td><td class="number">{test.points:g}</td>'
                    f'{_share_cell(test.share)}<td class="number">{test.passed} of {test.counted}</td><td>{error}</td></tr>')
    return ('<table><tr><th>test</th><th class="number">points</th><th>passed</th><th class="number">students</th>'
            f"<th>commonest error</th></tr>{''.join(rows)}</table>")


def _pairs_html(stats: NotebookStats, threshold: float) -> str:
    if not stats.pairs:
        return f'<p class="muted">No pair of submissions is {100 * threshold:.0f}% similar or more.</p>'
    blocks = []
    for pair in stats.pairs:
        cells = "".join(f'<div><code>{_e(cell.grade_id)}</code><br><span class="muted">{100 * cell.score:.0f}% shared'
                        f'</span></div><pre>{_e(cell.first)}</pre><pre>{_e(cell.second)}</pre>' for cell in pair.cells)
        blocks.append(f'<div class="pair"><h4>{_e(pair.first)} and {_e(pair.second)}: {100 * pair.score:.0f}% similar</h4>'
                      f'<div class="side"><div></div><b>{_e(pair.first)}</b><b>{_e(pair.second)}</b>{cells}</div></div>')
    return "".join(blocks)


def _notebook_section(stats: NotebookStats, threshold: float | None) -> str:
    median, slowest = _seconds_summary(stats)
    counts = ", ".join(f"{stats.statuses[s]} {s}" for s in STATUS_ORDER if stats.statuses.get(s))
    parts = [f'<h2 id="{_e(stats.title)}">{_e(stats.title)}</h2>',
             f"<p>{sum(stats.statuses.values())} students: {counts}. Grading time per notebook: median {median}, "
             f"slowest {slowest}.</p>"]
    if stats.awaiting_manual:
        parts.append(f"<p>{stats.awaiting_manual} written answers await manual grading (not in the scores below): "
                     "grade them in nbgrader's formgrader from the gradebook, or by hand from OUT/autograded.</p>")
    if stats.withheld:
        parts.append(f"<p>{stats.withheld} passed tests are withheld (0 points) because code that can forge a pass "
                     "ran before them: the <code>manual_grading</code> column of grades.csv names the cells; "
                     "formgrader lists those tests for manual grading.</p>")
    parts += [f'<img alt="score histogram of {_e(stats.title)}" src="data:image/png;base64,{histogram_png(stats)}">',
              "<h3>Tests</h3>", _tests_table(stats)]
    if threshold is not None:
        parts += ["<h3>Similar submissions</h3>", _pairs_html(stats, threshold)]
    return "".join(parts)


def report_html(students: list[str], notebooks: list[NotebookStats], similarity_threshold: float | None = None) -> str:
    """The whole page."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    if similarity_threshold is None:
        similarity = "Similarity was not checked (<code>labs grade --similarity</code> checks it)."
    else:
        flagged = sum(len(stats.pairs or []) for stats in notebooks)
        similarity = (f"Similarity check: {flagged} pair(s) of submissions at least {100 * similarity_threshold:.0f}% "
                      "similar, listed under each notebook. A flag is a reason to look, not a finding; scores are unchanged.")
    sections = "".join(_notebook_section(stats, similarity_threshold) for stats in notebooks)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Class report</title>'
            f"<style>{STYLE}</style></head><body><h1>Class report</h1>"
            f'<p class="muted">{len(students)} students, {len(notebooks)} notebooks; written {stamp}. '
            "A student with no notebook counts as missing; pass shares are over every student whose grading "
            f"did not fail.</p><p>{similarity}</p><h2>Notebooks</h2>{_summary_table(notebooks)}"
            f"<h2>Tests most failed</h2>{_most_failed_table(notebooks)}{sections}</body></html>\n")


def write_report(out: Path, course: Course, entries: list[dict], similarity_threshold: float | None = None) -> Report:
    """Write ``out/report.html`` from the ledger ``entries`` and the autograded notebooks; see the module docstring.

    ``similarity_threshold`` (in [0, 1]) also runs the similarity check; None leaves it out.
    """
    if similarity_threshold is not None and not 0 <= similarity_threshold <= 1:
        raise ValueError(f"the similarity threshold must be between 0 and 1, not {similarity_threshold:g}; "
                         f"the default is {DEFAULT_THRESHOLD:g}.")
    students, notebooks = class_stats(Path(out), course, entries, similarity_threshold)
    path = Path(out) / "report.html"
    write_text_atomically(path, report_html(students, notebooks, similarity_threshold))
    pairs = None if similarity_threshold is None else sum(len(stats.pairs or []) for stats in notebooks)
    return Report(path, len(students), pairs)
