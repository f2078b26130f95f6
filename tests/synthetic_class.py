"""A synthetic class: N students' submissions of the fixture course, with the result each must get.

The mix repeats every twelve students, as a real class does at a smaller scale:
full marks (the reference answer, or another correct way of writing it), partly
right work written in the student's own style (other correct implementations,
typical wrong answers, untouched TODOs), an unchanged blank notebook, broken
files (not JSON, or a kernel that exits half way), late work that is missing
(the student handed in only the other assignment), and copies: another
student's notebook with the variables renamed, the comments rewritten and the
code re-indented. Every third student also hands in the second assignment.

:func:`write_class` writes ``<folder>/<student>/<assignment>/<Notebook>.ipynb``
and returns, per student, the kind of work, the expected score and status of
each notebook, and the pairs of students whose work is copied.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import grading_fixtures as fixtures

PATTERN = ["full", "partial", "blank", "partial", "copied", "broken",
           "full", "partial", "missing", "partial", "broken", "copied"]
STYLES = 6
POINTS = {name: fixtures.TESTS[name][0] for name in fixtures.SOLUTIONS}

#: Correct answers other than the reference, one grade id at a time (the reference is fixtures.SOLUTIONS).
ALTERNATIVES = {
    "square": [
        "def square(values):\n    values = np.asarray(values)\n    return values * values",
        "def square(values):\n    result = []\n    for value in values:\n        result.append(value * value)\n"
        "    return np.array(result)",
        "def square(values):\n    return np.array([v ** 2 for v in values])",
        "def square(values):\n    array = np.array(values, dtype=int)\n    return np.multiply(array, array)",
    ],
    "mean_rows": [
        "def mean_rows(matrix):\n    matrix = np.asarray(matrix, dtype=float)\n    return matrix.sum(axis=1) / matrix.shape[1]",
        "def mean_rows(matrix):\n    means = []\n    for row in matrix:\n        means.append(sum(row) / len(row))\n"
        "    return np.array(means)",
        "def mean_rows(matrix):\n    return np.mean(np.asarray(matrix, dtype=float), axis=1)",
    ],
    "clip_unit": [
        "def clip_unit(values):\n    values = np.asarray(values, dtype=float)\n    return np.minimum(np.maximum(values, 0.0), 1.0)",
        "def clip_unit(values):\n    result = np.array(values, dtype=float)\n    result[result < 0] = 0.0\n"
        "    result[result > 1] = 1.0\n    return result",
        "def clip_unit(values):\n    return np.array([min(max(float(v), 0.0), 1.0) for v in values])",
    ],
}
#: Wrong answers in a student's own words (each loses the test's points).
MISTAKES = {
    "square": ["def square(values):\n    return np.asarray(values) * 2",
               "def square(values):\n    total = 0\n    for value in values:\n        total += value * value\n    return total"],
    "mean_rows": ["def mean_rows(matrix):\n    return np.asarray(matrix, dtype=float).mean(axis=0)",
                  "def mean_rows(matrix):\n    rows = np.asarray(matrix, dtype=float)\n    return rows.sum(axis=1)"],
    "clip_unit": ["def clip_unit(values):\n    return np.asarray(values, dtype=float)",
                  "def clip_unit(values):\n    values = np.asarray(values, dtype=float)\n    return np.maximum(values, 0.0)"],
}
#: Names a copier renames, and what to.
RENAMES = {"values": "xs", "value": "x", "result": "out", "matrix": "grid", "means": "averages", "row": "line",
           "array": "arr", "total": "acc", "rows": "table", "v": "item"}


@dataclass
class Student:
    """One synthetic student: what they handed in and the result each notebook must get."""

    student_id: str
    kind: str
    #: (assignment, notebook) -> (score, status); a notebook not handed in has no entry.
    expected: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    copied_from: str | None = None
    answers: dict[str, str] = field(default_factory=dict)


def _styled(code: str, style: int) -> str:
    """``code`` with its last ``return`` written in one of six personal styles (the result is the same)."""
    head, _, returned = code.rpartition("\n    return ")
    endings = [f"return {returned}",
               f"answer = {returned}\n    return answer",
               f"answer = {returned}\n    assert answer is not None, 'no answer'\n    return answer",
               f"answer = None\n    answer = {returned}\n    return answer",
               f"answer = {returned}\n    answer = np.asarray(answer)\n    return answer",
               f"print('returning', {returned})\n    return {returned}"]
    return f"{head}\n    {endings[style % len(endings)]}"


def _partial_answers(index: int) -> dict[str, str]:
    """The ``index``-th partly right notebook: each TODO right in the student's own way, wrong, or untouched.

    Each student picks their answers and the style of their returns at random (seeded by ``index``),
    so two honest students rarely share more than one answer.
    """
    chooser = random.Random(f"partial {index}")
    answers = {}
    for name in fixtures.SOLUTIONS:
        choice = chooser.choice(ALTERNATIVES[name] + MISTAKES[name] + [None])
        if choice is not None:
            answers[name] = _styled(choice, chooser.randrange(STYLES))
    if _score(answers) == sum(POINTS.values()):
        del answers["clip_unit"]
    if _score(answers) == 0:
        answers["square"] = _styled(chooser.choice(ALTERNATIVES["square"]), chooser.randrange(STYLES))
    return answers


def _full_answers(index: int) -> dict[str, str]:
    """Full marks: the reference answers, in every other full notebook with one TODO written another way."""
    answers = dict(fixtures.SOLUTIONS)
    if index % 2:
        chooser = random.Random(f"full {index}")
        name = chooser.choice(list(fixtures.SOLUTIONS))
        answers[name] = _styled(chooser.choice(ALTERNATIVES[name]), chooser.randrange(STYLES))
    return answers


def _score(answers: dict[str, str]) -> float:
    right = {name: {_styled(code, style) for code in (fixtures.SOLUTIONS[name], *ALTERNATIVES[name]) for style in range(STYLES)}
             for name in POINTS}
    return float(sum(points for name, points in POINTS.items() if answers.get(name) in right[name]))


def disguise(code: str) -> str:
    """``code`` as a copier hands it in: variables renamed, a comment of their own, two-space indents, more spaces."""
    renamed = re.sub(r"(?<!\.)\b(" + "|".join(RENAMES) + r")\b", lambda match: RENAMES[match.group(1)], code)
    lines = []
    for line in renamed.splitlines():
        stripped = line.lstrip(" ")
        indent = (len(line) - len(stripped)) // 4
        lines.append("  " * indent + stripped.replace(",", " , ").replace("(", "( ").replace(")", " )"))
    return "# worked this out myself\n" + "\n\n".join(lines)


def _other_answer() -> bytes:
    notebook = fixtures._student_version(fixtures.other_source_notebook())
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "other":
            cell.source = "value = 1"
    return nbformat.writes(notebook).encode()


def _write(folder: Path, student: str, assignment: str, notebook: str, data: bytes) -> None:
    path = folder / student / assignment / f"{notebook}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_class(folder: Path, size: int) -> list[Student]:
    """Write ``size`` students' submissions under ``folder``; return them with their expected results."""
    folder = Path(folder)
    students: list[Student] = []
    counters: dict[str, itertools.count] = {}
    last_partial: Student | None = None
    fixture_key = (fixtures.ASSIGNMENT, fixtures.NOTEBOOK)
    for number in range(size):
        kind = PATTERN[number % len(PATTERN)]
        index = next(counters.setdefault(kind, itertools.count()))
        student = Student(f"s{number + 1:03d}", kind)
        data = None
        if kind in ("full", "partial"):
            student.answers = _full_answers(index) if kind == "full" else _partial_answers(index)
            data = nbformat.writes(fixtures.with_answers(student.answers)).encode()
            student.expected[fixture_key] = (_score(student.answers), "ok")
        elif kind == "blank":
            data = nbformat.writes(fixtures.blank()).encode()
            student.expected[fixture_key] = (0.0, "ok")
        elif kind == "broken":
            case = fixtures.CASES["invalid_json" if index % 2 == 0 else "sys_exit"]()
            data = case.data
            student.expected[fixture_key] = (float(case.score), case.status)
        elif kind == "copied" and last_partial is not None:
            student.copied_from = last_partial.student_id
            student.answers = {name: disguise(code) for name, code in last_partial.answers.items()}
            data = nbformat.writes(fixtures.with_answers(student.answers)).encode()
            student.expected[fixture_key] = last_partial.expected[fixture_key]
        if data is not None:
            _write(folder, student.student_id, fixtures.ASSIGNMENT, fixtures.NOTEBOOK, data)
        if kind == "missing" or number % 3 == 0 or data is None:
            _write(folder, student.student_id, fixtures.OTHER_ASSIGNMENT, fixtures.OTHER_NOTEBOOK, _other_answer())
            student.expected[(fixtures.OTHER_ASSIGNMENT, fixtures.OTHER_NOTEBOOK)] = (1.0, "ok")
        if kind == "partial":
            last_partial = student
        students.append(student)
    return students


def copied_pairs(students: list[Student]) -> set[frozenset[str]]:
    """The pairs of students whose work is copied, one from the other."""
    return {frozenset((s.student_id, s.copied_from)) for s in students if s.copied_from}
