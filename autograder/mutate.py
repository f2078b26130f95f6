"""``labs mutate``: measure what the graded tests catch, with a catalogue of typical wrong answers.

Beside each solution source ``labN_*/solutions/<Stem>.ipynb`` lives
``<Stem>.mutants.json``, the mistakes a student who half-understood a section
writes, each an exact text replacement inside one answer cell::

    {"mutants": [{"grade_id": "get_batch", "name": "targets-not-shifted",
                  "description": "targets are the inputs, not the next characters",
                  "find": "...", "replace": "..."}]}

The catalogue is instructor material: ``labs build`` reads only the ``.ipynb``
source, so it never reaches a student version. Each mutant becomes one fake
student of a batch graded by :func:`autograder.batch.grade_batch` (same
sandbox, small values and limits as ``labs grade``), beside two baselines: the
unmutated solution (must score full marks) and the blank student version (must
score 0 on every test). A mutant is *caught* when its notebook scores less than
full marks. The batch's ledger caches results, so a second run grades only the
mutants whose notebook or replacement changed.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from autograder.notebooks import NotebookError, is_answer, nbgrader_metadata, read_notebook, write_text_atomically

CATALOGUE_SUFFIX = ".mutants.json"
SOLUTION_STUDENT = "solution"
BLANK_STUDENT = "blank"
MINIMUM_PER_TODO = 3
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_FIELDS = ("grade_id", "name", "description", "find", "replace")


@dataclass(frozen=True)
class Mutant:
    """One typical wrong answer: ``find`` replaced by ``replace`` in the answer cell ``grade_id``."""

    grade_id: str
    name: str
    description: str
    find: str
    replace: str


def catalogue_path(source: Path) -> Path:
    """Where the catalogue of ``labN_*/solutions/<Stem>.ipynb`` lives: ``<Stem>.mutants.json`` beside it."""
    return Path(source).with_name(Path(source).stem + CATALOGUE_SUFFIX)


def load_catalogue(source: Path) -> list[Mutant]:
    """The mutants declared for ``source`` (an empty list without a catalogue file).

    Raises ValueError with one sentence when the file is not a valid catalogue.
    """
    path = catalogue_path(source)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path.name} is not valid JSON ({error}); fix the file.") from None
    entries = data.get("mutants") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path.name} must be an object with a list under \"mutants\".")
    mutants = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or sorted(entry) != sorted(_FIELDS) or not all(
                isinstance(entry[key], str) for key in _FIELDS):
            raise ValueError(f"{path.name}: mutant {number} must have exactly the text fields {', '.join(_FIELDS)}.")
        mutants.append(Mutant(**entry))
    return mutants


def answer_cells(notebook: nbformat.NotebookNode) -> dict[str, int]:
    """Grade id -> index of every answer cell that a test grades (the graded TODOs)."""
    return {nbgrader_metadata(cell)["grade_id"]: index for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and is_answer(cell)}


def apply_mutant(source: nbformat.NotebookNode, mutant: Mutant) -> nbformat.NotebookNode:
    """A copy of ``source`` with the mutant's replacement made; ValueError when it does not apply exactly once."""
    cells = answer_cells(source)
    if mutant.grade_id not in cells:
        raise ValueError(f"mutant {mutant.name}: no answer cell has grade id {mutant.grade_id!r}.")
    mutated = nbformat.from_dict(json.loads(json.dumps(source)))
    cell = mutated.cells[cells[mutant.grade_id]]
    found = cell.source.count(mutant.find)
    if found != 1 or not mutant.find:
        raise ValueError(f"mutant {mutant.name}: its find text occurs {found} times in {mutant.grade_id} "
                         "(it must occur exactly once); update it to the current solution.")
    if mutant.find == mutant.replace:
        raise ValueError(f"mutant {mutant.name}: its replacement changes nothing.")
    cell.source = cell.source.replace(mutant.find, mutant.replace)
    return mutated


def catalogue_problems(source: Path) -> list[str]:
    """Everything wrong with the catalogue of ``source``: one sentence per problem (empty when sound)."""
    name = Path(source).stem
    try:
        mutants = load_catalogue(source)
    except ValueError as error:
        return [str(error)]
    notebook = read_notebook(source)
    problems, seen = [], set()
    for mutant in mutants:
        if not _NAME.match(mutant.name) or mutant.name in (SOLUTION_STUDENT, BLANK_STUDENT):
            problems.append(f"{name}: mutant name {mutant.name!r} must be lowercase-words-with-hyphens, "
                            f"not {SOLUTION_STUDENT!r} or {BLANK_STUDENT!r}.")
        if mutant.name in seen:
            problems.append(f"{name}: two mutants are named {mutant.name!r}; names must be unique in a notebook.")
        seen.add(mutant.name)
        if not mutant.description.strip():
            problems.append(f"{name}: mutant {mutant.name} has no description.")
        try:
            apply_mutant(notebook, mutant)
        except ValueError as error:
            problems.append(f"{name}: {error}")
    for grade_id in answer_cells(notebook):
        count = sum(mutant.grade_id == grade_id for mutant in mutants)
        if count < MINIMUM_PER_TODO:
            problems.append(f"{name}: the TODO {grade_id} has {count} mutant(s); declare at least {MINIMUM_PER_TODO}.")
    return problems


