"""Flag pairs of submissions whose answer cells are the same code under other names.

Each answer cell is reduced to a canonical token stream, as the leak check does
(:class:`autograder.leaks.Canonical`): comments and layout disappear with the
syntax tree, local names and arguments become ``_``, NumPy and TensorFlow
spellings merge and type conversions drop out; builtins keep their names. The
stream is cut into overlapping runs of :data:`SHINGLE_TOKENS` tokens.

What a student wrote is every run that is not in the released stub (the
signature and prompt everyone receives). Evidence of copying is narrower: runs
that more than :data:`COMMON_SHARE` of the submissions (and more than
:data:`COMMON_MINIMUM`) contain say nothing about who wrote them, and runs of
the reference solution neither: independent students who get it right write
the same thing. The similarity of two submissions is
``2 * shared / (written_1 + written_2)``, where ``shared`` counts the runs of
evidence both wrote. A copy of distinctive work with renamed variables and
rewritten comments scores about 1; two honest notebooks share a few idioms and
score near 0, and so do two that both follow the reference closely.

Pairs are found through an index from run to the submissions holding it, so
only pairs that share something are ever scored. Flagging never changes a score.
"""

from __future__ import annotations

import ast
import builtins
import copy
import re
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

from autograder.leaks import KEPT_NAMES, Canonical
from autograder.notebooks import SOLUTION_BEGIN, SOLUTION_END

#: Tokens per run compared; five tokens are about one short expression.
SHINGLE_TOKENS = 5
#: A run held by more than this share of the submissions (and more than COMMON_MINIMUM of them) is common code.
COMMON_SHARE = 0.2
COMMON_MINIMUM = 5
#: Pairs must share at least this many runs: a one-line answer cannot tell a copy from a coincidence.
MINIMUM_SHARED = 8
DEFAULT_THRESHOLD = 0.5
_BUILTIN_NAMES = frozenset(dir(builtins))
_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\w+(?:\.\d+)?|[^\s\w]")
_COMMENT = re.compile(r"#[^\n]*")


class _Normalised(Canonical):
    """The leak check's canonical form, with builtins (``len``, ``min``, ``float``) named rather than erased."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        keep = node.id in KEPT_NAMES or node.id in _BUILTIN_NAMES
        return ast.Name(id=node.id if keep else "_", ctx=ast.Load())


def canonical_tokens(code: str) -> list[str]:
    """The tokens of ``code`` with comments, layout and local names gone (see the module docstring).

    Code that does not parse keeps its names, without comments and layout.
    """
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return _TOKEN.findall(_COMMENT.sub("", code))
    return _TOKEN.findall(ast.unparse(_Normalised().visit(copy.deepcopy(tree))))


def _runs(grade_id: str, code: str) -> set[tuple]:
    tokens = canonical_tokens(code)
    if 0 < len(tokens) < SHINGLE_TOKENS:
        return {(grade_id, *tokens)}
    return {(grade_id, *tokens[start:start + SHINGLE_TOKENS]) for start in range(len(tokens) - SHINGLE_TOKENS + 1)}


def stub_of(source_cell: str, code_stub: str) -> str:
    """The released version of a solution cell: each solution region replaced by ``code_stub``, indented like it."""
    lines, inside = [], False
    for line in source_cell.splitlines():
        marker = line.strip()
        if marker == SOLUTION_BEGIN:
            inside = True
            lines.append(line[: len(line) - len(line.lstrip())] + code_stub)
        elif marker == SOLUTION_END:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


def reference_of(source_cell: str) -> str:
    """A solution cell without its marker lines: the reference answer as a student would write it."""
    return "\n".join(line for line in source_cell.splitlines() if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))


@dataclass(frozen=True)
class CellMatch:
    """One answer cell of a flagged pair, both students' text, and how much of it is the same."""

    grade_id: str
    score: float
    first: str
    second: str


@dataclass
class SimilarPair:
    """Two students whose answers to one notebook are the same code; ``score`` is in [0, 1]."""

    assignment: str
    notebook: str
    first: str
    second: str
    score: float
    cells: list[CellMatch] = field(default_factory=list)


def _dice(shared: int, first: int, second: int) -> float:
    return 2 * shared / (first + second) if first + second else 0.0


def similar_pairs(answers: dict[str, dict[str, str]], stub: dict[str, str], reference: dict[str, str],
                  threshold: float = DEFAULT_THRESHOLD, assignment: str = "", notebook: str = "") -> list[SimilarPair]:
    """Pairs of students whose answers score at least ``threshold``, most similar first.

    ``answers`` maps a student to their answer cells (grade id -> source); ``stub`` and
    ``reference`` map grade ids to the released stub and the reference solution of each cell.
    """
    excluded = set().union(*(_runs(grade_id, code) for grade_id, code in stub.items())) if stub else set()
    expected = set().union(*(_runs(grade_id, code) for grade_id, code in reference.items())) if reference else set()
    written = {student: set().union(*(_runs(grade_id, code) for grade_id, code in cells.items())) - excluded
               for student, cells in answers.items() if cells}
    held = Counter(run for runs in written.values() for run in runs)
    limit = max(COMMON_MINIMUM, COMMON_SHARE * len(written))
    own = {student: {run for run in runs if held[run] <= limit} for student, runs in written.items()}
    index: dict[tuple, list[str]] = {}
    for student in sorted(own):
        for run in own[student] - expected:
            index.setdefault(run, []).append(student)
    shared: Counter = Counter()
    for students in index.values():
        shared.update(combinations(students, 2))
    pairs = []
    for (first, second), count in shared.items():
        score = _dice(count, len(written[first]), len(written[second]))
        if count >= MINIMUM_SHARED and score >= threshold:
            cells = _cell_matches(answers[first], answers[second], written[first], written[second], own[first] - expected)
            pairs.append(SimilarPair(assignment, notebook, first, second, score, cells))
    return sorted(pairs, key=lambda pair: (-pair.score, pair.first, pair.second))


def _cell_matches(first: dict[str, str], second: dict[str, str], first_written: set, second_written: set,
                  evidence: set) -> list[CellMatch]:
    """Per answer cell of a pair: how much of what both wrote in it is shared evidence (see :func:`similar_pairs`)."""
    matches = []
    for grade_id in [g for g in first if g in second] + [g for g in first if g not in second] + [
            g for g in second if g not in first]:
        mine = {run for run in first_written if run[0] == grade_id}
        theirs = {run for run in second_written if run[0] == grade_id}
        score = _dice(len(mine & theirs & evidence), len(mine), len(theirs))
        matches.append(CellMatch(grade_id, score, first.get(grade_id, ""), second.get(grade_id, "")))
    return matches