@dataclass
class TodoReport:
    """What the tests of one notebook caught among the mutants of one TODO."""

    notebook: str
    grade_id: str
    mutants: int = 0
    caught: list[str] = field(default_factory=list)
    survivors: list[str] = field(default_factory=list)
    not_graded: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Caught / declared, in [0, 1] (1 when none is declared)."""
        return len(self.caught) / self.mutants if self.mutants else 1.0


@dataclass
class NotebookReport:
    """One notebook's mutation run: the baselines and one :class:`TodoReport` per TODO."""

    notebook: str
    assignment: str
    solution: str = ""
    blank: str = ""
    todos: list[TodoReport] = field(default_factory=list)
    caught_by: dict[str, list[str]] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """Sentences for everything that makes this notebook fail the run."""
        found = []
        if self.solution:
            found.append(f"{self.notebook}: the solution {self.solution}")
        if self.blank:
            found.append(f"{self.notebook}: the blank student version {self.blank}")
        for todo in self.todos:
            found += [f"{self.notebook}: {name} ({todo.grade_id}) survives: it scores full marks" for name in todo.survivors]
            found += [f"{self.notebook}: {name} ({todo.grade_id}) could not be graded" for name in todo.not_graded]
        return found


def _select(sources: list[Path], wanted: list[str]) -> list[Path]:
    if not wanted:
        return sources
    chosen = []
    for text in wanted:
        matches = [s for s in sources if text in (s.stem, s.name) or Path(text).resolve() == s.resolve()]
        if not matches:
            names = ", ".join(s.stem for s in sources)
            raise ValueError(f"no solution source is called {text!r}; choose among {names}.")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def _blank_problem(entry: dict | None) -> str:
    if entry is None:
        return "was not graded"
    earned = {grade_id: points for grade_id, (points, _) in entry["tests"].items() if points > 0}
    if earned:
        return "earns points for " + ", ".join(f"{grade_id} ({points:g})" for grade_id, points in earned.items())
    return ""


def _solution_problem(entry: dict | None) -> str:
    if entry is None:
        return "was not graded"
    if entry["status"] != "ok" or entry["score"] < entry["max_score"]:
        return f"scores {entry['score']:g}/{entry['max_score']:g} ({entry['status']}: {entry['detail']})"
    return ""


def spread_sample(mutants: list[Mutant], count: int | None) -> list[Mutant]:
    """``count`` mutants evenly spread over the catalogue (the same ones every time); all when ``count`` is None."""
    if count is None or count >= len(mutants):
        return list(mutants)
    return [mutants[int((index + 0.5) * len(mutants) / count)] for index in range(count)]


def write_submissions(sources: list[Path], folder: Path, only: list[str],
                      sample: int | None = None) -> dict[Path, list[Mutant]]:
    """Write ``folder/<student>/<assignment>/<Stem>.ipynb`` for the baselines and every (chosen) mutant.

    Returns the mutants written per source. ``only`` restricts the mutants to these names (all when empty);
    ``sample`` to that many per notebook (:func:`spread_sample`).
    """
    from autograder.build import student_path

    shutil.rmtree(folder, ignore_errors=True)
    written: dict[Path, list[Mutant]] = {}
    for source in sources:
        problems = catalogue_problems(source)
        if problems:
            raise ValueError(problems[0])
        assignment = source.parent.parent.name
        notebook = read_notebook(source)
        mutants = spread_sample([m for m in load_catalogue(source) if not only or m.name in only], sample)
        students = {SOLUTION_STUDENT: notebook, BLANK_STUDENT: read_notebook(student_path(source))}
        students.update({mutant.name: apply_mutant(notebook, mutant) for mutant in mutants})
        for student, content in students.items():
            write_text_atomically(folder / student / assignment / source.name, nbformat.writes(content))
        written[source] = mutants
    return written


def mutate(root: Path, notebooks: list[str], out: Path, *, workers: int | None = None, sandbox: str = "auto",
           only: list[str] | None = None, sample: int | None = None, force: bool = False,
           show_progress: bool = True) -> list[NotebookReport]:
    """Grade every declared mutant (and both baselines) of the chosen notebooks; one report per notebook.

    ``out/<Stem>/`` keeps each notebook's batch (its ledger makes the next run grade only what changed).
    Raises ValueError for an unknown notebook, a broken catalogue, or no mutant left by ``only``.
    """
    from autograder.batch import Ledger, grade_batch
    from autograder.settings import Settings
    from autograder.build import solution_sources
    from autograder.submissions import course_from_sources

    sources = _select(solution_sources(root), notebooks)
    only = list(only or [])
    reports = []
    for source in sources:
        # One folder per notebook: runs on different notebooks never share a batch or a ledger.
        folder = Path(out) / source.stem
        written = write_submissions([source], folder / "submissions", only, sample)
        if only and not written[source]:
            continue
        grade_batch(folder / "submissions", folder / "graded", course_from_sources([source]), workers,
                    Settings(sandbox=sandbox), force, show_progress=show_progress)
        reports.append(_report(source, written[source], Ledger(folder / "graded" / ".grading" / "ledger.jsonl"),
                               bool(only or sample)))
    if only and not reports:
        raise ValueError(f"no mutant is called {', '.join(only)} in {', '.join(s.stem for s in sources)}.")
    return reports


def _report(source: Path, mutants: list[Mutant], ledger, chosen: bool) -> NotebookReport:
    """The report of one notebook from its batch's ledger; ``chosen``: only TODOs with mutants are listed."""
    assignment = source.parent.parent.name
    results = {student: entry for (student, lab, stem), entry in ledger.latest.items()
               if (lab, stem) == (assignment, source.stem)}
    report = NotebookReport(source.stem, assignment, _solution_problem(results.get(SOLUTION_STUDENT)),
                            _blank_problem(results.get(BLANK_STUDENT)))
    todos = {grade_id: TodoReport(source.stem, grade_id) for grade_id in answer_cells(read_notebook(source))}
    for mutant in mutants:
        todo = todos[mutant.grade_id]
        todo.mutants += 1
        graded = results.get(mutant.name)
        if graded is None or graded["status"] == "error":
            todo.not_graded.append(mutant.name)
        elif graded["score"] < graded["max_score"]:
            todo.caught.append(mutant.name)
            report.caught_by[mutant.name] = [grade_id for grade_id, (points, available) in graded["tests"].items()
                                             if points < available] or [graded["status"]]
        else:
            todo.survivors.append(mutant.name)
    report.todos = [todo for todo in todos.values() if todo.mutants or not chosen]
    return report


def format_reports(reports: list[NotebookReport]) -> str:
    """The table ``labs mutate`` prints: one row per TODO, then a total row per notebook."""
    from autograder.demo import format_table

    rows = []
    for report in reports:
        for todo in report.todos:
            rows.append((report.notebook, todo.grade_id, str(todo.mutants), str(len(todo.caught)),
                         ", ".join(todo.survivors + [f"{name} (not graded)" for name in todo.not_graded]) or "-",
                         f"{todo.score:.0%}"))
        caught = sum(len(todo.caught) for todo in report.todos)
        total = sum(todo.mutants for todo in report.todos)
        rows.append((report.notebook, "**all**", str(total), str(caught), "", f"{caught / total:.0%}" if total else "-"))
    return format_table(rows, ("notebook", "TODO", "mutants", "caught", "survivors", "score"))


def reports_json(reports: list[NotebookReport]) -> str:
    """The reports as JSON (``labs mutate --json``)."""
    data = []
    for report in reports:
        item = asdict(report)
        item["problems"] = report.problems
        for todo, todo_item in zip(report.todos, item["todos"]):
            todo_item["score"] = todo.score
        data.append(item)
    return json.dumps(data, indent=2)


def mutate_command(root: Path, notebooks: list[str], out: Path, *, workers: int | None, sandbox: str,
                   only: list[str], force: bool, as_json: bool, sample: int | None = None) -> int:
    """``labs mutate``: 0 when every mutant is caught and both baselines behave, 1 otherwise, 2 for a usage error."""
    import sys

    from autograder.sandbox import SandboxUnavailable, choose_isolation

    try:
        isolation = choose_isolation(sandbox)
        reports = mutate(root, notebooks, out, workers=workers, sandbox=isolation.mode, only=only, sample=sample,
                         force=force, show_progress=not as_json)
    except (SandboxUnavailable, ValueError, NotebookError) as error:
        print(f"labs mutate: {error}", file=sys.stderr)
        return 2
    problems = [problem for report in reports for problem in report.problems]
    if as_json:
        print(reports_json(reports))
    else:
        print(format_reports(reports))
        for problem in problems:
            print(f"labs mutate: {problem}.", file=sys.stderr)
    return 1 if problems else 0
